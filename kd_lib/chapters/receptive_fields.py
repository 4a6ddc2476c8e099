"""The receptive field of a TCN: which inputs can reach the last output
(:func:`reachable_lags`, :func:`path_weights`), how strongly they do
(:func:`input_gradient_map`, Luo et al. 2016), the cheapest TCN that sees
a given distance (:func:`smallest_tcn`), and the soft-label loss a
student that cannot see the cause is left with (:func:`soft_loss_floor`).

Lags count steps back from the last step: lag 0 is the last input itself,
so a field of ``RF`` steps covers lags ``0 .. RF - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..distill import soft_targets
from ..models import TCNClassifier, receptive_field
from ..utils import (
    check_int,
    check_module,
    check_tensor,
    count_parameters,
    model_device,
)

__all__ = [
    "reachable_lags",
    "path_weights",
    "input_gradient_map",
    "effective_receptive_field",
    "TCNDesign",
    "smallest_tcn",
    "soft_loss_floor",
]


# ---------------------------------------------------- the theoretical field


def reachable_lags(
    kernel_size: int, num_levels: int, convs_per_block: int = 2
) -> list[list[int]]:
    """Lags that reach the last output, layer by layer from the output
    (entry 0: just lag 0) down to the input (the last entry: exactly the
    lags ``0 .. RF - 1``). A convolution of dilation ``d`` connects lag
    ``j`` to lags ``j, j + d, ..., j + (k - 1) d`` of the layer below;
    residual shortcuts only add paths between lags already reached."""
    check_int(kernel_size, "kernel_size", 2)
    check_int(num_levels, "num_levels", 1)
    check_int(convs_per_block, "convs_per_block", 1)
    layers = [[0]]
    for level in reversed(range(num_levels)):  # from the top block down
        dilation = 2**level
        for _ in range(convs_per_block):
            below = {
                lag + tap * dilation
                for lag in layers[-1]
                for tap in range(kernel_size)
            }
            layers.append(sorted(below))
    return layers


def path_weights(
    kernel_size: int, num_levels: int, conv_gain: float = 1.0
) -> torch.Tensor:
    """Summed weight of all paths from the input at each lag to the last
    output: ``(RF,)``. A path picks, in every block, either the residual
    shortcut (weight 1, no shift) or one tap of each of its two convolutions
    (weight ``conv_gain`` per convolution, shift ``tap * dilation``). With
    ``conv_gain=1`` this counts the paths; a gain below 1 models
    convolutions that shrink what passes through them, as at initialisation,
    so that paths through many convolutions (the only ones that reach the
    far lags) weigh little. In polynomial form each block is
    ``1 + (g (1 + z^d + ... + z^((k-1) d)))^2``."""
    check_int(kernel_size, "kernel_size", 2)
    check_int(num_levels, "num_levels", 1)
    _check_positive(conv_gain, "conv_gain")
    weights = torch.ones(1, dtype=torch.float64)
    for level in range(num_levels):
        dilation = 2**level
        conv = torch.zeros(
            (kernel_size - 1) * dilation + 1, dtype=torch.float64
        )
        conv[::dilation] = conv_gain
        block = _poly_mul(conv, conv)
        block[0] += 1.0  # the residual shortcut
        weights = _poly_mul(weights, block)
    return weights


def _check_positive(value, name: str, most: float = float("inf")):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not 0 < value <= most:
        raise ValueError(f"{name} must lie in (0, {most}], got {value}")


def _poly_mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(len(a) + len(b) - 1, dtype=a.dtype)
    for i, coefficient in enumerate(a):
        out[i : i + len(b)] += coefficient * b
    return out


# ------------------------------------------------------- the measured field


def input_gradient_map(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """How strongly each input step moves the last output: ``(time,)``,
    indexed by lag (entry ``j``: the input ``j`` steps before the last one).
    For every output unit of the last step, the gradient of that unit with
    respect to the input ``x`` ``(batch, time, features)``; its absolute
    values are summed over output units and features and averaged over the
    batch. The model may return ``(batch, outputs)`` (a last-step readout)
    or ``(batch, time, outputs)``. Samples are independent (no batch norm),
    so one backward pass per output unit serves the whole batch."""
    check_module(model)
    check_tensor(x, "x", ndim=3, floating=True)
    was_training = model.training
    # no dropout: the map should describe the function, not one noisy draw
    model.eval()
    device = model_device(model)
    x = x.detach().to(device).requires_grad_(True)
    out = model(x)
    last = out[:, -1] if out.dim() == 3 else out
    total = torch.zeros(x.shape[1], device=device)
    for unit in range(last.shape[-1]):
        (grad,) = torch.autograd.grad(
            last[:, unit].sum(), x, retain_graph=True
        )
        total += grad.abs().sum(dim=2).mean(dim=0)
    model.train(was_training)
    return total.flip(0).detach().cpu()  # time order -> lag order


def effective_receptive_field(
    grads: torch.Tensor, mass: float = 0.95
) -> int:
    """Smallest number of steps back (lags ``0 .. n - 1``) holding ``mass``
    of ``grads``, a gradient map by lag (:func:`input_gradient_map`)."""
    check_tensor(grads, "grads", ndim=1, floating=True)
    _check_positive(mass, "mass", 1.0)
    if (grads < 0).any():
        raise ValueError("grads must be non-negative (absolute gradients)")
    total = grads.sum()
    if total <= 0:
        raise ValueError("grads is all zeros: no input reaches the output")
    fraction = torch.cumsum(grads.double(), 0) / total.double()
    # the small tolerance keeps mass=1.0 from failing on rounding in the
    # cumulative sum
    return int(torch.nonzero(fraction >= mass - 1e-9)[0, 0]) + 1


# ------------------------------------------------- designing for a distance


@dataclass(frozen=True)
class TCNDesign:
    """One TCN configuration and its cost."""

    num_levels: int
    kernel_size: int
    receptive_field: int
    parameters: int


def smallest_tcn(
    distance: int, input_size: int, num_outputs: int, channels: int
) -> TCNDesign:
    """The cheapest TCN that sees the input ``distance`` steps back
    (``RF >= distance + 1``): for each kernel size from 2 to 8 the fewest
    levels, and of these the one with the fewest parameters (ties: the
    smaller field). The parameters are those of a
    :class:`kd_lib.TCNClassifier` with ``input_size`` features,
    ``num_outputs`` outputs and ``channels`` in every level, weight
    normalisation included."""
    check_int(distance, "distance", 0)
    check_int(input_size, "input_size")
    check_int(num_outputs, "num_outputs")
    check_int(channels, "channels")
    options = []
    for k in range(2, 9):
        levels = 1
        while receptive_field(k, levels) < distance + 1:
            levels += 1
        model = TCNClassifier(
            input_size, num_outputs, [channels] * levels, kernel_size=k
        )
        field = receptive_field(k, levels)
        options.append(TCNDesign(levels, k, field, count_parameters(model)))
    return min(options, key=lambda o: (o.parameters, o.receptive_field))


# ------------------------------------------------- what a student loses


def soft_loss_floor(
    teacher_logits: torch.Tensor, temperature: float = 1.0
) -> float:
    """The soft-label loss of a student that gives every input the same
    answer, at its best. A student that cannot see what the teacher's answer
    depends on can do no better than one fixed distribution; the one that
    minimises the mean ``KL(p_teacher || q)`` is the teacher's average
    distribution ``q = mean(p_teacher)``, and the loss it leaves is ``T² ·
    mean KL(p_teacher || q)`` (what :class:`kd_lib.DistillationLoss` with
    ``alpha=1`` reports). ``teacher_logits`` is ``(n, classes)``."""
    check_tensor(teacher_logits, "teacher_logits", ndim=2, floating=True)
    p = soft_targets(teacher_logits.double(), temperature)
    mean = p.mean(dim=0, keepdim=True)
    kl = (p * (p.clamp_min(1e-300).log() - mean.log())).sum(dim=-1).mean()
    return float(kl * temperature**2)
