"""Runtimes of a streaming step: every one computes what the PyTorch step
computes, and the exported ONNX step streams whole sequences exactly like
the full model."""

import os
import subprocess
import sys

import pytest
import torch

import kd_lib
from kd_lib.chapters import deployment, streaming

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def _tcn(seed=0, channels=(5, 6, 6), kernel_size=3):
    kd_lib.set_seed(seed)
    model = kd_lib.TCNClassifier(
        2, 4, list(channels), kernel_size, readout="sequence"
    )
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model.eval()


def _lstm(seed=0):
    kd_lib.set_seed(seed)
    model = kd_lib.LSTMClassifier(2, 4, 6, 2).eval()
    full = kd_lib.LSTMClassifier(2, 4, 6, 2, readout="sequence").eval()
    full.load_state_dict(model.state_dict())
    return model, full


@pytest.mark.parametrize("batch, length", [(1, 5), (3, 40), (8, 17)])
def test_exported_tcn_step_streams_like_the_full_model(
    tmp_path, batch, length
):
    model = _tcn()
    step = streaming.TCNStep(model)
    path = deployment.export_onnx(step, tmp_path / "step.onnx")
    onnx_step = deployment.OnnxStep(path)
    x = torch.randn(batch, length, 2)
    with torch.no_grad():
        expected = model(x)
    got = streaming.run_steps(onnx_step, x, step.initial_state(batch))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # the state is explicit: x and one input per convolution
    assert len(onnx_step.input_names) == 1 + len(step.state_sizes)


def test_exported_lstm_step_streams_like_the_full_model(tmp_path):
    model, full = _lstm()
    step = streaming.LSTMStep(model)
    onnx_step = deployment.OnnxStep(
        deployment.export_onnx(step, tmp_path / "lstm.onnx")
    )
    x = torch.randn(3, 12, 2)
    with torch.no_grad():
        expected = full(x)
    got = streaming.run_steps(onnx_step, x, step.initial_state(3))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_scripted_step_equals_eager():
    model = _tcn(1)
    step = streaming.TCNStep(model)
    scripted = deployment.script_step(step)
    x = torch.randn(2, 20, 2)
    torch.testing.assert_close(
        streaming.run_steps(scripted, x, step.initial_state(2)),
        streaming.run_steps(step, x, step.initial_state(2)),
        rtol=1e-5,
        atol=1e-5,
    )
    lstm, full = _lstm(1)
    lstm_step = streaming.LSTMStep(lstm)
    scripted = deployment.script_step(lstm_step)
    with torch.no_grad():
        expected = full(x)
    torch.testing.assert_close(
        streaming.run_steps(scripted, x, lstm_step.initial_state(2)),
        expected,
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.skipif(
    deployment.cpp_compiler() is None, reason="no C++ compiler"
)
def test_compiled_step_equals_eager():
    step = streaming.TCNStep(_tcn(2, channels=(3, 3)))
    compiled, seconds = deployment.compile_step(step, batch_size=2)
    assert seconds > 0
    x = torch.randn(2, 9, 2)
    with torch.inference_mode():
        torch.testing.assert_close(
            streaming.run_steps(compiled, x, step.initial_state(2)),
            streaming.run_steps(step, x, step.initial_state(2)),
            rtol=1e-5,
            atol=1e-5,
        )


def test_static_int8_is_close_and_smaller(tmp_path):
    model = _tcn(3)
    step = streaming.TCNStep(model)
    path = deployment.export_onnx(step, tmp_path / "step.onnx")
    x = torch.randn(16, 30, 2)
    feeds = deployment.calibration_feeds(step, x)
    assert len(feeds) == 30 and len(feeds[0]) == 1 + len(step.state_sizes)
    int8 = deployment.quantize_onnx_static(
        path, tmp_path / "int8.onnx", feeds
    )
    graph = onnx.load(str(int8)).graph
    assert "QuantizeLinear" in [node.op_type for node in graph.node]
    int8_type = onnx.TensorProto.INT8
    assert any(t.data_type == int8_type for t in graph.initializer)
    got = streaming.run_steps(
        deployment.OnnxStep(int8), x, step.initial_state(16)
    )
    with torch.no_grad():
        expected = model(x)
    # int8 rounding: close, not equal
    scale = expected.abs().max()
    assert (got - expected).abs().max() < 0.05 * scale
    assert not torch.equal(got, expected)


def test_op_counts_and_times():
    step = streaming.TCNStep(_tcn(4))
    rows = deployment.eager_op_times(step, runs=5)
    assert all(r.us > 0 for r in rows)
    calls = {r.op: r.calls for r in rows}
    # one matrix product per convolution (2 per level), per 1x1
    # downsample (2 -> 5 and 5 -> 6 channels) and for the head
    assert calls["linear"] == 2 * 3 + 2 + 1
    # the convolutions of dilation > 1 gather their taps
    assert calls["index_select"] == 2 * 2  # levels 1 and 2, two each
    with torch.inference_mode():
        scripted = deployment.script_step(step)
    assert deployment.eager_op_times(step, runs=3, runner=scripted)
    # the naive baseline runs the whole net: convolutions, no gathers
    naive = deployment.eager_op_times(streaming.RecomputingTCN(_tcn(4)))
    assert "index_select" not in {r.op for r in naive}


def test_onnx_op_times(tmp_path):
    step = streaming.TCNStep(_tcn(5))
    path = deployment.export_onnx(step, tmp_path / "step.onnx")
    rows = deployment.onnx_op_times(path, runs=10)
    assert sum(r.calls for r in rows) > 0
    assert not list(tmp_path.glob("*.json"))  # the profile was removed


def test_bad_inputs_raise(tmp_path):
    with pytest.raises(TypeError, match="TCNStep"):
        deployment.script_step(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="TCNStep"):
        deployment.export_onnx(torch.nn.Linear(2, 2), tmp_path / "x.onnx")
    with pytest.raises(FileNotFoundError):
        deployment.OnnxStep(tmp_path / "missing.onnx")
    step = streaming.TCNStep(_tcn())
    with pytest.raises(ValueError, match="calibration"):
        deployment.quantize_onnx_static(
            tmp_path / "a.onnx", tmp_path / "b.onnx", []
        )
    with pytest.raises(ValueError):
        deployment.eager_op_times(step, runs=0)


def test_bound_stream_keeps_the_state_inside_and_matches(tmp_path):
    model = _tcn(6)
    step = streaming.TCNStep(model)
    onnx_step = deployment.OnnxStep(
        deployment.export_onnx(step, tmp_path / "step.onnx")
    )
    x = torch.randn(4, 23, 2)
    bound = deployment.BoundOnnxStream(onnx_step, step.initial_state(4), 4)
    got = torch.stack(
        [
            torch.from_numpy(bound.step(x[:, t]).copy())
            for t in range(x.shape[1])
        ],
        dim=1,
    )
    with torch.no_grad():
        torch.testing.assert_close(got, model(x), rtol=1e-5, atol=1e-5)
    lstm, full = _lstm(2)
    lstm_step = streaming.LSTMStep(lstm)
    bound = deployment.BoundOnnxStream(
        deployment.OnnxStep(
            deployment.export_onnx(lstm_step, tmp_path / "lstm.onnx")
        ),
        lstm_step.initial_state(4),
        4,
    )
    got = torch.stack(
        [
            torch.from_numpy(bound.step(x[:, t]).copy())
            for t in range(x.shape[1])
        ],
        dim=1,
    )
    with torch.no_grad():
        torch.testing.assert_close(got, full(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="states"):
        deployment.BoundOnnxStream(onnx_step, step.initial_state(4)[:2], 4)
    with pytest.raises(TypeError):
        deployment.BoundOnnxStream(step, step.initial_state(4), 4)


def test_op_times_print_nothing_to_stderr():
    # torch.profiler's C++ side prints status lines unless told not to;
    # a fresh process, since the level is read once per process
    code = (
        "import torch\n"
        "from kd_lib.chapters import deployment, streaming\n"
        "from kd_lib.models import TCNClassifier\n"
        "model = TCNClassifier(1, 3, [4, 4], kernel_size=2)\n"
        "deployment.eager_op_times(streaming.TCNStep(model), runs=2)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KINETO_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
