"""The distillation chapter's small helpers: label masks, the
gap closed, formatting."""

import pytest
import torch

import kd_lib
import kd_lib.runners.memory_tasks
from kd_lib import runners
from kd_lib.chapters import distillation_study

# ------------------------------------------------------------ label subsets


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.25, 1.0])
def test_label_mask_is_stratified_and_of_the_requested_size(fraction):
    labels = kd_lib.digits_splits().y_train
    mask = kd_lib.arms.stratified_label_mask(labels, fraction, seed=0)
    assert mask.dtype == torch.bool and mask.shape == labels.shape
    for c in range(10):
        in_class = labels == c
        assert mask[in_class].sum() == max(
            1, round(fraction * in_class.sum().item())
        )
    assert abs(mask.float().mean().item() - fraction) < 0.01


def test_label_mask_depends_on_the_seed_and_repeats_with_it():
    labels = kd_lib.digits_splits().y_train
    a = kd_lib.arms.stratified_label_mask(labels, 0.1, seed=0)
    assert torch.equal(
        a, kd_lib.arms.stratified_label_mask(labels, 0.1, seed=0)
    )
    assert not torch.equal(
        a, kd_lib.arms.stratified_label_mask(labels, 0.1, seed=1)
    )


def test_every_class_keeps_a_label_even_when_the_fraction_rounds_to_zero():
    labels = torch.tensor([0] * 50 + [1] * 3)
    mask = kd_lib.arms.stratified_label_mask(labels, 0.05, seed=0)
    assert mask[:50].sum() == 2 and mask[50:].sum() == 1


@pytest.mark.parametrize(
    "fraction, error",
    [
        (0.0, ValueError),
        (1.5, ValueError),
        (-0.1, ValueError),
        ("10%", TypeError),
        (True, TypeError),
    ],
)
def test_bad_fraction_is_rejected(fraction, error):
    with pytest.raises(error):
        kd_lib.arms.stratified_label_mask(
            torch.tensor([0, 1, 2]), fraction, seed=0
        )


def test_bad_labels_are_rejected():
    with pytest.raises(TypeError):
        kd_lib.arms.stratified_label_mask(
            torch.tensor([0.0, 1.0]), 0.5, seed=0
        )
    with pytest.raises(ValueError):
        kd_lib.arms.stratified_label_mask(
            torch.zeros(2, 2, dtype=torch.long), 0.5, seed=0
        )


# ------------------------------------------------------------- ladder rungs


def _ladder_records(fraction=0.5):
    """Two seeds, four test items: soft gets one more item right than
    every other arm on both seeds."""
    base = ["1100", "1010"]
    soft = ["1110", "1011"]
    records = []
    for arm in kd_lib.arms.ARMS:
        correct = soft if arm in ("soft", "finetuned") else base
        records.append(
            {
                "arm": arm,
                "fraction": fraction,
                "n_train": 10,
                "test_correct": correct,
                "test_accuracy": [c.count("1") / 4 for c in correct],
            }
        )
    return records


def test_rungs_pair_the_right_arms():
    found = distillation_study.rung_differences(
        _ladder_records(), fraction=0.5
    )
    assert found["soft − scratch"].mean == pytest.approx(0.25)
    assert found["soft − smooth"].mean == pytest.approx(0.25)
    assert found["finetuned − soft"].mean == 0.0
    assert found["soft − scratch"].items == 4
    with pytest.raises(KeyError):
        distillation_study.rung_differences(_ladder_records(), fraction=0.1)


def test_format_mean_spread():
    assert (
        kd_lib.mean_and_spread([0.9, 0.92, 0.94]).format() == "92.0 ± 2.0"
    )


# ---------------------------- chapter 3: memory tasks, on a tiny budget


def test_memory_tasks_runner_on_a_tiny_budget():
    from kd_lib.chapters import memory_tasks as mt

    units = mt.memory_units(
        tasks=["recall", "adding"],
        lrs=[1e-2],
        seeds=[0, 1],
        distances=[2],
        updates=6,
    )
    payload = runners.memory_tasks.run_memory_tasks(units, jobs=1)
    records = payload["records"]
    assert payload["seeds"] == [0, 1] and len(records) == len(units) == 8
    for r in records:
        assert r["updates"] == 6 and r["val_updates"][-1] == 6
        assert r["test_loss_ratio"] == pytest.approx(
            r["test_loss"] / mt.chance_loss(r["task"])
        )
    for task, d in (("recall", 2), ("adding", None)):
        # same seeds, same training sets: the two models pair up
        lstm = mt.memory_tuned_runs(records, task, "LSTM", d, updates=6)
        tcn = mt.memory_tuned_runs(records, task, "TCN", d, updates=6)
        assert [r["seed"] for r in lstm] == [r["seed"] for r in tcn]
    # every run seeds itself: running it again repeats it
    again = runners.memory_tasks.run_memory_tasks(units[:1], jobs=1)[
        "records"
    ][0]
    assert again["test_loss"] == records[0]["test_loss"]
    with pytest.raises(ValueError):
        runners.memory_tasks.run_memory_tasks(units, jobs=0)


def test_memory_tasks_is_a_command_line_experiment():
    assert "memory_tasks" in runners.EXPERIMENTS


def test_a_diverging_setting_is_recorded_and_the_others_still_train():
    from kd_lib.runners.ladder import _train_or_split

    settings = [
        kd_lib.arms.Setting("scratch", lr) for lr in (1e-3, 1e-1, 1e-2)
    ]

    def train(group):
        if any(s.lr == 1e-1 for s in group):
            raise FloatingPointError("the loss became nan")
        return {s: f"trained at {s.lr:g}" for s in group}

    found = _train_or_split(train, settings)
    assert found[settings[1]] is None
    assert found[settings[0]] == "trained at 0.001"
    assert found[settings[2]] == "trained at 0.01"
