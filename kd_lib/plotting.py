"""One consistent look for every figure in the book."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import torch

__all__ = [
    "PALETTE",
    "use_book_style",
    "plot_validation_curves",
    "plot_paired_gain",
]

PALETTE = {
    "teacher": "#1f4e79",
    "scratch": "#999999",
    "distilled": "#d9822b",
    "finetuned": "#2e8b57",
    "pseudo": "#5f9ea0",
    "smooth": "#8e6bb3",
    "class_average": "#c7a41f",
    "lstm": "#1f4e79",
    "tcn": "#d9822b",
}
"""Colours for the same role in every chapter (the teacher is blue)."""


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


def plot_validation_curves(
    record: dict,
    ax=None,
    label: str | None = None,
    color: str | None = None,
):
    """Validation accuracy (%) of a stored arm against the epoch: the mean
    over seeds as a line, the range over seeds as a band."""
    if ax is None:
        _, ax = plt.subplots()
    values = torch.tensor(record["val_accuracy"]) * 100  # (points, seeds)
    ax.plot(record["val_epochs"], values.mean(1), color=color, label=label)
    ax.fill_between(
        record["val_epochs"],
        values.min(1).values,
        values.max(1).values,
        color=color,
        alpha=0.2,
        linewidth=0,
    )
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    return ax


def plot_paired_gain(
    xs: list[float],
    differences: list,
    ax=None,
    label: str | None = None,
    color: str | None = None,
):
    """Mean paired difference (markers) and its confidence interval
    (bars), in points (× 100), against ``xs``."""
    if len(xs) != len(differences) or not xs:
        raise ValueError("need one PairedDifference per x value")
    if ax is None:
        _, ax = plt.subplots()
    means = [100 * d.mean for d in differences]
    below = [100 * (d.mean - d.low) for d in differences]
    above = [100 * (d.high - d.mean) for d in differences]
    ax.errorbar(
        xs,
        means,
        yerr=[below, above],
        marker="o",
        capsize=4,
        label=label,
        color=color or PALETTE["distilled"],
    )
    ax.axhline(0.0, color="black", linewidth=0.8)
    return ax
