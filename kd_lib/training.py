"""One training loop for the whole book, plus evaluation and fine-tuning.

A batch from the loader is ``(x, *targets)``; the loss is called as
``loss_fn(model(x), *targets)``. Cross-entropy takes ``(logits, labels)``;
:class:`kd_lib.DistillationLoss` takes ``(logits, labels, teacher_logits)``.

Sequences of different lengths: ``x`` may be a :class:`kd_lib.Padded`
``(values, lengths)`` of right-padded sequences, as the loaders of
:func:`kd_lib.padding.make_padded_loader` yield; the model is then called
as ``model(values, lengths)`` (every model of the book accepts that) and
anything else is unchanged.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from .distill import UNLABELLED
from .padding import Padded
from .utils import get_device, model_device, progress

__all__ = [
    "History",
    "train",
    "fine_tune",
    "evaluate",
    "predict_logits",
    "accuracy",
]

SELECT_BY = ("val_accuracy", "val_loss", "last")


@dataclass
class History:
    """Per-epoch record of a training run, for plots and for
    picking the best epoch."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    best_epoch: int = -1

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    @property
    def best_val_accuracy(self) -> float | None:
        return (
            self.val_accuracy[self.best_epoch]
            if self.val_accuracy
            else None
        )


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose arg-max equals the label. Works per step for
    ``(batch, time, classes)`` logits with ``(batch, time)`` labels."""
    if logits.shape[:-1] != labels.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} and labels "
            f"{tuple(labels.shape)} do not match"
        )
    return (logits.argmax(-1) == labels).float().mean().item()


def _default_loss(
    outputs: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    if targets.is_floating_point():
        return F.mse_loss(outputs, targets)
    # per-step classification: (batch, time, classes)
    if outputs.dim() == 3:
        outputs, targets = outputs.flatten(0, 1), targets.flatten()
    # rows marked UNLABELLED (a transfer set's unlabelled part) carry no
    # hard label
    return F.cross_entropy(outputs, targets, ignore_index=UNLABELLED)


def _call(model: nn.Module, x, device, augment=None) -> torch.Tensor:
    """``model(x)`` for a tensor batch, ``model(values, lengths)`` for a
    :class:`Padded` one (``augment`` sees the values)."""
    if isinstance(x, Padded):
        values = x.values.to(device)
        if augment is not None:
            values = augment(values)
        return model(values, x.lengths)
    x = x.to(device)
    return model(x if augment is None else augment(x))


def _check_loader(loader, name: str) -> None:
    if not isinstance(loader, DataLoader):
        raise TypeError(
            f"{name} must be a torch DataLoader (see kd_lib.make_loader), "
            f"got {type(loader).__name__}"
        )


@torch.no_grad()
def predict_logits(
    model: nn.Module, loader: DataLoader
) -> tuple[torch.Tensor, torch.Tensor]:
    """Model outputs and first targets over a whole loader, on the
    CPU, in loader order (batches of tensors or of
    :class:`kd_lib.Padded` sequences)."""
    _check_loader(loader, "loader")
    device = model_device(model)
    was_training = model.training
    model.eval()
    outputs, targets = [], []
    for x, y, *_ in loader:
        outputs.append(_call(model, x, device).cpu())
        targets.append(y)
    model.train(was_training)
    return torch.cat(outputs), torch.cat(targets)


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: DataLoader, loss_fn=None
) -> dict[str, float]:
    """``{"loss": ..., "accuracy": ...}`` over a loader (accuracy only
    for integer labels).

    ``loss_fn`` is the loss to report, called as
    ``loss_fn(outputs, targets)``; by default cross-entropy for integer
    labels and MSE for float targets.
    """
    outputs, targets = predict_logits(model, loader)
    loss_fn = loss_fn or _default_loss
    result = {"loss": float(loss_fn(outputs, targets))}
    if not targets.is_floating_point():
        result["accuracy"] = accuracy(outputs, targets)
    return result


def train(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader | None = None,
    *,
    epochs: int,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    loss_fn=None,
    clip_grad_norm: float | None = 1.0,
    select_by: str = "val_accuracy",
    cosine_schedule: bool = False,
    augment=None,
    device: torch.device | str | None = None,
    show_progress: bool = True,
) -> History:
    """Train ``model`` with Adam; validate after each epoch;
    restore the best epoch.

    - ``loss_fn(outputs, *targets)``: by default cross-entropy (integer
      labels) or MSE (float targets).
    - ``clip_grad_norm``: rescale the gradient when its norm exceeds this
      value (None: no clipping). Recurrent nets need it; it costs a TCN
      nothing.
    - ``cosine_schedule``: decay the learning rate from ``lr`` to 0 along a
      half cosine over the epochs (long runs settle better), else keep it
      fixed.
    - ``augment``: a function applied to each training batch's inputs (for
      example :func:`kd_lib.data.jitter_digits`; the padded values of a
      :class:`kd_lib.Padded` batch); validation never sees it.
    - ``select_by``: which epoch's weights to keep at the end: best
      validation accuracy (ties go to the lower validation loss), lowest
      validation loss, or simply the last epoch.

    Raises ``FloatingPointError``, naming the epoch and batch, as soon as
    the loss is NaN or infinite. Returns a :class:`History`. The model is
    left on ``device``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )
    _check_loader(train_loader, "train_loader")
    if val_loader is not None:
        _check_loader(val_loader, "val_loader")
    if (
        isinstance(epochs, bool)
        or not isinstance(epochs, int)
        or epochs < 1
    ):
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if clip_grad_norm is not None and clip_grad_norm <= 0:
        raise ValueError(
            f"clip_grad_norm must be > 0 or None, got {clip_grad_norm}"
        )
    if augment is not None and not callable(augment):
        raise TypeError(
            "augment must be callable or None, got "
            f"{type(augment).__name__}"
        )
    if select_by not in SELECT_BY:
        raise ValueError(
            f"select_by must be one of {SELECT_BY}, got {select_by!r}"
        )
    if val_loader is None and select_by != "last":
        raise ValueError(
            "select_by needs a val_loader; pass select_by='last' to train "
            "without one"
        )

    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    loss_fn = loss_fn or _default_loss
    optimizer = torch.optim.Adam(
        model.parameters(), lr=lr, weight_decay=weight_decay
    )
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
        if cosine_schedule
        else None
    )
    history = History()
    best_key, best_state = None, None

    for epoch in progress(
        range(epochs), desc="epochs", enabled=show_progress
    ):
        start = time.perf_counter()
        model.train()
        total, count = 0.0, 0
        for batch, (x, *targets) in enumerate(train_loader, start=1):
            outputs = _call(model, x, device, augment)
            targets = [t.to(device) for t in targets]
            loss = loss_fn(outputs, *targets)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"the loss became {loss.item()} at epoch {epoch + 1}, "
                    f"batch {batch}: "
                    "check the inputs for NaN or huge values, or lower the "
                    "learning rate"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
            optimizer.step()
            size = len(x.values if isinstance(x, Padded) else x)
            total += loss.item() * size
            count += size
        if scheduler is not None:
            scheduler.step()
        history.train_loss.append(total / count)
        if val_loader is not None:
            metrics = evaluate(model, val_loader)
            history.val_loss.append(metrics["loss"])
            if "accuracy" in metrics:
                history.val_accuracy.append(metrics["accuracy"])
            if select_by == "val_accuracy" and "accuracy" in metrics:
                key = (metrics["accuracy"], -metrics["loss"])
            else:
                key = (-metrics["loss"],)
            if select_by != "last" and (best_key is None or key > best_key):
                best_key, history.best_epoch = key, epoch
                best_state = copy.deepcopy(model.state_dict())
        history.epoch_seconds.append(time.perf_counter() - start)

    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        history.best_epoch = epochs - 1
    model.eval()
    return history


def fine_tune(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader | None = None,
    *,
    epochs: int = 5,
    lr: float = 1e-4,
    **kwargs,
) -> History:
    """Step 4 of the pipeline: a few more epochs on hard labels at a
    lower learning rate.

    Same as :func:`train` with cross-entropy on the first target only, so a
    distillation loader ``(x, labels, teacher_logits)`` can be reused as is.
    """

    def hard_label_loss(outputs, labels, *_ignored):
        return _default_loss(outputs, labels)

    if "loss_fn" in kwargs:
        raise TypeError(
            "fine_tune always trains on hard labels; use train() for "
            "another loss"
        )
    return train(
        model,
        train_loader,
        val_loader,
        epochs=epochs,
        lr=lr,
        loss_fn=hard_label_loss,
        **kwargs,
    )
