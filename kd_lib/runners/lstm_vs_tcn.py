"""The stored, tuned LSTM-versus-TCN accuracy study (chapter 2):
``python -m kd_lib.runners lstm_vs_tcn``."""

from __future__ import annotations

from ..chapters.accuracy_study import (
    STUDY_SEEDS,
    STUDY_SETTINGS,
    recall_loaders,
    study_models,
    study_run,
)
from ..chapters.gradients import input_gradient_by_step
from ..comparison import best_setting
from ..data import digits_loaders, digits_splits
from ..utils import set_seed

__all__ = ["run_lstm_vs_tcn"]


def run_lstm_vs_tcn(seeds=STUDY_SEEDS) -> dict:
    """The chapter's accuracy comparisons, tuned and converged: runs
    ``python -m kd_lib.experiments lstm_vs_tcn``.

    For every task (sequential digits, permuted digits, recall at each
    distance) and model, the learning rate with the best validation
    accuracy on the first seed is kept and the other seeds are trained at
    it. Also stores, per digits seed, the input-gradient profile of each
    model at initialisation and after training (step 0 over step 63).
    """
    settings = STUDY_SETTINGS
    tasks = [("digits", p, None) for p in (False, True)] + [
        ("recall", False, d) for d in settings["recall_distances"]
    ]
    records, gradients = [], []
    for task, permuted, distance in tasks:
        builders = study_models(task)
        lrs = settings[f"{task}_lrs"]
        key = {"task": task, "permuted": permuted, "distance": distance}

        def loaders(seed, permuted=permuted, distance=distance, task=task):
            if task == "digits":
                return digits_loaders(permuted=permuted, seed=seed)
            return recall_loaders(distance, seed=seed)

        for name, build in builders.items():
            search = {}
            for lr in lrs:
                model, record = study_run(
                    build, loaders(seeds[0]), seed=seeds[0], lr=lr
                )
                search[lr] = (model, record)
                records.append(
                    {**key, "model": name, "stage": "search", **record}
                )
            best = best_setting(
                [record for _, record in search.values()],
                lambda r: max(r["val_accuracy"]),
            )
            runs = [search[best]] + [
                study_run(build, loaders(seed), seed=seed, lr=best)
                for seed in seeds[1:]
            ]
            for model, record in runs:
                records.append(
                    {**key, "model": name, "stage": "final", **record}
                )
                if task == "digits" and not permuted:
                    x = digits_splits().x_test[:256]
                    y = digits_splits().y_test[:256]
                    set_seed(record["seed"])
                    fresh = build()
                    for stage, m in (
                        ("initialised", fresh),
                        ("trained", model),
                    ):
                        g = input_gradient_by_step(m, x, y)
                        gradients.append(
                            {
                                "model": name,
                                "seed": record["seed"],
                                "stage": stage,
                                "first_over_last": float(g[0] / g[-1]),
                            }
                        )
            print(
                f"{task} {permuted} {distance} {name}: lr {best}",
                flush=True,
            )
    return {
        "seeds": list(seeds),
        "settings": {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in settings.items()
        },
        "records": records,
        "gradients": gradients,
    }
