"""The receptive field of a TCN: which inputs can reach the last output
(:func:`reachable_lags`, :func:`path_weights`), how strongly they do
(:func:`input_gradient_map`, Luo et al. 2016), the cheapest TCN that sees
a given distance (:func:`smallest_tcn`), and the chapter's experiments.

Lags count steps back from the last step: lag 0 is the last input itself,
so a field of ``RF`` steps covers lags ``0 .. RF - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data import make_loader, recall_at_distance
from ..models import TCNClassifier, receptive_field
from ..training import History, evaluate, train
from ..utils import (
    check_int,
    check_tensor,
    count_parameters,
    model_device,
    set_seed,
)

__all__ = [
    "reachable_lags",
    "path_weights",
    "input_gradient_map",
    "effective_receptive_field",
    "TCNDesign",
    "smallest_tcn",
    "recall_accuracy",
    "train_and_test",
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
    if isinstance(conv_gain, bool) or not isinstance(
        conv_gain, (int, float)
    ):
        raise TypeError(
            f"conv_gain must be a number, got {type(conv_gain).__name__}"
        )
    if conv_gain <= 0:
        raise ValueError(f"conv_gain must be > 0, got {conv_gain}")
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
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )
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
    gradient_map: torch.Tensor, mass: float = 0.95
) -> int:
    """Smallest number of steps back (lags ``0 .. n - 1``) holding ``mass``
    of a gradient map indexed by lag (:func:`input_gradient_map`)."""
    check_tensor(gradient_map, "gradient_map", ndim=1, floating=True)
    if isinstance(mass, bool) or not isinstance(mass, (int, float)):
        raise TypeError(f"mass must be a number, got {type(mass).__name__}")
    if not 0.0 < mass <= 1.0:
        raise ValueError(f"mass must lie in (0, 1], got {mass}")
    if (gradient_map < 0).any():
        raise ValueError(
            "gradient_map must be non-negative (absolute gradients)"
        )
    total = gradient_map.sum()
    if total <= 0:
        raise ValueError(
            "gradient_map is all zeros: no input reaches the output"
        )
    fraction = torch.cumsum(gradient_map.double(), 0) / total.double()
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
    distance: int,
    input_size: int,
    num_outputs: int,
    channels: int,
    kernel_sizes=(2, 3, 4, 5, 6, 7, 8),
) -> TCNDesign:
    """The cheapest TCN that sees the input ``distance`` steps back
    (``RF >= distance + 1``): for each kernel size the fewest levels, and of
    these the one with the fewest parameters (ties: the smaller field). The
    parameters are those of a :class:`kd_lib.TCNClassifier` with
    ``input_size`` features, ``num_outputs`` outputs and ``channels`` in
    every level, weight normalisation included."""
    check_int(distance, "distance", 0)
    for name, value in (
        ("input_size", input_size),
        ("num_outputs", num_outputs),
        ("channels", channels),
    ):
        check_int(value, name, 1)
    kernel_sizes = tuple(kernel_sizes)
    if not kernel_sizes:
        raise ValueError("kernel_sizes must not be empty")
    options = []
    for k in kernel_sizes:
        check_int(k, "each kernel size", 2)
        levels = 1
        while receptive_field(k, levels) < distance + 1:
            levels += 1
        model = TCNClassifier(
            input_size, num_outputs, [channels] * levels, kernel_size=k
        )
        field = receptive_field(k, levels)
        options.append(TCNDesign(levels, k, field, count_parameters(model)))
    return min(options, key=lambda o: (o.parameters, o.receptive_field))


# -------------------------------------------------------------- experiments


def train_and_test(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    epochs: int,
    lr: float = 1e-2,
    batch_size: int = 128,
    seed: int = 0,
    loss_fn=None,
    extra_targets: tuple = (),
) -> tuple[dict[str, float], History]:
    """Train ``model`` (weights of the last epoch kept) and score it once on
    a held-out set. Inputs are ``(n, time, features)``. The test metrics are
    those of :func:`kd_lib.evaluate`: cross-entropy and accuracy for integer
    labels, MSE for float targets. ``extra_targets`` (for example teacher
    logits ``(n, classes)``) go into the training loader after ``y_train``,
    for a ``loss_fn`` such as :class:`kd_lib.DistillationLoss`. No
    validation set picks an epoch, so the test score is not selected on and
    stays unbiased."""
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )
    check_tensor(x_train, "x_train", ndim=3, floating=True)
    check_tensor(x_test, "x_test", ndim=3, floating=True)
    set_seed(seed)
    loader = make_loader(
        x_train,
        y_train,
        *extra_targets,
        batch_size=batch_size,
        shuffle=True,
        seed=seed,
    )
    history = train(
        model,
        loader,
        None,
        epochs=epochs,
        lr=lr,
        loss_fn=loss_fn,
        select_by="last",
        show_progress=False,
    )
    return evaluate(
        model, make_loader(x_test, y_test, batch_size=1000)
    ), history


def recall_accuracy(
    make_model,
    distance: int,
    *,
    length: int,
    num_classes: int = 4,
    num_train: int = 1024,
    num_test: int = 2000,
    epochs: int = 12,
    lr: float = 1e-2,
    batch_size: int = 128,
    seed: int = 0,
) -> float:
    """Test accuracy of a fresh ``make_model()`` trained on
    :func:`kd_lib.recall_at_distance`. The model is built after seeding with
    ``seed``; the training set uses data seed ``seed + 1`` and the test set
    a fixed seed of its own, the same for every model and distance."""
    if not callable(make_model):
        raise TypeError(
            "make_model must be callable (for example lambda: "
            "kd_lib.TCNClassifier(...))"
        )
    check_int(seed, "seed", 0)
    x, y = recall_at_distance(
        num_train, length, distance, num_classes, seed=seed + 1
    )
    x_test, y_test = recall_at_distance(
        num_test, length, distance, num_classes, seed=10_000
    )
    set_seed(seed)
    model = make_model()
    metrics, _ = train_and_test(
        model,
        x,
        y,
        x_test,
        y_test,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
    )
    return metrics["accuracy"]


def soft_loss_floor(
    teacher_logits: torch.Tensor,
    temperature: float = 1.0,
    scale_by_t2: bool = True,
) -> float:
    """The soft-label loss of a student that gives every input the same
    answer, at its best. A student that cannot see what the teacher's answer
    depends on can do no better than one fixed distribution; the one that
    minimises the mean ``KL(p_teacher || q)`` is the teacher's average
    distribution ``q = mean(p_teacher)``, and the loss it leaves is ``T² ·
    mean KL(p_teacher || q)`` (what :class:`kd_lib.DistillationLoss` with
    ``alpha=1`` reports). ``teacher_logits`` is ``(n, classes)``."""
    check_tensor(teacher_logits, "teacher_logits", ndim=2, floating=True)
    if isinstance(temperature, bool) or not isinstance(
        temperature, (int, float)
    ):
        raise TypeError(
            "temperature must be a number, got "
            f"{type(temperature).__name__}"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    p = F.softmax(teacher_logits.double() / temperature, dim=-1)
    mean = p.mean(dim=0, keepdim=True)
    kl = (p * (p.clamp_min(1e-300).log() - mean.log())).sum(dim=-1).mean()
    return float(kl * (temperature**2 if scale_by_t2 else 1.0))
