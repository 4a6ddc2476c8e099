"""Distilling what the teacher computes at every step (the per-step
chapter): the teacher's running opinion and hidden states as targets, the
three arms that use them (:data:`PER_STEP_ARMS`), and their training over
seeds.

An LSTM teacher and a causal TCN student are both aligned in time: after
step ``t`` each has seen inputs ``0 .. t`` and nothing later, so the
student at step ``t`` can be asked to match the teacher at step ``t``.
The losses themselves are in :mod:`kd_lib.distill`.
"""

from __future__ import annotations

import torch
from torch import nn

from ..arms import STUDY, ArmResult, score_group, seeded_students
from ..data import SequenceSplits
from ..distill import (
    hint_loss,
    per_step_loss,
    similarity_loss,
    target_loss,
)
from ..multiseed import train_grouped
from ..utils import check_tensor

__all__ = [
    "PER_STEP_ARMS",
    "WEIGHTS",
    "teacher_steps",
    "arm_loss",
    "train_per_step",
]

PER_STEP_ARMS = ("per_step", "hint", "similarity")
"""The arms of the chapter, each the ``soft`` arm plus one term at a
weight chosen on validation data: the teacher's soft label at every step
(``per_step``), its hidden state at every step through a learned map that
is thrown away (``hint``, FitNets), and the batch's pairwise similarities
of the states at all steps (``similarity``)."""

WEIGHTS = {
    "per_step": [0.1, 1.0, 10.0],
    "hint": [0.1, 1.0, 10.0],
    "similarity": [10.0, 100.0, 1000.0],
}
"""The weight of each arm's extra term, searched on validation data,
stated before the runs. Decades around the size that makes the term
count: at initialisation the per-step term is about half the final-step
loss, the hint a twentieth, the similarity term a two-thousandth."""


@torch.no_grad()
def teacher_steps(
    teacher: nn.Module, x: torch.Tensor, batch_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor]:
    """The teacher's hidden states ``(n, time, hidden)`` and logits
    ``(n, time, classes)`` at every step of ``x`` ``(n, time, features)``
    (:meth:`kd_lib.LSTMClassifier.steps`), on the CPU."""
    check_tensor(x, "x", ndim=3, floating=True)
    was_training = teacher.training
    teacher.eval()
    parts = [
        teacher.steps(x[i : i + batch_size])
        for i in range(0, len(x), batch_size)
    ]
    teacher.train(was_training)
    states, logits = zip(*parts)
    return torch.cat(states), torch.cat(logits)


def arm_loss(arm: str, weight: float, model, index: int):
    """The loss of model ``index`` of the grouped ``model`` in ``arm``:
    the ``soft`` arm's distillation loss at the last step plus ``weight``
    times the arm's own term."""
    if arm not in PER_STEP_ARMS:
        raise ValueError(f"arm must be one of {PER_STEP_ARMS}, got {arm!r}")
    temperature, alpha = STUDY["temperature"], STUDY["alpha"]

    def loss(
        features, steps, labels, soft, teacher_steps=None, states=None
    ):
        final = target_loss(steps[:, -1], soft, labels, temperature, alpha)
        if arm == "per_step":
            extra = per_step_loss(steps, teacher_steps, temperature)
        elif arm == "hint":
            extra = hint_loss(
                features,
                states,
                model.hint_weight[index],
                model.hint_bias[index],
            )
        else:
            extra = similarity_loss(features, states)
        return final + weight * extra

    return loss


def train_per_step(
    arm: str,
    weights: list[float],
    splits: SequenceSplits,
    teacher: dict[str, torch.Tensor],
    test_logits: torch.Tensor,
    seeds: list[int],
    *,
    lr: float,
    weight_decay: float = 0.0,
    channels: list[int] | None = None,
    epochs: int,
) -> dict[float, ArmResult]:
    """Train ``arm`` at every weight of ``weights`` over ``seeds`` (one
    grouped network), with the ``soft`` arm's budget and settings, and
    score it. ``teacher``: the teacher's ``"logits"`` at the last step,
    ``"steps"`` (logits at every step) and ``"states"`` on the training
    inputs."""
    classes = teacher["logits"].shape[1]
    models = [s for _ in weights for s in seeds]
    model = seeded_students(models, splits.num_features, classes, channels)
    if arm == "hint":
        model.add_hint_map(teacher["states"].shape[-1])
    losses = [
        arm_loss(arm, w, model, i * len(seeds) + k)
        for i, w in enumerate(weights)
        for k in range(len(seeds))
    ]
    targets = {
        "labels": splits.y_train,
        "soft": torch.softmax(teacher["logits"] / STUDY["temperature"], -1),
    }
    if arm == "per_step":
        targets["teacher_steps"] = teacher["steps"]
    else:
        targets["states"] = teacher["states"]
    history = train_grouped(
        model,
        splits.x_train,
        targets,
        models,
        epochs=epochs,
        lr=lr,
        loss_fn=losses,
        weight_decay=weight_decay,
        batch_size=STUDY["batch_size"],
        x_val=splits.x_val,
        y_val=splits.y_val,
        val_every=max(1, epochs // STUDY["val_points"]),
        steps=True,
    )
    settings = [
        {"arm": arm, "lr": lr, "weight_decay": weight_decay, "weight": w}
        for w in weights
    ]
    scored = score_group(
        model, history, settings, seeds, splits, test_logits, epochs
    )
    return dict(zip(weights, scored))
