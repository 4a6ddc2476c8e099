"""How far to trust a model's probabilities: reliability diagrams and the
expected calibration error (Guo et al. 2017). Soft labels are only as good
as the teacher's probabilities, so the book measures them."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from ..utils import check_tensor

__all__ = [
    "ReliabilityBins",
    "reliability_bins",
    "expected_calibration_error",
    "plot_reliability",
]


@dataclass
class ReliabilityBins:
    """Per confidence bin: its edges, how many predictions fell in it, their
    mean confidence and their accuracy (NaN for empty bins)."""

    edges: torch.Tensor
    counts: torch.Tensor
    confidence: torch.Tensor
    accuracy: torch.Tensor


def _check_logits_labels(
    logits: torch.Tensor, labels: torch.Tensor
) -> None:
    check_tensor(logits, "logits", ndim=2, floating=True)
    check_tensor(labels, "labels", ndim=1, floating=False)
    if len(logits) != len(labels):
        raise ValueError(
            "logits and labels must have the same length: "
            f"{len(logits)} != {len(labels)}"
        )


def reliability_bins(
    logits: torch.Tensor, labels: torch.Tensor, num_bins: int = 10
) -> ReliabilityBins:
    """Group predictions by confidence (top softmax probability)
    into equal-width bins.

    Shapes: logits ``(n, classes)``, labels ``(n,)``.
    """
    _check_logits_labels(logits, labels)
    if (
        isinstance(num_bins, bool)
        or not isinstance(num_bins, int)
        or num_bins < 1
    ):
        raise ValueError(
            f"num_bins must be a positive int, got {num_bins!r}"
        )
    probs = F.softmax(logits.detach().float(), dim=-1)
    confidence, predicted = probs.max(dim=-1)
    correct = (predicted == labels).float()
    edges = torch.linspace(0.0, 1.0, num_bins + 1)
    # bin i holds confidences in (edges[i], edges[i+1]]; the top-1
    # probability is always > 0
    index = torch.clamp(
        torch.bucketize(confidence, edges[1:-1], right=False),
        0,
        num_bins - 1,
    )
    counts = torch.bincount(index, minlength=num_bins).float()
    conf_sum = torch.zeros(num_bins).index_add_(0, index, confidence)
    correct_sum = torch.zeros(num_bins).index_add_(0, index, correct)
    safe = counts.clamp(min=1)
    empty = counts == 0
    mean_conf = torch.where(empty, torch.nan, conf_sum / safe)
    acc = torch.where(empty, torch.nan, correct_sum / safe)
    return ReliabilityBins(edges, counts.long(), mean_conf, acc)


def expected_calibration_error(
    logits: torch.Tensor, labels: torch.Tensor, num_bins: int = 10
) -> float:
    """ECE = sum over bins of (bin size / n) ×
    ``|accuracy − mean confidence|``, in [0, 1]."""
    bins = reliability_bins(logits, labels, num_bins)
    filled = bins.counts > 0
    weights = bins.counts[filled].float() / bins.counts.sum()
    return float(
        (
            weights
            * (bins.accuracy[filled] - bins.confidence[filled]).abs()
        ).sum()
    )


def plot_reliability(
    logits: torch.Tensor,
    labels: torch.Tensor,
    num_bins: int = 10,
    ax=None,
    label: str | None = None,
    color: str | None = None,
):
    """Reliability diagram: accuracy per confidence bin against the diagonal
    of perfect calibration."""
    bins = reliability_bins(logits, labels, num_bins)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    centers = (0.5 * (bins.edges[1:] + bins.edges[:-1])).numpy()
    filled = (bins.counts > 0).numpy()
    width = 1.0 / num_bins
    ax.bar(
        centers[filled],
        bins.accuracy.numpy()[filled],
        width=width * 0.9,
        alpha=0.7,
        color=color,
        label=label,
        edgecolor="black",
        linewidth=0.5,
    )
    ax.plot(
        [0, 1],
        [0, 1],
        linestyle="--",
        color="black",
        linewidth=1,
        label="perfect calibration",
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top softmax probability)")
    ax.set_ylabel("accuracy in bin")
    ax.legend(loc="upper left")
    return ax
