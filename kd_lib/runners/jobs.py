"""Running independent pieces of a stored experiment side by side."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from ..utils import check_int

__all__ = ["job_count", "map_jobs"]


def job_count(jobs: int | None = None) -> int:
    """``jobs``, else the environment variable ``KD_LIB_JOBS``, else 1."""
    jobs = int(os.environ.get("KD_LIB_JOBS", "1")) if jobs is None else jobs
    check_int(jobs, "jobs")
    return jobs


def map_jobs(fn: Callable, items: list, jobs: int | None = None) -> list:
    """``[fn(item) for item in items]``, run in ``jobs`` processes (one
    thread each) when ``jobs`` > 1. Every piece seeds itself, so the
    results do not depend on ``jobs``."""
    jobs = job_count(jobs)
    if jobs == 1:
        return [fn(item) for item in items]
    os.environ.setdefault("KD_LIB_THREADS", "1")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context) as pool:
        return list(pool.map(fn, items, chunksize=1))
