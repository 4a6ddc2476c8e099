"""The ladder of controls (chapters 1, 6 and 10): every arm of
:data:`kd_lib.arms.TRAINED`, each tuned on validation data the same way,
then the extra epochs of :data:`kd_lib.arms.CONTINUED`.

``python -m kd_lib.runners data_fraction`` runs it on every share of the
digits, ``vowels`` on Japanese Vowels left-padded, ``vowels_lengths`` on
Japanese Vowels at their true lengths. ``KD_LIB_JOBS=2`` runs the shares
side by side, with the same results.
"""

from __future__ import annotations

import statistics
from dataclasses import replace

import torch

from ..arms import (
    CONTINUED,
    SEEDS,
    TRAINED,
    VOWELS_STUDENT,
    Setting,
    continue_arm,
    subset,
    train_settings,
)
from ..comparison import best_setting, next_rate
from ..data import digits_splits, vowels_splits
from ..distill import teacher_logits
from ..pretrained import load_digits_teacher, load_vowels_teacher
from ..training import accuracy
from .jobs import job_count, map_jobs

__all__ = [
    "SEARCH",
    "tune_ladder",
    "run_data_fraction",
    "run_vowels",
]

SEARCH = {
    "lrs": [1e-3, 3e-3, 1e-2],
    "lr_limits": [1e-4, 1e-1],
    "epsilons": [0.1, 0.4],
    "weight_decays": [0.0, 1e-3],
    "score": "mean final validation accuracy over the seeds",
}
"""The search every arm gets, stated before the runs. Stage 1: every
learning rate of ``lrs`` (and, for ``smooth``, every ``epsilon``: 0.1,
the usual value, and 0.4, a smoothed label as flat as the teacher's own
at ``T = 4``) without weight decay; while an arm's best rate lies at the
edge of its grid, the next rate outward (a factor of about 3) is added
for that arm, within ``lr_limits``. Stage 2: every ``weight_decay`` at
the arm's chosen rate (without it, or with it). The pick is the best
``score``, ties going to the smaller value; a setting whose loss became
NaN is recorded as diverged and is no candidate. The test set is never
looked at."""

FRACTIONS = (0.03, 0.05, 0.1, 0.25, 0.5, 1.0)
"""The shares of the training digits (stratified by class): 5 % is
chapter 1's few-label case, 3 % Hinton et al.'s share of the speech data."""


def _score(result) -> float:
    return statistics.fmean(result.val_accuracy[-1])


def _summary(setting: Setting, result) -> dict:
    """One searched setting; a setting whose training diverged is kept,
    with ``val_final`` None, so the record shows every rate tried."""
    return {
        **setting.as_dict(),
        "val_final": None if result is None else result.val_accuracy[-1],
        "test_accuracy": None if result is None else result.test_accuracy,
    }


def _train_or_split(train, settings: list[Setting]) -> dict:
    """``train(settings)``; when a group's loss becomes NaN, its settings
    train one by one, and one that diverges alone is recorded as None: a
    rate that diverges is not a candidate, and it ends the grid's
    extension in its direction."""
    try:
        return train(settings)
    except FloatingPointError:
        if len(settings) == 1:
            print(f"diverged: {settings[0]}", flush=True)
            return {settings[0]: None}
        return {
            setting: result
            for one in settings
            for setting, result in _train_or_split(train, [one]).items()
        }


def _stage_one(arms, train):
    """Every arm at every rate (and smoothing), each arm's grid extended
    outward while its best rate lies at the edge."""
    found, grids = {}, {arm: [] for arm in arms}
    pending = {arm: list(SEARCH["lrs"]) for arm in arms}
    while any(pending.values()):
        settings = [
            Setting(arm, lr, 0.0, eps)
            for arm in arms
            for lr in pending[arm]
            for eps in (SEARCH["epsilons"] if arm == "smooth" else [0.0])
        ]
        found |= train(settings)
        for arm in arms:
            grids[arm] += pending[arm]
            step = next_rate(
                _best(found, arm).lr, grids[arm], SEARCH["lr_limits"]
            )
            pending[arm] = [] if step is None else [step]
    return found


def _best(found: dict, arm: str) -> Setting:
    """The setting of ``arm`` with the best score; ties go to the smaller
    learning rate, smoothing and weight decay."""
    candidates = [s for s, r in found.items() if s.arm == arm and r]
    records = [
        {"key": (s.lr, s.epsilon, s.weight_decay), "setting": s}
        for s in candidates
    ]
    key = best_setting(
        records,
        lambda r: _score(found[r["setting"]]),
        setting="key",
    )
    return next(r["setting"] for r in records if r["key"] == key)


def tune_ladder(
    splits,
    train_z,
    test_z,
    seeds=SEEDS,
    channels=None,
    arms=TRAINED,
    epochs: int | None = None,
) -> dict:
    """The whole ladder on one data set: the search of :data:`SEARCH` for
    every arm, then the extra epochs from the chosen ``soft`` and
    ``scratch`` students. Returns the chosen arms' records and every
    searched setting's summary."""
    same = torch.equal(train_z.argmax(1), splits.y_train)
    arms = [a for a in arms if not (a == "pseudo" and same)]

    def train(settings):
        return _train_or_split(
            lambda group: train_settings(
                splits,
                train_z,
                test_z,
                list(seeds),
                group,
                channels=channels,
                epochs=epochs,
            ),
            settings,
        )

    found = _stage_one(arms, train)
    decayed = [
        replace(_best(found, a), weight_decay=wd)
        for a in arms
        for wd in SEARCH["weight_decays"]
        if wd > 0
    ]
    found |= train(decayed)
    chosen = {arm: found[_best(found, arm)] for arm in arms}
    if same:
        chosen["pseudo"] = replace(
            chosen["scratch"], arm="pseudo", same_as="scratch"
        )
    for extra, (base, _) in CONTINUED.items():
        chosen[extra] = continue_arm(
            extra, chosen[base], splits, train_z, test_z
        )
    return {
        "records": [r.record() for r in chosen.values()],
        "search": [_summary(s, r) for s, r in found.items()],
    }


def _digits_share(fraction: float) -> dict:
    teacher, _ = load_digits_teacher()
    part, _ = subset(digits_splits(), fraction)
    train_z = teacher_logits(teacher, part.x_train)
    test_z = teacher_logits(teacher, part.x_test)
    out = tune_ladder(part, train_z, test_z)
    keys = {"fraction": fraction, "n_train": len(part.y_train)}
    print(f"data_fraction: {fraction:g} done", flush=True)
    return {
        "records": [{**keys, **r} for r in out["records"]],
        "search": [{**keys, **r} for r in out["search"]],
        "teacher_train_accuracy": accuracy(train_z, part.y_train),
    }


def run_data_fraction(fractions=FRACTIONS, jobs: int | None = None) -> dict:
    """The ladder on a stratified share of the digits (soft labels on
    those inputs only), for every share in ``fractions``."""
    # the largest shares cost the most: start them first
    order = sorted(fractions, reverse=True)
    parts = dict(zip(order, map_jobs(_digits_share, order, jobs)))
    return {
        "seeds": SEEDS,
        "search_grid": SEARCH,
        "jobs": job_count(jobs),
        "records": [r for f in fractions for r in parts[f]["records"]],
        "search": [r for f in fractions for r in parts[f]["search"]],
        "teacher_train_accuracy": {
            str(f): parts[f]["teacher_train_accuracy"] for f in fractions
        },
    }


def run_vowels(padding: str = "left") -> dict:
    """The ladder on Japanese Vowels, left-padded to 29 frames (chapter
    5); ``padding="none"``: at their true lengths, the teacher packed and
    the students masked (chapter 7, ``vowels_lengths``)."""
    teacher, meta = load_vowels_teacher(padding)
    splits = vowels_splits(padding=padding)
    lengths = {"train": splits.lengths_train, "test": splits.lengths_test}
    train_z = teacher_logits(
        teacher, splits.x_train, lengths=lengths["train"]
    )
    test_z = teacher_logits(teacher, splits.x_test, lengths=lengths["test"])
    out = tune_ladder(splits, train_z, test_z, channels=VOWELS_STUDENT)
    return {
        "seeds": SEEDS,
        "search_grid": SEARCH,
        "teacher_test_accuracy": meta["test_accuracy"],
        "teacher_train_accuracy": accuracy(train_z, splits.y_train),
        **out,
    }
