"""The distillation chapter's experiment helpers."""
import pytest
import torch

import kd_lib
from kd_lib import experiments, pipeline


def _tiny_splits(n=120):
    s = kd_lib.digits_splits()
    return kd_lib.SequenceSplits(s.x_train[:n, -16:], s.y_train[:n], s.x_val[:60, -16:], s.y_val[:60],
                                 s.x_test[:60, -16:], s.y_test[:60])


# ----------------------------------------------------------------- label subsets

@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.25, 1.0])
def test_label_mask_is_stratified_and_of_the_requested_size(fraction):
    labels = kd_lib.digits_splits().y_train
    mask = experiments.stratified_label_mask(labels, fraction, seed=0)
    assert mask.dtype == torch.bool and mask.shape == labels.shape
    for c in range(10):
        in_class = labels == c
        assert mask[in_class].sum() == max(1, round(fraction * in_class.sum().item()))
    assert abs(mask.float().mean().item() - fraction) < 0.01


def test_label_mask_depends_on_the_seed_and_repeats_with_it():
    labels = kd_lib.digits_splits().y_train
    a = experiments.stratified_label_mask(labels, 0.1, seed=0)
    assert torch.equal(a, experiments.stratified_label_mask(labels, 0.1, seed=0))
    assert not torch.equal(a, experiments.stratified_label_mask(labels, 0.1, seed=1))


def test_every_class_keeps_a_label_even_when_the_fraction_rounds_to_zero():
    labels = torch.tensor([0] * 50 + [1] * 3)
    mask = experiments.stratified_label_mask(labels, 0.05, seed=0)
    assert mask[:50].sum() == 2 and mask[50:].sum() == 1


def test_keep_fraction_marks_the_rest_unlabelled_and_keeps_true_labels():
    labels = kd_lib.digits_splits().y_train
    kept = experiments.keep_fraction_of_labels(labels, 0.1, seed=3)
    labelled = kept != kd_lib.UNLABELLED
    assert torch.equal(kept[labelled], labels[labelled])
    assert torch.equal(labelled, experiments.stratified_label_mask(labels, 0.1, seed=3))
    assert labels.min() >= 0  # the input is not modified


def test_labelled_subset_keeps_only_labelled_training_rows():
    splits = _tiny_splits()
    labels = experiments.keep_fraction_of_labels(splits.y_train, 0.25, seed=0)
    subset = experiments.labelled_subset(splits, labels)
    labelled = labels != kd_lib.UNLABELLED
    assert torch.equal(subset.x_train, splits.x_train[labelled])
    assert torch.equal(subset.y_train, splits.y_train[labelled])
    assert torch.equal(subset.x_test, splits.x_test)


@pytest.mark.parametrize("fraction, error", [(0.0, ValueError), (1.5, ValueError), (-0.1, ValueError),
                                             ("10%", TypeError), (True, TypeError)])
def test_bad_fraction_is_rejected(fraction, error):
    with pytest.raises(error):
        experiments.stratified_label_mask(torch.tensor([0, 1, 2]), fraction, seed=0)


def test_bad_labels_are_rejected():
    with pytest.raises(TypeError):
        experiments.stratified_label_mask(torch.tensor([0.0, 1.0]), 0.5, seed=0)
    with pytest.raises(ValueError):
        experiments.stratified_label_mask(torch.zeros(2, 2, dtype=torch.long), 0.5, seed=0)
    splits = _tiny_splits()
    with pytest.raises(ValueError):
        experiments.labelled_subset(splits, splits.y_train[:10])
    with pytest.raises(ValueError):
        experiments.labelled_subset(splits, torch.full_like(splits.y_train, kd_lib.UNLABELLED))


# ----------------------------------------------------------------- gap closed

def test_gap_closed_arithmetic_and_hintons_mnist_numbers():
    assert experiments.gap_closed(0.95, 0.90, 1.00) == pytest.approx(0.5)
    assert experiments.gap_closed(1.00, 0.90, 1.00) == pytest.approx(1.0)
    assert experiments.gap_closed(0.90, 0.90, 1.00) == 0.0
    assert experiments.gap_closed(0.85, 0.90, 1.00) == pytest.approx(-0.5)  # distillation hurt
    teacher, alone, distilled = (1 - e / 10_000 for e in (67, 146, 74))
    assert experiments.gap_closed(distilled, alone, teacher) == pytest.approx(72 / 79)  # ~0.91


def test_gap_closed_needs_a_gap_and_numbers():
    with pytest.raises(ValueError, match="no gap"):
        experiments.gap_closed(0.9, 0.95, 0.95)
    with pytest.raises(ValueError, match="no gap"):
        experiments.gap_closed(0.9, 0.97, 0.95)
    with pytest.raises(TypeError):
        experiments.gap_closed("0.9", 0.8, 0.95)


# ----------------------------------------------------------------- metrics and summaries

def test_test_metrics_of_the_teacher_against_itself():
    splits = _tiny_splits()
    model = kd_lib.LSTMClassifier(1, 10, hidden_size=8).eval()
    own = kd_lib.teacher_logits(model, splits.x_test)
    m = experiments.test_metrics(model, splits, own)
    assert m["agreement"] == 1.0
    assert m["accuracy"] == pytest.approx((own.argmax(-1) == splits.y_test).float().mean().item())
    assert 0.0 <= m["ece"] <= 1.0
    with pytest.raises(ValueError):
        experiments.test_metrics(model, splits, own[:5])


def test_summarize_gives_mean_and_spread_per_group():
    records = [{"t": 1, "a": 0.5, "seed": s, "accuracy": acc}
               for s, acc in enumerate([0.8, 0.9, 1.0])]
    records += [{"t": 2, "a": 0.5, "seed": 0, "accuracy": 0.7}]
    by_t = experiments.summarize(records, "t")
    assert by_t[1] == pytest.approx((0.9, 0.1)) and by_t[2] == (0.7, 0.0)
    assert set(experiments.summarize(records, ("t", "a"))) == {(1, 0.5), (2, 0.5)}
    with pytest.raises(KeyError):
        experiments.summarize(records, "missing")
    with pytest.raises(ValueError):
        experiments.summarize([], "t")


def test_format_mean_spread():
    assert experiments.format_mean_spread([0.9, 0.92, 0.94]) == "92.0 ± 2.0"


# ----------------------------------------------------------------- training runs

def test_sweep_returns_one_record_per_temperature_alpha_and_seed():
    splits = _tiny_splits()
    soft = torch.randn(len(splits.x_train), 10)
    teacher_test = torch.randn(len(splits.x_test), 10)
    records = experiments.sweep_temperature_alpha(splits, soft, teacher_test, temperatures=[1.0, 4.0],
                                                  alphas=[0.0, 0.9], seeds=[0, 1, 2], epochs=1)
    assert len(records) == 12
    assert {(r["temperature"], r["alpha"], r["seed"]) for r in records} == {
        (t, a, s) for t in (1.0, 4.0) for a in (0.0, 0.9) for s in (0, 1, 2)}
    assert all(0.0 <= r["accuracy"] <= 1.0 and 0.0 <= r["agreement"] <= 1.0 for r in records)
    with pytest.raises(ValueError):
        experiments.sweep_temperature_alpha(splits, soft, teacher_test, [], [0.5], [0], epochs=1)
    with pytest.raises(ValueError):
        experiments.sweep_temperature_alpha(splits, soft, teacher_test, [1.0], [0.5], [], epochs=1)


def test_alpha_zero_is_the_student_trained_on_hard_labels():
    """With alpha = 0 the soft labels get no weight: the run equals the scratch student's."""
    splits = _tiny_splits()
    soft = torch.randn(len(splits.x_train), 10)
    scratch, _ = pipeline.train_scratch_student(splits, seed=0, epochs=2)
    hard, _ = pipeline.train_distilled_student(splits, soft, seed=0, alpha=0.0, epochs=2)
    for a, b in zip(scratch.parameters(), hard.parameters()):
        torch.testing.assert_close(a, b)


def test_label_regimes_pair_each_method_with_the_same_labels():
    splits = _tiny_splits()
    soft = torch.randn(len(splits.x_train), 10)
    teacher_test = torch.randn(len(splits.x_test), 10)
    records = experiments.label_regimes(splits, soft, teacher_test, fractions=[0.1, 0.5], seeds=[0, 1],
                                        epochs=1)
    assert len(records) == 8
    assert {(r["fraction"], r["method"], r["seed"]) for r in records} == {
        (f, m, s) for f in (0.1, 0.5) for m in ("hard labels", "distilled") for s in (0, 1)}
    assert all(r["alpha"] == 0.0 for r in records if r["method"] == "hard labels")
    assert all("labels" not in r for r in records)
    with pytest.raises(ValueError):
        experiments.label_regimes(splits, soft, teacher_test, fractions=[0.0], seeds=[0], epochs=1)


def test_distill_runs_builds_students_of_the_requested_size():
    splits = _tiny_splits()
    soft = torch.randn(len(splits.x_train), 10)
    teacher_test = torch.randn(len(splits.x_test), 10)
    records = experiments.distill_runs(splits, soft, teacher_test,
                                       [{"channels": [2] * 5, "name": "tiny"}], seeds=[0], epochs=1)
    assert records[0]["name"] == "tiny" and records[0]["channels"] == [2] * 5


def test_fine_tuning_on_few_labels_stays_finite():
    """At 5 % labels many batches hold no label at all; fine-tuning must not turn them into NaN."""
    splits = _tiny_splits(n=200)
    labels = experiments.keep_fraction_of_labels(splits.y_train, 0.05, seed=0)
    student = pipeline.make_student()
    tuned, history = experiments.fine_tune_on_labelled(student, splits, seed=0, labels=labels, epochs=3)
    assert all(torch.isfinite(p).all() for p in tuned.parameters())
    assert all(torch.isfinite(torch.tensor(history.train_loss)))


def test_results_rows_cover_the_four_models(monkeypatch):
    monkeypatch.setitem(pipeline.RECIPE, "epochs", 1)
    splits = _tiny_splits()
    teacher = kd_lib.LSTMClassifier(1, 10, hidden_size=8).eval()
    runs = pipeline.run_pipeline(teacher, splits, seeds=[0, 1])
    headers, rows, metrics = experiments.results_rows(teacher, runs, splits, latency_repeats=2)
    assert [r[0] for r in rows] == ["teacher", "scratch", "distilled", "finetuned"]
    assert all(len(r) == len(headers) for r in rows)
    assert metrics["teacher"]["agreement"] == [1.0]
    assert len(metrics["finetuned"]["accuracy"]) == 2
    assert metrics["scratch"]["parameters"] == 2018
    assert all(m["latency_1"] > 0 and m["latency_256"] > 0 for m in metrics.values())
    with pytest.raises(ValueError):
        experiments.results_rows(teacher, [], splits)


def test_plots_draw_what_they_are_given():
    import matplotlib.pyplot as plt
    ax = experiments.plot_sweep({1.0: (0.8, 0.1), 4.0: (0.9, 0.0)}, xlabel="T", logx=True)
    xs, ys = ax.lines[0].get_data()
    assert list(xs) == [1.0, 4.0] and list(ys) == pytest.approx([80.0, 90.0])
    ax = experiments.plot_before_after([0.5, 0.6], [0.7, 0.8], label="all labels")
    assert len(ax.lines) == 2 and list(ax.lines[1].get_ydata()) == pytest.approx([60.0, 80.0])
    with pytest.raises(ValueError):
        experiments.plot_before_after([0.5], [0.6, 0.7])
    plt.close("all")


def test_a_run_depends_on_its_seed_not_on_what_ran_before():
    """The student's initial weights come from the run's seed, so the same (setting, seed)
    gives the same student whatever the global random state was."""
    splits = _tiny_splits()
    soft = torch.randn(len(splits.x_train), 10)
    teacher_test = torch.randn(len(splits.x_test), 10)
    settings = [{"alpha": 0.0}, {"channels": [2] * 5}]
    kd_lib.set_seed(1)
    a = experiments.distill_runs(splits, soft, teacher_test, settings, seeds=[0], epochs=1)
    torch.rand(100)  # move the global generator on
    b = experiments.distill_runs(splits, soft, teacher_test, settings, seeds=[0], epochs=1)
    for ra, rb in zip(a, b):
        for pa, pb in zip(ra["model"].parameters(), rb["model"].parameters()):
            torch.testing.assert_close(pa, pb)
    # and alpha = 0 here is the pipeline's scratch student with the same seed
    scratch, _ = pipeline.train_scratch_student(splits, seed=0, epochs=1)
    for pa, pb in zip(a[0]["model"].parameters(), scratch.parameters()):
        torch.testing.assert_close(pa, pb)


def test_accuracy_on_counts_correct_predictions():
    model = kd_lib.LSTMClassifier(1, 10, hidden_size=4).eval()
    x = torch.randn(20, 8, 1)
    predicted = kd_lib.teacher_logits(model, x).argmax(-1)
    y = predicted.clone()
    y[:5] = (y[:5] + 1) % 10
    assert experiments.accuracy_on(model, x, y) == pytest.approx(0.75)
    with pytest.raises(TypeError):
        experiments.accuracy_on(model, x, y.float())
