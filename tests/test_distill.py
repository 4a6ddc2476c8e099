"""Soft targets and the Hinton distillation loss."""

import math

import pytest
import torch
import torch.nn.functional as F

import kd_lib


def test_soft_targets_are_distributions_that_flatten_with_temperature():
    kd_lib.set_seed(0)
    logits = torch.randn(16, 10) * 3
    entropies = []
    for t in (0.5, 1.0, 2.0, 5.0, 20.0, 1000.0):
        p = kd_lib.soft_targets(logits, t)
        torch.testing.assert_close(p.sum(-1), torch.ones(16))
        assert (p > 0).all()
        entropies.append(-(p * p.log()).sum(-1).mean().item())
    assert all(a < b for a, b in zip(entropies, entropies[1:]))
    # uniform in the limit
    assert entropies[-1] == pytest.approx(math.log(10), abs=1e-3)


def test_soft_targets_keep_the_ranking():
    logits = torch.tensor([[3.0, 1.0, 2.0, -1.0]])
    for t in (0.3, 1.0, 10.0):
        assert (
            kd_lib.soft_targets(logits, t).argsort().tolist()
            == logits.argsort().tolist()
        )


def test_loss_is_zero_when_student_equals_teacher_and_alpha_is_one():
    logits = torch.randn(8, 5)
    loss = kd_lib.distillation_loss(
        logits,
        logits.clone(),
        torch.zeros(8, dtype=torch.long),
        temperature=3.0,
        alpha=1.0,
    )
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_alpha_zero_is_plain_cross_entropy():
    kd_lib.set_seed(0)
    s, t = torch.randn(8, 5), torch.randn(8, 5)
    y = torch.randint(0, 5, (8,))
    loss = kd_lib.distillation_loss(s, t, y, temperature=4.0, alpha=0.0)
    torch.testing.assert_close(loss, F.cross_entropy(s, y))


def _soft_gradient_norm(temperature, scale_by_t2):
    kd_lib.set_seed(0)
    student = (torch.randn(64, 10)).requires_grad_()
    teacher = torch.randn(64, 10)
    loss = kd_lib.distillation_loss(student, teacher, None, temperature)
    # the loss carries the factor T²; divide it out for the raw KL
    (loss if scale_by_t2 else loss / temperature**2).backward()
    return student.grad.norm().item()


def test_t_squared_keeps_the_gradient_scale():
    """Without T² the soft gradient shrinks as 1/T²; with it, it levels
    off."""
    unscaled = {
        t: _soft_gradient_norm(t, False) for t in (10.0, 20.0, 40.0)
    }
    scaled = {t: _soft_gradient_norm(t, True) for t in (10.0, 20.0, 40.0)}
    assert unscaled[10.0] / unscaled[20.0] == pytest.approx(4.0, rel=0.05)
    assert unscaled[20.0] / unscaled[40.0] == pytest.approx(4.0, rel=0.02)
    assert scaled[20.0] / scaled[40.0] == pytest.approx(1.0, rel=0.02)
    assert scaled[10.0] / scaled[20.0] == pytest.approx(1.0, rel=0.05)


def test_soft_gradient_is_difference_of_tempered_distributions():
    kd_lib.set_seed(0)
    s = torch.randn(4, 6, requires_grad=True)
    t = torch.randn(4, 6)
    temp = 3.0
    kd_lib.distillation_loss(s, t, None, temp).backward()
    # d(T² KL)/ds = T (p_student - p_teacher) / batch
    expected = (
        (F.softmax(s / temp, -1) - F.softmax(t / temp, -1)) * temp / len(s)
    )
    torch.testing.assert_close(s.grad, expected.detach())


def test_distillation_loss_module_matches_function():
    s, t = torch.randn(5, 3), torch.randn(5, 3)
    y = torch.randint(0, 3, (5,))
    loss = kd_lib.DistillationLoss(temperature=2.5, alpha=0.6)
    torch.testing.assert_close(
        loss(s, y, t), kd_lib.distillation_loss(s, t, y, 2.5, 0.6)
    )


def test_teacher_logits_match_the_model_and_restore_mode():
    kd_lib.set_seed(0)
    teacher = kd_lib.LSTMClassifier(1, 3, hidden_size=4)
    teacher.train()
    x = torch.randn(10, 7, 1)
    logits = kd_lib.teacher_logits(teacher, x, batch_size=3)
    assert logits.shape == (10, 3)
    torch.testing.assert_close(logits, teacher.eval()(x).detach())


@pytest.mark.parametrize(
    "call,error",
    [
        (lambda: kd_lib.soft_targets(torch.randn(3, 4), 0.0), ValueError),
        (lambda: kd_lib.soft_targets(torch.randn(3, 4), -1.0), ValueError),
        (lambda: kd_lib.soft_targets([1.0, 2.0], 1.0), TypeError),
        (
            lambda: kd_lib.distillation_loss(
                torch.randn(3, 4), torch.randn(3, 4), None, 2.0, 1.5
            ),
            ValueError,
        ),
        (
            lambda: kd_lib.distillation_loss(
                torch.randn(3, 4), torch.randn(3, 4), None, 2.0, -0.1
            ),
            ValueError,
        ),
        (
            lambda: kd_lib.distillation_loss(
                torch.randn(3, 4), torch.randn(3, 5)
            ),
            ValueError,
        ),
        (
            lambda: kd_lib.distillation_loss(
                torch.randn(3, 4), torch.randn(3, 4), torch.tensor([0, 1])
            ),
            ValueError,
        ),
        (
            lambda: kd_lib.distillation_loss(
                torch.randn(12), torch.randn(12)
            ),
            ValueError,
        ),
        (lambda: kd_lib.DistillationLoss(temperature=0), ValueError),
        (
            lambda: kd_lib.teacher_logits("model", torch.randn(2, 3, 1)),
            TypeError,
        ),
    ],
)
def test_bad_input_raises_clear_errors(call, error):
    with pytest.raises(error):
        call()


# ------------------------------------------------- the ladder's targets


def test_smoothed_labels_know_nothing_beyond_the_true_class():
    labels = torch.tensor([0, 2, 2, 1])
    smooth = kd_lib.distill.smoothed_labels(labels, 4, epsilon=0.4)
    torch.testing.assert_close(smooth.sum(1), torch.ones(4))
    assert torch.equal(smooth.argmax(1), labels)
    assert smooth[0, 0].item() == pytest.approx(0.6 + 0.1)
    # every wrong class gets the same probability, epsilon / classes
    wrong = smooth[F.one_hot(labels, 4) == 0]
    torch.testing.assert_close(wrong, torch.full_like(wrong, 0.1))
    with pytest.raises(ValueError):
        kd_lib.distill.smoothed_labels(labels, 4, epsilon=1.0)


def test_class_average_targets_are_the_teachers_mean_per_class():
    kd_lib.set_seed(0)
    logits, labels = torch.randn(9, 3), torch.tensor([0, 1, 2] * 3)
    targets = kd_lib.distill.class_average_targets(logits, labels, 4.0)
    probs = F.softmax(logits / 4.0, -1)
    for c in range(3):
        torch.testing.assert_close(
            targets[labels == c], probs[labels == c].mean(0).expand(3, 3)
        )
    with pytest.raises(ValueError):
        kd_lib.distill.class_average_targets(logits, labels[:4], 4.0)


def test_target_loss_with_the_teachers_soft_labels_is_distillation():
    kd_lib.set_seed(0)
    student, teacher = torch.randn(8, 5), torch.randn(8, 5)
    labels = torch.randint(0, 5, (8,))
    targets = F.softmax(teacher / 3.0, -1)
    torch.testing.assert_close(
        kd_lib.distill.target_loss(student, targets, labels, 3.0, 0.7),
        kd_lib.distillation_loss(student, teacher, labels, 3.0, 0.7),
    )
    with pytest.raises(ValueError):
        kd_lib.distill.target_loss(student, targets[:, :4], labels)


# ------------------------------------------------ per-step distillation


def test_per_step_loss_is_the_mean_of_each_steps_distillation_loss():
    kd_lib.set_seed(0)
    student, teacher = torch.randn(4, 6, 5), torch.randn(4, 6, 5)
    each = [
        kd_lib.distillation_loss(student[:, t], teacher[:, t], alpha=1.0)
        for t in range(6)
    ]
    torch.testing.assert_close(
        kd_lib.distill.per_step_loss(student, teacher, 4.0),
        torch.stack(each).mean(),
    )
    assert kd_lib.distill.per_step_loss(teacher, teacher).abs() < 1e-6
    with pytest.raises(ValueError):
        kd_lib.distill.per_step_loss(student, teacher[:, :5])


def test_hint_loss_is_zero_when_the_map_reproduces_the_states():
    kd_lib.set_seed(0)
    features = torch.randn(3, 7, 2)
    weight, bias = torch.randn(5, 2), torch.randn(5)
    states = features @ weight.T + bias
    loss = kd_lib.distill.hint_loss(features, states, weight, bias)
    assert loss.abs() < 1e-10
    assert kd_lib.distill.hint_loss(features, states + 1, weight, bias) > 0
    with pytest.raises(ValueError, match="size, channels"):
        kd_lib.distill.hint_loss(features, states, weight.T, bias)


def test_similarity_loss_ignores_scale_and_width_but_not_structure():
    kd_lib.set_seed(0)
    teacher = torch.randn(6, 5, 32)
    student = teacher[:, :, :4] * 1.0
    same = kd_lib.distill.similarity_loss(teacher * 3.0, teacher)
    assert same.abs() < 1e-10  # a rescaled copy keeps every similarity
    shuffled = student[torch.randperm(6)]
    assert kd_lib.distill.similarity_loss(
        shuffled, teacher
    ) > kd_lib.distill.similarity_loss(student, teacher)
    with pytest.raises(ValueError):
        kd_lib.distill.similarity_loss(student[:5], teacher)
