"""Paired comparisons over seeds: is arm B better than
arm A, and by how much? Also the book's mean ± spread and its one way of
picking a setting (a learning rate, say) on validation data.

Two training recipes run with the same seeds share everything a seed decides
(initial weights, batch order), so the fair question is about the per-seed
differences ``b[i] - a[i]``, not about two separate means. Their mean and a
Student-t confidence interval say how large the effect is and how sure five
or ten seeds can make us; a claim is worded by where that interval lies.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from scipy import stats

__all__ = [
    "MeanSpread",
    "mean_and_spread",
    "best_setting",
    "PairedDifference",
    "paired_difference",
    "verdict",
]


class MeanSpread(NamedTuple):
    """Mean and sample standard deviation of a list of values (one per
    seed, say)."""

    mean: float
    spread: float

    def format(self, scale: float = 100.0, digits: int = 1) -> str:
        """``"96.5 ± 1.1"`` for accuracies by default (× ``scale``)."""
        return (
            f"{scale * self.mean:.{digits}f} ± "
            f"{scale * self.spread:.{digits}f}"
        )


def mean_and_spread(values) -> MeanSpread:
    """Mean and sample standard deviation (0 for a single value)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("need at least one value")
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return MeanSpread(statistics.fmean(values), spread)


def best_setting(
    records: list[dict],
    score: Callable[[dict], float | list[float]],
    setting: str = "lr",
    lower_is_better: bool = False,
):
    """The value of ``record[setting]`` (a learning rate, say) whose
    records score best on average: ``score(record)`` is a validation score
    (or one per seed), pooled over every record of that value. Ties go to
    the smaller value. The book's one way of choosing a setting on
    validation data."""
    pooled: dict = {}
    for record in records:
        value = score(record)
        values = value if isinstance(value, (list, tuple)) else [value]
        pooled.setdefault(record[setting], []).extend(values)
    if not pooled:
        raise ValueError("need at least one record to choose from")
    sign = -1.0 if lower_is_better else 1.0
    candidates = sorted(pooled)
    best = max(
        range(len(candidates)),
        key=lambda i: (sign * statistics.fmean(pooled[candidates[i]]), -i),
    )
    return candidates[best]


@dataclass(frozen=True)
class PairedDifference:
    """Mean of the per-seed differences ``b - a`` and its
    confidence interval."""

    differences: tuple[float, ...]
    mean: float
    low: float
    high: float
    confidence: float

    @property
    def n(self) -> int:
        return len(self.differences)

    @property
    def positive_seeds(self) -> int:
        """How many seeds had ``b > a``."""
        return sum(d > 0 for d in self.differences)

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def format(
        self, scale: float = 100.0, digits: int = 1, unit: str = " points"
    ) -> str:
        """``"+6.4 points (95 % CI +4.5 to +8.3, n = 5)"`` for
        accuracies by default."""
        f = f"{{:+.{digits}f}}"
        return (
            f"{f.format(scale * self.mean)}{unit} "
            f"({100 * self.confidence:.0f} % CI "
            f"{f.format(scale * self.low)} to "
            f"{f.format(scale * self.high)}, n = {self.n})"
        )


def paired_difference(a, b, confidence: float = 0.95) -> PairedDifference:
    """Mean of ``b[i] - a[i]`` over seeds with a
    two-sided Student-t interval.

    ``a`` and ``b`` hold one value per seed, in the same seed order. The
    interval is ``mean ± t_{(1+c)/2, n-1} · sd / √n``: it assumes the
    per-seed differences are roughly normal, which for a handful of seeds is
    the usual, stated assumption, not a guarantee.
    """
    a, b = list(a), list(b)
    for name, values in (("a", a), ("b", b)):
        for v in values:
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not math.isfinite(v)
            ):
                raise TypeError(
                    f"{name} must hold finite numbers, got {v!r}"
                )
    if len(a) != len(b):
        raise ValueError(
            f"a and b must hold one value per seed each, got {len(a)} and "
            f"{len(b)}"
        )
    if len(a) < 2:
        raise ValueError(
            f"need at least two seeds for an interval, got {len(a)}"
        )
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, float)
        or not 0 < confidence < 1
    ):
        raise ValueError(
            f"confidence must be a float in (0, 1), got {confidence!r}"
        )
    differences = tuple(float(y) - float(x) for x, y in zip(a, b))
    mean = statistics.fmean(differences)
    half = float(
        stats.t.ppf((1 + confidence) / 2, len(differences) - 1)
        * statistics.stdev(differences)
        / math.sqrt(len(differences))
    )
    return PairedDifference(
        differences, mean, mean - half, mean + half, confidence
    )


def verdict(
    difference: PairedDifference, equivalence_margin: float = 0.01
) -> str:
    """Word a paired difference ``b - a`` by where its interval lies, with
    thresholds that are fixed before anything is measured:

    - ``"better"``: the whole interval lies above 0 (``b`` beats ``a``);
    - ``"worse"``: the whole interval lies below 0;
    - ``"equivalent"``: the interval straddles 0 but lies within
      ``±equivalence_margin`` (by default one point of accuracy): any
      difference left is too small to matter;
    - ``"inconclusive"``: the interval straddles 0 and is
      too wide to say more.
    """
    if not isinstance(difference, PairedDifference):
        raise TypeError(
            "difference must be a PairedDifference, got "
            f"{type(difference).__name__}"
        )
    if equivalence_margin < 0:
        raise ValueError(
            f"equivalence_margin must be >= 0, got {equivalence_margin}"
        )
    if difference.low > 0:
        return "better"
    if difference.high < 0:
        return "worse"
    if (
        -equivalence_margin <= difference.low
        and difference.high <= equivalence_margin
    ):
        return "equivalent"
    return "inconclusive"
