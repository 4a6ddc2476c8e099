"""The distillation experiments: comparisons of the four arms (hard labels,
pseudo-labels, soft labels, soft labels then fine-tuning) over seeds, the
runners that store their per-seed results, and the helpers that read,
tabulate and plot them.

Converged, five-seed comparisons are too slow for a chapter's three minutes,
so they run once from the command line and write every seed's raw result to
a JSON file under ``kd_lib/results/``, which the chapters load and plot::

    python -m kd_lib.experiments all            # or one name at a time:
    python -m kd_lib.experiments lr_search data_fraction teachers
    python -m kd_lib.experiments vowels omitted_class
    python -m kd_lib.experiments forecasting    # the El Niño forecaster

Each chapter re-runs a representative subset live and asserts that it lands
inside the stored spread. Every arm is trained by :func:`run_arms`, with the
seeds of one arm trained together by :mod:`kd_lib.multiseed`.
"""

from __future__ import annotations

import copy
import json
import math
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

from .benchmark import (
    STUDY_SEEDS,
    STUDY_SETTINGS,
    input_gradient_by_step,
    recall_loaders,
    study_models,
    study_run,
)
from .calibration import agreement
from .comparison import paired_difference, verdict
from .data import (
    SequenceSplits,
    digits_loaders,
    digits_splits,
    vowels_splits,
)
from .distill import distillation_loss, teacher_logits
from .forecasting import elnino_splits, forecast_study
from .memory_tasks import (
    MEMORY_SETUP,
    MEMORY_STUDY,
    MEMORY_TASKS,
    matched_lstm_hidden,
    memory_run,
    memory_units,
)
from .multiseed import (
    GroupedTCNClassifier,
    grouped_logits,
    hard_label_loss,
    train_grouped,
)
from .pipeline import make_student, mean_and_spread
from .plotting import PALETTE
from .pretrained import (
    load_digits_teacher,
    load_forecast_teacher,
    load_vowels_teacher,
)
from .report import Table
from .utils import check_int, check_tensor, count_parameters, set_seed

__all__ = [
    "stratified_label_mask",
    "gap_closed",
    "format_mean_spread",
    "SEEDS",
    "STUDY",
    "ARMS",
    "budget_epochs",
    "seeded_students",
    "ArmResult",
    "run_arms",
    "subset",
    "ensemble_logits",
    "omitted_class_accuracy",
    "best_bias",
    "load_results",
    "best_lrs",
    "tuned_lrs",
    "tuned_lr",
    "EXPERIMENTS",
    "VOWELS_STUDENT",
    "run_forecasting",
    "arm_values",
    "arms_table",
    "fraction_table",
    "finetune_table",
    "verdict_table",
    "plot_paired_gain",
    "plot_validation_curves",
    "plot_fraction_study",
    "Table",
]


def _check_fraction(fraction) -> None:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise TypeError(
            f"fraction must be a number, got {type(fraction).__name__}"
        )
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")


def _check_seeds(seeds) -> None:
    if not seeds:
        raise ValueError("seeds must name at least one seed")


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
        mask[idx[torch.randperm(len(idx), generator=generator)[:keep]]] = (
            True
        )
    return mask


def gap_closed(distilled: float, scratch: float, teacher: float) -> float:
    """Share of the teacher–student gap that distillation closes:
    ``(distilled − scratch) / (teacher − scratch)``, from accuracies.

    1 means the distilled student matches the teacher, 0 that distillation
    did nothing, a negative value that it hurt. Hinton et al.'s MNIST net:
    test errors 146 (alone) and 74 (distilled) against the teacher's 67 give
    0.91.
    """
    for name, value in (
        ("distilled", distilled),
        ("scratch", scratch),
        ("teacher", teacher),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(
                f"{name} must be a number (an accuracy), got "
                f"{type(value).__name__}"
            )
    if teacher <= scratch:
        raise ValueError(
            f"no gap to close: the teacher ({teacher}) is not better than "
            "the "
            f"student from scratch ({scratch})"
        )
    return (distilled - scratch) / (teacher - scratch)


def format_mean_spread(
    values, scale: float = 100.0, digits: int = 1
) -> str:
    """``"mean ± spread"`` of ``values`` × ``scale`` (percent by
    default)."""
    mean, spread = mean_and_spread(values)
    return f"{scale * mean:.{digits}f} ± {scale * spread:.{digits}f}"


# ======================================================= stored experiments

RESULTS_DIR = Path(__file__).parent / "results"

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


def seeded_students(
    seeds: list[int],
    input_size: int,
    num_classes: int,
    channels: list[int] | None = None,
    kernel_size: int | None = None,
) -> GroupedTCNClassifier:
    """One student per seed, each built right after ``set_seed(seed)`` (so
    its initial weights are those of :func:`kd_lib.pipeline.make_student`
    with that seed), grouped to train together."""
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
    ``splits.x_train``, every seed of an arm at once
    (:mod:`kd_lib.multiseed`), and score them on the test set.

    ``train_logits`` / ``test_logits``: the teacher's logits on the training
    and test inputs. The students (``channels`` wide with ``kernel_size``,
    by default :data:`kd_lib.pipeline.STUDENT`) take the data's features
    and the teacher's classes; sequences of different lengths are read
    with the splits' lengths. ``lr`` is one learning rate or one per arm;
    ``epochs`` defaults to :func:`budget_epochs` of the training set. When
    the teacher's arg-max equals the true label on every training input,
    ``pseudo`` is the same computation as ``scratch`` and is not run twice
    (``same_as="scratch"``).
    """
    _check_seeds(seeds)
    unknown = set(arms) - set(ARMS)
    if unknown:
        raise ValueError(
            f"unknown arms {sorted(unknown)}; choose from {ARMS}"
        )
    for extra, base in (
        ("finetuned", "soft"),
        ("scratch_longer", "scratch"),
    ):
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
    lrs = lr if isinstance(lr, dict) else {arm: lr for arm in ARMS}
    n, features = len(splits.x_train), splits.num_features
    classes = train_logits.shape[1]
    epochs = budget_epochs(n) if epochs is None else epochs
    val_every = max(1, epochs // STUDY["val_points"])
    pseudo = train_logits.argmax(1)
    plans = {
        "scratch": {"labels": splits.y_train},
        "pseudo": {"labels": pseudo},
        "soft": {"labels": splits.y_train, "teacher_logits": train_logits},
    }
    results: dict[str, ArmResult] = {}

    def finish(arm, model, history, run_epochs):
        logits = grouped_logits(
            model, splits.x_test, lengths=splits.lengths_test
        )
        results[arm] = ArmResult(
            arm,
            list(seeds),
            (logits.argmax(-1) == splits.y_test).float().mean(1).tolist(),
            [agreement(row, test_logits) for row in logits],
            history.val_epochs,
            history.val_accuracy,
            history.final_slope()
            if len(history.val_epochs) > 1
            else [None] * len(seeds),
            run_epochs,
            run_epochs * math.ceil(n / STUDY["batch_size"]),
            history.seconds,
            model,
        )

    for arm in arms:
        if arm in ("finetuned", "scratch_longer"):
            continue
        if (
            arm == "pseudo"
            and torch.equal(pseudo, splits.y_train)
            and "scratch" in results
        ):
            results["pseudo"] = replace(
                results["scratch"], arm="pseudo", same_as="scratch"
            )
            continue
        model = seeded_students(
            seeds, features, classes, channels, kernel_size
        )
        loss = (
            _soft_loss(temperature, alpha)
            if arm == "soft"
            else hard_label_loss
        )
        history = train_grouped(
            model,
            splits.x_train,
            plans[arm],
            seeds,
            epochs=epochs,
            lr=lrs[arm],
            loss_fn=loss,
            batch_size=STUDY["batch_size"],
            x_val=splits.x_val,
            y_val=splits.y_val,
            val_every=val_every,
            lengths=splits.lengths_train,
            val_lengths=splits.lengths_val,
        )
        finish(arm, model, history, epochs)
    tune_epochs = max(1, round(STUDY["finetune_share"] * epochs))
    for extra, base in (
        ("finetuned", "soft"),
        ("scratch_longer", "scratch"),
    ):
        if extra not in arms:
            continue
        model = copy.deepcopy(results[base].model)
        history = train_grouped(
            model,
            splits.x_train,
            {"labels": splits.y_train},
            seeds,
            epochs=tune_epochs,
            lr=STUDY["finetune_lr"],
            loss_fn=hard_label_loss,
            batch_size=STUDY["batch_size"],
            x_val=splits.x_val,
            y_val=splits.y_val,
            val_every=max(1, tune_epochs // STUDY["val_points"]),
            lengths=splits.lengths_train,
            val_lengths=splits.lengths_val,
        )
        finish(extra, model, history, tune_epochs)
    return {arm: results[arm] for arm in arms}


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


def ensemble_logits(
    teachers: list[nn.Module],
    x: torch.Tensor,
    lengths: torch.Tensor | None = None,
) -> torch.Tensor:
    """An ensemble's logits: the mean of its members' log-probabilities (the
    normalised geometric mean of their distributions), ``(n, classes)``.
    ``lengths``: those of right-padded sequences (see
    :func:`kd_lib.teacher_logits`)."""
    if not teachers:
        raise ValueError("teachers must hold at least one model")
    return torch.stack(
        [
            torch.log_softmax(teacher_logits(t, x, lengths=lengths), -1)
            for t in teachers
        ]
    ).mean(0)


def omitted_class_accuracy(
    logits: torch.Tensor,
    labels: torch.Tensor,
    omitted: int,
    bias: float = 0.0,
) -> dict[str, float]:
    """Accuracy on the ``omitted`` class's inputs and overall, after adding
    ``bias`` to that class's logit (Hinton et al.'s correction for a class
    the student never saw). ``logits`` ``(n, classes)`` or
    ``(models, n, classes)``."""
    check_tensor(logits, "logits", ndim=(2, 3), floating=True)
    shifted = logits.clone()
    shifted[..., omitted] += bias
    correct = (shifted.argmax(-1) == labels).float()
    return {
        "omitted": correct[..., labels == omitted].mean(-1).tolist(),
        "overall": correct.mean(-1).tolist(),
    }


def best_bias(
    val_logits: torch.Tensor,
    val_labels: torch.Tensor,
    omitted: int,
    biases=tuple(b / 2 for b in range(0, 21)),
) -> float:
    """The bias for the omitted class's logit that maximises validation
    accuracy (ties: the smallest). ``val_logits`` ``(n, classes)``."""
    check_tensor(val_logits, "val_logits", ndim=2, floating=True)
    scores = [
        omitted_class_accuracy(val_logits, val_labels, omitted, b)[
            "overall"
        ]
        for b in biases
    ]
    return biases[max(range(len(biases)), key=lambda i: (scores[i], -i))]


def _teacher_logits_for(splits: SequenceSplits, teachers: list[nn.Module]):
    return ensemble_logits(
        teachers, splits.x_train, splits.lengths_train
    ), ensemble_logits(teachers, splits.x_test, splits.lengths_test)


def _save(name: str, payload: dict) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {
        "experiment": name,
        "command": f"python -m kd_lib.experiments {name}",
        "torch": torch.__version__,
        "study": STUDY,
        **payload,
    }
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def load_results(name: str) -> dict:
    """The stored results of experiment ``name`` (see
    :data:`EXPERIMENTS`)."""
    if name not in EXPERIMENTS:
        raise ValueError(
            f"unknown experiment {name!r}; stored ones are "
            f"{sorted(EXPERIMENTS)}"
        )
    path = RESULTS_DIR / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no stored results at {path}; run python -m "
            f"kd_lib.experiments {name}"
        )
    return json.loads(path.read_text())


def best_lrs(records: list[dict]) -> dict[str, float]:
    """Per arm, the learning rate with the best mean final validation
    accuracy in the search ``records`` (over their seeds and training-set
    sizes). Only ``scratch`` and ``soft`` are searched: ``pseudo`` and
    ``scratch_longer`` train on hard labels and take ``scratch``'s rate,
    ``finetuned`` takes ``soft``'s."""
    lrs = sorted({r["lr"] for r in records})
    best = {}
    for arm in ("scratch", "soft"):
        score = {
            lr: statistics.fmean(
                v
                for r in records
                if r["arm"] == arm and r["lr"] == lr
                for v in r["val_accuracy"][-1]
            )
            for lr in lrs
        }
        best[arm] = max(lrs, key=lambda lr: score[lr])
    return {
        "scratch": best["scratch"],
        "pseudo": best["scratch"],
        "soft": best["soft"],
        "finetuned": best["soft"],
        "scratch_longer": best["scratch"],
    }


def tuned_lrs() -> dict[str, float]:
    """The learning rate of every arm on the digits, as ``lr_search`` picked
    them on validation data (see :func:`best_lrs`)."""
    return best_lrs(load_results("lr_search")["records"])


def tuned_lr(arm: str) -> float:
    """:func:`tuned_lrs` for one arm."""
    return tuned_lrs()[arm]


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


def run_data_fraction(
    seeds=SEEDS, fractions=(0.03, 0.05, 0.1, 0.25, 0.5, 1.0)
) -> dict:
    """The four arms on a stratified share of the digits, soft labels
    on those inputs only."""
    teacher, _ = load_digits_teacher()
    splits = digits_splits()
    lr = tuned_lrs()
    records = []
    for fraction in fractions:
        part, _ = subset(splits, fraction)
        train_z, test_z = _teacher_logits_for(part, [teacher])
        records += _records(
            run_arms(part, train_z, test_z, list(seeds), lr=lr),
            fraction=fraction,
            n_train=len(part.y_train),
        )
    return {"seeds": list(seeds), "lr": lr, "records": records}


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


VOWELS_STUDENT = [16, 16, 16, 16]
"""The Japanese Vowels student: four levels of 16 channels, receptive
field 61 > 29 frames."""


def _search_lr(
    splits, train_z, test_z, seeds, lrs, channels=None
) -> tuple[dict, list[dict]]:
    """The ``scratch`` and ``soft`` arms at each learning rate over
    ``seeds``: the rates :func:`best_lrs` picks per arm, and the records of
    the search."""
    records = []
    for lr in lrs:
        results = run_arms(
            splits,
            train_z,
            test_z,
            list(seeds),
            arms=("scratch", "soft"),
            lr=lr,
            channels=channels,
        )
        records += _records(results, lr=lr)
    return best_lrs(records), records


def run_vowels(
    seeds=SEEDS, search_seeds=(0, 1, 2), lrs=(1e-3, 3e-3, 1e-2)
) -> dict:
    """The four arms on Japanese Vowels (12 channels, 9 speakers, 225
    training utterances), each at the learning rate a search on validation
    data picked."""
    teacher, meta = load_vowels_teacher()
    splits = vowels_splits()
    train_z, test_z = _teacher_logits_for(splits, [teacher])
    lr, search = _search_lr(
        splits, train_z, test_z, search_seeds, lrs, channels=VOWELS_STUDENT
    )
    results = run_arms(
        splits, train_z, test_z, list(seeds), channels=VOWELS_STUDENT, lr=lr
    )
    return {
        "seeds": list(seeds),
        "lr": lr,
        "lr_search": search,
        "teacher_test_accuracy": meta["test_accuracy"],
        "teacher_train_accuracy": (train_z.argmax(1) == splits.y_train)
        .float()
        .mean()
        .item(),
        "records": _records(results),
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


def run_forecasting(seeds=SEEDS, search_seeds=(0, 1, 2)) -> dict:
    """The forecasting chapter's comparison: an LSTM forecaster of El Niño
    distilled into a TCN (see :func:`kd_lib.forecasting.forecast_study`),
    with the committed teacher."""
    teacher, meta = load_forecast_teacher()
    study = forecast_study(
        elnino_splits(), teacher, list(seeds), list(search_seeds)
    )
    study["teacher"]["checkpoint"] = meta
    return study


# ------------------------------------- LSTM versus TCN (chapters 2, 3)


def run_lstm_vs_tcn(seeds=STUDY_SEEDS) -> dict:
    """The chapter's accuracy comparisons, tuned and converged: runs
    ``python -m kd_lib.experiments lstm_vs_tcn``.

    For every task (sequential digits, permuted digits, recall at each
    distance) and model, the learning rate with the best validation
    accuracy on the first seed is kept and the other seeds are trained at
    it. Also stores, per digits seed, the input-gradient profile of each
    model at initialisation and after training (step 0 over step 63).
    """
    settings = STUDY_SETTINGS
    tasks = [("digits", p, None) for p in (False, True)] + [
        ("recall", False, d) for d in settings["recall_distances"]
    ]
    records, gradients = [], []
    for task, permuted, distance in tasks:
        builders = study_models(task)
        lrs = settings[f"{task}_lrs"]
        key = {"task": task, "permuted": permuted, "distance": distance}

        def loaders(seed, permuted=permuted, distance=distance, task=task):
            if task == "digits":
                return digits_loaders(permuted=permuted, seed=seed)
            return recall_loaders(distance, seed=seed)

        for name, build in builders.items():
            search = {}
            for lr in lrs:
                model, record = study_run(
                    build, loaders(seeds[0]), seed=seeds[0], lr=lr
                )
                search[lr] = (model, record)
                records.append(
                    {**key, "model": name, "stage": "search", **record}
                )
            best = max(
                lrs, key=lambda lr: max(search[lr][1]["val_accuracy"])
            )
            runs = [search[best]] + [
                study_run(build, loaders(seed), seed=seed, lr=best)
                for seed in seeds[1:]
            ]
            for model, record in runs:
                records.append(
                    {**key, "model": name, "stage": "final", **record}
                )
                if task == "digits" and not permuted:
                    x = digits_splits().x_test[:256]
                    y = digits_splits().y_test[:256]
                    set_seed(record["seed"])
                    fresh = build()
                    for stage, m in (
                        ("initialised", fresh),
                        ("trained", model),
                    ):
                        g = input_gradient_by_step(m, x, y)
                        gradients.append(
                            {
                                "model": name,
                                "seed": record["seed"],
                                "stage": stage,
                                "first_over_last": float(g[0] / g[-1]),
                            }
                        )
            print(
                f"{task} {permuted} {distance} {name}: lr {best}",
                flush=True,
            )
    return {
        "seeds": list(seeds),
        "settings": {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in settings.items()
        },
        "records": records,
        "gradients": gradients,
    }


def _memory_unit(args: tuple) -> dict:
    task, model, lr, seed, distance, updates = args
    return memory_run(
        task,
        model,
        lr,
        seed,
        updates=updates,
        distance=distance,
        batch_size=MEMORY_STUDY["batch_size"],
        val_points=MEMORY_STUDY["val_points"],
    )


def run_memory_tasks(units: list[tuple] | None = None, jobs=None) -> dict:
    """Run :func:`memory_units` (by default the whole study) and return
    their records. ``jobs`` processes run them side by side (default: the
    environment variable ``KD_LIB_JOBS``, else 1); every run seeds itself,
    so the records do not depend on ``jobs``."""
    import os

    if units is None:
        units = memory_units()
        for task, lrs in MEMORY_STUDY["extra_lrs"].items():
            units += memory_units(tasks=[task], lrs=lrs)
        units += memory_units(
            tasks=["copy"],
            models=["LSTM"],
            lrs=MEMORY_STUDY["long_lrs"],
            updates=MEMORY_STUDY["long_updates"],
        )
    units = list(units)
    jobs = int(os.environ.get("KD_LIB_JOBS", "1")) if jobs is None else jobs
    check_int(jobs, "jobs")
    if jobs == 1:
        records = [_memory_unit(u) for u in units]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        os.environ.setdefault("KD_LIB_THREADS", "1")
        with ProcessPoolExecutor(
            jobs, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            records = list(pool.map(_memory_unit, units, chunksize=1))
    return {
        "seeds": sorted({u[3] for u in units}),
        "setup": MEMORY_SETUP,
        "memory_study": MEMORY_STUDY,
        "hidden": {t: matched_lstm_hidden(t) for t in MEMORY_TASKS},
        "threads": torch.get_num_threads(),
        "jobs": jobs,
        "records": records,
    }


EXPERIMENTS = {
    "lr_search": run_lr_search,
    "data_fraction": run_data_fraction,
    "teachers": run_teachers,
    "vowels": run_vowels,
    "omitted_class": run_omitted_class,
    "forecasting": run_forecasting,
    "lstm_vs_tcn": run_lstm_vs_tcn,
    "memory_tasks": run_memory_tasks,
}
"""The stored experiments, in the order ``all`` runs them (``lr_search``
first: the others train at the learning rates it picks)."""


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m kd_lib.experiments",
        description=(
            "Run a stored experiment and write kd_lib/results/NAME.json."
        ),
    )
    parser.add_argument("names", nargs="+", choices=[*EXPERIMENTS, "all"])
    args = parser.parse_args(argv)
    for name in list(EXPERIMENTS) if "all" in args.names else args.names:
        start = time.perf_counter()
        payload = EXPERIMENTS[name]()
        payload["seconds"] = time.perf_counter() - start
        print(
            f"{name}: {payload['seconds']:.0f} s -> {_save(name, payload)}",
            flush=True,
        )


# ---------------------------------------------------------- reading results


def arm_values(
    records: list[dict], arm: str, metric: str = "test_accuracy", **where
) -> list[float]:
    """Per-seed values of ``metric`` for ``arm`` from stored records
    matching ``where`` (for example ``fraction=0.1``); exactly one record
    must match."""
    matches = [
        r
        for r in records
        if r["arm"] == arm and all(r.get(k) == v for k, v in where.items())
    ]
    if len(matches) != 1:
        raise KeyError(
            f"{len(matches)} records match arm={arm!r}, {where}; expected "
            "exactly one"
        )
    return list(matches[0][metric])


def plot_paired_gain(
    xs: list[float],
    differences: list,
    ax=None,
    label: str | None = None,
    color: str | None = None,
    percent: bool = True,
):
    """Mean paired difference (markers) and its confidence interval
    (bars) against ``xs``."""
    if len(xs) != len(differences) or not xs:
        raise ValueError("need one PairedDifference per x value")
    if ax is None:
        _, ax = plt.subplots()
    scale = 100.0 if percent else 1.0
    means = [scale * d.mean for d in differences]
    below = [scale * (d.mean - d.low) for d in differences]
    above = [scale * (d.high - d.mean) for d in differences]
    ax.errorbar(
        xs,
        means,
        yerr=[below, above],
        marker="o",
        capsize=4,
        label=label,
        color=color or PALETTE["distilled"],
    )
    ax.axhline(0.0, color="black", linewidth=0.8)
    return ax


def plot_validation_curves(
    record: dict,
    ax=None,
    label: str | None = None,
    color: str | None = None,
):
    """Validation accuracy (%) of a stored arm against the epoch: the mean
    over seeds as a line, the range over seeds as a band."""
    if ax is None:
        _, ax = plt.subplots()
    values = torch.tensor(record["val_accuracy"]) * 100  # (points, seeds)
    ax.plot(record["val_epochs"], values.mean(1), color=color, label=label)
    ax.fill_between(
        record["val_epochs"],
        values.min(1).values,
        values.max(1).values,
        color=color,
        alpha=0.2,
        linewidth=0,
    )
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    return ax


def arms_table(
    accuracies: dict[str, list[float]],
    teacher_accuracy: float | None = None,
    baseline: str = "scratch",
    caption: str | None = None,
) -> Table:
    """The book's comparison table: per arm, test accuracy (mean ± sd over
    seeds), the paired difference from ``baseline`` with its 95 % interval,
    and the verdict :func:`kd_lib.comparison.verdict` words from that
    interval.

    ``accuracies`` maps each arm to its per-seed test accuracies (same seed
    order for every arm). An arm whose values equal the baseline's seed for
    seed is marked identical (for example pseudo-labels that equal the true
    labels).
    """
    if baseline not in accuracies:
        raise KeyError(
            f"the baseline {baseline!r} is not among the arms "
            f"{list(accuracies)}"
        )
    rows = []
    if teacher_accuracy is not None:
        rows.append(
            [
                "LSTM teacher (n = 1)",
                f"{100 * teacher_accuracy:.1f}",
                "",
                "",
            ]
        )
    for arm, values in accuracies.items():
        if arm == baseline:
            rows.append([arm, format_mean_spread(values), "(baseline)", ""])
        elif list(values) == list(accuracies[baseline]):
            rows.append(
                [
                    arm,
                    format_mean_spread(values),
                    f"identical to {baseline}",
                    "",
                ]
            )
        else:
            d = paired_difference(accuracies[baseline], values)
            rows.append(
                [arm, format_mean_spread(values), d.format(), verdict(d)]
            )
    n = len(accuracies[baseline])
    return Table(
        [
            "arm",
            f"test accuracy (%), mean ± sd, n = {n}",
            f"minus {baseline}",
            "verdict",
        ],
        rows,
        caption=caption,
    )


def fraction_table(records: list[dict], fractions: list[float]) -> Table:
    """Per share of the training set: its size and epochs, each arm's
    accuracy (mean ± sd), and the paired gain of soft over hard labels with
    its verdict."""
    rows = []
    for f in fractions:
        get = {
            arm: arm_values(records, arm, fraction=f)
            for arm in ("scratch", "soft", "finetuned")
        }
        first = next(
            r for r in records if r["fraction"] == f and r["arm"] == "soft"
        )
        gain = paired_difference(get["scratch"], get["soft"])
        rows.append(
            [
                f"{100 * f:g} %",
                first["n_train"],
                first["epochs"],
                *(
                    format_mean_spread(get[a])
                    for a in ("scratch", "soft", "finetuned")
                ),
                gain.format(unit=""),
                verdict(gain),
            ]
        )
    return Table(
        [
            "share",
            "digits",
            "epochs",
            "hard labels (%)",
            "soft (%)",
            "soft + fine-tuned (%)",
            "soft minus hard (points)",
            "verdict",
        ],
        rows,
    )


def plot_fraction_study(
    records: list[dict], fractions: list[float], teacher_accuracy: float
):
    """Left: test accuracy of each arm against the share of the training
    set; right: the paired gain of soft over hard labels with its 95 %
    interval."""
    fig, (ax_acc, ax_gain) = plt.subplots(1, 2, figsize=(9, 3.6))
    xs = [100 * f for f in fractions]
    for arm, key in (
        ("scratch", "scratch"),
        ("soft", "distilled"),
        ("finetuned", "finetuned"),
    ):
        values = (
            torch.tensor(
                [arm_values(records, arm, fraction=f) for f in fractions]
            )
            * 100
        )
        ax_acc.errorbar(
            xs,
            values.mean(1),
            yerr=values.std(1),
            marker="o",
            capsize=3,
            color=PALETTE[key],
            label="hard labels" if arm == "scratch" else arm,
        )
    ax_acc.axhline(
        100 * teacher_accuracy,
        color=PALETTE["teacher"],
        linestyle="--",
        label="teacher",
    )
    ax_acc.set_ylabel("test accuracy (%)")
    ax_acc.legend(loc="lower right")
    gains = [
        paired_difference(
            arm_values(records, "scratch", fraction=f),
            arm_values(records, "soft", fraction=f),
        )
        for f in fractions
    ]
    plot_paired_gain(xs, gains, ax=ax_gain)
    ax_gain.set_ylabel("soft minus hard labels (points)")
    for ax in (ax_acc, ax_gain):
        ax.set_xscale("log")
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
        ax.minorticks_off()
        ax.set_xlabel("share of the training digits (%)")
    return fig


def finetune_table(
    records: list[dict], fractions: list[float]
) -> tuple[Table, dict]:
    """Step 4 per share of the training set: fine-tuned minus soft, and
    fine-tuned minus ``scratch_longer`` (the same extra epochs on hard
    labels), with verdicts.

    Returns the table and ``{fraction: {"over_soft", "over_longer",
    "longer"}}``, the :class:`~kd_lib.comparison.PairedDifference` behind
    each cell (``longer`` is ``scratch_longer`` minus ``scratch``: what the
    extra epochs alone gave).
    """
    rows, comparisons = [], {}
    for f in fractions:
        get = {arm: arm_values(records, arm, fraction=f) for arm in ARMS}
        c = {
            "over_soft": paired_difference(get["soft"], get["finetuned"]),
            "over_longer": paired_difference(
                get["scratch_longer"], get["finetuned"]
            ),
            "longer": paired_difference(
                get["scratch"], get["scratch_longer"]
            ),
        }
        comparisons[f] = c
        rows.append(
            [
                f"{100 * f:g} %",
                c["over_soft"].format(unit=""),
                verdict(c["over_soft"]),
                c["over_longer"].format(unit=""),
                verdict(c["over_longer"]),
            ]
        )
    return Table(
        [
            "share of the digits",
            "fine-tuned minus soft (points)",
            "verdict",
            "fine-tuned minus scratch_longer (points)",
            "verdict",
        ],
        rows,
    ), comparisons


def verdict_table(
    comparisons: list[tuple[str, int, float, list[float], list[float]]],
    caption: str | None = None,
) -> tuple[Table, dict[str, int]]:
    """A verdict per comparison, computed from its paired interval.

    Each comparison is ``(setting, training inputs, teacher accuracy, hard,
    soft)`` with ``hard`` and ``soft`` the per-seed accuracies of the two
    students. The table shows the teacher's headroom over the hard-label
    student, the paired difference soft minus hard and its verdict; the
    second value counts verdicts.
    """
    rows, tally = [], {}
    for setting, n_train, teacher_accuracy, hard, soft in comparisons:
        d = paired_difference(hard, soft)
        headroom = 100 * (teacher_accuracy - statistics.fmean(hard))
        rows.append(
            [
                setting,
                n_train,
                f"{headroom:+.1f}",
                d.format(unit=""),
                verdict(d),
            ]
        )
        tally[verdict(d)] = tally.get(verdict(d), 0) + 1
    headers = [
        "setting",
        "training inputs",
        "teacher minus hard (points)",
        "soft minus hard labels (points)",
        "verdict",
    ]
    return Table(headers, rows, caption=caption), tally


if __name__ == "__main__":
    main()
