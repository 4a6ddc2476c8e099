"""kd_lib: the small library behind the book "Distilling
an LSTM into a TCN".

Every chapter imports it; nothing in it downloads anything.
"""

from .data import (
    ADDING_CHANCE_MSE,
    SequenceSplits,
    adding_problem,
    copy_memory,
    copy_memory_chance_loss,
    digits_loaders,
    digits_splits,
    jitter_digits,
    load_digits_sequences,
    load_japanese_vowels,
    make_loader,
    recall_at_distance,
    vowels_splits,
)
from .distill import (
    UNLABELLED,
    DistillationLoss,
    distillation_loss,
    soft_targets,
    teacher_logits,
)
from .forecasting import (
    LSTMForecaster,
    TCNForecaster,
    elnino_splits,
    forecast_distillation_loss,
    load_elnino,
)
from .models import (
    TCN,
    CausalConv1d,
    LSTMClassifier,
    TCNClassifier,
    TemporalBlock,
    receptive_field,
)
from .padding import (
    Padded,
    make_padded_loader,
    pad_collate,
    pad_sequences,
)
from .pipeline import PipelineResult, run_pipeline, train_teacher
from .plotting import PALETTE, plot_history, use_book_style
from .pretrained import (
    DIGITS_TEACHER,
    DIGITS_TEACHERS,
    FORECAST_TEACHER,
    load_digits_student,
    load_digits_teacher,
    load_forecast_teacher,
    load_vowels_teacher,
    make_digits_teacher,
    train_digits_teacher,
)
from .training import (
    History,
    accuracy,
    evaluate,
    fine_tune,
    predict_logits,
    train,
)
from .utils import (
    Timing,
    count_parameters,
    fold_weight_norm,
    get_device,
    load_checkpoint,
    measure_latency,
    model_device,
    progress,
    save_checkpoint,
    set_seed,
    timing_environment,
)

__version__ = "0.1.0"


def _apply_thread_setting() -> None:
    # KD_LIB_THREADS=1 runs everything single-threaded: the tests use it to
    # check that no strictly compared output depends on the machine's thread
    # count.
    import os

    import torch

    threads = os.environ.get("KD_LIB_THREADS")
    if threads:
        torch.set_num_threads(int(threads))


_apply_thread_setting()
