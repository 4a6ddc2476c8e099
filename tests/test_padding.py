"""Sequences of different lengths: padding a batch never changes what any
model computes for a sequence, in the forward pass, the gradients, the
grouped multi-seed network and the training loop."""

import numpy as np
import pytest
import torch

import kd_lib
from kd_lib.multiseed import (
    GroupedTCNClassifier,
    grouped_logits,
    hard_label_loss,
    train_grouped,
)
from kd_lib.padding import (
    Padded,
    make_padded_loader,
    pad_sequences,
    step_mask,
    to_left_padded,
    to_right_padded,
)

LENGTHS = [7, 19, 1, 12, 19, 3]


def _sequences(lengths=LENGTHS, features=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, features, generator=g) for n in lengths]


def _tcn(readout="last", seed=0, features=3, channels=(5, 6, 6)):
    # random weights with sizeable biases: the padding would show
    kd_lib.set_seed(seed)
    model = kd_lib.TCNClassifier(
        features, 4, list(channels), kernel_size=3, readout=readout
    )
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model.eval()


def _lstm(readout="last", features=3):
    kd_lib.set_seed(0)
    return kd_lib.LSTMClassifier(
        features, 4, hidden_size=8, readout=readout
    ).eval()


def _alone(model, sequences):
    with torch.no_grad():
        return [model(s[None])[0] for s in sequences]


# ------------------------------------------------------------ the helpers


def test_pad_sequences_pads_on_the_right_and_round_trips():
    sequences = _sequences()
    padded = pad_sequences(sequences)
    assert isinstance(padded, Padded)
    assert padded.values.shape == (6, 19, 3)
    assert padded.lengths.dtype == torch.int64
    assert padded.lengths.tolist() == LENGTHS
    for s, back in zip(sequences, padded.sequences()):
        assert torch.equal(s, back)
    assert (padded.values[2, 1:] == 0).all()
    assert pad_sequences(sequences, length=25).values.shape == (6, 25, 3)
    # NumPy arrays and integers are welcome, as float32
    ints = pad_sequences([np.arange(6).reshape(3, 2), np.ones((1, 2))])
    assert ints.values.dtype == torch.float32


@pytest.mark.parametrize(
    "sequences, error, message",
    [
        ([], ValueError, "at least one"),
        (torch.randn(3, 4, 2), TypeError, "list of"),
        (
            [torch.randn(4, 2), torch.randn(4)],
            ValueError,
            r"sequences\[1\]",
        ),
        ([torch.randn(0, 2)], ValueError, "at least one step"),
        (
            [torch.randn(4, 2), torch.randn(5, 3)],
            ValueError,
            r"3 features, but sequences\[0\] has 2",
        ),
        ([torch.ones(3, 2, dtype=torch.bool)], TypeError, "real numbers"),
    ],
)
def test_pad_sequences_rejects_bad_input(sequences, error, message):
    with pytest.raises(error, match=message):
        pad_sequences(sequences)


def test_left_and_right_padding_are_inverse_and_zero_the_padding():
    values, lengths = pad_sequences(_sequences())
    garbage = values.clone()
    garbage[step_mask(lengths, values.shape[1]).logical_not()] = 1e6
    left = to_left_padded(garbage, lengths)
    for i, n in enumerate(lengths.tolist()):
        assert torch.equal(left[i, -n:], values[i, :n])
        assert (left[i, :-n] == 0).all()
    assert torch.equal(to_right_padded(left, lengths), values)
    with pytest.raises(ValueError, match="lengths must hold"):
        to_left_padded(values, torch.tensor([3, 20, 1, 1, 1, 1]))


def test_padded_loader_shuffles_by_seed_and_pads_each_batch_alone():
    sequences = _sequences()
    labels = torch.arange(6)
    loader = make_padded_loader(
        sequences, labels, batch_size=2, shuffle=True, seed=3
    )
    batches = list(loader)
    again = [
        b[1].tolist()
        for b in make_padded_loader(
            sequences, labels, batch_size=2, shuffle=True, seed=3
        )
    ]
    assert [b[1].tolist() for b in batches] == again
    for padded, y in batches:
        assert isinstance(padded, Padded)
        # padded to the longest sequence of its own batch
        assert padded.values.shape[1] == int(padded.lengths.max())
        for seq, label in zip(padded.sequences(), y.tolist()):
            assert torch.equal(seq, sequences[label])
    # a Padded batch works as well as a list
    from_padded = make_padded_loader(pad_sequences(sequences), labels)
    first, y = next(iter(from_padded))
    assert torch.equal(first.values, pad_sequences(sequences).values)
    with pytest.raises(ValueError, match="5 rows for 6"):
        make_padded_loader(sequences, labels[:5])


# ------------------------------------------- padding changes no prediction


@pytest.mark.parametrize("kind", ["lstm", "tcn"])
@pytest.mark.parametrize("readout", ["last", "sequence"])
def test_padding_never_changes_a_prediction(kind, readout):
    sequences = _sequences()
    model = _lstm(readout) if kind == "lstm" else _tcn(readout)
    padded = pad_sequences(sequences, length=24)
    with torch.no_grad():
        out = model(*padded)
    for i, (s, alone) in enumerate(
        zip(sequences, _alone(model, sequences))
    ):
        got = out[i] if readout == "last" else out[i, : len(s)]
        torch.testing.assert_close(got, alone, atol=1e-5, rtol=1e-5)


def test_zero_padding_alone_would_not_be_enough_for_the_tcn():
    """The reason for the mask: left-padding with zeros but without the
    mask lets the biases light up the padded steps, which the sequence's
    first real steps then read."""
    model = _tcn()
    s = _sequences()[0]  # 7 steps, receptive field 29
    zeros = torch.zeros(10, 3)
    with torch.no_grad():
        alone = model(s[None])
        naive = model(torch.cat([zeros, s])[None])
        masked = model(torch.cat([s, zeros])[None], torch.tensor([7]))
    assert (naive - alone).abs().max() > 1e-3
    torch.testing.assert_close(masked, alone, atol=1e-5, rtol=1e-5)


def test_without_lengths_the_tcn_computes_what_it_always_did():
    model = _tcn()
    x = torch.randn(4, 30, 3)
    with torch.no_grad():
        plain = model.head(
            model.tcn.blocks(x.transpose(1, 2)).transpose(1, 2)[:, -1]
        )
        full = model(x, torch.full((4,), 30))
        assert torch.equal(model(x), plain)
    torch.testing.assert_close(full, plain, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("kind", ["lstm", "tcn"])
def test_padding_never_changes_a_gradient(kind):
    sequences = _sequences(lengths=[5, 11, 2])
    model = _lstm() if kind == "lstm" else _tcn()
    model.zero_grad()
    model(*pad_sequences(sequences, length=16)).square().sum().backward()
    padded_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    sum(model(s[None]).square().sum() for s in sequences).backward()
    for a, b in zip(padded_grads, model.parameters()):
        torch.testing.assert_close(a, b.grad, atol=1e-5, rtol=1e-4)


def test_grouped_students_read_each_sequence_at_its_end():
    students = [_tcn(seed=s) for s in (0, 1)]
    grouped = GroupedTCNClassifier.from_students(students).eval()
    sequences = _sequences()
    values, lengths = pad_sequences(sequences)
    # every model its own lengths: model 1 sees the batch reversed
    x = torch.stack([values, values.flip(0)])
    per_model = torch.stack([lengths, lengths.flip(0)])
    with torch.no_grad():
        out = grouped(x, per_model)
        shared = grouped_logits(grouped, values, 4, lengths=lengths)
    for m, student in enumerate(students):
        alone = torch.stack(_alone(student, sequences))
        torch.testing.assert_close(
            out[m], alone if m == 0 else alone.flip(0), atol=1e-5, rtol=0
        )
        torch.testing.assert_close(shared[m], alone, atol=1e-5, rtol=0)


def test_what_lies_in_the_padding_never_reaches_grouped_training():
    sequences = _sequences(lengths=[4, 9, 2, 9, 6, 1, 8, 3])
    values, lengths = pad_sequences(sequences)
    garbage = values.clone()
    garbage[step_mask(lengths, 9).logical_not()] = 50.0
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    trained = []
    for x in (values, garbage):
        kd_lib.set_seed(0)
        grouped = GroupedTCNClassifier.from_students(
            [kd_lib.make_student(3, 4, [4, 4]) for _ in range(2)]
        )
        train_grouped(
            grouped,
            x,
            {"labels": labels},
            [0, 1],
            epochs=2,
            lr=1e-2,
            loss_fn=hard_label_loss,
            batch_size=3,
            lengths=lengths,
            device="cpu",
        )
        trained.append(grouped.state_dict())
    for a, b in zip(trained[0].values(), trained[1].values()):
        assert torch.equal(a, b)


# ------------------------------------------------ training and the teacher


def test_teacher_logits_with_lengths_equal_each_sequence_alone():
    sequences = _sequences()
    teacher = _lstm()
    padded = pad_sequences(sequences)
    expected = torch.stack(_alone(teacher, sequences))
    for got in (
        kd_lib.teacher_logits(teacher, padded, batch_size=4),
        kd_lib.teacher_logits(
            teacher, padded.values, 4, lengths=padded.lengths
        ),
    ):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(TypeError, match="do not pass lengths"):
        kd_lib.teacher_logits(teacher, padded, lengths=padded.lengths)


def test_the_training_loop_takes_padded_batches():
    sequences = _sequences(lengths=[3, 8, 5, 8, 2, 6, 7, 4])
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    kd_lib.set_seed(0)
    model = kd_lib.TCNClassifier(3, 4, [4, 4])
    loader = make_padded_loader(
        sequences, labels, batch_size=3, shuffle=True, seed=0
    )
    history = kd_lib.train(
        model,
        loader,
        make_padded_loader(sequences, labels),
        epochs=2,
        show_progress=False,
        device="cpu",
    )
    assert history.epochs == 2
    expected = torch.stack(_alone(model, sequences))
    scores = kd_lib.evaluate(
        model, make_padded_loader(sequences, labels, batch_size=5)
    )
    loss = torch.nn.functional.cross_entropy(expected, labels)
    assert scores["loss"] == pytest.approx(float(loss), abs=1e-5)
    assert scores["accuracy"] == kd_lib.training.accuracy(expected, labels)
    tuned = kd_lib.train(
        model, loader, epochs=1, select_by="last", show_progress=False
    )
    assert tuned.epochs == 1


# --------------------------------------------------------- your own data


def _ragged(n, features=3, seed=0, classes=3):
    rng = np.random.default_rng(seed)
    x = [
        rng.normal(size=(int(rng.integers(2, 10)), features)).astype(
            "float32"
        )
        for _ in range(n)
    ]
    return x, np.arange(n) % classes


def test_splits_from_lists_of_sequences():
    x, y = _ragged(12)
    s = kd_lib.SequenceSplits.from_arrays(x, y, x[:6], y[:6], x[:3], y[:3])
    assert s.num_features == 3 and s.num_classes == 3
    assert s.lengths_train.tolist() == [len(a) for a in x]
    assert s.x_train.shape == (12, max(len(a) for a in x), 3)
    for a, back in zip(x, s.padded("train").sequences()):
        assert torch.equal(torch.as_tensor(a), back)
    # a list of equally long sequences needs no lengths
    same = [a[:2] for a in x]
    fixed = kd_lib.SequenceSplits.from_arrays(same, y, x, y, x[:3], y[:3])
    assert fixed.lengths_train is None
    assert fixed.padded("train").lengths.tolist() == [2] * 12


@pytest.mark.parametrize(
    "change, error, message",
    [
        (
            lambda a: a["x_train"].__setitem__(
                2, np.zeros((4, 5), "float32")
            ),
            ValueError,
            r"x_train\[2\] has 5 features, but x_train\[0\] has 3",
        ),
        (
            lambda a: a.update(x_val=[s[:, :2] for s in a["x_val"]]),
            ValueError,
            "x_val has 2 features, but x_train has 3",
        ),
        (
            lambda a: a["x_test"][1].__setitem__((0, 0), np.nan),
            ValueError,
            r"x_test\[1\] contains NaN",
        ),
        (
            lambda a: a["x_train"].__setitem__(
                0, np.zeros((0, 3), "float32")
            ),
            ValueError,
            r"x_train\[0\] is empty",
        ),
        (
            lambda a: a["x_val"].__setitem__(0, np.zeros(4, "float32")),
            ValueError,
            r"x_val\[0\] must be \(time, features\)",
        ),
        (lambda a: a.update(x_test=[]), ValueError, "at least one"),
        (
            lambda a: a["y_val"].__setitem__(0, 3),
            ValueError,
            "never uses",
        ),
        (
            lambda a: a.update(y_train=a["y_train"][:5]),
            ValueError,
            "one label per row",
        ),
    ],
)
def test_splits_from_lists_reject_bad_input_clearly(change, error, message):
    x, y = _ragged(12)
    arrays = {
        "x_train": [a.copy() for a in x],
        "y_train": y.copy(),
        "x_val": [a.copy() for a in x[:6]],
        "y_val": y[:6].copy(),
        "x_test": [a.copy() for a in x[:3]],
        "y_test": y[:3].copy(),
    }
    change(arrays)
    with pytest.raises(error, match=message):
        kd_lib.SequenceSplits.from_arrays(**arrays)


def test_splits_check_their_lengths():
    x = torch.randn(4, 6, 2)
    y = torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match="lengths must hold"):
        kd_lib.SequenceSplits(
            x, y, x, y, x, y, lengths_train=torch.tensor([1, 2, 7, 3])
        )
    with pytest.raises(ValueError, match="split must be"):
        kd_lib.SequenceSplits(x, y, x, y, x, y).padded("validation")
