"""How far to trust a model's probabilities: reliability bins, the
expected calibration error (Guo et al. 2017), and a bootstrap for how much
such a number, measured on a finite test set, could move. Soft labels are
only as good as the teacher's probabilities, so the book measures them."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..utils import check_int, check_tensor

__all__ = [
    "ReliabilityBins",
    "reliability_bins",
    "expected_calibration_error",
    "bootstrap",
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
    """Group predictions by confidence (top softmax probability) into
    equal-width bins. Shapes: logits ``(n, classes)``, labels ``(n,)``."""
    _check_logits_labels(logits, labels)
    check_int(num_bins, "num_bins")
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
    gaps = (bins.accuracy[filled] - bins.confidence[filled]).abs()
    return float((weights * gaps).sum())


def bootstrap(
    statistic,
    logits: torch.Tensor,
    labels: torch.Tensor,
    resamples: int = 200,
    seed: int = 0,
) -> torch.Tensor:
    """``statistic(logits, labels)`` on ``resamples`` resamplings of the
    rows with replacement, shape ``(resamples,)``: their spread is how much
    the number could change on another test set of the same size. Uses its
    own generator, so the global random state is left alone."""
    _check_logits_labels(logits, labels)
    check_int(resamples, "resamples", 2)
    generator = torch.Generator().manual_seed(seed)
    n = len(labels)
    values = []
    for _ in range(resamples):
        rows = torch.randint(0, n, (n,), generator=generator)
        values.append(float(statistic(logits[rows], labels[rows])))
    return torch.tensor(values, dtype=torch.float64)
