"""Several seeds of one small TCN, trained at once as a single grouped
network.

A comparison worth making needs five or more seeds, and a 2,000-parameter
TCN is far too small to keep a CPU busy: each training step is mostly
per-operator overhead. :class:`GroupedTCNClassifier` stacks ``S``
students along the channel axis as one network whose convolutions have
``groups=S``, so model ``s`` only ever sees its own channels. Each model
gets its own batches, its own initial weights and, since Adam works
element by element and the loss is the sum of the per-model losses, its
own trajectory: training the group is the same computation as training
the ``S`` students one after another (a unit test checks it), at roughly
the cost of one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .models import TCNClassifier, TemporalBlock
from .padding import check_lengths, step_mask, to_left_padded
from .training import fit
from .utils import check_int, check_tensor, get_device

__all__ = [
    "GroupedTCNClassifier",
    "GroupedHistory",
    "train_grouped",
    "grouped_logits",
]


class GroupedTCNClassifier(nn.Module):
    """``models`` independent :class:`kd_lib.TCNClassifier`
    (``readout="last"``, no dropout) evaluated as one network: ``(models,
    batch, time, input_size) -> (models, batch, num_classes)``, model ``s``
    reading its own batch ``x[s]``. ``lengths`` ``(models, batch)`` (or
    ``(batch,)`` for all) reads right-padded sequences at their true ends,
    as :class:`kd_lib.TCNClassifier` does."""

    def __init__(
        self,
        models: int,
        input_size: int,
        num_classes: int,
        channels: list[int],
        kernel_size: int = 3,
    ):
        super().__init__()
        check_int(models, "models")
        check_int(input_size, "input_size")
        check_int(num_classes, "num_classes")
        if not channels or any(c < 1 for c in channels):
            raise ValueError(
                "channels must be a non-empty list of positive widths, "
                f"got {channels}"
            )
        # the book's temporal blocks, each convolution grouped by model
        widths = [models * w for w in (input_size, *channels)]
        self.blocks = nn.Sequential(
            *[
                TemporalBlock(w_in, w_out, kernel_size, 2**i, groups=models)
                for i, (w_in, w_out) in enumerate(zip(widths, widths[1:]))
            ]
        )
        self.head_weight = nn.Parameter(
            torch.zeros(models, num_classes, channels[-1])
        )
        self.head_bias = nn.Parameter(torch.zeros(models, num_classes))
        self.models, self.input_size = models, input_size
        self.num_classes, self.kernel_size = num_classes, kernel_size
        self.channels = list(channels)

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        check_tensor(x, "x", ndim=4, floating=True)
        s, b, t, f = x.shape
        if s != self.models or f != self.input_size:
            raise ValueError(
                f"x must be (models={self.models}, batch, time, "
                f"features={self.input_size}), got {tuple(x.shape)}"
            )
        mask = None
        if lengths is not None:
            check_tensor(lengths, "lengths", ndim=(1, 2), floating=False)
            if lengths.dim() == 1:
                lengths = lengths.expand(s, -1)
            check_lengths(lengths, x, batch_dims=2)
            lengths = lengths.to(x.device)
            # every sequence ends on the last step; (B, S, T) of real steps
            x = to_left_padded(
                x.reshape(s * b, t, f), lengths.reshape(-1)
            ).reshape(s, b, t, f)
            mask = step_mask(lengths, t, "left").transpose(0, 1).to(x.dtype)
        # (S, B, T, F) -> (B, S*F, T): model s owns the s-th F channels
        h = x.permute(1, 0, 3, 2).reshape(b, s * f, t)
        if mask is None:
            h = self.blocks(h)
        else:
            for block in self.blocks:
                h = block(h, mask)
        last = h[:, :, -1].reshape(b, s, -1).transpose(0, 1)  # (S, B, C)
        return (
            torch.einsum("sbc,skc->sbk", last, self.head_weight)
            + self.head_bias[:, None]
        )

    def steps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every model's features ``(models, batch, time, channels)`` and
        logits ``(models, batch, time, classes)`` after every step (full
        length sequences), as :meth:`kd_lib.TCNClassifier.steps` gives."""
        check_tensor(x, "x", ndim=4, floating=True)
        s, b, t, f = x.shape
        h = self.blocks(x.permute(1, 0, 3, 2).reshape(b, s * f, t))
        features = h.reshape(b, s, -1, t).permute(1, 0, 3, 2)
        logits = torch.einsum("sbtc,skc->sbtk", features, self.head_weight)
        return features, logits + self.head_bias[:, None, None]

    def add_hint_map(self, size: int) -> None:
        """Give every model a linear map from its last block's features to
        ``size`` numbers (the teacher's hidden state), trained with it and
        thrown away after training: ``hint_weight`` ``(models, size,
        channels)`` and ``hint_bias`` ``(models, size)``."""
        check_int(size, "size")
        channels = self.channels[-1]
        bound = 1.0 / channels**0.5  # as nn.Linear initialises
        weight = torch.empty(self.models, size, channels).uniform_(
            -bound, bound
        )
        self.hint_weight = nn.Parameter(weight)
        self.hint_bias = nn.Parameter(torch.zeros(self.models, size))

    def squared_norms(self) -> torch.Tensor:
        """``(models,)``: each model's sum of squared parameters (every
        parameter's rows, or first axis, are split evenly by model), all
        but the directions of the weight-normalised convolutions: their
        scale does not change the function, and shrinking it would only
        inflate their gradients until training diverges."""
        return sum(
            p.reshape(self.models, -1).pow(2).sum(1)
            for name, p in self.named_parameters()
            if not name.endswith("original1")
        )

    @classmethod
    def from_students(
        cls, students: list[TCNClassifier]
    ) -> GroupedTCNClassifier:
        """Stack ``students`` (same architecture, ``readout="last"``) into
        one grouped network: model ``s``'s weights are student ``s``'s."""
        if not students or not all(
            isinstance(m, TCNClassifier) for m in students
        ):
            raise TypeError(
                "students must be a non-empty list of kd_lib.TCNClassifier"
            )
        if any(m.readout != "last" for m in students):
            raise ValueError("only readout='last' students can be grouped")
        first = students[0]
        channels = [
            block.conv2.conv.out_channels for block in first.tcn.blocks
        ]
        grouped = cls(
            len(students),
            first.tcn.input_size,
            first.head.out_features,
            channels,
            first.tcn.kernel_size,
        )
        states = [m.state_dict() for m in students]
        # a block weight's rows are output channels: model s owns the
        # s-th slice of them, so the students' tensors are concatenated
        grouped.load_state_dict(
            {
                name: torch.cat([s[f"tcn.{name}"] for s in states])
                for name in grouped.state_dict()
                if name.startswith("blocks.")
            }
            | {
                "head_weight": torch.stack(
                    [s["head.weight"] for s in states]
                ),
                "head_bias": torch.stack([s["head.bias"] for s in states]),
            }
        )
        return grouped

    def to_students(self) -> list[TCNClassifier]:
        """The ``models`` students as separate :class:`kd_lib.TCNClassifier`
        (on the CPU, eval mode)."""
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        students = []
        for s in range(self.models):
            student = TCNClassifier(
                self.input_size,
                self.num_classes,
                self.channels,
                self.kernel_size,
            )
            student.load_state_dict(
                {
                    f"tcn.{name}": value.chunk(self.models)[s]
                    for name, value in state.items()
                    if name.startswith("blocks.")
                }
                | {
                    "head.weight": state["head_weight"][s],
                    "head.bias": state["head_bias"][s],
                }
            )
            students.append(student.eval())
        return students


@dataclass
class GroupedHistory:
    """Per-epoch curves of a grouped run, ``train_loss[e][s]`` and
    ``val_accuracy[e][s]`` (epoch ``e``, model ``s``), and its seconds."""

    train_loss: list[list[float]] = field(default_factory=list)
    val_accuracy: list[list[float]] = field(default_factory=list)
    val_epochs: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def final_slope(self, window: int = 10) -> list[float]:
        """Per model: change of validation accuracy per epoch over the last
        ``window`` validation points (a least-squares slope): near 0 when
        the curve is flat at the end of the budget."""
        if len(self.val_epochs) < 2:
            raise ValueError("need at least two validation points")
        xs = torch.tensor(self.val_epochs[-window:], dtype=torch.float64)
        # (points, models)
        ys = torch.tensor(self.val_accuracy[-window:], dtype=torch.float64)
        xc = xs - xs.mean()
        return (
            (xc[:, None] * (ys - ys.mean(0))).sum(0) / (xc**2).sum()
        ).tolist()


@torch.no_grad()
def grouped_logits(
    model: GroupedTCNClassifier,
    x: torch.Tensor,
    batch_size: int = 512,
    *,
    lengths: torch.Tensor | None = None,
) -> torch.Tensor:
    """Every model's logits ``(models, n, classes)`` on the same inputs
    ``x`` ``(n, time, features)``, right-padded with ``lengths`` ``(n,)``
    when they differ in length."""
    check_tensor(x, "x", ndim=3, floating=True)
    if lengths is not None:
        check_lengths(lengths, x)
    was_training = model.training
    model.eval()
    device = model.head_bias.device
    out = []
    for i in range(0, len(x), batch_size):
        part = None if lengths is None else lengths[i : i + batch_size]
        values = x[i : i + batch_size]
        if part is not None:
            values = values[:, : int(part.max())]
        values = values.to(device).expand(model.models, -1, -1, -1)
        out.append(model(values, part).cpu())
    model.train(was_training)
    return torch.cat(out, dim=1)


def _batch_order(
    n: int, seeds: list[int], epochs: int
) -> list[torch.Tensor]:
    """One shuffling order per seed and epoch, from each seed's own
    generator."""
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    return [
        torch.stack([torch.randperm(n, generator=g) for g in generators])
        for _ in range(epochs)
    ]


def _check_grouped(model, x, targets, seeds, x_val, y_val, lengths):
    check_tensor(x, "x", ndim=3, floating=True)
    if len(seeds) != model.models:
        raise ValueError(
            f"need one seed per model: {len(seeds)} seeds for "
            f"{model.models} models"
        )
    n = len(x)
    for name, t in targets.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(
                f"target {name!r} must be a torch.Tensor, got "
                f"{type(t).__name__}"
            )
        if not (
            len(t) == n
            or (t.dim() >= 2 and t.shape[:2] == (model.models, n))
        ):
            raise ValueError(
                f"target {name!r} must have {n} rows (or shape "
                f"(models={model.models}, {n}, ...)), got {tuple(t.shape)}"
            )
    if (x_val is None) != (y_val is None):
        raise ValueError("pass both x_val and y_val, or neither")
    if lengths is not None:
        check_lengths(lengths, x)


def _per_model(value, models: int, name: str) -> list:
    """``value`` repeated for every model, or its list of one per model."""
    if isinstance(value, (list, tuple)):
        if len(value) != models:
            raise ValueError(
                f"{name} must be one value or one per model ({models}), "
                f"got {len(value)}"
            )
        return list(value)
    return [value] * models


def train_grouped(
    model: GroupedTCNClassifier,
    x: torch.Tensor,
    targets: dict[str, torch.Tensor],
    seeds: list[int],
    *,
    epochs: int,
    lr: float,
    loss_fn,
    weight_decay: float | list[float] = 0.0,
    batch_size: int = 64,
    cosine_schedule: bool = True,
    x_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    val_every: int = 1,
    device: torch.device | str | None = None,
    lengths: torch.Tensor | None = None,
    val_lengths: torch.Tensor | None = None,
    steps: bool = False,
) -> GroupedHistory:
    """Train every model of ``model`` on the same inputs ``x`` ``(n,
    time, features)``, model ``s`` in seed ``s``'s batch order, with
    :func:`kd_lib.training.fit`: Adam, an optional half-cosine decay to 0,
    no clipping, the last epoch kept (no validation labels pick anything).

    - ``targets``: one row per input, such as ``{"labels": y, "targets":
      soft}``, or ``(models, n, ...)`` to give every model its own rows.
    - ``loss_fn(logits, **batch_targets)`` (or a list, one per model): a
      model's loss on ``(B, classes)`` logits; the losses are summed, so
      each model gets its own gradient. With ``steps=True`` it gets
      ``(features, step_logits, **batch_targets)`` at every step.
    - ``weight_decay`` (one value or one per model): model ``s``'s loss
      gets ``weight_decay[s] / 2`` times its squared weights (what Adam's
      ``weight_decay`` adds, model by model), the directions of the
      weight-normalised convolutions excepted.
    - ``lengths`` / ``val_lengths`` ``(n,)``: true lengths of right-padded
      sequences. ``val_every``: epochs between validation points.
    """
    _check_grouped(model, x, targets, seeds, x_val, y_val, lengths)
    check_int(batch_size, "batch_size")
    check_int(val_every, "val_every")
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    step = _GroupedStep(model, x, targets, lengths, device, steps)
    step.losses = _per_model(loss_fn, model.models, "loss_fn")
    step.decay = torch.tensor(
        _per_model(weight_decay, model.models, "weight_decay"),
        device=device,
    )
    history, orders = GroupedHistory(), _batch_order(len(x), seeds, epochs)

    def batches(epoch):
        step.totals.zero_()
        order = orders[epoch].to(device)
        for i in range(0, len(x), batch_size):
            yield order[:, i : i + batch_size]  # (S, B): model s's batch

    def after_epoch(epoch):
        history.train_loss.append((step.totals / len(x)).tolist())
        last = epoch == epochs - 1
        if x_val is not None and ((epoch + 1) % val_every == 0 or last):
            z = grouped_logits(model, x_val, lengths=val_lengths)
            right = z.argmax(-1) == y_val.to(z.device)
            history.val_epochs.append(epoch + 1)
            history.val_accuracy.append(right.float().mean(1).tolist())

    start = time.perf_counter()
    fit(
        model,
        batches,
        step,
        epochs=epochs,
        lr=lr,
        after_epoch=after_epoch,
        cosine_steps=epochs if cosine_schedule else None,
    )
    history.seconds = time.perf_counter() - start
    return history


class _GroupedStep:
    """The loss of one grouped batch: every model's own loss on its own
    rows, plus its weight decay; keeps each model's running data loss."""

    def __init__(self, model, x, targets, lengths, device, steps):
        if steps and lengths is not None:
            raise ValueError("steps=True needs full-length sequences")
        n = len(x)
        self.model, self.steps = model, steps
        self.x = x.to(device)
        self.lengths = None if lengths is None else lengths.to(device)
        # a target with a leading models axis gives every model its own rows
        self.per_model = {
            k: t.dim() >= 2
            and t.shape[:2] == (model.models, n)
            and len(t) != n
            for k, t in targets.items()
        }
        self.targets = {k: t.to(device) for k, t in targets.items()}
        self.rows = torch.arange(model.models, device=device)[:, None]
        self.totals = torch.zeros(model.models, device=device)

    def _outputs(self, idx):
        """Per model, the arguments its loss takes before the targets."""
        model = self.model
        if self.steps:
            return list(zip(*model.steps(self.x[idx])))
        if self.lengths is None:
            return [(row,) for row in model(self.x[idx])]
        part = self.lengths[idx]
        return [
            (row,) for row in model(self.x[idx, : int(part.max())], part)
        ]

    def __call__(self, idx):
        model = self.model
        outputs = self._outputs(idx)
        batch = {
            k: (t[self.rows, idx] if self.per_model[k] else t[idx])
            for k, t in self.targets.items()
        }
        data = torch.stack(
            [
                loss(*outputs[s], **{k: v[s] for k, v in batch.items()})
                for s, loss in enumerate(self.losses)
            ]
        )
        self.totals.add_(data.detach() * idx.shape[1])
        total = data.sum()
        if bool(self.decay.any()):
            total = total + 0.5 * (self.decay * model.squared_norms()).sum()
        return total, idx.shape[1]


def hard_label_loss(
    logits: torch.Tensor, labels: torch.Tensor, **_ignored
) -> torch.Tensor:
    """Cross-entropy on ``labels``."""
    return F.cross_entropy(logits, labels)
