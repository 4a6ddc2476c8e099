"""kd_lib: the small library behind the book "Distilling an LSTM into a
TCN".

``import kd_lib`` gives the core: the data, the two models, the
distillation loss, the one training loop, the fair comparison of students
(the *arms*), tables, the book's figure style, the committed checkpoints
and the whole pipeline for your own data. Each chapter's own tools are in
:mod:`kd_lib.chapters`; the commands that write the stored results and
checkpoints are in :mod:`kd_lib.runners`. Nothing in kd_lib downloads
anything.
"""

import os

import torch

from . import (
    arms,
    comparison,
    data,
    distill,
    models,
    multiseed,
    padding,
    pipeline,
    plotting,
    pretrained,
    report,
    results,
    training,
    utils,
)
from .arms import STUDENT, make_student, run_arms
from .comparison import mean_and_spread, paired_difference, verdict
from .data import (
    SequenceSplits,
    digits_splits,
    make_loader,
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
    TCN,
    CausalConv1d,
    LSTMClassifier,
    TCNClassifier,
    TemporalBlock,
    receptive_field,
)
from .padding import Padded, make_padded_loader, pad_sequences
from .pipeline import PipelineResult, run_pipeline, train_teacher
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

__all__ = [
    # data
    "SequenceSplits",
    "digits_splits",
    "vowels_splits",
    "recall_at_distance",
    "make_loader",
    "Padded",
    "pad_sequences",
    "make_padded_loader",
    # models
    "CausalConv1d",
    "TemporalBlock",
    "TCN",
    "TCNClassifier",
    "LSTMClassifier",
    "receptive_field",
    "STUDENT",
    "make_student",
    # distillation and training
    "soft_targets",
    "entropy",
    "distillation_loss",
    "DistillationLoss",
    "teacher_logits",
    "train",
    "evaluate",
    # comparing students
    "run_arms",
    "paired_difference",
    "verdict",
    "mean_and_spread",
    "Table",
    "load_results",
    # checkpoints and the whole pipeline
    "load_digits_teacher",
    "load_vowels_teacher",
    "load_digits_student",
    "train_teacher",
    "run_pipeline",
    "PipelineResult",
    # seeds, sizes, timing, figures
    "set_seed",
    "count_parameters",
    "measure_latency",
    "fold_weight_norm",
    "timing_environment",
    "use_book_style",
    "PALETTE",
]

__version__ = "0.1.0"

# KD_LIB_THREADS=1 runs everything single-threaded: the tests use it to
# check that no strictly compared output depends on the thread count.
if os.environ.get("KD_LIB_THREADS"):
    torch.set_num_threads(int(os.environ["KD_LIB_THREADS"]))
