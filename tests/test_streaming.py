"""Streaming inference gives exactly what the full forward pass
gives, one step at a time."""

import pytest
import torch

import kd_lib
from kd_lib.chapters import streaming
from kd_lib.chapters.streaming import (
    LastStep,
    RecomputingTCN,
    StreamingLSTM,
    StreamingTCN,
)


def _trained_looking_tcn(
    seed,
    input_size=2,
    channels=(6, 5, 5, 7),
    kernel_size=3,
    readout="sequence",
):
    # random weights with non-trivial weight-norm gains and biases, like a
    # trained net
    kd_lib.set_seed(seed)
    model = kd_lib.TCNClassifier(
        input_size, 4, list(channels), kernel_size, readout=readout
    )
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model.eval()


@pytest.mark.parametrize(
    "seed, batch, length, kernel_size",
    [
        (0, 1, 1, 2),
        (1, 3, 17, 3),
        (2, 5, 64, 3),
        (3, 2, 150, 4),
        (4, 7, 40, 5),
    ],
)
def test_streaming_tcn_equals_full_forward(
    seed, batch, length, kernel_size
):
    model = _trained_looking_tcn(seed, kernel_size=kernel_size)
    x = torch.randn(
        batch, length, 2, generator=torch.Generator().manual_seed(seed)
    )
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(
        StreamingTCN(model)(x), expected, rtol=1e-5, atol=1e-5
    )
    torch.testing.assert_close(
        RecomputingTCN(model)(x), expected, rtol=1e-5, atol=1e-5
    )


def test_streaming_bare_tcn_gives_features():
    kd_lib.set_seed(0)
    tcn = kd_lib.TCN(3, [4, 4], kernel_size=2).eval()
    x = torch.randn(2, 20, 3)
    with torch.no_grad():
        expected = tcn(x)
    torch.testing.assert_close(
        StreamingTCN(tcn)(x), expected, rtol=1e-5, atol=1e-5
    )
    torch.testing.assert_close(
        RecomputingTCN(tcn)(x), expected, rtol=1e-5, atol=1e-5
    )


def test_last_step_matches_last_readout_classifier():
    model = _trained_looking_tcn(5, readout="last")
    x = torch.randn(4, 30, 2)
    with torch.no_grad():
        torch.testing.assert_close(
            LastStep(StreamingTCN(model))(x), model(x), rtol=1e-5, atol=1e-5
        )


@pytest.mark.parametrize("layers", [1, 2])
def test_streaming_lstm_equals_full_forward(layers):
    kd_lib.set_seed(layers)
    model = kd_lib.LSTMClassifier(
        2, 4, hidden_size=16, num_layers=layers, readout="sequence"
    ).eval()
    x = torch.randn(3, 25, 2)
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(
        StreamingLSTM(model)(x), expected, rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("make", [StreamingTCN, RecomputingTCN, "lstm"])
def test_reset_starts_a_new_sequence(make):
    if make == "lstm":
        kd_lib.set_seed(0)
        model = kd_lib.LSTMClassifier(
            2, 4, hidden_size=8, readout="sequence"
        ).eval()
        make = StreamingLSTM
    else:
        model = _trained_looking_tcn(0)
    first, second = torch.randn(2, 30, 2), torch.randn(2, 12, 2)
    streamer = make(model, batch_size=2)
    for t in range(first.shape[1]):
        streamer.step(first[:, t])
    streamer.reset(2)
    after_reset = torch.stack(
        [streamer.step(second[:, t]) for t in range(second.shape[1])], dim=1
    )
    with torch.no_grad():
        torch.testing.assert_close(
            after_reset, model(second), rtol=1e-5, atol=1e-5
        )
    # and without the reset the history does leak into the outputs
    streamer.reset(2)
    for t in range(first.shape[1]):
        streamer.step(first[:, t])
    leaked = torch.stack(
        [streamer.step(second[:, t]) for t in range(second.shape[1])], dim=1
    )
    assert not torch.allclose(leaked, after_reset, atol=1e-4)


def test_streams_in_a_batch_are_independent():
    model = _trained_looking_tcn(2)
    x = torch.randn(4, 20, 2)
    together = StreamingTCN(model)(x)
    alone = StreamingTCN(model)(x[2:3])
    torch.testing.assert_close(together[2:3], alone, rtol=1e-5, atol=1e-5)


def test_streaming_copies_the_weights():
    model = _trained_looking_tcn(0)
    streamer = StreamingTCN(model)
    x = torch.randn(1, 10, 2)
    before = streamer(x)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    torch.testing.assert_close(streamer(x), before)


def test_state_size_accounting():
    kd_lib.set_seed(0)
    tcn = kd_lib.TCNClassifier(1, 10, [8] * 5, kernel_size=3)
    # conv1 of level 0 reads 1 channel, every other conv 8; (k-1)*d = 2 *
    # 2**i
    expected = 1 * 2 + 8 * 2 + sum(2 * 8 * 2 * 2**i for i in range(1, 5))
    assert streaming.state_floats(tcn) == expected == 978
    assert streaming.state_bytes(tcn) == 4 * 978
    streamer = StreamingTCN(tcn, batch_size=3)
    assert streamer.state_floats == 3 * 978
    assert streaming.state_floats(streamer) == 978
    lstm = kd_lib.LSTMClassifier(1, 10, hidden_size=128, num_layers=2)
    assert streaming.state_floats(lstm) == 2 * 2 * 128
    assert StreamingLSTM(lstm, batch_size=5).state_floats == 5 * 512
    assert (
        streaming.state_floats(RecomputingTCN(tcn))
        == tcn.receptive_field
        == 125
    )


def test_multiply_adds_per_step():
    tcn = kd_lib.TCNClassifier(1, 10, [8] * 5, kernel_size=3)
    per_column = (8 * 1 * 3 + 8 * 8 * 3 + 8 * 1) + 4 * (2 * 8 * 8 * 3)
    assert streaming.multiply_adds_per_step(tcn) == per_column + 8 * 10
    assert (
        streaming.multiply_adds_per_step(tcn, window=125)
        == 125 * per_column + 80
    )
    lstm = kd_lib.LSTMClassifier(1, 10, hidden_size=128, num_layers=2)
    assert (
        streaming.multiply_adds_per_step(lstm)
        == 4 * 128 * 129 + 4 * 128 * 256 + 1280
    )


def test_step_latency_returns_a_positive_median():
    timing = streaming.step_latency(
        StreamingTCN(_trained_looking_tcn(0)),
        batch_size=2,
        repeats=5,
        warmup=1,
    )
    assert timing.median > 0 and timing.repeats == 5


def test_bad_inputs_raise():
    model = _trained_looking_tcn(0)
    streamer = StreamingTCN(model, batch_size=2)
    with pytest.raises(TypeError, match="kd_lib.TCN"):
        StreamingTCN(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="LSTMClassifier"):
        StreamingLSTM(model)
    with pytest.raises(ValueError, match="one step of shape"):
        streamer.step(torch.randn(2, 3))
    with pytest.raises(ValueError, match="2 dimensions"):
        streamer.step(torch.randn(2, 5, 2))
    with pytest.raises(ValueError, match="reset"):
        streamer.step(torch.randn(3, 2))
    with pytest.raises(TypeError, match="floating-point"):
        streamer.step(torch.ones(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="batch_size"):
        streamer.reset(0)
    with pytest.raises(TypeError, match="batch_size"):
        streamer.reset(2.0)
    with pytest.raises(ValueError, match="window"):
        streaming.multiply_adds_per_step(model, window=0)
    with pytest.raises(TypeError, match="streamer"):
        streaming.step_latency(model)


# ------------------------------------------- lean, explicit-state steps


@pytest.mark.parametrize(
    "seed, batch, length, kernel_size, channels",
    [
        (0, 1, 1, 2, (6, 5, 5, 7)),
        (1, 3, 17, 3, (6, 5, 5, 7)),
        (2, 5, 64, 3, (8, 8, 8, 8, 8)),
        (3, 2, 150, 4, (6, 5, 5, 7)),
        (4, 7, 40, 5, (3, 3)),
    ],
)
def test_tcn_step_equals_full_forward(
    seed, batch, length, kernel_size, channels
):
    model = _trained_looking_tcn(
        seed, kernel_size=kernel_size, channels=channels
    )
    x = torch.randn(
        batch, length, 2, generator=torch.Generator().manual_seed(seed)
    )
    step = streaming.TCNStep(model)
    with torch.no_grad():
        expected = model(x)
    got = streaming.run_steps(step, x, step.initial_state(batch))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # and it is the same computation as the stateful streamer
    torch.testing.assert_close(
        got, StreamingTCN(model)(x), rtol=1e-5, atol=1e-5
    )


def test_tcn_step_fresh_state_starts_a_new_sequence():
    model = _trained_looking_tcn(5)
    gen = torch.Generator().manual_seed(5)
    first, second = torch.randn(2, 2, 30, 2, generator=gen)
    step = streaming.TCNStep(model)
    states = step.initial_state(2)
    with torch.no_grad():
        for t in range(first.shape[1]):
            _, states = step(first[:, t], states)
        leaked = streaming.run_steps(step, second, states)
        fresh = streaming.run_steps(step, second, step.initial_state(2))
        torch.testing.assert_close(
            fresh, model(second), rtol=1e-5, atol=1e-5
        )
    assert not torch.allclose(leaked, fresh, atol=1e-4)
    # the state is all the step keeps: the inputs' states are untouched
    assert all(s.abs().sum() == 0 for s in step.initial_state(2))


def test_tcn_step_state_matches_the_accounting():
    model = kd_lib.TCNClassifier(1, 10, [8] * 5, kernel_size=3)
    step = streaming.TCNStep(model)
    states = step.initial_state(3)
    assert sum(s.shape[1] for s in states) == streaming.state_floats(model)
    assert all(s.shape[0] == 3 for s in states)


def test_tcn_step_bare_tcn_and_weight_norm_folded():
    kd_lib.set_seed(0)
    tcn = kd_lib.TCN(2, [4, 4], kernel_size=3)
    step = streaming.TCNStep(tcn)
    x = torch.randn(2, 9, 2)
    with torch.no_grad():
        torch.testing.assert_close(
            streaming.run_steps(step, x, step.initial_state(2)),
            tcn(x),
            rtol=1e-5,
            atol=1e-5,
        )
    # no parametrisation left: plain tensors, no weight-norm gains
    assert not any(
        "parametrizations" in name for name, _ in step.named_buffers()
    )


def test_lstm_step_equals_full_forward():
    kd_lib.set_seed(1)
    model = kd_lib.LSTMClassifier(2, 4, 6, 2).eval()
    full = kd_lib.LSTMClassifier(2, 4, 6, 2, readout="sequence").eval()
    full.load_state_dict(model.state_dict())
    x = torch.randn(3, 11, 2)
    step = streaming.LSTMStep(model)
    with torch.no_grad():
        torch.testing.assert_close(
            streaming.run_steps(step, x, step.initial_state(3)),
            full(x),
            rtol=1e-5,
            atol=1e-5,
        )


def test_lean_steps_reject_bad_inputs():
    with pytest.raises(TypeError, match="TCN"):
        streaming.TCNStep(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="LSTMClassifier"):
        streaming.LSTMStep(torch.nn.Linear(2, 2))
    step = streaming.TCNStep(_trained_looking_tcn(0))
    with pytest.raises(ValueError, match="batch_size"):
        step.initial_state(0)
    with pytest.raises(ValueError):
        streaming.run_steps(step, torch.randn(2, 2), step.initial_state(2))
