"""The distillation chapter's tables and figures, read from the stored
runs (``python -m kd_lib.runners data_fraction vowels omitted_class``):
the ladder of controls by the share of the training set, each rung's
paired difference over seeds and test items, and Hinton et al.'s
omitted-class correction."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from ..arms import TRAINED
from ..comparison import family_note, mean_and_spread, verdict
from ..plotting import PALETTE, plot_paired_gain
from ..report import Table, arm_difference
from ..results import arm_records
from ..utils import check_tensor

__all__ = [
    "RUNGS",
    "omitted_class_accuracy",
    "best_bias",
    "chosen_table",
    "rung_differences",
    "rung_table",
    "plot_rungs",
]

RUNGS = {
    "soft − scratch": ("scratch", "soft"),
    "smooth − scratch": ("scratch", "smooth"),
    "class average − scratch": ("scratch", "class_average"),
    "soft − smooth": ("smooth", "soft"),
    "soft − class average": ("class_average", "soft"),
    "finetuned − soft": ("soft", "finetuned"),
    "finetuned − soft longer": ("soft_longer", "finetuned"),
    "scratch longer − scratch": ("scratch", "scratch_longer"),
}
"""The comparisons the chapter reads off the ladder, each ``b − a`` as
``(a, b)``: the gain of each kind of soft target over the true labels,
per-input soft labels against the two controls, and the extra epochs."""


def omitted_class_accuracy(
    logits: torch.Tensor,
    labels: torch.Tensor,
    omitted: int,
    bias: float = 0.0,
) -> dict[str, float]:
    """Accuracy on the ``omitted`` class's inputs and overall, after adding
    ``bias`` to that class's logit (Hinton et al.'s correction for a class
    the student never saw). ``logits`` ``(n, classes)`` or
    ``(models, n, classes)``."""
    check_tensor(logits, "logits", ndim=(2, 3), floating=True)
    shifted = logits.clone()
    shifted[..., omitted] += bias
    correct = (shifted.argmax(-1) == labels).float()
    return {
        "omitted": correct[..., labels == omitted].mean(-1).tolist(),
        "overall": correct.mean(-1).tolist(),
    }


def best_bias(
    val_logits: torch.Tensor,
    val_labels: torch.Tensor,
    omitted: int,
    biases=tuple(b / 2 for b in range(0, 21)),
) -> float:
    """The bias for the omitted class's logit that maximises validation
    accuracy (ties: the smallest). ``val_logits`` ``(n, classes)``."""
    check_tensor(val_logits, "val_logits", ndim=2, floating=True)
    scores = [
        omitted_class_accuracy(val_logits, val_labels, omitted, b)[
            "overall"
        ]
        for b in biases
    ]
    return biases[max(range(len(biases)), key=lambda i: (scores[i], -i))]


def _chosen(setting: dict) -> str:
    text = f"{setting['lr']:.0e}, wd {setting['weight_decay']:g}"
    if setting.get("epsilon"):
        text += f", ε {setting['epsilon']:g}"
    return text


def chosen_table(records: list[dict], fractions) -> Table:
    """The setting the search chose for every trained arm at every share
    of the training set: learning rate, weight decay and, for ``smooth``,
    the smoothing ``ε``."""
    arms = [a for a in TRAINED if a != "pseudo"]
    rows = []
    for f in fractions:
        found = arm_records(records, fraction=f)
        rows.append(
            [f"{100 * f:g} %"]
            + [_chosen(found[a]["setting"]) for a in arms]
        )
    return Table(
        ["share"] + arms,
        rows,
        caption="Chosen on validation data: learning rate, weight decay "
        "(wd) and smoothing (ε). pseudo takes scratch's setting when the "
        "teacher's arg-max is the true label on every training input.",
    )


def rung_differences(records: list[dict], rungs=RUNGS, **where) -> dict:
    """Each comparison of ``rungs`` (by name) on the stored arms matching
    ``where`` (for example ``fraction=0.05``), as a paired bootstrap over
    seeds and test items (:func:`kd_lib.report.arm_difference`)."""
    arms = arm_records(records, **where)
    return {
        name: arm_difference(arms[a], arms[b])
        for name, (a, b) in rungs.items()
    }


def rung_table(records: list[dict], fractions, rungs) -> Table:
    """One row per share of the training set: its size, the accuracy of
    the students from scratch, and each comparison of ``rungs`` (names of
    :data:`RUNGS`) with its interval and verdict. The caption names the
    family of comparisons the table makes."""
    rows = []
    for f in fractions:
        arms = arm_records(records, fraction=f)
        found = rung_differences(
            records, {r: RUNGS[r] for r in rungs}, fraction=f
        )
        cells = [
            f"{d.format(unit='')}: {verdict(d)}" for d in found.values()
        ]
        scratch = mean_and_spread(arms["scratch"]["test_accuracy"])
        rows.append(
            [f"{100 * f:g} %", arms["scratch"]["n_train"], scratch.format()]
            + cells
        )
    return Table(
        ["share", "digits", "scratch (%)"] + list(rungs),
        rows,
        caption=family_note(len(fractions) * len(rungs)),
    )


def plot_rungs(records: list[dict], fractions, rungs, ax=None):
    """Each comparison of ``rungs`` against the share of the training set
    (log scale), with its 95 % interval, side by side at each share."""
    if ax is None:
        _, ax = plt.subplots()
    colours = [PALETTE[k] for k in ("distilled", "smooth", "class_average")]
    for i, name in enumerate(rungs):
        found = [
            rung_differences(records, {name: RUNGS[name]}, fraction=f)[name]
            for f in fractions
        ]
        xs = [100 * f * 1.06 ** (i - 1) for f in fractions]
        plot_paired_gain(
            xs, found, ax=ax, label=name, color=colours[i % len(colours)]
        )
    ax.set_xscale("log")
    ax.set_xlabel("share of the training digits (%)")
    ax.set_ylabel("difference in test accuracy (points)")
    ax.legend()
    return ax
