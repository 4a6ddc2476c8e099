"""What a teacher's soft labels carry, how temperature shapes them, and how
the three usual soft losses (KL, cross-entropy on soft targets, logit MSE)
relate.

Logits are ``(batch, classes)`` throughout; soft labels are
``softmax(logits / T)`` (:func:`kd_lib.soft_targets`). Entropies are in
nats.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..distill import distillation_loss, entropy, soft_targets
from ..utils import check_int, check_tensor
from .calibration import _check_logits_labels as _check_lengths

__all__ = [
    "LOSS_FORMS",
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
]

LOSS_FORMS = ("kl", "soft_ce", "logit_mse")  # see soft_loss


def _check_logits_labels(
    logits: torch.Tensor, labels: torch.Tensor
) -> None:
    _check_lengths(logits, labels)
    num_classes = logits.shape[1]
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes - 1}]")
    counts = torch.bincount(labels, minlength=num_classes)
    if (counts == 0).any():
        missing = torch.nonzero(counts == 0).flatten().tolist()
        raise ValueError(
            f"every class needs at least one example; missing: {missing}"
        )


def _check_k(k, largest: int) -> None:
    check_int(k, "k")
    if k > largest:
        raise ValueError(f"k must be at most {largest}, got {k}")


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
    """The teacher's mean soft label for each true class, a
    ``(classes, classes)`` matrix: entry ``(i, j)`` is the mean of
    ``softmax(logits / T)[j]`` over the inputs whose true label is ``i``:
    how much probability the teacher gives class ``j`` when it sees an
    ``i``, the class similarity its soft labels carry. Rows sum to 1. With
    ``mask_diagonal`` the diagonal (mostly the correct class's own,
    uninformative, mass) is set to NaN. Shapes: logits ``(n, classes)``,
    labels ``(n,)``; every class must occur."""
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
    """The mean centred logit per true class, ``(classes, classes)``, in
    float64. As T grows, ``softmax(z / T) ≈ (1 + (z - mean z) / T) / N``, so
    the rows of :func:`class_similarity` end up ordered like the rows of
    this matrix."""
    _check_logits_labels(logits, labels)
    z = logits.detach().double()
    return _mean_per_class(z - z.mean(-1, keepdim=True), labels)


def top_confusions(
    matrix: torch.Tensor, k: int = 5
) -> list[tuple[int, int, float]]:
    """The ``k`` largest off-diagonal entries of a square ``matrix`` as
    ``(row, column, value)``, largest first (for example "true 8, teacher
    also says 1, 0.012"); NaN entries are skipped."""
    check_tensor(matrix, "matrix", ndim=2, floating=True)
    n = len(matrix)
    if matrix.shape[1] != n:
        raise ValueError(
            f"matrix must be square, got shape {tuple(matrix.shape)}"
        )
    _check_k(k, n * n - n)
    off = matrix.clone().fill_diagonal_(float("-inf"))
    off = torch.nan_to_num(off, nan=float("-inf"))
    values, flat = off.flatten().topk(k)
    return [
        (int(i) // n, int(i) % n, float(v)) for i, v in zip(flat, values)
    ]


def most_ambiguous(probs: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` rows of ``probs`` ``(n, classes)`` with the
    highest entropy (mass spread over many classes), highest first."""
    score = entropy(probs)  # also checks that the rows are distributions
    _check_k(k, len(probs))
    # stable sort: ties keep dataset order, whatever the machine
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
            f"3x3), got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    off = ~torch.eye(len(a), dtype=torch.bool)
    return sum(
        rank_correlation(a[i, off[i]].double(), b[i, off[i]].double())
        for i in range(len(a))
    ) / len(a)


def entropy_vs_temperature(
    logits: torch.Tensor, temperatures
) -> torch.Tensor:
    """Entropy of every soft label at every temperature:
    ``(len(temperatures), n)`` for logits ``(n, classes)``, in float64."""
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
    """The soft term of distillation in one of three forms, averaged over
    the batch:

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
    # soft_targets checks the temperature, for every form
    p_teacher = soft_targets(teacher_logits.detach(), temperature)
    if form == "kl":
        # kd_lib's loss carries the factor T²
        loss = distillation_loss(
            student_logits, teacher_logits, None, temperature, alpha=1.0
        )
        return loss if scale_by_t2 else loss / temperature**2
    if form == "soft_ce":
        log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
        loss = -(p_teacher * log_p_student).sum(-1).mean()
        return loss * temperature**2 if scale_by_t2 else loss
    teacher = teacher_logits.detach()
    gap = (student_logits - student_logits.mean(-1, keepdim=True)) - (
        teacher - teacher.mean(-1, keepdim=True)
    )
    return (gap**2).sum(-1).mean() / (2 * gap.shape[1])


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
        # undo the batch mean: per example, whatever the batch size
        norms.append((grad * len(grad)).norm(dim=-1).mean())
    return torch.stack(norms)
