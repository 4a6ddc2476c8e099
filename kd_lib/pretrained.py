"""The committed checkpoints (the LSTM teachers and the deployed
student), their recipes and their loaders, each returning the model in
eval mode on the CPU and its metadata.

Training an LSTM teacher takes longer than a chapter should, so the weights
ship with kd_lib and load with ``weights_only=True``.
``python -m kd_lib.runners.checkpoints`` retrains them from scratch with
the exact recipes below (about four minutes per digits teacher on one
laptop core, a few seconds for the Japanese Vowels teacher).
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from .arms import make_student
from .models import LSTMClassifier
from .utils import load_checkpoint

__all__ = [
    "CHECKPOINT_DIR",
    "DIGITS_TEACHER",
    "DIGITS_CHECKPOINT",
    "make_digits_teacher",
    "load_digits_teacher",
    "VOWELS_TEACHER",
    "make_vowels_teacher",
    "load_vowels_teacher",
    "DIGITS_STUDENT",
    "load_digits_student",
]

CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"

DIGITS_TEACHER = {
    "model": {
        "input_size": 1,
        "num_outputs": 10,
        "hidden_size": 128,
        "num_layers": 2,
    },
    "train": {
        "epochs": 100,
        "lr": 3e-3,
        "clip_grad_norm": 1.0,
        "batch_size": 64,
        "cosine_schedule": True,
    },
    "seed": 0,
}
"""Architecture and training recipe of the sequential-digits LSTM
teacher."""

DIGITS_CHECKPOINT = "digits_lstm_teacher.pt"


def make_digits_teacher() -> LSTMClassifier:
    """An untrained LSTM with the digits teacher's architecture."""
    return LSTMClassifier(**DIGITS_TEACHER["model"])


def load_digits_teacher() -> tuple[nn.Module, dict]:
    """The book's teacher, trained on (unpermuted) sequential digits, and
    its metadata (recipe, best epoch, test accuracy)."""
    model = make_digits_teacher()
    metadata = load_checkpoint(model, CHECKPOINT_DIR / DIGITS_CHECKPOINT)
    return model.eval(), metadata


VOWELS_TEACHER = {
    "model": {
        **DIGITS_TEACHER["model"],
        "input_size": 12,
        "num_outputs": 9,
    },
    "train": {**DIGITS_TEACHER["train"], "batch_size": 32},
    "seed": 0,
}
"""Architecture and recipe of the Japanese Vowels LSTM teacher: the digits
teacher's with 12 input features and 9 speakers, and smaller batches for
225 utterances."""

VOWELS_CHECKPOINT = "vowels_lstm_teacher.pt"
VOWELS_PACKED_CHECKPOINT = "vowels_lstm_packed.pt"
"""The same recipe trained on utterances of their own lengths (packed):
the teacher of the chapter on your own data."""


def make_vowels_teacher() -> LSTMClassifier:
    """An untrained LSTM with the Japanese Vowels teacher's architecture."""
    return LSTMClassifier(**VOWELS_TEACHER["model"])


def load_vowels_teacher(padding: str = "left") -> tuple[nn.Module, dict]:
    """The Japanese Vowels teacher trained left-padded (``padding="left"``)
    or on utterances of their own lengths (``"none"``), and its metadata."""
    names = {"left": VOWELS_CHECKPOINT, "none": VOWELS_PACKED_CHECKPOINT}
    if padding not in names:
        raise ValueError(
            f"padding must be 'left' or 'none', got {padding!r}"
        )
    model = make_vowels_teacher()
    metadata = load_checkpoint(model, CHECKPOINT_DIR / names[padding])
    return model.eval(), metadata


DIGITS_STUDENT = {
    "seed": 0,
    "arm": "finetuned",
    "checkpoint": "digits_tcn_student.pt",
}
"""The student the streaming and runtime chapters deploy: the four-step
product, trained exactly like seed 0 of the ``finetuned`` arm of the
stored ladder on all the digits (``python -m kd_lib.runners.checkpoints
student``): the stated seed, not the best of several."""


def load_digits_student() -> tuple[nn.Module, dict]:
    """The deployed student (:data:`DIGITS_STUDENT`) and its metadata
    (seed, setting, epochs, test accuracy)."""
    model = make_student()
    metadata = load_checkpoint(
        model, CHECKPOINT_DIR / DIGITS_STUDENT["checkpoint"]
    )
    return model.eval(), metadata
