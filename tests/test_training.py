"""The training loop, evaluation, fine-tuning and seeding."""

import pytest
import torch

import kd_lib
from kd_lib.chapters import memory_tasks as mt


def _toy_classification(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 12, 2, generator=g)
    y = (x[:, -3:, 0].sum(1) > 0).long()  # needs the last three steps
    return x, y


def test_set_seed_reproduces_identical_tensors_and_models():
    kd_lib.set_seed(7)
    a = torch.randn(5)
    model_a = kd_lib.TCNClassifier(1, 3, [4, 4])
    kd_lib.set_seed(7)
    b = torch.randn(5)
    model_b = kd_lib.TCNClassifier(1, 3, [4, 4])
    assert torch.equal(a, b)
    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(pa, pb)


def test_training_twice_with_the_same_seed_gives_the_same_weights():
    x, y = _toy_classification()

    def run():
        kd_lib.set_seed(0)
        model = kd_lib.TCNClassifier(2, 2, [4, 4], kernel_size=2)
        loader = kd_lib.data.make_loader(
            x, y, batch_size=32, shuffle=True, seed=0
        )
        kd_lib.train(
            model, loader, epochs=2, select_by="last", show_progress=False
        )
        return model

    for pa, pb in zip(run().parameters(), run().parameters()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)


def test_train_learns_and_restores_the_best_epoch():
    x, y = _toy_classification()
    kd_lib.set_seed(0)
    model = kd_lib.TCNClassifier(2, 2, [8, 8], kernel_size=2)
    train_loader = kd_lib.data.make_loader(
        x[:200], y[:200], batch_size=32, shuffle=True, seed=0
    )
    val_loader = kd_lib.data.make_loader(x[200:], y[200:], batch_size=64)
    history = kd_lib.train(
        model,
        train_loader,
        val_loader,
        epochs=15,
        lr=1e-2,
        show_progress=False,
    )
    assert history.epochs == 15 and len(history.val_accuracy) == 15
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.best_val_accuracy == max(history.val_accuracy)
    assert kd_lib.evaluate(model, val_loader)["accuracy"] == pytest.approx(
        history.best_val_accuracy
    )
    assert history.best_val_accuracy > 0.85
    assert not model.training


def test_regression_uses_mse_and_reports_no_accuracy():
    x, y = mt.adding_problem(128, 10, seed=0)
    loader = kd_lib.data.make_loader(x, y, batch_size=32)
    model = kd_lib.TCNClassifier(2, 1, [4, 4])
    history = kd_lib.train(
        model,
        loader,
        loader,
        epochs=2,
        select_by="val_loss",
        show_progress=False,
    )
    assert history.val_accuracy == []
    assert set(kd_lib.evaluate(model, loader)) == {"loss"}


def test_gradient_clipping_bounds_the_update():
    """With a tiny clip norm, one SGD-like Adam step cannot move
    weights by more than lr."""
    x, y = _toy_classification(64)
    kd_lib.set_seed(0)
    model = kd_lib.TCNClassifier(2, 2, [4])
    before = [p.detach().clone() for p in model.parameters()]
    loader = kd_lib.data.make_loader(x, y, batch_size=64)
    kd_lib.train(
        model,
        loader,
        epochs=1,
        lr=0.01,
        clip_grad_norm=1e-3,
        select_by="last",
        show_progress=False,
    )
    for b, p in zip(before, model.parameters()):
        # Adam's first step is ~lr per weight
        assert (p.detach() - b).abs().max() <= 0.01 + 1e-6


def test_distillation_and_fine_tuning_through_the_same_loop():
    x, y = _toy_classification()
    kd_lib.set_seed(0)
    teacher = kd_lib.TCNClassifier(2, 2, [16, 16], kernel_size=2)
    kd_lib.train(
        teacher,
        kd_lib.data.make_loader(x, y, batch_size=32, shuffle=True, seed=0),
        epochs=10,
        lr=1e-2,
        select_by="last",
        show_progress=False,
    )
    soft = kd_lib.teacher_logits(teacher, x)
    loader = kd_lib.data.make_loader(
        x, y, soft, batch_size=32, shuffle=True, seed=0
    )
    student = kd_lib.TCNClassifier(2, 2, [4, 4], kernel_size=2)
    kd_lib.train(
        student,
        loader,
        epochs=8,
        lr=1e-2,
        loss_fn=kd_lib.DistillationLoss(2.0, 0.7),
        select_by="last",
        show_progress=False,
    )
    agreement = (
        (kd_lib.teacher_logits(student, x).argmax(1) == soft.argmax(1))
        .float()
        .mean()
    )
    assert agreement > 0.8
    # step 4 through the same loop: hard labels only (the first target)
    history = kd_lib.train(
        student,
        loader,
        epochs=2,
        loss_fn=lambda out, y, *_: kd_lib.training.default_loss(out, y),
        select_by="last",
        show_progress=False,
    )
    assert history.epochs == 2 and all(
        loss == loss for loss in history.train_loss
    )


def test_measure_latency_reports_ordered_quantiles():
    timing = kd_lib.measure_latency(
        lambda: torch.randn(100, 100) @ torch.randn(100, 100),
        repeats=9,
        warmup=1,
    )
    assert 0 < timing.q25 <= timing.median <= timing.q75


def test_checkpoint_round_trip(tmp_path):
    kd_lib.set_seed(0)
    model = kd_lib.TCNClassifier(1, 3, [4, 4])
    path = kd_lib.utils.save_checkpoint(
        model, tmp_path / "m.pt", note="hello", accuracy=0.5
    )
    clone = kd_lib.TCNClassifier(1, 3, [4, 4])
    meta = kd_lib.utils.load_checkpoint(clone, path)
    assert meta == {"note": "hello", "accuracy": 0.5}
    x = torch.randn(2, 9, 1)
    torch.testing.assert_close(clone(x), model(x))


def test_progress_bar_is_silent_when_disabled(monkeypatch, capsys):
    monkeypatch.setenv("KD_LIB_PROGRESS", "0")
    assert list(kd_lib.utils.progress(range(3))) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_count_parameters_and_device():
    model = torch.nn.Linear(3, 2)
    assert kd_lib.count_parameters(model) == 8
    model.bias.requires_grad_(False)
    assert kd_lib.count_parameters(model) == 6
    assert kd_lib.count_parameters(model, trainable_only=False) == 8
    assert kd_lib.utils.get_device().type in ("cpu", "cuda")


@pytest.mark.parametrize(
    "call,error",
    [
        (lambda: kd_lib.set_seed(1.5), TypeError),
        (lambda: kd_lib.set_seed(-1), ValueError),
        (lambda: kd_lib.count_parameters("model"), TypeError),
        (lambda: kd_lib.measure_latency(42), TypeError),
        (
            lambda: kd_lib.measure_latency(lambda: None, repeats=0),
            ValueError,
        ),
        (
            lambda: kd_lib.train(torch.nn.Linear(1, 1), [(1, 2)], epochs=1),
            TypeError,
        ),
        (
            lambda: kd_lib.train(
                torch.nn.Linear(1, 1),
                kd_lib.data.make_loader(torch.zeros(2, 1)),
                epochs=0,
            ),
            ValueError,
        ),
        (
            lambda: kd_lib.train(
                torch.nn.Linear(1, 1),
                kd_lib.data.make_loader(torch.zeros(2, 1)),
                epochs=1,
            ),
            ValueError,
        ),
        (
            lambda: kd_lib.train(
                torch.nn.Linear(1, 1),
                kd_lib.data.make_loader(torch.zeros(2, 1)),
                epochs=1,
                select_by="best",
            ),
            ValueError,
        ),
        (
            lambda: kd_lib.utils.load_checkpoint(
                torch.nn.Linear(1, 1), "/nonexistent/model.pt"
            ),
            FileNotFoundError,
        ),
        (
            lambda: kd_lib.training.accuracy(
                torch.randn(3, 4), torch.zeros(4, dtype=torch.long)
            ),
            ValueError,
        ),
    ],
)
def test_bad_input_raises_clear_errors(call, error):
    with pytest.raises(error):
        call()


def test_evaluate_works_for_a_model_without_parameters():
    """Dynamically quantised models keep packed weights and
    expose no parameters."""

    class LastStepSum(torch.nn.Module):
        def forward(self, x):
            return torch.stack([x[:, -1, 0], -x[:, -1, 0]], dim=1)

    x = torch.tensor([[[1.0]], [[-1.0]]])
    y = torch.tensor([0, 1])
    assert kd_lib.utils.model_device(LastStepSum()).type == "cpu"
    assert (
        kd_lib.evaluate(LastStepSum(), kd_lib.data.make_loader(x, y))[
            "accuracy"
        ]
        == 1.0
    )


def test_a_nan_loss_stops_training_and_names_the_epoch_and_batch():
    x, y = torch.randn(24, 8, 1), torch.randint(0, 3, (24,))
    x[20, 3, 0] = float("nan")  # in the third batch of 8, unshuffled
    model = kd_lib.TCNClassifier(1, 3, channels=[2])
    with pytest.raises(FloatingPointError, match="epoch 1, batch 3"):
        kd_lib.train(
            model,
            kd_lib.data.make_loader(x, y, batch_size=8),
            epochs=2,
            select_by="last",
            show_progress=False,
        )
