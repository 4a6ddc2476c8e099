"""The teacher (an LSTM) and the student (a temporal convolutional network).

The TCN follows Bai, Kolter & Koltun (2018): residual blocks of two dilated
causal convolutions, dilation 2**i at level i, weight normalisation, no
pooling. Both models take inputs of shape ``(batch, time, features)`` and,
for right-padded sequences of different lengths, their ``lengths`` (see
:mod:`kd_lib.padding`).
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


def receptive_field(
    kernel_size: int, num_levels: int, convs_per_block: int = 2
) -> int:
    """Number of input steps that can reach one output of a
    dilated causal stack.

    Level i has ``convs_per_block`` convolutions of dilation ``2**i``; each
    adds ``(kernel_size - 1) * 2**i`` steps of history, so ``RF = 1 +
    convs_per_block * (kernel_size - 1) * (2**num_levels - 1)``.
    """
    check_int(kernel_size, "kernel_size", minimum=2)
    check_int(num_levels, "num_levels")
    check_int(convs_per_block, "convs_per_block")
    return 1 + convs_per_block * (kernel_size - 1) * (2**num_levels - 1)


class CausalConv1d(nn.Module):
    """A dilated convolution whose output at time t sees inputs t,
    t-d, ..., t-(k-1)d only.

    Causality comes from padding ``(k-1)*d`` zeros on the left, so the
    output is exactly as long as the input and nothing is computed that must
    be thrown away. Shapes: ``(batch, channels, time) -> (batch,
    out_channels, time)``. ``groups > 1`` splits the channels into
    independent groups (as in ``nn.Conv1d``), which :mod:`kd_lib.multiseed`
    uses to run several students as one.
    """

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


def _masked(out: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # mask (batch, 1 or groups, time): each group's channels share a row
    if mask.shape[1] == 1:
        return out * mask
    groups = mask.shape[1]
    return (out.unflatten(1, (groups, -1)) * mask[:, :, None]).flatten(1, 2)


class TemporalBlock(nn.Module):
    """Two causal convolutions (each followed by ReLU and
    dropout) plus a residual.

    The residual is a 1×1 convolution when the widths differ, else the
    identity. Shapes: ``(batch, in_channels, time) -> (batch, out_channels,
    time)``.

    ``mask`` ``(batch, 1, time)`` (or ``(batch, groups, time)``, one row per
    group) holds 1 at real steps and 0 at the padding of left-padded
    sequences. Zero inputs alone would not hide the padding: the biases make
    the activations there nonzero, unlike the causal convolution's own zero
    padding. Multiplying every activation by the mask keeps them exactly
    zero, so each sequence of the batch gets what it would get alone.
    """

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
        if mask is None:
            out = self.dropout(F.relu(self.conv1(x)))
            out = self.dropout(F.relu(self.conv2(out)))
            return F.relu(out + self.downsample(x))
        out = _masked(self.dropout(F.relu(self.conv1(x))), mask)
        out = _masked(self.dropout(F.relu(self.conv2(out))), mask)
        return _masked(F.relu(out + self.downsample(x)), mask)


class TCN(nn.Module):
    """A stack of temporal blocks, one per entry of ``channels``,
    dilation 2**i at level i.

    Shapes: ``(batch, time, input_size) -> (batch, time, channels[-1])``.
    With ``lengths`` (right-padded sequences, see :mod:`kd_lib.padding`)
    each sequence is shifted to end on the last step and its padding masked
    in every block, so its features equal those of the sequence alone; they
    come back right-padded, zeros after each sequence's end.
    """

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
        if kernel_size < 2:
            raise ValueError(f"kernel_size must be >= 2, got {kernel_size}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        widths = [input_size, *channels]
        self.blocks = nn.Sequential(
            *[
                TemporalBlock(
                    widths[i],
                    widths[i + 1],
                    kernel_size,
                    dilation=2**i,
                    dropout=dropout,
                )
                for i in range(len(channels))
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
        check_tensor(x, "x", ndim=3, floating=True)
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"x must have {self.input_size} features in its last "
                "dimension "
                f"(batch, time, features), got shape {tuple(x.shape)}"
            )
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
    """A TCN followed by a linear layer.

    ``readout="last"`` maps ``(batch, time, input_size) -> (batch,
    num_outputs)`` from the last time step (which sees the whole receptive
    field); ``readout="sequence"`` gives one output per step,
    ``(batch, time, num_outputs)``. ``num_outputs`` is the number of
    classes, or 1 for a regression. With ``lengths`` (right-padded
    sequences) ``"last"`` reads each sequence at its true end and
    ``"sequence"`` gives right-padded outputs (those after a sequence's end
    mean nothing), each exactly as for the sequence alone.
    """

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
        if lengths is None:
            features = self.tcn(x)
            if self.readout == "last":
                features = features[:, -1]
            return self.head(features)
        if self.readout == "last":
            return self.head(self.tcn.left_aligned(x, lengths)[:, -1])
        return self.head(self.tcn(x, lengths))

    def steps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The last block's features after every step ``(batch, time,
        channels)`` and the head's logits on each ``(batch, time,
        outputs)``: the student's running opinion. Step ``t`` sees inputs
        ``0 .. t`` only; the last step is the ``readout="last"`` output."""
        features = self.tcn(x)
        return features, self.head(features)


class LSTMClassifier(nn.Module):
    """A (stacked) LSTM followed by a linear layer.

    ``readout="last"`` maps ``(batch, time, input_size) -> (batch,
    num_outputs)`` from the hidden state after the last step;
    ``readout="sequence"`` gives ``(batch, time, num_outputs)``. For a batch
    of right-padded sequences of different lengths pass ``lengths`` (a 1-D
    tensor): the sequences are packed so that the LSTM stops at each one's
    true end.

    ``forget_bias`` (for example 1.0, Jozefowicz et al. 2015) sets the
    forget gate's bias so that, untrained, the cell keeps most of its
    memory from step to step; ``None`` keeps PyTorch's default
    initialisation (the book's committed teachers were trained so).
    """

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
            self._set_forget_bias(float(forget_bias))
        self.head = nn.Linear(hidden_size, num_outputs)
        self.readout = readout
        self.input_size = input_size

    def _set_forget_bias(self, value: float) -> None:
        # PyTorch orders the gates (input, forget, cell, output) and adds
        # two biases; the forget gate's total bias becomes ``value``.
        hidden = self.lstm.hidden_size
        forget = slice(hidden, 2 * hidden)
        with torch.no_grad():
            for name, bias in self.lstm.named_parameters():
                if name.startswith("bias_ih"):
                    bias[forget] = value
                elif name.startswith("bias_hh"):
                    bias[forget] = 0.0

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        check_tensor(x, "x", ndim=3, floating=True)
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"x must have {self.input_size} features in its last "
                "dimension "
                f"(batch, time, features), got shape {tuple(x.shape)}"
            )
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
        hidden)`` and the head's logits on each ``(batch, time,
        outputs)``: the teacher's running opinion, from the same weights
        as :meth:`forward`. Step ``t`` has seen inputs ``0 .. t`` only;
        the last step is the ``readout="last"`` output."""
        check_tensor(x, "x", ndim=3, floating=True)
        states, _ = self.lstm(x)
        return states, self.head(states)
