"""Knowledge distillation (Hinton, Vinyals & Dean 2015): soft targets, the
distillation loss and its controls' targets, and per-step and feature
losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .padding import Padded, check_lengths
from .utils import check_module, check_tensor, model_device

__all__ = [
    "soft_targets",
    "distillation_loss",
    "target_loss",
    "smoothed_labels",
    "class_average_targets",
    "DistillationLoss",
    "teacher_logits",
    "per_step_loss",
    "hint_loss",
    "similarity_loss",
    "entropy",
    "agreement",
]


def _check_temperature_alpha(temperature: float, alpha: float) -> None:
    for name, value in (("temperature", temperature), ("alpha", alpha)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(
                f"{name} must be a number, got {type(value).__name__}"
            )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")


def soft_targets(
    logits: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """``softmax(logits / T)`` over the last dimension: larger T flattens
    it and lifts the small probabilities of the other classes, where a
    teacher's "dark knowledge" about class similarity lives."""
    check_tensor(logits, "logits", ndim=(1, 2, 3), floating=True)
    _check_temperature_alpha(temperature, 0.0)
    return F.softmax(logits / temperature, dim=-1)


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor | None = None,
    temperature: float = 4.0,
    alpha: float = 0.9,
) -> torch.Tensor:
    """``alpha * T² * KL(p_teacher^T || p_student^T) + (1 - alpha) *
    CE(student, labels)``; logits ``(batch, classes)``, labels
    ``(batch,)``. ``labels=None`` (or ``alpha=1``) gives the soft term
    alone. The soft term's gradient with respect to the student's logits is
    ``(p_student^T - p_teacher^T) / T``, which shrinks as 1/T² for large T;
    multiplying by T² (Hinton et al. 2015) keeps its size comparable with
    the hard term, so alpha means roughly the same thing at every large T.
    """
    check_tensor(teacher_logits, "teacher_logits", ndim=2, floating=True)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student and teacher logits must have the same shape, got "
            f"{tuple(student_logits.shape)} and "
            f"{tuple(teacher_logits.shape)}"
        )
    _check_temperature_alpha(temperature, alpha)
    p_teacher = F.softmax(teacher_logits.detach() / temperature, dim=-1)
    return target_loss(
        student_logits, p_teacher, labels, temperature, alpha
    )


def target_loss(
    student_logits: torch.Tensor,
    targets: torch.Tensor,
    labels: torch.Tensor | None = None,
    temperature: float = 4.0,
    alpha: float = 0.9,
) -> torch.Tensor:
    """:func:`distillation_loss` with any target distribution ``targets``
    ``(batch, classes)`` in place of the teacher's soft label. The
    distillation chapter's controls use it unchanged, with smoothed labels
    (:func:`smoothed_labels`) or the teacher's average soft label of each
    class (:func:`class_average_targets`) as the targets."""
    check_tensor(student_logits, "student_logits", ndim=2, floating=True)
    check_tensor(targets, "targets", ndim=2, floating=True)
    if student_logits.shape != targets.shape:
        raise ValueError(
            f"targets must be one distribution per row of logits, "
            f"{tuple(student_logits.shape)}, got {tuple(targets.shape)}"
        )
    _check_temperature_alpha(temperature, alpha)
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    soft = F.kl_div(log_p_student, targets, reduction="batchmean")
    soft = soft * temperature**2
    if labels is None or alpha == 1.0:
        return soft
    check_tensor(labels, "labels", ndim=1, floating=False)
    if len(labels) != len(student_logits):
        raise ValueError(
            f"labels must have one entry per row of logits: "
            f"{len(labels)} != {len(student_logits)}"
        )
    hard = F.cross_entropy(student_logits, labels)
    return alpha * soft + (1.0 - alpha) * hard


def smoothed_labels(
    labels: torch.Tensor, num_classes: int, epsilon: float
) -> torch.Tensor:
    """Label smoothing: ``1 - epsilon`` on each row's true class plus
    ``epsilon`` spread evenly over all ``num_classes``, ``(n, classes)``.
    The same for every input of a class, and the same between any two
    wrong classes: smoothing without any knowledge."""
    check_tensor(labels, "labels", ndim=1, floating=False)
    if not 0.0 <= epsilon < 1.0:
        raise ValueError(f"epsilon must lie in [0, 1), got {epsilon}")
    one_hot = F.one_hot(labels, num_classes).float()
    return (1.0 - epsilon) * one_hot + epsilon / num_classes


def class_average_targets(
    teacher_logits: torch.Tensor, labels: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Each row's target is the teacher's *mean* soft label at
    ``temperature`` over the rows of its class (by ``labels``),
    ``(n, classes)``: the teacher's knowledge of which classes resemble
    which, without anything it knows about one input in particular."""
    check_tensor(teacher_logits, "teacher_logits", ndim=2, floating=True)
    check_tensor(labels, "labels", ndim=1, floating=False)
    if len(labels) != len(teacher_logits):
        raise ValueError("need one label per row of teacher logits")
    _check_temperature_alpha(temperature, 0.0)
    probs = F.softmax(teacher_logits / temperature, dim=-1)
    classes = teacher_logits.shape[1]
    sums = torch.zeros(classes, classes).index_add_(0, labels, probs)
    counts = torch.bincount(labels, minlength=classes).clamp(min=1)
    return (sums / counts[:, None])[labels]


class DistillationLoss(nn.Module):
    """:func:`distillation_loss` as a loss for :func:`kd_lib.train`, called
    as ``loss(student_logits, labels, teacher_logits)``: what a loader over
    ``(x, labels, teacher_logits)`` gives the training loop."""

    def __init__(self, temperature: float = 4.0, alpha: float = 0.9):
        super().__init__()
        _check_temperature_alpha(temperature, alpha)
        self.temperature, self.alpha = temperature, alpha

    def forward(self, student_logits, labels, teacher_logits):
        return distillation_loss(
            student_logits,
            teacher_logits,
            labels,
            self.temperature,
            self.alpha,
        )

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}"


@torch.no_grad()
def teacher_logits(
    teacher: nn.Module,
    x: torch.Tensor | Padded,
    batch_size: int = 256,
    *,
    lengths: torch.Tensor | None = None,
) -> torch.Tensor:
    """The teacher's logits ``(n, classes)`` on ``x`` ``(n, time,
    features)``: logits, not probabilities, so that any temperature can be
    applied later; no labels needed, so any set of inputs can be a
    transfer set. For right-padded sequences pass their ``lengths``
    ``(n,)`` (or ``x`` as a :class:`kd_lib.Padded`): the teacher is called
    as ``teacher(x, lengths)``, each batch cut to its longest sequence."""
    check_module(teacher, "teacher")
    if isinstance(x, Padded):
        if lengths is not None:
            raise TypeError("x is a Padded batch: do not pass lengths too")
        x, lengths = x
    check_tensor(x, "x", ndim=3, floating=True)
    if lengths is not None:
        check_lengths(lengths, x)
    was_training = teacher.training
    teacher.eval()
    device = model_device(teacher)
    out = []
    for i in range(0, len(x), batch_size):
        if lengths is None:
            out.append(teacher(x[i : i + batch_size].to(device)).cpu())
            continue
        part = lengths[i : i + batch_size]
        values = x[i : i + batch_size, : int(part.max())].to(device)
        out.append(teacher(values, part).cpu())
    teacher.train(was_training)
    return torch.cat(out)


def per_step_loss(
    student_steps: torch.Tensor,
    teacher_steps: torch.Tensor,
    temperature: float = 4.0,
) -> torch.Tensor:
    """The distillation term at every step: ``T² × KL(p_teacher,t^T ||
    p_student,t^T)`` averaged over the steps ``t`` and the batch. Logits
    ``(batch, time, classes)``, step ``t`` of the student matched to step
    ``t`` of the teacher: both have seen inputs ``0 .. t`` and nothing
    later, so no step asks the student for what it cannot know yet."""
    check_tensor(student_steps, "student_steps", ndim=3, floating=True)
    if student_steps.shape != teacher_steps.shape:
        raise ValueError(
            "student and teacher step logits must have the same shape "
            f"(batch, time, classes), got {tuple(student_steps.shape)} and "
            f"{tuple(teacher_steps.shape)}"
        )
    _check_temperature_alpha(temperature, 0.0)
    targets = F.softmax(teacher_steps.detach() / temperature, dim=-1)
    return target_loss(
        student_steps.flatten(0, 1),
        targets.flatten(0, 1),
        None,
        temperature,
    )


def hint_loss(
    student_features: torch.Tensor,
    teacher_states: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
) -> torch.Tensor:
    """FitNets' hint (Romero et al. 2015) at every step: the student's
    features ``(batch, time, channels)``, through the learned linear map
    ``weight`` ``(size, channels)`` and ``bias`` ``(size,)``, regress the
    teacher's hidden states ``(batch, time, size)`` at the same steps; the
    mean squared error over batch, steps and units."""
    check_tensor(
        student_features, "student_features", ndim=3, floating=True
    )
    check_tensor(teacher_states, "teacher_states", ndim=3, floating=True)
    if weight.shape != (
        teacher_states.shape[-1],
        student_features.shape[-1],
    ):
        raise ValueError(
            "weight must map the student's channels to the teacher's size, "
            f"(size, channels), got {tuple(weight.shape)}"
        )
    predicted = student_features @ weight.T + bias
    return F.mse_loss(predicted, teacher_states.detach())


def similarity_loss(
    student_features: torch.Tensor, teacher_states: torch.Tensor
) -> torch.Tensor:
    """Similarity-preserving distillation (Tung and Mori 2019): the
    batch's pairwise similarities of the student's features (all steps,
    ``(batch, time, channels)``) should be those of the teacher's states
    ``(batch, time, size)``; each similarity matrix has its rows scaled to
    unit length, and the loss is the mean squared difference. No map is
    needed: the matrices are ``(batch, batch)`` whatever the widths."""
    check_tensor(
        student_features, "student_features", ndim=3, floating=True
    )
    check_tensor(teacher_states, "teacher_states", ndim=3, floating=True)
    if len(student_features) != len(teacher_states):
        raise ValueError("student and teacher need the same batch")

    def similarities(x):
        flat = x.flatten(1)
        return F.normalize(flat @ flat.T, dim=1)

    difference = similarities(student_features) - similarities(
        teacher_states.detach()
    )
    return difference.pow(2).mean()


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy in nats ``(n,)`` of each row of ``probs`` ``(n, classes)``:
    0 for a one-hot row, ``ln(classes)`` for the uniform distribution."""
    check_tensor(probs, "probs", ndim=2, floating=True)
    if (probs < 0).any() or not torch.allclose(
        probs.sum(-1), torch.ones(len(probs), dtype=probs.dtype), atol=1e-4
    ):
        raise ValueError(
            "probs must hold probability distributions in its rows "
            "(non-negative, summing to 1); pass softmax outputs, not logits"
        )
    # 0 * log 0 = 0 for the zero probabilities (underflow at low T)
    return -torch.where(
        probs > 0, probs * probs.log(), torch.zeros_like(probs)
    ).sum(-1)


def agreement(logits_a: torch.Tensor, logits_b: torch.Tensor) -> float:
    """Fraction of inputs on which two models predict the same class."""
    check_tensor(logits_a, "logits_a", ndim=2, floating=True)
    check_tensor(logits_b, "logits_b", ndim=2, floating=True)
    if logits_a.shape != logits_b.shape:
        raise ValueError(
            f"logits must have the same shape, got {tuple(logits_a.shape)} "
            f"and {tuple(logits_b.shape)}"
        )
    return (
        (logits_a.argmax(-1) == logits_b.argmax(-1)).float().mean().item()
    )
