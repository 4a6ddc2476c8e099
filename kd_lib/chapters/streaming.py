"""Streaming inference: one new input step in, one prediction out.

A causal convolution with kernel ``k`` and dilation ``d`` reads the inputs
at ``t, t-d, ..., t-(k-1)d``. To produce step ``t`` alone it therefore needs
only its own last ``(k-1)*d`` inputs, kept in a buffer: one column of work
per layer instead of the whole receptive field (the idea of fast WaveNet
generation). :class:`StreamingTCN` does that for a :class:`kd_lib.TCN` or
:class:`kd_lib.TCNClassifier`; :class:`StreamingLSTM` is the recurrent
counterpart (it carries ``(h, c)``); :class:`RecomputingTCN` is the naive
baseline that reruns the TCN over its whole window at every step.

All three share one interface: ``reset(batch_size)`` starts new sequences,
``step(x_t)`` maps ``(batch, features) -> (batch, outputs)``, and calling
the module on ``(batch, time, features)`` streams it step by step into
``(batch, time, outputs)``; given the ``lengths`` of right-padded sequences
(see :mod:`kd_lib.padding`), each stream's output stops changing at its
last real step, so ``[:, -1]`` is every sequence's output at its true end.
They are for inference only (dropout is off).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from ..models import (
    TCN,
    CausalConv1d,
    LSTMClassifier,
    TCNClassifier,
    TemporalBlock,
)
from ..padding import check_lengths
from ..utils import Timing, check_tensor, measure_latency

__all__ = [
    "StreamingCausalConv",
    "StreamingBlock",
    "StreamingTCN",
    "StreamingLSTM",
    "RecomputingTCN",
    "state_floats",
    "state_bytes",
    "multiply_adds_per_step",
    "step_latency",
    "latency_vs_streams",
    "ops_per_step",
    "LastStep",
    "TCNStep",
    "LSTMStep",
    "run_steps",
]

BYTES_PER_FLOAT = 4  # float32


def _split_classifier(model: nn.Module) -> tuple[TCN, nn.Linear | None]:
    if isinstance(model, TCNClassifier):
        return model.tcn, model.head
    if isinstance(model, TCN):
        return model, None
    raise TypeError(
        "model must be a kd_lib.TCN or kd_lib.TCNClassifier, got "
        f"{type(model).__name__}"
    )


class StreamingCausalConv(nn.Module):
    """One :class:`kd_lib.CausalConv1d` computed one step at a time.

    The weight-normalised kernel ``(out, in, k)`` is folded once into a
    plain ``nn.Linear`` over the ``k`` taps, so a step is a single matrix
    product of ``in*k`` numbers (and dynamic int8 quantisation, which covers
    ``nn.Linear``, applies to it). The buffer holds the last ``(k-1)*d``
    inputs and starts as zeros, exactly like the left padding of the full
    convolution. Shapes: ``step((batch, in)) -> (batch, out)``.
    """

    def __init__(self, conv: CausalConv1d):
        super().__init__()
        if not isinstance(conv, CausalConv1d):
            raise TypeError(
                "conv must be a kd_lib.CausalConv1d, got "
                f"{type(conv).__name__}"
            )
        # weight norm applied: g * v / |v|
        weight = conv.conv.weight.detach()
        out_channels, in_channels, kernel_size = weight.shape
        self.dilation = conv.conv.dilation[0]
        self.history = conv.left_padding  # (k - 1) * d
        self.linear = nn.Linear(in_channels * kernel_size, out_channels)
        with torch.no_grad():
            # taps are laid out (in, k) like the kernel, so flattening both
            # matches
            self.linear.weight.copy_(weight.reshape(out_channels, -1))
            self.linear.bias.copy_(conv.conv.bias.detach())
        self.in_channels = in_channels
        self.buffer = torch.zeros(1, in_channels, self.history)

    def reset(self, batch_size: int) -> None:
        self.buffer = torch.zeros(
            batch_size, self.in_channels, self.history
        )

    def step(self, x: torch.Tensor) -> torch.Tensor:
        # (batch, in, (k-1)d + 1)
        window = torch.cat([self.buffer, x.unsqueeze(-1)], dim=-1)
        self.buffer = window[:, :, 1:]
        # inputs at t-(k-1)d, ..., t-d, t
        taps = window[:, :, :: self.dilation]
        return self.linear(taps.flatten(1))


class StreamingBlock(nn.Module):
    """A :class:`kd_lib.TemporalBlock` one step at a time: two streaming
    convs plus the residual."""

    def __init__(self, block: TemporalBlock):
        super().__init__()
        self.conv1 = StreamingCausalConv(block.conv1)
        self.conv2 = StreamingCausalConv(block.conv2)
        self.downsample = None
        # a 1×1 conv is a linear map of one column
        if isinstance(block.downsample, nn.Conv1d):
            self.downsample = nn.Linear(
                block.downsample.in_channels, block.downsample.out_channels
            )
            with torch.no_grad():
                self.downsample.weight.copy_(
                    block.downsample.weight.detach().squeeze(-1)
                )
                self.downsample.bias.copy_(block.downsample.bias.detach())

    def reset(self, batch_size: int) -> None:
        self.conv1.reset(batch_size)
        self.conv2.reset(batch_size)

    def step(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.conv2.step(F.relu(self.conv1.step(x))))
        residual = x if self.downsample is None else self.downsample(x)
        return F.relu(out + residual)


class _Streamer(nn.Module):
    """Shared plumbing: input checks and streaming a whole
    sequence step by step."""

    input_size: int

    def _check_step(self, x: torch.Tensor) -> None:
        check_tensor(x, "x", ndim=2, floating=True)
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"x must be one step of shape (batch, {self.input_size}), "
                f"got shape {tuple(x.shape)}"
            )
        if x.shape[0] != self.batch_size:
            raise ValueError(
                f"x has batch size {x.shape[0]} but the state holds "
                f"{self.batch_size} "
                f"streams; call reset({x.shape[0]}) to start new sequences"
            )

    @torch.no_grad()
    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Reset, then stream ``(batch, time, features)`` into
        ``(batch, time, outputs)``.

        With ``lengths`` ``(batch,)`` (right-padded sequences) the padding
        is never streamed into a result: from its last real step on, each
        sequence's output is the one of that step.
        """
        check_tensor(x, "x", ndim=3, floating=True)
        if lengths is None:
            self.reset(x.shape[0])
            return torch.stack(
                [self.step(x[:, t]) for t in range(x.shape[1])], dim=1
            )
        check_lengths(lengths, x)
        lengths = lengths.to(x.device)
        outputs = self(x[:, : int(lengths.max())])
        # step t reads step min(t, length - 1)
        last = torch.minimum(
            torch.arange(x.shape[1], device=x.device),
            (lengths - 1)[:, None],
        )
        return outputs.gather(
            1, last[..., None].expand(-1, -1, outputs.shape[-1])
        )


class StreamingTCN(_Streamer):
    """A trained TCN (or TCN classifier) turned into a
    step-by-step predictor.

    Each causal conv keeps a buffer of its last ``(k-1)*d`` inputs, so a
    step costs one column of work per layer. The output of ``step`` at time
    ``t`` equals the full forward pass at ``t``: for a classifier, the head
    applied to the features at ``t`` (so the last step gives
    ``readout="last"``'s answer). The weights are copied when the wrapper is
    made; later training of the original model does not reach it. Shapes:
    ``step((batch, input_size)) -> (batch, outputs)``.
    """

    def __init__(self, model: nn.Module, batch_size: int = 1):
        super().__init__()
        tcn, head = _split_classifier(model)
        self.blocks = nn.ModuleList(StreamingBlock(b) for b in tcn.blocks)
        self.head = None
        if head is not None:
            self.head = nn.Linear(head.in_features, head.out_features)
            self.head.load_state_dict(head.state_dict())
        self.input_size = tcn.input_size
        self.receptive_field = tcn.receptive_field
        self.eval()
        self.reset(batch_size)

    def reset(self, batch_size: int = 1) -> None:
        """Forget everything: the next step is the first of
        ``batch_size`` new sequences."""
        _check_batch_size(batch_size)
        self.batch_size = batch_size
        for block in self.blocks:
            block.reset(batch_size)

    @torch.no_grad()
    def step(self, x: torch.Tensor) -> torch.Tensor:
        self._check_step(x)
        for block in self.blocks:
            x = block.step(x)
        return x if self.head is None else self.head(x)

    @property
    def state_floats(self) -> int:
        """Numbers held in the buffers now, over all streams."""
        return sum(
            conv.buffer.numel()
            for block in self.blocks
            for conv in (block.conv1, block.conv2)
        )


class StreamingLSTM(_Streamer):
    """A :class:`kd_lib.LSTMClassifier` fed one step at a time,
    carrying ``(h, c)``.

    Each step runs the model's own ``nn.LSTM`` on a sequence of length one
    from the carried state, then the head on the top layer's new ``h``.
    Shapes: ``step((batch, input_size)) -> (batch, outputs)``.
    """

    def __init__(self, model: LSTMClassifier, batch_size: int = 1):
        super().__init__()
        if not isinstance(model, LSTMClassifier):
            raise TypeError(
                "model must be a kd_lib.LSTMClassifier, got "
                f"{type(model).__name__}"
            )
        # shared, not copied: no weights to fold
        self.lstm, self.head = model.lstm, model.head
        self.input_size = model.input_size
        self.reset(batch_size)

    def reset(self, batch_size: int = 1) -> None:
        """Zero ``(h, c)``: the next step is the first of
        ``batch_size`` new sequences."""
        _check_batch_size(batch_size)
        self.batch_size = batch_size
        shape = (self.lstm.num_layers, batch_size, self.lstm.hidden_size)
        self.state = (torch.zeros(shape), torch.zeros(shape))

    @torch.no_grad()
    def step(self, x: torch.Tensor) -> torch.Tensor:
        self._check_step(x)
        out, self.state = self.lstm(x.unsqueeze(1), self.state)
        return self.head(out[:, 0])

    @property
    def state_floats(self) -> int:
        return sum(s.numel() for s in self.state)


class RecomputingTCN(_Streamer):
    """The naive way to stream a TCN: keep the last inputs, rerun the
    whole net each step.

    The window holds at most ``receptive_field`` inputs: older ones cannot
    reach the newest output, so dropping them changes nothing. Each step
    costs a full forward pass over the window. Shapes:
    ``step((batch, input_size)) -> (batch, outputs)``.
    """

    def __init__(self, model: nn.Module, batch_size: int = 1):
        super().__init__()
        self.tcn, self.head = _split_classifier(model)  # shared, not copied
        tcn = self.tcn
        self.input_size = tcn.input_size
        self.receptive_field = tcn.receptive_field
        self.reset(batch_size)

    def reset(self, batch_size: int = 1) -> None:
        _check_batch_size(batch_size)
        self.batch_size = batch_size
        self.window = torch.zeros(batch_size, 0, self.input_size)

    def fill(self, x: torch.Tensor) -> None:
        """Start new streams whose past inputs are ``x`` of shape
        ``(batch, time, input_size)``."""
        check_tensor(x, "x", ndim=3, floating=True)
        self.reset(x.shape[0])
        self.window = x[:, -self.receptive_field :]

    @torch.no_grad()
    def step(self, x: torch.Tensor) -> torch.Tensor:
        self._check_step(x)
        self.window = torch.cat([self.window, x.unsqueeze(1)], dim=1)[
            :, -self.receptive_field :
        ]
        # every column recomputed, the last one kept
        features = self.tcn(self.window)[:, -1]
        return features if self.head is None else self.head(features)

    @property
    def state_floats(self) -> int:
        return self.batch_size * self.receptive_field * self.input_size


def _check_batch_size(batch_size) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(
            f"batch_size must be an int, got {type(batch_size).__name__}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")


# --------------------------------------------------------------- accounting


def state_floats(model: nn.Module) -> int:
    """Numbers one stream must keep between steps (float32 each), from
    the architecture alone.

    - TCN: every causal conv buffers its last ``(k-1)*d`` inputs of ``in``
      channels, ``sum over convs of in * (k-1) * d``.
    - LSTM: ``h`` and ``c`` for every layer,
      ``2 * num_layers * hidden_size``.
    - :class:`RecomputingTCN`: the raw inputs of one receptive field.
    """
    if isinstance(model, RecomputingTCN):
        return model.receptive_field * model.input_size
    if isinstance(model, (StreamingTCN, StreamingLSTM)):
        return model.state_floats // model.batch_size
    if isinstance(model, LSTMClassifier):
        return 2 * model.lstm.num_layers * model.lstm.hidden_size
    tcn, _ = _split_classifier(model)
    return sum(
        conv.conv.in_channels * conv.left_padding
        for block in tcn.blocks
        for conv in (block.conv1, block.conv2)
    )


def state_bytes(model: nn.Module) -> int:
    """:func:`state_floats` in bytes (float32)."""
    return BYTES_PER_FLOAT * state_floats(model)


def multiply_adds_per_step(model: nn.Module, window: int = 1) -> int:
    """Multiply-adds for one new output step, counting weight products only.

    ``window=1`` is streaming (one column per layer); a
    :class:`RecomputingTCN` step costs the same per column for every one of
    the ``window`` columns it recomputes (use
    ``window=model.receptive_field`` for the steady state). An LSTM layer
    costs ``4 * hidden * (input + hidden)`` per step (four gates). Biases,
    activations and weight normalisation are not counted.
    """
    if (
        isinstance(window, bool)
        or not isinstance(window, int)
        or window < 1
    ):
        raise ValueError(f"window must be a positive int, got {window!r}")
    if isinstance(model, LSTMClassifier):
        lstm, total, inputs = model.lstm, 0, model.lstm.input_size
        for _ in range(lstm.num_layers):
            total += 4 * lstm.hidden_size * (inputs + lstm.hidden_size)
            inputs = lstm.hidden_size
        return (
            window * total
            + model.head.in_features * model.head.out_features
        )
    tcn, head = _split_classifier(model)
    per_column = 0
    for block in tcn.blocks:
        for conv in (block.conv1.conv, block.conv2.conv):
            per_column += (
                conv.out_channels * conv.in_channels * conv.kernel_size[0]
            )
        if isinstance(block.downsample, nn.Conv1d):
            per_column += (
                block.downsample.out_channels * block.downsample.in_channels
            )
    head_cost = 0 if head is None else head.in_features * head.out_features
    return window * per_column + head_cost


def step_latency(
    streamer: _Streamer,
    batch_size: int = 1,
    *,
    repeats: int = 200,
    warmup: int = 20,
    prefill: bool = True,
) -> Timing:
    """Median wall time of one ``step`` for ``batch_size``
    streams of random inputs.

    With ``prefill`` a :class:`RecomputingTCN` starts from a full window
    (its steady state); the other streamers cost the same at every step
    anyway.
    """
    if not isinstance(streamer, _Streamer):
        raise TypeError(
            "streamer must be a StreamingTCN, StreamingLSTM or "
            "RecomputingTCN, "
            f"got {type(streamer).__name__}"
        )
    _check_batch_size(batch_size)
    x = torch.rand(batch_size, streamer.input_size)
    if prefill and isinstance(streamer, RecomputingTCN):
        streamer.fill(
            torch.rand(
                batch_size, streamer.receptive_field, streamer.input_size
            )
        )
    else:
        streamer.reset(batch_size)
    return measure_latency(
        lambda: streamer.step(x), repeats=repeats, warmup=warmup
    )


def latency_vs_streams(
    streamers: dict[str, _Streamer],
    batch_sizes: list[int],
    *,
    repeats: int = 50,
    warmup: int = 5,
) -> dict[str, list[Timing]]:
    """:func:`step_latency` of every streamer at every number
    of parallel streams."""
    if not streamers or not batch_sizes:
        raise ValueError("need at least one streamer and one batch size")
    return {
        name: [
            step_latency(s, b, repeats=repeats, warmup=warmup)
            for b in batch_sizes
        ]
        for name, s in streamers.items()
    }


class _OpCounter(TorchDispatchMode):
    # sees every ATen operator call that reaches the dispatcher (composite
    # ops such as linear arrive already split into their parts, e.g. t and
    # addmm)
    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def ops_per_step(streamer: _Streamer, batch_size: int = 1) -> int:
    """Number of PyTorch operator calls one ``step`` makes.

    In eager mode every call pays a fixed dispatch overhead of a few
    microseconds however little arithmetic it does, so for tiny layers this
    count, not the multiply-adds, sets the time per step.
    """
    if not isinstance(streamer, _Streamer):
        raise TypeError(
            "streamer must be a StreamingTCN, StreamingLSTM or "
            "RecomputingTCN, "
            f"got {type(streamer).__name__}"
        )
    _check_batch_size(batch_size)
    x = torch.rand(batch_size, streamer.input_size)
    if isinstance(streamer, RecomputingTCN):
        streamer.fill(
            torch.rand(
                batch_size, streamer.receptive_field, streamer.input_size
            )
        )
    else:
        streamer.reset(batch_size)
    with torch.inference_mode(), _OpCounter() as counter:
        streamer.step(x)
    return counter.count


class LastStep(nn.Module):
    """Wrap a streamer so that calling it on ``(batch, time, features)``
    streams the whole sequence and returns only the last step,
    ``(batch, outputs)``: the same shape as a ``readout="last"`` classifier,
    so :func:`kd_lib.evaluate` works on it. With ``lengths`` (right-padded
    sequences) each one's output at its true end."""

    def __init__(self, streamer: _Streamer):
        super().__init__()
        if not isinstance(streamer, _Streamer):
            raise TypeError(
                "streamer must be a StreamingTCN, StreamingLSTM or "
                "RecomputingTCN, "
                f"got {type(streamer).__name__}"
            )
        self.streamer = streamer

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.streamer(x, lengths)[:, -1]


# --------------------------------------------- lean, explicit-state steps


class _ConvStep(nn.Module):
    # One causal conv as a pure function of (input, state). The state is
    # the last (k-1)*d inputs, time-major and flat: (batch, (k-1)*d*in).
    # The window (state, x) is one concatenation; its k taps are one
    # index_select (none when d = 1: the window is the taps); the conv is
    # one matrix product; the next state is one slice.
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
        # (k * in, out), rows ordered (tap, channel) like the window
        self.register_buffer(
            "weight",
            weight.permute(2, 1, 0).reshape(-1, out_channels).contiguous(),
        )
        self.register_buffer("bias", conv.conv.bias.detach().clone())

    def forward(
        self, x: torch.Tensor, state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        window = torch.cat([state, x], dim=1)
        taps = window.index_select(1, self.taps) if self.gather else window
        return (
            torch.addmm(self.bias, taps, self.weight),
            window[:, self.in_channels :],
        )


class _BlockStep(nn.Module):
    def __init__(self, block: TemporalBlock):
        super().__init__()
        self.conv1 = _ConvStep(block.conv1)
        self.conv2 = _ConvStep(block.conv2)
        self.downsample = isinstance(block.downsample, nn.Conv1d)
        weight = torch.zeros(0, 0)
        bias = torch.zeros(0)
        if self.downsample:
            weight = block.downsample.weight.detach()[..., 0].t()
            bias = block.downsample.bias.detach()
        self.register_buffer("down_weight", weight.contiguous().clone())
        self.register_buffer("down_bias", bias.clone())

    def forward(
        self, x: torch.Tensor, state1: torch.Tensor, state2: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h, state1 = self.conv1(x, state1)
        h, state2 = self.conv2(torch.relu(h), state2)
        residual = x
        if self.downsample:
            residual = torch.addmm(self.down_bias, x, self.down_weight)
        return torch.relu(torch.relu(h) + residual), state1, state2


class TCNStep(nn.Module):
    """One streaming step of a trained TCN (or TCN classifier), as a pure
    function of its input and its state: ``(y, new_states) = step(x,
    states)``.

    The lean form of :class:`StreamingTCN`, made for compilers and export:
    weight normalisation folded, every convolution one matrix product over
    its ``k`` taps, the state passed in and out explicitly (nothing is kept
    between calls) and as few operators per step as the model allows: per
    convolution one concatenation, one ``index_select`` of the taps (none
    at dilation 1), one ``addmm`` and one slice for the next state.

    Shapes: ``x`` ``(batch, input_size)``; ``states`` one tensor per
    convolution, ``(batch, (k-1)*d*in_channels)``, the last ``(k-1)*d``
    inputs time-major (see :meth:`initial_state`); ``y`` ``(batch,
    outputs)``. The outputs equal the full forward pass at every step.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        tcn, head = _split_classifier(model)
        self.blocks = nn.ModuleList(_BlockStep(b) for b in tcn.blocks)
        self.has_head = head is not None
        weight, bias = torch.zeros(0, 0), torch.zeros(0)
        if head is not None:
            weight, bias = head.weight.detach().t(), head.bias.detach()
        self.register_buffer("head_weight", weight.contiguous().clone())
        self.register_buffer("head_bias", bias.clone())
        self.input_size = tcn.input_size
        self.state_sizes = [
            conv.state_size
            for block in self.blocks
            for conv in (block.conv1, block.conv2)
        ]
        self.eval()

    def initial_state(self, batch_size: int = 1) -> list[torch.Tensor]:
        """Zero buffers for ``batch_size`` new streams (the zero padding
        of the full forward pass)."""
        _check_batch_size(batch_size)
        return [torch.zeros(batch_size, n) for n in self.state_sizes]

    def forward(
        self, x: torch.Tensor, states: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        new_states: list[torch.Tensor] = []
        for i, block in enumerate(self.blocks):
            x, state1, state2 = block(x, states[2 * i], states[2 * i + 1])
            new_states.append(state1)
            new_states.append(state2)
        if self.has_head:
            x = torch.addmm(self.head_bias, x, self.head_weight)
        return x, new_states


class LSTMStep(nn.Module):
    """One step of an :class:`kd_lib.LSTMClassifier` with its state
    ``[h, c]`` passed in and out: the teacher's counterpart of
    :class:`TCNStep`, with the same call ``(y, [h, c]) = step(x, [h,
    c])``. Shapes: ``x`` ``(batch, input_size)``; ``h`` and ``c``
    ``(num_layers, batch, hidden)``; ``y`` ``(batch, outputs)``."""

    def __init__(self, model: LSTMClassifier):
        super().__init__()
        if not isinstance(model, LSTMClassifier):
            raise TypeError(
                "model must be a kd_lib.LSTMClassifier, got "
                f"{type(model).__name__}"
            )
        self.lstm = nn.LSTM(
            model.lstm.input_size,
            model.lstm.hidden_size,
            model.lstm.num_layers,
            batch_first=True,
        )
        self.lstm.load_state_dict(model.lstm.state_dict())
        self.head = nn.Linear(
            model.head.in_features, model.head.out_features
        )
        self.head.load_state_dict(model.head.state_dict())
        self.input_size = model.input_size
        self.eval()

    def initial_state(self, batch_size: int = 1) -> list[torch.Tensor]:
        """Zero ``[h, c]`` for ``batch_size`` new streams."""
        _check_batch_size(batch_size)
        shape = (self.lstm.num_layers, batch_size, self.lstm.hidden_size)
        return [torch.zeros(shape), torch.zeros(shape)]

    def forward(
        self, x: torch.Tensor, states: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out, (h, c) = self.lstm(x.unsqueeze(1), (states[0], states[1]))
        return self.head(out[:, 0]), [h, c]


@torch.no_grad()
def run_steps(
    step,
    x: torch.Tensor,
    states: list[torch.Tensor],
) -> torch.Tensor:
    """Feed ``x`` ``(batch, time, features)`` through ``step`` (a
    :class:`TCNStep`, :class:`LSTMStep`, or any callable with their
    signature: scripted, compiled or exported) from ``states``; return
    every step's output, ``(batch, time, outputs)``."""
    check_tensor(x, "x", ndim=3, floating=True)
    if not callable(step):
        raise TypeError(f"step must be callable, got {type(step).__name__}")
    outputs = []
    for t in range(x.shape[1]):
        y, states = step(x[:, t], states)
        outputs.append(y)
    return torch.stack(outputs, dim=1)
