"""The teacher (an LSTM) and the student (a temporal convolutional network).

The TCN follows Bai, Kolter & Koltun (2018): residual blocks of two dilated
causal convolutions, dilation 2**i at level i, weight normalisation, no
pooling. Both models take inputs ``(batch, time, features)`` and, for
right-padded sequences of different lengths, their ``lengths``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from .padding import (
    check_lengths,
    step_mask,
    to_left_padded,
    to_right_padded,
)
from .utils import check_int, check_tensor

__all__ = [
    "receptive_field",
    "CausalConv1d",
    "TemporalBlock",
    "TCN",
    "TCNClassifier",
    "LSTMClassifier",
]

READOUTS = ("last", "sequence")


def _check_input(x: torch.Tensor, input_size: int) -> None:
    check_tensor(x, "x", ndim=3, floating=True)
    if x.shape[-1] != input_size:
        raise ValueError(
            f"x must have {input_size} features in its last dimension "
            f"(batch, time, features), got shape {tuple(x.shape)}"
        )


def receptive_field(
    kernel_size: int, num_levels: int, convs_per_block: int = 2
) -> int:
    """Number of input steps that can reach one output of a dilated causal
    stack: level i has ``convs_per_block`` convolutions of dilation
    ``2**i``, each adding ``(kernel_size - 1) * 2**i`` steps of history."""
    check_int(kernel_size, "kernel_size", minimum=2)
    check_int(num_levels, "num_levels")
    check_int(convs_per_block, "convs_per_block")
    return 1 + convs_per_block * (kernel_size - 1) * (2**num_levels - 1)


class CausalConv1d(nn.Module):
    """A dilated convolution whose output at time t sees inputs t, t-d,
    ..., t-(k-1)d only: ``(batch, channels, time) -> (batch, out_channels,
    time)``. Causality comes from padding ``(k-1)*d`` zeros on the left, so
    the output is exactly as long as the input and nothing computed is
    thrown away. ``groups`` splits the channels as in ``nn.Conv1d``
    (:mod:`kd_lib.multiseed` runs several students as one with it)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int = 1,
        groups: int = 1,
    ):
        super().__init__()
        if kernel_size < 2:
            raise ValueError(
                "kernel_size must be >= 2 (1 sees no history), got "
                f"{kernel_size}"
            )
        if dilation < 1:
            raise ValueError(f"dilation must be >= 1, got {dilation}")
        self.left_padding = (kernel_size - 1) * dilation
        self.conv = weight_norm(
            nn.Conv1d(
                in_channels,
                out_channels,
                kernel_size,
                dilation=dilation,
                groups=groups,
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (self.left_padding, 0)))


def _masked(out: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    # mask (batch, 1 or groups, time): each group's channels share a row
    if mask is None:
        return out
    if mask.shape[1] == 1:
        return out * mask
    groups = mask.shape[1]
    return (out.unflatten(1, (groups, -1)) * mask[:, :, None]).flatten(1, 2)


class TemporalBlock(nn.Module):
    """Two causal convolutions (each followed by ReLU and dropout) plus a
    residual (a 1×1 convolution when the widths differ): ``(batch,
    in_channels, time) -> (batch, out_channels, time)``. ``mask`` ``(batch,
    1 or groups, time)`` holds 1 at real steps and 0 at the padding of
    left-padded sequences. Zero inputs alone would not hide the padding: the
    biases make the activations there nonzero, unlike the causal
    convolution's own zero padding. Multiplying every activation by the mask
    keeps them exactly zero, so each sequence of the batch gets what it
    would get alone."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int,
        dropout: float = 0.0,
        groups: int = 1,
    ):
        super().__init__()
        self.conv1 = CausalConv1d(
            in_channels, out_channels, kernel_size, dilation, groups
        )
        self.conv2 = CausalConv1d(
            out_channels, out_channels, kernel_size, dilation, groups
        )
        self.dropout = nn.Dropout(dropout)
        self.downsample = (
            nn.Conv1d(in_channels, out_channels, 1, groups=groups)
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        out = _masked(self.dropout(F.relu(self.conv1(x))), mask)
        out = _masked(self.dropout(F.relu(self.conv2(out))), mask)
        return _masked(F.relu(out + self.downsample(x)), mask)


class TCN(nn.Module):
    """A stack of temporal blocks, one per entry of ``channels``, dilation
    2**i at level i: ``(batch, time, input_size) -> (batch, time,
    channels[-1])``. With ``lengths`` (right-padded sequences) each
    sequence is shifted to end on the last step and its padding masked in
    every block, so its features equal those of the sequence alone; they
    come back right-padded."""

    def __init__(
        self,
        input_size: int,
        channels: list[int],
        kernel_size: int = 3,
        dropout: float = 0.0,
    ):
        super().__init__()
        if input_size < 1:
            raise ValueError(f"input_size must be >= 1, got {input_size}")
        if not channels or any(c < 1 for c in channels):
            raise ValueError(
                "channels must be a non-empty list of positive widths, "
                f"got {channels}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        widths = [input_size, *channels]
        self.blocks = nn.Sequential(
            *[
                TemporalBlock(w_in, w_out, kernel_size, 2**i, dropout)
                for i, (w_in, w_out) in enumerate(zip(widths, widths[1:]))
            ]
        )
        self.input_size = input_size
        self.kernel_size = kernel_size
        self.num_levels = len(channels)

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.kernel_size, self.num_levels)

    def left_aligned(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The features with every sequence ending on the last step
        (left-padded, zeros before each start): ``[:, -1]`` is each
        sequence's last step. Without ``lengths``, the plain forward."""
        _check_input(x, self.input_size)
        if lengths is None:
            return self.blocks(x.transpose(1, 2)).transpose(1, 2)
        check_lengths(lengths, x)
        lengths = lengths.to(x.device)
        # (batch, 1, time)
        mask = step_mask(lengths, x.shape[1], "left")[:, None].to(x.dtype)
        h = to_left_padded(x, lengths).transpose(1, 2)
        for block in self.blocks:
            h = block(h, mask)
        return h.transpose(1, 2)

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        features = self.left_aligned(x, lengths)
        if lengths is None:
            return features
        return to_right_padded(features, lengths)


class TCNClassifier(nn.Module):
    """A TCN followed by a linear layer: ``readout="last"`` maps ``(batch,
    time, input_size) -> (batch, num_outputs)`` from the last step (which
    sees the whole receptive field), ``"sequence"`` gives ``(batch, time,
    num_outputs)``; ``num_outputs`` is the number of classes, or 1 for a
    regression. With ``lengths`` (right-padded sequences) ``"last"`` reads
    each sequence at its true end and ``"sequence"`` gives right-padded
    outputs, each exactly as for the sequence alone."""

    def __init__(
        self,
        input_size: int,
        num_outputs: int,
        channels: list[int],
        kernel_size: int = 3,
        dropout: float = 0.0,
        readout: str = "last",
    ):
        super().__init__()
        if readout not in READOUTS:
            raise ValueError(
                f"readout must be one of {READOUTS}, got {readout!r}"
            )
        if num_outputs < 1:
            raise ValueError(f"num_outputs must be >= 1, got {num_outputs}")
        self.tcn = TCN(input_size, channels, kernel_size, dropout)
        self.head = nn.Linear(channels[-1], num_outputs)
        self.readout = readout

    @property
    def receptive_field(self) -> int:
        return self.tcn.receptive_field

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.readout == "sequence":
            return self.head(self.tcn(x, lengths))
        return self.head(self.tcn.left_aligned(x, lengths)[:, -1])

    def steps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The last block's features after every step ``(batch, time,
        channels)`` and the head's logits on each ``(batch, time,
        outputs)``: the student's running opinion. Step ``t`` sees inputs
        ``0 .. t`` only; the last step is the ``readout="last"`` output."""
        features = self.tcn(x)
        return features, self.head(features)


class LSTMClassifier(nn.Module):
    """A (stacked) LSTM followed by a linear layer: ``readout="last"`` maps
    ``(batch, time, input_size) -> (batch, num_outputs)`` from the hidden
    state after the last step, ``"sequence"`` gives ``(batch, time,
    num_outputs)``. With ``lengths`` (right-padded sequences) the batch is
    packed, so the LSTM stops at each sequence's true end. ``forget_bias``
    (for example 1.0, Jozefowicz et al. 2015) sets the forget gate's bias so
    that, untrained, the cell keeps most of its memory from step to step;
    ``None`` keeps PyTorch's default initialisation (the book's committed
    teachers were trained so)."""

    def __init__(
        self,
        input_size: int,
        num_outputs: int,
        hidden_size: int = 128,
        num_layers: int = 1,
        dropout: float = 0.0,
        readout: str = "last",
        forget_bias: float | None = None,
    ):
        super().__init__()
        if readout not in READOUTS:
            raise ValueError(
                f"readout must be one of {READOUTS}, got {readout!r}"
            )
        for name, value in (
            ("input_size", input_size),
            ("num_outputs", num_outputs),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.lstm = nn.LSTM(
            input_size,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        if forget_bias is not None:
            # PyTorch orders the gates (input, forget, cell, output) and
            # adds two biases; the forget gate's total becomes forget_bias
            forget = slice(hidden_size, 2 * hidden_size)
            with torch.no_grad():
                for name, bias in self.lstm.named_parameters():
                    if name.startswith("bias_ih"):
                        bias[forget] = float(forget_bias)
                    elif name.startswith("bias_hh"):
                        bias[forget] = 0.0
        self.head = nn.Linear(hidden_size, num_outputs)
        self.readout = readout
        self.input_size = input_size

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        _check_input(x, self.input_size)
        if lengths is None:
            outputs, (h_n, _) = self.lstm(x)
        else:
            check_lengths(lengths, x)
            packed = nn.utils.rnn.pack_padded_sequence(
                x, lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            packed_out, (h_n, _) = self.lstm(packed)
            outputs, _ = nn.utils.rnn.pad_packed_sequence(
                packed_out, batch_first=True, total_length=x.shape[1]
            )
        if self.readout == "last":
            return self.head(h_n[-1])
        return self.head(outputs)

    def steps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The top layer's hidden state after every step ``(batch, time,
        hidden)`` and the head's logits on each: the teacher's running
        opinion, as :meth:`TCNClassifier.steps` gives the student's."""
        check_tensor(x, "x", ndim=3, floating=True)
        states, _ = self.lstm(x)
        return states, self.head(states)
