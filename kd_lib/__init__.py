"""kd_lib: the small library behind the book "Distilling an LSTM into a
TCN". ``import kd_lib`` gives the core's most used names; each chapter's
own tools are in :mod:`kd_lib.chapters`, the commands that write the
stored results and checkpoints in :mod:`kd_lib.runners`."""

import os

import torch

from .arms import make_student, run_arms
from .comparison import mean_and_spread, paired_difference, verdict
from .data import (
    SequenceSplits,
    digits_splits,
    recall_at_distance,
    vowels_splits,
)
from .distill import (
    DistillationLoss,
    distillation_loss,
    entropy,
    soft_targets,
    teacher_logits,
)
from .models import (
    CausalConv1d,
    LSTMClassifier,
    TCNClassifier,
    TemporalBlock,
    receptive_field,
)
from .padding import Padded, make_padded_loader, pad_sequences
from .pipeline import run_pipeline, train_teacher
from .plotting import PALETTE, use_book_style
from .pretrained import (
    load_digits_student,
    load_digits_teacher,
    load_vowels_teacher,
)
from .report import Table
from .results import load_results
from .training import evaluate, train
from .utils import (
    count_parameters,
    fold_weight_norm,
    measure_latency,
    set_seed,
    timing_environment,
)

__version__ = "0.1.0"

# KD_LIB_THREADS=1 runs everything single-threaded: the tests use it to
# check that no strictly compared output depends on the thread count.
if os.environ.get("KD_LIB_THREADS"):
    torch.set_num_threads(int(os.environ["KD_LIB_THREADS"]))
