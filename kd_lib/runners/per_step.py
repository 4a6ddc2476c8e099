"""The stored per-step distillation study: ``python -m kd_lib.runners
per_step``. It builds on the ladder's stored runs (``data_fraction`` and
``vowels``): every new arm takes the ``soft`` arm's chosen learning rate
and weight decay, the same inputs, budget and seeds, and has only the
weight of its own term chosen on validation data."""

from __future__ import annotations

import statistics

from ..arms import SEEDS, VOWELS_STUDENT, budget_epochs, subset
from ..chapters.per_step import (
    PER_STEP_ARMS,
    WEIGHTS,
    teacher_steps,
    train_per_step,
)
from ..data import digits_splits, vowels_splits
from ..distill import teacher_logits
from ..pretrained import load_digits_teacher, load_vowels_teacher
from ..results import load_results

__all__ = ["DATA", "run_per_step"]

DATA = [("digits", 0.05), ("digits", 0.25), ("vowels", 1.0)]
"""Where the study runs: the two small shares of the digits, where a
teacher has the most to add to a few labels, and Japanese Vowels
(left-padded)."""


def _one(data: str, fraction: float, seeds=SEEDS) -> dict:
    if data == "digits":
        teacher, _ = load_digits_teacher()
        splits, _ = subset(digits_splits(), fraction)
        channels = None
        records = load_results("data_fraction")["records"]
        records = [r for r in records if r["fraction"] == fraction]
    else:
        teacher, _ = load_vowels_teacher()
        splits, channels = vowels_splits(), VOWELS_STUDENT
        records = load_results("vowels")["records"]
    # the soft arm's setting, chosen in the ladder's stored runs
    (soft,) = [r["setting"] for r in records if r["arm"] == "soft"]
    states, steps = teacher_steps(teacher, splits.x_train)
    found = {"logits": steps[:, -1], "steps": steps, "states": states}
    test_z = teacher_logits(teacher, splits.x_test)
    keys = {"data": data, "fraction": fraction}
    records, search = [], []
    for arm in PER_STEP_ARMS:
        results = train_per_step(
            arm,
            WEIGHTS[arm],
            splits,
            found,
            test_z,
            list(seeds),
            lr=soft["lr"],
            weight_decay=soft["weight_decay"],
            channels=channels,
            epochs=budget_epochs(len(splits.x_train)),
        )
        score = {
            w: statistics.fmean(r.val_accuracy[-1])
            for w, r in results.items()
        }
        best = max(WEIGHTS[arm], key=lambda w: (score[w], -w))
        records.append({**keys, **results[best].record()})
        search += [
            {
                **keys,
                **r.setting,
                "val_final": r.val_accuracy[-1],
                "test_accuracy": r.test_accuracy,
            }
            for r in results.values()
        ]
        print(
            f"per_step: {data} {fraction:g} {arm} weight {best:g}",
            flush=True,
        )
    return {"records": records, "search": search}


def run_per_step() -> dict:
    """Every arm of :data:`kd_lib.chapters.per_step.PER_STEP_ARMS` on
    every data set of :data:`DATA`."""
    parts = [_one(data, fraction) for data, fraction in DATA]
    return {
        "seeds": SEEDS,
        "weights": WEIGHTS,
        "records": [r for p in parts for r in p["records"]],
        "search": [r for p in parts for r in p["search"]],
    }
