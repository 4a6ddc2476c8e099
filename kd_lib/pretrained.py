"""The committed teacher checkpoint, and the function that reproduces it.

Training the LSTM teacher takes longer than a chapter should, so its weights
ship with kd_lib. ``python -m kd_lib.make_teachers`` retrains them from scratch
with the exact settings below (about two minutes each on a laptop CPU).
"""
from __future__ import annotations

from pathlib import Path

from torch import nn

from .data import digits_loaders
from .models import LSTMClassifier
from .training import History, evaluate, train
from .utils import load_checkpoint, save_checkpoint, set_seed

__all__ = ["DIGITS_TEACHER", "make_digits_teacher", "train_digits_teacher", "load_digits_teacher",
           "CHECKPOINT_DIR", "checkpoint_path"]

CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"

DIGITS_TEACHER = {
    "model": {"input_size": 1, "num_outputs": 10, "hidden_size": 128, "num_layers": 2},
    "train": {"epochs": 100, "lr": 3e-3, "clip_grad_norm": 1.0, "batch_size": 64,
              "cosine_schedule": True},
    "seed": 0,
}
"""Architecture and training recipe of the sequential-digits LSTM teacher."""


def make_digits_teacher() -> LSTMClassifier:
    """An untrained LSTM with the teacher's architecture."""
    return LSTMClassifier(**DIGITS_TEACHER["model"])


def checkpoint_path() -> Path:
    """Where the committed teacher's weights live (inside the installed package)."""
    return CHECKPOINT_DIR / "digits_lstm_teacher.pt"


def train_digits_teacher(permuted: bool = False, epochs: int | None = None, seed: int | None = None,
                         save_to: str | Path | None = None, show_progress: bool = True
                         ) -> tuple[nn.Module, History]:
    """Train the LSTM teacher on sequential digits with the recipe in :data:`DIGITS_TEACHER`.

    ``epochs`` and ``seed`` override the recipe (a test uses a couple of epochs).
    With ``save_to`` the weights are written there, with the recipe and the
    test accuracy as metadata.
    """
    recipe = DIGITS_TEACHER["train"]
    seed = DIGITS_TEACHER["seed"] if seed is None else seed
    epochs = recipe["epochs"] if epochs is None else epochs
    set_seed(seed)
    train_loader, val_loader, test_loader = digits_loaders(recipe["batch_size"], permuted=permuted,
                                                           seed=seed)
    model = make_digits_teacher()
    history = train(model, train_loader, val_loader, epochs=epochs, lr=recipe["lr"],
                    clip_grad_norm=recipe["clip_grad_norm"], cosine_schedule=recipe["cosine_schedule"],
                    show_progress=show_progress)
    if save_to is not None:
        model.cpu()
        save_checkpoint(model, save_to, permuted=permuted, epochs=epochs, seed=seed,
                        best_epoch=history.best_epoch,
                        test_accuracy=evaluate(model, test_loader)["accuracy"])
    return model, history


def load_digits_teacher() -> tuple[nn.Module, dict]:
    """The committed teacher, trained on (unpermuted) sequential digits, in eval
    mode on the CPU, and its metadata (recipe, best epoch, test accuracy)."""
    model = make_digits_teacher()
    metadata = load_checkpoint(model, checkpoint_path())
    return model.eval(), metadata

