"""The stored forecasting study (chapter 11): ``python -m kd_lib.runners
forecasting``. Rolling origin over three test decades: for each, a
teacher and every arm's students learn from the years before the decade
before it, choose their learning rate on that decade, and are tested on
the next (:data:`kd_lib.chapters.forecasting.FOLDS`)."""

from __future__ import annotations

import numpy as np
import torch

from ..arms import SEEDS
from ..chapters.forecasting import (
    FOLDS,
    FORECAST_ARMS,
    FORECAST_STUDY,
    SEASON,
    ForecastSplits,
    LSTMForecaster,
    best_forecast_lrs,
    fit_forecast_teacher,
    fold_splits,
    forecast_scores,
    load_elnino,
    mae,
    run_forecast_arms,
    teacher_forecasts,
)
from ..comparison import next_rate

__all__ = ["forecast_study", "run_forecasting"]


def _search(splits, mean, var, seeds) -> tuple[dict, list, list]:
    """Every arm at every rate (all seeds), the grid extended outward
    while an arm's best rate lies at its edge: the chosen rates, the
    search's records and the chosen arms' records."""
    pending = {arm: FORECAST_STUDY["lrs"] for arm in FORECAST_ARMS}
    runs = {}
    while pending:
        for arm, lrs in pending.items():
            for lr in lrs:
                result = run_forecast_arms(
                    splits, mean, var, seeds, arms=(arm,), lr=lr
                )[arm]
                runs[arm, lr] = result.record()
        chosen = best_forecast_lrs(list(runs.values()))
        pending = {}
        for arm, lr in chosen.items():
            tried = sorted(rate for a, rate in runs if a == arm)
            step = next_rate(lr, tried, FORECAST_STUDY["lr_limits"])
            if step is not None:
                pending[arm] = [step]
    search = list(runs.values())
    records = [runs[arm, chosen[arm]] for arm in FORECAST_ARMS]
    return chosen, search, records


def _climatology(splits: ForecastSplits, val_start: int) -> torch.Tensor:
    series = load_elnino()
    climate = series[: val_start - val_start % SEASON].reshape(-1, SEASON)
    targets = splits.origins_test[:, None] + np.arange(
        splits.y_test.shape[1]
    )
    return torch.tensor(
        climate.mean(0)[targets % SEASON], dtype=torch.float32
    )


def _window_mae(splits, forecast) -> list[float]:
    truth = splits.unscale(splits.y_test)
    return (forecast - truth).abs().mean(1).tolist()


def forecast_study(
    splits: ForecastSplits,
    teacher: LSTMForecaster,
    seeds: list[int],
    val_start: int,
) -> dict:
    """One test decade: every arm's learning rate searched on validation
    data over ``seeds``, the chosen rate's students scored on the test
    windows, beside the teacher, the seasonal naive forecast and
    climatology. Returns plain data for a JSON file."""
    mean, var = teacher_forecasts(teacher, splits.x_train)
    chosen, search, records = _search(splits, mean, var, seeds)
    test_mean, test_var = teacher_forecasts(teacher, splits.x_test)
    truth = splits.unscale(splits.y_test)
    sd = test_var.sqrt() * splits.std
    inside = (splits.unscale(test_mean) - truth).abs() <= 1.96 * sd
    climate = _climatology(splits, val_start)
    return {
        "lr": chosen,
        "lr_search": search,
        "records": records,
        "years": (1950 + splits.origins_test // SEASON).tolist(),
        "teacher": {
            **forecast_scores(splits, splits.unscale(test_mean)),
            "window_mae": _window_mae(splits, splits.unscale(test_mean)),
            "train_mae": mae(
                splits.unscale(mean), splits.unscale(splits.y_train)
            ),
            "test_coverage_95": float(inside.float().mean()),
        },
        "seasonal_naive": {
            **forecast_scores(splits, splits.naive_test),
            "window_mae": _window_mae(splits, splits.naive_test),
        },
        "climatology": {
            **forecast_scores(splits, climate),
            "window_mae": _window_mae(splits, climate),
        },
    }


def run_forecasting(seeds=SEEDS) -> dict:
    """The forecasting chapter's comparison over the three test decades of
    :data:`~kd_lib.chapters.forecasting.FOLDS`, each with its own teacher
    (the 2000s' is the committed one)."""
    folds = {}
    for fold, (val_start, _, _) in FOLDS.items():
        splits = fold_splits(fold)
        teacher, history = fit_forecast_teacher(splits)
        folds[fold] = forecast_study(
            splits, teacher, list(seeds), val_start
        )
        folds[fold]["teacher"]["best_epoch"] = history.best_epoch
        print(
            f"forecasting: {fold} done, lr {folds[fold]['lr']}", flush=True
        )
    return {"seeds": list(seeds), "recipe": FORECAST_STUDY, "folds": folds}
