"""The stored memory-task study (chapter 3): ``python -m kd_lib.runners
memory_tasks`` (300 runs; ``KD_LIB_JOBS=N`` runs N side by side with the
same results)."""

from __future__ import annotations

import torch

from ..chapters.memory_tasks import (
    MEMORY_SETUP,
    MEMORY_STUDY,
    MEMORY_TASKS,
    matched_lstm_hidden,
    memory_run,
    memory_units,
)
from .jobs import job_count, map_jobs

__all__ = ["run_memory_tasks"]


def _memory_unit(args: tuple) -> dict:
    task, model, lr, seed, distance, updates = args
    return memory_run(
        task, model, lr, seed, updates=updates, distance=distance
    )


def run_memory_tasks(units: list[tuple] | None = None, jobs=None) -> dict:
    """Run :func:`memory_units` (by default the whole study) and return
    their records, side by side in ``jobs`` processes (:func:`.map_jobs`:
    the records do not depend on ``jobs``)."""
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
    jobs = job_count(jobs)
    records = map_jobs(_memory_unit, units, jobs)
    return {
        "seeds": sorted({u[3] for u in units}),
        "setup": MEMORY_SETUP,
        "memory_study": MEMORY_STUDY,
        "hidden": {t: matched_lstm_hidden(t) for t in MEMORY_TASKS},
        "threads": torch.get_num_threads(),
        "jobs": jobs,
        "records": records,
    }
