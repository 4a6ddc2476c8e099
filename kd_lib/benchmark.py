"""Measuring an LSTM against a TCN: time, memory,
gradients, variable length.

Everything the "LSTM versus TCN" chapter measures lives here, so that each
number in the chapter comes from a function with a unit test. Sequence
inputs are ``(batch, time, features)``, as everywhere in kd_lib.
Multiply-adds per step and streaming state live in :mod:`kd_lib.streaming`.

- time: :func:`timing_sweep` (weight normalisation folded, warm-up,
  median and quartiles), :func:`crossover_length`,
  :func:`time_training_step`;
- memory: :func:`peak_training_bytes` (the peak of a training step),
  :func:`saved_activation_bytes` (what a training step keeps for the
  backward pass) and :func:`peak_inference_bytes` (the most tensor memory
  alive at once during a forward pass), all byte counts of tensors, not
  estimates;
- gradients: :func:`input_gradient_by_step`, :func:`gradient_norm_trace`;
- variable length: :func:`pad_sequences`, :func:`predict_variable_length`;
- display: :func:`draw_dilated_stack`, :func:`mean_spread`,
  :func:`format_table`;
- the stored, tuned, multi-seed study (``python -m kd_lib.experiments
  lstm_vs_tcn``): :func:`study_models`,
  :func:`recall_loaders`, :func:`study_run`, :func:`study_records`.

The verdicts computed from all of these live in :mod:`kd_lib.verdicts`.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.data import DataLoader

from .data import (
    make_loader,
    recall_at_distance,
)
from .models import LSTMClassifier, receptive_field

# shared with the other chapters' tables; re-exported here under the names
# chapter 2 uses
from .pipeline import format_table
from .pipeline import mean_and_spread as mean_spread
from .receptive import reachable_lags
from .training import evaluate, train
from .utils import (
    Timing,
    check_int,
    check_tensor,
    fold_weight_norm,
    measure_latency,
    set_seed,
)

__all__ = [
    "timing_sweep",
    "crossover_length",
    "time_training_step",
    "peak_training_bytes",
    "saved_activation_bytes",
    "peak_live_tensor_bytes",
    "peak_inference_bytes",
    "input_gradient_by_step",
    "gradient_norm_trace",
    "PADDING_METHODS",
    "pad_sequences",
    "predict_variable_length",
    "draw_dilated_stack",
    "mean_spread",
    "format_table",
    "STUDY_SEEDS",
    "STUDY_SETTINGS",
    "study_models",
    "recall_loaders",
    "study_run",
    "study_records",
]


def _check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )


# ---------------------------------------------------------------- time


def _check_lengths(lengths) -> list[int]:
    if not isinstance(lengths, (list, tuple)) or not lengths:
        raise ValueError(
            f"lengths must be a non-empty list of ints, got {lengths!r}"
        )
    for length in lengths:
        check_int(length, "every length")
    return list(lengths)


def timing_sweep(
    models: dict[str, nn.Module],
    lengths: list[int],
    *,
    batch_size: int = 1,
    input_size: int = 1,
    repeats: int = 20,
    warmup: int = 3,
) -> dict[str, list[Timing]]:
    """Inference timings of each model at each length: ``{name: [Timing
    per length]}`` (median and inter-quartile range, in seconds).

    Each model is timed as deployed: weight normalisation folded into
    plain weights first (:func:`kd_lib.utils.fold_weight_norm`), eval mode,
    ``warmup`` untimed calls, then ``repeats`` timed ones on random inputs
    ``(batch_size, length, input_size)``.
    """
    if not isinstance(models, dict) or not models:
        raise TypeError("models must be a non-empty dict {name: model}")
    for model in models.values():
        _check_model(model)
    lengths = _check_lengths(lengths)
    check_int(batch_size, "batch_size")
    check_int(input_size, "input_size")
    check_int(repeats, "repeats")
    check_int(warmup, "warmup", minimum=0)
    folded = {name: fold_weight_norm(m) for name, m in models.items()}
    result = {name: [] for name in models}
    for length in lengths:
        x = torch.randn(batch_size, length, input_size)
        for name, model in folded.items():
            result[name].append(
                measure_latency(
                    functools.partial(model, x),
                    repeats=repeats,
                    warmup=warmup,
                )
            )
    return result


def crossover_length(lengths: list[int], ratios: list[float]) -> int | None:
    """The shortest measured length from which ``ratios`` (LSTM time over
    TCN time) stay above 1 at every longer length, or None.

    ``lengths`` must be increasing. The answer is a measured length: the
    true cross-over lies between it and the length before it.
    """
    lengths = _check_lengths(lengths)
    if any(b <= a for a, b in zip(lengths, lengths[1:])):
        raise ValueError(f"lengths must increase, got {lengths}")
    ratios = [float(r) for r in ratios]
    if len(ratios) != len(lengths):
        raise ValueError(
            f"need one ratio per length, got {len(ratios)} for "
            f"{len(lengths)} lengths"
        )
    if not all(r > 0 for r in ratios):
        raise ValueError(f"ratios must be positive, got {ratios}")
    found = None
    for length, r in zip(reversed(lengths), reversed(ratios)):
        if r <= 1:
            break
        found = length
    return found


def time_training_step(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    repeats: int = 5,
    warmup: int = 1,
) -> Timing:
    """Median time of one forward and backward pass
    (cross-entropy on ``y``).

    ``x`` is ``(batch, time, features)``, ``y`` holds ``(batch,)`` class
    labels. Gradients are discarded after each pass; no optimiser step (it
    costs the same for two models of the same size).
    """
    _check_model(model)
    check_tensor(x, "x", ndim=3, floating=True)
    check_tensor(y, "y", ndim=1, floating=False)
    check_int(repeats, "repeats")
    check_int(warmup, "warmup", minimum=0)
    model.train()

    def one_step():
        F.cross_entropy(model(x), y).backward()
        model.zero_grad(set_to_none=True)

    timing = measure_latency(
        one_step, repeats=repeats, warmup=warmup, inference=False
    )
    model.eval()
    return timing


# ---------------------------------------------------------------- memory


def saved_activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the tensors a training step keeps alive
    for its backward pass.

    Runs ``model(x)`` with gradients on and records, through
    ``torch.autograd.graph.saved_tensors_hooks``, every tensor autograd
    saves; each storage is counted once, and the parameters themselves
    (which exist anyway) are left out. This is the activation memory that
    grows with the sequence length: exact and the same on every machine.
    """
    _check_model(model)
    check_tensor(x, "x", ndim=3, floating=True)
    parameter_storages = {
        p.untyped_storage().data_ptr() for p in model.parameters()
    }
    saved: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameter_storages:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with (
        torch.enable_grad(),
        torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t),
    ):
        output = model(x)
    del output
    return sum(saved.values())


class _LiveTensorBytes(TorchDispatchMode):
    """Follow every tensor storage created while active: bytes
    alive now, and the peak.

    Outputs that share a storage with an argument (views, in-place results)
    add no memory. A storage is released when the last tensor seen on it is
    garbage-collected. Valid without autograd (under ``torch.no_grad``),
    where nothing outside Python keeps a tensor alive.
    """

    def __init__(self):
        super().__init__()
        # storage pointer -> [bytes, tensors alive]
        self.live: dict[int, list[int]] = {}
        self.current = 0
        self.peak = 0

    def _release(self, key: int) -> None:
        entry = self.live[key]
        entry[1] -= 1
        if entry[1] == 0:
            self.current -= entry[0]
            del self.live[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        argument_storages = {
            t.untyped_storage().data_ptr()
            for t in tree_leaves((args, kwargs))
            if isinstance(t, torch.Tensor)
        }
        for tensor in tree_leaves(out):
            if not isinstance(tensor, torch.Tensor):
                continue
            key = tensor.untyped_storage().data_ptr()
            if key in argument_storages and key not in self.live:
                # a view of (or in-place on) memory that existed before
                continue
            if key in self.live:
                self.live[key][1] += 1
            else:
                nbytes = tensor.untyped_storage().nbytes()
                self.live[key] = [nbytes, 1]
                self.current += nbytes
                self.peak = max(self.peak, self.current)
            weakref.finalize(tensor, self._release, key)
        return out


def peak_live_tensor_bytes(fn: Callable[[], object]) -> int:
    """Most bytes of tensors created by ``fn()`` that were
    alive at the same time.

    Counted at the level of PyTorch operators under ``torch.no_grad``: every
    tensor an operator returns is followed until it is freed. Scratch space
    a kernel allocates and frees inside one operator is not seen.
    Deterministic: the same on every machine and thread count.
    """
    if not callable(fn):
        raise TypeError(
            "fn must be callable (for example lambda: model(x))"
        )
    mode = _LiveTensorBytes()
    with torch.no_grad(), mode:
        result = fn()
        del result
    return mode.peak


def peak_inference_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Peak tensor memory of one forward pass of ``model`` on ``x``
    ``(batch, time, features)``."""
    _check_model(model)
    check_tensor(x, "x", ndim=3, floating=True)
    was_training = model.training
    model.eval()
    try:
        return peak_live_tensor_bytes(lambda: model(x))
    finally:
        model.train(was_training)


def peak_training_bytes(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> int:
    """Peak tensor memory of one training step: forward, cross-entropy on
    labels ``y`` and backward.

    Counted like :func:`peak_live_tensor_bytes`, operator by operator,
    with autograd on: the activations saved for the backward pass, the
    temporaries of both passes and the gradients are all seen; the
    parameters (which exist anyway) are not. At least
    :func:`saved_activation_bytes`; deterministic on every machine.
    """
    _check_model(model)
    check_tensor(x, "x", ndim=3, floating=True)
    check_tensor(y, "y", ndim=1, floating=False)
    was_training = model.training
    model.train()
    mode = _LiveTensorBytes()
    try:
        with torch.enable_grad(), mode:
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            del loss
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return mode.peak


# ---------------------------------------------------------------- gradients


def input_gradient_by_step(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """How strongly the loss reacts to the input at each step: ``(time,)``.

    Entry t is the norm of ``d loss / d x[:, t]`` (over the batch and
    features) for the cross-entropy of ``model(x)`` on labels ``y``. Steps
    the loss cannot see get exactly 0; a vanishing gradient shows as a
    geometric decay towards early steps. The model's weights and mode are
    left unchanged.
    """
    _check_model(model)
    check_tensor(x, "x", ndim=3, floating=True)
    check_tensor(y, "y", ndim=1, floating=False)
    x = x.detach().clone().requires_grad_()
    with torch.enable_grad():
        loss = F.cross_entropy(model(x), y)
        (grad,) = torch.autograd.grad(loss, x)
    return grad.norm(dim=(0, 2))


def gradient_norm_trace(
    model: nn.Module,
    loader,
    *,
    epochs: int,
    lr: float,
    clip_grad_norm: float | None,
) -> list[float]:
    """Train with Adam and cross-entropy; return the
    gradient norm of every step.

    The norm is taken before clipping, so the trace shows what clipping had
    to tame. Same optimiser and clipping as :func:`kd_lib.train`, without
    its validation, so it measures the raw gradients of the run.
    """
    _check_model(model)
    if not isinstance(loader, DataLoader):
        raise TypeError(
            "loader must be a torch DataLoader, got "
            f"{type(loader).__name__}"
        )
    check_int(epochs, "epochs")
    if lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if clip_grad_norm is not None and clip_grad_norm <= 0:
        raise ValueError(
            f"clip_grad_norm must be > 0 or None, got {clip_grad_norm}"
        )
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    norms = []
    model.train()
    for _ in range(epochs):
        for x, y, *_ in loader:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            max_norm = (
                clip_grad_norm
                if clip_grad_norm is not None
                else float("inf")
            )
            norms.append(
                float(
                    nn.utils.clip_grad_norm_(model.parameters(), max_norm)
                )
            )
            optimizer.step()
    model.eval()
    return norms


# ---------------------------------------------------------- variable length

PADDING_METHODS = ("alone", "left_pad", "packed", "right_pad_last")
"""How :func:`predict_variable_length` batches sequences of different
lengths: one at a time (the reference), left padding (right for a TCN),
packing (right for an LSTM), and the classic bug: right padding, then
reading the last step."""


def pad_sequences(
    sequences: list[torch.Tensor], side: str = "right"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``(time_i, features)`` tensors into
    ``(batch, max_time, features)`` with zeros.

    ``side="right"`` puts the zeros after each sequence, ``"left"`` before
    it. Returns the batch and the true lengths ``(batch,)``.
    """
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    if not isinstance(sequences, (list, tuple)) or not sequences:
        raise ValueError(
            "sequences must be a non-empty list of (time, features) tensors"
        )
    for i, s in enumerate(sequences):
        check_tensor(s, f"sequences[{i}]", ndim=2, floating=True)
        if s.shape[0] < 1 or s.shape[1] != sequences[0].shape[1]:
            raise ValueError(
                f"sequences[{i}] has shape {tuple(s.shape)}; every "
                "sequence must be "
                f"(time >= 1, {sequences[0].shape[1]})"
            )
    lengths = torch.tensor([len(s) for s in sequences])
    batch = sequences[0].new_zeros(
        len(sequences), int(lengths.max()), sequences[0].shape[1]
    )
    for i, s in enumerate(sequences):
        if side == "right":
            batch[i, : len(s)] = s
        else:
            batch[i, batch.shape[1] - len(s) :] = s
    return batch, lengths


@torch.no_grad()
def predict_variable_length(
    model: nn.Module, sequences: list[torch.Tensor], method: str
) -> torch.Tensor:
    """Outputs ``(batch, num_outputs)`` of a ``readout="last"`` model on
    sequences of mixed lengths.

    ``method`` is one of :data:`PADDING_METHODS`. ``"packed"`` needs an
    LSTMClassifier (it passes ``lengths``); the others work for both models.
    """
    _check_model(model)
    if method not in PADDING_METHODS:
        raise ValueError(
            f"method must be one of {PADDING_METHODS}, got {method!r}"
        )
    if getattr(model, "readout", "last") != "last":
        raise ValueError("model must have readout='last'")
    was_training = model.training
    model.eval()
    try:
        if method == "alone":
            return torch.cat([model(s.unsqueeze(0)) for s in sequences])
        if method == "packed":
            if not isinstance(model, LSTMClassifier):
                raise TypeError(
                    "method='packed' needs a kd_lib LSTMClassifier"
                )
            x, lengths = pad_sequences(sequences, side="right")
            return model(x, lengths)
        x, _ = pad_sequences(
            sequences, side="left" if method == "left_pad" else "right"
        )
        return model(x)
    finally:
        model.train(was_training)


# ---------------------------------------------------------------- display


def draw_dilated_stack(kernel_size: int = 2, num_levels: int = 3, ax=None):
    """Draw which inputs reach the last output of a TCN: one row
    per causal convolution.

    Each block contributes two rows with dilation ``2**i``. Lines show the
    taps used by the last output's dependency tree; grey dots are steps
    outside it. Returns the matplotlib axes.
    """
    import matplotlib.pyplot as plt

    # lags back from the last step, top row first
    layers = reachable_lags(kernel_size, num_levels)
    length = receptive_field(kernel_size, num_levels) + 4
    dilations = [2**i for i in range(num_levels) for _ in range(2)]
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 0.6 * len(dilations) + 1.2))
    for row in range(len(dilations), 0, -1):
        needed = [length - 1 - lag for lag in layers[len(dilations) - row]]
        for t in needed:
            for j in range(kernel_size):
                ax.plot(
                    [t, t - j * dilations[row - 1]],
                    [row, row - 1],
                    color="#d9822b",
                    linewidth=1,
                    zorder=1,
                )
        ax.scatter(
            range(length), [row] * length, s=14, color="#cccccc", zorder=2
        )
        ax.scatter(
            sorted(needed),
            [row] * len(needed),
            s=18,
            color="#d9822b",
            zorder=3,
        )
    needed = [length - 1 - lag for lag in layers[-1]]
    ax.scatter(range(length), [0] * length, s=14, color="#cccccc", zorder=2)
    ax.scatter(
        sorted(needed),
        [0] * len(needed),
        s=18,
        color="#1f4e79",
        zorder=3,
        label=(
            f"inputs that reach the last output ({len(needed)} = "
            "receptive field)"
        ),
    )
    ax.set_yticks(
        range(len(dilations) + 1),
        ["input"] + [f"conv, d={d}" for d in dilations],
    )
    ax.set_xlabel("time step")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.grid(False)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0))
    return ax


# ------------------------------------------------- stored study (chapter 2)

STUDY_SEEDS = (0, 1, 2)
"""Seeds of every accuracy-based comparison in the stored study."""

STUDY_SETTINGS = {
    "epochs": 100,
    "digits_lrs": (3e-3, 1e-2, 3e-2),
    "recall_lrs": (3e-3, 1e-2, 3e-2),
    "recall_position": 3,
    "recall_distances": (4, 12, 48),
    "recall_sizes": (2000, 500, 1000),
    "forget_bias": 1.0,
    "clip_grad_norm": 1.0,
}
"""The budget of :func:`kd_lib.experiments.run_lstm_vs_tcn`: the
same number of epochs (and so of updates) for both models, learning
rates searched on validation data per model and task, forget-gate bias
1, clipping at norm 1. In the recall task the symbol to recall is always
the one at step ``recall_position`` (counting from 0), so a longer
distance is a longer sequence and a longer gap to bridge, not a harder
counting problem."""


def study_models(task: str) -> dict[str, Callable[[], nn.Module]]:
    """Builders of the parameter-matched pair for ``task``
    (``"digits"`` or ``"recall"``): the LSTM with forget-gate bias 1.

    Digits: LSTM with 48 units against 5 levels of 18 channels, kernel 3
    (10,282 and 9,388 parameters). Recall: LSTM with 19 units against
    2 levels of 16 channels, kernel 2 (1,980 and 1,940 parameters;
    receptive field 7).
    """
    from .models import TCNClassifier

    bias = STUDY_SETTINGS["forget_bias"]
    if task == "digits":
        return {
            "LSTM": lambda: LSTMClassifier(
                1, 10, hidden_size=48, forget_bias=bias
            ),
            "TCN": lambda: TCNClassifier(
                1, 10, channels=[18] * 5, kernel_size=3
            ),
        }
    if task == "recall":
        return {
            "LSTM": lambda: LSTMClassifier(
                4, 4, hidden_size=19, forget_bias=bias
            ),
            "TCN": lambda: TCNClassifier(
                4, 4, channels=[16, 16], kernel_size=2
            ),
        }
    raise ValueError(f"task must be 'digits' or 'recall', got {task!r}")


def recall_loaders(distance: int, seed: int = 0):
    """Train (shuffled by ``seed``), validation and test loaders for
    :func:`kd_lib.recall_at_distance`: sequences of ``distance +
    recall_position + 1`` steps whose label is the symbol at step
    ``recall_position``; the data themselves never depend on ``seed``."""
    check_int(distance, "distance")
    length = distance + STUDY_SETTINGS["recall_position"] + 1
    n_train, n_val, n_test = STUDY_SETTINGS["recall_sizes"]
    parts = [
        recall_at_distance(n, length, distance, seed=data_seed)
        for n, data_seed in (
            (n_train, 0),
            (n_val, 20_000),
            (n_test, 10_000),
        )
    ]
    return (
        make_loader(*parts[0], batch_size=64, shuffle=True, seed=seed),
        make_loader(*parts[1], batch_size=500),
        make_loader(*parts[2], batch_size=500),
    )


def study_run(
    build: Callable[[], nn.Module],
    loaders,
    *,
    seed: int,
    lr: float,
    epochs: int | None = None,
) -> tuple[nn.Module, dict]:
    """Train one model of the study (seed set right before building it)
    and return it with its record: test accuracy of the best validation
    epoch, and the per-epoch curves."""
    train_loader, val_loader, test_loader = loaders
    set_seed(seed)
    model = build()
    history = train(
        model,
        train_loader,
        val_loader,
        epochs=epochs or STUDY_SETTINGS["epochs"],
        lr=lr,
        clip_grad_norm=STUDY_SETTINGS["clip_grad_norm"],
        show_progress=False,
    )
    record = {
        "seed": seed,
        "lr": lr,
        "test_accuracy": evaluate(model, test_loader)["accuracy"],
        "best_epoch": history.best_epoch,
        "val_accuracy": history.val_accuracy,
        "train_loss": history.train_loss,
    }
    return model, record


def study_records(
    study: dict,
    *,
    task: str,
    model: str,
    permuted: bool = False,
    distance: int | None = None,
    stage: str = "final",
) -> list[dict]:
    """The records of one setting of a stored
    :func:`kd_lib.experiments.run_lstm_vs_tcn` study, one per seed
    (``stage="final"``) or per searched learning rate
    (``stage="search"``), in the order they were run."""
    if not isinstance(study, dict) or "records" not in study:
        raise TypeError(
            "study must be the dict that "
            "kd_lib.experiments.run_lstm_vs_tcn returns"
        )
    if stage not in ("final", "search"):
        raise ValueError(
            f"stage must be 'final' or 'search', got {stage!r}"
        )
    found = [
        r
        for r in study["records"]
        if r["task"] == task
        and r["model"] == model
        and r["permuted"] == permuted
        and r["distance"] == distance
        and r["stage"] == stage
    ]
    if not found:
        raise ValueError(
            f"no {stage} records for task={task!r}, model={model!r}, "
            f"permuted={permuted}, distance={distance}"
        )
    return found
