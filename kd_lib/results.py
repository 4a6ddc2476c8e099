"""Stored results: the per-seed records of the experiments too slow for a
chapter, written once by ``python -m kd_lib.runners NAME`` to
``kd_lib/results/NAME.json`` and read here (reading them never imports
the runners)."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["RESULTS_DIR", "load_results", "arm_records"]

RESULTS_DIR = Path(__file__).parent / "results"


def load_results(name: str) -> dict:
    """The stored results of experiment ``name`` (a file name of
    ``kd_lib/results/`` without its ``.json``)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    path = RESULTS_DIR / f"{name}.json"
    if not path.is_file():
        stored = sorted(p.stem for p in RESULTS_DIR.glob("*.json"))
        raise ValueError(
            f"no stored results named {name!r}; stored ones are "
            f"{stored} (python -m kd_lib.runners NAME writes one)"
        )
    return json.loads(path.read_text())


def arm_records(records: list[dict], **where) -> dict[str, dict]:
    """The stored record of every arm matching ``where`` (for example
    ``fraction=0.05``), keyed by arm in stored order: what
    :func:`kd_lib.report.arms_table` takes."""
    found = {
        r["arm"]: r
        for r in records
        if all(r.get(k) == v for k, v in where.items())
    }
    if not found:
        raise KeyError(f"no stored record matches {where}")
    return found
