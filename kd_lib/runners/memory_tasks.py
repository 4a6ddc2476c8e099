"""The stored memory-task study (chapter 3): ``python -m kd_lib.runners
memory_tasks`` (300 runs; ``KD_LIB_JOBS=N`` runs N side by side with the
same results)."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import torch

from ..chapters.memory_tasks import (
    MEMORY_SETUP,
    MEMORY_STUDY,
    MEMORY_TASKS,
    matched_lstm_hidden,
    memory_run,
    memory_units,
)
from ..utils import check_int

__all__ = ["run_memory_tasks"]


def _memory_unit(args: tuple) -> dict:
    task, model, lr, seed, distance, updates = args
    return memory_run(
        task,
        model,
        lr,
        seed,
        updates=updates,
        distance=distance,
        batch_size=MEMORY_STUDY["batch_size"],
        val_points=MEMORY_STUDY["val_points"],
    )


def run_memory_tasks(units: list[tuple] | None = None, jobs=None) -> dict:
    """Run :func:`memory_units` (by default the whole study) and return
    their records. ``jobs`` processes run them side by side (default: the
    environment variable ``KD_LIB_JOBS``, else 1); every run seeds itself,
    so the records do not depend on ``jobs``."""
    if units is None:
        units = memory_units()
        for task, lrs in MEMORY_STUDY["extra_lrs"].items():
            units += memory_units(tasks=[task], lrs=lrs)
        units += memory_units(
            tasks=["copy"],
            models=["LSTM"],
            lrs=MEMORY_STUDY["long_lrs"],
            updates=MEMORY_STUDY["long_updates"],
        )
    units = list(units)
    jobs = int(os.environ.get("KD_LIB_JOBS", "1")) if jobs is None else jobs
    check_int(jobs, "jobs")
    if jobs == 1:
        records = [_memory_unit(u) for u in units]
    else:
        os.environ.setdefault("KD_LIB_THREADS", "1")
        with ProcessPoolExecutor(
            jobs, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            records = list(pool.map(_memory_unit, units, chunksize=1))
    return {
        "seeds": sorted({u[3] for u in units}),
        "setup": MEMORY_SETUP,
        "memory_study": MEMORY_STUDY,
        "hidden": {t: matched_lstm_hidden(t) for t in MEMORY_TASKS},
        "threads": torch.get_num_threads(),
        "jobs": jobs,
        "records": records,
    }
