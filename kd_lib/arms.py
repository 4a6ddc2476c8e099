"""The book's method for comparing students fairly: the same TCN trained on
different targets (the *arms*), on the same inputs with the same budget,
every seed of an arm trained at once (:mod:`kd_lib.multiseed`), scored on
the same test set, item by item. The settings chosen on validation data
are stored by :mod:`kd_lib.runners.ladder`."""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, replace

import torch

from .data import SequenceSplits
from .distill import (
    agreement,
    class_average_targets,
    smoothed_labels,
    target_loss,
)
from .models import TCNClassifier
from .multiseed import (
    GroupedTCNClassifier,
    grouped_logits,
    hard_label_loss,
    train_grouped,
)
from .utils import check_int, check_tensor, set_seed

__all__ = [
    "TRAINED",
    "CONTINUED",
    "Setting",
    "train_settings",
    "continue_arm",
    "STUDENT",
    "make_student",
    "SEEDS",
    "STUDY",
    "ARMS",
    "VOWELS_STUDENT",
    "budget_epochs",
    "seeded_students",
    "ArmResult",
    "score_group",
    "run_arms",
    "stratified_label_mask",
    "subset",
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
    if channels is None:
        channels = STUDENT["channels"]
    if kernel_size is None:
        kernel_size = STUDENT["kernel_size"]
    return TCNClassifier(input_size, num_classes, channels, kernel_size)


SEEDS = [0, 1, 2, 3, 4]
"""The seeds of every stored comparison (five, so each paired interval has 4
degrees of freedom)."""

STUDY = {
    "batch_size": 64,
    "min_epochs": 150,
    "min_updates": 2000,
    "lr": 3e-3,
    "temperature": 4.0,
    "alpha": 0.9,
    # step 4: a fifth more epochs, at a tenth of the learning rate
    "finetune_share": 0.2,
    "finetune_lr_factor": 0.1,
    # points on each validation curve
    "val_points": 40,
}
"""The recipe of every arm, fixed before any test accuracy was seen: Adam
with a half-cosine decay to 0 over at least 150 epochs and 2,000 updates,
the last epoch kept (no early stopping on validation labels). ``T = 4`` and
``alpha = 0.9`` are the book's recipe from Chapter 1; ``alpha`` weights
the *soft* term here, as in Hinton et al. (torchdistill and several other
libraries let ``alpha`` weight the hard term instead)."""

TRAINED = ("scratch", "pseudo", "smooth", "class_average", "soft")
"""The arms trained from scratch, from the least the targets carry to the
most: the true labels (``scratch``), the teacher's arg-max (``pseudo``:
hard pseudo-labels), the true labels uniformly smoothed (``smooth``: label
smoothing, in the distillation loss's own form), the teacher's average
soft label of each class (``class_average``: which classes resemble which,
nothing about one input), and the teacher's soft label of every input
(``soft``: distillation). The last three share one loss,
:func:`kd_lib.distill.target_loss`; only their targets differ."""

CONTINUED = {
    "finetuned": ("soft", "labels"),
    "soft_longer": ("soft", "soft"),
    "scratch_longer": ("scratch", "labels"),
}
"""The arms that continue another arm's students for the extra epochs of
step 4, and on what: the distilled students fine-tuned on the true labels
(``finetuned``: step 4), the same students given the same extra epochs on
the soft labels instead (``soft_longer``), and the students from scratch
given them on the true labels (``scratch_longer``). Together they tell a
gain of fine-tuning from a gain of training longer."""

ARMS = TRAINED + tuple(CONTINUED)
"""Every arm, in the order tables show them."""

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
    epochs, so a student sees every example often enough to settle)."""
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


@dataclass(frozen=True)
class Setting:
    """One arm and its settings: the learning rate, the weight decay (an
    L2 penalty per student) and, for ``smooth``, the smoothing
    ``epsilon``."""

    arm: str
    lr: float = STUDY["lr"]
    weight_decay: float = 0.0
    epsilon: float = 0.0

    def __post_init__(self):
        if self.arm not in TRAINED:
            raise ValueError(
                f"unknown arm {self.arm!r}; settings train one of {TRAINED}"
            )
        if not self.lr > 0 or self.weight_decay < 0:
            raise ValueError("need lr > 0 and weight_decay >= 0")
        if (self.arm == "smooth") != (self.epsilon > 0):
            raise ValueError("epsilon > 0 goes with 'smooth', and only it")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class ArmResult:
    """One arm over seeds: its setting, per-seed test accuracy, which test
    items each seed got right (``test_correct[seed]``, a string of 0 and
    1), agreement with the teacher, the validation curves
    (``val_accuracy[point][seed]``) and the trained students."""

    arm: str
    setting: dict
    seeds: list[int]
    test_accuracy: list[float]
    test_correct: list[str]
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


def _check_inputs(splits, train_logits, test_logits) -> None:
    check_tensor(train_logits, "train_logits", ndim=2, floating=True)
    check_tensor(test_logits, "test_logits", ndim=2, floating=True)
    sizes = (len(train_logits), len(test_logits))
    if sizes != (len(splits.x_train), len(splits.x_test)):
        raise ValueError(
            "need one row of teacher logits per training input and per "
            "test input"
        )


def _train(model, splits, targets, seeds, *, epochs, lr, loss_fn, **kw):
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
        **kw,
    )


def _targets(setting, splits, train_logits):
    """``(labels, target distributions or None)`` of one setting."""
    y, classes = splits.y_train, train_logits.shape[1]
    temperature = STUDY["temperature"]
    if setting.arm == "scratch":
        return y, None
    if setting.arm == "pseudo":
        return train_logits.argmax(1), None
    if setting.arm == "smooth":
        return y, smoothed_labels(y, classes, setting.epsilon)
    if setting.arm == "class_average":
        return y, class_average_targets(train_logits, y, temperature)
    return y, torch.softmax(train_logits / temperature, dim=-1)


def _soft_loss(logits, labels, targets):
    """The arms' loss with target distributions (STUDY's T and alpha)."""
    return target_loss(
        logits, targets, labels, STUDY["temperature"], STUDY["alpha"]
    )


def score_group(model, history, group, seeds, splits, test_logits, epochs):
    """One :class:`ArmResult` per setting of a trained ``group`` (a list of
    :class:`Setting`, or of dicts with an ``"arm"``), scored on the test
    set; each setting's seeds are consecutive models of ``model``."""
    logits = grouped_logits(
        model, splits.x_test, lengths=splits.lengths_test
    )
    correct = logits.argmax(-1) == splits.y_test
    students = model.to_students()
    slopes = [None] * model.models
    if len(history.val_epochs) > 1:
        slopes = history.final_slope()
    updates = epochs * math.ceil(len(splits.x_train) / STUDY["batch_size"])
    out, k = [], len(seeds)
    for g, setting in enumerate(group):
        part = slice(g * k, (g + 1) * k)
        if not isinstance(setting, dict):
            setting = setting.as_dict()
        out.append(
            ArmResult(
                setting["arm"],
                setting,
                list(seeds),
                correct[part].float().mean(1).tolist(),
                [
                    "".join("01"[int(c)] for c in row)
                    for row in correct[part]
                ],
                [agreement(row, test_logits) for row in logits[part]],
                history.val_epochs,
                [point[part] for point in history.val_accuracy],
                slopes[part],
                epochs,
                updates,
                history.seconds,
                GroupedTCNClassifier.from_students(students[part]),
            )
        )
    return out


def _train_group(group, splits, train_logits, seeds, epochs, student):
    """Train every setting of ``group`` (all at one learning rate) over
    ``seeds`` as one grouped network, each seed of each setting (in that
    order) its own model."""
    every = [s for s in group for _ in seeds]
    prepared = {s: _targets(s, splits, train_logits) for s in group}
    targets = {"labels": torch.stack([prepared[s][0] for s in every])}
    given = [t for _, t in prepared.values() if t is not None]
    if given:
        blank = torch.zeros_like(given[0])
        rows = [prepared[s][1] for s in every]
        targets["targets"] = torch.stack(
            [blank if t is None else t for t in rows]
        )
    order = list(seeds) * len(group)
    model = seeded_students(
        order, splits.num_features, train_logits.shape[1], **student
    )
    history = _train(
        model,
        splits,
        targets,
        order,
        lr=group[0].lr,
        loss_fn=[
            hard_label_loss if prepared[s][1] is None else _soft_loss
            for s in every
        ],
        weight_decay=[s.weight_decay for s in every],
        epochs=epochs,
    )
    return model, history


def train_settings(
    splits: SequenceSplits,
    train_logits: torch.Tensor,
    test_logits: torch.Tensor,
    seeds: list[int],
    settings: list[Setting],
    *,
    channels: list[int] | None = None,
    kernel_size: int | None = None,
    epochs: int | None = None,
) -> dict[Setting, ArmResult]:
    """Train every setting over ``seeds`` with the budget of :data:`STUDY`
    and score it on the test set; the settings that share a learning rate
    train together as one grouped network. ``train_logits`` /
    ``test_logits``: the teacher's logits on the training and test inputs
    (the soft labels, and the agreement reported). ``channels``,
    ``kernel_size``: see :func:`make_student`; ``epochs`` defaults to
    :func:`budget_epochs` of the training set."""
    _check_seeds(seeds)
    _check_inputs(splits, train_logits, test_logits)
    settings = list(dict.fromkeys(settings))
    if not settings or not all(isinstance(s, Setting) for s in settings):
        raise TypeError("settings must be a non-empty list of Setting")
    if epochs is None:
        epochs = budget_epochs(len(splits.x_train))
    student = {"channels": channels, "kernel_size": kernel_size}
    results = {}
    for lr in dict.fromkeys(s.lr for s in settings):
        group = [s for s in settings if s.lr == lr]
        model, history = _train_group(
            group, splits, train_logits, seeds, epochs, student
        )
        scored = score_group(
            model, history, group, seeds, splits, test_logits, epochs
        )
        results |= dict(zip(group, scored))
    return {s: results[s] for s in settings}


def continue_arm(
    arm: str,
    base: ArmResult,
    splits: SequenceSplits,
    train_logits: torch.Tensor,
    test_logits: torch.Tensor,
) -> ArmResult:
    """One of the :data:`CONTINUED` arms: ``base``'s students trained for
    a further ``finetune_share`` of its epochs at ``finetune_lr_factor``
    times its learning rate (with its weight decay), on the true labels or
    on the soft labels."""
    if arm not in CONTINUED:
        raise ValueError(f"arm must be one of {tuple(CONTINUED)}")
    _check_inputs(splits, train_logits, test_logits)
    setting = Setting(**base.setting)
    epochs = max(1, round(STUDY["finetune_share"] * base.epochs))
    lr = STUDY["finetune_lr_factor"] * setting.lr
    targets = {"labels": splits.y_train}
    loss = hard_label_loss
    if CONTINUED[arm][1] == "soft":
        targets["targets"] = torch.softmax(
            train_logits / STUDY["temperature"], -1
        )
        loss = _soft_loss
    model = copy.deepcopy(base.model)
    history = _train(
        model,
        splits,
        targets,
        base.seeds,
        epochs=epochs,
        lr=lr,
        loss_fn=loss,
        weight_decay=setting.weight_decay,
    )
    continued = replace(setting, lr=lr)
    (result,) = score_group(
        model, history, [continued], base.seeds, splits, test_logits, epochs
    )
    result.arm = arm
    return result


def _check_arms(arms) -> None:
    unknown = set(arms) - set(ARMS)
    if unknown:
        raise ValueError(
            f"unknown arms {sorted(unknown)}; choose from {ARMS}"
        )
    for extra, (base, _) in CONTINUED.items():
        if extra in arms and base not in arms:
            raise ValueError(
                f"the {extra!r} arm continues the {base!r} arm: ask for "
                "both"
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
    weight_decay: float | dict = 0.0,
    epochs: int | None = None,
) -> dict[str, ArmResult]:
    """Train the requested ``arms`` (see :data:`ARMS`) over ``seeds`` and
    score them on the test set (:func:`train_settings`, then
    :func:`continue_arm`). ``lr`` and ``weight_decay`` are one value or one
    per arm; ``smooth`` smooths by ``epsilon = 0.4``. When the teacher's
    arg-max equals the true label on every training input, ``pseudo`` is
    the same computation as ``scratch`` and is not run twice
    (``same_as``)."""
    _check_arms(arms)
    _check_inputs(splits, train_logits, test_logits)

    def pick(value, arm):
        return value[arm] if isinstance(value, dict) else value

    same = torch.equal(train_logits.argmax(1), splits.y_train)
    trained = [
        a
        for a in arms
        if a in TRAINED
        and not (a == "pseudo" and same and "scratch" in arms)
    ]
    settings = {
        a: Setting(
            a,
            pick(lr, a),
            pick(weight_decay, a),
            0.4 if a == "smooth" else 0.0,
        )
        for a in trained
    }
    found = train_settings(
        splits,
        train_logits,
        test_logits,
        seeds,
        list(settings.values()),
        channels=channels,
        kernel_size=kernel_size,
        epochs=epochs,
    )
    results = {a: found[s] for a, s in settings.items()}
    if "pseudo" in arms and "pseudo" not in results:
        results["pseudo"] = replace(
            results["scratch"], arm="pseudo", same_as="scratch"
        )
    for extra in (a for a in arms if a in CONTINUED):
        results[extra] = continue_arm(
            extra,
            results[CONTINUED[extra][0]],
            splits,
            train_logits,
            test_logits,
        )
    return {arm: results[arm] for arm in arms}


def stratified_label_mask(
    labels: torch.Tensor, fraction: float, seed: int
) -> torch.Tensor:
    """A boolean mask ``(n,)`` keeping ``round(fraction × count)`` labels of
    every class (at least one), chosen with ``seed``: stratified, so even at
    5 % every class keeps some labelled examples (a plain random 5 % of
    1,169 digits could miss a class by chance)."""
    check_tensor(labels, "labels", ndim=1, floating=False)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise TypeError(
            f"fraction must be a number, got {type(fraction).__name__}"
        )
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
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
