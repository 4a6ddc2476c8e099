"""The source article's four-step pipeline, as functions the chapters share.

1. train a large LSTM teacher (done once: :mod:`kd_lib.pretrained`),
2. let it produce soft labels for the training inputs,
3. train a small TCN student on them,
4. fine-tune the student on hard labels,

next to the same student trained from scratch on hard labels. The pipeline
chapter and the distillation chapters build their results tables from here.
"""

from __future__ import annotations

import copy
import statistics
import textwrap
from dataclasses import dataclass, field

import torch
from torch import nn

from .data import SequenceSplits, make_loader
from .distill import UNLABELLED, DistillationLoss, teacher_logits
from .models import TCNClassifier
from .training import History, evaluate, fine_tune, train
from .utils import Timing, measure_latency, set_seed

__all__ = [
    "STUDENT",
    "RECIPE",
    "make_student",
    "train_scratch_student",
    "train_distilled_student",
    "fine_tune_student",
    "PipelineRun",
    "run_pipeline",
    "mean_and_spread",
    "inference_latency",
    "format_table",
]

STUDENT = {"channels": [8, 8, 8, 8, 8], "kernel_size": 3}
"""The book's student: five levels of 8 channels, receptive
field 125 > 64 steps."""

RECIPE = {
    # steps 3 and from-scratch
    "epochs": 30,
    "lr": 3e-3,
    "batch_size": 64,
    # step 3's distillation loss
    "temperature": 4.0,
    "alpha": 0.9,
    # step 4
    "finetune_epochs": 5,
    "finetune_lr": 3e-4,
}
"""Training settings shared by every student, fixed before
any result was seen."""


def make_student(
    input_size: int = 1,
    num_classes: int = 10,
    channels: list[int] | None = None,
    kernel_size: int | None = None,
) -> TCNClassifier:
    """An untrained student TCN (the book's default size
    unless told otherwise)."""
    return TCNClassifier(
        input_size,
        num_classes,
        channels=STUDENT["channels"] if channels is None else channels,
        kernel_size=STUDENT["kernel_size"]
        if kernel_size is None
        else kernel_size,
    )


def _val_loader(splits: SequenceSplits):
    return make_loader(splits.x_val, splits.y_val, batch_size=256)


def train_scratch_student(
    splits: SequenceSplits,
    seed: int,
    channels: list[int] | None = None,
    epochs: int = RECIPE["epochs"],
    lr: float = RECIPE["lr"],
) -> tuple[nn.Module, History]:
    """The baseline: the student (``channels`` wide, default
    :data:`STUDENT`) trained on hard labels only. Its initial weights depend
    on ``seed`` alone."""
    set_seed(seed)
    student = make_student(channels=channels)
    loader = make_loader(
        splits.x_train,
        splits.y_train,
        batch_size=RECIPE["batch_size"],
        shuffle=True,
        seed=seed,
    )
    history = train(
        student,
        loader,
        _val_loader(splits),
        epochs=epochs,
        lr=lr,
        show_progress=False,
    )
    return student, history


def train_distilled_student(
    splits: SequenceSplits,
    soft_logits: torch.Tensor,
    seed: int,
    channels: list[int] | None = None,
    labels: torch.Tensor | None = None,
    temperature: float = RECIPE["temperature"],
    alpha: float = RECIPE["alpha"],
    epochs: int = RECIPE["epochs"],
    lr: float = RECIPE["lr"],
) -> tuple[nn.Module, History]:
    """Step 3: train the student on the teacher's logits
    for ``splits.x_train``.

    ``labels`` defaults to the true training labels; pass a copy with some
    entries set to :data:`kd_lib.UNLABELLED` to learn from soft labels alone
    there. The student (``channels`` wide) is built after seeding, so its
    initial weights depend on ``seed`` alone.
    """
    if soft_logits.shape[0] != len(splits.x_train):
        raise ValueError(
            f"need one row of teacher logits per training input: "
            f"{soft_logits.shape[0]} != {len(splits.x_train)}"
        )
    set_seed(seed)
    student = make_student(channels=channels)
    labels = splits.y_train if labels is None else labels
    loader = make_loader(
        splits.x_train,
        labels,
        soft_logits,
        batch_size=RECIPE["batch_size"],
        shuffle=True,
        seed=seed,
    )
    history = train(
        student,
        loader,
        _val_loader(splits),
        epochs=epochs,
        lr=lr,
        loss_fn=DistillationLoss(temperature, alpha),
        show_progress=False,
    )
    return student, history


def fine_tune_student(
    student: nn.Module,
    splits: SequenceSplits,
    seed: int,
    labels: torch.Tensor | None = None,
    epochs: int = RECIPE["finetune_epochs"],
    lr: float = RECIPE["finetune_lr"],
) -> tuple[nn.Module, History]:
    """Step 4: a copy of ``student`` fine-tuned on hard labels at a
    lower learning rate.

    Rows of ``labels`` marked UNLABELLED are left out, so with few labels
    the fine-tuning sees only the labelled ones. The input model is left
    untouched.
    """
    set_seed(seed)
    tuned = copy.deepcopy(student)
    labels = splits.y_train if labels is None else labels
    # a batch of only unlabelled rows has no hard loss at all
    labelled = labels != UNLABELLED
    if not labelled.any():
        raise ValueError(
            "fine-tuning needs at least one labelled training example"
        )
    loader = make_loader(
        splits.x_train[labelled],
        labels[labelled],
        batch_size=RECIPE["batch_size"],
        shuffle=True,
        seed=seed,
    )
    history = fine_tune(
        tuned,
        loader,
        _val_loader(splits),
        epochs=epochs,
        lr=lr,
        show_progress=False,
    )
    return tuned, history


@dataclass
class PipelineRun:
    """One seed of the pipeline: the three students and
    their test accuracies."""

    seed: int
    models: dict[str, nn.Module] = field(default_factory=dict)
    histories: dict[str, History] = field(default_factory=dict)
    test_accuracy: dict[str, float] = field(default_factory=dict)


def run_pipeline(
    teacher: nn.Module, splits: SequenceSplits, seeds: list[int]
) -> list[PipelineRun]:
    """Steps 2–4 for each seed, with the from-scratch baseline alongside.

    Returns one :class:`PipelineRun` per seed with students ``"scratch"``,
    ``"distilled"`` and ``"finetuned"``.
    """
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    # step 2, once: the teacher is fixed
    soft = teacher_logits(teacher, splits.x_train)
    test_loader = make_loader(splits.x_test, splits.y_test, batch_size=256)
    runs = []
    for seed in seeds:
        run = PipelineRun(seed)
        run.models["scratch"], run.histories["scratch"] = (
            train_scratch_student(splits, seed)
        )
        run.models["distilled"], run.histories["distilled"] = (
            train_distilled_student(splits, soft, seed)
        )
        run.models["finetuned"], run.histories["finetuned"] = (
            fine_tune_student(run.models["distilled"], splits, seed)
        )
        run.test_accuracy = {
            name: evaluate(m, test_loader)["accuracy"]
            for name, m in run.models.items()
        }
        runs.append(run)
    return runs


def mean_and_spread(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("need at least one value")
    return statistics.fmean(values), (
        statistics.stdev(values) if len(values) > 1 else 0.0
    )


def inference_latency(
    model: nn.Module,
    batch_size: int,
    length: int = 64,
    input_size: int = 1,
    repeats: int = 20,
) -> Timing:
    """Median CPU latency of one forward pass on a random
    ``(batch_size, length, input_size)`` batch."""
    x = torch.randn(batch_size, length, input_size)
    model = model.cpu().eval()
    return measure_latency(lambda: model(x), repeats=repeats, warmup=3)


def format_table(
    headers: list[str], rows: list[list], widths: list[int] | None = None
) -> str:
    """A plain-text table; cells longer than their column's width
    wrap onto more lines.

    ``widths`` (one per column) caps the column widths; by default each
    column is as wide as its longest cell.
    """
    if not headers:
        raise ValueError("headers must not be empty")
    for i, row in enumerate(rows):
        if len(row) != len(headers):
            raise ValueError(
                f"row {i} has {len(row)} cells, expected {len(headers)}"
            )
    cells = [[str(c) for c in headers]] + [
        [str(c) for c in row] for row in rows
    ]
    if widths is None:
        widths = [
            max(len(r[j]) for r in cells) for j in range(len(headers))
        ]
    elif len(widths) != len(headers):
        raise ValueError(
            f"widths must have {len(headers)} entries, got {len(widths)}"
        )
    lines = []
    for r, row in enumerate(cells):
        wrapped = [textwrap.wrap(c, w) or [""] for c, w in zip(row, widths)]
        for k in range(max(len(w) for w in wrapped)):
            parts = [
                (w[k] if k < len(w) else "").ljust(width)
                for w, width in zip(wrapped, widths)
            ]
            lines.append("  ".join(parts).rstrip())
        if r == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
