"""One consistent look for every figure in the book."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt

from .training import History

__all__ = ["use_book_style", "plot_history", "PALETTE"]

PALETTE = {
    "teacher": "#1f4e79",
    "scratch": "#999999",
    "distilled": "#d9822b",
    "finetuned": "#2e8b57",
    "lstm": "#1f4e79",
    "tcn": "#d9822b",
}
"""Colours used for the same role in every chapter (the
teacher is always blue)."""


def use_book_style() -> None:
    """Set matplotlib defaults: readable fonts, light grid, no top/right
    spines, and a PNG resolution that looks sharp on the website without
    bloating notebooks."""
    mpl.rcParams.update(
        {
            "figure.figsize": (6.4, 3.6),
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "font.size": 10,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            "figure.constrained_layout.use": True,
        }
    )


def plot_history(
    history: History,
    ax=None,
    label: str | None = None,
    color: str | None = None,
):
    """Training loss (dashed) and validation accuracy (solid,
    right axis) per epoch."""
    if not isinstance(history, History):
        raise TypeError(
            "history must be a kd_lib.History, got "
            f"{type(history).__name__}"
        )
    if ax is None:
        _, ax = plt.subplots()
    epochs = range(1, history.epochs + 1)
    ax.plot(
        epochs,
        history.train_loss,
        linestyle="--",
        color=color,
        label=f"{label} train loss" if label else "train loss",
    )
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    if history.val_accuracy:
        acc_ax = ax.twinx()
        acc_ax.plot(
            epochs,
            [100 * a for a in history.val_accuracy],
            color=color,
            label=f"{label} val accuracy" if label else "val accuracy",
        )
        acc_ax.set_ylabel("validation accuracy (%)")
        acc_ax.grid(False)
        return ax, acc_ax
    return ax, None
