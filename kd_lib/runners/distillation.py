"""The stored distillation experiments of chapter 5 that compare soft and
hard labels only: the learning-rate search, three teachers and two
students, and the omitted class (the ladder of controls is in
:mod:`kd_lib.runners.ladder`). Each returns plain data
that ``python -m kd_lib.runners NAME`` writes to
``kd_lib/results/NAME.json``."""

from __future__ import annotations

import torch
from torch import nn

from ..arms import (
    SEEDS,
    ArmResult,
    run_arms,
    subset,
    tuned_lrs,
)
from ..chapters.distillation_study import (
    best_bias,
    omitted_class_accuracy,
)
from ..data import SequenceSplits, digits_splits
from ..distill import ensemble_logits
from ..multiseed import grouped_logits
from ..pretrained import load_digits_teacher
from ..utils import count_parameters

__all__ = [
    "run_lr_search",
    "run_teachers",
    "run_omitted_class",
]


def _teacher_logits_for(splits: SequenceSplits, teachers: list[nn.Module]):
    return ensemble_logits(
        teachers, splits.x_train, splits.lengths_train
    ), ensemble_logits(teachers, splits.x_test, splits.lengths_test)


def _records(results: dict[str, ArmResult], **keys) -> list[dict]:
    return [{**keys, **r.record()} for r in results.values()]


def run_lr_search(
    seeds=(0, 1, 2), lrs=(1e-3, 3e-3, 1e-2), fractions=(0.1, 1.0)
) -> dict:
    """Learning rate of the ``scratch`` and ``soft`` arms,
    chosen on validation data."""
    teacher, _ = load_digits_teacher()
    splits = digits_splits()
    records = []
    for fraction in fractions:
        part, _ = subset(splits, fraction)
        train_z, test_z = _teacher_logits_for(part, [teacher])
        for lr in lrs:
            results = run_arms(
                part,
                train_z,
                test_z,
                list(seeds),
                arms=("scratch", "soft"),
                lr=lr,
            )
            records += _records(results, fraction=fraction, lr=lr)
    return {"seeds": list(seeds), "records": records}


def run_teachers(
    seeds=SEEDS, students=((8, 8, 8, 8, 8), (4, 4, 4, 4, 4))
) -> dict:
    """All the digits, three teachers (the book's LSTM; an ensemble of three
    LSTMs; an LSTM trained with dropout and jittered inputs) and two student
    sizes."""
    splits = digits_splits()
    teachers = {
        "lstm": ["lstm"],
        "ensemble": ["lstm", "lstm_seed1", "lstm_seed3"],
        "jitter_dropout": ["lstm_jitter_dropout"],
    }
    lr = tuned_lrs()
    records, teacher_rows = [], []
    for teacher_name, members in teachers.items():
        models = [load_digits_teacher(m)[0] for m in members]
        train_z, test_z = _teacher_logits_for(splits, models)
        teacher_rows.append(
            {
                "teacher": teacher_name,
                "members": members,
                "test_accuracy": (test_z.argmax(1) == splits.y_test)
                .float()
                .mean()
                .item(),
                "train_accuracy": (train_z.argmax(1) == splits.y_train)
                .float()
                .mean()
                .item(),
            }
        )
        for channels in students:
            arms = (
                ("scratch", "pseudo", "soft")
                if teacher_name == "lstm"
                else ("pseudo", "soft")
            )
            if arms[0] == "pseudo" and torch.equal(
                train_z.argmax(1), splits.y_train
            ):
                # pseudo-labels are the true labels: the lstm rows hold that
                # arm
                arms = ("soft",)
            results = run_arms(
                splits,
                train_z,
                test_z,
                list(seeds),
                arms=arms,
                channels=list(channels),
                lr=lr,
            )
            records += _records(
                results,
                teacher=teacher_name,
                channels=list(channels),
                parameters=count_parameters(
                    results[arms[-1]].model.to_students()[0]
                ),
            )
    return {
        "seeds": list(seeds),
        "lr": lr,
        "teachers": teacher_rows,
        "records": records,
    }


def run_omitted_class(seeds=SEEDS, omitted: int = 3) -> dict:
    """Hinton et al.'s omitted-class test: the transfer set has no
    ``omitted`` digit at all."""
    teacher, _ = load_digits_teacher()
    splits = digits_splits()
    keep = splits.y_train != omitted
    part = SequenceSplits(
        splits.x_train[keep],
        splits.y_train[keep],
        splits.x_val,
        splits.y_val,
        splits.x_test,
        splits.y_test,
    )
    train_z, test_z = _teacher_logits_for(part, [teacher])
    lr = tuned_lrs()
    results = run_arms(
        part, train_z, test_z, list(seeds), arms=("scratch", "soft"), lr=lr
    )
    records = []
    for arm, result in results.items():
        val = grouped_logits(result.model, splits.x_val)
        test = grouped_logits(result.model, splits.x_test)
        for s, seed in enumerate(seeds):
            bias = best_bias(val[s], splits.y_val, omitted)
            plain = omitted_class_accuracy(test[s], splits.y_test, omitted)
            corrected = omitted_class_accuracy(
                test[s], splits.y_test, omitted, bias
            )
            records.append(
                {
                    "arm": arm,
                    "seed": seed,
                    "bias": bias,
                    "omitted_accuracy": plain["omitted"],
                    "overall_accuracy": plain["overall"],
                    "omitted_accuracy_corrected": corrected["omitted"],
                    "overall_accuracy_corrected": corrected["overall"],
                    "final_slope": result.final_slope[s],
                }
            )
    return {
        "seeds": list(seeds),
        "lr": lr,
        "omitted": omitted,
        "n_transfer": int(keep.sum()),
        "records": records,
    }
