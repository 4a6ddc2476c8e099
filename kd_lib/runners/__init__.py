"""The runners: the commands that write kd_lib's stored results and
checkpoints. Nothing else in kd_lib imports them.

Converged, five-seed comparisons are too slow for a chapter's three minutes,
so they run once from the command line and write every seed's raw result to
``kd_lib/results/NAME.json``, which the chapters load (with
:func:`kd_lib.load_results`), plot and spot-check::

    python -m kd_lib.runners all            # or one name at a time:
    python -m kd_lib.runners data_fraction vowels vowels_lengths
    python -m kd_lib.runners omitted_class per_step
    python -m kd_lib.runners forecasting lstm_vs_tcn memory_tasks

The checkpoints of ``kd_lib/checkpoints/`` are rebuilt by
``python -m kd_lib.runners.checkpoints``
(:mod:`kd_lib.runners.checkpoints`).
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path

import torch

from .. import results
from ..arms import STUDY
from .distillation import run_omitted_class
from .forecasting import run_forecasting
from .ladder import run_data_fraction, run_vowels
from .lstm_vs_tcn import run_lstm_vs_tcn
from .memory_tasks import run_memory_tasks
from .per_step import run_per_step

__all__ = ["EXPERIMENTS", "save", "main"]

EXPERIMENTS = {
    "data_fraction": run_data_fraction,
    "vowels": run_vowels,
    "vowels_lengths": partial(run_vowels, "none"),
    "omitted_class": run_omitted_class,
    "forecasting": run_forecasting,
    "lstm_vs_tcn": run_lstm_vs_tcn,
    "memory_tasks": run_memory_tasks,
    "per_step": run_per_step,
}
"""The stored experiments, in the order ``all`` runs them
(``omitted_class`` and ``per_step`` after ``data_fraction`` and
``vowels``, whose chosen settings they take)."""


def save(name: str, payload: dict) -> Path:
    """Write ``payload`` to ``kd_lib/results/NAME.json``, with the command
    that made it and the torch version."""
    results.RESULTS_DIR.mkdir(exist_ok=True)
    path = results.RESULTS_DIR / f"{name}.json"
    payload = {
        "experiment": name,
        "command": f"python -m kd_lib.runners {name}",
        "torch": torch.__version__,
        "study": STUDY,
        **payload,
    }
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m kd_lib.runners",
        description="Run a stored experiment and write "
        "kd_lib/results/NAME.json.",
    )
    parser.add_argument("names", nargs="+", choices=[*EXPERIMENTS, "all"])
    args = parser.parse_args(argv)
    for name in list(EXPERIMENTS) if "all" in args.names else args.names:
        start = time.perf_counter()
        payload = EXPERIMENTS[name]()
        payload["seconds"] = time.perf_counter() - start
        print(
            f"{name}: {payload['seconds']:.0f} s -> {save(name, payload)}",
            flush=True,
        )
