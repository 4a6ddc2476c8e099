"""Behaviour of the LSTM-versus-TCN measuring tools in kd_lib.benchmark."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import kd_lib  # noqa: E402
from kd_lib.chapters import (
    accuracy_study,
    costs,
    gradients,
    variable_length,
)  # noqa: E402


def small_lstm(**kwargs):
    kd_lib.set_seed(0)
    return kd_lib.LSTMClassifier(
        input_size=3, num_outputs=4, hidden_size=8, **kwargs
    )


def small_tcn(**kwargs):
    kd_lib.set_seed(0)
    return kd_lib.TCNClassifier(
        input_size=3,
        num_outputs=4,
        channels=[5, 6, 6],
        kernel_size=3,
        **kwargs,
    )


# ---------------------------------------------------------------- time


def test_time_training_step_leaves_no_gradients_and_the_weights_unchanged():
    model = small_tcn()
    before = [p.detach().clone() for p in model.parameters()]
    timing = costs.time_training_step(
        model, torch.randn(2, 10, 3), torch.tensor([0, 3]), repeats=3
    )
    assert timing.repeats == 3 and timing.q25 <= timing.median <= timing.q75
    assert all(p.grad is None for p in model.parameters())
    for p, q in zip(model.parameters(), before):
        torch.testing.assert_close(p, q)


# ---------------------------------------------------------------- memory


class _Forward(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def test_peak_inference_bytes_follows_frees():
    x = torch.randn(1, 100, 1)

    def peak(fn):
        return costs.peak_inference_bytes(_Forward(fn), x)

    # both alive at once
    assert peak(lambda x: torch.ones(1000) * 2) == 8000

    def free_then_allocate(x):
        a = torch.ones(1000)
        del a
        return torch.ones(500)

    assert peak(free_then_allocate) == 4000
    # views allocate nothing
    assert peak(lambda x: x.view(10, 10).t()) == 0


@pytest.mark.parametrize("make", [small_lstm, small_tcn])
def test_memory_grows_exactly_linearly_with_length(make):
    model = make()
    for measure in (
        costs.saved_activation_bytes,
        costs.peak_inference_bytes,
    ):
        sizes = [
            measure(model, torch.randn(4, t, 3)) for t in (64, 128, 192)
        ]
        assert sizes[0] > 0
        assert sizes[2] - sizes[1] == sizes[1] - sizes[0] > 0


def test_saved_activation_bytes_of_a_linear_layer_is_its_input():
    layer = nn.Linear(3, 5)
    x = torch.randn(2, 7, 3)
    # the weight is not counted
    assert costs.saved_activation_bytes(layer, x) == x.numel() * 4


def test_peak_inference_bytes_restores_the_training_mode():
    model = small_tcn().train()
    costs.peak_inference_bytes(model, torch.randn(1, 8, 3))
    assert model.training


# ---------------------------------------------------------------- gradients


def test_input_gradient_is_zero_outside_the_receptive_field():
    model = small_tcn()
    rf = model.receptive_field
    x = torch.randn(3, rf + 10, 3)
    grad = gradients.input_gradient_by_step(
        model, x, torch.tensor([0, 1, 2])
    )
    assert grad.shape == (rf + 10,)
    assert torch.all(grad[:10] == 0)
    assert grad[10:].sum() > 0
    assert all(p.grad is None for p in model.parameters())


def test_gradient_norm_trace_reports_norms_before_clipping():
    # large inputs give gradients far above the threshold
    x = 50 * torch.randn(32, 6, 3)
    y = torch.randint(0, 4, (32,))
    loader = kd_lib.data.make_loader(x, y, batch_size=8)
    norms = gradients.gradient_norm_trace(
        small_lstm(), loader, epochs=2, lr=1e-3, clip_grad_norm=1e-3
    )
    assert len(norms) == 8
    assert max(norms) > 1e-3


# ---------------------------------------------------------- variable length


def test_doing_it_right_matches_one_at_a_time_and_the_bug_does_not():
    torch.manual_seed(0)
    lstm, tcn = small_lstm(), small_tcn()
    rf = tcn.receptive_field
    sequences = [torch.randn(n, 3) for n in (rf, rf + 5, rf + 20)]
    alone_lstm = variable_length.predict_variable_length(
        lstm, sequences, "alone"
    )
    torch.testing.assert_close(
        variable_length.predict_variable_length(lstm, sequences, "packed"),
        alone_lstm,
    )
    alone_tcn = variable_length.predict_variable_length(
        tcn, sequences, "alone"
    )
    # left zeros lie outside the receptive field of a sequence at least rf
    # long
    torch.testing.assert_close(
        variable_length.predict_variable_length(tcn, sequences, "left_pad"),
        alone_tcn,
    )
    for model, alone in ((lstm, alone_lstm), (tcn, alone_tcn)):
        buggy = variable_length.predict_variable_length(
            model, sequences, "right_pad_last"
        )
        # the longest sequence has no padding
        torch.testing.assert_close(buggy[2], alone[2])
        assert not torch.allclose(buggy[0], alone[0])


# ---------------------------------------------------------------- display


def test_mean_spread_and_format_table():
    assert kd_lib.mean_and_spread([1.0, 3.0]) == (
        2.0,
        pytest.approx(2**0.5),
    )
    assert kd_lib.mean_and_spread([5]) == (5.0, 0.0)
    table = kd_lib.report.format_table(
        ["a", "b"], [["x", "a long cell"]], widths=[3, 6]
    )
    lines = table.splitlines()
    assert lines[0].split() == ["a", "b"]
    assert lines[1] == "---  ------"
    assert (
        lines[2].split() == ["x", "a", "long"]
        and lines[3].strip() == "cell"
    )


LOADER = kd_lib.data.make_loader(
    torch.randn(4, 5, 3), torch.tensor([0, 1, 2, 3])
)


@pytest.mark.parametrize(
    "call,error",
    [
        (lambda: costs.timing_sweep({}, [8]), TypeError),
        (lambda: costs.timing_sweep({"m": small_tcn()}, []), ValueError),
        (lambda: costs.timing_sweep({"m": small_tcn()}, [8.5]), TypeError),
        (
            lambda: costs.time_training_step(
                small_tcn(), torch.randn(2, 5, 3), torch.tensor([0.0, 1.0])
            ),
            TypeError,
        ),
        (
            lambda: costs.time_training_step(
                small_tcn(),
                torch.randn(2, 5, 3),
                torch.tensor([0, 1]),
                repeats=0,
            ),
            ValueError,
        ),
        (
            lambda: costs.saved_activation_bytes(
                small_tcn(), torch.randn(5, 3)
            ),
            ValueError,
        ),
        (
            lambda: costs.peak_inference_bytes(
                "model", torch.randn(1, 5, 3)
            ),
            TypeError,
        ),
        (
            lambda: gradients.input_gradient_by_step(
                small_tcn(), torch.randn(2, 5, 3), torch.tensor([[0], [1]])
            ),
            ValueError,
        ),
        (
            lambda: gradients.gradient_norm_trace(
                small_tcn(), [], epochs=1, lr=1e-3, clip_grad_norm=1.0
            ),
            TypeError,
        ),
        (
            lambda: gradients.gradient_norm_trace(
                small_tcn(), LOADER, epochs=1, lr=0.0, clip_grad_norm=1.0
            ),
            ValueError,
        ),
        (
            lambda: gradients.gradient_norm_trace(
                small_tcn(), LOADER, epochs=1, lr=1e-3, clip_grad_norm=-1.0
            ),
            ValueError,
        ),
        (
            lambda: kd_lib.pad_sequences([torch.ones(2, 1)], length=1),
            ValueError,
        ),
        (lambda: kd_lib.pad_sequences([]), ValueError),
        (
            lambda: kd_lib.pad_sequences(
                [torch.ones(2, 1), torch.ones(2, 2)]
            ),
            ValueError,
        ),
        (
            lambda: kd_lib.pad_sequences([torch.ones(2, dtype=torch.long)]),
            ValueError,
        ),
        (
            lambda: variable_length.predict_variable_length(
                small_tcn(), [torch.ones(4, 3)], "packed"
            ),
            TypeError,
        ),
        (
            lambda: variable_length.predict_variable_length(
                small_tcn(), [torch.ones(4, 3)], "mask"
            ),
            ValueError,
        ),
        (
            lambda: variable_length.predict_variable_length(
                small_tcn(readout="sequence"), [torch.ones(4, 3)], "alone"
            ),
            ValueError,
        ),
        (lambda: kd_lib.mean_and_spread([]), ValueError),
        (lambda: kd_lib.report.format_table([], []), ValueError),
        (
            lambda: kd_lib.report.format_table(["a"], [["x", "y"]]),
            ValueError,
        ),
        (
            lambda: kd_lib.report.format_table(
                ["a"], [["x"]], widths=[1, 2]
            ),
            ValueError,
        ),
    ],
)
def test_bad_input_raises_clear_errors(call, error):
    with pytest.raises(error):
        call()


# --------------------------------------- timing method, peak memory, study


def test_timing_sweep_folds_weight_norm_and_gives_quartiles():
    tcn = small_tcn()
    result = costs.timing_sweep(
        {"tcn": tcn}, [4, 16], batch_size=2, input_size=3, repeats=5
    )
    assert len(result["tcn"]) == 2
    for t in result["tcn"]:
        assert t.repeats == 5 and 0 < t.q25 <= t.median <= t.q75
    # the original model keeps its weight normalisation
    assert any(
        nn.utils.parametrize.is_parametrized(m) for m in tcn.modules()
    )
    with pytest.raises(TypeError):
        costs.timing_sweep([tcn], [4])
    with pytest.raises(ValueError):
        costs.timing_sweep({"tcn": tcn}, [])


def test_peak_training_memory_covers_the_saved_activations():
    x, y = torch.randn(4, 32, 3), torch.tensor([0, 1, 2, 3])
    for model in (small_lstm(), small_tcn()):
        peak = costs.peak_training_bytes(model, x, y)
        saved = costs.saved_activation_bytes(model, x)
        assert peak >= saved > 0
        # deterministic, and the model is left without gradients
        assert peak == costs.peak_training_bytes(model, x, y)
        assert all(p.grad is None for p in model.parameters())
    longer = torch.randn(4, 128, 3)
    tcn = small_tcn()
    assert costs.peak_training_bytes(tcn, longer, y) > 3 * (
        costs.peak_training_bytes(tcn, x, y)
    )
    with pytest.raises(TypeError):
        costs.peak_training_bytes(tcn, x, y.float())


def test_study_models_are_parameter_matched():
    built = {n: b() for n, b in accuracy_study.study_models().items()}
    counts = {n: kd_lib.count_parameters(m) for n, m in built.items()}
    assert abs(counts["LSTM"] / counts["TCN"] - 1) < 0.1
    lstm = built["LSTM"].lstm
    h = lstm.hidden_size
    assert torch.all(
        lstm.bias_ih_l0[h : 2 * h] + lstm.bias_hh_l0[h : 2 * h] == 1.0
    )


def test_study_run_records_curves_and_test_accuracy():
    x, y = kd_lib.recall_at_distance(64, 12, 2, seed=0)
    loader = kd_lib.data.make_loader(x, y, batch_size=32)
    model, record = accuracy_study.study_run(
        lambda: small_lstm().__class__(4, 4, hidden_size=5),
        (loader, loader, loader),
        seed=0,
        lr=1e-2,
        epochs=2,
    )
    assert isinstance(model, nn.Module)
    assert len(record["val_accuracy"]) == len(record["train_loss"]) == 2
    assert 0 <= record["test_accuracy"] <= 1 and record["lr"] == 1e-2


def test_study_records_take_the_chosen_rate_and_name_a_missing_one():
    study = {
        "chosen_lr": {"LSTM, sequential": 1e-2},
        "records": [
            {"model": "LSTM", "permuted": False, "lr": lr, "seed": s}
            for lr in (1e-3, 1e-2)
            for s in (1, 0)
        ],
    }
    found = accuracy_study.study_records(study, model="LSTM")
    assert [(r["lr"], r["seed"]) for r in found] == [(1e-2, 0), (1e-2, 1)]
    with pytest.raises(ValueError, match="no rate"):
        accuracy_study.study_records(study, model="TCN")
    with pytest.raises(TypeError):
        accuracy_study.study_records([], model="LSTM")
