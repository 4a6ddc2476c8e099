"""What an LSTM and a TCN cost to run: time, and memory as byte counts of
tensors, not estimates (chapter 2). Sequence inputs are ``(batch, time,
features)``. Multiply-adds per step and streaming state live in
:mod:`kd_lib.chapters.streaming`."""

from __future__ import annotations

import functools
import weakref

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from ..utils import (
    Timing,
    check_int,
    check_module,
    check_tensor,
    fold_weight_norm,
    measure_latency,
)

__all__ = [
    "timing_sweep",
    "time_training_step",
    "peak_training_bytes",
    "saved_activation_bytes",
    "peak_inference_bytes",
]


# ---------------------------------------------------------------- time


def timing_sweep(
    models: dict[str, nn.Module],
    lengths: list[int],
    *,
    batch_size: int = 1,
    input_size: int = 1,
    repeats: int = 20,
    warmup: int = 3,
) -> dict[str, list[Timing]]:
    """Inference timings of each model at each length:
    ``{name: [Timing per length]}`` (median and inter-quartile range, in
    seconds). Each model is timed as deployed: weight normalisation folded
    into plain weights first (:func:`kd_lib.utils.fold_weight_norm`), eval
    mode, ``warmup`` untimed calls, then ``repeats`` timed ones on random
    inputs ``(batch_size, length, input_size)``."""
    if not isinstance(models, dict) or not models:
        raise TypeError("models must be a non-empty dict {name: model}")
    for model in models.values():
        check_module(model)
    if not isinstance(lengths, (list, tuple)) or not lengths:
        raise ValueError(
            f"lengths must be a non-empty list of ints, got {lengths!r}"
        )
    for length in lengths:
        check_int(length, "every length")
    check_int(batch_size, "batch_size")
    check_int(input_size, "input_size")
    folded = {name: fold_weight_norm(m) for name, m in models.items()}
    result = {name: [] for name in models}
    for length in lengths:
        x = torch.randn(batch_size, length, input_size)
        for name, model in folded.items():
            result[name].append(
                measure_latency(
                    functools.partial(model, x),
                    repeats=repeats,
                    warmup=warmup,
                )
            )
    return result


def time_training_step(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    repeats: int = 5,
    warmup: int = 1,
) -> Timing:
    """Median time of one forward and backward pass (cross-entropy on
    ``y``). ``x`` is ``(batch, time, features)``, ``y`` holds ``(batch,)``
    class labels. Gradients are discarded after each pass; no optimiser step
    (it costs the same for two models of the same size)."""
    check_module(model)
    check_tensor(x, "x", ndim=3, floating=True)
    check_tensor(y, "y", ndim=1, floating=False)
    model.train()

    def one_step():
        F.cross_entropy(model(x), y).backward()
        model.zero_grad(set_to_none=True)

    timing = measure_latency(
        one_step, repeats=repeats, warmup=warmup, inference=False
    )
    model.eval()
    return timing


# ---------------------------------------------------------------- memory


def saved_activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the tensors a training step keeps alive for its backward
    pass. Runs ``model(x)`` with gradients on and records, through
    ``torch.autograd.graph.saved_tensors_hooks``, every tensor autograd
    saves; each storage is counted once, and the parameters themselves
    (which exist anyway) are left out. This is the activation memory that
    grows with the sequence length: exact and the same on every machine."""
    check_module(model)
    check_tensor(x, "x", ndim=3, floating=True)
    parameter_storages = {
        p.untyped_storage().data_ptr() for p in model.parameters()
    }
    saved: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameter_storages:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with (
        torch.enable_grad(),
        torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t),
    ):
        output = model(x)
    del output
    return sum(saved.values())


class _LiveTensorBytes(TorchDispatchMode):
    """Follow every tensor storage that PyTorch's operators create while
    active: bytes alive now, and the peak. Outputs that share a storage
    with an argument (views, in-place results) add no memory; a storage is
    released when the last tensor seen on it is garbage-collected. Scratch
    space a kernel allocates and frees inside one operator is not seen.
    """

    def __init__(self):
        super().__init__()
        # storage pointer -> [bytes, tensors alive]
        self.live: dict[int, list[int]] = {}
        self.current = 0
        self.peak = 0

    def _release(self, key: int) -> None:
        entry = self.live[key]
        entry[1] -= 1
        if entry[1] == 0:
            self.current -= entry[0]
            del self.live[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        argument_storages = {
            t.untyped_storage().data_ptr()
            for t in tree_leaves((args, kwargs))
            if isinstance(t, torch.Tensor)
        }
        for tensor in tree_leaves(out):
            if not isinstance(tensor, torch.Tensor):
                continue
            key = tensor.untyped_storage().data_ptr()
            if key in argument_storages and key not in self.live:
                # a view of (or in-place on) memory that existed before
                continue
            if key in self.live:
                self.live[key][1] += 1
            else:
                nbytes = tensor.untyped_storage().nbytes()
                self.live[key] = [nbytes, 1]
                self.current += nbytes
                self.peak = max(self.peak, self.current)
            weakref.finalize(tensor, self._release, key)
        return out


def peak_inference_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Peak tensor memory of one forward pass of ``model`` on ``x``
    ``(batch, time, features)`` under ``torch.no_grad``: the most bytes of
    tensors it created that were alive at the same time, followed operator
    by operator. Deterministic: the same on every machine and thread count.
    """
    check_module(model)
    check_tensor(x, "x", ndim=3, floating=True)
    was_training = model.training
    model.eval()
    mode = _LiveTensorBytes()
    try:
        with torch.no_grad(), mode:
            output = model(x)
            del output
    finally:
        model.train(was_training)
    return mode.peak


def peak_training_bytes(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> int:
    """Peak tensor memory of one training step: forward, cross-entropy on
    labels ``y`` and backward, counted like :func:`peak_inference_bytes`
    with autograd on: the activations saved for the backward pass, the
    temporaries of both passes and the gradients are all seen; the
    parameters (which exist anyway) are not. At least
    :func:`saved_activation_bytes`."""
    check_module(model)
    check_tensor(x, "x", ndim=3, floating=True)
    check_tensor(y, "y", ndim=1, floating=False)
    was_training = model.training
    model.train()
    mode = _LiveTensorBytes()
    try:
        with torch.enable_grad(), mode:
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            del loss
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return mode.peak
