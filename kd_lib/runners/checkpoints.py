"""Retrain the committed checkpoints of ``kd_lib/checkpoints/``.

    python -m kd_lib.runners.checkpoints  # every teacher
    python -m kd_lib.runners.checkpoints teacher  # the digits teacher
    python -m kd_lib.runners.checkpoints vowels  # Japanese Vowels teacher
    python -m kd_lib.runners.checkpoints vowels_packed  # ... true lengths
    python -m kd_lib.runners.checkpoints elnino  # the El Niño forecaster
    python -m kd_lib.runners.checkpoints student  # the deployed student

About four minutes for the digits teacher on one laptop core; the
student takes its setting from the stored ``data_fraction`` run. The
recipes are in :mod:`kd_lib.pretrained` (and, for the forecaster,
:mod:`kd_lib.chapters.forecasting`), next to the loaders.
"""

from __future__ import annotations

import sys
from pathlib import Path

from torch import nn

from ..arms import Setting, continue_arm, train_settings
from ..chapters.forecasting import (
    FORECAST_CHECKPOINT,
    FORECAST_TEACHER,
    ForecastHistory,
    elnino_splits,
    fit_forecast_teacher,
    forecast_scores,
)
from ..data import digits_loaders, digits_splits, vowels_splits
from ..distill import teacher_logits
from ..pretrained import (
    CHECKPOINT_DIR,
    DIGITS_CHECKPOINT,
    DIGITS_STUDENT,
    DIGITS_TEACHER,
    VOWELS_CHECKPOINT,
    VOWELS_PACKED_CHECKPOINT,
    VOWELS_TEACHER,
    load_digits_teacher,
    make_digits_teacher,
    make_vowels_teacher,
)
from ..results import load_results
from ..training import History, evaluate, train
from ..utils import check_int, save_checkpoint, set_seed

__all__ = [
    "train_digits_teacher",
    "train_vowels_teacher",
    "train_forecast_teacher",
    "train_digits_student",
    "main",
]


def train_digits_teacher(
    permuted: bool = False,
    epochs: int | None = None,
    seed: int | None = None,
    save_to: str | Path | None = None,
    show_progress: bool = True,
) -> tuple[nn.Module, History]:
    """Train the digits teacher on sequential digits with the recipe in
    :data:`kd_lib.pretrained.DIGITS_TEACHER`.

    ``epochs`` and ``seed`` override the recipe (a test uses a couple of
    epochs). With ``save_to`` the weights are written there, with the recipe
    and the test accuracy as metadata.
    """
    recipe = DIGITS_TEACHER["train"]
    seed = DIGITS_TEACHER["seed"] if seed is None else seed
    epochs = recipe["epochs"] if epochs is None else epochs
    set_seed(seed)
    train_loader, val_loader, test_loader = digits_loaders(
        recipe["batch_size"], permuted=permuted, seed=seed
    )
    model = make_digits_teacher()
    history = train(
        model,
        train_loader,
        val_loader,
        epochs=epochs,
        lr=recipe["lr"],
        clip_grad_norm=recipe["clip_grad_norm"],
        cosine_schedule=recipe["cosine_schedule"],
        show_progress=show_progress,
    )
    if save_to is not None:
        model.cpu()
        save_checkpoint(
            model,
            save_to,
            permuted=permuted,
            epochs=epochs,
            seed=seed,
            best_epoch=history.best_epoch,
            test_accuracy=evaluate(model, test_loader)["accuracy"],
        )
    return model, history


def train_vowels_teacher(
    epochs: int | None = None,
    seed: int | None = None,
    save_to: str | Path | None = None,
    show_progress: bool = True,
    padding: str = "left",
) -> tuple[nn.Module, History]:
    """Train the Japanese Vowels teacher with
    :data:`kd_lib.pretrained.VOWELS_TEACHER`'s recipe on
    :func:`kd_lib.vowels_splits` (``epochs`` and ``seed`` override it).
    ``padding="none"`` trains on each utterance at its own length,
    packed."""
    recipe = VOWELS_TEACHER["train"]
    seed = VOWELS_TEACHER["seed"] if seed is None else seed
    epochs = recipe["epochs"] if epochs is None else epochs
    set_seed(seed)
    splits = vowels_splits(padding=padding)
    model = make_vowels_teacher()
    history = train(
        model,
        splits.loader(
            "train",
            batch_size=recipe["batch_size"],
            shuffle=True,
            seed=seed,
        ),
        splits.loader("val", batch_size=256),
        epochs=epochs,
        lr=recipe["lr"],
        clip_grad_norm=recipe["clip_grad_norm"],
        cosine_schedule=recipe["cosine_schedule"],
        show_progress=show_progress,
    )
    if save_to is not None:
        model.cpu()
        save_checkpoint(
            model,
            save_to,
            name="vowels_lstm" if padding == "left" else "vowels_packed",
            epochs=epochs,
            seed=seed,
            best_epoch=history.best_epoch,
            test_accuracy=evaluate(
                model, splits.loader("test", batch_size=256)
            )["accuracy"],
        )
    return model, history


def train_forecast_teacher(
    epochs: int | None = None,
    seed: int | None = None,
    save_to: str | Path | None = None,
) -> tuple[nn.Module, ForecastHistory]:
    """Train the El Niño teacher of the 2000s fold (the committed one)
    with :data:`kd_lib.chapters.forecasting.FORECAST_TEACHER`'s recipe
    (``epochs`` and ``seed`` override it). With ``save_to`` the weights are
    written there with the recipe and the validation and test scores."""
    splits = elnino_splits()
    model, history = fit_forecast_teacher(splits, epochs, seed)
    if save_to is not None:
        test = splits.unscale(model.forecast(splits.x_test)[0])
        scores = forecast_scores(splits, test)
        save_checkpoint(
            model.cpu(),
            save_to,
            name="elnino_lstm",
            epochs=len(history.train_loss),
            seed=FORECAST_TEACHER["seed"] if seed is None else seed,
            best_epoch=history.best_epoch,
            val_mae=splits.std * min(history.val_mae),
            test_mae=scores["test_mae"],
            test_skill=scores["test_skill"],
        )
    return model, history


def train_digits_student(
    seed: int | None = None,
    epochs: int | None = None,
    save_to: str | Path | None = None,
) -> tuple[nn.Module, dict]:
    """The four-step product on all the digits: the book's student
    distilled from the book's teacher exactly like the ``soft`` arm of the
    stored ladder (its setting chosen on validation data in
    ``data_fraction``), then fine-tuned like its ``finetuned`` arm (a
    fifth more epochs on the true labels at a tenth of the rate); about a
    minute on one core.

    ``seed`` (default :data:`kd_lib.pretrained.DIGITS_STUDENT`'s 0) and
    ``epochs`` (of the distillation; a test uses a couple) override the
    recipe. Returns the student, a :class:`kd_lib.TCNClassifier` in eval
    mode on the CPU, and its metadata; with ``save_to`` both are written
    there.
    """
    seed = DIGITS_STUDENT["seed"] if seed is None else seed
    check_int(seed, "seed", 0)
    teacher, _ = load_digits_teacher()
    splits = digits_splits()
    train_z = teacher_logits(teacher, splits.x_train)
    test_z = teacher_logits(teacher, splits.x_test)
    (soft,) = [
        r["setting"]
        for r in load_results("data_fraction")["records"]
        if r["fraction"] == 1.0 and r["arm"] == "soft"
    ]
    (distilled,) = train_settings(
        splits, train_z, test_z, [seed], [Setting(**soft)], epochs=epochs
    ).values()
    result = continue_arm(
        DIGITS_STUDENT["arm"], distilled, splits, train_z, test_z
    )
    student = result.model.to_students()[0].cpu().eval()
    metadata = {
        "seed": seed,
        "arm": DIGITS_STUDENT["arm"],
        "setting": soft,
        "epochs": distilled.epochs + result.epochs,
        "test_accuracy": result.test_accuracy[0],
    }
    if save_to is not None:
        save_checkpoint(student, save_to, **metadata)
    return student, metadata


def main(names: list[str]) -> None:
    for name in names or ["teacher", "vowels", "vowels_packed", "elnino"]:
        if name == "student":
            path = CHECKPOINT_DIR / DIGITS_STUDENT["checkpoint"]
            _, meta = train_digits_student(save_to=path)
            print(
                f"student: seed {meta['seed']}, test accuracy "
                f"{meta['test_accuracy']:.3f} -> {path}"
            )
        elif name == "elnino":
            path = CHECKPOINT_DIR / FORECAST_CHECKPOINT
            _, history = train_forecast_teacher(save_to=path)
            print(f"elnino: best epoch {history.best_epoch} -> {path}")
        elif name in ("vowels", "vowels_packed"):
            packed = name == "vowels_packed"
            path = CHECKPOINT_DIR / (
                VOWELS_PACKED_CHECKPOINT if packed else VOWELS_CHECKPOINT
            )
            _, history = train_vowels_teacher(
                save_to=path, padding="none" if packed else "left"
            )
            print(
                f"{name}: best epoch {history.best_epoch}, "
                f"val accuracy {history.best_val_accuracy:.3f} -> {path}"
            )
        elif name == "teacher":
            path = CHECKPOINT_DIR / DIGITS_CHECKPOINT
            _, history = train_digits_teacher(save_to=path)
            print(
                f"{name}: best epoch {history.best_epoch}, "
                f"val accuracy {history.best_val_accuracy:.3f} -> {path}"
            )
        else:
            raise SystemExit(
                f"unknown checkpoint {name!r}: choose from teacher, "
                "vowels, vowels_packed, elnino, student"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
