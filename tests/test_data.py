"""Data sets and generators."""

import math

import pytest
import torch

import kd_lib
from kd_lib.chapters import memory_tasks as mt


def test_digits_are_64_steps_of_one_feature_in_0_1():
    s = kd_lib.digits_splits()
    x = torch.cat([s.x_train, s.x_val, s.x_test])
    y = torch.cat([s.y_train, s.y_val, s.y_test])
    assert x.shape == (1797, 64, 1) and y.shape == (1797,)
    assert x.min() == 0.0 and x.max() == 1.0
    assert set(y.tolist()) == set(range(10))


def test_permuted_digits_are_one_fixed_permutation_of_the_pixels():
    x = kd_lib.digits_splits().x_train
    xp = kd_lib.digits_splits(permuted=True).x_train
    xp_again = kd_lib.digits_splits(permuted=True).x_train
    torch.testing.assert_close(xp, xp_again)
    assert not torch.equal(x, xp)
    # the same permutation for every image: sorting each sequence gives the
    # same values
    torch.testing.assert_close(x.sort(dim=1).values, xp.sort(dim=1).values)


def test_digits_splits_are_fixed_disjoint_and_stratified():
    a = kd_lib.digits_splits()
    kd_lib.set_seed(123)  # the global seed must not move the split
    b = kd_lib.digits_splits()
    torch.testing.assert_close(a.x_test, b.x_test)
    assert sum(a.sizes().values()) == 1797
    rows = {tuple(r.flatten().tolist()) for r in a.x_test}
    assert not rows & {tuple(r.flatten().tolist()) for r in a.x_train}
    counts = torch.bincount(a.y_test, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38


def test_shuffled_loader_order_depends_on_its_seed_only():
    x = torch.arange(100).float().view(100, 1, 1)
    y = torch.arange(100)
    first = [
        b[1]
        for b in kd_lib.data.make_loader(
            x, y, batch_size=10, shuffle=True, seed=3
        )
    ]
    second = [
        b[1]
        for b in kd_lib.data.make_loader(
            x, y, batch_size=10, shuffle=True, seed=3
        )
    ]
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not torch.equal(torch.cat(first), y)


def test_adding_problem_targets_are_the_marked_sums():
    x, y = mt.adding_problem(500, 50, seed=1)
    assert x.shape == (500, 50, 2) and y.shape == (500, 1)
    assert (x[..., 1].sum(1) == 2).all()
    torch.testing.assert_close(
        (x[..., 0] * x[..., 1]).sum(1, keepdim=True), y
    )
    # predicting the mean (1.0) scores about 1/6
    assert ((y - 1.0) ** 2).mean().item() == pytest.approx(
        mt.ADDING_CHANCE_MSE, rel=0.15
    )


def test_copy_memory_layout_and_chance_loss():
    x, y = mt.copy_memory(4, memory_length=30, seed=0)
    assert x.shape == (4, 50, 10) and y.shape == (4, 50)
    tokens = x.argmax(-1)
    torch.testing.assert_close(y[:, -10:], tokens[:, :10])
    assert (tokens[:, 39] == 9).all()
    assert (y[:, :-10] == 0).all()
    assert mt.copy_memory_chance_loss(1000) == pytest.approx(
        10 * math.log(8) / 1020
    )
    # the memoryless strategy's loss, computed directly, equals the formula
    probs = torch.zeros(50, 10)
    probs[:-10, 0] = 1.0
    probs[-10:, 1:9] = 1 / 8
    nll = -torch.log(probs[torch.arange(50), y[0]]).mean().item()
    assert nll == pytest.approx(mt.copy_memory_chance_loss(30))


def test_recall_at_distance_label_is_the_symbol_d_steps_back():
    x, y = kd_lib.recall_at_distance(
        200, length=20, distance=7, num_classes=5, seed=0
    )
    assert x.shape == (200, 20, 5)
    torch.testing.assert_close(x[:, 20 - 1 - 7].argmax(-1), y)
    x2, y2 = kd_lib.recall_at_distance(
        200, length=20, distance=7, num_classes=5, seed=0
    )
    torch.testing.assert_close(x, x2)


@pytest.mark.parametrize(
    "call,error",
    [
        (lambda: kd_lib.digits_splits(val_fraction=0.0), ValueError),
        (
            lambda: kd_lib.digits_splits(
                val_fraction=0.5, test_fraction=0.5
            ),
            ValueError,
        ),
        (
            lambda: kd_lib.data.make_loader(torch.zeros(3), torch.zeros(4)),
            ValueError,
        ),
        (lambda: kd_lib.data.make_loader([1, 2, 3]), TypeError),
        (
            lambda: kd_lib.data.make_loader(torch.zeros(3), batch_size=0),
            ValueError,
        ),
        (lambda: mt.adding_problem(10, 1), ValueError),
        (lambda: mt.adding_problem(10.5, 10), TypeError),
        (lambda: mt.copy_memory(0, 10), ValueError),
        (lambda: kd_lib.recall_at_distance(10, 8, 8), ValueError),
        (lambda: kd_lib.recall_at_distance(10, 8, -1), ValueError),
        (
            lambda: kd_lib.recall_at_distance(10, 8, 2, num_classes=1),
            ValueError,
        ),
    ],
)
def test_bad_input_raises_clear_errors(call, error):
    with pytest.raises(error):
        call()


def test_vowels_are_standardised_left_padded_and_split_by_speaker():
    s = kd_lib.vowels_splits()
    assert s.sizes() == {"train": 225, "val": 45, "test": 370}
    assert s.x_train.shape[1:] == (29, 12)
    assert torch.equal(torch.bincount(s.y_val), torch.full((9,), 5))
    # standardised with the training statistics: the real frames have mean
    # ~0, sd ~1
    frames = s.x_train.reshape(-1, 12)
    real = frames[frames.abs().sum(1) > 0]
    assert (
        real.mean(0).abs().max() < 0.05
        and (real.std(0) - 1).abs().max() < 0.05
    )
    # left-padded: every sequence ends on the last step
    assert (s.x_train[:, -1].abs().sum(1) > 0).all() and (
        s.x_test[:, -1].abs().sum(1) > 0
    ).all()


def test_ts_reader_parses_channels_and_labels(tmp_path):
    from kd_lib.data import _read_ts

    path = tmp_path / "toy.ts"
    path.write_text(
        "# comment\n@problemName toy\n@data\n1,2,3:4,5,6:2\n7,8:9,10:1\n"
    )
    sequences, labels = _read_ts(path)
    assert [tuple(s.shape) for s in sequences] == [(3, 2), (2, 2)]
    assert torch.equal(sequences[0][:, 1], torch.tensor([4.0, 5.0, 6.0]))
    assert labels.tolist() == [1, 0]


def _arrays(n=12, time=5, features=2, classes=3):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, time, features)).astype("float32")
    y = np.arange(n) % classes
    return x, y


def test_splits_from_your_own_arrays():
    x, y = _arrays()
    s = kd_lib.SequenceSplits.from_arrays(x, y, x[:6], y[:6], x[:3], y[:3])
    assert s.sizes() == {"train": 12, "val": 6, "test": 3}
    assert (
        s.x_train.dtype == torch.float32 and s.y_train.dtype == torch.long
    )
    assert s.x_train.shape == (12, 5, 2)


@pytest.mark.parametrize(
    "change, error, message",
    [
        (
            lambda a: a.update(x_train=a["x_train"][:, :, 0]),
            ValueError,
            "x_train must be",
        ),
        (
            lambda a: a["x_val"].__setitem__((0, 0, 0), float("nan")),
            ValueError,
            "x_val contains NaN",
        ),
        (
            lambda a: a.update(y_test=a["y_test"].astype("float32")),
            TypeError,
            "class labels",
        ),
        (
            lambda a: a.update(y_val=a["y_val"][:4]),
            ValueError,
            "one label per row",
        ),
        (
            lambda a: a.update(x_test=a["x_test"][:, :4]),
            ValueError,
            "x_test has",
        ),
        (
            lambda a: a["y_val"].__setitem__(0, 7),
            ValueError,
            r"labels \[7\] that y_train never uses",
        ),
        (
            lambda a: a.update(y_train=a["y_train"].astype(float)),
            TypeError,
            "got the float|got torch.float",
        ),
        (
            lambda a: a.update(y_train=[[0, 1]] * 12),
            TypeError,
            "hashable",
        ),
    ],
)
def test_splits_from_arrays_reject_bad_input_clearly(
    change, error, message
):
    x, y = _arrays()
    arrays = {
        "x_train": x.copy(),
        "y_train": y.copy(),
        "x_val": x[:6].copy(),
        "y_val": y[:6].copy(),
        "x_test": x[:3].copy(),
        "y_test": y[:3].copy(),
    }
    change(arrays)
    with pytest.raises(error, match=message):
        kd_lib.SequenceSplits.from_arrays(**arrays)


def test_splits_keep_your_own_label_names():
    x, _ = _arrays()
    names = ["shake", "tap", "wave"]
    y = [names[i % 3] for i in range(12)]
    s = kd_lib.SequenceSplits.from_arrays(x, y, x[:6], y[:6], x[:3], y[:3])
    assert s.class_names == names and s.num_classes == 3
    assert [s.names()[i] for i in s.y_train.tolist()] == y
    # integers that skip a value are classes too, in sorted order
    ints = [10 * (i % 3) for i in range(12)]
    s = kd_lib.SequenceSplits.from_arrays(
        x, ints, x[:6], ints[:6], x[:3], ints[:3]
    )
    assert s.class_names == [0, 10, 20] and s.y_train.max() == 2
    assert s.majority_share("test") == (0, pytest.approx(1 / 3))
