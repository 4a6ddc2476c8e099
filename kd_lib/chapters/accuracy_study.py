"""The tuned, multi-seed accuracy study of LSTM against TCN on the digits,
read pixel by pixel and with the pixels permuted: the parameter-matched
models, one run, and the records of the stored study
(``python -m kd_lib.runners lstm_vs_tcn``)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..models import LSTMClassifier, TCNClassifier
from ..training import evaluate, train
from ..utils import set_seed

__all__ = [
    "STUDY_SETTINGS",
    "study_models",
    "study_run",
    "study_records",
    "chosen_lr",
]

STUDY_SETTINGS = {
    "seeds": [0, 1, 2, 3, 4],
    "epochs": 150,
    "lrs": [1e-3, 3e-3, 1e-2],
    "lr_limits": [1e-4, 1e-1],
    "forget_bias": 1.0,
    "clip_grad_norm": 1.0,
}
"""The budget of :func:`kd_lib.runners.lstm_vs_tcn.run_lstm_vs_tcn`, the
same for both models: 150 epochs (and so the same updates) of Adam with
the learning rate decayed to 0 along a half cosine, the last epoch kept,
gradients clipped at norm 1, the LSTM's forget-gate bias 1. Every rate of
``lrs`` is trained with every seed, and the grid is extended outward (by
a factor of about 3, within ``lr_limits``) while the best rate lies at its
edge; the rate with the best mean final validation accuracy is kept."""


def study_models() -> dict[str, Callable[[], nn.Module]]:
    """Builders of the parameter-matched pair: an LSTM with 48 units
    (forget-gate bias 1) against 5 levels of 18 channels, kernel 3 (10,282
    and 9,388 parameters)."""
    bias = STUDY_SETTINGS["forget_bias"]
    return {
        "LSTM": lambda: LSTMClassifier(
            1, 10, hidden_size=48, forget_bias=bias
        ),
        "TCN": lambda: TCNClassifier(
            1, 10, channels=[18] * 5, kernel_size=3
        ),
    }


def study_run(
    build: Callable[[], nn.Module],
    loaders,
    *,
    seed: int,
    lr: float,
    epochs: int | None = None,
) -> tuple[nn.Module, dict]:
    """Train one model of the study (seed set right before building it) with
    the recipe of :data:`STUDY_SETTINGS`; return it with its record: the
    last epoch's test accuracy, the per-epoch validation accuracy and
    training loss."""
    train_loader, val_loader, test_loader = loaders
    set_seed(seed)
    model = build()
    history = train(
        model,
        train_loader,
        val_loader,
        epochs=epochs or STUDY_SETTINGS["epochs"],
        lr=lr,
        clip_grad_norm=STUDY_SETTINGS["clip_grad_norm"],
        cosine_schedule=True,
        select_by="last",
        show_progress=False,
    )
    record = {
        "seed": seed,
        "lr": lr,
        "test_accuracy": evaluate(model, test_loader)["accuracy"],
        "val_accuracy": history.val_accuracy,
        "train_loss": history.train_loss,
    }
    return model, record


def study_records(
    study: dict, *, model: str, permuted: bool = False
) -> list[dict]:
    """The runs of one model on one task of the stored study, in seed order,
    at the chosen learning rate (:func:`chosen_lr`)."""
    if not isinstance(study, dict) or "records" not in study:
        raise TypeError(
            "study must be what python -m kd_lib.runners lstm_vs_tcn stores"
        )
    lr = chosen_lr(study, model=model, permuted=permuted)
    found = [
        r
        for r in study["records"]
        if r["model"] == model
        and r["permuted"] == permuted
        and r["lr"] == lr
    ]
    if not found:
        raise ValueError(
            f"no records for model={model!r}, permuted={permuted}, lr={lr}"
        )
    return sorted(found, key=lambda r: r["seed"])


def chosen_lr(study: dict, *, model: str, permuted: bool = False) -> float:
    """The learning rate the stored study chose for one model and task."""
    key = f"{model}, {'permuted' if permuted else 'sequential'}"
    if key not in study.get("chosen_lr", {}):
        raise ValueError(f"the study chose no rate for {key!r}")
    return study["chosen_lr"][key]
