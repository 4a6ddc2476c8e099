"""kd_lib.memory_tasks: the fair LSTM-versus-TCN comparison of chapter 3."""

import json
import math

import pytest
import torch

import kd_lib
from kd_lib.chapters import memory_tasks as mt
from kd_lib.comparison import verdict

# ------------------------------------- fair LSTM-versus-TCN memory tasks


@pytest.mark.parametrize("task", mt.MEMORY_TASKS)
def test_memory_models_are_parameter_matched_and_seeded(task):
    tcn = mt.memory_model(task, "TCN", seed=3)
    lstm = mt.memory_model(task, "LSTM", seed=3)
    sizes = [kd_lib.count_parameters(m) for m in (tcn, lstm)]
    assert abs(sizes[1] / sizes[0] - 1) < 0.05
    assert lstm.lstm.hidden_size == mt.matched_lstm_hidden(task)
    # the forget gate's total bias is 1
    h = lstm.lstm.hidden_size
    total = lstm.lstm.bias_ih_l0 + lstm.lstm.bias_hh_l0
    assert torch.allclose(total[h : 2 * h], torch.ones(h))
    again = mt.memory_model(task, "LSTM", seed=3)
    for a, b in zip(lstm.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)
    other = mt.memory_model(task, "LSTM", seed=4)
    assert not torch.equal(
        next(lstm.parameters()), next(other.parameters())
    )


def test_matched_width_is_the_closest_parameter_count():
    task = "adding"
    target = kd_lib.count_parameters(mt.memory_model(task, "TCN"))
    h = mt.matched_lstm_hidden(task)

    def size(width):
        return kd_lib.count_parameters(kd_lib.LSTMClassifier(2, 1, width))

    assert abs(size(h) - target) <= abs(size(h - 1) - target)
    assert abs(size(h) - target) <= abs(size(h + 1) - target)


def test_memory_data_shares_evaluation_sets_and_seeds_training_sets():
    x0, y0 = mt.memory_data("recall", "train", 0, 5, num_samples=50)
    x1, _ = mt.memory_data("recall", "train", 1, 5, num_samples=50)
    assert x0.shape == (50, 21, 4) and y0.shape == (50,)
    assert not torch.equal(x0, x1)
    v0, _ = mt.memory_data("recall", "val", 0, 5, num_samples=50)
    v1, _ = mt.memory_data("recall", "val", 1, 5, num_samples=50)
    assert torch.equal(v0, v1)
    t, _ = mt.memory_data("recall", "test", 0, 5, num_samples=50)
    assert not torch.equal(t, v0)
    xa, ya = mt.memory_data("adding", "train", 0, num_samples=8)
    assert xa.shape == (8, 30, 2) and ya.shape == (8, 1)
    xc, yc = mt.memory_data("copy", "test", 0, num_samples=8)
    assert xc.shape == (8, 40, 10) and yc.shape == (8, 40)


@pytest.mark.parametrize(
    "args, error",
    [
        (("sorting", "train", 0, None), ValueError),
        (("recall", "train", 0, None), ValueError),
        (("adding", "train", 0, 3), ValueError),
        (("adding", "holdout", 0, None), ValueError),
        (("adding", "train", -1, None), ValueError),
    ],
)
def test_memory_data_bad_input(args, error):
    with pytest.raises(error):
        mt.memory_data(*args)


def test_memory_model_bad_input():
    with pytest.raises(ValueError):
        mt.memory_model("adding", "GRU")
    with pytest.raises(ValueError):
        mt.memory_model("sorting", "TCN")


def test_chance_losses():
    assert mt.chance_loss("recall") == pytest.approx(math.log(4))
    assert mt.chance_loss("adding") == pytest.approx(1 / 6)
    assert mt.chance_loss("copy") == pytest.approx(10 * math.log(8) / 40)


def test_train_curve_records_validation_points_and_repeats():
    x, y = kd_lib.recall_at_distance(128, 8, 1, 4, seed=1)
    xv, yv = kd_lib.recall_at_distance(64, 8, 1, 4, seed=2)
    curves = []
    for _ in range(2):
        kd_lib.set_seed(0)
        model = kd_lib.TCNClassifier(4, 4, [8, 8], kernel_size=2)
        curves.append(
            mt.train_curve(
                model, x, y, xv, yv, updates=30, lr=1e-2, val_points=3
            )
        )
    assert curves[0] == curves[1]
    assert curves[0]["val_updates"] == [10, 20, 30]
    assert len(curves[0]["val_loss"]) == len(curves[0]["val_accuracy"]) == 3
    assert not model.training
    kd_lib.set_seed(0)
    xa, ya = mt.adding_problem(64, 10, seed=1)
    reg = mt.train_curve(
        kd_lib.LSTMClassifier(2, 1, 8),
        xa,
        ya,
        xa,
        ya,
        updates=5,
        lr=1e-2,
        val_points=10,
    )
    assert "val_accuracy" not in reg and reg["val_updates"] == [
        1,
        2,
        3,
        4,
        5,
    ]


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"updates": 0}, ValueError),
        ({"lr": 0.0}, ValueError),
        ({"lr": True}, ValueError),
        ({"seed": -1}, ValueError),
    ],
)
def test_train_curve_bad_input(kwargs, error):
    x, y = kd_lib.recall_at_distance(16, 6, 1, 4, seed=1)
    args = {"updates": 2, "lr": 1e-3, **kwargs}
    with pytest.raises(error):
        mt.train_curve(kd_lib.LSTMClassifier(4, 4, 4), x, y, x, y, **args)
    with pytest.raises(TypeError):
        mt.train_curve("model", x, y, x, y, updates=2, lr=1e-3)
    with pytest.raises(ValueError):
        mt.train_curve(
            kd_lib.LSTMClassifier(4, 4, 4), x, y[:3], x, y, updates=2, lr=1
        )


def test_memory_run_returns_plain_data():
    record = mt.memory_run("recall", "LSTM", 1e-2, 0, updates=4, distance=2)
    json.dumps(record)  # stored as JSON
    assert record["val_updates"] == [1, 2, 3, 4]
    assert 0 <= record["test_accuracy"] <= 1
    assert record["test_loss_ratio"] == pytest.approx(
        record["test_loss"] / math.log(4)
    )


@pytest.mark.parametrize(
    "task, values, expected",
    [
        ("recall", [0.96, 1.0, 0.95], "solved"),
        ("recall", [0.96, 0.94, 1.0], "partial"),
        ("recall", [0.25, 0.28, 0.22], "at chance"),
        ("recall", [0.25, 0.30, 0.22], "partial"),
        ("adding", [0.001, 0.049], "solved"),
        ("adding", [0.001, 0.05], "partial"),
        ("copy", [0.9, 1.1, 1.0], "at chance"),
        ("copy", [1.2, 1.11], "worse than chance"),
        ("copy", [0.86, 0.9], "partial"),
    ],
)
def test_memory_verdicts_follow_the_stated_thresholds(
    task, values, expected
):
    assert mt.memory_verdict(task, values) == expected


def test_memory_verdict_bad_input():
    with pytest.raises(ValueError):
        mt.memory_verdict("recall", [])
    with pytest.raises(TypeError):
        mt.memory_verdict("recall", ["high"])
    with pytest.raises(ValueError):
        mt.memory_verdict("sorting", [1.0])


def _record(task, model, lr, seed, val, test, distance=None):
    key = "val_accuracy" if task == "recall" else "val_loss"
    metric = "test_accuracy" if task == "recall" else "test_loss_ratio"
    return {
        "task": task,
        "model": model,
        "lr": lr,
        "seed": seed,
        "distance": distance,
        "updates": mt.MEMORY_STUDY["updates"],
        "val_updates": [750, 1500, 2250, 3000],
        key: val,
        metric: test,
    }


def test_best_lr_is_picked_on_validation_data_and_ties_go_low():
    records = [
        _record("recall", "LSTM", lr, s, [0.5, 0.6, 0.7, v], t, 6)
        for lr, v, t in ((1e-3, 0.9, 1.0), (1e-2, 1.0, 0.3))
        for s in (1, 0)
    ]
    # the test set never picks: 1e-2 validates better, tests worse
    runs = mt.memory_tuned_runs(records, "recall", "LSTM", 6)
    assert [(r["lr"], r["seed"]) for r in runs] == [(1e-2, 0), (1e-2, 1)]
    assert mt.memory_values(records, "recall", "LSTM", 6) == [0.3, 0.3]
    tied = [dict(r, val_accuracy=[1.0] * 4) for r in records]
    assert mt.memory_tuned_runs(tied, "recall", "LSTM", 6)[0]["lr"] == 1e-3
    with pytest.raises(KeyError):
        mt.memory_tuned_runs(records, "recall", "LSTM", 7)
    # lower validation loss is better on adding and copy
    losses = [
        _record("copy", "TCN", lr, 0, [1.0, 0.5, 0.2, v], 0.1)
        for lr, v in ((1e-3, 0.3), (3e-3, 0.1))
    ]
    assert mt.memory_tuned_runs(losses, "copy", "TCN")[0]["lr"] == 3e-3


def test_final_change_and_convergence():
    flat = _record("recall", "LSTM", 1e-3, 0, [0.5, 0.99, 1.0, 1.0], 1.0)
    rising = _record("recall", "LSTM", 1e-3, 0, [0.3, 0.4, 0.5, 0.6], 0.6)
    assert mt.final_change(flat) == 0.0 and mt.converged(flat)
    assert mt.final_change(rising) == pytest.approx(0.1)
    assert not mt.converged(rising)
    chance = mt.chance_loss("copy")
    loss = _record(
        "copy", "LSTM", 1e-3, 0, [chance, chance, chance, 0.5 * chance], 0.5
    )
    assert mt.final_change(loss) == pytest.approx(0.5)


def test_tcn_advantage_is_positive_when_the_tcn_is_better():
    records = [
        _record(task, model, 1e-3, s, val, test)
        for task, val in (("copy", [1.0] * 4), ("adding", [1.0] * 4))
        for model, tests in (("LSTM", [0.9, 0.8]), ("TCN", [0.0, 0.1]))
        for s, test in zip((0, 1), tests, strict=True)
    ]
    d = mt.tcn_advantage(records, "copy")
    assert d.differences == pytest.approx((0.9, 0.7))
    records += [
        _record("recall", model, 1e-3, s, [1.0] * 4, test, 20)
        for model, tests in (("LSTM", [1.0, 1.0]), ("TCN", [0.25, 0.3]))
        for s, test in zip((0, 1), tests, strict=True)
    ]
    d = mt.tcn_advantage(records, "recall", 20)
    assert d.differences == pytest.approx((-0.75, -0.7))
    assert verdict(d) == "worse"


def test_memory_units_cover_the_grid():
    units = mt.memory_units(lrs=[1e-3], seeds=[0, 1], distances=[2, 4])
    assert len(units) == (2 + 1 + 1) * 2 * 2
    assert all(u[5] == mt.MEMORY_STUDY["updates"] for u in units)
    assert {u[4] for u in units if u[0] == "recall"} == {2, 4}
    with pytest.raises(ValueError):
        mt.memory_units(seeds=[])
