"""What a teacher's soft labels carry, how temperature shapes them, and how
the three usual soft losses (KL, cross-entropy on soft targets, logit MSE)
relate.

Logits are ``(batch, classes)`` throughout; soft labels are
``softmax(logits / T)`` (:func:`kd_lib.soft_targets`). Entropies are in
nats.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.colors import LogNorm

from ..distill import distillation_loss, entropy, soft_targets
from ..utils import check_tensor

__all__ = [
    "LOSS_FORMS",
    "top2_margin",
    "class_similarity",
    "top_confusions",
    "most_ambiguous",
    "rank_correlation",
    "row_rank_agreement",
    "entropy_vs_temperature",
    "logit_similarity",
    "soft_loss",
    "soft_loss_gradient",
    "gradient_norms",
    "loglog_slope",
    "bootstrap",
    "plot_class_similarity",
    "plot_digit_and_soft_label",
    "plot_soft_label_at_temperatures",
]

LOSS_FORMS = ("kl", "soft_ce", "logit_mse")
"""The soft losses :func:`soft_loss` knows: KL divergence, cross-entropy on
soft targets, and mean squared error between centred logits."""


def _check_probs(probs: torch.Tensor, name: str = "probs") -> None:
    check_tensor(probs, name, ndim=2, floating=True)
    if (probs < 0).any() or not torch.allclose(
        probs.sum(-1), torch.ones(len(probs), dtype=probs.dtype), atol=1e-4
    ):
        raise ValueError(
            f"{name} must hold probability distributions in its rows "
            "(non-negative, summing to 1); pass softmax outputs, not logits"
        )


def _check_temperature(temperature) -> None:
    if isinstance(temperature, bool) or not isinstance(
        temperature, (int, float)
    ):
        raise TypeError(
            "temperature must be a number, got "
            f"{type(temperature).__name__}"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def top2_margin(probs: torch.Tensor) -> torch.Tensor:
    """Top probability minus the runner-up's, per row of ``probs``
    ``(n, classes)``: small = ambiguous."""
    _check_probs(probs)
    top2 = probs.topk(2, dim=-1).values
    return top2[:, 0] - top2[:, 1]


def _check_logits_labels(
    logits: torch.Tensor, labels: torch.Tensor
) -> None:
    check_tensor(logits, "logits", ndim=2, floating=True)
    check_tensor(labels, "labels", ndim=1, floating=False)
    if len(logits) != len(labels):
        raise ValueError(
            "logits and labels must have the same length: "
            f"{len(logits)} != {len(labels)}"
        )
    num_classes = logits.shape[1]
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes - 1}]")
    counts = torch.bincount(labels, minlength=num_classes)
    if (counts == 0).any():
        missing = torch.nonzero(counts == 0).flatten().tolist()
        raise ValueError(
            f"every class needs at least one example; missing: {missing}"
        )


def _mean_per_class(
    values: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Row ``i`` of the result: the mean of the rows of ``values``
    whose label is ``i``."""
    num_classes = values.shape[1]
    counts = torch.bincount(labels, minlength=num_classes).to(values.dtype)
    sums = torch.zeros(
        num_classes, num_classes, dtype=values.dtype
    ).index_add_(0, labels, values)
    return sums / counts.unsqueeze(1)


def class_similarity(
    logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float = 1.0,
    mask_diagonal: bool = False,
) -> torch.Tensor:
    """The teacher's mean soft label for each true class: a
    ``(classes, classes)`` matrix.

    Row ``i`` is the average of ``softmax(logits / T)`` over the inputs
    whose true label is ``i``, so entry ``(i, j)`` says how much probability
    the teacher gives class ``j`` when it sees an ``i``: the class
    similarity its soft labels carry. Rows sum to 1. With ``mask_diagonal``
    the diagonal (mostly the correct class's own, uninformative, mass) is
    set to NaN so that a heatmap shows only the rest. Shapes: logits
    ``(n, classes)``, labels ``(n,)``; every class must occur.
    """
    _check_logits_labels(logits, labels)
    matrix = _mean_per_class(
        soft_targets(logits.detach(), temperature), labels
    )
    if mask_diagonal:
        matrix.fill_diagonal_(float("nan"))
    return matrix


def logit_similarity(
    logits: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """The mean centred logit per true class,
    ``(classes, classes)``, in float64.

    As T grows, ``softmax(z / T) ≈ (1 + (z - mean z) / T) / N``, so the rows
    of :func:`class_similarity` end up ordered like the rows of this matrix.
    """
    _check_logits_labels(logits, labels)
    centred = logits.detach().double() - logits.detach().double().mean(
        -1, keepdim=True
    )
    return _mean_per_class(centred, labels)


def top_confusions(
    matrix: torch.Tensor, k: int = 5
) -> list[tuple[int, int, float]]:
    """The ``k`` largest off-diagonal entries of a square ``matrix`` as
    ``(row, column, value)``, largest first (for example "true 8, teacher
    also says 1, 0.012")."""
    check_tensor(matrix, "matrix", ndim=2, floating=True)
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(
            f"matrix must be square, got shape {tuple(matrix.shape)}"
        )
    if (
        isinstance(k, bool)
        or not isinstance(k, int)
        or not 1 <= k <= matrix.numel() - len(matrix)
    ):
        raise ValueError(
            f"k must be an int in [1, {matrix.numel() - len(matrix)}], got "
            f"{k!r}"
        )
    off = matrix.clone()
    off.fill_diagonal_(float("-inf"))
    off = torch.nan_to_num(off, nan=float("-inf"))
    values, flat = off.flatten().topk(k)
    n = len(matrix)
    return [
        (int(i) // n, int(i) % n, float(v)) for i, v in zip(flat, values)
    ]


def most_ambiguous(
    probs: torch.Tensor, k: int, by: str = "entropy"
) -> torch.Tensor:
    """Indices of the ``k`` most ambiguous rows of ``probs``
    ``(n, classes)``, most ambiguous first.

    ``by="entropy"``: highest entropy (mass spread over many classes);
    ``by="margin"``: smallest gap between the top two classes (torn between
    two).
    """
    if by not in ("entropy", "margin"):
        raise ValueError(f"by must be 'entropy' or 'margin', got {by!r}")
    _check_probs(probs)
    if (
        isinstance(k, bool)
        or not isinstance(k, int)
        or not 1 <= k <= len(probs)
    ):
        raise ValueError(
            f"k must be an int in [1, {len(probs)}], got {k!r}"
        )
    score = entropy(probs) if by == "entropy" else -top2_margin(probs)
    # stable sort: ties keep dataset order, so the choice does not depend on
    # the machine
    return torch.sort(score, descending=True, stable=True).indices[:k]


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation of two 1-D tensors of equal length (no ties
    assumed): 1 when they order their entries identically, -1 when in
    reverse."""
    check_tensor(a, "a", ndim=1, floating=True)
    check_tensor(b, "b", ndim=1, floating=True)
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(
            f"a and b need the same length >= 2, got {len(a)} and {len(b)}"
        )
    ranks_a = a.argsort().argsort().double()
    ranks_b = b.argsort().argsort().double()
    ranks_a, ranks_b = ranks_a - ranks_a.mean(), ranks_b - ranks_b.mean()
    return float(
        (ranks_a * ranks_b).sum() / (ranks_a.norm() * ranks_b.norm())
    )


def row_rank_agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    """How alike two square class matrices order each row's off-diagonal
    entries: the Spearman correlation per row (diagonal left out), averaged
    over the rows. 1 means every row ranks the other classes the same way in
    both."""
    check_tensor(a, "a", ndim=2, floating=True)
    check_tensor(b, "b", ndim=2, floating=True)
    if a.shape != b.shape or a.shape[0] != a.shape[1] or len(a) < 3:
        raise ValueError(
            "a and b must be square matrices of the same shape (at least "
            "3x3), "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    off = ~torch.eye(len(a), dtype=torch.bool)
    return sum(
        rank_correlation(a[i, off[i]].double(), b[i, off[i]].double())
        for i in range(len(a))
    ) / len(a)


def entropy_vs_temperature(
    logits: torch.Tensor, temperatures
) -> torch.Tensor:
    """Entropy (nats) of every soft label at every temperature:
    ``(len(temperatures), n)`` for logits ``(n, classes)``. Computed in
    float64."""
    check_tensor(logits, "logits", ndim=2, floating=True)
    temperatures = list(temperatures)
    if not temperatures:
        raise ValueError("temperatures must not be empty")
    return torch.stack(
        [entropy(soft_targets(logits.double(), t)) for t in temperatures]
    )


# ------------------------------------------------------------ the soft loss


def soft_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperature: float = 1.0,
    form: str = "kl",
    scale_by_t2: bool = True,
) -> torch.Tensor:
    """The soft term of distillation in one of three forms,
    averaged over the batch.

    - ``"kl"``: ``KL(p_t || p_s)`` at temperature T (what
      :func:`kd_lib.distillation_loss` uses);
    - ``"soft_ce"``: the cross-entropy ``-sum p_t log p_s`` at temperature
      T. It equals KL plus the teacher's entropy, which does not depend on
      the student, so the two have the same gradient and different values;
    - ``"logit_mse"``: ``sum_i (z_s,i - z_t,i)^2 / (2N)`` over the ``N``
      classes, logits centred to mean 0 per row. No temperature; the
      T²-scaled KL gradient tends to its gradient as T grows (Hinton et al.
      2015, sec. 2.1).

    ``scale_by_t2`` multiplies the first two by T² (it is ignored for logit
    MSE). Shapes: both logits ``(batch, classes)``; returns a scalar.
    """
    if form not in LOSS_FORMS:
        raise ValueError(f"form must be one of {LOSS_FORMS}, got {form!r}")
    check_tensor(student_logits, "student_logits", ndim=2, floating=True)
    check_tensor(teacher_logits, "teacher_logits", ndim=2, floating=True)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student and teacher logits must have the same shape, got "
            f"{tuple(student_logits.shape)} and "
            f"{tuple(teacher_logits.shape)}"
        )
    _check_temperature(temperature)
    if form == "kl":
        return distillation_loss(
            student_logits,
            teacher_logits,
            temperature=temperature,
            alpha=1.0,
            scale_by_t2=scale_by_t2,
        )
    if form == "soft_ce":
        p_teacher = soft_targets(teacher_logits.detach(), temperature)
        log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
        loss = -(p_teacher * log_p_student).sum(-1).mean()
        return loss * temperature**2 if scale_by_t2 else loss
    centred_student = student_logits - student_logits.mean(-1, keepdim=True)
    centred_teacher = (
        teacher_logits.detach()
        - teacher_logits.detach().mean(-1, keepdim=True)
    )
    num_classes = student_logits.shape[1]
    return ((centred_student - centred_teacher) ** 2).sum(-1).mean() / (
        2 * num_classes
    )


def soft_loss_gradient(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperature: float = 1.0,
    form: str = "kl",
    scale_by_t2: bool = True,
) -> torch.Tensor:
    """Gradient of :func:`soft_loss` with respect to the student's logits,
    ``(batch, classes)``: the signal the student actually receives. Computed
    by autograd in float64 so that small differences between the forms are
    not drowned in rounding."""
    z = student_logits.detach().double().requires_grad_(True)
    loss = soft_loss(
        z, teacher_logits.detach().double(), temperature, form, scale_by_t2
    )
    (grad,) = torch.autograd.grad(loss, z)
    return grad


def gradient_norms(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperatures,
    form: str = "kl",
    scale_by_t2: bool = True,
) -> torch.Tensor:
    """Mean over the batch of the per-example gradient norm of the soft
    loss, one value per temperature (a 1-D tensor as long as
    ``temperatures``)."""
    temperatures = list(temperatures)
    if not temperatures:
        raise ValueError("temperatures must not be empty")
    norms = []
    for t in temperatures:
        grad = soft_loss_gradient(
            student_logits, teacher_logits, t, form, scale_by_t2
        )
        # undo the batch mean so the number is per example, whatever the
        # batch size
        norms.append((grad * len(grad)).norm(dim=-1).mean())
    return torch.stack(norms)


def loglog_slope(x, y) -> float:
    """Least-squares slope of log(y) against log(x): the
    exponent p in y ~ x^p."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(
            f"x and y must be 1-D of the same length >= 2, got {x.shape} "
            f"and {y.shape}"
        )
    if (x <= 0).any() or (y <= 0).any():
        raise ValueError("x and y must be positive to take logarithms")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def bootstrap(
    statistic,
    logits: torch.Tensor,
    labels: torch.Tensor,
    resamples: int = 200,
    seed: int = 0,
) -> torch.Tensor:
    """``statistic(logits, labels)`` on ``resamples`` resamplings of the
    rows with replacement.

    The spread of the returned values (shape ``(resamples,)``) says how much
    a number measured on a finite test set could change on another draw of
    the same size. Uses its own generator, so the global random state is
    left alone.
    """
    check_tensor(logits, "logits", ndim=2, floating=True)
    check_tensor(labels, "labels", ndim=1, floating=False)
    if len(logits) != len(labels):
        raise ValueError(
            "logits and labels must have the same length: "
            f"{len(logits)} != {len(labels)}"
        )
    if (
        isinstance(resamples, bool)
        or not isinstance(resamples, int)
        or resamples < 2
    ):
        raise ValueError(
            f"resamples must be an int >= 2, got {resamples!r}"
        )
    generator = torch.Generator().manual_seed(seed)
    n = len(labels)
    values = []
    for _ in range(resamples):
        rows = torch.randint(0, n, (n,), generator=generator)
        values.append(float(statistic(logits[rows], labels[rows])))
    return torch.tensor(values, dtype=torch.float64)


# ---------------------------------------------------------------- figures


def plot_class_similarity(
    matrix: torch.Tensor, ax=None, title: str | None = None
):
    """Heatmap of a class-similarity matrix (see :func:`class_similarity`)
    on a log colour scale, since the off-diagonal probabilities span orders
    of magnitude. NaN cells (a masked diagonal) are left blank."""
    check_tensor(matrix, "matrix", ndim=2, floating=True)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.2))
    values = matrix.double().numpy()
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size == 0:
        raise ValueError("matrix has no positive finite entries to show")
    image = ax.imshow(
        np.ma.masked_invalid(np.where(values > 0, values, np.nan)),
        cmap="viridis",
        norm=LogNorm(vmin=positive.min(), vmax=positive.max()),
    )
    n = len(values)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xlabel("class the teacher gives probability to")
    ax.set_ylabel("true class")
    ax.grid(False)
    if title:
        ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, label="mean probability (log scale)")
    return ax


def plot_digit_and_soft_label(
    image: torch.Tensor,
    probs: torch.Tensor,
    label: int,
    image_ax,
    bar_ax,
    color: str | None = None,
):
    """One input drawn as an 8×8 image beside its soft label as a bar chart.

    ``image`` is the sequence ``(64, 1)`` or ``(64,)`` (pixel intensities in
    [0, 1]), ``probs`` the soft label ``(classes,)``, ``label`` the true
    class (its bar is outlined).
    """
    check_tensor(image, "image", ndim=(1, 2), floating=True)
    check_tensor(probs, "probs", ndim=1, floating=True)
    if image.numel() != 64:
        raise ValueError(
            "image must hold the 64 pixels of an 8x8 digit, got "
            f"{image.numel()} values"
        )
    image_ax.imshow(
        image.reshape(8, 8).numpy(), cmap="gray_r", vmin=0, vmax=1
    )
    image_ax.set_xticks([])
    image_ax.set_yticks([])
    image_ax.grid(False)
    # frame the whole image, whatever the style hides
    for spine in image_ax.spines.values():
        spine.set_visible(True)
    image_ax.set_title(f"true class {label}")
    classes = np.arange(len(probs))
    bars = bar_ax.bar(classes, probs.numpy(), color=color)
    bars[label].set_edgecolor("black")
    bars[label].set_linewidth(1.5)
    bar_ax.set_xticks(classes)
    bar_ax.set_ylim(0, 1)
    bar_ax.set_xlabel("class")
    bar_ax.set_ylabel("probability")
    return image_ax, bar_ax


def plot_soft_label_at_temperatures(
    logits: torch.Tensor, temperatures, ax=None, colors=None
):
    """Grouped bars: the soft label of one input ``logits`` ``(classes,)``
    at several temperatures, on a log probability axis so the small classes
    stay visible."""
    check_tensor(logits, "logits", ndim=1, floating=True)
    temperatures = list(temperatures)
    if not temperatures:
        raise ValueError("temperatures must not be empty")
    if ax is None:
        _, ax = plt.subplots()
    classes = np.arange(len(logits))
    width = 0.8 / len(temperatures)
    for i, t in enumerate(temperatures):
        probs = soft_targets(logits.detach().double(), t).numpy()
        ax.bar(
            classes + (i - (len(temperatures) - 1) / 2) * width,
            probs,
            width=width,
            label=f"T = {t:g}",
            color=None if colors is None else colors[i],
        )
    ax.set_yscale("log")
    ax.set_xticks(classes)
    ax.set_xlabel("class")
    ax.set_ylabel("probability (log scale)")
    ax.axhline(
        1 / len(logits),
        color="black",
        linestyle=":",
        linewidth=1,
        label="uniform",
    )
    # outside: bars fill the whole axes
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax
