"""The distillation chapter's tables and figures, read from the stored
runs (``python -m kd_lib.runners data_fraction teachers vowels
omitted_class``): soft against hard labels by the share of the training
set, the fine-tuning step against its control, a verdict per setting, the
share of the teacher-student gap closed, and Hinton et al.'s omitted-class
correction."""

from __future__ import annotations

import statistics

import matplotlib.pyplot as plt
import torch

from ..arms import ARMS
from ..comparison import mean_and_spread, paired_difference, verdict
from ..plotting import PALETTE, plot_paired_gain
from ..report import Table
from ..results import arm_values
from ..utils import check_tensor

__all__ = [
    "gap_closed",
    "omitted_class_accuracy",
    "best_bias",
    "fraction_table",
    "plot_fraction_study",
    "finetune_table",
    "verdict_table",
]


def _cell(values) -> str:
    return mean_and_spread(values).format()


def gap_closed(distilled: float, scratch: float, teacher: float) -> float:
    """Share of the teacher–student gap that distillation closes:
    ``(distilled − scratch) / (teacher − scratch)``, from accuracies.

    1 means the distilled student matches the teacher, 0 that distillation
    did nothing, a negative value that it hurt. Hinton et al.'s MNIST net:
    test errors 146 (alone) and 74 (distilled) against the teacher's 67 give
    0.91.
    """
    for name, value in (
        ("distilled", distilled),
        ("scratch", scratch),
        ("teacher", teacher),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(
                f"{name} must be a number (an accuracy), got "
                f"{type(value).__name__}"
            )
    if teacher <= scratch:
        raise ValueError(
            f"no gap to close: the teacher ({teacher}) is not better than "
            "the "
            f"student from scratch ({scratch})"
        )
    return (distilled - scratch) / (teacher - scratch)


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


def fraction_table(records: list[dict], fractions: list[float]) -> Table:
    """Per share of the training set: its size and epochs, each arm's
    accuracy (mean ± sd), and the paired gain of soft over hard labels with
    its verdict."""
    rows = []
    for f in fractions:
        get = {
            arm: arm_values(records, arm, fraction=f)
            for arm in ("scratch", "soft", "finetuned")
        }
        first = next(
            r for r in records if r["fraction"] == f and r["arm"] == "soft"
        )
        gain = paired_difference(get["scratch"], get["soft"])
        rows.append(
            [
                f"{100 * f:g} %",
                first["n_train"],
                first["epochs"],
                *(_cell(get[a]) for a in ("scratch", "soft", "finetuned")),
                gain.format(unit=""),
                verdict(gain),
            ]
        )
    return Table(
        [
            "share",
            "digits",
            "epochs",
            "hard labels (%)",
            "soft (%)",
            "soft + fine-tuned (%)",
            "soft minus hard (points)",
            "verdict",
        ],
        rows,
    )


def plot_fraction_study(
    records: list[dict], fractions: list[float], teacher_accuracy: float
):
    """Left: test accuracy of each arm against the share of the training
    set; right: the paired gain of soft over hard labels with its 95 %
    interval."""
    fig, (ax_acc, ax_gain) = plt.subplots(1, 2, figsize=(9, 3.6))
    xs = [100 * f for f in fractions]
    for arm, key in (
        ("scratch", "scratch"),
        ("soft", "distilled"),
        ("finetuned", "finetuned"),
    ):
        values = (
            torch.tensor(
                [arm_values(records, arm, fraction=f) for f in fractions]
            )
            * 100
        )
        ax_acc.errorbar(
            xs,
            values.mean(1),
            yerr=values.std(1),
            marker="o",
            capsize=3,
            color=PALETTE[key],
            label="hard labels" if arm == "scratch" else arm,
        )
    ax_acc.axhline(
        100 * teacher_accuracy,
        color=PALETTE["teacher"],
        linestyle="--",
        label="teacher",
    )
    ax_acc.set_ylabel("test accuracy (%)")
    ax_acc.legend(loc="lower right")
    gains = [
        paired_difference(
            arm_values(records, "scratch", fraction=f),
            arm_values(records, "soft", fraction=f),
        )
        for f in fractions
    ]
    plot_paired_gain(xs, gains, ax=ax_gain)
    ax_gain.set_ylabel("soft minus hard labels (points)")
    for ax in (ax_acc, ax_gain):
        ax.set_xscale("log")
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
        ax.minorticks_off()
        ax.set_xlabel("share of the training digits (%)")
    return fig


def finetune_table(
    records: list[dict], fractions: list[float]
) -> tuple[Table, dict]:
    """Step 4 per share of the training set: fine-tuned minus soft, and
    fine-tuned minus ``scratch_longer`` (the same extra epochs on hard
    labels), with verdicts.

    Returns the table and ``{fraction: {"over_soft", "over_longer",
    "longer"}}``, the :class:`~kd_lib.comparison.PairedDifference` behind
    each cell (``longer`` is ``scratch_longer`` minus ``scratch``: what the
    extra epochs alone gave).
    """
    rows, comparisons = [], {}
    for f in fractions:
        get = {arm: arm_values(records, arm, fraction=f) for arm in ARMS}
        c = {
            "over_soft": paired_difference(get["soft"], get["finetuned"]),
            "over_longer": paired_difference(
                get["scratch_longer"], get["finetuned"]
            ),
            "longer": paired_difference(
                get["scratch"], get["scratch_longer"]
            ),
        }
        comparisons[f] = c
        rows.append(
            [
                f"{100 * f:g} %",
                c["over_soft"].format(unit=""),
                verdict(c["over_soft"]),
                c["over_longer"].format(unit=""),
                verdict(c["over_longer"]),
            ]
        )
    return Table(
        [
            "share of the digits",
            "fine-tuned minus soft (points)",
            "verdict",
            "fine-tuned minus scratch_longer (points)",
            "verdict",
        ],
        rows,
    ), comparisons


def verdict_table(
    comparisons: list[tuple[str, int, float, list[float], list[float]]],
    caption: str | None = None,
) -> tuple[Table, dict[str, int]]:
    """A verdict per comparison, computed from its paired interval.

    Each comparison is ``(setting, training inputs, teacher accuracy, hard,
    soft)`` with ``hard`` and ``soft`` the per-seed accuracies of the two
    students. The table shows the teacher's headroom over the hard-label
    student, the paired difference soft minus hard and its verdict; the
    second value counts verdicts.
    """
    rows, tally = [], {}
    for setting, n_train, teacher_accuracy, hard, soft in comparisons:
        d = paired_difference(hard, soft)
        headroom = 100 * (teacher_accuracy - statistics.fmean(hard))
        rows.append(
            [
                setting,
                n_train,
                f"{headroom:+.1f}",
                d.format(unit=""),
                verdict(d),
            ]
        )
        tally[verdict(d)] = tally.get(verdict(d), 0) + 1
    headers = [
        "setting",
        "training inputs",
        "teacher minus hard (points)",
        "soft minus hard labels (points)",
        "verdict",
    ]
    return Table(headers, rows, caption=caption), tally
