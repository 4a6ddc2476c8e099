"""Soft labels: entropy, class similarity, ambiguity, and the
three soft-loss forms."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import kd_lib
from kd_lib.chapters import soft_labels as sl


def _logits(n=32, classes=10, scale=3.0, seed=0):
    kd_lib.set_seed(seed)
    return torch.randn(n, classes, dtype=torch.float64) * scale


def _loglog_slope(x, y):
    return np.polyfit(np.log(x), np.log(np.asarray(y, dtype=float)), 1)[0]


# ---------------------------------------------------- entropy and ambiguity


def test_entropy_is_zero_for_one_hot_and_log_n_for_uniform():
    probs = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]])
    torch.testing.assert_close(
        kd_lib.entropy(probs), torch.tensor([0.0, math.log(4)])
    )


def test_entropy_grows_with_temperature():
    logits = _logits()
    values = [
        kd_lib.entropy(kd_lib.soft_targets(logits, t)).mean().item()
        for t in (0.5, 1, 2, 5, 50)
    ]
    assert all(a < b for a, b in zip(values, values[1:]))


def test_most_ambiguous_picks_the_flattest():
    probs = torch.tensor(
        [
            [0.98, 0.01, 0.01],  # confident
            [0.40, 0.30, 0.30],  # flattest: highest entropy
            [0.50, 0.49, 0.01],
            [0.80, 0.10, 0.10],
        ]
    )
    assert sl.most_ambiguous(probs, 1).tolist() == [1]
    assert sl.most_ambiguous(probs, 4).tolist()[-1] == 0


# --------------------------------------------------------- class similarity


def test_class_similarity_rows_are_mean_soft_labels():
    logits = torch.tensor(
        [[2.0, 0.0, 0.0], [0.0, 2.0, 1.0], [4.0, 0.0, 1.0], [0.0, 0.0, 3.0]]
    )
    labels = torch.tensor([0, 1, 0, 2])
    m = sl.class_similarity(logits, labels, temperature=2.0)
    p = kd_lib.soft_targets(logits, 2.0)
    torch.testing.assert_close(m[0], (p[0] + p[2]) / 2)
    torch.testing.assert_close(m[1], p[1])
    torch.testing.assert_close(m.sum(1), torch.ones(3))
    masked = sl.class_similarity(
        logits, labels, temperature=2.0, mask_diagonal=True
    )
    assert torch.isnan(masked.diagonal()).all()
    off = ~torch.eye(3, dtype=torch.bool)
    torch.testing.assert_close(masked[off], m[off])


def test_top_confusions_ignore_the_diagonal_and_sort():
    m = torch.tensor(
        [[0.9, 0.02, 0.08], [0.3, 0.6, 0.1], [0.01, 0.04, 0.95]]
    )
    assert [(i, j) for i, j, _ in sl.top_confusions(m, 3)] == [
        (1, 0),
        (1, 2),
        (0, 2),
    ]
    masked = m.clone().fill_diagonal_(float("nan"))
    assert sl.top_confusions(masked, 1)[0][:2] == (1, 0)


def test_rank_correlation():
    a = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert sl.rank_correlation(a, a * 10 + 3) == pytest.approx(1.0)
    assert sl.rank_correlation(a, -a) == pytest.approx(-1.0)
    assert sl.rank_correlation(
        a, torch.tensor([1.0, 2.0, 4.0, 3.0])
    ) == pytest.approx(0.8)


def test_row_rank_agreement_ignores_the_diagonal():
    a = torch.tensor(
        [
            [9.0, 1.0, 2.0, 3.0],
            [1.0, 9.0, 2.0, 3.0],
            [1.0, 2.0, 9.0, 3.0],
            [1.0, 2.0, 3.0, 9.0],
        ]
    )
    b = a.clone()
    b.fill_diagonal_(-5.0)  # a different diagonal changes nothing
    assert sl.row_rank_agreement(a, b) == pytest.approx(1.0)
    reverse = a.clone()
    reverse[~torch.eye(4, dtype=torch.bool)] = -reverse[
        ~torch.eye(4, dtype=torch.bool)
    ]
    assert sl.row_rank_agreement(a, reverse) == pytest.approx(-1.0)


def test_class_similarity_ranks_like_mean_centred_logits_at_high_t():
    logits, labels = _logits(n=200, seed=20), torch.arange(200) % 10
    limit = sl.logit_similarity(logits, labels)
    torch.testing.assert_close(
        limit.sum(1), torch.zeros(10, dtype=torch.float64)
    )
    high_t = sl.class_similarity(logits, labels, temperature=1e4)
    assert sl.row_rank_agreement(high_t, limit) == pytest.approx(1.0)
    low_t = sl.class_similarity(logits, labels, temperature=0.3)
    # averaging at low T weighs inputs differently
    assert sl.row_rank_agreement(low_t, limit) < 0.99


def test_entropy_vs_temperature_shape_and_limit():
    values = sl.entropy_vs_temperature(_logits(n=5), [1.0, 10.0, 1e5])
    assert values.shape == (3, 5)
    torch.testing.assert_close(
        values[-1],
        torch.full((5,), math.log(10), dtype=torch.float64),
        atol=1e-6,
        rtol=0,
    )


# ------------------------------------------------------ the soft-loss forms


def test_kl_and_soft_cross_entropy_have_the_same_gradient():
    student, teacher = _logits(seed=1), _logits(seed=2)
    for t in (1.0, 4.0, 20.0):
        torch.testing.assert_close(
            sl.soft_loss_gradient(student, teacher, t, "kl"),
            sl.soft_loss_gradient(student, teacher, t, "soft_ce"),
        )


def test_kl_minus_soft_cross_entropy_is_minus_the_teacher_entropy():
    student, teacher = _logits(seed=1), _logits(seed=2)
    for t in (1.0, 3.0):
        teacher_entropy = kd_lib.entropy(
            kd_lib.soft_targets(teacher, t)
        ).mean()
        for scale in (False, True):
            factor = t**2 if scale else 1.0
            gap = sl.soft_loss(
                student, teacher, t, "kl", scale
            ) - sl.soft_loss(student, teacher, t, "soft_ce", scale)
            torch.testing.assert_close(gap, -factor * teacher_entropy)


def test_soft_ce_is_smallest_at_the_teacher_and_equals_its_entropy_there():
    teacher = _logits(seed=3)
    at_teacher = sl.soft_loss(
        teacher.clone(), teacher, 2.0, "soft_ce", scale_by_t2=False
    )
    torch.testing.assert_close(
        at_teacher, kd_lib.entropy(kd_lib.soft_targets(teacher, 2.0)).mean()
    )
    assert sl.soft_loss(
        teacher.clone(), teacher, 2.0, "kl"
    ).item() == pytest.approx(0.0, abs=1e-12)
    assert (
        sl.soft_loss(_logits(seed=4), teacher, 2.0, "soft_ce", False)
        > at_teacher
    )


def test_kl_gradient_matches_the_closed_form():
    """d(T² KL)/dz_s = T (p_s - p_t), averaged over the batch."""
    student, teacher = _logits(seed=5), _logits(seed=6)
    t = 3.0
    expected = (
        t
        * (F.softmax(student / t, -1) - F.softmax(teacher / t, -1))
        / len(student)
    )
    torch.testing.assert_close(
        sl.soft_loss_gradient(student, teacher, t), expected
    )


def test_unscaled_soft_gradient_shrinks_as_1_over_t2_and_t2_undoes_it():
    student, teacher = (
        _logits(scale=1.0, seed=7),
        _logits(scale=2.0, seed=8),
    )
    temps = [50.0, 100.0, 200.0, 400.0]
    unscaled = sl.gradient_norms(student, teacher, temps, scale_by_t2=False)
    scaled = sl.gradient_norms(student, teacher, temps, scale_by_t2=True)
    assert _loglog_slope(temps, unscaled) == pytest.approx(-2.0, abs=0.01)
    assert _loglog_slope(temps, scaled) == pytest.approx(0.0, abs=0.01)
    torch.testing.assert_close(
        scaled, unscaled * torch.tensor(temps, dtype=torch.float64) ** 2
    )


def test_high_temperature_limit_is_logit_mse():
    """Hinton et al. 2015, sec. 2.1: the T²-scaled gradient tends to (z_s -
    z_t)/N, logits centred."""
    student, teacher = (
        _logits(scale=1.0, seed=9),
        _logits(scale=2.0, seed=10),
    )
    mse = sl.soft_loss_gradient(student, teacher, form="logit_mse")
    centred = (student - student.mean(-1, keepdim=True)) - (
        teacher - teacher.mean(-1, keepdim=True)
    )
    torch.testing.assert_close(mse, centred / 10 / len(student))
    gaps = [
        (
            (sl.soft_loss_gradient(student, teacher, t) - mse).norm()
            / mse.norm()
        ).item()
        for t in (10.0, 100.0, 1000.0)
    ]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 2e-3
    assert _loglog_slope([10.0, 100.0, 1000.0], gaps) == pytest.approx(
        -1.0, abs=0.1
    )


def test_logit_mse_ignores_a_constant_shift_of_either_logits():
    student, teacher = _logits(seed=11), _logits(seed=12)
    base = sl.soft_loss(student, teacher, form="logit_mse")
    torch.testing.assert_close(
        sl.soft_loss(student + 5.0, teacher - 2.0, form="logit_mse"), base
    )


def test_soft_loss_kl_form_is_the_library_distillation_loss():
    student, teacher = _logits(seed=13).float(), _logits(seed=14).float()
    torch.testing.assert_close(
        sl.soft_loss(student, teacher, 4.0, "kl"),
        kd_lib.distillation_loss(
            student, teacher, temperature=4.0, alpha=1.0
        ),
    )


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call,error",
    [
        (
            lambda: kd_lib.entropy(torch.tensor([[2.0, -1.0]])),
            ValueError,
        ),  # logits, not probabilities
        (lambda: kd_lib.entropy([[0.5, 0.5]]), TypeError),
        (lambda: kd_lib.entropy(torch.tensor([0.5, 0.5])), ValueError),
        (
            lambda: sl.most_ambiguous(torch.tensor([[0.7, 0.7]]), 1),
            ValueError,
        ),
        (
            lambda: sl.most_ambiguous(torch.tensor([[0.5, 0.5]]), 2),
            ValueError,
        ),
        (
            lambda: sl.class_similarity(
                torch.zeros(3, 2), torch.tensor([0, 0, 0])
            ),
            ValueError,
        ),  # class 1 missing
        (
            lambda: sl.class_similarity(
                torch.zeros(3, 2), torch.tensor([0, 1, 2])
            ),
            ValueError,
        ),
        (
            lambda: sl.class_similarity(
                torch.zeros(3, 2), torch.tensor([0.0, 1.0, 0.0])
            ),
            TypeError,
        ),
        (
            lambda: sl.class_similarity(
                torch.zeros(3, 2), torch.tensor([0, 1])
            ),
            ValueError,
        ),
        (
            lambda: sl.class_similarity(
                torch.zeros(2, 2), torch.tensor([0, 1]), temperature=0.0
            ),
            ValueError,
        ),
        (lambda: sl.top_confusions(torch.zeros(2, 3)), ValueError),
        (lambda: sl.top_confusions(torch.zeros(3, 3), k=7), ValueError),
        (
            lambda: sl.rank_correlation(torch.zeros(3), torch.zeros(4)),
            ValueError,
        ),
        (
            lambda: sl.row_rank_agreement(
                torch.zeros(3, 3), torch.zeros(3, 4)
            ),
            ValueError,
        ),
        (
            lambda: sl.logit_similarity(
                torch.zeros(3, 2), torch.tensor([0, 0, 0])
            ),
            ValueError,
        ),
        (
            lambda: sl.entropy_vs_temperature(torch.zeros(3, 2), []),
            ValueError,
        ),
        (
            lambda: sl.soft_loss(
                torch.zeros(2, 3), torch.zeros(2, 3), form="mse"
            ),
            ValueError,
        ),
        (
            lambda: sl.soft_loss(torch.zeros(2, 3), torch.zeros(2, 4)),
            ValueError,
        ),
        (
            lambda: sl.soft_loss(
                torch.zeros(2, 3), torch.zeros(2, 3), temperature=-1.0
            ),
            ValueError,
        ),
        (
            lambda: sl.soft_loss(
                torch.zeros(2, 3), torch.zeros(2, 3), temperature="4"
            ),
            TypeError,
        ),
        (
            lambda: sl.soft_loss(
                torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3)
            ),
            TypeError,
        ),
        (
            lambda: sl.gradient_norms(
                torch.zeros(2, 3), torch.zeros(2, 3), []
            ),
            ValueError,
        ),
    ],
)
def test_bad_input_is_rejected_with_a_clear_error(call, error):
    with pytest.raises(error):
        call()
