"""Sequences of different lengths: one convention for every model.

A batch of variable-length sequences is **right-padded values plus
lengths**, a :class:`Padded`. Every model of the book takes it as
``model(values, lengths)`` and computes for each sequence exactly what it
computes for that sequence alone: the LSTM packs the batch and stops at
each sequence's true end; the TCN shifts each sequence to end on the last
step (:func:`to_left_padded`) and masks the padded steps inside every
block, so they stay exactly zero, as the causal convolution's own padding
is. :func:`make_padded_loader` yields batches ``(Padded, *targets)``,
which :func:`kd_lib.train` and :func:`kd_lib.evaluate` understand.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch.utils.data import DataLoader, default_collate

from .utils import check_int, check_tensor, seeded_loader

__all__ = [
    "Padded",
    "pad_sequences",
    "check_lengths",
    "step_mask",
    "to_left_padded",
    "to_right_padded",
    "make_padded_loader",
]


class Padded(NamedTuple):
    """A batch of right-padded sequences: ``values`` ``(batch, time,
    features)`` and ``lengths`` ``(batch,)`` (int64), sequence ``i`` being
    ``values[i, :lengths[i]]``, zeros after it."""

    values: torch.Tensor
    lengths: torch.Tensor

    def sequences(self) -> list[torch.Tensor]:
        """The sequences without their padding, ``(time_i, features)``
        each."""
        return [v[:n] for v, n in zip(self.values, self.lengths.tolist())]


def pad_sequences(
    sequences, length: int | None = None, name: str = "sequences"
) -> Padded:
    """Stack ``(time_i, features)`` sequences (tensors or NumPy arrays)
    into a :class:`Padded` batch of float32, zeros after each sequence, to
    ``length`` steps (default: the longest sequence). Raises
    ``ValueError``/``TypeError`` naming the bad sequence (``name[i]``)."""
    if not isinstance(sequences, (list, tuple)):
        raise TypeError(
            f"{name} must be a list of (time, features) arrays, got "
            f"{type(sequences).__name__}"
        )
    if not sequences:
        raise ValueError(f"{name} must hold at least one sequence")
    tensors = []
    for i, s in enumerate(sequences):
        s = torch.as_tensor(s)
        if s.dtype == torch.bool or s.is_complex():
            raise TypeError(
                f"{name}[{i}] must hold real numbers, got {s.dtype}"
            )
        if s.dim() != 2:
            raise ValueError(
                f"{name}[{i}] must be (time, features), got shape "
                f"{tuple(s.shape)}"
            )
        if len(s) == 0:
            raise ValueError(
                f"{name}[{i}] is empty: every sequence needs at least one "
                "step"
            )
        if tensors and s.shape[1] != tensors[0].shape[1]:
            raise ValueError(
                f"{name}[{i}] has {s.shape[1]} features, but {name}[0] "
                f"has {tensors[0].shape[1]}"
            )
        tensors.append(s.float())
    lengths = torch.tensor([len(s) for s in tensors], dtype=torch.long)
    longest = int(lengths.max())
    length = longest if length is None else length
    check_int(length, "length", minimum=longest)
    values = torch.nn.utils.rnn.pad_sequence(tensors, batch_first=True)
    values = torch.nn.functional.pad(values, (0, 0, 0, length - longest))
    return Padded(values, lengths)


def check_lengths(lengths, x: torch.Tensor, batch_dims: int = 1) -> None:
    """Raise unless ``lengths`` holds one integer in ``[1, time]`` per
    sequence of ``x`` ``(*batch, time, features)``, where ``batch`` is the
    first ``batch_dims`` dimensions of ``x``."""
    check_tensor(lengths, "lengths", floating=False)
    if lengths.dtype == torch.bool:
        raise TypeError("lengths must hold integers, got torch.bool")
    batch, time = tuple(x.shape[:batch_dims]), x.shape[batch_dims]
    if (
        tuple(lengths.shape) != batch
        or lengths.min() < 1
        or lengths.max() > time
    ):
        raise ValueError(
            f"lengths must hold one value in [1, {time}] per sequence, "
            f"shape {batch}; got shape {tuple(lengths.shape)}"
        )


def step_mask(
    lengths: torch.Tensor, time: int, padded_on: str = "right"
) -> torch.Tensor:
    """``(*lengths.shape, time)`` booleans, True at the real steps of
    sequences padded on the ``"right"`` (after their end) or on the
    ``"left"`` (before their start)."""
    if padded_on not in ("right", "left"):
        raise ValueError(
            f"padded_on must be 'right' or 'left', got {padded_on!r}"
        )
    steps = torch.arange(time, device=lengths.device)
    if padded_on == "right":
        return steps < lengths[..., None]
    return steps >= (time - lengths)[..., None]


def _shift(x: torch.Tensor, lengths: torch.Tensor, to: str) -> torch.Tensor:
    check_tensor(x, "x", ndim=3)
    check_lengths(lengths, x)
    time = x.shape[1]
    lengths = lengths.to(x.device)
    pad = (time - lengths)[:, None]
    steps = torch.arange(time, device=x.device)
    # each row rotated by its padding, then the padding zeroed
    source = (steps - pad if to == "left" else steps + pad) % time
    shifted = x.gather(1, source[..., None].expand_as(x))
    real = step_mask(lengths, time, padded_on=to)[..., None]
    return torch.where(real, shifted, shifted.new_zeros(()))


def to_left_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Right-padded ``(batch, time, features)`` to left-padded: each
    sequence moved to end on the last step, zeros before it (where a
    causal model's readout and its own zero padding expect them)."""
    return _shift(x, lengths, "left")


def to_right_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`to_left_padded`: each sequence moved back to
    start on step 0, zeros after it."""
    return _shift(x, lengths, "right")


def _pad_collate(items) -> tuple:
    # items (sequence, *targets) -> (Padded, *targets), targets stacked
    padded = pad_sequences([item[0] for item in items])
    return (padded, *default_collate([item[1:] for item in items]))


def make_padded_loader(
    sequences,
    *tensors: torch.Tensor,
    batch_size: int = 64,
    shuffle: bool = False,
    seed: int | None = None,
) -> DataLoader:
    """A DataLoader over variable-length ``sequences`` (a list of
    ``(time_i, features)`` tensors, or a :class:`Padded` batch) and
    ``tensors`` with one row per sequence (labels, teacher logits):
    batches ``(Padded, *targets)``, each padded only to its own longest
    sequence. Shuffling works as in :func:`kd_lib.data.make_loader`."""
    if isinstance(sequences, Padded):
        check_tensor(sequences.values, "sequences.values", ndim=3)
        check_lengths(sequences.lengths, sequences.values)
    else:
        sequences = pad_sequences(sequences)
    sequences = sequences.sequences()
    for i, t in enumerate(tensors):
        if not isinstance(t, torch.Tensor):
            raise TypeError(
                f"tensor {i} must be a torch.Tensor, got {type(t).__name__}"
            )
        if len(t) != len(sequences):
            raise ValueError(
                f"tensor {i} has {len(t)} rows for {len(sequences)} "
                "sequences"
            )
    items = [(s, *(t[i] for t in tensors)) for i, s in enumerate(sequences)]
    return seeded_loader(
        items, batch_size, shuffle, seed, collate_fn=_pad_collate
    )
