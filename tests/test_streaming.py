"""Streaming inference gives exactly what the full forward pass
gives, one step at a time."""

import pytest
import torch

import kd_lib
from kd_lib.chapters import streaming
from kd_lib.chapters.streaming import (
    LSTMStep,
    RecomputingTCN,
    TCNStep,
    run_steps,
)
from kd_lib.models import TCN


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
    "seed, batch, length, kernel_size, channels",
    [
        (0, 1, 1, 2, (6, 5, 5, 7)),
        (1, 3, 17, 3, (6, 5, 5, 7)),
        (2, 5, 64, 3, (8, 8, 8, 8, 8)),
        (3, 2, 150, 4, (6, 5, 5, 7)),
        (4, 7, 40, 5, (3, 3)),
    ],
)
def test_streaming_tcn_equals_full_forward(
    seed, batch, length, kernel_size, channels
):
    model = _trained_looking_tcn(
        seed, kernel_size=kernel_size, channels=channels
    )
    x = torch.randn(
        batch, length, 2, generator=torch.Generator().manual_seed(seed)
    )
    with torch.no_grad():
        expected = model(x)
    for step in (TCNStep(model), RecomputingTCN(model)):
        torch.testing.assert_close(
            run_steps(step, x), expected, rtol=1e-5, atol=1e-5
        )


def test_streaming_bare_tcn_gives_features_with_weight_norm_folded():
    kd_lib.set_seed(0)
    tcn = TCN(3, [4, 4], kernel_size=2).eval()
    x = torch.randn(2, 20, 3)
    with torch.no_grad():
        expected = tcn(x)
    for step in (TCNStep(tcn), RecomputingTCN(tcn)):
        torch.testing.assert_close(
            run_steps(step, x), expected, rtol=1e-5, atol=1e-5
        )
    # no parametrisation left: plain weights, no weight-norm gains
    assert not any(
        "parametrizations" in name
        for name, _ in TCNStep(tcn).named_parameters()
    )


def test_a_causal_step_never_sees_the_future():
    model = _trained_looking_tcn(6)
    x = torch.randn(2, 30, 2)
    changed = x.clone()
    changed[:, 20:] = torch.randn(2, 10, 2)
    for step in (TCNStep(model), RecomputingTCN(model)):
        before, after = run_steps(step, x), run_steps(step, changed)
        assert torch.equal(before[:, :20], after[:, :20])
        assert not torch.allclose(before[:, 20:], after[:, 20:])


def test_last_step_matches_last_readout_classifier():
    model = _trained_looking_tcn(5, readout="last")
    x = torch.randn(4, 30, 2)
    with torch.no_grad():
        torch.testing.assert_close(
            run_steps(TCNStep(model), x)[:, -1],
            model(x),
            rtol=1e-5,
            atol=1e-5,
        )


@pytest.mark.parametrize("layers", [1, 2])
def test_lstm_step_equals_full_forward(layers):
    kd_lib.set_seed(layers)
    model = kd_lib.LSTMClassifier(
        2, 4, hidden_size=16, num_layers=layers, readout="sequence"
    ).eval()
    x = torch.randn(3, 25, 2)
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(
        run_steps(LSTMStep(model), x), expected, rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("make", [TCNStep, RecomputingTCN, "lstm"])
def test_a_fresh_state_starts_a_new_sequence(make):
    if make == "lstm":
        kd_lib.set_seed(0)
        model = kd_lib.LSTMClassifier(
            2, 4, hidden_size=8, readout="sequence"
        ).eval()
        make = LSTMStep
    else:
        model = _trained_looking_tcn(0)
    gen = torch.Generator().manual_seed(5)
    first, second = torch.randn(2, 2, 30, 2, generator=gen)
    step = make(model)
    states = step.initial_state(2)
    with torch.no_grad():
        for t in range(first.shape[1]):
            _, states = step(first[:, t], states)
        leaked = run_steps(step, second, states)
        fresh = run_steps(step, second, step.initial_state(2))
        torch.testing.assert_close(
            fresh, model(second), rtol=1e-5, atol=1e-5
        )
    # without a fresh state the history does leak into the outputs
    assert not torch.allclose(leaked, fresh, atol=1e-4)


def test_streams_in_a_batch_are_independent():
    step = TCNStep(_trained_looking_tcn(2))
    x = torch.randn(4, 20, 2)
    torch.testing.assert_close(
        run_steps(step, x)[2:3],
        run_steps(step, x[2:3]),
        rtol=1e-5,
        atol=1e-5,
    )


def test_streaming_copies_the_weights():
    model = _trained_looking_tcn(0)
    step = TCNStep(model)
    x = torch.randn(1, 10, 2)
    before = run_steps(step, x)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    torch.testing.assert_close(run_steps(step, x), before)


def test_state_size_accounting():
    kd_lib.set_seed(0)
    tcn = kd_lib.TCNClassifier(1, 10, [8] * 5, kernel_size=3)
    # conv1 of level 0 reads 1 channel, every other conv 8; (k-1)*d = 2 *
    # 2**i
    expected = 1 * 2 + 8 * 2 + sum(2 * 8 * 2 * 2**i for i in range(1, 5))
    assert streaming.state_floats(tcn) == expected == 978
    states = TCNStep(tcn).initial_state(3)
    assert sum(s.shape[1] for s in states) == 978
    assert all(s.shape[0] == 3 for s in states)
    lstm = kd_lib.LSTMClassifier(1, 10, hidden_size=128, num_layers=2)
    assert streaming.state_floats(lstm) == 2 * 2 * 128
    assert sum(s.numel() for s in LSTMStep(lstm).initial_state(5)) == (
        5 * 512
    )
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
    assert streaming.multiply_adds_per_step(tcn.tcn) == per_column
    lstm = kd_lib.LSTMClassifier(1, 10, hidden_size=128, num_layers=2)
    assert (
        streaming.multiply_adds_per_step(lstm)
        == 4 * 128 * 129 + 4 * 128 * 256 + 1280
    )


def test_step_latency_returns_a_positive_median():
    model = _trained_looking_tcn(0)
    for step in (TCNStep(model), RecomputingTCN(model)):
        timing = streaming.step_latency(
            step, batch_size=2, repeats=5, warmup=1
        )
        assert timing.median > 0 and timing.repeats == 5


def test_bad_inputs_raise():
    model = _trained_looking_tcn(0)
    step = TCNStep(model)
    with pytest.raises(TypeError, match="kd_lib.TCN"):
        TCNStep(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="kd_lib.TCN"):
        RecomputingTCN(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="LSTMClassifier"):
        LSTMStep(model)
    with pytest.raises(ValueError, match="batch_size"):
        step.initial_state(0)
    with pytest.raises(TypeError, match="batch_size"):
        step.initial_state(2.0)
    with pytest.raises(ValueError, match="3 dimensions"):
        run_steps(step, torch.randn(2, 2))
    with pytest.raises(TypeError, match="floating-point"):
        run_steps(step, torch.ones(2, 3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="window"):
        streaming.multiply_adds_per_step(model, window=0)
    with pytest.raises(TypeError, match="step"):
        streaming.step_latency(model)
