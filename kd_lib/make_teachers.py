"""Retrain the committed teacher checkpoints.

    python -m kd_lib.make_teachers  # every teacher in DIGITS_TEACHERS
    python -m kd_lib.make_teachers lstm_seed1  # just the ones named
    python -m kd_lib.make_teachers vowels  # the Japanese Vowels teacher
    python -m kd_lib.make_teachers vowels_packed  # ... at true lengths
    python -m kd_lib.make_teachers elnino  # the El Niño forecaster
    python -m kd_lib.make_teachers student  # the distilled digits student

About four minutes per teacher on one laptop core.
"""

import sys

from .pretrained import (
    CHECKPOINT_DIR,
    DIGITS_STUDENT,
    DIGITS_TEACHERS,
    FORECAST_CHECKPOINT,
    VOWELS_CHECKPOINT,
    VOWELS_PACKED_CHECKPOINT,
    checkpoint_path,
    train_digits_student,
    train_digits_teacher,
    train_forecast_teacher,
    train_vowels_teacher,
)


def main(names: list[str]) -> None:
    for name in names or [
        *DIGITS_TEACHERS,
        "vowels",
        "vowels_packed",
        "elnino",
    ]:
        if name == "student":
            path = CHECKPOINT_DIR / DIGITS_STUDENT["checkpoint"]
            _, meta = train_digits_student(save_to=path)
            print(
                f"student: seed {meta['seed']}, test accuracy "
                f"{meta['test_accuracy']:.3f} -> {path}"
            )
            continue
        if name == "elnino":
            path = CHECKPOINT_DIR / FORECAST_CHECKPOINT
            _, history = train_forecast_teacher(save_to=path)
            print(f"elnino: best epoch {history.best_epoch} -> {path}")
            continue
        if name in ("vowels", "vowels_packed"):
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
            continue
        path = checkpoint_path(name)
        _, history = train_digits_teacher(save_to=path, name=name)
        print(
            f"{name}: best epoch {history.best_epoch}, "
            f"val accuracy {history.best_val_accuracy:.3f} -> {path}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
