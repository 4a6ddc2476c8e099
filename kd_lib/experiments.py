"""The distillation chapter's experiments: temperature × alpha sweeps over seeds,
few-label regimes, a student too small for the task, the share of the
teacher–student gap that distillation closes, and the final results table.

Every student is trained by :mod:`kd_lib.pipeline`, so these numbers come from
the same code as the pipeline chapter's. A "record" is a plain dict with the
settings of one run and its test metrics; :func:`summarize` turns a list of
records into mean ± spread over seeds.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import nn

from .calibration import agreement, expected_calibration_error
from .data import SequenceSplits, make_loader
from .distill import UNLABELLED, teacher_logits
from .pipeline import (RECIPE, PipelineRun, fine_tune_student, format_table, inference_latency,
                       mean_and_spread, train_distilled_student)
from .plotting import PALETTE
from .training import History, evaluate, predict_logits
from .utils import check_tensor, count_parameters

__all__ = [
    "stratified_label_mask",
    "keep_fraction_of_labels",
    "labelled_subset",
    "gap_closed",
    "test_metrics",
    "accuracy_on",
    "distill_runs",
    "sweep_temperature_alpha",
    "label_regimes",
    "fine_tune_on_labelled",
    "summarize",
    "plot_sweep",
    "plot_before_after",
    "pipeline_metrics",
    "results_rows",
    "results_table",
    "format_mean_spread",
]


def _check_fraction(fraction) -> None:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise TypeError(f"fraction must be a number, got {type(fraction).__name__}")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")


def _check_seeds(seeds) -> None:
    if not seeds:
        raise ValueError("seeds must name at least one seed")


def stratified_label_mask(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """A boolean mask ``(n,)`` that keeps ``round(fraction × count)`` labels of every class
    (at least one each), chosen at random with ``seed``.

    Stratified so that even at 5 % every class keeps some labelled examples:
    a plain random 5 % of 1,169 digits could miss a class by chance.
    """
    check_tensor(labels, "labels", ndim=1, floating=False)
    _check_fraction(fraction)
    generator = torch.Generator().manual_seed(seed)
    mask = torch.zeros(len(labels), dtype=torch.bool)
    for label in torch.unique(labels):
        idx = torch.nonzero(labels == label).flatten()
        keep = max(1, round(fraction * len(idx)))
        mask[idx[torch.randperm(len(idx), generator=generator)[:keep]]] = True
    return mask


def keep_fraction_of_labels(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """A copy of ``labels`` with all but a stratified ``fraction`` set to :data:`kd_lib.UNLABELLED`.

    Passed to :func:`kd_lib.pipeline.train_distilled_student`, the unlabelled
    rows teach the student through the teacher's soft labels alone.
    """
    mask = stratified_label_mask(labels, fraction, seed)
    return torch.where(mask, labels, torch.full_like(labels, UNLABELLED))


def labelled_subset(splits: SequenceSplits, labels: torch.Tensor) -> SequenceSplits:
    """``splits`` with the training set cut down to the rows of ``labels`` that carry a label."""
    check_tensor(labels, "labels", ndim=1, floating=False)
    if len(labels) != len(splits.y_train):
        raise ValueError(f"need one label per training input: {len(labels)} != {len(splits.y_train)}")
    keep = labels != UNLABELLED
    if not keep.any():
        raise ValueError("labels has no labelled rows")
    return SequenceSplits(splits.x_train[keep], labels[keep], splits.x_val, splits.y_val,
                          splits.x_test, splits.y_test)


def gap_closed(distilled: float, scratch: float, teacher: float) -> float:
    """Share of the teacher–student gap that distillation closes:
    ``(distilled − scratch) / (teacher − scratch)``, from accuracies.

    1 means the distilled student matches the teacher, 0 that distillation did
    nothing, a negative value that it hurt. Hinton et al.'s MNIST net: test
    errors 146 (alone) and 74 (distilled) against the teacher's 67 give 0.91.
    """
    for name, value in (("distilled", distilled), ("scratch", scratch), ("teacher", teacher)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number (an accuracy), got {type(value).__name__}")
    if teacher <= scratch:
        raise ValueError(f"no gap to close: the teacher ({teacher}) is not better than the "
                         f"student from scratch ({scratch})")
    return (distilled - scratch) / (teacher - scratch)


def test_metrics(model: nn.Module, splits: SequenceSplits, teacher_test_logits: torch.Tensor
                 ) -> dict[str, float]:
    """Test accuracy, expected calibration error and agreement with the teacher.

    ``teacher_test_logits`` ``(n_test, classes)``: the teacher's logits on ``splits.x_test``.
    """
    check_tensor(teacher_test_logits, "teacher_test_logits", ndim=2, floating=True)
    if len(teacher_test_logits) != len(splits.x_test):
        raise ValueError(f"need one row of teacher logits per test input: "
                         f"{len(teacher_test_logits)} != {len(splits.x_test)}")
    logits, labels = predict_logits(model, make_loader(splits.x_test, splits.y_test, batch_size=256))
    return {"accuracy": (logits.argmax(-1) == labels).float().mean().item(),
            "ece": expected_calibration_error(logits, labels),
            "agreement": agreement(logits, teacher_test_logits)}


def accuracy_on(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of ``model`` on inputs ``x`` ``(n, time, features)`` with labels ``y`` ``(n,)``."""
    check_tensor(x, "x", ndim=3, floating=True)
    check_tensor(y, "y", ndim=1, floating=False)
    return evaluate(model, make_loader(x, y, batch_size=256))["accuracy"]


def distill_runs(splits: SequenceSplits, soft_logits: torch.Tensor, teacher_test_logits: torch.Tensor,
                 settings: list[dict], seeds: list[int], epochs: int = RECIPE["epochs"]) -> list[dict]:
    """Train one student per (setting, seed) and return one record per run.

    Each setting is a dict that may hold ``temperature``, ``alpha`` (default:
    :data:`kd_lib.pipeline.RECIPE`), ``labels`` (training labels, some maybe
    UNLABELLED), ``channels`` (the student's size) and any other keys, which are
    copied into the record as they are (``labels`` is not). ``alpha = 0`` is the
    student trained on hard labels alone, in exactly the same loop.

    A record holds the setting, ``seed``, the trained ``model``, its
    ``train_accuracy`` (on all training inputs, with their true labels) and the
    test metrics of :func:`test_metrics`.
    """
    _check_seeds(seeds)
    records = []
    for setting in settings:
        temperature = setting.get("temperature", RECIPE["temperature"])
        alpha = setting.get("alpha", RECIPE["alpha"])
        for seed in seeds:
            # the student is built after seeding: its initial weights belong to the seed
            student, _ = train_distilled_student(
                splits, soft_logits, seed, channels=setting.get("channels"), labels=setting.get("labels"),
                temperature=temperature, alpha=alpha, epochs=epochs)
            record = {k: v for k, v in setting.items() if k != "labels"}
            record.update(temperature=temperature, alpha=alpha, seed=seed, model=student,
                          train_accuracy=accuracy_on(student, splits.x_train, splits.y_train))
            record.update(test_metrics(student, splits, teacher_test_logits))
            records.append(record)
    return records


def sweep_temperature_alpha(splits: SequenceSplits, soft_logits: torch.Tensor,
                            teacher_test_logits: torch.Tensor, temperatures: list[float],
                            alphas: list[float], seeds: list[int], epochs: int = RECIPE["epochs"]
                            ) -> list[dict]:
    """The full grid: one record per (temperature, alpha, seed), in that order."""
    if not temperatures or not alphas:
        raise ValueError("temperatures and alphas must each name at least one value")
    settings = [{"temperature": t, "alpha": a} for t in temperatures for a in alphas]
    return distill_runs(splits, soft_logits, teacher_test_logits, settings, seeds, epochs)


def label_regimes(splits: SequenceSplits, soft_logits: torch.Tensor, teacher_test_logits: torch.Tensor,
                  fractions: list[float], seeds: list[int], epochs: int = RECIPE["epochs"],
                  temperature: float = RECIPE["temperature"], alpha: float = RECIPE["alpha"]
                  ) -> list[dict]:
    """For each fraction of kept labels: the student on those hard labels alone
    (``method="hard labels"``, alpha = 0) and distilled with the teacher's soft
    labels on every input (``method="distilled"``). Both see the same batches in
    the same order; only the soft term differs. The labelled subset depends on
    the seed too, so the spread includes the luck of which examples were labelled.
    """
    if not fractions:
        raise ValueError("fractions must name at least one fraction")
    _check_seeds(seeds)
    records = []
    for fraction in fractions:
        _check_fraction(fraction)
        for seed in seeds:  # the labelled subset belongs to the seed
            labels = keep_fraction_of_labels(splits.y_train, fraction, seed)
            settings = [{"fraction": fraction, "method": method, "labels": labels,
                         "temperature": temperature, "alpha": a}
                        for method, a in (("hard labels", 0.0), ("distilled", alpha))]
            records += distill_runs(splits, soft_logits, teacher_test_logits, settings, [seed], epochs)
    return records


def fine_tune_on_labelled(student: nn.Module, splits: SequenceSplits, seed: int,
                          labels: torch.Tensor | None = None, **kwargs) -> tuple[nn.Module, History]:
    """:func:`kd_lib.pipeline.fine_tune_student` on the labelled rows only.

    Passing UNLABELLED rows to the fine-tuning loop directly would let a batch
    with no labelled row give a cross-entropy of 0/0 = NaN (likely at 5 % labels);
    training on the labelled subset avoids it and sees the same examples.
    """
    if labels is not None:
        splits = labelled_subset(splits, labels)
    return fine_tune_student(student, splits, seed, **kwargs)


def summarize(records: list[dict], by: str | tuple[str, ...], metric: str = "accuracy"
              ) -> dict:
    """``{key: (mean, spread)}`` of ``metric`` over the records that share ``by``.

    ``by`` is one field name (keys are its values) or a tuple of names (keys are
    tuples). The spread is the standard deviation over seeds.
    """
    if not records:
        raise ValueError("need at least one record")
    fields = (by,) if isinstance(by, str) else tuple(by)
    for name in fields + (metric,):
        if any(name not in r for r in records):
            raise KeyError(f"not every record has the field {name!r}")
    groups: dict = {}
    for r in records:
        key = r[fields[0]] if isinstance(by, str) else tuple(r[f] for f in fields)
        groups.setdefault(key, []).append(r[metric])
    return {key: mean_and_spread(values) for key, values in groups.items()}


def plot_sweep(summary: dict, ax=None, xlabel: str = "", label: str | None = None,
               color: str | None = None, percent: bool = True, logx: bool = False):
    """Mean ± spread (error bars) of a :func:`summarize` result keyed by numbers."""
    if ax is None:
        _, ax = plt.subplots()
    xs = sorted(summary)
    scale = 100.0 if percent else 1.0
    means = [scale * summary[x][0] for x in xs]
    spreads = [scale * summary[x][1] for x in xs]
    ax.errorbar(xs, means, yerr=spreads, marker="o", capsize=3, label=label,
                color=color or PALETTE["distilled"])
    if logx:
        ax.set_xscale("log")
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
        ax.minorticks_off()
    ax.set_xlabel(xlabel)
    return ax


def format_mean_spread(values, scale: float = 100.0, digits: int = 1) -> str:
    """``"mean ± spread"`` of ``values`` × ``scale`` (percent by default)."""
    mean, spread = mean_and_spread(values)
    return f"{scale * mean:.{digits}f} ± {scale * spread:.{digits}f}"


def pipeline_metrics(runs: list[PipelineRun], splits: SequenceSplits, teacher_test_logits: torch.Tensor
                     ) -> dict[str, dict[str, list[float]]]:
    """``{student: {metric: [one value per seed]}}`` for the students of
    :func:`kd_lib.pipeline.run_pipeline` (``"scratch"``, ``"distilled"``, ``"finetuned"``)."""
    if not runs:
        raise ValueError("runs must hold at least one PipelineRun")
    metrics = {}
    for name in runs[0].models:
        metrics[name] = {"accuracy": [], "ece": [], "agreement": []}
        for run in runs:
            for key, value in test_metrics(run.models[name], splits, teacher_test_logits).items():
                metrics[name][key].append(value)
    return metrics


def results_rows(teacher: nn.Module, runs: list[PipelineRun], splits: SequenceSplits,
                 latency_repeats: int = 20) -> tuple[list[str], list[list], dict]:
    """The final results table from :func:`kd_lib.pipeline.run_pipeline`'s runs.

    Returns ``(headers, rows, metrics)`` for :func:`kd_lib.pipeline.format_table`;
    ``metrics[name]`` holds the per-seed test metrics and the median latencies (s)
    of ``"teacher"``, ``"scratch"``, ``"distilled"`` and ``"finetuned"``.
    """
    if not runs:
        raise ValueError("runs must hold at least one PipelineRun")
    teacher_test = teacher_logits(teacher, splits.x_test)
    metrics = {"teacher": {k: [v] for k, v in test_metrics(teacher, splits, teacher_test).items()}}
    metrics.update(pipeline_metrics(runs, splits, teacher_test))
    for name, m in metrics.items():
        models = [teacher] if name == "teacher" else [run.models[name] for run in runs]
        m["parameters"] = count_parameters(models[0])
        for batch in (1, 256):
            m[f"latency_{batch}"] = inference_latency(
                models[0], batch, length=splits.x_test.shape[1], input_size=splits.x_test.shape[2],
                repeats=latency_repeats).median
    headers = ["model", "test accuracy (%)", "ECE (%)", "agreement (%)", "parameters",
               "batch 1 (ms)", "batch 256 (ms)"]
    rows = [[name, format_mean_spread(m["accuracy"]), format_mean_spread(m["ece"]),
             format_mean_spread(m["agreement"]), f"{m['parameters']:,}",
             f"{1e3 * m['latency_1']:.2f}", f"{1e3 * m['latency_256']:.1f}"]
            for name, m in metrics.items()]
    return headers, rows, metrics


def results_table(teacher: nn.Module, runs: list[PipelineRun], splits: SequenceSplits) -> str:
    """:func:`results_rows` printed with :func:`kd_lib.pipeline.format_table`."""
    headers, rows, _ = results_rows(teacher, runs, splits)
    return format_table(headers, rows)


def plot_before_after(before: list[float], after: list[float], ax=None, ylabel: str = "",
                      label: str | None = None, linestyle: str = "-", percent: bool = True,
                      ticks: tuple[str, str] = ("distilled", "fine-tuned")):
    """One line per seed from its value before to its value after (for example fine-tuning)."""
    if len(before) != len(after) or not before:
        raise ValueError(f"need one 'after' value per 'before' value, got {len(before)} and {len(after)}")
    if ax is None:
        _, ax = plt.subplots()
    scale = 100.0 if percent else 1.0
    for i, (b, a) in enumerate(zip(before, after)):
        ax.plot([0, 1], [scale * b, scale * a], marker="o", color=PALETTE["finetuned"], alpha=0.8,
                linestyle=linestyle, label=label if i == 0 else None)
    ax.set_xticks([0, 1], list(ticks))
    ax.set_xlim(-0.3, 1.3)
    ax.set_ylabel(ylabel)
    return ax
