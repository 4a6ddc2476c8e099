"""The forecasting chapter's library: the El Niño data, the split by time,
the seasonal naive baseline and the metrics, the forecasters, the
regression distillation loss and the teacher checkpoint."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import kd_lib
from kd_lib.chapters import forecasting as fc
from kd_lib.chapters.forecasting import (
    FORECAST_TEACHER,
    load_forecast_teacher,
)
from kd_lib.runners.checkpoints import train_forecast_teacher


def test_loader_reads_the_file_inside_statsmodels_without_importing_it():
    code = (
        "import sys; from kd_lib.chapters import forecasting as fc; "
        "s = fc.load_elnino(); "
        "assert 'statsmodels' not in sys.modules, 'imported'; "
        "print(len(s), s[0], s[-1], '/'.join(fc.elnino_path().parts[-4:]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    # 61 years of 12 months; January 1950 and December 2010, in °C
    assert out[:3] == ["732", "23.11", "22.07"]
    assert out[3] == "statsmodels/datasets/elnino/elnino.csv"


def test_splits_have_the_documented_shapes():
    s = fc.elnino_splits()
    assert s.x_train.shape == (451, 24, 3) and s.y_train.shape == (451, 6)
    assert s.x_val.shape == (115, 24, 3) and s.y_val.shape == (115, 6)
    assert s.x_test.shape == (127, 24, 3) and s.y_test.shape == (127, 6)
    assert s.naive_test.shape == s.y_test.shape
    assert s.season_var_train.shape == s.y_train.shape
    # the other folds move the split points a decade back
    earlier = fc.elnino_splits("1990s")
    assert earlier.origins_test.min() == s.origins_val.min()
    with pytest.raises(ValueError, match="fold"):
        fc.elnino_splits("2010s")


def test_no_target_crosses_into_a_later_split():
    s = fc.elnino_splits(window=24, horizon=6)
    last = {
        name: getattr(s, f"origins_{name}").max() + 6 - 1
        for name in ("train", "val", "test")
    }
    first = {
        name: getattr(s, f"origins_{name}").min()
        for name in ("train", "val", "test")
    }
    assert last["train"] < 480 <= first["val"]
    assert last["val"] < 600 <= first["test"] and last["test"] == 731


def test_scaling_and_training_windows_ignore_the_later_years():
    series = np.sin(np.arange(200) * 2 * np.pi / 12) + 10.0
    changed = series.copy()
    changed[120:] += 100.0  # the validation and test years change ...
    a = fc.elnino_splits((120, 160, 200), 12, 3, series=series)
    b = fc.elnino_splits((120, 160, 200), 12, 3, series=changed)
    # ... and nothing the training sees does
    assert (a.mean, a.std) == (b.mean, b.std)
    assert a.mean == pytest.approx(series[:120].mean())
    assert torch.equal(a.x_train, b.x_train)
    assert torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.y_test, b.y_test)


def test_windows_pair_each_input_with_the_months_after_it():
    series = np.arange(40.0)
    s = fc.elnino_splits((24, 30, 36), 4, 2, series=series)
    assert s.origins_val.tolist() == [24, 25, 26, 27, 28]
    assert s.unscale(s.x_val[0, :, 0]).tolist() == pytest.approx(
        [20, 21, 22, 23]
    )
    assert s.unscale(s.y_val[0]).tolist() == pytest.approx([24, 25])
    assert s.unscale(s.y_test[-1]).tolist() == pytest.approx([34, 35])
    # each input month's place in the year, as a sine and a cosine
    angle = 2 * np.pi * (np.arange(20, 24) % 12) / 12
    assert s.x_val[0, :, 1].tolist() == pytest.approx(np.sin(angle))
    with pytest.raises(ValueError, match="no window"):
        fc.elnino_splits((24, 30, 36), 4, 8, series=series)


def test_seasonal_naive_repeats_the_value_one_season_earlier():
    series = np.arange(30.0)
    naive = fc.seasonal_naive(series, [12, 20], horizon=3)
    assert naive.tolist() == [[0, 1, 2], [8, 9, 10]]
    # the last month it repeats (t + 11 - 12) is known at origin t
    assert fc.seasonal_naive(series, [12], 12)[0, -1] == 11
    with pytest.raises(ValueError, match="season"):
        fc.seasonal_naive(series, [20], horizon=13)
    with pytest.raises(ValueError):
        fc.seasonal_naive(series, [5], horizon=2)


def test_metrics_on_a_hand_computed_example():
    target = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    forecast = torch.tensor([[2.0, 2.0], [3.0, 1.0]])  # errors 1, 0, 0, 3
    naive = target + 2.0  # MAE 2
    assert fc.mae(forecast, target) == 1.0
    assert fc.skill_score(forecast, target, naive) == pytest.approx(0.5)
    assert fc.skill_score(naive, target, naive) == 0.0
    assert fc.skill_score(target, target, naive) == 1.0
    with pytest.raises(ValueError, match="same shape"):
        fc.mae(forecast, target[0])
    with pytest.raises(TypeError):
        fc.mae(forecast.numpy(), target)


def test_seasonal_naive_of_the_splits_is_in_degrees():
    s = fc.elnino_splits()
    series = fc.load_elnino()
    t = s.origins_test[0]
    assert s.naive_test[0].tolist() == pytest.approx(
        series[t - 12 : t - 6].tolist()
    )
    truth = s.unscale(s.y_test)
    assert truth[0].tolist() == pytest.approx(series[t : t + 6].tolist())


def _loss_inputs():
    g = torch.Generator().manual_seed(0)
    return [torch.randn(8, 6, generator=g) for _ in range(3)]


def test_distillation_loss_at_alpha_0_is_the_truth_and_at_1_the_teacher():
    student, target, teacher = _loss_inputs()
    mse = torch.nn.functional.mse_loss
    assert torch.equal(
        fc.forecast_distillation_loss(student, target, teacher, 0.0),
        mse(student, target),
    )
    torch.testing.assert_close(
        fc.forecast_distillation_loss(student, target, teacher, 1.0),
        mse(student, teacher),
    )
    var = torch.rand(8, 6) + 0.1
    assert torch.equal(
        fc.forecast_distillation_loss(student, target, teacher, 0.0, var),
        mse(student, target),
    )


def test_mixed_loss_trains_towards_the_blended_target():
    student, target, teacher = _loss_inputs()
    student.requires_grad_(True)
    alpha = 0.3
    fc.forecast_distillation_loss(
        student, target, teacher, alpha
    ).backward()
    mixed = student.grad.clone()
    student.grad = None
    blend = (1 - alpha) * target + alpha * teacher
    torch.nn.functional.mse_loss(student, blend).backward()
    torch.testing.assert_close(mixed, student.grad)


def test_teacher_variance_weights_the_teacher_term():
    student, target, teacher = _loss_inputs()
    same = torch.full((8, 6), 0.7)
    # a constant variance changes nothing
    torch.testing.assert_close(
        fc.forecast_distillation_loss(student, target, teacher, 1.0, same),
        torch.nn.functional.mse_loss(student, teacher),
    )
    # the sure half of the batch counts more than the unsure half
    var = torch.ones(8, 6)
    var[4:] = 100.0
    gap = (student - teacher).pow(2)
    weighted = fc.forecast_distillation_loss(
        student, target, teacher, 1.0, var
    )
    sure, unsure = gap[:4].mean(), gap[4:].mean()
    # weights 1 and 0.01, normalised to mean 1: 2/1.01 and 0.02/1.01
    assert float(weighted) == pytest.approx(
        float((100 * sure + unsure) / 101), rel=1e-5
    )
    with pytest.raises(ValueError, match="positive"):
        fc.forecast_distillation_loss(student, target, teacher, 1.0, -var)


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_distillation_loss_rejects_alpha_outside_0_1(alpha):
    student, target, teacher = _loss_inputs()
    with pytest.raises(ValueError, match="alpha"):
        fc.forecast_distillation_loss(student, target, teacher, alpha)
    with pytest.raises(TypeError):
        fc.forecast_distillation_loss(student, target, teacher, "0.5")


def test_tcn_student_is_causal():
    model = fc.make_forecast_student(seed=0).eval()
    x = torch.randn(2, 24, 3)
    changed = x.clone()
    changed[:, 15:] = torch.randn(2, 9, 3)  # change every step after 14
    with torch.no_grad():
        # the forecast from every origin: (batch, time, horizon)
        a, b = model.steps(x)[1], model.steps(changed)[1]
        assert torch.equal(a[:, :15], b[:, :15])
        assert not torch.allclose(a[:, 15:], b[:, 15:])
        # the forecast from step 14 is that of the window cut after it
        torch.testing.assert_close(model(x[:, :15]), a[:, 14])
        assert model(x).shape == (2, 6)
    assert model.receptive_field == 29


def test_lstm_forecaster_gives_a_mean_and_a_log_variance():
    kd_lib.set_seed(0)
    model = fc.LSTMForecaster(3, 6, hidden_size=16)
    mean, log_var = model(torch.randn(5, 24, 3))
    assert mean.shape == log_var.shape == (5, 6)
    assert log_var.abs().max() <= 10.0
    same_mean, var = model.forecast(torch.randn(5, 24, 3))
    assert not model.training and (var > 0).all()
    assert same_mean.shape == (5, 6)


@pytest.mark.parametrize(
    "model", [fc.make_forecast_student(0), fc.LSTMForecaster(3, 6, 8)]
)
def test_forecasters_validate_their_input(model):
    with pytest.raises(ValueError, match="3 features"):
        model(torch.randn(2, 24, 1))
    with pytest.raises(ValueError, match="dimensions"):
        model(torch.randn(24, 3))
    with pytest.raises(TypeError):
        model(torch.zeros(2, 24, 3, dtype=torch.long))


def test_gaussian_nll_is_smallest_at_the_true_spread():
    target = torch.zeros(1000, 1)
    mean = torch.randn(1000, 1, generator=torch.Generator().manual_seed(0))
    losses = {
        s: float(fc.gaussian_nll(mean, torch.full_like(mean, s), target))
        for s in (-1.0, 0.0, 1.0)  # log-variances; the truth is 0
    }
    assert losses[0.0] < losses[-1.0] and losses[0.0] < losses[1.0]


def test_every_arm_is_the_truth_arm_when_the_teacher_is_the_truth():
    s = fc.elnino_splits()
    small = fc.ForecastSplits(
        **{
            **s.__dict__,
            "x_train": s.x_train[:64],
            "y_train": s.y_train[:64],
            "origins_train": s.origins_train[:64],
            "season_var_train": torch.ones(64, 6),
        }
    )
    var = torch.ones_like(small.y_train)
    # a teacher that forecasts the truth, equally sure everywhere (and a
    # calendar equally sure every month): every arm trains on the same
    # loss, seed for seed
    results = fc.run_forecast_arms(
        small, small.y_train, var, [0, 1], epochs=2
    )
    assert list(results) == list(fc.FORECAST_ARMS)
    for arm in fc.FORECAST_ARMS:
        assert results[arm]["test_mae"] == results["truth"]["test_mae"]
    assert results["truth"]["seeds"] == [0, 1]
    assert len(results["truth"]["val_mae"][-1]) == 2
    assert len(results["truth"]["test_window_mae"][0]) == len(s.y_test)
    json.dumps(results)
    with pytest.raises(ValueError, match="one forecast per training"):
        fc.run_forecast_arms(small, var[:3], var, [0], epochs=1)
    with pytest.raises(ValueError, match="unknown arm"):
        fc.run_forecast_arms(small, var, var, [0], arms=("soft",), epochs=1)


def test_teacher_training_writes_a_weights_only_checkpoint(tmp_path):
    model, history = train_forecast_teacher(
        epochs=2, save_to=tmp_path / "t.pt"
    )
    assert len(history.train_loss) == 2 and history.best_epoch in (1, 2)
    payload = torch.load(tmp_path / "t.pt", weights_only=True)
    fresh = fc.LSTMForecaster(**FORECAST_TEACHER["model"])
    meta = kd_lib.utils.load_checkpoint(fresh, tmp_path / "t.pt")
    assert meta["epochs"] == 2 and meta["val_mae"] > 0
    assert set(payload["state_dict"]) == set(fresh.state_dict())
    again, _ = train_forecast_teacher(epochs=2)
    for a, b in zip(model.parameters(), again.parameters()):
        torch.testing.assert_close(a, b)


def test_committed_teacher_loads_and_scores_as_recorded():
    teacher, meta = load_forecast_teacher()
    assert not teacher.training
    assert meta["epochs"] == FORECAST_TEACHER["train"]["epochs"]
    s = fc.elnino_splits()
    mean, var = teacher.forecast(s.x_test)
    scores = fc.forecast_scores(s, s.unscale(mean))
    assert scores["test_mae"] == pytest.approx(meta["test_mae"], abs=1e-5)
    assert (var > 0).all()
    # the teacher beats the seasonal naive forecast on the test years
    assert scores["test_skill"] > 0.1


def test_stored_study_has_five_paired_seeds_per_arm_and_flat_curves():
    study = kd_lib.results.load_results("forecasting")
    assert study["recipe"] == fc.FORECAST_STUDY
    assert study["seeds"] == kd_lib.arms.SEEDS
    assert list(study["folds"]) == list(fc.FOLDS)
    for fold in study["folds"].values():
        arms = [r["arm"] for r in fold["records"]]
        assert arms == list(fc.FORECAST_ARMS)
        for record in fold["records"]:
            assert record["seeds"] == kd_lib.arms.SEEDS
            assert len(record["test_skill"]) == 5
            assert record["lr"] == fold["lr"][record["arm"]]
            # flat at the end: under 0.001 °C of validation MAE per epoch
            assert max(abs(v) for v in record["final_slope"]) < 1e-3
        assert fold["seasonal_naive"]["test_skill"] == 0.0
