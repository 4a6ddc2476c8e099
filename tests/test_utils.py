"""kd_lib.utils: folding weight normalisation and the timing line."""

import pytest
import torch
from torch.nn.utils import parametrize

import kd_lib
from kd_lib.utils import fold_weight_norm, timing_environment


def _parametrized(model):
    return [m for m in model.modules() if parametrize.is_parametrized(m)]


def test_fold_weight_norm_keeps_outputs_and_leaves_model_alone():
    kd_lib.set_seed(0)
    model = kd_lib.TCNClassifier(3, 5, [8, 8], kernel_size=3).eval()
    x = torch.randn(4, 30, 3)
    before = model(x)
    folded = fold_weight_norm(model)
    assert not _parametrized(folded)
    assert len(_parametrized(model)) == 4
    torch.testing.assert_close(folded(x), before)
    # the original still works and still trains through g and v
    loss = model(x).square().sum()
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads)


def test_fold_weight_norm_copies_rather_than_shares_weights():
    model = kd_lib.TCNClassifier(1, 2, [4], kernel_size=2).eval()
    folded = fold_weight_norm(model)
    with torch.no_grad():
        for p in folded.parameters():
            p.zero_()
    x = torch.randn(1, 5, 1)
    assert model(x).abs().sum() > 0


def test_fold_weight_norm_rejects_non_modules():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        fold_weight_norm("model")


def test_timing_environment_names_threads_and_torch():
    line = timing_environment()
    assert f"{torch.get_num_threads()} thread(s)" in line
    assert torch.__version__ in line
