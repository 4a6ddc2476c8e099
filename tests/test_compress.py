"""Quantisation, size on disk and export of the book's models."""

import os

import pytest
import torch
from torch import nn

import kd_lib
from kd_lib.chapters import compress
from kd_lib.chapters.streaming import LastStep, StreamingTCN


@pytest.fixture
def student():
    kd_lib.set_seed(0)
    return kd_lib.TCNClassifier(1, 10, [8] * 5, kernel_size=3).eval()


@pytest.fixture
def teacher():
    kd_lib.set_seed(0)
    return kd_lib.pretrained.make_digits_teacher().eval()


def test_exported_model_reloads_and_equals_the_original(student, tmp_path):
    path = compress.export_model(
        student, torch.rand(4, 64, 1), tmp_path / "student.pt2"
    )
    assert path.is_file()
    exported = compress.load_exported(path)
    # batch and time stay free
    for shape in [(4, 64, 1), (1, 1, 1), (7, 100, 1)]:
        x = torch.rand(*shape)
        with torch.no_grad():
            torch.testing.assert_close(
                exported(x), student(x), rtol=0, atol=0
            )


def test_export_leaves_training_mode_alone(student, tmp_path):
    student.train()
    compress.export_model(student, torch.rand(2, 8, 1), tmp_path / "s.pt2")
    assert student.training


def test_state_dict_bytes_is_the_file_size(student, teacher, tmp_path):
    for i, model in enumerate(
        (student, teacher, compress.quantize_int8(teacher))
    ):
        path = tmp_path / str(i) / "model.pt"
        path.parent.mkdir()
        torch.save(model.state_dict(), path)
        assert compress.state_dict_bytes(model) == os.path.getsize(path)


def test_size_on_disk_matches_expectation(student, teacher):
    # float32 tensors: 4 bytes per parameter, plus a bounded file-format
    # overhead
    assert compress.tensor_bytes(student) == 4 * kd_lib.count_parameters(
        student
    )
    assert compress.tensor_bytes(teacher) == 4 * kd_lib.count_parameters(
        teacher
    )
    for model in (student, teacher):
        overhead = compress.state_dict_bytes(model) - compress.tensor_bytes(
            model
        )
        assert 0 < overhead < 1000 * len(model.state_dict())
    # int8 weights: the teacher (all LSTM and Linear) shrinks to about a
    # quarter
    ratio = compress.state_dict_bytes(
        compress.quantize_int8(teacher)
    ) / compress.state_dict_bytes(teacher)
    assert 0.24 < ratio < 0.30
    # the same weights always give the same number of bytes
    assert compress.state_dict_bytes(student) == compress.state_dict_bytes(
        student
    )


def test_quantisation_covers_linear_and_lstm_but_not_conv(student, teacher):
    assert compress.quantizable_fraction(teacher) == 1.0
    head = student.head.weight.numel() + student.head.bias.numel()
    assert compress.quantizable_fraction(student) == pytest.approx(
        head / kd_lib.count_parameters(student)
    )
    q = compress.quantize_int8(student)
    # conv untouched
    assert isinstance(q.tcn.blocks[0].conv1.conv, nn.Conv1d)
    # replaced by a dynamically quantised linear
    assert type(q.head) is not nn.Linear
    assert type(student.head) is nn.Linear  # the original is not modified
    # the streaming form is all nn.Linear, so all of it is quantised
    assert compress.quantizable_fraction(StreamingTCN(student)) == 1.0


def test_quantised_models_stay_close_to_the_original(student, teacher):
    x = torch.rand(8, 64, 1)
    with torch.no_grad():
        for model in (student, teacher):
            out, q_out = model(x), compress.quantize_int8(model)(x)
            assert (q_out - out).abs().max() < 0.05 * out.abs().max() + 1e-3
        q_stream = LastStep(compress.quantize_int8(StreamingTCN(student)))
        assert (q_stream(x) - student(x)).abs().max() < 0.05 * student(
            x
        ).abs().max() + 1e-3


def test_quantize_does_not_warn(student, recwarn):
    compress.quantize_int8(student)
    assert not [w for w in recwarn if "quantiz" in str(w.message)]


def test_bad_inputs_raise(student, tmp_path):
    with pytest.raises(TypeError, match="torch.nn.Module"):
        compress.quantize_int8("model")
    with pytest.raises(TypeError, match="torch.nn.Module"):
        compress.state_dict_bytes(None)
    with pytest.raises(ValueError, match="3 dimensions"):
        compress.export_model(
            student, torch.rand(4, 64), tmp_path / "x.pt2"
        )
    with pytest.raises(ValueError, match="batch >= 2 and time >= 2"):
        compress.export_model(
            student, torch.rand(1, 64, 1), tmp_path / "x.pt2"
        )
    with pytest.raises(FileNotFoundError):
        compress.load_exported(tmp_path / "missing.pt2")
    with pytest.raises(ValueError, match="no parameters"):
        compress.quantizable_fraction(nn.ReLU())
