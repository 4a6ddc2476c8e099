"""The stored forecasting study (chapter 8): ``python -m kd_lib.runners
forecasting``."""

from __future__ import annotations

from ..arms import SEEDS
from ..chapters.forecasting import (
    FORECAST_STUDY,
    ForecastSplits,
    LSTMForecaster,
    best_forecast_lrs,
    elnino_splits,
    forecast_scores,
    load_forecast_teacher,
    mae,
    run_forecast_arms,
    teacher_forecasts,
)

__all__ = ["forecast_study", "run_forecasting"]


def forecast_study(
    splits: ForecastSplits,
    teacher: LSTMForecaster,
    seeds: list[int],
    search_seeds: list[int],
) -> dict:
    """The whole comparison: every arm's learning rate searched over
    ``search_seeds`` on validation data, then every arm over ``seeds`` at
    its rate; with the teacher's and the seasonal naive forecast's test
    scores. Returns plain data for a JSON file."""
    mean, var = teacher_forecasts(teacher, splits.x_train)
    search = []
    for lr in FORECAST_STUDY["lrs"]:
        results = run_forecast_arms(splits, mean, var, search_seeds, lr=lr)
        search += [r.record() for r in results.values()]
    lrs = best_forecast_lrs(search)
    results = run_forecast_arms(splits, mean, var, seeds, lr=lrs)
    test_mean, test_var = teacher_forecasts(teacher, splits.x_test)
    truth = splits.unscale(splits.y_test)
    sd = test_var.sqrt() * splits.std
    inside = (splits.unscale(test_mean) - truth).abs() <= 1.96 * sd
    return {
        "seeds": list(seeds),
        "search_seeds": list(search_seeds),
        "recipe": FORECAST_STUDY,
        "lr": lrs,
        "lr_search": search,
        "records": [r.record() for r in results.values()],
        "teacher": {
            **forecast_scores(splits, splits.unscale(test_mean)),
            "train_mae": mae(
                splits.unscale(mean), splits.unscale(splits.y_train)
            ),
            "test_coverage_95": float(inside.float().mean()),
            "test_sd_per_horizon": sd.mean(0).tolist(),
        },
        "seasonal_naive": forecast_scores(splits, splits.naive_test),
    }


def run_forecasting(seeds=SEEDS, search_seeds=(0, 1, 2)) -> dict:
    """The forecasting chapter's comparison: an LSTM forecaster of El Niño
    distilled into a TCN (see :func:`forecast_study`), with the committed
    teacher."""
    teacher, meta = load_forecast_teacher()
    study = forecast_study(
        elnino_splits(), teacher, list(seeds), list(search_seeds)
    )
    study["teacher"]["checkpoint"] = meta
    return study
