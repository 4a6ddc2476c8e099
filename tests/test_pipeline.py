"""The shared pipeline functions behind the results tables, and the
pipeline on data of any shape."""

import numpy as np
import pytest
import torch

import kd_lib
from kd_lib import pipeline
from kd_lib.comparison import paired_difference


def test_student_default_size_and_receptive_field():
    student = kd_lib.make_student()
    # sees a whole 64-step digit
    assert student.receptive_field == 125 >= 64
    assert kd_lib.count_parameters(student) == 2018


def test_mean_and_spread():
    assert kd_lib.mean_and_spread([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert kd_lib.mean_and_spread([5]) == (5.0, 0.0)
    with pytest.raises(ValueError):
        kd_lib.mean_and_spread([])


def test_format_table_aligns_columns():
    table = kd_lib.report.format_table(
        ["model", "acc"], [["teacher", 0.95], ["student", 0.9]]
    )
    lines = table.splitlines()
    assert lines[0].startswith("model") and lines[1].startswith("-------  ")
    assert {
        line.index(v) for line, v in zip(lines[2:], ["0.95", "0.9"])
    } == {9}
    with pytest.raises(ValueError):
        kd_lib.report.format_table(["a", "b"], [[1]])


def _synthetic(features, classes, variable, n=24, seed=0):
    """Class c is a constant level c plus noise, over sequences of 3 to 12
    steps (variable) or exactly 8."""
    rng = np.random.default_rng(seed)

    def split(n):
        y = np.arange(n) % classes
        x = [
            (
                y[i]
                + 0.3
                * rng.normal(
                    size=(
                        int(rng.integers(3, 13)) if variable else 8,
                        features,
                    )
                )
            ).astype("float32")
            for i in range(n)
        ]
        return (x if variable else np.stack(x)), y

    return kd_lib.SequenceSplits.from_arrays(
        *split(n), *split(n // 2), *split(n // 2)
    )


@pytest.mark.parametrize(
    "features, classes, variable", [(3, 4, True), (1, 2, False)]
)
def test_run_pipeline_is_sized_by_the_data(features, classes, variable):
    splits = _synthetic(features, classes, variable)
    assert (splits.lengths_train is not None) == variable
    kd_lib.set_seed(0)
    teacher = kd_lib.LSTMClassifier(features, classes, hidden_size=8)
    seeds = [0, 1]
    # an untrained teacher knows nothing, and run_pipeline says so
    with pytest.warns(UserWarning, match="not clearly better than chance"):
        result = pipeline.run_pipeline(
            teacher,
            splits,
            seeds,
            student={"channels": [4, 4], "kernel_size": 2},
            epochs=2,
        )
    assert list(result.arms) == list(kd_lib.pipeline.PIPELINE_ARMS)
    assert result.epochs == 2 and result.seeds == seeds
    for arm, accuracies in result.test_accuracy.items():
        assert len(accuracies) == 2
        assert all(0.0 <= a <= 1.0 for a in accuracies)
        student = result.students(arm)[1]
        assert student.tcn.input_size == features
        assert student.head.out_features == classes
        assert student.receptive_field == 7  # two levels, kernel 2
    # the reported accuracy is that of each student on each test
    # sequence alone
    student = result.students("soft")[1]
    with torch.no_grad():
        alone = torch.stack(
            [
                student(s[None])[0].argmax()
                for s in splits.padded("test").sequences()
            ]
        )
    assert result.test_accuracy["soft"][1] == pytest.approx(
        (alone == splits.y_test).float().mean().item()
    )
    d = paired_difference(
        result.test_accuracy["scratch"], result.test_accuracy["soft"]
    )
    assert d.low <= d.mean <= d.high
    assert "soft" in repr(result.table())


def test_run_pipeline_rejects_what_does_not_fit():
    splits = _synthetic(2, 3, True, n=12)
    teacher = kd_lib.LSTMClassifier(2, 3, hidden_size=4)
    with pytest.raises(ValueError, match="at least one seed"):
        pipeline.run_pipeline(teacher, splits, seeds=[])
    with pytest.raises(ValueError, match="gives 5 logits but the data"):
        pipeline.run_pipeline(
            kd_lib.LSTMClassifier(2, 5, hidden_size=4), splits, [0]
        )
    with pytest.raises(ValueError, match="unknown student settings"):
        pipeline.run_pipeline(teacher, splits, [0], student={"width": 8})
    with pytest.raises(TypeError, match="SequenceSplits"):
        pipeline.run_pipeline(teacher, (splits.x_train,), [0])
    with pytest.raises(ValueError, match="features"):
        pipeline.run_pipeline(
            kd_lib.LSTMClassifier(3, 3, hidden_size=4), splits, [0]
        )


def test_a_subset_keeps_each_sequence_with_its_length():
    splits = _synthetic(2, 3, True, n=30)
    part, mask = kd_lib.arms.subset(splits, 0.5)
    assert torch.equal(part.lengths_train, splits.lengths_train[mask])
    assert torch.equal(part.x_train, splits.x_train[mask])
    assert part.lengths_test is splits.lengths_test


def test_your_own_labels_go_through_the_whole_pipeline(recwarn):
    """A data set kd_lib has never seen: gestures named by strings, 5 to
    40 steps long; the label is whether the first channel rises."""
    rng = np.random.default_rng(7)
    names = ["still", "shake", "tap"]

    def gestures(n):
        x, y = [], []
        for _ in range(n):
            kind = int(rng.integers(3))
            steps = int(rng.integers(5, 41))
            t = np.linspace(0, 1, steps)[:, None]
            signal = [0 * t, np.sin(12 * t), (t > 0.5) * 1.0][kind]
            x.append(signal + 0.3 * rng.normal(size=(steps, 2)))
            y.append(names[kind])
        return x, y

    splits = kd_lib.SequenceSplits.from_arrays(
        *gestures(150), *gestures(60), *gestures(60)
    )
    assert splits.class_names == sorted(names)
    teacher = kd_lib.train_teacher(splits, epochs=15)
    result = kd_lib.run_pipeline(teacher, splits, [0, 1], epochs=3)
    assert not [w for w in recwarn if "chance" in str(w.message)]
    text = repr(result.table())
    assert "3 classes: shake, still, tap" in text
    name, share = result.chance
    assert name in names and f"chance (always {name})" in text
    assert result.teacher_test_accuracy > share + 0.2
