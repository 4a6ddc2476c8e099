"""Behaviour of the TCN and LSTM models."""

import pytest
import torch
from torch import nn

import kd_lib
from kd_lib.models import CausalConv1d, TemporalBlock


def test_causal_conv_preserves_length_and_never_sees_the_future():
    kd_lib.set_seed(0)
    conv = CausalConv1d(3, 5, kernel_size=3, dilation=4)
    x = torch.randn(2, 3, 40)
    y = conv(x)
    assert y.shape == (2, 5, 40)
    for t in (0, 7, 25, 39):
        x_changed = x.clone()
        x_changed[:, :, t:] = torch.randn_like(x_changed[:, :, t:])
        y_changed = conv(x_changed)
        torch.testing.assert_close(y_changed[:, :, :t], y[:, :, :t])
        assert not torch.allclose(y_changed[:, :, t], y[:, :, t])


@pytest.mark.parametrize("readout", ["last", "sequence"])
def test_tcn_classifier_shapes(readout):
    model = kd_lib.TCNClassifier(
        input_size=2, num_outputs=7, channels=[8, 8, 4], readout=readout
    )
    out = model(torch.randn(5, 30, 2))
    assert out.shape == ((5, 7) if readout == "last" else (5, 30, 7))


def test_tcn_is_causal_end_to_end():
    kd_lib.set_seed(1)
    tcn = kd_lib.models.TCN(input_size=2, channels=[6, 6, 6], kernel_size=2)
    x = torch.randn(3, 50, 2)
    y = tcn(x)
    x_changed = x.clone()
    x_changed[:, 20:] += 1.0
    torch.testing.assert_close(tcn(x_changed)[:, :20], y[:, :20])


@pytest.mark.parametrize(
    "kernel_size,levels", [(2, 1), (2, 4), (3, 3), (5, 2)]
)
def test_receptive_field_formula_matches_gradient(kernel_size, levels):
    """Which inputs does the last output depend on?
    Measure it with a gradient.

    With all weights positive and positive inputs no ReLU is ever inactive,
    so every path through the network carries gradient and the measured
    field is the full theoretical one.
    """
    tcn = kd_lib.models.TCN(
        input_size=1, channels=[4] * levels, kernel_size=kernel_size
    )
    with torch.no_grad():
        for p in tcn.parameters():
            p.copy_(p.abs() + 0.1)
    rf = kd_lib.receptive_field(kernel_size, levels)
    assert (
        tcn.receptive_field
        == rf
        == 1 + 2 * (kernel_size - 1) * (2**levels - 1)
    )
    length = rf + 10
    x = (torch.rand(1, length, 1) + 0.1).requires_grad_()
    tcn(x)[0, -1].sum().backward()
    reached = (x.grad[0, :, 0].abs() > 0).nonzero().flatten()
    assert reached.min().item() == length - rf
    assert len(reached) == rf


def test_temporal_block_uses_one_by_one_residual_only_when_widths_differ():
    assert isinstance(TemporalBlock(4, 8, 3, 1).downsample, nn.Conv1d)
    assert isinstance(TemporalBlock(8, 8, 3, 1).downsample, nn.Identity)


def test_weight_norm_is_the_parametrization_kind():
    conv = CausalConv1d(2, 2, 3)
    assert nn.utils.parametrize.is_parametrized(conv.conv, "weight")


def test_lstm_classifier_shapes_and_packing():
    kd_lib.set_seed(0)
    model = kd_lib.LSTMClassifier(
        input_size=3, num_outputs=4, hidden_size=8
    )
    x = torch.randn(4, 12, 3)
    assert model(x).shape == (4, 4)
    lengths = torch.tensor([12, 5, 9, 1])
    packed_out = model(x, lengths)
    for i, n in enumerate(lengths.tolist()):
        # a packed sequence ends at its true length: same as running it
        # alone, unpadded
        torch.testing.assert_close(
            packed_out[i], model(x[i : i + 1, :n])[0]
        )
    seq_model = kd_lib.LSTMClassifier(
        3, 4, hidden_size=8, readout="sequence"
    )
    assert seq_model(x).shape == (4, 12, 4)


def test_lstm_is_causal():
    kd_lib.set_seed(0)
    model = kd_lib.LSTMClassifier(2, 3, hidden_size=6, readout="sequence")
    x = torch.randn(2, 15, 2)
    x_changed = x.clone()
    x_changed[:, 8:] = 0
    torch.testing.assert_close(model(x_changed)[:, :8], model(x)[:, :8])


@pytest.mark.parametrize(
    "call,error",
    [
        (lambda: kd_lib.receptive_field(1, 3), ValueError),
        (lambda: kd_lib.receptive_field(3, 0), ValueError),
        (lambda: kd_lib.receptive_field(3.0, 2), TypeError),
        (lambda: kd_lib.models.TCN(1, [8], kernel_size=1), ValueError),
        (lambda: kd_lib.models.TCN(1, [], kernel_size=3), ValueError),
        (lambda: kd_lib.models.TCN(1, [4], dropout=1.5), ValueError),
        (
            lambda: kd_lib.TCNClassifier(1, 10, [4], readout="mean"),
            ValueError,
        ),
        (lambda: kd_lib.models.TCN(2, [4])(torch.randn(3, 10)), ValueError),
        (
            lambda: kd_lib.models.TCN(2, [4])(torch.randn(3, 10, 5)),
            ValueError,
        ),
        (lambda: kd_lib.models.TCN(2, [4])([[1.0, 2.0]]), TypeError),
        (
            lambda: kd_lib.LSTMClassifier(2, 3)(torch.randn(3, 10)),
            ValueError,
        ),
        (
            lambda: kd_lib.LSTMClassifier(2, 3)(
                torch.randn(3, 10, 2), torch.tensor([10, 11, 3])
            ),
            ValueError,
        ),
        (
            lambda: kd_lib.LSTMClassifier(2, 3)(
                torch.randn(3, 10, 2), torch.tensor([1.0, 2.0, 3.0])
            ),
            TypeError,
        ),
    ],
)
def test_bad_input_raises_clear_errors(call, error):
    with pytest.raises(error):
        call()


def test_lstm_forget_bias_sets_the_forget_gate_only():
    model = kd_lib.LSTMClassifier(
        3, 2, hidden_size=5, num_layers=2, forget_bias=1.0
    )
    for layer in range(2):
        b_ih = getattr(model.lstm, f"bias_ih_l{layer}")
        b_hh = getattr(model.lstm, f"bias_hh_l{layer}")
        total = (b_ih + b_hh).detach()
        torch.testing.assert_close(total[5:10], torch.ones(5))
        # the other gates keep PyTorch's random init
        assert total[:5].abs().sum() > 0


def test_lstm_default_init_is_unchanged_by_the_forget_bias_option():
    kd_lib.set_seed(0)
    a = kd_lib.LSTMClassifier(3, 2, hidden_size=5)
    kd_lib.set_seed(0)
    b = kd_lib.LSTMClassifier(3, 2, hidden_size=5, forget_bias=None)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)


# ------------------------------------------------- running opinions


@pytest.mark.parametrize(
    "model",
    [
        kd_lib.LSTMClassifier(2, 3, hidden_size=8, num_layers=2),
        kd_lib.TCNClassifier(2, 3, channels=[4, 4, 4]),
    ],
)
def test_steps_end_with_the_forward_pass_and_never_see_the_future(model):
    kd_lib.set_seed(0)
    model.eval()
    x = torch.randn(3, 20, 2)
    with torch.no_grad():
        features, logits = model.steps(x)
        assert logits.shape == (3, 20, 3) and features.shape[:2] == (3, 20)
        torch.testing.assert_close(logits[:, -1], model(x))
        later = x.clone()
        later[:, 11:] = torch.randn(3, 9, 2)
        _, moved = model.steps(later)
    torch.testing.assert_close(moved[:, :11], logits[:, :11])
    assert not torch.allclose(moved[:, 11:], logits[:, 11:])


def test_grouped_steps_are_each_students_steps():
    kd_lib.set_seed(0)
    students = [
        kd_lib.TCNClassifier(2, 3, channels=[4, 4]).eval() for _ in range(3)
    ]
    grouped = kd_lib.multiseed.GroupedTCNClassifier.from_students(students)
    x = torch.randn(5, 12, 2)
    with torch.no_grad():
        features, logits = grouped.steps(x.expand(3, -1, -1, -1))
        for s, student in enumerate(students):
            f, z = student.steps(x)
            torch.testing.assert_close(features[s], f, atol=1e-5, rtol=0)
            torch.testing.assert_close(logits[s], z, atol=1e-5, rtol=0)


def test_squared_norms_are_each_students_own():
    kd_lib.set_seed(0)
    students = [kd_lib.TCNClassifier(1, 2, channels=[3]) for _ in range(2)]
    grouped = kd_lib.multiseed.GroupedTCNClassifier.from_students(students)
    norms = grouped.squared_norms()
    for s, student in enumerate(students):
        own = sum(
            p.pow(2).sum()
            for n, p in student.named_parameters()
            if not n.endswith("original1")  # directions are not decayed
        )
        torch.testing.assert_close(norms[s], own)
