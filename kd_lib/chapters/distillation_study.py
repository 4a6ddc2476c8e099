"""The distillation chapter's comparisons, read from the stored runs
(``python -m kd_lib.runners data_fraction vowels omitted_class``): each
rung of the ladder of controls as a paired difference over seeds and test
items, and Hinton et al.'s omitted-class correction."""

from __future__ import annotations

import torch

from ..report import arm_difference
from ..results import arm_records
from ..utils import check_tensor

__all__ = [
    "RUNGS",
    "omitted_class_accuracy",
    "best_bias",
    "rung_differences",
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


def rung_differences(records: list[dict], rungs=RUNGS, **where) -> dict:
    """Each comparison of ``rungs`` (by name) on the stored arms matching
    ``where`` (for example ``fraction=0.05``), as a paired bootstrap over
    seeds and test items (:func:`kd_lib.report.arm_difference`)."""
    arms = arm_records(records, **where)
    return {
        name: arm_difference(arms[a], arms[b])
        for name, (a, b) in rungs.items()
    }
