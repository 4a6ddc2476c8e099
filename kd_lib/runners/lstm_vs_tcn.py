"""The stored, tuned LSTM-versus-TCN accuracy study on the digits:
``python -m kd_lib.runners lstm_vs_tcn`` (about an hour on one core)."""

from __future__ import annotations

from ..chapters.accuracy_study import (
    STUDY_SETTINGS,
    study_models,
    study_run,
)
from ..chapters.gradients import input_gradient_by_step
from ..comparison import best_setting, next_rate
from ..data import digits_loaders, digits_splits
from ..utils import set_seed

__all__ = ["run_lstm_vs_tcn"]


def _gradient_profiles(name, build, models, seeds) -> list[dict]:
    """Input gradient at step 0 over step 63, at initialisation and
    trained, per seed (sequential digits)."""
    splits = digits_splits()
    x, y = splits.x_test[:256], splits.y_test[:256]
    out = []
    for seed, model in zip(seeds, models):
        set_seed(seed)
        for stage, m in (("initialised", build()), ("trained", model)):
            g = input_gradient_by_step(m, x, y)
            out.append(
                {
                    "model": name,
                    "seed": seed,
                    "stage": stage,
                    "first_over_last": float(g[0] / g[-1]),
                }
            )
    return out


def run_lstm_vs_tcn() -> dict:
    """Both models on sequential and permuted digits, every seed at every
    learning rate of :data:`STUDY_SETTINGS`, the grid extended while the
    best rate lies at its edge."""
    seeds = STUDY_SETTINGS["seeds"]
    records, gradients, chosen = [], [], {}
    for permuted in (False, True):
        for name, build in study_models().items():
            grid, pending, models = [], list(STUDY_SETTINGS["lrs"]), {}
            while pending:
                for lr in pending:
                    for seed in seeds:
                        loaders = digits_loaders(
                            permuted=permuted, seed=seed
                        )
                        model, record = study_run(
                            build, loaders, seed=seed, lr=lr
                        )
                        models[lr, seed] = model
                        records.append(
                            {"model": name, "permuted": permuted, **record}
                        )
                grid += pending
                mine = [
                    r
                    for r in records
                    if r["model"] == name and r["permuted"] == permuted
                ]
                best = best_setting(mine, lambda r: r["val_accuracy"][-1])
                step = next_rate(best, grid, STUDY_SETTINGS["lr_limits"])
                pending = [step] if step is not None else []
            task = "permuted" if permuted else "sequential"
            chosen[f"{name}, {task}"] = best
            print(
                f"{name} {task}: lr {best:g} of {sorted(grid)}", flush=True
            )
            if not permuted:
                gradients += _gradient_profiles(
                    name, build, [models[best, s] for s in seeds], seeds
                )
    return {
        "seeds": seeds,
        "settings": STUDY_SETTINGS,
        "chosen_lr": chosen,
        "records": records,
        "gradients": gradients,
    }
