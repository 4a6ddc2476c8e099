"""The shared pipeline functions behind the results tables."""

import pytest
import torch

import kd_lib
from kd_lib import pipeline


def _tiny_splits(n=120):
    s = kd_lib.digits_splits()
    return kd_lib.SequenceSplits(
        s.x_train[:n, -16:],
        s.y_train[:n],
        s.x_val[:60, -16:],
        s.y_val[:60],
        s.x_test[:60, -16:],
        s.y_test[:60],
    )


def test_student_default_size_and_receptive_field():
    student = pipeline.make_student()
    # sees a whole 64-step digit
    assert student.receptive_field == 125 >= 64
    assert kd_lib.count_parameters(student) == 2018


def test_distilled_student_with_alpha_one_ignores_the_labels():
    """At alpha = 1 only the teacher's soft labels matter: scrambling the
    hard labels must not change the trained student at all."""
    splits = _tiny_splits()
    soft = torch.randn(len(splits.x_train), 10)
    scrambled = splits.y_train[torch.randperm(len(splits.y_train))]
    scrambled[::3] = kd_lib.UNLABELLED
    a, _ = pipeline.train_distilled_student(
        splits, soft, seed=0, alpha=1.0, epochs=2
    )
    b, _ = pipeline.train_distilled_student(
        splits, soft, seed=0, labels=scrambled, alpha=1.0, epochs=2
    )
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)


def test_fine_tune_student_leaves_the_original_untouched():
    splits = _tiny_splits()
    student, _ = pipeline.train_scratch_student(splits, seed=0, epochs=1)
    before = [p.detach().clone() for p in student.parameters()]
    tuned, history = pipeline.fine_tune_student(
        student, splits, seed=0, epochs=1
    )
    assert history.epochs == 1
    assert all(
        torch.equal(b, p) for b, p in zip(before, student.parameters())
    )
    assert any(
        not torch.equal(b, p) for b, p in zip(before, tuned.parameters())
    )


def test_run_pipeline_reports_three_students_per_seed(monkeypatch):
    monkeypatch.setitem(pipeline.RECIPE, "epochs", 1)
    splits = _tiny_splits()
    teacher = kd_lib.LSTMClassifier(1, 10, hidden_size=8)
    runs = pipeline.run_pipeline(teacher, splits, seeds=[0, 1])
    assert [r.seed for r in runs] == [0, 1]
    for run in runs:
        assert set(run.test_accuracy) == {
            "scratch",
            "distilled",
            "finetuned",
        }
        assert all(0.0 <= a <= 1.0 for a in run.test_accuracy.values())


def test_mean_and_spread():
    assert pipeline.mean_and_spread([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert pipeline.mean_and_spread([5]) == (5.0, 0.0)
    with pytest.raises(ValueError):
        pipeline.mean_and_spread([])


def test_format_table_aligns_columns():
    table = pipeline.format_table(
        ["model", "acc"], [["teacher", 0.95], ["student", 0.9]]
    )
    lines = table.splitlines()
    assert lines[0].startswith("model") and lines[1].startswith("-------  ")
    assert {
        line.index(v) for line, v in zip(lines[2:], ["0.95", "0.9"])
    } == {9}
    with pytest.raises(ValueError):
        pipeline.format_table(["a", "b"], [[1]])


def test_inference_latency_is_positive():
    assert (
        pipeline.inference_latency(
            pipeline.make_student(), batch_size=2, repeats=3
        ).median
        > 0
    )


def test_bad_teacher_logits_shape_is_rejected():
    splits = _tiny_splits()
    with pytest.raises(ValueError):
        pipeline.train_distilled_student(splits, torch.randn(3, 10), seed=0)
    with pytest.raises(ValueError):
        pipeline.run_pipeline(
            kd_lib.LSTMClassifier(1, 10, hidden_size=4), splits, seeds=[]
        )


def test_fine_tuning_with_few_labels_uses_only_the_labelled_rows():
    splits = _tiny_splits()
    student, _ = pipeline.train_scratch_student(splits, seed=0, epochs=1)
    labels = torch.full_like(splits.y_train, kd_lib.UNLABELLED)
    labels[:5] = splits.y_train[:5]  # a single batch, all of it labelled
    _, history = pipeline.fine_tune_student(
        student, splits, seed=0, labels=labels, epochs=2
    )
    # no NaN from label-free batches
    assert all(loss == loss for loss in history.train_loss)
    with pytest.raises(ValueError):
        pipeline.fine_tune_student(
            student,
            splits,
            seed=0,
            labels=torch.full_like(labels, kd_lib.UNLABELLED),
        )


def test_students_of_one_seed_start_from_the_same_weights():
    splits = _tiny_splits()
    kd_lib.set_seed(123)
    torch.randn(10)  # whatever ran before must not matter
    a, _ = pipeline.train_scratch_student(
        splits, seed=4, channels=[4, 4], epochs=1
    )
    b, _ = pipeline.train_scratch_student(
        splits, seed=4, channels=[4, 4], epochs=1
    )
    assert all(
        torch.equal(pa, pb)
        for pa, pb in zip(a.parameters(), b.parameters())
    )
