"""The source article's four-step pipeline, on any data: (1) train a
large LSTM teacher (:func:`train_teacher`; the book's own teachers are in
:mod:`kd_lib.pretrained`), (2) let it give soft labels for the training
inputs, (3) train a small TCN student on them, (4) fine-tune the student
on hard labels; next to the same student trained on hard labels and on
the teacher's hard pseudo-labels (:func:`run_pipeline`)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

from torch import nn

from .arms import STUDY, ArmResult, budget_epochs, run_arms
from .data import SequenceSplits
from .distill import teacher_logits
from .models import LSTMClassifier, TCNClassifier
from .report import Table, arms_table
from .training import train
from .utils import check_tensor, set_seed

__all__ = [
    "PIPELINE_ARMS",
    "TEACHER",
    "train_teacher",
    "PipelineResult",
    "run_pipeline",
]

PIPELINE_ARMS = ("scratch", "pseudo", "soft", "finetuned")
"""The students :func:`run_pipeline` trains by default (the other
:data:`kd_lib.arms.ARMS` are controls)."""


TEACHER = {
    "hidden_size": 128,
    "num_layers": 2,
    "epochs": 100,
    "lr": 3e-3,
    "batch_size": 32,
    "clip_grad_norm": 1.0,
}
"""The book's teacher recipe (the digits and vowels teachers): a two-layer
LSTM of 128 units, Adam with a cosine schedule and gradient clipping, the
epoch with the best validation accuracy kept."""


def train_teacher(
    splits: SequenceSplits,
    *,
    seed: int = 0,
    show_progress: bool = False,
    **recipe,
) -> LSTMClassifier:
    """Step 1 on any data: an LSTM teacher sized by ``splits`` (its
    features and classes), trained with :data:`TEACHER`'s recipe (override
    any entry by keyword, e.g. ``epochs=30``). Sequences of different
    lengths are packed. Returns the model in eval mode, on the CPU."""
    _check_splits(splits)
    unknown = set(recipe) - set(TEACHER)
    if unknown:
        raise ValueError(
            f"unknown teacher settings {sorted(unknown)}; choose from "
            f"{sorted(TEACHER)}"
        )
    settings = {**TEACHER, **recipe}
    set_seed(seed)
    teacher = LSTMClassifier(
        splits.num_features,
        splits.num_classes,
        hidden_size=settings["hidden_size"],
        num_layers=settings["num_layers"],
    )
    train(
        teacher,
        splits.loader(
            "train",
            batch_size=settings["batch_size"],
            shuffle=True,
            seed=seed,
        ),
        splits.loader("val", batch_size=256),
        epochs=settings["epochs"],
        lr=settings["lr"],
        clip_grad_norm=settings["clip_grad_norm"],
        cosine_schedule=True,
        show_progress=show_progress,
    )
    return teacher.cpu().eval()


@dataclass
class PipelineResult:
    """What :func:`run_pipeline` returns: per arm, the students of every
    seed and their scores (:class:`kd_lib.arms.ArmResult`), the teacher's
    test accuracy, chance (the training set's majority class and its share
    of the test set) and the names of the classes."""

    seeds: list[int]
    arms: dict[str, ArmResult]
    teacher_test_accuracy: float
    epochs: int
    chance: tuple = ("", 0.0)
    class_names: list = field(default_factory=list)

    @property
    def test_accuracy(self) -> dict[str, list[float]]:
        """Per arm, the test accuracy of each seed (in ``seeds`` order):
        what :func:`kd_lib.comparison.paired_difference` compares."""
        return {a: list(r.test_accuracy) for a, r in self.arms.items()}

    def students(self, arm: str) -> list[TCNClassifier]:
        """The trained students of ``arm``, one per seed."""
        if arm not in self.arms:
            raise KeyError(
                f"no arm {arm!r}; the arms are {list(self.arms)}"
            )
        return self.arms[arm].model.to_students()

    def table(self, caption: str | None = None) -> Table:
        """The book's comparison table (:func:`kd_lib.report.arms_table`),
        with chance and the teacher above the arms and the classes named
        in the caption."""
        names = ", ".join(str(c) for c in self.class_names)
        return arms_table(
            self.arms,
            self.teacher_test_accuracy,
            chance=self.chance,
            caption=caption or f"{len(self.class_names)} classes: {names}",
        )


def _check_splits(splits) -> None:
    if not isinstance(splits, SequenceSplits):
        raise TypeError(
            "splits must be a kd_lib.SequenceSplits (see "
            f"SequenceSplits.from_arrays), got {type(splits).__name__}"
        )


def _check_student_spec(student) -> dict:
    if student is None:
        return {}
    if not isinstance(student, dict):
        raise TypeError(
            'student must be a dict like {"channels": [8, 8], '
            f'"kernel_size": 3}}, got {type(student).__name__}'
        )
    unknown = set(student) - {"channels", "kernel_size"}
    if unknown:
        raise ValueError(
            f"unknown student settings {sorted(unknown)}; use 'channels' "
            "and 'kernel_size'"
        )
    return dict(student)


def run_pipeline(
    teacher: nn.Module,
    splits: SequenceSplits,
    seeds: list[int],
    *,
    student: dict | None = None,
    arms=PIPELINE_ARMS,
    epochs: int | None = None,
    lr: float | dict | None = None,
    weight_decay: float | dict = 0.0,
) -> PipelineResult:
    """Steps 2–4 for every seed, with the baselines alongside, on any data.

    Every size comes from ``splits`` (the teacher must give
    ``splits.num_classes`` logits); sequences of different lengths are
    read at their true ends. ``student`` overrides the book's
    :data:`kd_lib.arms.STUDENT`, for example ``{"channels": [16] * 4,
    "kernel_size": 3}`` (choose a receptive field at least as long as the
    sequences). The ``arms`` are trained by :func:`kd_lib.arms.run_arms`
    with the book's fair recipe: the same inputs and budget for every arm
    (``epochs``, by default :func:`kd_lib.arms.budget_epochs`), ``lr``
    (default ``STUDY["lr"]``) and ``weight_decay`` (each one value or one
    per arm), every arm's seeds at once.
    """
    if not isinstance(teacher, nn.Module):
        raise TypeError(
            "teacher must be a torch.nn.Module, got "
            f"{type(teacher).__name__}"
        )
    _check_splits(splits)
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    spec = _check_student_spec(student)
    if epochs is None:
        epochs = budget_epochs(len(splits.x_train))
    # step 2, once: the teacher is fixed
    train_z = teacher_logits(
        teacher, splits.x_train, lengths=splits.lengths_train
    )
    test_z = teacher_logits(
        teacher, splits.x_test, lengths=splits.lengths_test
    )
    check_tensor(train_z, "the teacher's logits", ndim=2, floating=True)
    if train_z.shape[1] != splits.num_classes:
        raise ValueError(
            f"the teacher gives {train_z.shape[1]} logits but the data "
            f"have {splits.num_classes} classes"
        )
    _warn_if_teacher_near_chance(teacher, splits)
    results = run_arms(
        splits,
        train_z,
        test_z,
        list(seeds),
        arms=arms,
        channels=spec.get("channels"),
        kernel_size=spec.get("kernel_size"),
        lr=STUDY["lr"] if lr is None else lr,
        weight_decay=weight_decay,
        epochs=epochs,
    )
    return PipelineResult(
        list(seeds),
        results,
        (test_z.argmax(1) == splits.y_test).float().mean().item(),
        epochs,
        splits.majority_share("test"),
        splits.names(),
    )


def _warn_if_teacher_near_chance(teacher, splits: SequenceSplits) -> None:
    """Warn when the teacher's validation accuracy is not at least two
    standard errors above always answering the majority class."""
    name, share = splits.majority_share("val")
    logits = teacher_logits(
        teacher, splits.x_val, lengths=splits.lengths_val
    )
    accuracy = (logits.argmax(1) == splits.y_val).float().mean().item()
    margin = 2 * math.sqrt(share * (1 - share) / len(splits.y_val))
    if accuracy <= share + margin:
        warnings.warn(
            f"the teacher is not clearly better than chance on the "
            f"validation data ({100 * accuracy:.1f} % against "
            f"{100 * share:.1f} % for always answering {name!r}), and "
            "distillation cannot pass on what the teacher does not know",
            stacklevel=3,
        )
