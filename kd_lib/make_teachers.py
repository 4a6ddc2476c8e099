"""Retrain the committed teacher checkpoints.

    python -m kd_lib.make_teachers  # every teacher in DIGITS_TEACHERS
    python -m kd_lib.make_teachers lstm_seed1  # just the ones named
    python -m kd_lib.make_teachers vowels  # the Japanese Vowels teacher

About four minutes per teacher on one laptop core.
"""

import sys

from .pretrained import (
    CHECKPOINT_DIR,
    DIGITS_TEACHERS,
    VOWELS_CHECKPOINT,
    checkpoint_path,
    train_digits_teacher,
    train_vowels_teacher,
)


def main(names: list[str]) -> None:
    for name in names or [*DIGITS_TEACHERS, "vowels"]:
        if name == "vowels":
            path = CHECKPOINT_DIR / VOWELS_CHECKPOINT
            _, history = train_vowels_teacher(save_to=path)
            print(
                f"vowels: best epoch {history.best_epoch}, "
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
