"""Dynamic int8 quantisation and whole-model export, from
kd_lib.chapters.deployment."""

import pytest
import torch
from torch import nn

import kd_lib
from kd_lib.chapters import deployment
from kd_lib.chapters.streaming import TCNStep, run_steps


@pytest.fixture
def student():
    kd_lib.set_seed(0)
    return kd_lib.TCNClassifier(1, 10, [8] * 5, kernel_size=3).eval()


@pytest.fixture
def teacher():
    kd_lib.set_seed(0)
    return kd_lib.pretrained.make_digits_teacher().eval()


def test_exported_model_reloads_and_equals_the_original(student, tmp_path):
    path = deployment.export_model(
        student, torch.rand(4, 64, 1), tmp_path / "student.pt2"
    )
    assert path.is_file()
    exported = torch.export.load(path).module()
    # batch and time stay free
    for shape in [(4, 64, 1), (1, 1, 1), (7, 100, 1)]:
        x = torch.rand(*shape)
        with torch.no_grad():
            torch.testing.assert_close(
                exported(x), student(x), rtol=0, atol=0
            )


def test_export_leaves_training_mode_alone(student, tmp_path):
    student.train()
    deployment.export_model(
        student, torch.rand(2, 8, 1), tmp_path / "s.pt2"
    )
    assert student.training


def test_quantisation_covers_linear_and_lstm_but_not_conv(student, teacher):
    q = deployment.quantize_int8(student)
    # conv untouched
    assert isinstance(q.tcn.blocks[0].conv1.conv, nn.Conv1d)
    # replaced by a dynamically quantised linear
    assert type(q.head) is not nn.Linear
    assert type(student.head) is nn.Linear  # the original is not modified
    assert type(deployment.quantize_int8(teacher).lstm) is not nn.LSTM
    # the streaming form is all nn.Linear, so all of it is quantised
    q_step = deployment.quantize_int8(TCNStep(student))
    assert not [m for m in q_step.modules() if type(m) is nn.Linear]


def test_quantised_models_stay_close_to_the_original(student, teacher):
    x = torch.rand(8, 64, 1)
    with torch.no_grad():
        for model in (student, teacher):
            out, q_out = model(x), deployment.quantize_int8(model)(x)
            assert (q_out - out).abs().max() < 0.05 * out.abs().max() + 1e-3
        out = student(x)
    q_last = run_steps(deployment.quantize_int8(TCNStep(student)), x)[:, -1]
    assert (q_last - out).abs().max() < 0.05 * out.abs().max() + 1e-3


def test_quantize_does_not_warn(student, recwarn):
    deployment.quantize_int8(student)
    assert not [w for w in recwarn if "quantiz" in str(w.message)]


def test_bad_inputs_raise(student, tmp_path):
    with pytest.raises(TypeError, match="torch.nn.Module"):
        deployment.quantize_int8("model")
    with pytest.raises(ValueError, match="3 dimensions"):
        deployment.export_model(
            student, torch.rand(4, 64), tmp_path / "x.pt2"
        )
    with pytest.raises(ValueError, match="batch >= 2 and time >= 2"):
        deployment.export_model(
            student, torch.rand(1, 64, 1), tmp_path / "x.pt2"
        )
