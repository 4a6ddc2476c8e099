"""Small utilities every chapter needs: seeding, devices, argument checks,
parameter counts, latency measurement, checkpoints and the progress bar."""

from __future__ import annotations

import copy
import os
import platform
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.data import DataLoader
from tqdm.std import tqdm

__all__ = [
    "set_seed",
    "get_device",
    "count_parameters",
    "model_device",
    "Timing",
    "measure_latency",
    "fold_weight_norm",
    "timing_environment",
    "save_checkpoint",
    "load_checkpoint",
    "progress",
    "check_tensor",
    "check_int",
    "check_module",
    "seeded_loader",
]


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and CUDA) random
    generators: the one place the book seeds anything, so that a chapter's
    results depend on the seeds it names and nothing else (up to
    floating-point differences between machines and thread counts)."""
    check_int(seed, "seed", minimum=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def get_device() -> torch.device:
    """CUDA when it is available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's parameters (the CPU for a model without any,
    such as a dynamically quantised one, which keeps its weights packed)."""
    return next(model.parameters(), torch.empty(0)).device


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters in ``model``."""
    check_module(model)
    return sum(
        p.numel()
        for p in model.parameters()
        if p.requires_grad or not trainable_only
    )


def check_module(model, name: str = "model") -> None:
    """Raise a clear ``TypeError`` unless ``model`` is a ``nn.Module``."""
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"{name} must be a torch.nn.Module, got {type(model).__name__}"
        )


def check_int(value, name: str, minimum: int = 1) -> None:
    """Raise a clear ``TypeError``/``ValueError`` unless ``value`` is an
    int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"{name} must be an int, got {type(value).__name__}"
        )
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def check_tensor(
    x,
    name: str,
    ndim: int | tuple[int, ...] | None = None,
    floating: bool | None = None,
) -> None:
    """Raise a clear ``TypeError``/``ValueError`` unless ``x`` is a tensor
    of the expected rank."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(x).__name__}"
        )
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.dim() not in allowed:
            want = " or ".join(str(n) for n in allowed)
            raise ValueError(
                f"{name} must have {want} dimensions, got shape "
                f"{tuple(x.shape)}"
            )
    if floating is True and not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor, got {x.dtype}"
        )
    if floating is False and x.is_floating_point():
        raise TypeError(f"{name} must be an integer tensor, got {x.dtype}")


def seeded_loader(
    dataset, batch_size: int, shuffle: bool, seed: int | None, **kwargs
) -> DataLoader:
    """A DataLoader whose shuffled order comes from its own generator,
    seeded by ``seed`` (or by the global seed when None), so runs repeat."""
    check_int(batch_size, "batch_size")
    generator = None
    if shuffle:
        if seed is None:
            seed = int(torch.randint(0, 2**31 - 1, ()).item())
        generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        **kwargs,
    )


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds: the median and the inter-quartile range."""

    median: float
    q25: float
    q75: float
    repeats: int


def measure_latency(
    fn, *, repeats: int = 20, warmup: int = 3, inference: bool = True
) -> Timing:
    """Time ``fn()`` ``repeats`` times after ``warmup`` untimed calls,
    under ``torch.inference_mode`` unless ``inference=False`` (a training
    step needs gradients), synchronising CUDA around each call. Report the
    median: timing noise on a shared machine is one-sided (things only get
    slower), so the mean is pulled up by outliers."""
    if not callable(fn):
        raise TypeError(
            "fn must be callable (for example lambda: model(x))"
        )
    if repeats < 1 or warmup < 0:
        raise ValueError(
            f"need repeats >= 1 and warmup >= 0, got {repeats} and {warmup}"
        )
    cuda = torch.cuda.is_available()
    with torch.inference_mode(inference):
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeats):
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    if repeats == 1:
        return Timing(times[0], times[0], times[0], 1)
    q25, _, q75 = statistics.quantiles(times, n=4)
    return Timing(statistics.median(times), q25, q75, repeats)


def fold_weight_norm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (in eval mode) with every parametrisation
    (weight normalisation) folded into a plain weight, ``model`` untouched.
    A weight-normalised layer recomputes ``g * v / ||v||`` on every forward
    pass; timing it unfolded charges it for work a deployed model never
    does. The outputs are equal to float rounding."""
    check_module(model)
    folded = copy.deepcopy(model)
    for module in list(folded.modules()):
        if not parametrize.is_parametrized(module):
            continue
        values = {
            name: getattr(module, name).detach().clone()
            for name in module.parametrizations
        }
        # A deep copy shares the generated ``Parametrized...`` class with
        # ``model``; ``remove_parametrizations`` deletes properties from
        # that class and would break ``model``. Swap the class instead.
        module.__class__ = module.__class__.__bases__[0]
        del module._modules["parametrizations"]
        for name, value in values.items():
            module.register_parameter(name, nn.Parameter(value))
    return folded.eval()


def timing_environment() -> str:
    """One line naming what a timing depends on: CPU model, torch threads,
    torch version and device, to print beside every timed result."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}; {torch.get_num_threads()} thread(s); "
        f"torch {torch.__version__}; {get_device().type}"
    )


def save_checkpoint(model: nn.Module, path: str | Path, **metadata) -> Path:
    """Save ``model``'s state dict with plain-Python ``metadata`` (numbers,
    strings, lists, dicts)."""
    check_module(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "metadata": metadata}, path)
    return path


def load_checkpoint(model: nn.Module, path: str | Path) -> dict:
    """Load weights saved by :func:`save_checkpoint` into ``model`` and
    return the metadata. With ``weights_only=True`` a checkpoint can hold
    tensors and plain data but never code, so loading one from a stranger
    cannot run anything."""
    check_module(model)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(payload["state_dict"])
    return payload.get("metadata", {})


def progress(iterable, *, desc: str | None = None, enabled: bool = True):
    """A tqdm progress bar on stderr, off when ``enabled=False`` or
    ``KD_LIB_PROGRESS=0`` (executed notebooks set it, so that no
    carriage-return noise ends up in stored or compared outputs)."""
    setting = os.environ.get("KD_LIB_PROGRESS", "1").lower()
    return tqdm(
        iterable,
        desc=desc,
        disable=not enabled or setting in ("0", "false", "no"),
        leave=False,
        file=sys.stderr,
        dynamic_ncols=True,
    )
