"""The tuned, multi-seed accuracy study of LSTM against TCN (chapter 2):
the parameter-matched models, the recall task's loaders, one run, and the
records of the stored study (``python -m kd_lib.runners lstm_vs_tcn``)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..data import make_loader, recall_at_distance
from ..models import LSTMClassifier, TCNClassifier
from ..training import evaluate, train
from ..utils import check_int, set_seed

__all__ = [
    "STUDY_SEEDS",
    "STUDY_SETTINGS",
    "study_models",
    "recall_loaders",
    "study_run",
    "study_records",
]


STUDY_SEEDS = (0, 1, 2)
"""Seeds of every accuracy-based comparison in the stored study."""

STUDY_SETTINGS = {
    "epochs": 100,
    "digits_lrs": (3e-3, 1e-2, 3e-2),
    "recall_lrs": (3e-3, 1e-2, 3e-2),
    "recall_position": 3,
    "recall_distances": (4, 12, 48),
    "recall_sizes": (2000, 500, 1000),
    "forget_bias": 1.0,
    "clip_grad_norm": 1.0,
}
"""The budget of :func:`kd_lib.runners.lstm_vs_tcn.run_lstm_vs_tcn`: the
same number of epochs (and so of updates) for both models, learning
rates searched on validation data per model and task, forget-gate bias
1, clipping at norm 1. In the recall task the symbol to recall is always
the one at step ``recall_position`` (counting from 0), so a longer
distance is a longer sequence and a longer gap to bridge, not a harder
counting problem."""


def study_models(task: str) -> dict[str, Callable[[], nn.Module]]:
    """Builders of the parameter-matched pair for ``task``
    (``"digits"`` or ``"recall"``): the LSTM with forget-gate bias 1.

    Digits: LSTM with 48 units against 5 levels of 18 channels, kernel 3
    (10,282 and 9,388 parameters). Recall: LSTM with 19 units against
    2 levels of 16 channels, kernel 2 (1,980 and 1,940 parameters;
    receptive field 7).
    """
    bias = STUDY_SETTINGS["forget_bias"]
    if task == "digits":
        return {
            "LSTM": lambda: LSTMClassifier(
                1, 10, hidden_size=48, forget_bias=bias
            ),
            "TCN": lambda: TCNClassifier(
                1, 10, channels=[18] * 5, kernel_size=3
            ),
        }
    if task == "recall":
        return {
            "LSTM": lambda: LSTMClassifier(
                4, 4, hidden_size=19, forget_bias=bias
            ),
            "TCN": lambda: TCNClassifier(
                4, 4, channels=[16, 16], kernel_size=2
            ),
        }
    raise ValueError(f"task must be 'digits' or 'recall', got {task!r}")


def recall_loaders(distance: int, seed: int = 0):
    """Train (shuffled by ``seed``), validation and test loaders for
    :func:`kd_lib.recall_at_distance`: sequences of ``distance +
    recall_position + 1`` steps whose label is the symbol at step
    ``recall_position``; the data themselves never depend on ``seed``."""
    check_int(distance, "distance")
    length = distance + STUDY_SETTINGS["recall_position"] + 1
    n_train, n_val, n_test = STUDY_SETTINGS["recall_sizes"]
    parts = [
        recall_at_distance(n, length, distance, seed=data_seed)
        for n, data_seed in (
            (n_train, 0),
            (n_val, 20_000),
            (n_test, 10_000),
        )
    ]
    return (
        make_loader(*parts[0], batch_size=64, shuffle=True, seed=seed),
        make_loader(*parts[1], batch_size=500),
        make_loader(*parts[2], batch_size=500),
    )


def study_run(
    build: Callable[[], nn.Module],
    loaders,
    *,
    seed: int,
    lr: float,
    epochs: int | None = None,
) -> tuple[nn.Module, dict]:
    """Train one model of the study (seed set right before building it)
    and return it with its record: test accuracy of the best validation
    epoch, and the per-epoch curves."""
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
        show_progress=False,
    )
    record = {
        "seed": seed,
        "lr": lr,
        "test_accuracy": evaluate(model, test_loader)["accuracy"],
        "best_epoch": history.best_epoch,
        "val_accuracy": history.val_accuracy,
        "train_loss": history.train_loss,
    }
    return model, record


def study_records(
    study: dict,
    *,
    task: str,
    model: str,
    permuted: bool = False,
    distance: int | None = None,
    stage: str = "final",
) -> list[dict]:
    """The records of one setting of a stored
    :func:`kd_lib.runners.lstm_vs_tcn.run_lstm_vs_tcn` study, one per seed
    (``stage="final"``) or per searched learning rate
    (``stage="search"``), in the order they were run."""
    if not isinstance(study, dict) or "records" not in study:
        raise TypeError(
            "study must be the dict that "
            "python -m kd_lib.runners lstm_vs_tcn stores"
        )
    if stage not in ("final", "search"):
        raise ValueError(
            f"stage must be 'final' or 'search', got {stage!r}"
        )
    found = [
        r
        for r in study["records"]
        if r["task"] == task
        and r["model"] == model
        and r["permuted"] == permuted
        and r["distance"] == distance
        and r["stage"] == stage
    ]
    if not found:
        raise ValueError(
            f"no {stage} records for task={task!r}, model={model!r}, "
            f"permuted={permuted}, distance={distance}"
        )
    return found
