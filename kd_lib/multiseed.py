"""Several seeds of one small TCN, trained at once as a
single grouped network.

A comparison worth making needs five or more seeds, and a 2,000-parameter
TCN is far too small to keep a CPU busy: each training step is mostly
per-operator overhead. :class:`GroupedTCNClassifier` stacks ``S``
independent students along the channel axis and runs them as one network
whose convolutions have ``groups=S``, so that model ``s`` only ever sees its
own channels. Each model gets its own batch (its own shuffling order), its
own initial weights (built by :func:`kd_lib.pipeline.make_student` after
seeding with its seed) and, since Adam works element by element and the loss
is the sum of the per-model losses, its own optimisation trajectory:
training the group is the same computation as training the ``S`` students
one after another (a unit test checks it), at roughly the cost of one.

Shapes: inputs ``(models, batch, time, features)``, logits
``(models, batch, classes)``. Sequences of different lengths come
right-padded with their ``lengths`` (see :mod:`kd_lib.padding`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .distill import UNLABELLED
from .models import TCNClassifier, TemporalBlock
from .padding import check_lengths, step_mask, to_left_padded
from .utils import check_int, check_tensor, get_device

__all__ = [
    "GroupedTCNClassifier",
    "GroupedHistory",
    "train_grouped",
    "grouped_logits",
]


class GroupedTCNClassifier(nn.Module):
    """``models`` independent :class:`kd_lib.TCNClassifier`
    (``readout="last"``, no dropout) evaluated as one network.

    Shapes: ``(models, batch, time, input_size) -> (models, batch,
    num_classes)``; batch ``b`` of model ``s`` is ``x[s, b]``, so every
    model can see different examples. Build it from trained or freshly
    seeded students with :meth:`from_students`, and take them apart again
    with :meth:`to_students`. ``lengths`` ``(models, batch)`` (or
    ``(batch,)``, the same for every model) reads right-padded sequences
    at their true ends, exactly as :class:`kd_lib.TCNClassifier` does.
    """

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
        widths = [input_size, *channels]
        # the book's temporal blocks, each convolution grouped by model
        self.blocks = nn.Sequential(
            *[
                TemporalBlock(
                    models * widths[i],
                    models * widths[i + 1],
                    kernel_size,
                    dilation=2**i,
                    groups=models,
                )
                for i in range(len(channels))
            ]
        )
        self.head_weight = nn.Parameter(
            torch.zeros(models, num_classes, channels[-1])
        )
        self.head_bias = nn.Parameter(torch.zeros(models, num_classes))
        self.models, self.input_size, self.num_classes = (
            models,
            input_size,
            num_classes,
        )
        self.channels, self.kernel_size = list(channels), kernel_size

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
        # (S, B, T, F) -> (B, S*F, T): model s owns channels s*F ...
        # (s+1)*F - 1
        h = x.permute(1, 0, 3, 2).reshape(b, s * f, t)
        if mask is None:
            h = self.blocks(h)
        else:
            for block in self.blocks:
                h = block(h, mask)
        # (S, B, C_last)
        last = h[:, :, -1].reshape(b, s, -1).transpose(0, 1)
        return (
            torch.einsum("sbc,skc->sbk", last, self.head_weight)
            + self.head_bias[:, None]
        )

    # ----------------------------------------------------------- conversion

    @classmethod
    def from_students(
        cls, students: list[TCNClassifier]
    ) -> GroupedTCNClassifier:
        """Stack ``students`` (same architecture, ``readout="last"``) into
        one grouped network."""
        if not students or not all(
            isinstance(m, TCNClassifier) for m in students
        ):
            raise TypeError(
                "students must be a non-empty list of kd_lib.TCNClassifier"
            )
        first = students[0]
        channels = [
            block.conv2.conv.parametrizations.weight.original1.shape[0]
            for block in first.tcn.blocks
        ]
        grouped = cls(
            len(students),
            first.tcn.input_size,
            first.head.out_features,
            channels,
            first.tcn.kernel_size,
        )
        if any(m.readout != "last" for m in students):
            raise ValueError("only readout='last' students can be grouped")
        with torch.no_grad():
            for level, block in enumerate(grouped.blocks):
                for name in ("conv1", "conv2"):
                    target = getattr(
                        block, name
                    ).conv.parametrizations.weight
                    sources = [
                        getattr(m.tcn.blocks[level], name).conv
                        for m in students
                    ]
                    target.original0.copy_(
                        torch.cat(
                            [
                                c.parametrizations.weight.original0
                                for c in sources
                            ]
                        )
                    )
                    target.original1.copy_(
                        torch.cat(
                            [
                                c.parametrizations.weight.original1
                                for c in sources
                            ]
                        )
                    )
                    getattr(block, name).conv.bias.copy_(
                        torch.cat([c.bias for c in sources])
                    )
                if isinstance(block.downsample, nn.Conv1d):
                    sources = [
                        m.tcn.blocks[level].downsample for m in students
                    ]
                    block.downsample.weight.copy_(
                        torch.cat([c.weight for c in sources])
                    )
                    block.downsample.bias.copy_(
                        torch.cat([c.bias for c in sources])
                    )
            grouped.head_weight.copy_(
                torch.stack([m.head.weight for m in students])
            )
            grouped.head_bias.copy_(
                torch.stack([m.head.bias for m in students])
            )
        return grouped

    def to_students(self) -> list[TCNClassifier]:
        """The ``models`` students as separate :class:`kd_lib.TCNClassifier`
        (on the CPU, eval mode)."""
        students = [
            TCNClassifier(
                self.input_size,
                self.num_classes,
                self.channels,
                self.kernel_size,
            )
            for _ in range(self.models)
        ]
        with torch.no_grad():
            for level, block in enumerate(self.blocks):
                for name in ("conv1", "conv2"):
                    source = getattr(block, name).conv
                    g = (
                        source.parametrizations.weight.original0.detach()
                        .cpu()
                        .chunk(self.models)
                    )
                    v = (
                        source.parametrizations.weight.original1.detach()
                        .cpu()
                        .chunk(self.models)
                    )
                    bias = source.bias.detach().cpu().chunk(self.models)
                    for s, m in enumerate(students):
                        target = getattr(m.tcn.blocks[level], name).conv
                        target.parametrizations.weight.original0.copy_(g[s])
                        target.parametrizations.weight.original1.copy_(v[s])
                        target.bias.copy_(bias[s])
                if isinstance(block.downsample, nn.Conv1d):
                    w = (
                        block.downsample.weight.detach()
                        .cpu()
                        .chunk(self.models)
                    )
                    bias = (
                        block.downsample.bias.detach()
                        .cpu()
                        .chunk(self.models)
                    )
                    for s, m in enumerate(students):
                        m.tcn.blocks[level].downsample.weight.copy_(w[s])
                        m.tcn.blocks[level].downsample.bias.copy_(bias[s])
            for s, m in enumerate(students):
                m.head.weight.copy_(self.head_weight[s])
                m.head.bias.copy_(self.head_bias[s])
        return [m.eval() for m in students]


@dataclass
class GroupedHistory:
    """Per-epoch curves of a grouped run: ``train_loss[e][s]`` and
    ``val_accuracy[e][s]`` for epoch ``e`` and model ``s``, and the
    wall-clock seconds of the whole run."""

    train_loss: list[list[float]] = field(default_factory=list)
    val_accuracy: list[list[float]] = field(default_factory=list)
    val_epochs: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def final_slope(self, window: int = 10) -> list[float]:
        """Per model: change of validation accuracy per epoch over the last
        ``window`` validation points (a least-squares slope): near 0 once
        training has converged."""
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
    """Every model's logits on the same inputs ``x``
    ``(n, time, features)``: ``(models, n, classes)``. ``lengths``
    ``(n,)``: the true lengths of right-padded sequences."""
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
    """One shuffling order per seed and epoch, from each
    seed's own generator."""
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    return [
        torch.stack([torch.randperm(n, generator=g) for g in generators])
        for _ in range(epochs)
    ]


def train_grouped(
    model: GroupedTCNClassifier,
    x: torch.Tensor,
    targets: dict[str, torch.Tensor],
    seeds: list[int],
    *,
    epochs: int,
    lr: float,
    loss_fn,
    batch_size: int = 64,
    cosine_schedule: bool = True,
    x_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    val_every: int = 1,
    device: torch.device | str | None = None,
    lengths: torch.Tensor | None = None,
    val_lengths: torch.Tensor | None = None,
) -> GroupedHistory:
    """Train every model of ``model`` on the same training set,
    each in its own order.

    - ``x`` ``(n, time, features)``: the training inputs,
      shared by every model.
    - ``targets``: tensors with one row per input (for example
      ``{"labels": y}`` or ``{"labels": y, "teacher_logits": z}``); each may
      also carry a leading ``models`` axis, ``(models, n, ...)``, to give
      every model its own targets.
    - ``loss_fn(logits, **batch_targets)``: the loss of one batch with
      ``(B, classes)`` logits; it is applied to each model's batch and the
      losses are summed, so each model's gradient is exactly that of its own
      mean loss.
    - ``seeds``: one per model; seed ``s`` sets model
      ``s``'s shuffling order.
    - ``lengths`` / ``val_lengths`` ``(n,)``: the true lengths of
      right-padded training / validation sequences (None: full length);
      each batch is cut to its longest sequence.

    Adam, no gradient clipping, an optional half-cosine learning-rate decay
    to 0, and the last epoch's weights kept (with a schedule that ends at 0
    the last epoch is the converged one, and no validation labels pick
    anything). Validation accuracy is recorded every ``val_every`` epochs,
    for the curves. Runs on ``device`` (CUDA when available unless told
    otherwise).
    """
    check_tensor(x, "x", ndim=3, floating=True)
    check_int(epochs, "epochs")
    check_int(batch_size, "batch_size")
    check_int(val_every, "val_every")
    if len(seeds) != model.models:
        raise ValueError(
            f"need one seed per model: {len(seeds)} seeds for "
            f"{model.models} models"
        )
    if lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr}")
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
                f"(models={model.models}, "
                f"{n}, ...)), got {tuple(t.shape)}"
            )
    if (x_val is None) != (y_val is None):
        raise ValueError("pass both x_val and y_val, or neither")
    if lengths is not None:
        check_lengths(lengths, x)

    device = torch.device(device) if device is not None else get_device()
    model.to(device).train()
    x = x.to(device)
    if lengths is not None:
        lengths = lengths.to(device)
    per_model = {
        k: (
            t.shape[:2] == (model.models, n)
            and t.dim() >= 2
            and len(t) != n
        )
        for k, t in targets.items()
    }
    targets = {k: t.to(device) for k, t in targets.items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
        if cosine_schedule
        else None
    )
    history = GroupedHistory()
    rows = torch.arange(model.models, device=device)[:, None]
    start = time.perf_counter()
    for epoch, order in enumerate(_batch_order(n, seeds, epochs)):
        order = order.to(device)
        totals = torch.zeros(model.models, device=device)
        for i in range(0, n, batch_size):
            idx = order[:, i : i + batch_size]  # (S, B): model s's batch
            if lengths is None:
                logits = model(x[idx])
            else:
                part = lengths[idx]
                logits = model(x[idx, : int(part.max())], part)
            batch = {
                k: (t[rows, idx] if per_model[k] else t[idx])
                for k, t in targets.items()
            }
            losses = torch.stack(
                [
                    loss_fn(
                        logits[s], **{k: v[s] for k, v in batch.items()}
                    )
                    for s in range(model.models)
                ]
            )
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            optimizer.step()
            totals += losses.detach() * idx.shape[1]
        if scheduler is not None:
            scheduler.step()
        history.train_loss.append((totals / n).tolist())
        if x_val is not None and (
            (epoch + 1) % val_every == 0 or epoch == epochs - 1
        ):
            predictions = grouped_logits(
                model, x_val, lengths=val_lengths
            ).argmax(-1)
            history.val_epochs.append(epoch + 1)
            history.val_accuracy.append(
                (predictions == y_val).float().mean(1).tolist()
            )
            model.train()
    history.seconds = time.perf_counter() - start
    model.eval()
    return history


def hard_label_loss(
    logits: torch.Tensor, labels: torch.Tensor, **_ignored
) -> torch.Tensor:
    """Cross-entropy on ``labels`` (rows marked UNLABELLED are skipped)."""
    return F.cross_entropy(logits, labels, ignore_index=UNLABELLED)
