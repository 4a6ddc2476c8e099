"""Stored results: the per-seed records of the experiments too slow for a
chapter, written once by ``python -m kd_lib.runners NAME`` to
``kd_lib/results/NAME.json`` and read here (reading them never imports
the runners)."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["RESULTS_DIR", "stored_names", "load_results", "arm_values"]

RESULTS_DIR = Path(__file__).parent / "results"


def stored_names() -> list[str]:
    """The names of the stored results shipped with kd_lib."""
    return sorted(p.stem for p in RESULTS_DIR.glob("*.json"))


def load_results(name: str) -> dict:
    """The stored results of experiment ``name`` (see
    :func:`stored_names`)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    path = RESULTS_DIR / f"{name}.json"
    if not path.is_file():
        raise ValueError(
            f"no stored results named {name!r}; stored ones are "
            f"{stored_names()} (python -m kd_lib.runners NAME writes one)"
        )
    return json.loads(path.read_text())


def arm_values(
    records: list[dict], arm: str, metric: str = "test_accuracy", **where
) -> list[float]:
    """Per-seed values of ``metric`` for ``arm`` from stored records
    matching ``where`` (for example ``fraction=0.1``); exactly one record
    must match."""
    matches = [
        r
        for r in records
        if r["arm"] == arm and all(r.get(k) == v for k, v in where.items())
    ]
    if len(matches) != 1:
        raise KeyError(
            f"{len(matches)} records match arm={arm!r}, {where}; expected "
            "exactly one"
        )
    return list(matches[0][metric])
