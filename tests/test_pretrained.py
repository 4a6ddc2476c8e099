"""The committed teacher checkpoint and the function that reproduces it."""

import pytest
import torch

import kd_lib
from kd_lib.pretrained import (
    CHECKPOINT_DIR,
    DIGITS_CHECKPOINT,
    DIGITS_TEACHER,
)
from kd_lib.runners import checkpoints


def test_committed_teacher_loads_with_weights_only_and_is_accurate():
    teacher, meta = kd_lib.load_digits_teacher()
    assert not teacher.training
    assert kd_lib.count_parameters(teacher) == 200_458
    _, _, test_loader = kd_lib.data.digits_loaders()
    accuracy = kd_lib.evaluate(teacher, test_loader)["accuracy"]
    assert (
        accuracy == meta["test_accuracy"]
        or abs(accuracy - meta["test_accuracy"]) < 1e-6
    )
    assert accuracy > 0.9
    assert (
        meta["epochs"] == DIGITS_TEACHER["train"]["epochs"]
        and meta["permuted"] is False
    )


def test_train_digits_teacher_reproduces_the_checkpoint_format(tmp_path):
    """A short run of the same function writes a checkpoint that loads into
    the teacher architecture, exactly like the committed one (same keys,
    shapes)."""
    model, history = checkpoints.train_digits_teacher(
        epochs=2, save_to=tmp_path / "t.pt", show_progress=False
    )
    assert history.epochs == 2
    fresh = kd_lib.pretrained.make_digits_teacher()
    meta = kd_lib.utils.load_checkpoint(fresh, tmp_path / "t.pt")
    assert meta["epochs"] == 2 and 0.0 <= meta["test_accuracy"] <= 1.0
    committed = torch.load(
        CHECKPOINT_DIR / DIGITS_CHECKPOINT, weights_only=True
    )["state_dict"]
    reproduced = torch.load(tmp_path / "t.pt", weights_only=True)[
        "state_dict"
    ]
    assert {k: v.shape for k, v in committed.items()} == {
        k: v.shape for k, v in reproduced.items()
    }
    # same seed, same recipe: the first epochs are reproducible on one
    # machine
    again, _ = checkpoints.train_digits_teacher(
        epochs=2, show_progress=False
    )
    for a, b in zip(model.parameters(), again.parameters()):
        torch.testing.assert_close(a, b)


def test_the_committed_digits_teacher_loads_and_is_accurate():
    splits = kd_lib.digits_splits()
    teacher, meta = kd_lib.load_digits_teacher()
    assert not teacher.training and meta["seed"] == DIGITS_TEACHER["seed"]
    logits = kd_lib.teacher_logits(teacher, splits.x_test)
    accuracy = (logits.argmax(1) == splits.y_test).float().mean().item()
    assert abs(accuracy - meta["test_accuracy"]) < 1e-6
    assert meta["test_accuracy"] > 0.9


def test_vowels_teacher_is_committed_and_reproducible(tmp_path):
    from kd_lib.pretrained import load_vowels_teacher
    from kd_lib.runners.checkpoints import train_vowels_teacher

    teacher, meta = load_vowels_teacher()
    assert meta["test_accuracy"] > 0.9 and meta["epochs"] == 100
    a, _ = train_vowels_teacher(
        epochs=2, save_to=tmp_path / "v.pt", show_progress=False
    )
    b, _ = train_vowels_teacher(epochs=2, show_progress=False)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)
    committed = {k: v.shape for k, v in teacher.state_dict().items()}
    assert committed == {k: v.shape for k, v in a.state_dict().items()}


def test_packed_vowels_teacher_is_committed_and_reproducible(tmp_path):
    from kd_lib.pretrained import load_vowels_teacher
    from kd_lib.runners.checkpoints import train_vowels_teacher

    teacher, meta = load_vowels_teacher(padding="none")
    assert meta["name"] == "vowels_packed" and meta["test_accuracy"] > 0.9
    a, _ = train_vowels_teacher(
        epochs=2,
        save_to=tmp_path / "v.pt",
        show_progress=False,
        padding="none",
    )
    b, _ = train_vowels_teacher(
        epochs=2, show_progress=False, padding="none"
    )
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)
    # it reads each utterance at its true length: padding changes nothing
    splits = kd_lib.vowels_splits(padding="none")
    batch = splits.padded("test")
    i = int(batch.lengths.argmin())
    with torch.no_grad():
        alone = teacher(batch.values[i : i + 1, : batch.lengths[i]])
        torch.testing.assert_close(alone[0], teacher(*batch)[i])
    with pytest.raises(ValueError, match="padding"):
        load_vowels_teacher(padding="right")


def test_committed_student_is_the_stated_seed_and_accurate():
    from kd_lib.pretrained import DIGITS_STUDENT, load_digits_student

    student, meta = load_digits_student()
    assert not student.training
    assert isinstance(student, kd_lib.TCNClassifier)
    assert meta["seed"] == DIGITS_STUDENT["seed"] == 0
    # the four-step product: seed 0 of the stored ladder's finetuned arm
    assert meta["arm"] == "finetuned"
    stored = kd_lib.results.arm_records(
        kd_lib.load_results("data_fraction")["records"], fraction=1.0
    )
    assert meta["setting"] == stored["soft"]["setting"]
    seed_0 = stored["finetuned"]["test_accuracy"][0]
    assert abs(meta["test_accuracy"] - seed_0) < 0.02
    splits = kd_lib.digits_splits()
    with torch.no_grad():
        accuracy = (
            (student(splits.x_test).argmax(1) == splits.y_test)
            .float()
            .mean()
            .item()
        )
    assert abs(accuracy - meta["test_accuracy"]) < 1e-6
    assert accuracy > 0.9
    # the weights hold plain tensors only
    payload = torch.load(
        kd_lib.pretrained.CHECKPOINT_DIR / DIGITS_STUDENT["checkpoint"],
        weights_only=True,
    )
    assert payload["metadata"]["epochs"] == meta["epochs"]


def test_train_digits_student_is_deterministic_for_its_seed(tmp_path):
    """A short run of the function that made the committed student: same
    seed, bit-identical weights; another seed, other weights; the saved
    file loads into the committed student's architecture."""
    from kd_lib.pretrained import load_digits_student
    from kd_lib.runners.checkpoints import train_digits_student

    first, meta = train_digits_student(epochs=2, save_to=tmp_path / "s.pt")
    again, _ = train_digits_student(epochs=2)
    other, _ = train_digits_student(seed=1, epochs=2)
    # two epochs of distillation, then a fifth more (at least one) of
    # fine-tuning
    assert meta["epochs"] == 2 + 1 and meta["seed"] == 0
    for a, b in zip(
        first.state_dict().values(), again.state_dict().values()
    ):
        assert torch.equal(a, b)
    assert not all(
        torch.equal(a, b)
        for a, b in zip(
            first.state_dict().values(), other.state_dict().values()
        )
    )
    committed, _ = load_digits_student()
    fresh = kd_lib.make_student()
    assert (
        kd_lib.utils.load_checkpoint(fresh, tmp_path / "s.pt")["seed"] == 0
    )
    assert {k: v.shape for k, v in fresh.state_dict().items()} == {
        k: v.shape for k, v in committed.state_dict().items()
    }
    with pytest.raises(TypeError, match="seed"):
        train_digits_student(seed=0.5, epochs=1)
