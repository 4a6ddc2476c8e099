"""The book's method for comparing students fairly: the same TCN trained on
different targets (the *arms*), on the same inputs with the same budget,
every seed of an arm trained at once (:mod:`kd_lib.multiseed`), scored on
the same test set.

- :data:`STUDY`: the recipe, fixed before any test accuracy was seen;
  :data:`ARMS`: the arms; :func:`budget_epochs`: the budget rule.
- :func:`run_arms`: train the arms and score them.
- :func:`subset`: a stratified share of the training set (the few-label
  settings); :func:`tuned_lrs`: the learning rates chosen on validation
  data by the stored ``lr_search``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, replace

import torch

from .comparison import best_setting
from .data import SequenceSplits
from .distill import agreement, distillation_loss
from .models import TCNClassifier
from .multiseed import (
    GroupedTCNClassifier,
    grouped_logits,
    hard_label_loss,
    train_grouped,
)
from .results import load_results
from .utils import check_int, check_tensor, set_seed

__all__ = [
    "STUDENT",
    "make_student",
    "SEEDS",
    "STUDY",
    "ARMS",
    "VOWELS_STUDENT",
    "budget_epochs",
    "seeded_students",
    "ArmResult",
    "run_arms",
    "stratified_label_mask",
    "subset",
    "tuned_lrs",
    "tuned_lr",
]

STUDENT = {"channels": [8, 8, 8, 8, 8], "kernel_size": 3}
"""The book's student: five levels of 8 channels, receptive
field 125 > 64 steps."""


def make_student(
    input_size: int = 1,
    num_classes: int = 10,
    channels: list[int] | None = None,
    kernel_size: int | None = None,
) -> TCNClassifier:
    """An untrained student TCN (the book's :data:`STUDENT` unless told
    otherwise)."""
    return TCNClassifier(
        input_size,
        num_classes,
        channels=STUDENT["channels"] if channels is None else channels,
        kernel_size=STUDENT["kernel_size"]
        if kernel_size is None
        else kernel_size,
    )


SEEDS = [0, 1, 2, 3, 4]
"""The seeds of every stored comparison (five, so each paired interval has 4
degrees of freedom)."""

STUDY = {
    # the training budget
    "batch_size": 64,
    "min_epochs": 150,
    "min_updates": 2000,
    # confirmed by lr_search
    "lr": 3e-3,
    # the distillation loss
    "temperature": 4.0,
    "alpha": 0.9,
    # step 4: a fifth more, at lr / 10
    "finetune_share": 0.2,
    "finetune_lr": 3e-4,
    # points on each validation curve
    "val_points": 40,
}
"""The recipe of every arm, fixed before any test accuracy was seen: Adam
with a half-cosine decay to 0 over at least 150 epochs and 2,000 updates,
the last epoch kept (no early stopping on validation labels). ``T = 4`` and
``alpha = 0.9`` are the book's recipe from Chapter 1; ``alpha`` weights
the *soft* term here, as in Hinton et al. (torchdistill and several other
libraries let ``alpha`` weight the hard term instead)."""

ARMS = ("scratch", "pseudo", "soft", "finetuned", "scratch_longer")
"""The arms of every comparison, trained on the same inputs with the same
budget: true labels (``scratch``), the teacher's arg-max (``pseudo``: hard
pseudo-labels), the teacher's soft labels (``soft``: distillation, plus the
true labels at weight ``1 - alpha``), the soft-label students fine-tuned on
the true labels (``finetuned``: step 4), and the ``scratch`` students given
the very same extra epochs on the true labels (``scratch_longer``): the
control that tells a gain of fine-tuning from a gain of training longer."""

CONTINUED = {"finetuned": "soft", "scratch_longer": "scratch"}
"""The arms that continue another arm's students, and which."""

VOWELS_STUDENT = [16, 16, 16, 16]
"""The Japanese Vowels student: four levels of 16 channels, receptive
field 61 > 29 frames."""


def budget_epochs(
    n_train: int,
    batch_size: int = STUDY["batch_size"],
    min_epochs: int = STUDY["min_epochs"],
    min_updates: int = STUDY["min_updates"],
) -> int:
    """Epochs for ``n_train`` inputs: at least ``min_epochs``, and enough
    for ``min_updates`` optimiser steps (a small training set gets more
    epochs, so a student sees every example often enough to converge)."""
    check_int(n_train, "n_train")
    batches = math.ceil(n_train / batch_size)
    return max(min_epochs, math.ceil(min_updates / batches))


def _check_seeds(seeds) -> None:
    if not seeds:
        raise ValueError("seeds must name at least one seed")


def seeded_students(
    seeds: list[int],
    input_size: int,
    num_classes: int,
    channels: list[int] | None = None,
    kernel_size: int | None = None,
) -> GroupedTCNClassifier:
    """One student per seed, each built right after ``set_seed(seed)`` (so
    its initial weights are those of :func:`kd_lib.make_student` with that
    seed), grouped to train together."""
    _check_seeds(seeds)
    students = []
    for seed in seeds:
        set_seed(seed)
        students.append(
            make_student(input_size, num_classes, channels, kernel_size)
        )
    return GroupedTCNClassifier.from_students(students)


@dataclass
class ArmResult:
    """One arm over seeds: per-seed test accuracy and agreement with the
    teacher, the validation curves (``val_accuracy[point][seed]``) and the
    trained students."""

    arm: str
    seeds: list[int]
    test_accuracy: list[float]
    agreement: list[float]
    val_epochs: list[int]
    val_accuracy: list[list[float]]
    final_slope: list[float]
    epochs: int
    updates: int
    seconds: float
    model: GroupedTCNClassifier | None = None
    same_as: str | None = None

    def record(self) -> dict:
        """Plain data for a JSON file (no model)."""
        return {k: v for k, v in asdict(self).items() if k != "model"}


def _soft_loss(temperature: float, alpha: float):
    def loss(logits, labels, teacher_logits):
        return distillation_loss(
            logits, teacher_logits, labels, temperature, alpha
        )

    return loss


def _check_arms(arms, splits, train_logits, test_logits) -> None:
    unknown = set(arms) - set(ARMS)
    if unknown:
        raise ValueError(
            f"unknown arms {sorted(unknown)}; choose from {ARMS}"
        )
    for extra, base in CONTINUED.items():
        if extra in arms and base not in arms:
            raise ValueError(
                f"the {extra!r} arm continues the {base!r} arm: ask for "
                "both"
            )
    check_tensor(train_logits, "train_logits", ndim=2, floating=True)
    check_tensor(test_logits, "test_logits", ndim=2, floating=True)
    if len(train_logits) != len(splits.x_train) or len(test_logits) != len(
        splits.x_test
    ):
        raise ValueError(
            "need one row of teacher logits per training input and per "
            "test input"
        )


def _score(arm, model, history, epochs, splits, seeds, test_logits):
    """An :class:`ArmResult` for a trained grouped ``model``."""
    logits = grouped_logits(
        model, splits.x_test, lengths=splits.lengths_test
    )
    batches = math.ceil(len(splits.x_train) / STUDY["batch_size"])
    return ArmResult(
        arm,
        list(seeds),
        (logits.argmax(-1) == splits.y_test).float().mean(1).tolist(),
        [agreement(row, test_logits) for row in logits],
        history.val_epochs,
        history.val_accuracy,
        history.final_slope()
        if len(history.val_epochs) > 1
        else [None] * len(seeds),
        epochs,
        epochs * batches,
        history.seconds,
        model,
    )


def _train(model, splits, targets, seeds, *, epochs, lr, loss_fn):
    """Train the grouped ``model`` with the recipe of :data:`STUDY`."""
    return train_grouped(
        model,
        splits.x_train,
        targets,
        seeds,
        epochs=epochs,
        lr=lr,
        loss_fn=loss_fn,
        batch_size=STUDY["batch_size"],
        x_val=splits.x_val,
        y_val=splits.y_val,
        val_every=max(1, epochs // STUDY["val_points"]),
        lengths=splits.lengths_train,
        val_lengths=splits.lengths_val,
    )


def run_arms(
    splits: SequenceSplits,
    train_logits: torch.Tensor,
    test_logits: torch.Tensor,
    seeds: list[int],
    *,
    arms=ARMS,
    channels: list[int] | None = None,
    kernel_size: int | None = None,
    lr: float | dict = STUDY["lr"],
    epochs: int | None = None,
    temperature: float = STUDY["temperature"],
    alpha: float = STUDY["alpha"],
) -> dict[str, ArmResult]:
    """Train the requested ``arms`` (see :data:`ARMS`) on
    ``splits.x_train``, every seed of an arm at once, and score them on the
    test set.

    ``train_logits`` / ``test_logits``: the teacher's logits on the training
    and test inputs. The students (``channels`` wide with ``kernel_size``,
    by default :data:`STUDENT`) take the data's features
    and the teacher's classes; sequences of different lengths are read
    with the splits' lengths. ``lr`` is one learning rate or one per arm;
    ``epochs`` defaults to :func:`budget_epochs` of the training set. When
    the teacher's arg-max equals the true label on every training input,
    ``pseudo`` is the same computation as ``scratch`` and is not run twice
    (``same_as="scratch"``).
    """
    _check_seeds(seeds)
    _check_arms(arms, splits, train_logits, test_logits)
    lrs = lr if isinstance(lr, dict) else {arm: lr for arm in ARMS}
    epochs = (
        budget_epochs(len(splits.x_train)) if epochs is None else epochs
    )
    pseudo = train_logits.argmax(1)
    plans = {
        "scratch": {"labels": splits.y_train},
        "pseudo": {"labels": pseudo},
        "soft": {"labels": splits.y_train, "teacher_logits": train_logits},
    }
    results: dict[str, ArmResult] = {}
    for arm in (a for a in arms if a not in CONTINUED):
        if arm == "pseudo" and "scratch" in results:
            if torch.equal(pseudo, splits.y_train):
                results[arm] = replace(
                    results["scratch"], arm=arm, same_as="scratch"
                )
                continue
        model = seeded_students(
            seeds,
            splits.num_features,
            train_logits.shape[1],
            channels,
            kernel_size,
        )
        loss = (
            _soft_loss(temperature, alpha)
            if arm == "soft"
            else hard_label_loss
        )
        history = _train(
            model,
            splits,
            plans[arm],
            seeds,
            epochs=epochs,
            lr=lrs[arm],
            loss_fn=loss,
        )
        results[arm] = _score(
            arm, model, history, epochs, splits, seeds, test_logits
        )
    extra_epochs = max(1, round(STUDY["finetune_share"] * epochs))
    for extra in (a for a in arms if a in CONTINUED):
        model = copy.deepcopy(results[CONTINUED[extra]].model)
        history = _train(
            model,
            splits,
            {"labels": splits.y_train},
            seeds,
            epochs=extra_epochs,
            lr=STUDY["finetune_lr"],
            loss_fn=hard_label_loss,
        )
        results[extra] = _score(
            extra, model, history, extra_epochs, splits, seeds, test_logits
        )
    return {arm: results[arm] for arm in arms}


def _check_fraction(fraction) -> None:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise TypeError(
            f"fraction must be a number, got {type(fraction).__name__}"
        )
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")


def stratified_label_mask(
    labels: torch.Tensor, fraction: float, seed: int
) -> torch.Tensor:
    """A boolean mask ``(n,)`` that keeps ``round(fraction × count)`` labels
    of every class (at least one each), chosen at random with ``seed``.

    Stratified so that even at 5 % every class keeps some labelled examples:
    a plain random 5 % of 1,169 digits could miss a class by chance.
    """
    check_tensor(labels, "labels", ndim=1, floating=False)
    _check_fraction(fraction)
    generator = torch.Generator().manual_seed(seed)
    mask = torch.zeros(len(labels), dtype=torch.bool)
    for label in torch.unique(labels):
        idx = torch.nonzero(labels == label).flatten()
        keep = max(1, round(fraction * len(idx)))
        chosen = torch.randperm(len(idx), generator=generator)[:keep]
        mask[idx[chosen]] = True
    return mask


def subset(
    splits: SequenceSplits, fraction: float, seed: int = 0
) -> tuple[SequenceSplits, torch.Tensor]:
    """``splits`` with a stratified ``fraction`` of the training set (the
    same share of every class), and the boolean mask of the rows kept.
    Validation and test sets are unchanged; the teacher's soft labels go on
    the kept inputs only."""
    mask = stratified_label_mask(splits.y_train, fraction, seed)
    lengths = splits.lengths_train
    return replace(
        splits,
        x_train=splits.x_train[mask],
        y_train=splits.y_train[mask],
        lengths_train=None if lengths is None else lengths[mask],
    ), mask


def tuned_lrs(records: list[dict] | None = None) -> dict[str, float]:
    """The learning rate of every arm, as picked on validation data (by
    :func:`kd_lib.comparison.best_setting`: the best mean final validation
    accuracy over seeds and training-set sizes) from the search ``records``
    (default: the stored ``lr_search`` on the digits). Only ``scratch`` and
    ``soft`` are searched: ``pseudo`` and ``scratch_longer`` train on hard
    labels and take ``scratch``'s rate, ``finetuned`` takes ``soft``'s."""
    if records is None:
        records = load_results("lr_search")["records"]
    best = {
        arm: best_setting(
            [r for r in records if r["arm"] == arm],
            lambda r: r["val_accuracy"][-1],
        )
        for arm in ("scratch", "soft")
    }
    return {
        "scratch": best["scratch"],
        "pseudo": best["scratch"],
        "soft": best["soft"],
        "finetuned": best["soft"],
        "scratch_longer": best["scratch"],
    }


def tuned_lr(arm: str) -> float:
    """:func:`tuned_lrs` for one arm."""
    return tuned_lrs()[arm]
