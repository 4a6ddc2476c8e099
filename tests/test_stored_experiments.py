"""The runners behind the stored experiments (kd_lib/results/*.json) and the
helpers that read them back."""

import json

import pytest
import torch

import kd_lib
from kd_lib import runners
from kd_lib.chapters import distillation_study
from kd_lib.comparison import next_rate, paired_difference
from kd_lib.runners.ladder import FRACTIONS, SEARCH


def _tiny(n=40, steps=12):
    s = kd_lib.digits_splits()
    return kd_lib.SequenceSplits(
        s.x_train[:n, -steps:],
        s.y_train[:n],
        s.x_val[:30, -steps:],
        s.y_val[:30],
        s.x_test[:30, -steps:],
        s.y_test[:30],
    )


@pytest.mark.parametrize(
    "n, epochs",
    [(35, 2000), (116, 1000), (292, 400), (585, 200), (1169, 150)],
)
def test_budget_gives_at_least_150_epochs_and_2000_updates(n, epochs):
    assert kd_lib.arms.budget_epochs(n) == epochs


def test_budget_rejects_an_empty_training_set():
    with pytest.raises(ValueError):
        kd_lib.arms.budget_epochs(0)


def test_subset_keeps_a_stratified_share_and_the_evaluation_sets():
    splits = kd_lib.digits_splits()
    part, mask = kd_lib.arms.subset(splits, 0.1)
    assert len(part.y_train) == int(mask.sum()) and torch.equal(
        part.x_train, splits.x_train[mask]
    )
    assert torch.equal(part.x_test, splits.x_test) and torch.equal(
        part.y_val, splits.y_val
    )
    assert set(part.y_train.tolist()) == set(range(10))


def test_run_arms_pairs_arms_over_the_same_seeds():
    splits = _tiny()
    teacher = torch.randn(len(splits.x_train), 10)
    test = torch.randn(len(splits.x_test), 10)
    results = kd_lib.arms.run_arms(splits, teacher, test, [0, 1], epochs=3)
    assert list(results) == list(kd_lib.arms.ARMS)
    for r in results.values():
        assert (
            r.seeds == [0, 1]
            and len(r.test_accuracy) == 2
            and len(r.agreement) == 2
        )
    assert results["finetuned"].epochs == 1
    # random teacher logits disagree with the labels: pseudo-labels are a
    # different arm
    assert results["pseudo"].same_as is None
    json.dumps([r.record() for r in results.values()])  # storable as is


def test_pseudo_labels_equal_to_the_labels_are_not_trained_twice():
    splits = _tiny()
    teacher = torch.nn.functional.one_hot(splits.y_train, 10).float() * 5
    test = torch.randn(len(splits.x_test), 10)
    results = kd_lib.arms.run_arms(
        splits, teacher, test, [0, 1], arms=("scratch", "pseudo"), epochs=2
    )
    assert results["pseudo"].same_as == "scratch"
    assert (
        results["pseudo"].test_accuracy == results["scratch"].test_accuracy
    )


def test_scratch_arm_is_the_pipeline_student_with_its_seed():
    """The grouped run starts each seed from kd_lib.make_student's
    weights for that seed."""
    grouped = kd_lib.arms.seeded_students([4, 5], 1, 10)
    kd_lib.set_seed(5)
    alone = kd_lib.make_student()
    for a, b in zip(
        alone.state_dict().values(),
        grouped.to_students()[1].state_dict().values(),
    ):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "kwargs", [{"arms": ("finetuned",)}, {"arms": ("teacher",)}]
)
def test_run_arms_rejects_impossible_arms(kwargs):
    splits = _tiny()
    with pytest.raises(ValueError):
        kd_lib.arms.run_arms(
            splits,
            torch.randn(40, 10),
            torch.randn(30, 10),
            [0],
            epochs=1,
            **kwargs,
        )


def test_bias_correction_recovers_an_omitted_class():
    labels = torch.tensor([0, 1, 2, 2, 1, 0])
    logits = torch.nn.functional.one_hot(labels, 3).float() * 2
    # the omitted class: right direction, too small
    logits[labels == 2, 2] = 1.0
    logits[labels == 2, 0] = 1.5
    plain = distillation_study.omitted_class_accuracy(
        logits, labels, omitted=2
    )
    assert plain["omitted"] == 0.0
    bias = distillation_study.best_bias(logits, labels, omitted=2)
    # the smallest bias that gets every input right
    assert 0.5 < bias <= 1.5
    assert (
        distillation_study.omitted_class_accuracy(logits, labels, 2, bias)[
            "omitted"
        ]
        == 1.0
    )


def test_stored_results_load_and_have_one_record_per_arm_and_setting():
    for name in runners.EXPERIMENTS:
        stored = kd_lib.results.load_results(name)
        assert stored["command"] == f"python -m kd_lib.runners {name}"
        assert len(stored["seeds"]) >= 3
    data = kd_lib.results.load_results("data_fraction")
    assert data["seeds"] == kd_lib.arms.SEEDS
    assert sorted(data["teacher_train_accuracy"]) == sorted(
        str(f) for f in FRACTIONS
    )
    for fraction in FRACTIONS:
        arms = kd_lib.results.arm_records(
            data["records"], fraction=fraction
        )
        assert set(arms) == set(kd_lib.arms.ARMS)
        for record in arms.values():
            assert len(record["test_accuracy"]) == 5
            # which test items each seed got right, for the bootstrap
            assert len(record["test_correct"]) == 5
            assert {len(c) for c in record["test_correct"]} == {359}


@pytest.mark.parametrize(
    "name, where, items",
    [
        ("data_fraction", {"fraction": 0.05}, 359),
        ("data_fraction", {"fraction": 1.0}, 359),
        ("vowels", {}, 370),
        ("vowels_lengths", {}, 370),
    ],
)
def test_every_ladder_arm_was_tuned_on_validation_and_converged(
    name, where, items
):
    """The ladder's stored arms: every trained arm's setting is the best
    of its search by mean final validation accuracy (ties to the smaller
    values), every rung of the ladder is there with five seeds and every
    test item, and every curve is flat at the end."""
    stored = kd_lib.results.load_results(name)
    arms = kd_lib.results.arm_records(stored["records"], **where)
    assert set(arms) == set(kd_lib.arms.ARMS)
    search = [
        r
        for r in stored["search"]
        if all(r.get(k) == v for k, v in where.items())
    ]
    for arm in kd_lib.arms.TRAINED:
        if arms[arm].get("same_as"):
            continue
        # a diverged setting (val_final None) is no candidate
        tried = [r for r in search if r["arm"] == arm and r["val_final"]]
        best = max(sum(r["val_final"]) / len(r["val_final"]) for r in tried)
        chosen = sum(arms[arm]["val_accuracy"][-1]) / 5
        assert chosen == pytest.approx(best), arm
        # the chosen rate is inside the rates tried, or at the grid's limit
        rates = sorted({r["lr"] for r in search if r["arm"] == arm})
        lr = arms[arm]["setting"]["lr"]
        assert next_rate(lr, rates, SEARCH["lr_limits"]) is None, arm
    for record in arms.values():
        assert record["seeds"] == kd_lib.arms.SEEDS
        assert {len(c) for c in record["test_correct"]} == {items}
        assert all(abs(s) < 1e-3 for s in record["final_slope"])
    # the extra epochs start from the chosen students of their base arm
    for extra, (base, _) in kd_lib.arms.CONTINUED.items():
        assert arms[extra]["setting"]["arm"] == base


def test_per_step_arms_take_the_soft_arms_setting_and_a_searched_weight():
    stored = kd_lib.results.load_results("per_step")
    from kd_lib.chapters import per_step

    ladder = {
        ("digits", f): kd_lib.results.arm_records(
            kd_lib.results.load_results("data_fraction")["records"],
            fraction=f,
        )["soft"]
        for f in (0.05, 0.25)
    }
    ladder["vowels", 1.0] = kd_lib.results.arm_records(
        kd_lib.results.load_results("vowels")["records"]
    )["soft"]
    for r in stored["records"]:
        soft = ladder[r["data"], r["fraction"]]["setting"]
        assert r["setting"]["lr"] == soft["lr"]
        assert r["setting"]["weight_decay"] == soft["weight_decay"]
        assert r["setting"]["weight"] in per_step.WEIGHTS[r["arm"]]
        assert r["seeds"] == kd_lib.arms.SEEDS
        assert all(abs(s) < 1e-3 for s in r["final_slope"])
    assert {(r["data"], r["arm"]) for r in stored["records"]} == {
        (d, a) for d in ("digits", "vowels") for a in per_step.PER_STEP_ARMS
    }


def test_load_results_names_the_command_for_a_missing_file(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(kd_lib.results, "RESULTS_DIR", tmp_path)
    with pytest.raises(ValueError, match="python -m kd_lib.runners NAME"):
        kd_lib.results.load_results("vowels")
    with pytest.raises(TypeError):
        kd_lib.results.load_results(3)


def test_command_line_writes_the_results_file(tmp_path, monkeypatch):
    monkeypatch.setattr(kd_lib.results, "RESULTS_DIR", tmp_path)
    monkeypatch.setitem(
        runners.EXPERIMENTS,
        "vowels",
        lambda: {"seeds": [0], "records": []},
    )
    runners.main(["vowels"])
    stored = json.loads((tmp_path / "vowels.json").read_text())
    assert (
        stored["experiment"] == "vowels"
        and stored["records"] == []
        and stored["seconds"] >= 0
    )


def test_arm_records_keys_the_matching_records_by_arm():
    records = [
        {"arm": "soft", "fraction": 0.1, "test_accuracy": [0.5, 0.6]},
        {"arm": "scratch", "fraction": 0.1, "test_accuracy": [0.4, 0.6]},
        {"arm": "soft", "fraction": 0.2, "test_accuracy": [0.7, 0.6]},
    ]
    found = kd_lib.results.arm_records(records, fraction=0.1)
    assert list(found) == ["soft", "scratch"]
    assert found["soft"]["test_accuracy"] == [0.5, 0.6]
    with pytest.raises(KeyError):
        kd_lib.results.arm_records(records, fraction=0.3)


def test_paired_gain_plot_draws_the_interval():
    import matplotlib

    matplotlib.use("Agg")
    diffs = [
        paired_difference([0.5, 0.6, 0.7], [0.6, 0.65, 0.8]),
        paired_difference([0.9, 0.9, 0.8], [0.9, 0.91, 0.8]),
    ]
    ax = kd_lib.plotting.plot_paired_gain([0.1, 1.0], diffs)
    assert len(ax.lines) >= 2
    with pytest.raises(ValueError):
        kd_lib.plotting.plot_paired_gain([0.1], diffs)


def test_lstm_vs_tcn_study_is_tuned_converged_and_multiseed():
    from kd_lib.chapters import accuracy_study

    study = kd_lib.results.load_results("lstm_vs_tcn")
    settings = study["settings"]
    assert settings == json.loads(json.dumps(accuracy_study.STUDY_SETTINGS))
    assert len(study["seeds"]) >= 5 and settings["forget_bias"] == 1.0
    for model in ("LSTM", "TCN"):
        for permuted in (False, True):
            mine = [
                r
                for r in study["records"]
                if r["model"] == model and r["permuted"] == permuted
            ]
            tried = sorted({r["lr"] for r in mine})
            assert set(settings["lrs"]) <= set(tried)
            # every rate with every seed, and the best rate by mean final
            # validation accuracy is the chosen one, inside the grid or at
            # its limit
            for lr in tried:
                seeds = sorted(r["seed"] for r in mine if r["lr"] == lr)
                assert seeds == study["seeds"]
            score = {
                lr: sum(
                    r["val_accuracy"][-1] for r in mine if r["lr"] == lr
                )
                for lr in tried
            }
            chosen = accuracy_study.chosen_lr(
                study, model=model, permuted=permuted
            )
            assert score[chosen] == max(score.values())
            assert next_rate(chosen, tried, settings["lr_limits"]) is None
            for r in accuracy_study.study_records(
                study, model=model, permuted=permuted
            ):
                assert len(r["val_accuracy"]) == settings["epochs"]
                assert 0 <= r["test_accuracy"] <= 1
    stages = {(g["model"], g["stage"]) for g in study["gradients"]}
    assert stages == {
        (m, s) for m in ("LSTM", "TCN") for s in ("initialised", "trained")
    }


def test_lstm_vs_tcn_command_runs_the_benchmark_study(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(kd_lib.results, "RESULTS_DIR", tmp_path)
    monkeypatch.setitem(
        runners.EXPERIMENTS,
        "lstm_vs_tcn",
        lambda: {"seeds": [0, 1, 2], "records": []},
    )
    runners.main(["lstm_vs_tcn"])
    stored = json.loads((tmp_path / "lstm_vs_tcn.json").read_text())
    assert stored["command"] == "python -m kd_lib.runners lstm_vs_tcn"
    assert stored["seeds"] == [0, 1, 2]


# ------------------------------- chapter 3: memory tasks, LSTM versus TCN


def test_memory_tasks_stored_runs_cover_the_study_and_agree():
    from kd_lib.chapters import memory_tasks as mt

    stored = kd_lib.results.load_results("memory_tasks")
    study = mt.MEMORY_STUDY
    assert stored["memory_study"] == json.loads(json.dumps(study))
    assert stored["setup"] == json.loads(json.dumps(mt.MEMORY_SETUP))
    assert stored["seeds"] == study["seeds"] and len(study["seeds"]) >= 3
    assert stored["hidden"] == {
        t: mt.matched_lstm_hidden(t) for t in mt.MEMORY_TASKS
    }
    expected = mt.memory_units()
    for task, lrs in study["extra_lrs"].items():
        expected += mt.memory_units(tasks=[task], lrs=lrs)
    expected += mt.memory_units(
        tasks=["copy"],
        models=["LSTM"],
        lrs=study["long_lrs"],
        updates=study["long_updates"],
    )
    keys = ("task", "model", "lr", "seed", "distance", "updates")
    got = [tuple(r[k] for k in keys) for r in stored["records"]]
    assert got == [tuple(u) for u in expected]  # each run once, in order
    for r in stored["records"]:
        assert r["val_updates"][-1] == r["updates"]
        assert len(r["val_updates"]) == study["val_points"]
        assert r["test_loss_ratio"] == pytest.approx(
            r["test_loss"] / mt.chance_loss(r["task"])
        )
        model = mt.memory_model(r["task"], r["model"])
        assert r["parameters"] == kd_lib.count_parameters(model)
        if r["task"] == "recall":
            assert 0 <= r["test_accuracy"] <= 1
            assert len(r["val_accuracy"]) == study["val_points"]


def test_memory_tasks_tuned_rates_come_from_the_grid():
    from kd_lib.chapters import memory_tasks as mt

    records = kd_lib.results.load_results("memory_tasks")["records"]
    study = mt.MEMORY_STUDY
    for task in mt.MEMORY_TASKS:
        grid = study["lrs"] + study["extra_lrs"].get(task, [])
        for d in study["distances"] if task == "recall" else [None]:
            for model in mt.MEMORY_MODELS:
                runs = mt.memory_tuned_runs(records, task, model, d)
                assert runs[0]["lr"] in grid
                values = mt.memory_values(records, task, model, d)
                assert len(values) == len(study["seeds"])
