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
    elnino_splits,
    fit_forecast_teacher,
    forecast_scores,
    load_elnino,
    mae,
    run_forecast_arms,
)
from ..comparison import best_setting, next_rate

__all__ = ["forecast_study", "run_forecasting"]


def _final_slope(epochs: list[int], values) -> float:
    """Least-squares slope of the last quarter of a validation curve (at
    least two points), per epoch: near 0 once training has converged."""
    if len(values) < 2:
        return 0.0
    tail = max(2, len(values) // 4)
    return float(np.polyfit(epochs[-tail:], values[-tail:], 1)[0])


def _search(splits, mean, var, seeds) -> tuple[dict, list, list]:
    """Every arm at every rate (all seeds), the grid extended outward
    while an arm's best rate (lowest mean final validation MAE) lies at
    its edge: the chosen rates, the search's records and the chosen arms'
    records, each with its curves' final slopes."""
    pending = {arm: FORECAST_STUDY["lrs"] for arm in FORECAST_ARMS}
    runs = {}
    while pending:
        for arm, lrs in pending.items():
            for lr in lrs:
                run = run_forecast_arms(
                    splits, mean, var, seeds, arms=(arm,), lr=lr
                )[arm]
                run["final_slope"] = [
                    _final_slope(run["val_epochs"], curve)
                    for curve in zip(*run["val_mae"])
                ]
                runs[arm, lr] = run
        chosen = {
            arm: best_setting(
                [r for (a, _), r in runs.items() if a == arm],
                lambda r: r["val_mae"][-1],
                lower_is_better=True,
            )
            for arm in FORECAST_ARMS
        }
        pending = {}
        for arm, lr in chosen.items():
            tried = sorted(rate for a, rate in runs if a == arm)
            step = next_rate(lr, tried, FORECAST_STUDY["lr_limits"])
            if step is not None:
                pending[arm] = [step]
    search = list(runs.values())
    records = [runs[arm, chosen[arm]] for arm in FORECAST_ARMS]
    return chosen, search, records


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
    mean, var = teacher.forecast(splits.x_train)
    chosen, search, records = _search(splits, mean, var, seeds)
    test_mean, test_var = teacher.forecast(splits.x_test)
    truth = splits.unscale(splits.y_test)
    sd = test_var.sqrt() * splits.std
    inside = (splits.unscale(test_mean) - truth).abs() <= 1.96 * sd
    # climatology: the training years' mean of each target's month
    months = load_elnino()[: val_start - val_start % SEASON]
    climate = months.reshape(-1, SEASON).mean(0)
    steps = splits.origins_test[:, None] + np.arange(truth.shape[1])
    climatology = torch.tensor(climate[steps % SEASON], dtype=torch.float32)
    return {
        "lr": chosen,
        "lr_search": search,
        "records": records,
        "years": (1950 + splits.origins_test // SEASON).tolist(),
        "teacher": {
            **forecast_scores(splits, splits.unscale(test_mean)),
            "train_mae": mae(
                splits.unscale(mean), splits.unscale(splits.y_train)
            ),
            "test_coverage_95": float(inside.float().mean()),
        },
        "seasonal_naive": forecast_scores(splits, splits.naive_test),
        "climatology": forecast_scores(splits, climatology),
    }


def run_forecasting(seeds=SEEDS) -> dict:
    """The forecasting chapter's comparison over the three test decades of
    :data:`~kd_lib.chapters.forecasting.FOLDS`, each with its own teacher
    (the 2000s' is the committed one)."""
    folds = {}
    for fold, (val_start, _, _) in FOLDS.items():
        splits = elnino_splits(fold)
        teacher, history = fit_forecast_teacher(splits)
        folds[fold] = forecast_study(
            splits, teacher, list(seeds), val_start
        )
        folds[fold]["teacher"]["best_epoch"] = history.best_epoch
        print(
            f"forecasting: {fold} done, lr {folds[fold]['lr']}", flush=True
        )
    return {"seeds": list(seeds), "recipe": FORECAST_STUDY, "folds": folds}
