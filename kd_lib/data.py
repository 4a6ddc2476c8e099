"""Data sets, all offline: scikit-learn's digits read as sequences, the
Japanese Vowels, a seeded generator for a long-range task, and your own
arrays.

Every sequence tensor is ``(batch, time, features)``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from .padding import (
    Padded,
    check_lengths,
    make_padded_loader,
    pad_sequences,
    to_left_padded,
)
from .utils import check_int, seeded_loader

__all__ = [
    "SequenceSplits",
    "digits_splits",
    "make_loader",
    "digits_loaders",
    "recall_at_distance",
    "load_japanese_vowels",
    "vowels_splits",
]

SPLITS = ("train", "val", "test")


@dataclass
class SequenceSplits:
    """Fixed train / validation / test tensors: ``x_*`` ``(n, time,
    features)``, ``y_*`` ``(n,)`` class indices, ``lengths_*`` ``(n,)`` the
    true lengths of right-padded sequences (None: all full length) and
    ``class_names[i]`` the label of class ``i`` (None: the indices)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    lengths_train: torch.Tensor | None = None
    lengths_val: torch.Tensor | None = None
    lengths_test: torch.Tensor | None = None
    class_names: list | None = None

    def __post_init__(self):
        for name in SPLITS:
            lengths = getattr(self, f"lengths_{name}")
            if lengths is not None:
                check_lengths(lengths, getattr(self, f"x_{name}"))

    def sizes(self) -> dict[str, int]:
        return {name: len(getattr(self, f"y_{name}")) for name in SPLITS}

    @property
    def num_features(self) -> int:
        """Features per time step (the student's ``input_size``)."""
        return self.x_train.shape[-1]

    @property
    def num_classes(self) -> int:
        """Classes: as many as :attr:`class_names`, else one more than the
        largest label of any split."""
        if self.class_names is not None:
            return len(self.class_names)
        return 1 + int(
            max(y.max() for y in (self.y_train, self.y_val, self.y_test))
        )

    def names(self) -> list:
        """The name of every class, in class-index order."""
        if self.class_names is not None:
            return list(self.class_names)
        return list(range(self.num_classes))

    def majority_share(self, split: str = "test") -> tuple[object, float]:
        """Chance, as the simplest classifier sees it: the most frequent
        class of the training set and its share of ``split``."""
        y = getattr(self, f"y_{_check_split(split)}")
        majority = int(torch.bincount(self.y_train).argmax())
        return self.names()[majority], (y == majority).float().mean().item()

    def padded(self, split: str) -> Padded:
        """Split ``"train"``, ``"val"`` or ``"test"`` as a
        :class:`kd_lib.Padded` ``(values, lengths)``, full lengths when
        the split has none."""
        x = getattr(self, f"x_{_check_split(split)}")
        lengths = getattr(self, f"lengths_{split}")
        if lengths is None:
            lengths = torch.full((len(x),), x.shape[1], dtype=torch.long)
        return Padded(x, lengths)

    def loader(self, split: str, **kwargs) -> DataLoader:
        """A loader over ``split``'s inputs and labels: batches ``(x, y)``
        of tensors, or ``(Padded, y)`` when the split's sequences differ
        in length (``kwargs``: those of :func:`make_loader`)."""
        y = getattr(self, f"y_{_check_split(split)}")
        if getattr(self, f"lengths_{split}") is None:
            return make_loader(getattr(self, f"x_{split}"), y, **kwargs)
        return make_padded_loader(self.padded(split), y, **kwargs)

    @classmethod
    def from_arrays(
        cls, x_train, y_train, x_val, y_val, x_test, y_test
    ) -> SequenceSplits:
        """Splits from your own arrays (NumPy, torch or lists), checked
        before any training: a ``ValueError`` or ``TypeError`` says which
        split is wrong and how. ``x_*``: ``(n, time, features)`` finite
        numbers, the same ``time`` and ``features`` in every split, or a
        list of ``n`` sequences ``(time_i, features)`` of different lengths,
        stored right-padded with their lengths. ``y_*``: ``n`` hashable
        class labels (integers, strings such as ``"shake"``, ...), not
        floats; the classes are the training set's distinct labels (sorted),
        kept as :attr:`class_names`, and the other splits may use only
        those."""
        inputs, targets = (x_train, x_val, x_test), (y_train, y_val, y_test)
        values, lengths, labels = {}, {}, {}
        for name, x, y in zip(SPLITS, inputs, targets):
            if isinstance(x, (list, tuple)):
                x, lengths[name] = _from_list(x, f"x_{name}")
            else:
                x = _checked_values(torch.as_tensor(x), f"x_{name}", 3)
            labels[name] = _label_list(y, f"y_{name}", len(x))
            values[name] = x
        _check_shapes(values, bool(lengths))
        classes = list(dict.fromkeys(labels["train"]))
        try:  # sorted when they can be, else in order of first appearance
            classes = sorted(classes)
        except TypeError:
            pass
        index = {c: i for i, c in enumerate(classes)}
        for name, ys in labels.items():
            unknown = [y for y in dict.fromkeys(ys) if y not in index]
            if unknown:
                raise ValueError(
                    f"y_{name} has labels {unknown[:5]} that y_train never "
                    f"uses; the classes are the training labels {classes}"
                )
        encoded = {
            name: torch.tensor([index[y] for y in ys], dtype=torch.long)
            for name, ys in labels.items()
        }
        return cls(
            *(t for name in SPLITS for t in (values[name], encoded[name])),
            **{f"lengths_{k}": v for k, v in lengths.items()},
            class_names=classes,
        )


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def _label_list(y, name: str, n: int) -> list:
    """The labels ``y`` as a list of ``n`` hashable values; floats (and
    anything not one-dimensional) are refused."""
    if isinstance(y, torch.Tensor) or hasattr(y, "dtype"):
        array = torch.as_tensor(y)
        if array.is_floating_point() or array.is_complex():
            raise TypeError(
                f"{name} must hold class labels (integers, strings, ...), "
                f"got {array.dtype}"
            )
        if array.dim() != 1:
            raise ValueError(
                f"{name} must be (n,), one label per row of "
                f"x_{name[2:]} ({n}), got shape {tuple(array.shape)}"
            )
        y = array.tolist()
    elif isinstance(y, str) or not hasattr(y, "__len__"):
        raise TypeError(
            f"{name} must be a list or array of labels, got "
            f"{type(y).__name__}"
        )
    y = list(y)
    for label in y:
        if isinstance(label, float):
            raise TypeError(
                f"{name} must hold class labels (integers, strings, ...), "
                f"got the float {label!r}"
            )
        try:
            hash(label)
        except TypeError:
            raise TypeError(
                f"{name} must hold hashable labels, got {label!r}"
            ) from None
    if len(y) != n:
        raise ValueError(
            f"{name} must be (n,), one label per row of x_{name[2:]} "
            f"({n}), got {len(y)} labels"
        )
    return y


def _check_shapes(values: dict, variable: bool) -> None:
    shape = values["train"].shape[1:]
    for name, x in values.items():
        if variable and x.shape[-1] != shape[-1]:
            raise ValueError(
                f"x_{name} has {x.shape[-1]} features, but x_train "
                f"has {shape[-1]}"
            )
        if not variable and x.shape[1:] != shape:
            raise ValueError(
                f"x_{name} has (time, features) = {tuple(x.shape[1:])}, "
                f"but x_train has {tuple(shape)}"
            )


def _checked_values(x: torch.Tensor, name: str, ndim: int) -> torch.Tensor:
    """``x`` as float32 after checking its rank, dtype and finiteness."""
    if x.dim() != ndim:
        want = "(n, time, features)" if ndim == 3 else "(time, features)"
        raise ValueError(
            f"{name} must be {want}, got shape {tuple(x.shape)}"
        )
    if not (x.is_floating_point() or x.dtype in (torch.int32, torch.int64)):
        raise TypeError(f"{name} must hold numbers, got {x.dtype}")
    x = x.float()
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _from_list(sequences, name: str):
    """Check a list of ``(time_i, features)`` sequences and pad them on
    the right: ``(values, lengths)``, lengths None when all are equal."""
    values, lengths = pad_sequences(
        [
            _checked_values(torch.as_tensor(s), f"{name}[{i}]", 2)
            for i, s in enumerate(sequences)
        ],
        name=name,
    )
    return values, None if (lengths == lengths[0]).all() else lengths


def digits_splits(
    permuted: bool = False,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    split_seed: int = 0,
) -> SequenceSplits:
    """scikit-learn's 1,797 handwritten 8×8 digits, read pixel by pixel as
    64 steps of one feature in [0, 1], in fixed, stratified train / val /
    test splits that depend only on ``split_seed`` (never on the global
    seed), so every chapter and seed sees the same test set.
    ``permuted=True`` shuffles the pixels by one fixed permutation,
    scattering neighbouring pixels far apart in time (permuted MNIST)."""
    fractions = (val_fraction, test_fraction, val_fraction + test_fraction)
    if not all(0.0 < f < 1.0 for f in fractions):
        raise ValueError(
            "need val_fraction, test_fraction > 0 and their sum < 1, got "
            f"{val_fraction} and {test_fraction}"
        )
    # ships inside scikit-learn: no download
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)
    if permuted:
        permutation = torch.Generator().manual_seed(0)
        x = x[:, torch.randperm(64, generator=permutation)]
    x = x.unsqueeze(-1)
    generator = torch.Generator().manual_seed(split_seed)
    parts = {"train": [], "val": [], "test": []}
    # stratify: each split has every class in proportion
    for label in range(10):
        idx = torch.nonzero(y == label).flatten()
        idx = idx[torch.randperm(len(idx), generator=generator)]
        n_test = round(test_fraction * len(idx))
        n_val = round(val_fraction * len(idx))
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    idx = {k: torch.sort(torch.cat(v)).values for k, v in parts.items()}
    return SequenceSplits(*(t[idx[k]] for k in SPLITS for t in (x, y)))


def make_loader(
    *tensors: torch.Tensor,
    batch_size: int = 64,
    shuffle: bool = False,
    seed: int | None = None,
) -> DataLoader:
    """A DataLoader over equally long tensors (such as ``x, y`` or ``x, y,
    teacher_logits``), shuffled (``shuffle=True``) by its own generator
    seeded by ``seed`` (or by the global seed), so runs repeat."""
    if not tensors:
        raise ValueError("make_loader needs at least one tensor")
    for i, t in enumerate(tensors):
        if not isinstance(t, torch.Tensor):
            raise TypeError(
                f"argument {i} must be a torch.Tensor, got "
                f"{type(t).__name__}"
            )
    if any(len(t) != len(tensors[0]) for t in tensors):
        raise ValueError(
            "all tensors must have the same length, got "
            f"{[len(t) for t in tensors]}"
        )
    return seeded_loader(TensorDataset(*tensors), batch_size, shuffle, seed)


def digits_loaders(
    batch_size: int = 64, permuted: bool = False, seed: int | None = None
):
    """Train (shuffled), validation and test loaders for sequential
    digits."""
    s = digits_splits(permuted=permuted)
    return (
        s.loader("train", batch_size=batch_size, shuffle=True, seed=seed),
        s.loader("val", batch_size=256),
        s.loader("test", batch_size=256),
    )


def recall_at_distance(
    num_samples: int,
    length: int,
    distance: int,
    num_classes: int = 4,
    seed: int = 0,
):
    """Recall the symbol seen ``distance`` steps before the last one:
    ``x`` ``(num_samples, length, num_classes)`` holds a random one-hot
    symbol at every step, ``y`` ``(num_samples,)`` the symbol at time
    ``length - 1 - distance``. Nothing else in the sequence carries
    information about it, so a model that cannot see that far back is at
    chance (``1 / num_classes``) exactly."""
    check_int(num_samples, "num_samples")
    check_int(length, "length")
    check_int(num_classes, "num_classes", minimum=2)
    check_int(distance, "distance", minimum=0)
    if distance >= length:
        raise ValueError(
            f"distance must lie in [0, length - 1] = [0, {length - 1}], "
            f"got {distance}"
        )
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(
        0, num_classes, (num_samples, length), generator=g
    )
    y = tokens[:, length - 1 - distance].clone()
    return torch.nn.functional.one_hot(tokens, num_classes).float(), y


def _read_ts(path) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Read a ``.ts`` file of the UEA/UCR archive: one sequence per line,
    channels separated by ``:``, values by ``,``, the class label last."""
    sequences, labels = [], []
    in_data = False
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            in_data = line.lower() == "@data"
            continue
        *channels, label = line.split(":")
        sequences.append(
            torch.tensor(
                [[float(v) for v in c.split(",")] for c in channels]
            ).T
        )
        labels.append(int(label) - 1)  # classes 1..9 -> 0..8
    return sequences, torch.tensor(labels)


def load_japanese_vowels():
    """UCI's Japanese Vowels (Kudo, Toyama & Shimbo 1999): nine speakers
    say /ae/, each utterance 7 to 29 frames of 12 LPC cepstrum
    coefficients; the task is to name the speaker. Read from the copy
    inside the ``sktime`` wheel (no download, no sktime import). Returns
    ``(train, test)``: 270 and 370 utterances, each a list of ``(time,
    12)`` tensors and a ``(n,)`` tensor of labels 0..8."""
    spec = importlib.util.find_spec("sktime")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the Japanese Vowels data ship inside the 'sktime' package: "
            "pip install -r requirements.txt"
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    folder = folder / "datasets" / "data" / "JapaneseVowels"
    return (
        _read_ts(folder / "JapaneseVowels_TRAIN.ts"),
        _read_ts(folder / "JapaneseVowels_TEST.ts"),
    )


def vowels_splits(
    val_per_class: int = 5, split_seed: int = 0, padding: str = "left"
) -> SequenceSplits:
    """Japanese Vowels as train / validation / test splits:
    ``val_per_class`` utterances of each speaker move from the training
    set to validation (the test set is the archive's own); features are
    standardised with the training set's mean and standard deviation.
    ``padding="left"``: left-padded with zeros (the training mean) to the
    longest length, 29, every model reading all 29 steps; ``"none"``: each
    utterance keeps its own length (right-padded values and ``lengths_*``),
    so the LSTM packs them and the TCN masks the padding."""
    check_int(val_per_class, "val_per_class")
    if padding not in ("left", "none"):
        raise ValueError(
            f"padding must be 'left' or 'none', got {padding!r}"
        )
    (train_seqs, y_train), (test_seqs, y_test) = load_japanese_vowels()
    generator = torch.Generator().manual_seed(split_seed)
    is_val = torch.zeros(len(y_train), dtype=torch.bool)
    for speaker in range(9):
        idx = torch.nonzero(y_train == speaker).flatten()
        order = torch.randperm(len(idx), generator=generator)
        is_val[idx[order[:val_per_class]]] = True
    train = [s for s, v in zip(train_seqs, is_val) if not v]
    val = [s for s, v in zip(train_seqs, is_val) if v]
    frames = torch.cat(train)
    mean, std = frames.mean(0), frames.std(0)
    parts = [
        ([(s - mean) / std for s in seqs], labels)
        for seqs, labels in (
            (train, y_train[~is_val]),
            (val, y_train[is_val]),
            (test_seqs, y_test),
        )
    ]
    if padding == "none":
        return SequenceSplits.from_arrays(*(a for p in parts for a in p))
    length = max(len(s) for s in train_seqs + test_seqs)
    return SequenceSplits(
        *(
            a
            for seqs, labels in parts
            for a in (to_left_padded(*pad_sequences(seqs, length)), labels)
        )
    )
