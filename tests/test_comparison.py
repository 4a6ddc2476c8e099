"""Paired differences over seeds and the verdicts worded by their
intervals."""

import math

import pytest

from kd_lib.comparison import PairedDifference, paired_difference, verdict


def test_interval_matches_the_t_formula():
    a = [0.70, 0.75, 0.72, 0.80, 0.74]
    b = [0.78, 0.80, 0.79, 0.85, 0.83]
    d = paired_difference(a, b)
    diffs = [y - x for x, y in zip(a, b)]
    mean = sum(diffs) / 5
    sd = math.sqrt(sum((v - mean) ** 2 for v in diffs) / 4)
    half = 2.7764451051977987 * sd / math.sqrt(5)  # t_{0.975, 4}
    assert d.mean == pytest.approx(mean)
    assert (d.low, d.high) == (
        pytest.approx(mean - half),
        pytest.approx(mean + half),
    )
    assert d.n == 5 and d.positive_seeds == 5 and d.low > 0
    # plain floats: JSON, glue
    assert all(type(v) is float for v in (d.mean, d.low, d.high))


def test_pairing_removes_the_shared_seed_effect():
    """Seeds that differ a lot but move together: the
    paired interval is narrow."""
    a = [0.50, 0.90, 0.60, 0.80, 0.70]
    b = [v + 0.02 + 0.001 * i for i, v in enumerate(a)]
    d = paired_difference(a, b)
    assert d.low > 0 and d.high - d.low < 0.01


def test_swapping_the_arms_flips_the_sign_and_wider_confidence_widens():
    a, b = [1.0, 2.0, 3.0, 4.0], [1.5, 2.1, 3.9, 4.2]
    d, back = paired_difference(a, b), paired_difference(b, a)
    assert back.mean == pytest.approx(
        -d.mean
    ) and back.low == pytest.approx(-d.high)
    wide = paired_difference(a, b, confidence=0.99)
    assert wide.low < d.low and wide.high > d.high


def test_verdicts_follow_the_interval():
    def diff(low, high):
        return PairedDifference(
            (0.0, 0.0), (low + high) / 2, low, high, 0.95
        )

    assert verdict(diff(0.01, 0.05)) == "better"
    # small, but the interval excludes 0
    assert verdict(diff(0.001, 0.005)) == "better"
    assert verdict(diff(-0.05, -0.01)) == "worse"
    assert verdict(diff(-0.01, 0.02)) == "inconclusive"
    assert verdict(diff(-0.005, 0.008)) == "equivalent"
    assert (
        verdict(diff(-0.015, 0.015), equivalence_margin=0.02)
        == "equivalent"
    )


def test_format_reads_in_points():
    d = paired_difference([0.1, 0.2, 0.3], [0.2, 0.3, 0.45])
    assert d.format().startswith("+11.7 points (95 % CI")
    assert d.format().endswith("n = 3)")


@pytest.mark.parametrize(
    "a, b, kwargs, error",
    [
        ([1.0, 2.0], [1.0], {}, ValueError),
        ([1.0], [2.0], {}, ValueError),
        ([1.0, float("nan")], [1.0, 2.0], {}, TypeError),
        (["x", 1.0], [1.0, 2.0], {}, TypeError),
        ([1.0, 2.0], [1.0, 2.0], {"confidence": 95}, ValueError),
        ([1.0, 2.0], [1.0, 2.0], {"confidence": 1.0}, ValueError),
    ],
)
def test_bad_input_is_rejected(a, b, kwargs, error):
    with pytest.raises(error):
        paired_difference(a, b, **kwargs)


def test_verdict_rejects_bad_input():
    with pytest.raises(TypeError):
        verdict((0.1, 0.2))
    with pytest.raises(ValueError):
        verdict(
            paired_difference([1.0, 2.0], [2.0, 3.5]), equivalence_margin=-1
        )


def test_paired_bootstrap_covers_seeds_and_items():
    import numpy as np

    from kd_lib.comparison import family_note, paired_bootstrap

    rng = np.random.default_rng(1)
    a = (rng.random((5, 300)) < 0.6).astype(int)
    same = paired_bootstrap(a, a)
    assert same.low == same.high == same.mean == 0.0
    b = a.copy()
    b[:, :60] = 1  # every seed gets 60 more items right... at most
    gain = paired_bootstrap(a, b)
    assert gain.mean == pytest.approx((b - a).mean())
    assert 0 < gain.low < gain.mean < gain.high
    assert "n = 5 × 300" in gain.format()
    # deterministic for its seed; a few items carry a narrow gain
    assert paired_bootstrap(a, b) == gain
    c = a.copy()
    c[:, 0] = 1 - c[:, 0]  # one item flips on every seed
    one = paired_bootstrap(a, c)
    assert one.low <= 0 <= one.high or abs(one.mean) <= 1 / 300
    with pytest.raises(ValueError):
        paired_bootstrap(a, b[:, :10])
    with pytest.raises(ValueError):
        paired_bootstrap(a + 1, b)
    assert "12 comparisons" in family_note(12)
    assert "0.3 false" in family_note(12)


def test_bootstrap_draws_are_the_seeded_multinomials_reused():
    """One draw of seeds and items serves every comparison of a shape: the
    interval is what a fresh draw from the same seed gives."""
    import numpy as np

    from kd_lib.comparison import paired_bootstrap

    rng = np.random.default_rng(2)
    a = (rng.random((5, 40)) < 0.5).astype(int)
    b = (rng.random((5, 40)) < 0.7).astype(int)
    fresh = np.random.default_rng(0)
    seeds = fresh.multinomial(5, [1 / 5] * 5, 10_000)
    items = fresh.multinomial(40, [1 / 40] * 40, 10_000)
    means = ((seeds @ (b - a)) * items).sum(1) / (5 * 40)
    low, high = np.percentile(means, [2.5, 97.5])
    for _ in range(2):  # the second call reuses the first call's draw
        d = paired_bootstrap(a, b)
        assert (d.low, d.high) == pytest.approx((low, high), abs=1e-12)


def test_verdicts_by_place_groups_places_by_verdict():
    from kd_lib.comparison import verdicts_by_place

    def d(low, high):
        return PairedDifference((0.0,), (low + high) / 2, low, high, 0.95)

    found = {
        "at 3 %": d(0.01, 0.1),
        "at 5 %": d(-0.1, 0.1),
        "at 10 %": d(0.02, 0.2),
        "at 25 %": d(0.01, 0.1),
        "on vowels": d(-0.005, 0.005),
    }
    assert verdicts_by_place(found) == (
        "better at 3 %, at 10 % and at 25 %; inconclusive at 5 %; "
        "equivalent on vowels"
    )
    assert verdicts_by_place({"here": d(-0.2, -0.1)}) == "worse here"
    with pytest.raises(TypeError):
        verdicts_by_place({})
    with pytest.raises(TypeError):
        verdicts_by_place({"here": 0.1})
