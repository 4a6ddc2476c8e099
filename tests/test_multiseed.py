"""Several seeds trained as one grouped network must be the same computation
as training each seed's student on its own."""

import pytest
import torch
import torch.nn.functional as F

import kd_lib
from kd_lib.multiseed import (
    GroupedTCNClassifier,
    grouped_logits,
    hard_label_loss,
    train_grouped,
)


def _students(seeds, input_size=1, classes=10, channels=(4, 4, 4)):
    students = []
    for seed in seeds:
        kd_lib.set_seed(seed)
        students.append(
            kd_lib.make_student(
                input_size, classes, channels=list(channels)
            )
        )
    return students


def test_grouped_forward_equals_each_student_and_round_trips():
    students = _students([0, 1, 2], input_size=3, classes=5)
    grouped = GroupedTCNClassifier.from_students(students)
    x = torch.randn(3, 7, 20, 3)  # every model its own batch
    expected = torch.stack([m.eval()(x[s]) for s, m in enumerate(students)])
    torch.testing.assert_close(grouped(x), expected, atol=1e-5, rtol=1e-5)
    for original, back in zip(students, grouped.to_students()):
        for a, b in zip(
            original.state_dict().values(), back.state_dict().values()
        ):
            assert torch.equal(a, b)


def test_models_do_not_see_each_other():
    """Changing model 1's input never changes model 0's output."""
    grouped = GroupedTCNClassifier.from_students(_students([0, 1]))
    x = torch.randn(2, 4, 16, 1)
    y = x.clone()
    y[1] = torch.randn(4, 16, 1)
    out_x, out_y = grouped(x), grouped(y)
    assert torch.equal(out_x[0], out_y[0]) and not torch.allclose(
        out_x[1], out_y[1]
    )


def test_grouped_training_equals_training_each_seed_alone():
    splits = kd_lib.digits_splits()
    x, y = splits.x_train[:40, -16:], splits.y_train[:40]
    seeds, epochs, batch, lr = [3, 7], 3, 16, 1e-2
    grouped = GroupedTCNClassifier.from_students(_students(seeds))
    train_grouped(
        grouped,
        x,
        {"labels": y},
        seeds,
        epochs=epochs,
        lr=lr,
        loss_fn=hard_label_loss,
        batch_size=batch,
    )
    for seed, student, trained in zip(
        seeds, _students(seeds), grouped.to_students()
    ):
        # the reference: one student, its own seed's batch order, Adam,
        # cosine decay
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(student.parameters(), lr=lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=epochs
        )
        student.train()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=generator)
            for i in range(0, len(x), batch):
                idx = order[i : i + batch]
                loss = F.cross_entropy(student(x[idx]), y[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            schedule.step()
        for a, b in zip(
            student.state_dict().values(), trained.state_dict().values()
        ):
            torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4)


def test_per_model_losses_and_weight_decay_equal_training_alone():
    """Model s gets its own loss and its own weight decay: the same as
    training it alone with Adam(weight_decay=...) on all but the
    directions of its weight-normalised convolutions."""
    splits = kd_lib.digits_splits()
    x, y = splits.x_train[:24, -8:], splits.y_train[:24]
    seeds, decays, lr = [3, 4], [0.0, 0.05], 1e-2
    smoothed = [
        lambda logits, labels: F.cross_entropy(logits, labels),
        lambda logits, labels: F.cross_entropy(
            logits, labels, label_smoothing=0.2
        ),
    ]
    grouped = GroupedTCNClassifier.from_students(_students(seeds))
    train_grouped(
        grouped,
        x,
        {"labels": y},
        seeds,
        epochs=2,
        lr=lr,
        loss_fn=smoothed,
        weight_decay=decays,
        batch_size=8,
        cosine_schedule=False,
    )
    for s, (seed, student) in enumerate(zip(seeds, _students(seeds))):
        generator = torch.Generator().manual_seed(seed)
        # the directions of weight-normalised convolutions are not decayed
        direction = [
            p
            for n, p in student.named_parameters()
            if n.endswith("original1")
        ]
        rest = [
            p
            for n, p in student.named_parameters()
            if not n.endswith("original1")
        ]
        optimizer = torch.optim.Adam(
            [
                {"params": rest, "weight_decay": decays[s]},
                {"params": direction},
            ],
            lr=lr,
        )
        student.train()
        for _ in range(2):
            order = torch.randperm(len(x), generator=generator)
            for i in range(0, len(x), 8):
                idx = order[i : i + 8]
                loss = smoothed[s](student(x[idx]), y[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        for a, b in zip(
            student.state_dict().values(),
            grouped.to_students()[s].state_dict().values(),
        ):
            torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4)


def test_per_model_targets_and_validation_curves():
    splits = kd_lib.digits_splits()
    x, y = splits.x_train[:32, -8:], splits.y_train[:32]
    grouped = GroupedTCNClassifier.from_students(_students([0, 1]))
    # model 1 learns "always 0"
    per_model = torch.stack([y, torch.zeros_like(y)])
    history = train_grouped(
        grouped,
        x,
        {"labels": per_model},
        [0, 1],
        epochs=30,
        lr=3e-2,
        loss_fn=hard_label_loss,
        x_val=splits.x_val[:, -8:],
        y_val=splits.y_val,
        val_every=10,
    )
    assert history.val_epochs == [10, 20, 30]
    assert (
        len(history.val_accuracy[0]) == 2
        and len(history.final_slope()) == 2
    )
    assert (grouped_logits(grouped, x)[1].argmax(-1) == 0).all()


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"seeds": [0]}, ValueError),  # one seed for two models
        ({"epochs": 0}, ValueError),
        ({"lr": -1.0}, ValueError),
        (
            {"targets": {"labels": torch.zeros(5, dtype=torch.long)}},
            ValueError,
        ),
        ({"targets": {"labels": [0, 1]}}, TypeError),
    ],
)
def test_train_grouped_rejects_bad_input(kwargs, error):
    grouped = GroupedTCNClassifier.from_students(_students([0, 1]))
    x = torch.randn(8, 16, 1)
    args = {
        "targets": {"labels": torch.zeros(8, dtype=torch.long)},
        "seeds": [0, 1],
        "epochs": 1,
        "lr": 1e-3,
    } | kwargs
    with pytest.raises(error):
        train_grouped(
            grouped,
            x,
            args.pop("targets"),
            args.pop("seeds"),
            loss_fn=hard_label_loss,
            **args,
        )


def test_grouped_model_rejects_the_wrong_shape():
    grouped = GroupedTCNClassifier.from_students(_students([0, 1]))
    with pytest.raises(ValueError, match="models=2"):
        grouped(torch.randn(3, 4, 16, 1))
    with pytest.raises(TypeError):
        GroupedTCNClassifier.from_students([torch.nn.Linear(2, 2)])
