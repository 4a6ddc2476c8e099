"""Distilling a forecaster: an LSTM that predicts a Gaussian, a TCN that
learns from it, and the measures a forecast is judged by.

The series is the monthly Niño 1+2 sea surface temperature (NOAA, 1950 to
2010, public domain), read from the CSV file that ships inside the
``statsmodels`` wheel: nothing is downloaded and statsmodels is never
imported. A window of the last ``window`` months is the input, shaped
``(batch, window, 3)`` (the temperature, and the calendar month as a sine
and a cosine); the next ``horizon`` months are the target, ``(batch,
horizon)``. The split is by time, and the scaling is fitted on the training
months alone.
"""

from __future__ import annotations

import copy
import csv
import importlib.util
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from ..comparison import (
    PairedDifference,
    best_setting,
    paired_difference,
    verdict,
)
from ..models import TCN
from ..plotting import PALETTE
from ..pretrained import CHECKPOINT_DIR
from ..report import Table
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
    "ForecastSplits",
    "forecast_windows",
    "seasonal_naive",
    "elnino_splits",
    "FOLDS",
    "fold_splits",
    "mae",
    "rmse",
    "skill_score",
    "LSTMForecaster",
    "TCNForecaster",
    "gaussian_nll",
    "forecast_distillation_loss",
    "confidence_weights",
    "ForecastHistory",
    "train_forecaster",
    "FORECAST_TEACHER",
    "FORECAST_CHECKPOINT",
    "make_forecast_teacher",
    "fit_forecast_teacher",
    "load_forecast_teacher",
    "point_forecast",
    "FORECAST_STUDY",
    "FORECAST_ARMS",
    "teacher_forecasts",
    "make_forecast_student",
    "ArmScores",
    "run_forecast_arms",
    "best_forecast_lrs",
    "window_years",
    "skill_bootstrap",
    "forecast_scores",
    "study_values",
    "scores_table",
    "comparison_table",
    "plot_study_curves",
    "plot_forecast",
]

SEASON = 12
"""Months in one season of the series: the seasonal naive forecast repeats
the value of twelve months earlier."""


def elnino_path() -> Path:
    """Where the El Niño CSV file lies inside the installed statsmodels
    package (found without importing statsmodels)."""
    spec = importlib.util.find_spec("statsmodels")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "statsmodels is not installed; pip install -r requirements.txt "
            "(its wheel ships the El Niño data)"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "datasets" / "elnino" / "elnino.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no El Niño data at {path}")
    return path


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


def forecast_windows(
    series, window: int, horizon: int, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every window whose ``horizon`` targets all lie in
    ``series[start:stop]``.

    For an origin ``t`` (the first month to predict) the input is
    ``series[t - window:t]`` and the target ``series[t:t + horizon]``.
    Returns inputs ``(n, window)``, targets ``(n, horizon)`` and the
    origins ``(n,)``. Inputs may reach back before ``start``: the past is
    known when a forecast is made; the targets never cross ``stop``.
    """
    series = _check_series(series)
    check_int(window, "window")
    check_int(horizon, "horizon")
    first = max(start, window)
    if not 0 <= start < stop <= len(series) or first + horizon > stop:
        raise ValueError(
            f"no window of {window} + {horizon} months fits in "
            f"[{start}, {stop}) of a series of {len(series)}"
        )
    origins = np.arange(first, stop - horizon + 1)
    x = np.stack([series[t - window : t] for t in origins])
    y = np.stack([series[t : t + horizon] for t in origins])
    return x, y, origins


def seasonal_naive(
    series, origins, horizon: int, season: int = SEASON
) -> np.ndarray:
    """The seasonal naive forecast ``(n, horizon)``: month ``t + k`` is
    predicted by month ``t + k - season``, one season earlier.

    Needs ``horizon <= season``, so that every value it repeats is known at
    the origin ``t``.
    """
    series = _check_series(series)
    check_int(horizon, "horizon")
    check_int(season, "season")
    if horizon > season:
        raise ValueError(
            f"horizon ({horizon}) must not exceed the season ({season}): "
            "the forecast would repeat values not yet seen"
        )
    origins = np.asarray(origins)
    if origins.min() < season:
        raise ValueError(f"origins must be >= season ({season})")
    steps = origins[:, None] + np.arange(horizon) - season
    return series[steps]


@dataclass(frozen=True)
class ForecastSplits:
    """Windows of a series split by time, scaled with the training
    months' mean and standard deviation.

    ``x_*`` ``(n, window, features)`` and ``y_*`` ``(n, horizon)`` are
    scaled; ``naive_*`` ``(n, horizon)`` is the seasonal naive forecast in
    the series' units; ``origins_*`` ``(n,)`` the index of each window's
    first target; ``season_var_train`` ``(n_train, horizon)`` the training
    months' variance (scaled) of each target's calendar month.
    :meth:`unscale` maps a forecast back to the series' units.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    naive_val: torch.Tensor
    naive_test: torch.Tensor
    origins_train: np.ndarray
    origins_val: np.ndarray
    origins_test: np.ndarray
    mean: float
    std: float
    season_var_train: torch.Tensor | None = None

    def unscale(self, values: torch.Tensor) -> torch.Tensor:
        return values * self.std + self.mean


FOLDS = {
    "1980s": (240, 360, 480),
    "1990s": (360, 480, 600),
    "2000s": (480, 600, 732),
}
"""Rolling origin: for each test decade, ``(val_start, test_start,
test_stop)`` in months since January 1950. The students and the teacher
learn from every month before the decade before the test decade, choose
their learning rate on that decade, and are tested on the next."""


def _features(series, origins, window, mean, std, calendar):
    x, _, _ = _windows_at(series, origins, window, 1)
    features = [(x - mean) / std]
    if calendar:
        steps = origins[:, None] + np.arange(-window, 0)
        angle = 2 * np.pi * (steps % SEASON) / SEASON
        features += [np.sin(angle), np.cos(angle)]
    return torch.tensor(np.stack(features, -1), dtype=torch.float32)


def _windows_at(series, origins, window, horizon):
    x = np.stack([series[t - window : t] for t in origins])
    y = np.stack([series[t : t + horizon] for t in origins])
    return x, y, origins


def elnino_splits(
    window: int = 24,
    horizon: int = 6,
    val_start: int = 480,
    test_start: int = 600,
    series=None,
    calendar: bool = True,
    test_stop: int | None = None,
) -> ForecastSplits:
    """By default train on targets in 1950–1989, validate on 1990–1999,
    test on 2000–2010 (months ``[0, 480)``, ``[480, 600)``, ``[600,
    732)``); :data:`FOLDS` gives the other test decades.

    Inputs ``(n, window, 3)``: the scaled temperature and, with
    ``calendar``, each input month's place in the year as a sine and a
    cosine (without it, ``(n, window, 1)``). ``series`` replaces the El
    Niño data (for tests). The scaling uses the training months only, so no
    statistic of the later years leaks in.
    """
    check_int(window, "window")
    check_int(horizon, "horizon")
    series = _check_series(load_elnino() if series is None else series)
    test_stop = len(series) if test_stop is None else test_stop
    if not window <= val_start < test_start < test_stop <= len(series):
        raise ValueError(
            "need window <= val_start < test_start < test_stop <= "
            f"len(series), got {window}, {val_start}, {test_start}, "
            f"{test_stop}, {len(series)}"
        )
    mean = float(series[:val_start].mean())
    std = float(series[:val_start].std())
    parts = {}
    for name, start, stop in (
        ("train", 0, val_start),
        ("val", val_start, test_start),
        ("test", test_start, test_stop),
    ):
        _, y, origins = forecast_windows(
            series, window, horizon, start, stop
        )
        parts[f"x_{name}"] = _features(
            series, origins, window, mean, std, calendar
        )
        parts[f"y_{name}"] = torch.tensor(
            (y - mean) / std, dtype=torch.float32
        )
        parts[f"origins_{name}"] = origins
        if name != "train":
            parts[f"naive_{name}"] = torch.tensor(
                seasonal_naive(series, origins, horizon),
                dtype=torch.float32,
            )
    months = series[: val_start - val_start % SEASON].reshape(-1, SEASON)
    by_month = (months.var(0) / std**2).astype(np.float32)
    targets = parts["origins_train"][:, None] + np.arange(horizon)
    season_var = torch.tensor(by_month[targets % SEASON])
    return ForecastSplits(
        **parts, mean=mean, std=std, season_var_train=season_var
    )


def fold_splits(fold: str, **kwargs) -> ForecastSplits:
    """:func:`elnino_splits` for one test decade of :data:`FOLDS`."""
    if fold not in FOLDS:
        raise ValueError(f"fold must be one of {list(FOLDS)}, got {fold!r}")
    val_start, test_start, test_stop = FOLDS[fold]
    return elnino_splits(
        val_start=val_start,
        test_start=test_start,
        test_stop=test_stop,
        **kwargs,
    )


# ================================================================ metrics


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


def rmse(forecast: torch.Tensor, target: torch.Tensor) -> float:
    """Root mean squared error, in the target's units."""
    _check_pair(forecast, target)
    return float((forecast - target).pow(2).mean().sqrt())


def skill_score(
    forecast: torch.Tensor, target: torch.Tensor, naive: torch.Tensor
) -> float:
    """``1 - MAE(forecast) / MAE(naive)``: 0 is no better than the naive
    forecast, 1 is perfect, below 0 worse than naive."""
    _check_pair(naive, target)
    return 1.0 - mae(forecast, target) / mae(naive, target)


# ================================================================= models


class LSTMForecaster(nn.Module):
    """A (stacked) LSTM whose last hidden state gives a Gaussian forecast
    for each of the next ``horizon`` steps.

    Shapes: ``(batch, time, input_size) -> (mean, log_var)``, each
    ``(batch, horizon)``. Trained with :func:`gaussian_nll`, so it learns
    how unsure to be as well as what to predict.
    """

    def __init__(
        self,
        input_size: int,
        horizon: int,
        hidden_size: int = 64,
        num_layers: int = 2,
    ):
        super().__init__()
        check_int(input_size, "input_size")
        check_int(horizon, "horizon")
        check_int(hidden_size, "hidden_size")
        check_int(num_layers, "num_layers")
        self.lstm = nn.LSTM(
            input_size, hidden_size, num_layers, batch_first=True
        )
        self.head = nn.Linear(hidden_size, 2 * horizon)
        self.input_size = input_size

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_input(x, self.input_size)
        _, (h_n, _) = self.lstm(x)
        mean, log_var = self.head(h_n[-1]).chunk(2, dim=-1)
        return mean, log_var.clamp(-10.0, 10.0)


class TCNForecaster(nn.Module):
    """A :class:`kd_lib.models.TCN` whose last step gives a point
    forecast for each of the next ``horizon`` steps.

    Shapes: ``(batch, time, input_size) -> (batch, horizon)``.
    :meth:`every_step` gives the forecast from every origin, ``(batch,
    time, horizon)``: the one at step t sees inputs up to t only.
    """

    def __init__(
        self,
        input_size: int,
        horizon: int,
        channels: list[int],
        kernel_size: int = 3,
    ):
        super().__init__()
        check_int(horizon, "horizon")
        self.tcn = TCN(input_size, channels, kernel_size)
        self.head = nn.Linear(channels[-1], horizon)

    @property
    def receptive_field(self) -> int:
        return self.tcn.receptive_field

    def every_step(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.tcn(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.tcn(x)[:, -1])


def _check_input(x, input_size: int) -> None:
    check_tensor(x, "x", ndim=3, floating=True)
    if x.shape[-1] != input_size:
        raise ValueError(
            f"x must have {input_size} features in its last dimension "
            f"(batch, time, features), got shape {tuple(x.shape)}"
        )


# ================================================================= losses


def gaussian_nll(
    mean: torch.Tensor, log_var: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Negative log-likelihood of ``target`` under ``N(mean,
    exp(log_var))``, averaged, without the constant ``log(2π) / 2``."""
    _check_pair(mean, target)
    _check_pair(log_var, target)
    return 0.5 * (log_var + (target - mean).pow(2) / log_var.exp()).mean()


def _check_alpha(alpha) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise TypeError(
            f"alpha must be a number, got {type(alpha).__name__}"
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")


def forecast_distillation_loss(
    student: torch.Tensor,
    target: torch.Tensor,
    teacher_mean: torch.Tensor,
    alpha: float,
    teacher_var: torch.Tensor | None = None,
) -> torch.Tensor:
    """``(1 - alpha) * MSE(student, target) + alpha * teacher term``.

    As everywhere in the book, ``alpha`` weights the *teacher* term: 0 is
    training on the true targets alone, 1 on the teacher's forecasts alone.
    The teacher term is ``MSE(student, teacher_mean)``; with
    ``teacher_var`` it is the Gaussian negative log-likelihood of the
    student's forecast under the teacher's ``N(teacher_mean,
    teacher_var)``, up to a constant: ``(student - teacher_mean)² /
    teacher_var``, with the weights ``1 / teacher_var`` normalised to mean
    1 per horizon over the batch, so that the term stays on MSE's scale
    and each horizon keeps its share. Where the teacher is sure, the
    student must follow it closely; where it is unsure, less.
    All tensors ``(batch, horizon)``.
    """
    _check_alpha(alpha)
    _check_pair(student, target)
    _check_pair(teacher_mean, target)
    truth = (student - target).pow(2).mean()
    gap = (student - teacher_mean).pow(2)
    if teacher_var is not None:
        _check_pair(teacher_var, target)
        gap = gap * confidence_weights(teacher_var)
    return (1.0 - alpha) * truth + alpha * gap.mean()


def confidence_weights(teacher_var: torch.Tensor) -> torch.Tensor:
    """``1 / teacher_var`` normalised to mean 1 in each column (horizon):
    the weight of each window in :func:`forecast_distillation_loss`'s
    teacher term. ``(n, horizon) -> (n, horizon)``."""
    check_tensor(teacher_var, "teacher_var", ndim=2, floating=True)
    if not (teacher_var > 0).all():
        raise ValueError("teacher_var must be positive")
    weight = 1.0 / teacher_var
    return weight / weight.mean(0, keepdim=True)


# =============================================================== training


@dataclass
class ForecastHistory:
    """Training loss per epoch and the validation MAE (in scaled units)
    every ``val_every`` epochs."""

    train_loss: list[float] = field(default_factory=list)
    val_epochs: list[int] = field(default_factory=list)
    val_mae: list[float] = field(default_factory=list)
    seconds: float = 0.0
    best_epoch: int | None = None


@torch.no_grad()
def point_forecast(
    model: nn.Module, x: torch.Tensor, batch_size: int = 1024
) -> torch.Tensor:
    """A forecaster's point forecast ``(n, horizon)`` on the CPU: the
    mean of a Gaussian forecaster, the output of a point forecaster."""
    check_tensor(x, "x", ndim=3, floating=True)
    was_training = model.training
    model.eval()
    device = model_device(model)
    parts = []
    for i in range(0, len(x), batch_size):
        out = model(x[i : i + batch_size].to(device))
        parts.append((out[0] if isinstance(out, tuple) else out).cpu())
    model.train(was_training)
    return torch.cat(parts)


def train_forecaster(
    model: nn.Module,
    x: torch.Tensor,
    targets: tuple[torch.Tensor, ...],
    loss_fn,
    *,
    epochs: int,
    lr: float,
    batch_size: int = 32,
    seed: int = 0,
    x_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    val_every: int = 1,
    clip_grad_norm: float = 1.0,
    keep_best: bool = False,
) -> ForecastHistory:
    """Train ``model`` on inputs ``x`` with Adam, the learning rate
    decaying to 0 along a half cosine over ``epochs``; keep the last epoch
    (or, with ``keep_best``, the validated epoch of lowest validation MAE).

    ``targets`` are tensors with one row per input, passed on as
    ``loss_fn(model(x_batch), *target_batches)``. ``seed`` fixes the batch
    order. With ``x_val`` and ``y_val`` the validation MAE of the point
    forecast is recorded every ``val_every`` epochs (and at the last).
    """
    check_tensor(x, "x", ndim=3, floating=True)
    check_int(epochs, "epochs")
    check_int(batch_size, "batch_size")
    check_int(val_every, "val_every")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or lr <= 0:
        raise ValueError(f"lr must be a number > 0, got {lr!r}")
    if not callable(loss_fn):
        raise TypeError("loss_fn must be callable")
    if any(len(t) != len(x) for t in targets):
        raise ValueError("every target tensor needs one row per input")
    if keep_best and x_val is None:
        raise ValueError("keep_best needs x_val and y_val")
    history = ForecastHistory()
    best = {"state": None, "mae": math.inf}
    generator = torch.Generator().manual_seed(seed)
    batches_per_epoch = math.ceil(len(x) / batch_size)

    def batches(epoch):
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), batch_size):
            yield order[i : i + batch_size]

    def batch_loss(idx):
        return loss_fn(model(x[idx]), *(t[idx] for t in targets)), len(idx)

    def after_epoch(epoch):
        epoch += 1
        if x_val is None or not (epoch % val_every == 0 or epoch == epochs):
            return
        history.val_epochs.append(epoch)
        history.val_mae.append(mae(point_forecast(model, x_val), y_val))
        if keep_best and history.val_mae[-1] < best["mae"]:
            best["mae"] = history.val_mae[-1]
            best["state"] = copy.deepcopy(model.state_dict())
            history.best_epoch = epoch

    start = time.perf_counter()
    history.train_loss = fit(
        model,
        batches,
        batch_loss,
        epochs=epochs,
        lr=lr,
        clip_grad_norm=clip_grad_norm,
        cosine_steps=epochs * batches_per_epoch,
        schedule_step="update",
        after_epoch=after_epoch,
    )
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    history.seconds = time.perf_counter() - start
    return history


FORECAST_TEACHER = {
    "model": {"input_size": 3, "horizon": 6, "hidden_size": 64},
    "train": {"epochs": 150, "lr": 3e-3, "batch_size": 64},
    "seed": 0,
}
"""Architecture and recipe of the El Niño forecasting teacher: a two-layer
LSTM of 64 units with a Gaussian head, trained by Gaussian negative
log-likelihood on :func:`elnino_splits` (the value and the calendar month
as inputs), the epoch of lowest validation MAE kept
(``python -m kd_lib.runners.checkpoints elnino`` retrains it)."""

FORECAST_CHECKPOINT = "elnino_lstm_teacher.pt"


def make_forecast_teacher() -> LSTMForecaster:
    """An untrained LSTM with the El Niño teacher's architecture."""
    return LSTMForecaster(**FORECAST_TEACHER["model"])


def fit_forecast_teacher(
    splits: ForecastSplits,
    epochs: int | None = None,
    seed: int | None = None,
) -> tuple[LSTMForecaster, ForecastHistory]:
    """Train a teacher with :data:`FORECAST_TEACHER`'s recipe on
    ``splits`` (``epochs`` and ``seed`` override it): Gaussian negative
    log-likelihood, the epoch of lowest validation MAE kept."""
    recipe = FORECAST_TEACHER["train"]
    seed = FORECAST_TEACHER["seed"] if seed is None else seed
    set_seed(seed)
    model = make_forecast_teacher()
    history = train_forecaster(
        model,
        splits.x_train,
        (splits.y_train,),
        lambda out, y: gaussian_nll(*out, y),
        epochs=recipe["epochs"] if epochs is None else epochs,
        lr=recipe["lr"],
        batch_size=recipe["batch_size"],
        seed=seed,
        x_val=splits.x_val,
        y_val=splits.y_val,
        keep_best=True,
    )
    return model.eval(), history


def load_forecast_teacher() -> tuple[LSTMForecaster, dict]:
    """The committed El Niño teacher (eval mode, CPU) and its
    metadata."""
    model = make_forecast_teacher()
    metadata = load_checkpoint(model, CHECKPOINT_DIR / FORECAST_CHECKPOINT)
    return model.eval(), metadata


# ============================================================= the study

FORECAST_STUDY = {
    # the data
    "window": 24,
    "horizon": 6,
    # the student
    "channels": [8, 8, 8],
    "kernel_size": 3,
    # the budget of every arm
    "epochs": 100,
    "batch_size": 64,
    # searched on validation data, per arm, extended while at an edge
    "lrs": [1e-3, 3e-3, 1e-2, 3e-2],
    "lr_limits": [1e-4, 1e-1],
    # weight of the teacher term in the mixed arms
    "alpha": 0.5,
    # points on each validation curve
    "val_points": 50,
    # one point of skill: |difference| below it does not matter
    "equivalence_margin": 0.01,
}
"""The recipe of every arm: two years of history in, six months out; a
three-level TCN of 8 channels (receptive field 29 > 24 months); Adam for
100 epochs with a half-cosine decay to 0, the last epoch kept; the
learning rate picked per arm on validation data from ``lrs``, the grid
extended outward while the pick sits at its edge (within ``lr_limits``);
``alpha = 0.5`` (the teacher term's weight); differences of skill within
±0.01 are too small to matter."""

FORECAST_ARMS = (
    "truth",
    "teacher",
    "distilled",
    "distilled_var",
    "truth_weighted",
    "truth_seasonal",
)
ARM_COLOURS = (
    PALETTE["scratch"],
    PALETTE["teacher"],
    PALETTE["distilled"],
    PALETTE["finetuned"],
    "#7b3f98",
    "#8c6d31",
)
"""The arms, trained on the same windows with the same budget: the true
targets alone (``truth``), the teacher's mean forecasts alone
(``teacher``), half and half (``distilled``), and half and half with the
teacher term weighted by the teacher's confidence (``distilled_var``, see
:func:`forecast_distillation_loss`), and the control for that last arm:
the same loss with the teacher's means replaced by the true targets
(``truth_weighted``), so that every window keeps ``distilled_var``'s weight
but learns nothing from what the teacher forecast; and the control with no
teacher at all (``truth_seasonal``): the same loss, each window weighted
by the training years' variance of its target's calendar month. Only if
the teacher's variance beats that has the teacher carried something."""


@torch.no_grad()
def teacher_forecasts(
    teacher: LSTMForecaster, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The teacher's Gaussian forecasts on ``x``: mean and variance, each
    ``(n, horizon)``, in eval mode on the CPU."""
    if not isinstance(teacher, LSTMForecaster):
        raise TypeError(
            "teacher must be a LSTMForecaster, got "
            f"{type(teacher).__name__}"
        )
    check_tensor(x, "x", ndim=3, floating=True)
    was_training = teacher.training
    teacher.eval()
    mean, log_var = teacher(x.to(model_device(teacher)))
    teacher.train(was_training)
    return mean.cpu(), log_var.exp().cpu()


def make_forecast_student(
    input_size: int, horizon: int, seed: int
) -> TCNForecaster:
    """The study's TCN student, its weights drawn after seeding with
    ``seed``."""
    set_seed(seed)
    return TCNForecaster(
        input_size,
        horizon,
        FORECAST_STUDY["channels"],
        FORECAST_STUDY["kernel_size"],
    )


def _arm_loss(arm: str, alpha: float):
    if arm not in FORECAST_ARMS:
        raise ValueError(
            f"unknown arm {arm!r}; choose from {FORECAST_ARMS}"
        )
    weight = {"truth": 0.0, "teacher": 1.0}.get(arm, alpha)

    def loss(student, target, teacher_mean, teacher_var, season_var):
        variance = None
        if arm.endswith(("_var", "_weighted")):
            variance = teacher_var
        elif arm == "truth_seasonal":
            variance = season_var
        return forecast_distillation_loss(
            student,
            target,
            target if arm.startswith("truth_") else teacher_mean,
            weight,
            variance,
        )

    return loss


@dataclass
class ArmScores:
    """One arm over seeds: per-seed test MAE, RMSE (°C) and skill score,
    each test window's MAE over its months ahead
    (``test_window_mae[seed]``, °C), the validation curves
    (``val_mae[point][seed]``, °C) and the trained students."""

    arm: str
    lr: float
    seeds: list[int]
    test_mae: list[float]
    test_rmse: list[float]
    test_skill: list[float]
    test_window_mae: list[list[float]]
    val_epochs: list[int]
    val_mae: list[list[float]]
    final_slope: list[float]
    seconds: float
    models: list[TCNForecaster] = field(default_factory=list)

    def record(self) -> dict:
        """Plain data for a JSON file (no models)."""
        return {k: v for k, v in asdict(self).items() if k != "models"}


def _final_slope(epochs: list[int], values: list[float]) -> float:
    """Least-squares slope of the last quarter of a validation curve (at
    least two points), per epoch: near 0 once training has converged."""
    tail = max(2, len(values) // 4)
    if len(values) < 2:
        return 0.0
    xs = np.array(epochs[-tail:], dtype=np.float64)
    ys = np.array(values[-tail:], dtype=np.float64)
    return float(np.polyfit(xs, ys, 1)[0])


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
) -> dict[str, ArmScores]:
    """Train a student per seed for each of ``arms`` (see
    :data:`FORECAST_ARMS`) on ``splits``' training windows and score it on
    the test windows.

    ``teacher_mean`` and ``teacher_var`` ``(n_train, horizon)``: the
    teacher's forecasts on the training windows. ``lr`` is one learning
    rate or one per arm. Seed ``s`` fixes a student's initial weights and
    batch order, the same in every arm: the arms are paired by seed.
    """
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    for name, t in (
        ("teacher_mean", teacher_mean),
        ("teacher_var", teacher_var),
    ):
        check_tensor(t, name, ndim=2, floating=True)
        if t.shape != splits.y_train.shape:
            raise ValueError(
                f"{name} must be {tuple(splits.y_train.shape)} (one "
                f"forecast per training window), got {tuple(t.shape)}"
            )
    _check_alpha(alpha)
    check_int(epochs, "epochs")
    val_every = max(1, epochs // FORECAST_STUDY["val_points"])
    targets = (
        splits.y_train,
        teacher_mean,
        teacher_var,
        splits.season_var_train,
    )
    truth = splits.unscale(splits.y_test)
    results = {}
    for arm in arms:
        loss = _arm_loss(arm, alpha)
        rate = lr[arm] if isinstance(lr, dict) else lr
        scores = ArmScores(
            arm, rate, list(seeds), [], [], [], [], [], [], [], 0
        )
        for seed in seeds:
            model = make_forecast_student(
                splits.x_train.shape[-1], splits.y_train.shape[-1], seed
            )
            history = train_forecaster(
                model,
                splits.x_train,
                targets,
                loss,
                epochs=epochs,
                lr=rate,
                batch_size=FORECAST_STUDY["batch_size"],
                seed=seed,
                x_val=splits.x_val,
                y_val=splits.y_val,
                val_every=val_every,
            )
            forecast = splits.unscale(point_forecast(model, splits.x_test))
            scores.test_mae.append(mae(forecast, truth))
            scores.test_rmse.append(rmse(forecast, truth))
            scores.test_skill.append(
                skill_score(forecast, truth, splits.naive_test)
            )
            scores.test_window_mae.append(
                (forecast - truth).abs().mean(1).tolist()
            )
            scores.val_epochs = history.val_epochs
            scores.val_mae.append([v * splits.std for v in history.val_mae])
            scores.final_slope.append(
                _final_slope(history.val_epochs, scores.val_mae[-1])
            )
            scores.seconds += history.seconds
            scores.models.append(model)
        # val_mae[point][seed], as the other stored experiments
        scores.val_mae = [list(p) for p in zip(*scores.val_mae)]
        results[arm] = scores
    return results


def best_forecast_lrs(records: list[dict]) -> dict[str, float]:
    """Per arm, the learning rate of lowest mean final validation MAE in
    the search ``records`` (:func:`kd_lib.comparison.best_setting`)."""
    return {
        arm: best_setting(
            [r for r in records if r["arm"] == arm],
            lambda r: r["val_mae"][-1],
            lower_is_better=True,
        )
        for arm in dict.fromkeys(r["arm"] for r in records)
    }


def window_years(splits: ForecastSplits) -> np.ndarray:
    """The calendar year of each test window's first target."""
    return 1950 + splits.origins_test // SEASON


def skill_bootstrap(
    errors_a,
    errors_b,
    naive,
    years,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> PairedDifference:
    """Test skill of arm B minus arm A, with an interval from a block
    bootstrap over years and seeds.

    ``errors_a`` / ``errors_b`` ``(seeds, windows)``: each seed's MAE on
    each test window (°C); ``naive`` ``(windows,)``: the seasonal naive
    forecast's; ``years`` ``(windows,)``: each window's year. A draw
    resamples the years with replacement (all windows of a year together:
    neighbouring windows share their months, so they are not independent)
    and the seeds, the same draw for both arms, and recomputes both skill
    scores. The interval is the central ``confidence`` share of the
    differences.
    """
    a, b = np.asarray(errors_a, float), np.asarray(errors_b, float)
    naive, years = np.asarray(naive, float), np.asarray(years)
    if a.ndim != 2 or a.shape != b.shape or a.shape[1] != len(naive):
        raise ValueError(
            "errors must be (seeds, windows) arrays of one shape, with one "
            f"naive error per window; got {a.shape}, {b.shape}, "
            f"{naive.shape}"
        )
    if len(years) != len(naive):
        raise ValueError("need one year per window")
    rng = np.random.default_rng(seed)
    blocks, block_of = np.unique(years, return_inverse=True)
    seeds = a.shape[0]
    seed_w = rng.multinomial(seeds, [1 / seeds] * seeds, resamples) / seeds
    year_w = rng.multinomial(
        len(blocks), [1 / len(blocks)] * len(blocks), resamples
    )[:, block_of]

    def skill(errors, seed_weights, window_weights):
        mae = ((seed_weights @ errors) * window_weights).sum(-1)
        return 1 - mae / (naive * window_weights).sum(-1)

    draws = skill(b, seed_w, year_w) - skill(a, seed_w, year_w)
    ones = np.ones(len(naive))
    point = skill(b, np.full(seeds, 1 / seeds), ones) - skill(
        a, np.full(seeds, 1 / seeds), ones
    )
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(draws, [tail, 100 - tail])
    per_seed = [
        float(skill(b, one, ones) - skill(a, one, ones))
        for one in np.eye(seeds)
    ]
    return PairedDifference(
        tuple(per_seed), float(point), float(low), float(high), confidence
    )


def forecast_scores(
    splits: ForecastSplits, forecast: torch.Tensor
) -> dict[str, float]:
    """Test MAE, RMSE (in the series' units) and skill score of a point
    forecast ``(n_test, horizon)`` given in the series' units."""
    truth = splits.unscale(splits.y_test)
    return {
        "test_mae": mae(forecast, truth),
        "test_rmse": rmse(forecast, truth),
        "test_skill": skill_score(forecast, truth, splits.naive_test),
    }


# ======================================================= tables and plots


def study_values(study: dict, arm: str, metric: str = "test_skill"):
    """Per-seed values of ``metric`` for ``arm`` in a stored study."""
    for record in study["records"]:
        if record["arm"] == arm:
            return list(record[metric])
    raise KeyError(f"no arm {arm!r} in the study")


def scores_table(study: dict, caption: str | None = None) -> Table:
    """Test MAE, RMSE (°C) and skill score of the seasonal naive forecast,
    the teacher and every arm (mean ± sd over seeds)."""

    def cell(values, digits):
        mean, sd = float(np.mean(values)), float(np.std(values, ddof=1))
        return f"{mean:.{digits}f} ± {sd:.{digits}f}"

    rows = []
    for name, scores in (
        ("seasonal naive", study["seasonal_naive"]),
        ("LSTM teacher", study["teacher"]),
    ):
        rows.append(
            [
                name,
                "",
                f"{scores['test_mae']:.3f}",
                f"{scores['test_rmse']:.3f}",
                f"{scores['test_skill']:.3f}",
            ]
        )
    for record in study["records"]:
        rows.append(
            [
                record["arm"],
                f"{record['lr']:g}",
                cell(record["test_mae"], 3),
                cell(record["test_rmse"], 3),
                cell(record["test_skill"], 3),
            ]
        )
    return Table(
        ["forecast", "lr", "MAE (°C)", "RMSE (°C)", "skill"],
        rows,
        caption=caption,
    )


def comparison_table(
    study: dict, baseline: str = "truth", caption: str | None = None
) -> tuple[Table, dict]:
    """Every other arm's skill minus ``baseline``'s, paired by seed, with
    its 95 % interval (in points of skill) and the verdict at the study's
    equivalence margin. Returns the table and the
    :class:`~kd_lib.comparison.PairedDifference` per arm."""
    margin = study["recipe"]["equivalence_margin"]
    base = study_values(study, baseline)
    rows, differences = [], {}
    for record in study["records"]:
        if record["arm"] == baseline:
            continue
        d = paired_difference(base, record["test_skill"])
        differences[record["arm"]] = d
        rows.append(
            [
                record["arm"],
                d.format(unit=""),
                f"{d.positive_seeds} of {d.n}",
                verdict(d, margin),
            ]
        )
    return Table(
        [
            "arm",
            f"skill minus {baseline} (points)",
            "ahead",
            "verdict",
        ],
        rows,
        caption=caption,
    ), differences


def plot_study_curves(study: dict, ax=None):
    """Validation MAE (°C) against the epoch for every arm of a stored
    study: the mean over seeds as a line, the range as a band."""
    if ax is None:
        _, ax = plt.subplots()
    colours = dict(zip(FORECAST_ARMS, ARM_COLOURS))
    for record in study["records"]:
        values = np.array(record["val_mae"])  # (points, seeds)
        colour = colours.get(record["arm"])
        ax.plot(
            record["val_epochs"],
            values.mean(1),
            color=colour,
            label=record["arm"],
        )
        ax.fill_between(
            record["val_epochs"],
            values.min(1),
            values.max(1),
            color=colour,
            alpha=0.2,
            linewidth=0,
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation MAE (°C)")
    ax.legend()
    return ax


def plot_forecast(
    splits: ForecastSplits,
    mean: torch.Tensor,
    var: torch.Tensor | None = None,
    lead: int = 1,
    ax=None,
    label: str = "forecast",
    color: str | None = None,
):
    """The test months and a forecast ``lead`` months ahead (``mean`` and
    ``var`` ``(n_test, horizon)``, scaled), with its 95 % interval when
    ``var`` is given. The x axis is the year."""
    check_int(lead, "lead")
    if not lead <= mean.shape[1]:
        raise ValueError(f"lead must be <= {mean.shape[1]}, got {lead}")
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.4))
    years = 1950 + (splits.origins_test + lead - 1) / SEASON
    truth = splits.unscale(splits.y_test[:, lead - 1])
    centre = splits.unscale(mean[:, lead - 1])
    ax.plot(years, truth, color="black", linewidth=1, label="observed")
    ax.plot(years, centre, color=color, label=label)
    if var is not None:
        half = 1.96 * var[:, lead - 1].sqrt() * splits.std
        ax.fill_between(
            years,
            centre - half,
            centre + half,
            color=color,
            alpha=0.2,
            linewidth=0,
            label="95 % interval",
        )
    ax.set_xlabel("year")
    ax.set_ylabel("sea surface temperature (°C)")
    return ax
