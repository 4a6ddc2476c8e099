"""LSTM versus TCN on three memory tasks, fairly: recall at distance, the
adding problem and copy memory (the receptive-field chapter).

Both models are parameter-matched, see the same inputs and get the same
recipe (:data:`MEMORY_STUDY`). ``python -m kd_lib.runners memory_tasks``
makes the runs (:func:`memory_run`) and stores them; the other functions
read the stored runs with thresholds fixed before measuring
(:data:`MEMORY_THRESHOLDS`).
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from ..comparison import best_setting, paired_difference
from ..data import recall_at_distance
from ..models import LSTMClassifier, TCNClassifier
from ..training import fit
from ..utils import check_int, check_tensor, count_parameters, set_seed

__all__ = [
    "adding_problem",
    "ADDING_CHANCE_MSE",
    "copy_memory",
    "copy_memory_chance_loss",
    "MEMORY_TASKS",
    "MEMORY_MODELS",
    "MEMORY_SETUP",
    "MEMORY_STUDY",
    "matched_lstm_hidden",
    "memory_model",
    "memory_data",
    "chance_loss",
    "train_curve",
    "memory_run",
    "memory_units",
    "memory_val_score",
    "memory_tuned_runs",
    "memory_values",
    "final_change",
    "MEMORY_THRESHOLDS",
    "memory_verdict",
    "converged",
    "tcn_advantage",
]


# ---------------------------------------------------------- synthetic tasks

ADDING_CHANCE_MSE = 1.0 / 6.0
"""MSE of always predicting the mean (1.0): the variance of
the sum of two U[0, 1]."""


def adding_problem(num_samples: int, length: int, seed: int = 0):
    """The adding problem (Hochreiter & Schmidhuber 1997; Bai et al. 2018).
    Channel 0 holds numbers drawn from U[0, 1]; channel 1 marks two
    positions, one in each half of the sequence. The target is the sum of
    the two marked numbers. Returns ``x`` of shape
    ``(num_samples, length, 2)`` and ``y`` of shape ``(num_samples, 1)``."""
    check_int(num_samples, "num_samples")
    check_int(length, "length", minimum=2)
    g = torch.Generator().manual_seed(seed)
    values = torch.rand(num_samples, length, generator=g)
    half = length // 2
    first = torch.randint(0, half, (num_samples,), generator=g)
    second = torch.randint(half, length, (num_samples,), generator=g)
    markers = torch.zeros(num_samples, length)
    rows = torch.arange(num_samples)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = (values[rows, first] + values[rows, second]).unsqueeze(1)
    return torch.stack([values, markers], dim=-1), y


def copy_memory(num_samples: int, memory_length: int, seed: int = 0):
    """The copy-memory task (Bai et al. 2018). Ten symbols from {1..8}, then
    ``memory_length - 1`` blanks (0), a delimiter (9), and ten more blanks
    during which the model must repeat the symbols. Returns one-hot inputs
    ``x`` of shape ``(num_samples, T + 20, 10)`` and targets ``y`` of shape
    ``(num_samples, T + 20)``: blank everywhere but the last ten steps."""
    check_int(num_samples, "num_samples")
    check_int(memory_length, "memory_length")
    copy_length, num_symbols = 10, 8
    g = torch.Generator().manual_seed(seed)
    total = memory_length + 2 * copy_length
    symbols = torch.randint(
        1, num_symbols + 1, (num_samples, copy_length), generator=g
    )
    tokens = torch.zeros(num_samples, total, dtype=torch.long)
    tokens[:, :copy_length] = symbols
    tokens[:, memory_length + copy_length - 1] = num_symbols + 1
    targets = torch.zeros(num_samples, total, dtype=torch.long)
    targets[:, -copy_length:] = symbols
    x = F.one_hot(tokens, num_symbols + 2).float()
    return x, targets


def copy_memory_chance_loss(memory_length: int) -> float:
    """Cross-entropy per step of the best memoryless strategy: blanks,
    then a uniform guess over the 8 symbols for the last ten steps:
    ``10 ln 8 / (T + 20)``."""
    check_int(memory_length, "memory_length")
    return 10 * math.log(8) / (memory_length + 20)


# ------------------------------------------------------------ the study

MEMORY_TASKS = ("recall", "adding", "copy")
MEMORY_MODELS = ("LSTM", "TCN")

MEMORY_SETUP = {
    "recall": {"length": 21, "classes": 4, "tcn": [16] * 3, "kernel": 2},
    "adding": {"T": 30, "tcn": [16] * 4, "kernel": 3},
    "copy": {"T": 20, "tcn": [16] * 4, "kernel": 3},
    # sequences per split; the data seeds of the validation and test sets
    # are fixed, the training set's is 1 + the run's seed
    "n_train": 2048,
    "n_val": 1000,
    "n_test": 2000,
    "val_seed": 5_000,
    "test_seed": 10_000,
}
"""Inputs and architectures of the memory tasks. The TCNs' fields cover
the whole sequence on adding and copy memory (61 steps) and lags 0..14 on
recall (field 15); each LSTM's width is chosen so that its parameter count
is the closest to its TCN's (:func:`matched_lstm_hidden`)."""


def _task_io(task: str) -> tuple[int, int, str]:
    """(input features, outputs, readout) of a memory task."""
    if task not in MEMORY_TASKS:
        raise ValueError(
            f"task must be one of {MEMORY_TASKS}, got {task!r}"
        )
    if task == "recall":
        c = MEMORY_SETUP["recall"]["classes"]
        return c, c, "last"
    if task == "adding":
        return 2, 1, "last"
    return 10, 10, "sequence"


def _memory_tcn(task: str) -> TCNClassifier:
    inputs, outputs, readout = _task_io(task)
    spec = MEMORY_SETUP[task]
    return TCNClassifier(
        inputs,
        outputs,
        list(spec["tcn"]),
        kernel_size=spec["kernel"],
        readout=readout,
    )


def matched_lstm_hidden(task: str) -> int:
    """The LSTM width whose parameter count is closest to the task's TCN
    (ties: the smaller width)."""
    inputs, outputs, readout = _task_io(task)
    target = count_parameters(_memory_tcn(task))

    def size(h: int) -> int:
        return count_parameters(
            LSTMClassifier(inputs, outputs, hidden_size=h, readout=readout)
        )

    return min(range(1, 257), key=lambda h: (abs(size(h) - target), h))


def memory_model(task: str, model: str, seed: int = 0) -> nn.Module:
    """A fresh model for a memory task, built right after
    ``set_seed(seed)``: ``"TCN"`` (see :data:`MEMORY_SETUP`) or
    ``"LSTM"`` (parameter-matched width, forget-gate bias 1)."""
    if model not in MEMORY_MODELS:
        raise ValueError(
            f"model must be one of {MEMORY_MODELS}, got {model!r}"
        )
    inputs, outputs, readout = _task_io(task)
    set_seed(seed)
    if model == "TCN":
        return _memory_tcn(task)
    hidden = matched_lstm_hidden(task)
    set_seed(seed)
    return LSTMClassifier(
        inputs,
        outputs,
        hidden_size=hidden,
        readout=readout,
        forget_bias=1.0,
    )


def memory_data(
    task: str,
    split: str,
    seed: int = 0,
    distance: int | None = None,
    num_samples: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets of a memory task's ``split`` (``"train"``,
    ``"val"`` or ``"test"``). The training set of run ``seed`` uses data
    seed ``1 + seed``; validation and test sets are the same for every
    run. ``distance`` is needed for (only) recall."""
    _task_io(task)
    splits = ("train", "val", "test")
    if split not in splits:
        raise ValueError(f"split must be one of {splits}, got {split!r}")
    check_int(seed, "seed", 0)
    if (task == "recall") != (distance is not None):
        raise ValueError("give a distance for recall, and only for recall")
    n = MEMORY_SETUP[f"n_{split}"] if num_samples is None else num_samples
    data_seed = (
        1 + seed if split == "train" else MEMORY_SETUP[f"{split}_seed"]
    )
    if task == "recall":
        spec = MEMORY_SETUP["recall"]
        return recall_at_distance(
            n, spec["length"], distance, spec["classes"], seed=data_seed
        )
    if task == "adding":
        return adding_problem(n, MEMORY_SETUP["adding"]["T"], data_seed)
    return copy_memory(n, MEMORY_SETUP["copy"]["T"], seed=data_seed)


def chance_loss(task: str) -> float:
    """The loss of the best model that remembers nothing: ``ln 4`` for
    recall, ``1/6`` for adding, ``10 ln 8 / (T + 20)`` for copy memory."""
    _task_io(task)
    if task == "recall":
        return math.log(MEMORY_SETUP["recall"]["classes"])
    if task == "adding":
        return ADDING_CHANCE_MSE
    return copy_memory_chance_loss(MEMORY_SETUP["copy"]["T"])


@torch.no_grad()
def _scores(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    was_training = model.training
    model.eval()
    out = torch.cat([model(part) for part in x.split(1000)])
    model.train(was_training)
    if y.is_floating_point():
        return {"loss": F.mse_loss(out, y).item()}
    result = {"loss": _per_step_cross_entropy(out, y).item()}
    result["accuracy"] = (out.argmax(-1) == y).float().mean().item()
    return result


def _per_step_cross_entropy(out, labels):
    return F.cross_entropy(
        out.reshape(-1, out.shape[-1]), labels.reshape(-1)
    )


def _check_curve(model, x_train, y_train, x_val, y_val, updates, batch):
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )
    for name, t in (("x_train", x_train), ("x_val", x_val)):
        check_tensor(t, name, ndim=3, floating=True)
    if len(x_train) != len(y_train) or len(x_val) != len(y_val):
        raise ValueError("need one target per input in each split")
    check_int(updates, "updates")
    check_int(batch, "batch_size")


def train_curve(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    updates: int,
    lr: float,
    batch_size: int = 64,
    seed: int = 0,
    val_points: int = 20,
) -> dict:
    """Train ``model`` for exactly ``updates`` Adam steps (learning rate
    decayed from ``lr`` to 0 along a half cosine, gradient norm clipped at
    1; batches drawn from a fresh permutation of the training set, seeded by
    ``seed``, whenever fewer than a batch remain) and score it on the
    validation set at ``val_points`` evenly spaced updates, the last one
    included. Returns ``{"val_updates", "val_loss"}`` and, for integer
    labels, ``"val_accuracy"``. The last update's weights are kept."""
    _check_curve(model, x_train, y_train, x_val, y_val, updates, batch_size)
    check_int(val_points, "val_points")
    check_int(seed, "seed", 0)
    val_points = min(val_points, updates)
    # the loop's "epochs" are the stretches between two validations
    ends = [
        round(updates * (i + 1) / val_points) for i in range(val_points)
    ]
    lengths = [b - a for a, b in zip([0, *ends], ends)]
    generator = torch.Generator().manual_seed(seed)
    state = {"order": torch.empty(0, dtype=torch.long)}
    regression = y_train.is_floating_point()
    loss_fn = F.mse_loss if regression else _per_step_cross_entropy
    curve = {"val_updates": [], "val_loss": []}
    if not y_val.is_floating_point():
        curve["val_accuracy"] = []

    def batches(stretch):
        for _ in range(lengths[stretch]):
            if len(state["order"]) < batch_size:
                state["order"] = torch.randperm(
                    len(x_train), generator=generator
                )
            batch = state["order"][:batch_size]
            state["order"] = state["order"][batch_size:]
            yield batch

    def batch_loss(batch):
        return loss_fn(model(x_train[batch]), y_train[batch]), len(batch)

    def after_stretch(stretch):
        scores = _scores(model, x_val, y_val)
        curve["val_updates"].append(ends[stretch])
        for key, value in scores.items():
            curve[f"val_{key}"].append(value)

    fit(
        model,
        batches,
        batch_loss,
        epochs=val_points,
        lr=lr,
        clip_grad_norm=1.0,
        cosine_steps=updates,
        schedule_step="update",
        after_epoch=after_stretch,
    )
    return curve


def memory_run(
    task: str,
    model: str,
    lr: float,
    seed: int,
    *,
    updates: int,
    distance: int | None = None,
) -> dict:
    """One run of the study: a fresh :func:`memory_model` trained by
    :func:`train_curve` on :func:`memory_data` (batch size and validation
    points of :data:`MEMORY_STUDY`) and scored on the test set.
    Returns plain data (the validation curve, the test loss, its ratio to
    :func:`chance_loss`, and the test accuracy for recall)."""
    net = memory_model(task, model, seed)
    x, y = memory_data(task, "train", seed, distance)
    xv, yv = memory_data(task, "val", seed, distance)
    xt, yt = memory_data(task, "test", seed, distance)
    start = time.perf_counter()
    curve = train_curve(
        net,
        x,
        y,
        xv,
        yv,
        updates=updates,
        lr=lr,
        batch_size=MEMORY_STUDY["batch_size"],
        seed=seed,
        val_points=MEMORY_STUDY["val_points"],
    )
    seconds = time.perf_counter() - start
    test = _scores(net, xt, yt)
    record = {
        "task": task,
        "model": model,
        "distance": distance,
        "lr": lr,
        "seed": seed,
        "updates": updates,
        "parameters": count_parameters(net),
        **curve,
        "test_loss": test["loss"],
        "test_loss_ratio": test["loss"] / chance_loss(task),
        "seconds": seconds,
    }
    if "accuracy" in test:
        record["test_accuracy"] = test["accuracy"]
    return record


MEMORY_STUDY = {
    "updates": 3000,
    "batch_size": 64,
    "lrs": [1e-3, 3e-3, 1e-2, 3e-2],
    "seeds": [0, 1, 2, 3, 4],
    "distances": [2, 6, 10, 14, 20],
    "val_points": 20,
    "forget_bias": 1.0,
    "clip_grad_norm": 1.0,
    # copy memory's LSTM did best at the largest rate: one more, for both
    "extra_lrs": {"copy": [1e-1]},
    # the LSTM on copy memory once more, four times as long
    "long_updates": 12000,
    "long_lrs": [1e-2, 3e-2],
}
"""The study's recipe, the same for both models: every rate of ``lrs``
with every seed, 3,000 Adam updates of 64 sequences (half-cosine decay,
gradient norm clipped at 1, LSTM forget-gate bias 1); each (task, model,
distance) keeps the rate of :func:`memory_tuned_runs`."""


def memory_units(
    tasks=MEMORY_TASKS,
    models=MEMORY_MODELS,
    lrs=None,
    seeds=None,
    distances=None,
    updates: int | None = None,
) -> list[tuple]:
    """Every run of the study as ``(task, model, lr, seed, distance,
    updates)``, by default those of :data:`MEMORY_STUDY`."""
    s = MEMORY_STUDY
    lrs = s["lrs"] if lrs is None else list(lrs)
    seeds = s["seeds"] if seeds is None else list(seeds)
    distances = s["distances"] if distances is None else list(distances)
    updates = s["updates"] if updates is None else updates
    for task in tasks:
        _task_io(task)
    if not lrs or not seeds or not distances:
        raise ValueError("need at least one learning rate, seed, distance")
    return [
        (task, model, lr, seed, d, updates)
        for task in tasks
        for d in (distances if task == "recall" else [None])
        for model in models
        for lr in lrs
        for seed in seeds
    ]


def memory_val_score(record: dict) -> float:
    """A run's final validation score, higher is better: accuracy on
    recall, minus the loss on adding and copy memory."""
    if record["task"] == "recall":
        return record["val_accuracy"][-1]
    return -record["val_loss"][-1]


def memory_tuned_runs(
    records: list[dict],
    task: str,
    model: str,
    distance=None,
    updates: int | None = None,
) -> list[dict]:
    """The runs at the learning rate with the best mean final validation
    score over seeds (:func:`memory_val_score`; ties go to the smaller
    rate), in seed order. ``updates``: the budget (default
    ``MEMORY_STUDY["updates"]``)."""
    updates = MEMORY_STUDY["updates"] if updates is None else updates
    runs = [
        r
        for r in records
        if (r["task"], r["model"]) == (task, model)
        and (r["distance"], r["updates"]) == (distance, updates)
    ]
    if not runs:
        raise KeyError(f"no runs of {model} on {task}, d = {distance}")
    lr = best_setting(runs, memory_val_score)
    tuned = [r for r in runs if r["lr"] == lr]
    return sorted(tuned, key=lambda r: r["seed"])


def memory_values(
    records: list[dict],
    task: str,
    model: str,
    distance=None,
    updates: int | None = None,
) -> list[float]:
    """Per-seed test values of the tuned runs: accuracy on recall, the
    loss as a multiple of chance on adding and copy memory."""
    metric = "test_accuracy" if task == "recall" else "test_loss_ratio"
    runs = memory_tuned_runs(records, task, model, distance, updates)
    return [r[metric] for r in runs]


def final_change(record: dict) -> float:
    """How much a run's validation score (:func:`memory_val_score`; for
    adding and copy memory as a multiple of the chance loss) moved over
    the last quarter of its updates: near 0 for a converged run."""
    if record["task"] == "recall":
        values = record["val_accuracy"]
    else:
        chance = chance_loss(record["task"])
        values = [-v / chance for v in record["val_loss"]]
    updates = record["val_updates"]
    cut = updates[-1] * 0.75
    start = min(i for i, u in enumerate(updates) if u >= cut)
    return values[-1] - values[start]


MEMORY_THRESHOLDS = {
    "solved_accuracy": 0.95,
    "chance_band": 0.04,
    "solved_ratio": 0.05,
    "chance_ratio": (0.9, 1.1),
    "converged": 0.02,
    "equivalence": 0.01,
}
"""The verdicts' thresholds, fixed before any run was read. Recall: solved
if every seed scores at least 95 % test accuracy, at chance if every seed
lies within 0.04 of ``1 / classes``. Adding and copy memory (test loss as a
multiple of :func:`chance_loss`): solved below 0.05 for every seed, at
chance between 0.9 and 1.1, worse than chance above 1.1. Anything else is
partial. A run has converged when its validation score moved by less than
0.02 over the last quarter of its updates (:func:`final_change`). Paired
differences within ±0.01 are equivalent
(:func:`kd_lib.comparison.verdict`)."""


def memory_verdict(task: str, values) -> str:
    """``"solved"``, ``"at chance"``, ``"worse than chance"`` or
    ``"partial"`` for per-seed test values (as :func:`memory_values`)."""
    _task_io(task)
    values = list(values)
    if not values:
        raise ValueError("values must hold one value per seed")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"values must be numbers, got {v!r}")
    t = MEMORY_THRESHOLDS
    if task == "recall":
        chance = 1 / MEMORY_SETUP["recall"]["classes"]
        if all(v >= t["solved_accuracy"] for v in values):
            return "solved"
        if all(abs(v - chance) < t["chance_band"] for v in values):
            return "at chance"
        return "partial"
    low, high = t["chance_ratio"]
    if all(v < t["solved_ratio"] for v in values):
        return "solved"
    if all(low <= v <= high for v in values):
        return "at chance"
    if all(v > high for v in values):
        return "worse than chance"
    return "partial"


def converged(record: dict) -> bool:
    """Whether a run's validation score moved by less than
    ``MEMORY_THRESHOLDS["converged"]`` over its last quarter."""
    return abs(final_change(record)) < MEMORY_THRESHOLDS["converged"]


def tcn_advantage(records: list[dict], task: str, distance=None):
    """The paired, per-seed advantage of the tuned TCN over the tuned
    LSTM with its 95 % interval (a
    :class:`kd_lib.comparison.PairedDifference`): accuracy TCN minus LSTM
    on recall, the loss ratio LSTM minus TCN on adding and copy memory.
    Positive: the TCN is better."""
    seeds = [
        [r["seed"] for r in memory_tuned_runs(records, task, m, distance)]
        for m in MEMORY_MODELS
    ]
    if seeds[0] != seeds[1]:
        raise ValueError("the two models' tuned runs differ in seeds")
    lstm = memory_values(records, task, "LSTM", distance)
    tcn = memory_values(records, task, "TCN", distance)
    if task == "recall":
        return paired_difference(lstm, tcn)
    return paired_difference(tcn, lstm)
