"""Gradients through time (chapter 2): how strongly the loss reacts to
each input step, and how large the gradients of a training run get."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from ..training import fit
from ..utils import check_module, check_tensor

__all__ = [
    "input_gradient_by_step",
    "block_gradient_norms",
    "gradient_norm_trace",
]


def input_gradient_by_step(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """How strongly the loss reacts to the input at each step: ``(time,)``,
    the norm of ``d loss / d x[:, t]`` (over the batch and features) for the
    cross-entropy of ``model(x)`` on labels ``y``. Steps the loss cannot see
    get exactly 0; a vanishing gradient shows as a geometric decay towards
    early steps. The model's weights and mode are left unchanged."""
    check_module(model)
    check_tensor(x, "x", ndim=3, floating=True)
    check_tensor(y, "y", ndim=1, floating=False)
    x = x.detach().clone().requires_grad_()
    with torch.enable_grad():
        loss = F.cross_entropy(model(x), y)
        (grad,) = torch.autograd.grad(loss, x)
    return grad.norm(dim=(0, 2))


def gradient_norm_trace(
    model: nn.Module,
    loader,
    *,
    epochs: int,
    lr: float,
    clip_grad_norm: float | None,
) -> list[float]:
    """Train with Adam and cross-entropy (:func:`kd_lib.training.fit`, no
    validation) and return the gradient norm of every step, taken before
    clipping: what clipping had to tame."""
    check_module(model)
    if not isinstance(loader, DataLoader):
        raise TypeError(
            "loader must be a torch DataLoader, got "
            f"{type(loader).__name__}"
        )
    norms: list[float] = []

    def batch_loss(batch):
        x, y, *_ = batch
        return F.cross_entropy(model(x), y), len(x)

    fit(
        model,
        lambda epoch: loader,
        batch_loss,
        epochs=epochs,
        lr=lr,
        clip_grad_norm=clip_grad_norm,
        gradient_norms=norms,
    )
    return norms


def block_gradient_norms(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> list[float]:
    """How strongly the loss reacts to each block of a
    :class:`kd_lib.TCNClassifier`: the norm of ``d loss / d output`` of
    every temporal block, first block first, for the cross-entropy of
    ``model(x)`` on labels ``y``. A gradient that vanishes through depth
    falls from the last block to the first. The model is left unchanged."""
    check_module(model)
    check_tensor(x, "x", ndim=3, floating=True)
    check_tensor(y, "y", ndim=1, floating=False)
    outputs = []

    def keep(module, inputs, output):
        output.retain_grad()
        outputs.append(output)

    hooks = [b.register_forward_hook(keep) for b in model.tcn.blocks]
    try:
        with torch.enable_grad():
            F.cross_entropy(model(x), y).backward()
    finally:
        for hook in hooks:
            hook.remove()
    norms = [float(o.grad.norm()) for o in outputs]
    model.zero_grad(set_to_none=True)
    return norms
