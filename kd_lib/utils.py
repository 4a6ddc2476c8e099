"""Small utilities every chapter needs: seeding, device choice, parameter
counts, latency measurement, checkpoints and the progress bar."""

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
]


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and
    CUDA) random generators.

    The one place the book seeds anything, so that a chapter's results
    depend on the seeds it names and nothing else (up to floating-point
    differences between machines and thread counts).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def get_device(prefer: str | None = None) -> torch.device:
    """CUDA when it is available, else the CPU. ``prefer`` forces a
    choice."""
    if prefer is not None:
        if prefer not in ("cpu", "cuda"):
            raise ValueError(
                f"prefer must be 'cpu', 'cuda' or None, got {prefer!r}"
            )
        if prefer == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                "prefer='cuda' but no CUDA device is available"
            )
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's parameters (the CPU for a model without any,
    such as a dynamically quantised one, which keeps its weights packed)."""
    return next(model.parameters(), torch.empty(0)).device


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters in ``model``."""
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )
    return sum(
        p.numel()
        for p in model.parameters()
        if p.requires_grad or not trainable_only
    )


def check_int(value, name: str, minimum: int = 1) -> None:
    """Raise a clear ``TypeError``/``ValueError`` unless ``value`` is
    an int >= ``minimum``."""
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


@dataclass(frozen=True)
class Timing:
    """Wall-clock timings in seconds: the median and the
    inter-quartile range."""

    median: float
    q25: float
    q75: float
    repeats: int

    @property
    def median_ms(self) -> float:
        return 1e3 * self.median


def measure_latency(
    fn, *, repeats: int = 20, warmup: int = 3, inference: bool = True
) -> Timing:
    """Time ``fn()`` ``repeats`` times after ``warmup`` untimed calls.

    The median is the statistic to report: timing noise on a shared machine
    is one-sided (things only get slower), so the mean is pulled up by
    outliers. Synchronises CUDA around each call so GPU timings are real.
    ``fn`` runs under ``torch.inference_mode`` unless ``inference=False``
    (to time a training step, which needs gradients).
    """
    if not callable(fn):
        raise TypeError(
            "fn must be callable (for example lambda: model(x))"
        )
    if repeats < 1 or warmup < 0:
        raise ValueError(
            f"need repeats >= 1 and warmup >= 0, got {repeats} and {warmup}"
        )
    sync = (
        torch.cuda.synchronize
        if torch.cuda.is_available()
        else (lambda: None)
    )
    with torch.inference_mode(inference):
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeats):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - start)
    if repeats == 1:
        return Timing(times[0], times[0], times[0], 1)
    q25, _, q75 = statistics.quantiles(times, n=4)
    return Timing(statistics.median(times), q25, q75, repeats)


def fold_weight_norm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every parametrisation (weight
    normalisation) folded into a plain weight.

    A weight-normalised layer recomputes ``g * v / ||v||`` on every forward
    pass; at inference the weights are fixed, so timing the unfolded model
    charges it for work a deployed model never does. The outputs are equal
    (to float rounding); ``model`` itself is left untouched.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )
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
    device = get_device()
    return (
        f"{cpu}; {torch.get_num_threads()} thread(s); "
        f"torch {torch.__version__}; {device.type}"
    )


def save_checkpoint(model: nn.Module, path: str | Path, **metadata) -> Path:
    """Save ``model``'s state dict with plain-Python ``metadata`` (numbers,
    strings, lists, dicts)."""
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "metadata": metadata}, path)
    return path


def load_checkpoint(model: nn.Module, path: str | Path) -> dict:
    """Load weights saved by :func:`save_checkpoint` into ``model``;
    return the metadata.

    Uses ``weights_only=True``: a checkpoint can hold tensors and plain data
    but never code, so loading one from a stranger cannot run anything.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(payload["state_dict"])
    return payload.get("metadata", {})


def _progress_enabled() -> bool:
    # Executed notebooks (nbval, the committed outputs) set
    # KD_LIB_PROGRESS=0 so that no carriage-return noise ends up in stored
    # or compared outputs.
    return os.environ.get("KD_LIB_PROGRESS", "1").lower() not in (
        "0",
        "false",
        "no",
    )


def progress(
    iterable,
    *,
    desc: str | None = None,
    total: int | None = None,
    enabled: bool = True,
):
    """A tqdm progress bar on stderr, off when ``KD_LIB_PROGRESS=0``
    or ``enabled=False``."""
    return tqdm(
        iterable,
        desc=desc,
        total=total,
        disable=not (enabled and _progress_enabled()),
        leave=False,
        file=sys.stderr,
        dynamic_ncols=True,
    )
