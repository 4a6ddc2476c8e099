"""One training loop for the whole book, plus evaluation.

:func:`fit` is the loop every trainer in kd_lib runs; what differs between
trainers (where the batches come from, what the loss is, when to validate)
is passed in as functions. :func:`train` runs it on a ``DataLoader``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from .padding import Padded
from .utils import (
    check_int,
    check_module,
    get_device,
    model_device,
    progress,
)

__all__ = ["fit", "History", "train", "evaluate", "accuracy"]

SELECT_BY = ("val_accuracy", "val_loss", "last")
SCHEDULE_STEPS = ("epoch", "update")


def _check_positive(value, name: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not value > 0
    ):
        raise ValueError(f"{name} must be a number > 0, got {value!r}")


def _check_fit(epochs, lr, clip_grad_norm, schedule_step) -> None:
    check_int(epochs, "epochs")
    _check_positive(lr, "lr")
    if clip_grad_norm is not None:
        _check_positive(clip_grad_norm, "clip_grad_norm")
    if schedule_step not in SCHEDULE_STEPS:
        raise ValueError(
            f"schedule_step must be one of {SCHEDULE_STEPS}, got "
            f"{schedule_step!r}"
        )


def fit(
    model: nn.Module,
    batches: Callable[[int], Iterable],
    batch_loss: Callable,
    *,
    epochs: int,
    lr: float,
    clip_grad_norm: float | None = None,
    cosine_steps: int | None = None,
    schedule_step: str = "epoch",
    after_epoch: Callable[[int], None] | None = None,
    gradient_norms: list[float] | None = None,
    show_progress: bool = False,
) -> list[float]:
    """The book's training loop: Adam at ``lr`` over the batches of
    ``batches(epoch)`` (epochs 0, 1, ...); ``batch_loss(batch)`` returns
    ``(loss, size)``, a scalar tensor and the number of examples it
    averages over. Returns every epoch's mean training loss and leaves
    ``model`` in eval mode; raises ``FloatingPointError``, naming the
    epoch and batch, as soon as the loss is NaN or infinite.

    - ``cosine_steps``: decay the rate from ``lr`` to 0 along a half
      cosine over that many steps, taken once per ``"epoch"`` or per
      ``"update"`` (``schedule_step``).
    - ``clip_grad_norm``: rescale the gradient when its norm exceeds this
      value. ``gradient_norms``: a list that receives every update's
      gradient norm, taken before clipping.
    - ``after_epoch(epoch)``: called after each epoch (validation, ...).
    """
    _check_fit(epochs, lr, clip_grad_norm, schedule_step)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = None
    if cosine_steps is not None:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=cosine_steps
        )
    measure = clip_grad_norm is not None or gradient_norms is not None
    losses = []
    for epoch in progress(
        range(epochs), desc="epochs", enabled=show_progress
    ):
        model.train()
        total, count = 0.0, 0
        for number, batch in enumerate(batches(epoch), start=1):
            loss, size = batch_loss(batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"the loss became {loss.item()} at epoch {epoch + 1}, "
                    f"batch {number}: check the inputs for NaN or huge "
                    "values, or lower the learning rate"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if measure:
                norm = nn.utils.clip_grad_norm_(
                    model.parameters(), clip_grad_norm or math.inf
                )
                if gradient_norms is not None:
                    gradient_norms.append(float(norm))
            optimizer.step()
            if scheduler is not None and schedule_step == "update":
                scheduler.step()
            total += loss.item() * size
            count += size
        if scheduler is not None and schedule_step == "epoch":
            scheduler.step()
        losses.append(total / count)
        if after_epoch is not None:
            after_epoch(epoch)
    model.eval()
    return losses


@dataclass
class History:
    """Per-epoch record of a :func:`train` run, for plots and for picking
    the best epoch."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    best_epoch: int = -1

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    @property
    def best_val_accuracy(self) -> float | None:
        if not self.val_accuracy:
            return None
        return self.val_accuracy[self.best_epoch]


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose arg-max equals the label. Works per step for
    ``(batch, time, classes)`` logits with ``(batch, time)`` labels."""
    if logits.shape[:-1] != labels.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} and labels "
            f"{tuple(labels.shape)} do not match"
        )
    return (logits.argmax(-1) == labels).float().mean().item()


def default_loss(
    outputs: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy for integer labels (per step for ``(batch, time,
    classes)`` outputs), MSE for float targets."""
    if targets.is_floating_point():
        return F.mse_loss(outputs, targets)
    if outputs.dim() == 3:
        outputs, targets = outputs.flatten(0, 1), targets.flatten()
    return F.cross_entropy(outputs, targets)


def _call(model: nn.Module, x, device) -> torch.Tensor:
    """``model(x)`` for a tensor batch, ``model(values, lengths)`` for a
    :class:`Padded` one."""
    if isinstance(x, Padded):
        return model(x.values.to(device), x.lengths)
    return model(x.to(device))


def _check_loader(loader, name: str) -> None:
    if not isinstance(loader, DataLoader):
        raise TypeError(
            f"{name} must be a torch DataLoader (see "
            f"kd_lib.data.make_loader), got {type(loader).__name__}"
        )


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: DataLoader, loss_fn=None
) -> dict[str, float]:
    """``{"loss": ..., "accuracy": ...}`` over a loader's batches (of
    tensors or of :class:`kd_lib.Padded` sequences) and their first
    targets: the loss by ``loss_fn(outputs, targets)`` (by default as in
    :func:`train`), accuracy only for integer labels."""
    _check_loader(loader, "loader")
    device = model_device(model)
    was_training = model.training
    model.eval()
    outputs, targets = [], []
    for x, y, *_ in loader:
        outputs.append(_call(model, x, device).cpu())
        targets.append(y)
    model.train(was_training)
    outputs, targets = torch.cat(outputs), torch.cat(targets)
    loss_fn = loss_fn or default_loss
    result = {"loss": float(loss_fn(outputs, targets))}
    if not targets.is_floating_point():
        result["accuracy"] = accuracy(outputs, targets)
    return result


class _KeepBest:
    """Validate after every epoch and remember the weights of the epoch
    that ``select_by`` picks (see :func:`train`)."""

    def __init__(self, model, val_loader, history, select_by):
        self.model, self.val_loader = model, val_loader
        self.history, self.select_by = history, select_by
        self.key, self.state = None, None

    def __call__(self, epoch: int) -> None:
        history = self.history
        if self.val_loader is not None:
            metrics = evaluate(self.model, self.val_loader)
            history.val_loss.append(metrics["loss"])
            if "accuracy" in metrics:
                history.val_accuracy.append(metrics["accuracy"])
            if self.select_by == "val_accuracy" and "accuracy" in metrics:
                key = (metrics["accuracy"], -metrics["loss"])
            else:
                key = (-metrics["loss"],)
            if self.select_by != "last" and (
                self.key is None or key > self.key
            ):
                self.key, history.best_epoch = key, epoch
                self.state = copy.deepcopy(self.model.state_dict())

    def restore(self, epochs: int) -> None:
        if self.state is not None:
            self.model.load_state_dict(self.state)
        else:
            self.history.best_epoch = epochs - 1


def _check_train(model, train_loader, val_loader, select_by):
    check_module(model)
    _check_loader(train_loader, "train_loader")
    if val_loader is not None:
        _check_loader(val_loader, "val_loader")
    if select_by not in SELECT_BY:
        raise ValueError(
            f"select_by must be one of {SELECT_BY}, got {select_by!r}"
        )
    if val_loader is None and select_by != "last":
        raise ValueError(
            "select_by needs a val_loader; pass select_by='last' to train "
            "without one"
        )


def train(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader | None = None,
    *,
    epochs: int,
    lr: float = 1e-3,
    loss_fn=None,
    clip_grad_norm: float | None = 1.0,
    select_by: str = "val_accuracy",
    cosine_schedule: bool = False,
    device: torch.device | str | None = None,
    show_progress: bool = True,
) -> History:
    """Train ``model`` with :func:`fit` on a loader of batches ``(x,
    *targets)``, validate after each epoch and keep the chosen epoch's
    weights. ``x`` may be a :class:`kd_lib.Padded` batch: the model is
    then called as ``model(values, lengths)``. Returns a :class:`History`;
    the model is left on ``device``.

    - ``loss_fn(outputs, *targets)``: by default cross-entropy (integer
      labels) or MSE (float targets); :class:`kd_lib.DistillationLoss`
      takes ``(logits, labels, teacher_logits)``.
    - ``clip_grad_norm``: see :func:`fit`. Recurrent nets need it; it
      costs a TCN nothing.
    - ``cosine_schedule``: decay the rate from ``lr`` to 0 along a half
      cosine over the epochs (long runs settle better).
    - ``select_by``: the epoch kept: best validation accuracy (ties to the
      lower validation loss), lowest validation loss, or the last.
    """
    _check_train(model, train_loader, val_loader, select_by)
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    loss_fn = loss_fn or default_loss

    def batch_loss(batch):
        x, *targets = batch
        outputs = _call(model, x, device)
        loss = loss_fn(outputs, *[t.to(device) for t in targets])
        return loss, len(x.values if isinstance(x, Padded) else x)

    history = History()
    keep = _KeepBest(model, val_loader, history, select_by)
    history.train_loss = fit(
        model,
        lambda epoch: train_loader,
        batch_loss,
        epochs=epochs,
        lr=lr,
        clip_grad_norm=clip_grad_norm,
        cosine_steps=epochs if cosine_schedule else None,
        after_epoch=keep,
        show_progress=show_progress,
    )
    keep.restore(epochs)
    return history
