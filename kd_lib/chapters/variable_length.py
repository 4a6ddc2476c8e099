"""Sequences of different lengths in one batch (chapter 2): done right
(padding on the correct side, packing) and done wrong (right padding, then
reading the last step), against running every sequence alone."""

from __future__ import annotations

import torch
from torch import nn

from ..models import LSTMClassifier
from ..padding import pad_sequences, to_left_padded
from ..utils import check_module

__all__ = ["PADDING_METHODS", "predict_variable_length"]


PADDING_METHODS = ("alone", "left_pad", "packed", "right_pad_last")
"""How :func:`predict_variable_length` batches sequences of different
lengths: one at a time (the reference), left padding (right for a TCN),
packing (right for an LSTM), and the classic bug: right padding, then
reading the last step."""


@torch.no_grad()
def predict_variable_length(
    model: nn.Module, sequences: list[torch.Tensor], method: str
) -> torch.Tensor:
    """Outputs ``(batch, num_outputs)`` of a ``readout="last"`` model on
    sequences of mixed lengths. ``method`` is one of
    :data:`PADDING_METHODS`. ``"packed"`` needs an LSTMClassifier (it passes
    ``lengths``); the others work for both models."""
    check_module(model)
    if method not in PADDING_METHODS:
        raise ValueError(
            f"method must be one of {PADDING_METHODS}, got {method!r}"
        )
    if getattr(model, "readout", "last") != "last":
        raise ValueError("model must have readout='last'")
    was_training = model.training
    model.eval()
    try:
        if method == "alone":
            return torch.cat([model(s.unsqueeze(0)) for s in sequences])
        if method == "packed":
            if not isinstance(model, LSTMClassifier):
                raise TypeError(
                    "method='packed' needs a kd_lib LSTMClassifier"
                )
            return model(*pad_sequences(sequences))
        x, lengths = pad_sequences(sequences)
        if method == "left_pad":
            x = to_left_padded(x, lengths)
        return model(x)
    finally:
        model.train(was_training)
