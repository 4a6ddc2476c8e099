"""Streaming inference: one new input step in, one prediction out.

A causal convolution with kernel ``k`` and dilation ``d`` reads the inputs
at ``t, t-d, ..., t-(k-1)d``. To produce step ``t`` alone it therefore needs
only its own last ``(k-1)*d`` inputs, kept in a buffer: one column of work
per layer instead of the whole receptive field (the idea of fast WaveNet
generation).

Every streaming model here is a pure function of its input and its state,
``(y, new_states) = step(x, states)`` with ``x`` ``(batch, input_size)``
and ``y`` ``(batch, outputs)``; nothing is kept between calls, so the same
step can be scripted, compiled or exported (:mod:`.deployment`).
``step.initial_state(batch_size)`` starts new sequences and
:func:`run_steps` streams ``(batch, time, features)`` through a step.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models import (
    TCN,
    CausalConv1d,
    LSTMClassifier,
    TCNClassifier,
    TemporalBlock,
)
from ..utils import Timing, check_int, check_tensor, measure_latency

__all__ = [
    "TCNStep",
    "LSTMStep",
    "RecomputingTCN",
    "run_steps",
    "state_floats",
    "multiply_adds_per_step",
    "step_latency",
]


def _split_classifier(model: nn.Module) -> tuple[TCN, nn.Linear | None]:
    if isinstance(model, TCNClassifier):
        return model.tcn, model.head
    if isinstance(model, TCN):
        return model, None
    raise TypeError(
        "model must be a kd_lib.models.TCN or kd_lib.TCNClassifier, got "
        f"{type(model).__name__}"
    )


def _linear(weight: torch.Tensor, bias: torch.Tensor) -> nn.Linear:
    # an nn.Linear holding a copy of (out, in) weights: dynamic int8
    # quantisation (kd_lib.chapters.deployment) covers it
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return layer


class _ConvStep(nn.Module):
    # One causal conv as a pure function of (input, state). Per step: one
    # concatenation for the window (state, x), one index_select of its k
    # taps (none when d = 1: the window is the taps), one matrix product
    # and one slice for the next state.
    def __init__(self, conv: CausalConv1d):
        super().__init__()
        weight = conv.conv.weight.detach()  # weight norm folded here
        out_channels, in_channels, kernel_size = weight.shape
        dilation = conv.conv.dilation[0]
        self.in_channels = in_channels
        self.state_size = conv.left_padding * in_channels
        self.gather = dilation > 1
        # columns of the taps t-(k-1)d, ..., t-d, t in the flat window
        taps = [
            j * dilation * in_channels + c
            for j in range(kernel_size)
            for c in range(in_channels)
        ]
        self.register_buffer("taps", torch.tensor(taps))
        # columns ordered (tap, channel) like the window
        self.linear = _linear(
            weight.permute(0, 2, 1).reshape(out_channels, -1),
            conv.conv.bias.detach(),
        )

    def forward(
        self, x: torch.Tensor, state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        window = torch.cat([state, x], dim=1)
        taps = window.index_select(1, self.taps) if self.gather else window
        return self.linear(taps), window[:, self.in_channels :]


class _BlockStep(nn.Module):
    def __init__(self, block: TemporalBlock):
        super().__init__()
        self.conv1 = _ConvStep(block.conv1)
        self.conv2 = _ConvStep(block.conv2)
        down = block.downsample
        # a 1x1 conv is a linear map of one column
        self.downsample = (
            _linear(down.weight.detach()[..., 0], down.bias.detach())
            if isinstance(down, nn.Conv1d)
            else nn.Identity()
        )

    def forward(
        self, x: torch.Tensor, state1: torch.Tensor, state2: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h, state1 = self.conv1(x, state1)
        h, state2 = self.conv2(torch.relu(h), state2)
        out = torch.relu(torch.relu(h) + self.downsample(x))
        return out, state1, state2


class TCNStep(nn.Module):
    """One streaming step of a trained TCN (or TCN classifier):
    ``(y, new_states) = step(x, states)``. Weight normalisation is folded
    and every convolution is one ``nn.Linear`` over its ``k`` taps.
    ``states`` holds one tensor per convolution,
    ``(batch, (k-1)*d*in_channels)``: its last ``(k-1)*d`` inputs,
    time-major, zeros at the start (the left padding of the full forward
    pass). The output at step ``t`` equals the full forward pass at ``t``;
    for a classifier, the head applied to the features at ``t`` (so the last
    step gives ``readout="last"``'s answer). The weights are copied: later
    training of ``model`` does not reach the step."""

    def __init__(self, model: nn.Module):
        super().__init__()
        tcn, head = _split_classifier(model)
        self.blocks = nn.ModuleList(_BlockStep(b) for b in tcn.blocks)
        self.head = (
            nn.Identity()
            if head is None
            else _linear(head.weight.detach(), head.bias.detach())
        )
        self.input_size = tcn.input_size
        self.state_sizes = [
            conv.state_size
            for block in self.blocks
            for conv in (block.conv1, block.conv2)
        ]
        self.requires_grad_(False)
        self.eval()

    def initial_state(self, batch_size: int = 1) -> list[torch.Tensor]:
        """Zero buffers for ``batch_size`` new streams."""
        check_int(batch_size, "batch_size")
        return [torch.zeros(batch_size, n) for n in self.state_sizes]

    def forward(
        self, x: torch.Tensor, states: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        new_states: list[torch.Tensor] = []
        for i, block in enumerate(self.blocks):
            x, state1, state2 = block(x, states[2 * i], states[2 * i + 1])
            new_states.append(state1)
            new_states.append(state2)
        return self.head(x), new_states


class LSTMStep(nn.Module):
    """One step of an :class:`kd_lib.LSTMClassifier`, with the call of
    :class:`TCNStep`: ``(y, [h, c]) = step(x, [h, c])``, ``h`` and ``c``
    ``(num_layers, batch, hidden)``. The weights are copied."""

    def __init__(self, model: LSTMClassifier):
        super().__init__()
        if not isinstance(model, LSTMClassifier):
            raise TypeError(
                "model must be a kd_lib.LSTMClassifier, got "
                f"{type(model).__name__}"
            )
        lstm = model.lstm
        self.lstm = nn.LSTM(
            lstm.input_size,
            lstm.hidden_size,
            lstm.num_layers,
            batch_first=True,
        )
        self.lstm.load_state_dict(lstm.state_dict())
        self.head = _linear(model.head.weight, model.head.bias)
        self.input_size = model.input_size
        self.eval()

    def initial_state(self, batch_size: int = 1) -> list[torch.Tensor]:
        """Zero ``[h, c]`` for ``batch_size`` new streams."""
        check_int(batch_size, "batch_size")
        shape = (self.lstm.num_layers, batch_size, self.lstm.hidden_size)
        return [torch.zeros(shape), torch.zeros(shape)]

    def forward(
        self, x: torch.Tensor, states: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out, (h, c) = self.lstm(x.unsqueeze(1), (states[0], states[1]))
        return self.head(out[:, 0]), [h, c]


class RecomputingTCN(nn.Module):
    """The naive way to stream a TCN, with the call of :class:`TCNStep`:
    keep the last inputs, rerun the whole net over them at every step. The
    state is one tensor, the window of past inputs
    ``(batch, time, input_size)``; it keeps at most ``receptive_field``
    steps, since older inputs cannot reach the newest output. Each step
    costs a full forward pass over the window. The model is shared, not
    copied."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.tcn, self.head = _split_classifier(model)
        self.input_size = self.tcn.input_size
        self.receptive_field = self.tcn.receptive_field

    def initial_state(self, batch_size: int = 1) -> list[torch.Tensor]:
        """An empty window for ``batch_size`` new streams."""
        check_int(batch_size, "batch_size")
        return [torch.zeros(batch_size, 0, self.input_size)]

    def forward(
        self, x: torch.Tensor, states: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        window = torch.cat([states[0], x.unsqueeze(1)], dim=1)
        window = window[:, -self.receptive_field :]
        # every column recomputed, the last one kept
        features = self.tcn(window)[:, -1]
        y = features if self.head is None else self.head(features)
        return y, [window]


@torch.no_grad()
def run_steps(
    step, x: torch.Tensor, states: list[torch.Tensor] | None = None
) -> torch.Tensor:
    """Feed ``x`` ``(batch, time, features)`` through ``step`` (a step of
    this module, or any callable with its signature: scripted, compiled or
    exported) from ``states`` (default ``step.initial_state``); return
    every step's output, ``(batch, time, outputs)``."""
    check_tensor(x, "x", ndim=3, floating=True)
    if not callable(step):
        raise TypeError(f"step must be callable, got {type(step).__name__}")
    if states is None:
        states = step.initial_state(x.shape[0])
    outputs = []
    for t in range(x.shape[1]):
        y, states = step(x[:, t], states)
        outputs.append(y)
    return torch.stack(outputs, dim=1)


# --------------------------------------------------------------- accounting


def _step_of(model: nn.Module) -> nn.Module:
    if isinstance(model, LSTMClassifier):
        return LSTMStep(model)
    return TCNStep(model)


def state_floats(model: nn.Module) -> int:
    """Numbers one stream must keep between steps (float32 each), from
    the architecture alone: a TCN's buffers (``in * (k-1) * d`` per causal
    conv), an LSTM's ``h`` and ``c`` (``2 * num_layers * hidden_size``), or
    a :class:`RecomputingTCN`'s raw inputs of one receptive field."""
    if isinstance(model, RecomputingTCN):
        return model.receptive_field * model.input_size
    return sum(s.numel() for s in _step_of(model).initial_state(1))


def multiply_adds_per_step(model: nn.Module, window: int = 1) -> int:
    """Multiply-adds for one new output step of a TCN or LSTM classifier,
    counting weight products only: one per entry of every weight matrix
    of its step (a convolution's ``out * in * k``, a 1x1 downsample's
    ``out * in``, an LSTM layer's ``4 * hidden * (input + hidden)`` for its
    four gates, the head's ``in * out``). Biases, activations and weight
    normalisation are not counted.

    ``window=1`` is streaming (one column per layer); recomputing a window
    costs the same per column for each of its ``window`` columns, the head
    once (``window=model.receptive_field`` gives a
    :class:`RecomputingTCN`'s steady state).
    """
    check_int(window, "window")
    step = _step_of(model)
    total = sum(p.numel() for p in step.parameters() if p.dim() == 2)
    has_head = isinstance(step.head, nn.Linear)
    head = step.head.weight.numel() if has_head else 0
    return window * (total - head) + head


def step_latency(
    step: nn.Module,
    batch_size: int = 1,
    *,
    repeats: int = 200,
    warmup: int = 20,
) -> Timing:
    """Median wall time of one call of ``step`` for ``batch_size``
    streams of random inputs, from its steady state (a
    :class:`RecomputingTCN` from a full window; the other steps cost the
    same at every step anyway)."""
    if not isinstance(step, (TCNStep, LSTMStep, RecomputingTCN)):
        raise TypeError(
            "step must be a TCNStep, LSTMStep or RecomputingTCN, "
            f"got {type(step).__name__}"
        )
    check_int(batch_size, "batch_size")
    x = torch.rand(batch_size, step.input_size)
    states = step.initial_state(batch_size)
    if isinstance(step, RecomputingTCN):
        shape = (batch_size, step.receptive_field, step.input_size)
        states = [torch.rand(shape)]
    return measure_latency(
        lambda: step(x, states), repeats=repeats, warmup=warmup
    )
