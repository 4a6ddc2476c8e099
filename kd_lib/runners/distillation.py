"""Hinton et al.'s omitted-class experiment (the distillation chapter):
``python -m kd_lib.runners omitted_class`` writes
``kd_lib/results/omitted_class.json``. The ladder of controls is in
:mod:`kd_lib.runners.ladder`."""

from __future__ import annotations

from dataclasses import replace

from ..arms import SEEDS, Setting, train_settings
from ..chapters.distillation_study import (
    best_bias,
    omitted_class_accuracy,
)
from ..data import digits_splits
from ..distill import teacher_logits
from ..multiseed import grouped_logits
from ..pretrained import load_digits_teacher
from ..results import arm_records, load_results

__all__ = ["run_omitted_class"]


def run_omitted_class(seeds=SEEDS, omitted: int = 3) -> dict:
    """Hinton et al.'s omitted-class test: the transfer set has no
    ``omitted`` digit at all."""
    teacher, _ = load_digits_teacher()
    splits = digits_splits()
    keep = splits.y_train != omitted
    part = replace(
        splits, x_train=splits.x_train[keep], y_train=splits.y_train[keep]
    )
    train_z = teacher_logits(teacher, part.x_train)
    test_z = teacher_logits(teacher, part.x_test)
    # each arm at its setting chosen on all the digits by the ladder
    chosen = arm_records(
        load_results("data_fraction")["records"], fraction=1.0
    )
    settings = [
        Setting(**chosen[a]["setting"]) for a in ("scratch", "soft")
    ]
    results = {
        r.arm: r
        for r in train_settings(
            part, train_z, test_z, list(seeds), settings
        ).values()
    }
    records = []
    for arm, result in results.items():
        val = grouped_logits(result.model, splits.x_val)
        test = grouped_logits(result.model, splits.x_test)
        for s, seed in enumerate(seeds):
            bias = best_bias(val[s], splits.y_val, omitted)
            plain = omitted_class_accuracy(test[s], splits.y_test, omitted)
            corrected = omitted_class_accuracy(
                test[s], splits.y_test, omitted, bias
            )
            records.append(
                {
                    "arm": arm,
                    "seed": seed,
                    "bias": bias,
                    "omitted_accuracy": plain["omitted"],
                    "overall_accuracy": plain["overall"],
                    "omitted_accuracy_corrected": corrected["omitted"],
                    "overall_accuracy_corrected": corrected["overall"],
                    "final_slope": result.final_slope[s],
                }
            )
    return {
        "seeds": list(seeds),
        "settings": [s.as_dict() for s in settings],
        "omitted": omitted,
        "n_transfer": int(keep.sum()),
        "records": records,
    }
