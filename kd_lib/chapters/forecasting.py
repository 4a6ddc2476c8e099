"""Distilling a forecaster: an LSTM that predicts a Gaussian, a TCN that
learns from it, and the measures a forecast is judged by, on the monthly
Niño 1+2 sea surface temperature (NOAA, 1950 to 2010, public domain)."""

from __future__ import annotations

import copy
import csv
import importlib.util
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..comparison import PairedDifference
from ..distill import _check_temperature_alpha
from ..models import LSTMClassifier, TCNClassifier
from ..pretrained import CHECKPOINT_DIR
from ..training import fit
from ..utils import (
    check_int,
    check_tensor,
    load_checkpoint,
    model_device,
    set_seed,
)

__all__ = [
    "SEASON",
    "elnino_path",
    "load_elnino",
    "seasonal_naive",
    "ForecastSplits",
    "FOLDS",
    "elnino_splits",
    "mae",
    "skill_score",
    "forecast_scores",
    "LSTMForecaster",
    "gaussian_nll",
    "forecast_distillation_loss",
    "confidence_weights",
    "ForecastHistory",
    "point_forecast",
    "FORECAST_TEACHER",
    "FORECAST_CHECKPOINT",
    "fit_forecast_teacher",
    "load_forecast_teacher",
    "FORECAST_STUDY",
    "FORECAST_ARMS",
    "make_forecast_student",
    "run_forecast_arms",
    "skill_bootstrap",
]

SEASON = 12
"""Months in a season: the seasonal naive forecast repeats a year ago."""


def elnino_path() -> Path:
    """The El Niño CSV file in the statsmodels wheel (never imported)."""
    spec = importlib.util.find_spec("statsmodels")
    if spec is None:
        raise FileNotFoundError(
            "statsmodels is not installed; pip install -r requirements.txt "
            "(its wheel ships the El Niño data)"
        )
    return Path(spec.origin).parent / "datasets" / "elnino" / "elnino.csv"


def load_elnino() -> np.ndarray:
    """The monthly Niño 1+2 sea surface temperature in °C, January 1950 to
    December 2010: 732 values, oldest first."""
    with elnino_path().open(newline="") as f:
        rows = list(csv.reader(f))[1:]  # header: YEAR, JAN, ..., DEC
    return np.array(
        [float(v) for row in rows for v in row[1:]], dtype=np.float64
    )


def _check_series(series) -> np.ndarray:
    series = np.asarray(series, dtype=np.float64)
    if series.ndim != 1 or not np.isfinite(series).all():
        raise ValueError(
            "series must be a 1-D array of finite numbers, got shape "
            f"{series.shape}"
        )
    return series


def seasonal_naive(series, origins, horizon: int) -> np.ndarray:
    """The seasonal naive forecast ``(n, horizon)``: month ``t + k`` from
    month ``t + k - SEASON``; ``horizon <= SEASON``, so that every value
    it repeats is known at the origin ``t``."""
    series = _check_series(series)
    check_int(horizon, "horizon")
    if horizon > SEASON:
        raise ValueError(
            f"horizon ({horizon}) must not exceed the season ({SEASON}): "
            "the forecast would repeat values not yet seen"
        )
    origins = np.asarray(origins)
    if origins.min() < SEASON:
        raise ValueError(f"origins must be >= season ({SEASON})")
    return series[origins[:, None] + np.arange(horizon) - SEASON]


@dataclass(frozen=True)
class ForecastSplits:
    """Windows split by time (:func:`elnino_splits`): ``x_*`` ``(n,
    window, 3)`` and ``y_*`` ``(n, horizon)`` scaled by the training
    months' mean and standard deviation (:meth:`unscale` undoes it);
    ``origins_*`` ``(n,)`` each window's first target; ``naive_test`` the
    seasonal naive forecast (°C); ``season_var_train`` the training years'
    variance (scaled) of each training target's calendar month."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    origins_train: np.ndarray
    origins_val: np.ndarray
    origins_test: np.ndarray
    naive_test: torch.Tensor
    season_var_train: torch.Tensor
    mean: float
    std: float

    def unscale(self, values: torch.Tensor) -> torch.Tensor:
        return values * self.std + self.mean


FOLDS = {
    "1980s": (240, 360, 480),
    "1990s": (360, 480, 600),
    "2000s": (480, 600, 732),
}
"""Rolling origin: for each test decade, ``(val_start, test_start,
test_stop)`` in months since January 1950. The models learn from the
months before the decade before it, and validate on that decade."""


def _windows(series, window, horizon, start, stop, mean, std):
    """The inputs, targets and origins of :func:`elnino_splits`' windows
    with targets in ``series[start:stop]``."""
    first = max(start, window)
    if not 0 <= start < stop <= len(series) or first + horizon > stop:
        raise ValueError(
            f"no window of {window} + {horizon} months fits in "
            f"[{start}, {stop}) of a series of {len(series)}"
        )
    origins = np.arange(first, stop - horizon + 1)
    x = np.stack([series[t - window : t] for t in origins])
    y = np.stack([series[t : t + horizon] for t in origins])
    steps = origins[:, None] + np.arange(-window, 0)
    angle = 2 * np.pi * (steps % SEASON) / SEASON
    x = np.stack([(x - mean) / std, np.sin(angle), np.cos(angle)], -1)
    y = (y - mean) / std
    return torch.tensor(x).float(), torch.tensor(y).float(), origins


def elnino_splits(
    fold="2000s", window: int = 24, horizon: int = 6, series=None
) -> ForecastSplits:
    """The windows of one test decade of :data:`FOLDS` (or of ``fold =
    (val_start, test_start, test_stop)``), split by time (by default, the
    training targets in 1950–1989, validation 1990–1999, test 2000–2010).

    From an origin ``t`` (the first month to predict) the input is the
    ``window`` months before it, ``(n, window, 3)``: the temperature and
    each month's place in the year as a sine and a cosine; the target is
    the ``horizon`` months from ``t``, ``(n, horizon)``. Inputs may reach
    back into an earlier split (the past is known when a forecast is
    made); targets never cross into a later one. The scaling uses the
    training months only. ``series`` replaces the El Niño data (tests).
    """
    if isinstance(fold, str) and fold not in FOLDS:
        raise ValueError(f"fold must be one of {list(FOLDS)}, got {fold!r}")
    check_int(window, "window")
    check_int(horizon, "horizon")
    val_start, test_start, test_stop = FOLDS.get(fold, fold)
    series = _check_series(load_elnino() if series is None else series)
    mean = float(series[:val_start].mean())
    std = float(series[:val_start].std())
    parts = {}
    for name, start, stop in (
        ("train", 0, val_start),
        ("val", val_start, test_start),
        ("test", test_start, test_stop),
    ):
        x, y, origins = _windows(
            series, window, horizon, start, stop, mean, std
        )
        parts[f"x_{name}"], parts[f"y_{name}"] = x, y
        parts[f"origins_{name}"] = origins
    naive = seasonal_naive(series, parts["origins_test"], horizon)
    months = series[: val_start - val_start % SEASON].reshape(-1, SEASON)
    by_month = (months.var(0) / std**2).astype(np.float32)
    targets = parts["origins_train"][:, None] + np.arange(horizon)
    return ForecastSplits(
        **parts,
        naive_test=torch.tensor(naive, dtype=torch.float32),
        season_var_train=torch.tensor(by_month[targets % SEASON]),
        mean=mean,
        std=std,
    )


def _check_pair(forecast, target) -> None:
    check_tensor(forecast, "forecast", floating=True)
    check_tensor(target, "target", floating=True)
    if forecast.shape != target.shape:
        raise ValueError(
            f"forecast {tuple(forecast.shape)} and target "
            f"{tuple(target.shape)} must have the same shape"
        )


def mae(forecast: torch.Tensor, target: torch.Tensor) -> float:
    """Mean absolute error, in the target's units."""
    _check_pair(forecast, target)
    return float((forecast - target).abs().mean())


def skill_score(
    forecast: torch.Tensor, target: torch.Tensor, naive: torch.Tensor
) -> float:
    """``1 - MAE(forecast) / MAE(naive)``: 0 is no better than the naive
    forecast, 1 is perfect, below 0 worse than naive."""
    _check_pair(naive, target)
    return 1.0 - mae(forecast, target) / mae(naive, target)


def forecast_scores(splits: ForecastSplits, forecast: torch.Tensor) -> dict:
    """Test MAE, root mean squared error and skill of a forecast ``(n_test,
    horizon)`` in °C, and each test window's MAE over its months ahead
    (``window_mae``, what :func:`skill_bootstrap` resamples)."""
    truth = splits.unscale(splits.y_test)
    return {
        "test_mae": mae(forecast, truth),
        "test_rmse": float((forecast - truth).pow(2).mean().sqrt()),
        "test_skill": skill_score(forecast, truth, splits.naive_test),
        "window_mae": (forecast - truth).abs().mean(1).tolist(),
    }


class LSTMForecaster(LSTMClassifier):
    """A two-layer LSTM whose last hidden state gives a Gaussian forecast
    for each of the next ``horizon`` steps: ``(batch, time, input_size)
    -> (mean, log_var)``, each ``(batch, horizon)``. Trained with
    :func:`gaussian_nll`, it learns how unsure to be as well as what to
    predict; :meth:`forecast` gives the mean and the variance."""

    def __init__(
        self, input_size: int, horizon: int, hidden_size: int = 64
    ):
        check_int(horizon, "horizon")
        super().__init__(input_size, 2 * horizon, hidden_size, num_layers=2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_var = super().forward(x).chunk(2, dim=-1)
        return mean, log_var.clamp(-10.0, 10.0)

    @torch.no_grad()
    def forecast(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance, each ``(n, horizon)``, in eval mode, on the
        CPU (``x`` goes to the model's device)."""
        mean, log_var = self.eval()(x.to(model_device(self)))
        return mean.cpu(), log_var.exp().cpu()


def gaussian_nll(
    mean: torch.Tensor, log_var: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Negative log-likelihood of ``target`` under ``N(mean,
    exp(log_var))``, averaged, without the constant ``log(2π) / 2``."""
    _check_pair(mean, target)
    _check_pair(log_var, target)
    return 0.5 * (log_var + (target - mean).pow(2) / log_var.exp()).mean()


def forecast_distillation_loss(
    student, target, teacher_mean, alpha: float, teacher_var=None
) -> torch.Tensor:
    """``(1 - alpha) * MSE(student, target) + alpha * teacher term``, all
    tensors ``(batch, horizon)``; as everywhere in the book, ``alpha``
    weights the *teacher* term (0: the true targets alone).

    The teacher term is ``MSE(student, teacher_mean)``; with
    ``teacher_var`` it is the Gaussian negative log-likelihood of the
    student's forecast under the teacher's ``N(teacher_mean,
    teacher_var)``, up to a constant: ``(student - teacher_mean)² /
    teacher_var``, weighted by :func:`confidence_weights`. Where the
    teacher is sure, the student must follow it closely.
    """
    _check_temperature_alpha(1.0, alpha)
    _check_pair(student, target)
    _check_pair(teacher_mean, target)
    truth = (student - target).pow(2).mean()
    gap = (student - teacher_mean).pow(2)
    if teacher_var is not None:
        _check_pair(teacher_var, target)
        gap = gap * confidence_weights(teacher_var)
    return (1.0 - alpha) * truth + alpha * gap.mean()


def confidence_weights(teacher_var: torch.Tensor) -> torch.Tensor:
    """``1 / teacher_var`` normalised to mean 1 in each column (horizon),
    so that the weighted term stays on MSE's scale and each horizon keeps
    its share. ``(n, horizon) -> (n, horizon)``."""
    check_tensor(teacher_var, "teacher_var", ndim=2, floating=True)
    if not (teacher_var > 0).all():
        raise ValueError("teacher_var must be positive")
    weight = 1.0 / teacher_var
    return weight / weight.mean(0, keepdim=True)


@dataclass
class ForecastHistory:
    """Per-epoch training loss; scaled validation MAE at ``val_epochs``."""

    train_loss: list[float] = field(default_factory=list)
    val_epochs: list[int] = field(default_factory=list)
    val_mae: list[float] = field(default_factory=list)
    best_epoch: int | None = None


@torch.no_grad()
def point_forecast(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A forecaster's point forecast ``(n, horizon)``, in eval mode: the
    mean of a Gaussian forecaster, the output of a point forecaster."""
    out = model.eval()(x.to(model_device(model)))
    return (out[0] if isinstance(out, tuple) else out).cpu()


def _train(
    model,
    splits,
    targets,
    loss_fn,
    *,
    epochs,
    lr,
    batch_size,
    seed,
    val_every=1,
    keep_best=False,
) -> ForecastHistory:
    """Train on ``splits``' training windows, batches in an order fixed by
    ``seed``, with :func:`kd_lib.training.fit` (Adam, gradients clipped to
    norm 1, a half-cosine decay over the updates) and the loss
    ``loss_fn(model(x), *targets)``, a row of each target per window;
    validate every ``val_every`` epochs and at the last; keep the last
    epoch or, with ``keep_best``, the validated one of lowest MAE."""
    x = splits.x_train
    history, best = ForecastHistory(), {}
    generator = torch.Generator().manual_seed(seed)

    def batches(epoch):
        return torch.randperm(len(x), generator=generator).split(batch_size)

    def batch_loss(idx):
        return loss_fn(model(x[idx]), *(t[idx] for t in targets)), len(idx)

    def after_epoch(epoch):
        epoch += 1
        if epoch % val_every and epoch != epochs:
            return
        so_far = min(history.val_mae, default=math.inf)
        history.val_epochs.append(epoch)
        forecast = point_forecast(model, splits.x_val)
        history.val_mae.append(mae(forecast, splits.y_val))
        if keep_best and history.val_mae[-1] < so_far:
            best["state"] = copy.deepcopy(model.state_dict())
            history.best_epoch = epoch

    history.train_loss = fit(
        model,
        batches,
        batch_loss,
        epochs=epochs,
        lr=lr,
        clip_grad_norm=1.0,
        cosine_steps=epochs * math.ceil(len(x) / batch_size),
        schedule_step="update",
        after_epoch=after_epoch,
    )
    if best:
        model.load_state_dict(best["state"])
    return history


FORECAST_TEACHER = {
    "model": {"input_size": 3, "horizon": 6, "hidden_size": 64},
    "train": {"epochs": 150, "lr": 3e-3, "batch_size": 64},
    "seed": 0,
}
"""The El Niño teacher's size and recipe (``python -m
kd_lib.runners.checkpoints elnino`` retrains the committed one)."""

FORECAST_CHECKPOINT = "elnino_lstm_teacher.pt"


def fit_forecast_teacher(
    splits, epochs: int | None = None, seed: int | None = None
) -> tuple[LSTMForecaster, ForecastHistory]:
    """Train a teacher with :data:`FORECAST_TEACHER`'s recipe on
    ``splits`` (``epochs`` and ``seed`` override it)."""
    recipe = FORECAST_TEACHER["train"]
    seed = FORECAST_TEACHER["seed"] if seed is None else seed
    set_seed(seed)
    model = LSTMForecaster(**FORECAST_TEACHER["model"])
    history = _train(
        model,
        splits,
        (splits.y_train,),
        lambda out, y: gaussian_nll(*out, y),
        epochs=recipe["epochs"] if epochs is None else epochs,
        lr=recipe["lr"],
        batch_size=recipe["batch_size"],
        seed=seed,
        keep_best=True,
    )
    return model.eval(), history


def load_forecast_teacher() -> tuple[LSTMForecaster, dict]:
    """The committed El Niño teacher (eval mode) and its metadata."""
    model = LSTMForecaster(**FORECAST_TEACHER["model"])
    metadata = load_checkpoint(model, CHECKPOINT_DIR / FORECAST_CHECKPOINT)
    return model.eval(), metadata


FORECAST_STUDY = {
    "window": 24,
    "horizon": 6,
    "channels": [8, 8, 8],
    "kernel_size": 3,
    "epochs": 100,
    "batch_size": 64,
    "lrs": [1e-3, 3e-3, 1e-2, 3e-2],
    "lr_limits": [1e-4, 1e-1],
    "alpha": 0.5,
    "val_points": 50,
    "equivalence_margin": 0.01,
}
"""The recipe of every arm: the last epoch kept, the rate picked per arm
on validation data from ``lrs``, the grid extended outward while the pick
sits at its edge (within ``lr_limits``); ``alpha`` weights the teacher
term; differences of skill within ±0.01 are too small to matter."""

FORECAST_ARMS = (
    "truth",
    "teacher",
    "distilled",
    "distilled_var",
    "truth_weighted",
    "truth_seasonal",
)
"""The arms: the true targets alone, the teacher's means alone, half and
half, and half and half with the teacher term weighted by its confidence
(``distilled_var``); its controls: ``truth_weighted`` (the truth in place
of the teacher's means: its weights, nothing it forecast) and
``truth_seasonal`` (no teacher: weights from the training years' variance
of each target's calendar month)."""


def make_forecast_student(seed: int) -> TCNClassifier:
    """The study's student, its weights drawn after seeding with ``seed``:
    the book's TCN with a linear head on its last step, ``(batch, time,
    3) -> (batch, horizon)``, one output per month ahead."""
    set_seed(seed)
    recipe = FORECAST_STUDY
    return TCNClassifier(
        3, recipe["horizon"], recipe["channels"], recipe["kernel_size"]
    )


def _arm_loss(arm: str, alpha: float):
    """``arm``'s loss, called as ``loss(student, target, teacher_mean,
    teacher_var, season_var)``."""
    if arm not in FORECAST_ARMS:
        raise ValueError(
            f"unknown arm {arm!r}; choose from {FORECAST_ARMS}"
        )
    weight = {"truth": 0.0, "teacher": 1.0}.get(arm, alpha)

    def loss(student, target, teacher_mean, teacher_var, season_var):
        variance = season_var if arm == "truth_seasonal" else None
        if arm in ("distilled_var", "truth_weighted"):
            variance = teacher_var
        mean = target if arm.startswith("truth_") else teacher_mean
        return forecast_distillation_loss(
            student, target, mean, weight, variance
        )

    return loss


def run_forecast_arms(
    splits: ForecastSplits,
    teacher_mean: torch.Tensor,
    teacher_var: torch.Tensor,
    seeds: list[int],
    *,
    arms=FORECAST_ARMS,
    lr: float | dict = 3e-3,
    epochs: int = FORECAST_STUDY["epochs"],
    alpha: float = FORECAST_STUDY["alpha"],
) -> dict[str, dict]:
    """Train a student per seed for each of ``arms`` on ``splits``'
    training windows (``teacher_mean`` and ``teacher_var`` ``(n_train,
    horizon)``: the teacher's forecasts on them; ``lr``: one rate or one
    per arm) and score it on the test windows. Seed ``s`` fixes a
    student's weights and batch order in every arm: the arms are paired
    by seed. Returns, per arm, plain data for a JSON file: per-seed test
    MAE, RMSE, skill, each window's MAE (``test_window_mae[seed]``),
    validation curves (``val_mae[point][seed]``, °C) and seconds.
    """
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    targets = (
        splits.y_train,
        teacher_mean,
        teacher_var,
        splits.season_var_train,
    )
    if any(t.shape != splits.y_train.shape for t in targets):
        raise ValueError(
            f"the teacher's forecasts must be {tuple(splits.y_train.shape)}"
            " (one forecast per training window)"
        )
    results = {}
    for arm in arms:
        loss = _arm_loss(arm, alpha)
        rate = lr[arm] if isinstance(lr, dict) else lr
        runs = []
        for seed in seeds:
            start = time.perf_counter()
            model = make_forecast_student(seed)
            history = _train(
                model,
                splits,
                targets,
                loss,
                epochs=epochs,
                lr=rate,
                batch_size=FORECAST_STUDY["batch_size"],
                seed=seed,
                val_every=max(1, epochs // FORECAST_STUDY["val_points"]),
            )
            forecast = point_forecast(model, splits.x_test)
            run = forecast_scores(splits, splits.unscale(forecast))
            run["test_window_mae"] = run.pop("window_mae")
            run["val_epochs"] = history.val_epochs
            run["val_mae"] = [v * splits.std for v in history.val_mae]
            run["seconds"] = time.perf_counter() - start
            runs.append(run)
        record = {"arm": arm, "lr": rate, "seeds": list(seeds)}
        record.update({key: [run[key] for run in runs] for key in runs[0]})
        record["val_mae"] = [list(p) for p in zip(*record["val_mae"])]
        record["val_epochs"] = history.val_epochs
        record["seconds"] = sum(record["seconds"])
        results[arm] = record
    return results


def skill_bootstrap(
    errors_a, errors_b, naive, years, confidence: float = 0.95, seed=0
) -> PairedDifference:
    """Test skill of arm B minus arm A, with an interval from a block
    bootstrap over years and seeds.

    ``errors_a`` / ``errors_b`` ``(seeds, windows)``: each seed's MAE on
    each test window; ``naive`` ``(windows,)``: the seasonal naive
    forecast's; ``years`` ``(windows,)``: each window's year. Each of
    10,000 draws resamples the years (all windows of a year together:
    neighbouring windows share months, so they are not independent) and
    the seeds, the same draw for both arms; the interval is the central
    ``confidence`` share of the draws' differences of skill.
    """
    a, b = np.asarray(errors_a, float), np.asarray(errors_b, float)
    naive, years = np.asarray(naive, float), np.asarray(years)
    if a.ndim != 2 or a.shape != b.shape or a.shape[1:] != naive.shape:
        raise ValueError(
            "errors must be (seeds, windows) arrays of one shape, with one "
            f"naive error per window; got {a.shape}, {b.shape}, "
            f"{naive.shape}"
        )
    if years.shape != naive.shape:
        raise ValueError("need one year per window")
    rng = np.random.default_rng(seed)
    blocks, block_of = np.unique(years, return_inverse=True)
    n, k = a.shape[0], len(blocks)
    seed_w = rng.multinomial(n, [1 / n] * n, 10_000) / n
    year_w = rng.multinomial(k, [1 / k] * k, 10_000)[:, block_of]
    every_window = np.ones(len(naive))

    def skill(errors, seed_weights, window_weights):
        mae = ((seed_weights @ errors) * window_weights).sum(-1)
        return 1 - mae / (naive * window_weights).sum(-1)

    def difference(seed_weights, window_weights=every_window):
        return skill(b, seed_weights, window_weights) - skill(
            a, seed_weights, window_weights
        )

    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(
        difference(seed_w, year_w), [tail, 100 - tail]
    )
    return PairedDifference(
        tuple(float(difference(one)) for one in np.eye(n)),
        float(difference(np.full(n, 1 / n))),
        float(low),
        float(high),
        confidence,
    )
