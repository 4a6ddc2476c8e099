"""Making a trained model smaller and portable: int8 weights,
bytes on disk, export.

- :func:`quantize_int8` applies PyTorch's dynamic quantisation: the weights
  of every ``nn.Linear`` and ``nn.LSTM`` are stored as int8, activations are
  quantised on the fly. ``nn.Conv1d`` is NOT covered, so in a
  :class:`kd_lib.TCNClassifier` only the final linear layer changes;
  :func:`quantizable_fraction` says how much of a model is covered.
- :func:`state_dict_bytes` is the size of
  ``torch.save(model.state_dict())``.
- :func:`export_model` / :func:`load_exported` write a ``torch.export``
  program to a file and load it back as a module that needs no kd_lib code
  to run.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from ..utils import check_tensor

__all__ = [
    "QUANTIZABLE",
    "quantize_int8",
    "quantizable_fraction",
    "state_dict_bytes",
    "tensor_bytes",
    "export_model",
    "load_exported",
]

QUANTIZABLE = (nn.Linear, nn.LSTM)
"""The module types :func:`quantize_int8` converts (dynamic
quantisation's defaults for int8)."""


def _check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )


def quantize_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose ``nn.Linear`` and
    ``nn.LSTM`` weights are int8.

    Dynamic quantisation: weights are quantised once, per tensor, symmetric;
    activations are quantised at run time from their observed range. The
    original model is left untouched. Inference only, on the CPU.
    """
    _check_model(model)
    with warnings.catch_warnings():
        # torch.ao.quantization is deprecated in favour of the separate
        # torchao package, which is not a dependency of this book; the eager
        # API still works in the pinned torch, so silence exactly these
        # notices.
        warnings.filterwarnings(
            "ignore", message=r"torch\.ao\.quantization is deprecated"
        )
        warnings.filterwarnings(
            "ignore", message=r"torch\.quantize_per_tensor.*deprecated"
        )
        return torch.ao.quantization.quantize_dynamic(
            model, set(QUANTIZABLE), dtype=torch.qint8, inplace=False
        )


def quantizable_fraction(model: nn.Module) -> float:
    """Fraction of ``model``'s parameters that sit in modules
    :func:`quantize_int8` converts."""
    _check_model(model)
    total = sum(p.numel() for p in model.parameters())
    if total == 0:
        raise ValueError("model has no parameters")
    covered = sum(
        p.numel()
        for m in model.modules()
        if isinstance(m, QUANTIZABLE)
        for p in m.parameters(recurse=False)
    )
    return covered / total


def state_dict_bytes(model: nn.Module) -> int:
    """Size on disk of
    ``torch.save(model.state_dict(), "model.pt")``, in bytes.

    Deterministic for given weights. The file name matters by a few bytes:
    the zip archive torch writes names every record after the file's stem,
    so the size is defined here for one fixed name.
    """
    _check_model(model)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.pt"
        torch.save(model.state_dict(), path)
        return path.stat().st_size


def tensor_bytes(model: nn.Module) -> int:
    """Bytes of raw float tensor data in the state dict
    (numel × element size).

    What :func:`state_dict_bytes` would be without the file format's
    overhead (names, metadata, alignment). Quantised packed weights are not
    plain tensors and are not counted.
    """
    _check_model(model)
    return sum(
        t.numel() * t.element_size()
        for t in model.state_dict().values()
        if isinstance(t, torch.Tensor) and not t.is_quantized
    )


def export_model(
    model: nn.Module, example: torch.Tensor, path: str | Path
) -> Path:
    """Export ``model`` with ``torch.export`` (batch and time sizes free)
    and save it to ``path``.

    ``example`` is one input of shape ``(batch, time, features)`` with
    batch >= 2 and time >= 2 (a size of 1 would be taken as fixed). Returns
    the path.
    """
    _check_model(model)
    check_tensor(example, "example", ndim=3, floating=True)
    if example.shape[0] < 2 or example.shape[1] < 2:
        raise ValueError(
            "example needs batch >= 2 and time >= 2 so that both stay "
            "free, "
            f"got shape {tuple(example.shape)}"
        )
    batch, time = (
        torch.export.Dim("batch", min=1),
        torch.export.Dim("time", min=1),
    )
    was_training = model.training
    model.eval()
    try:
        program = torch.export.export(
            model, (example,), dynamic_shapes=({0: batch, 1: time},)
        )
    finally:
        model.train(was_training)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, path)
    return path


def load_exported(path: str | Path) -> nn.Module:
    """Load a program saved by :func:`export_model`; call the result
    like the original model."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no exported model at {path}")
    return torch.export.load(path).module()
