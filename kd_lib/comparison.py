"""Paired comparisons over seeds: is arm B better than arm A, and by how
much? Also the book's mean ± spread and its one way of picking a setting
on validation data.

Two training recipes run with the same seeds share everything a seed
decides (initial weights, batch order), so the fair question is about the
per-seed differences ``b[i] - a[i]``, not about two separate means; a
claim is worded by where their interval lies (:func:`verdict`).
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.special import stdtrit

from .utils import check_int

__all__ = [
    "MeanSpread",
    "mean_and_spread",
    "best_setting",
    "next_rate",
    "PairedDifference",
    "paired_difference",
    "paired_bootstrap",
    "verdict",
    "verdicts_by_place",
    "family_note",
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
    # max keeps the first of equal scores: the smallest value
    return max(
        sorted(pooled), key=lambda v: sign * statistics.fmean(pooled[v])
    )


def next_rate(lr: float, tried: list[float], limits=(1e-4, 1e-1)):
    """The learning rate to try next when the best one, ``lr``, lies at
    the edge of the rates ``tried``: a factor of √10 (about 3) further out,
    within ``limits``; None when ``lr`` is inside the grid or the next step
    would leave the limits. A grid extended this way until the best rate is
    inside it has bracketed its optimum."""
    low, high = limits
    if lr == min(tried) and lr / math.sqrt(10) >= low * 0.99:
        return lr / math.sqrt(10)
    if lr == max(tried) and lr * math.sqrt(10) <= high * 1.01:
        return lr * math.sqrt(10)
    return None


@dataclass(frozen=True)
class PairedDifference:
    """Mean of the per-seed differences ``b - a`` and its
    confidence interval."""

    differences: tuple[float, ...]
    mean: float
    low: float
    high: float
    confidence: float
    items: int | None = None

    @property
    def n(self) -> int:
        return len(self.differences)

    @property
    def positive_seeds(self) -> int:
        """How many seeds had ``b > a``."""
        return sum(d > 0 for d in self.differences)

    def format(
        self, scale: float = 100.0, digits: int = 1, unit: str = " points"
    ) -> str:
        """``"+6.4 points (95 % CI +4.5 to +8.3, n = 5)"`` for
        accuracies by default; ``n = 5 × 359`` when the interval also
        covers the test items (:func:`paired_bootstrap`)."""
        f = f"{{:+.{digits}f}}"
        n = f"{self.n} × {self.items}" if self.items else f"{self.n}"
        return (
            f"{f.format(scale * self.mean)}{unit} "
            f"({100 * self.confidence:.0f} % CI "
            f"{f.format(scale * self.low)} to "
            f"{f.format(scale * self.high)}, n = {n})"
        )


def _check_confidence(confidence) -> None:
    if not isinstance(confidence, float) or not 0 < confidence < 1:
        raise ValueError(
            f"confidence must be a float in (0, 1), got {confidence!r}"
        )


def paired_difference(a, b, confidence: float = 0.95) -> PairedDifference:
    """Mean of ``b[i] - a[i]`` over seeds (``a`` and ``b`` hold one value
    per seed, in the same order) with a two-sided Student-t interval,
    ``mean ± t_{(1+c)/2, n-1} · sd / √n``. It assumes the differences are
    roughly normal: for a handful of seeds the usual, stated assumption,
    not a guarantee."""
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
    _check_confidence(confidence)
    differences = tuple(float(y) - float(x) for x, y in zip(a, b))
    mean = statistics.fmean(differences)
    half = float(
        stdtrit(len(differences) - 1, (1 + confidence) / 2)
        * statistics.stdev(differences)
        / math.sqrt(len(differences))
    )
    return PairedDifference(
        differences, mean, mean - half, mean + half, confidence
    )


@functools.lru_cache(maxsize=4)
def _draws(seeds: int, items: int, resamples: int, seed: int):
    """How often each resample draws each seed, and each item: the same
    for every comparison of that shape, so drawn once (read-only)."""
    rng = np.random.default_rng(seed)
    counts = [
        rng.multinomial(n, [1 / n] * n, resamples) * 1.0
        for n in (seeds, items)
    ]
    for c in counts:
        c.flags.writeable = False
    return counts


def paired_bootstrap(
    correct_a,
    correct_b,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> PairedDifference:
    """Accuracy of arm B minus arm A with an interval that covers the test
    items as well as the seeds. ``correct_a`` and ``correct_b``: ``(seeds,
    items)`` arrays of 0/1 (or booleans), whether seed ``s`` of each arm got
    test item ``i`` right, in the same order. Each of ``resamples`` draws
    resamples the seeds and the items with replacement, the same draw for
    both arms (so the pairing holds); the interval is the central
    ``confidence`` share of the draws' mean differences. A difference that
    rests on a handful of test items, or on one lucky seed, gets a wide
    interval; with five seeds it is only as good as five seeds can make it.
    Seeded by ``seed``."""
    a = np.asarray(correct_a, dtype=np.float64)
    b = np.asarray(correct_b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape or a.shape[0] < 2:
        raise ValueError(
            "correct_a and correct_b must be (seeds, items) arrays of the "
            f"same shape with at least two seeds, got {a.shape} and "
            f"{b.shape}"
        )
    if not (np.isin(a, (0, 1)).all() and np.isin(b, (0, 1)).all()):
        raise ValueError("correct_a and correct_b must hold only 0 and 1")
    _check_confidence(confidence)
    seeds, items = a.shape
    difference = b - a
    seed_counts, item_counts = _draws(seeds, items, resamples, seed)
    means = ((seed_counts @ difference) * item_counts).sum(1) / (
        seeds * items
    )
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return PairedDifference(
        tuple(float(d) for d in difference.mean(1)),
        float(difference.mean()),
        float(low),
        float(high),
        confidence,
        items=items,
    )


def verdict(
    difference: PairedDifference, equivalence_margin: float = 0.01
) -> str:
    """Word a paired difference ``b - a`` by where its interval lies, with
    thresholds fixed before anything is measured: ``"better"`` (all of it
    above 0), ``"worse"`` (all below 0), ``"equivalent"`` (straddling 0
    but within ``±equivalence_margin``, by default one point of accuracy:
    any difference left is too small to matter) or ``"inconclusive"``
    (straddling 0 and too wide to say more)."""
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
    if max(-difference.low, difference.high) <= equivalence_margin:
        return "equivalent"
    return "inconclusive"


def verdicts_by_place(differences: dict) -> str:
    """One comparison made in several places, worded by its verdicts:
    ``{"at 5 %": d1, "at 25 %": d2, "at 100 %": d3}`` gives ``"better at 5
    %; inconclusive at 25 % and at 100 %"``, in the order given."""
    if not differences or not isinstance(differences, dict):
        raise TypeError("differences must be a non-empty dict {place: d}")
    found = {}
    for place, difference in differences.items():
        found.setdefault(verdict(difference), []).append(str(place))
    return "; ".join(
        f"{word} {', '.join(p[:-1])}{' and ' * (len(p) > 1)}{p[-1]}"
        for word, p in found.items()
    )


def family_note(comparisons: int, confidence: float = 0.95) -> str:
    """One sentence naming the family of comparisons a table makes: how
    many, and how many false "better" verdicts chance alone would give if
    no arm truly differed (each two-sided interval excludes zero on the
    high side with probability ``(1 - confidence) / 2``)."""
    check_int(comparisons, "comparisons")
    _check_confidence(confidence)
    expected = comparisons * (1 - confidence) / 2
    return (
        f"This table makes {comparisons} comparisons; if no arm truly "
        f"differed, chance alone would give about {expected:.1f} false "
        f'"better" verdicts.'
    )
