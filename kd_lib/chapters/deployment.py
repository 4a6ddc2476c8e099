"""Running a trained model where it is deployed: runtimes, export, int8
weights and where the time goes.

A streaming step of a small model does little arithmetic, so on a CPU its
latency is set by the fixed cost of every operator call, not by its
multiply-adds. This module runs one step (a
:class:`~kd_lib.chapters.streaming.TCNStep` or
:class:`~kd_lib.chapters.streaming.LSTMStep`:
``(y, states) = step(x, states)``) in eager PyTorch, TorchScript,
``torch.compile`` and ONNX Runtime, profiles its operators, and
quantises it to int8.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ..utils import check_int, check_module, check_tensor
from .streaming import LSTMStep, RecomputingTCN, TCNStep

__all__ = [
    "cpp_compiler",
    "script_step",
    "compile_step",
    "export_onnx",
    "OnnxStep",
    "BoundOnnxStream",
    "OpTime",
    "eager_op_times",
    "onnx_op_times",
    "quantize_onnx_static",
    "calibration_feeds",
    "quantize_int8",
    "export_model",
]


def _check_step(step, kinds=(TCNStep, LSTMStep)) -> None:
    if not isinstance(step, kinds):
        names = " or ".join(kind.__name__ for kind in kinds)
        raise TypeError(
            f"step must be a {names}, got {type(step).__name__}"
        )


def _example(step, batch_size: int):
    x = torch.zeros(batch_size, step.input_size)
    return x, step.initial_state(batch_size)


@contextlib.contextmanager
def _quiet():
    # Notices that say nothing about the model. TorchScript is deprecated
    # in the pinned torch (2.13) and every call says so (Inductor still
    # calls it too); it still works, with the least overhead per call.
    # torch.onnx.export(dynamo=True) reports its own internals as warnings
    # and log lines: missing torchvision operators, pytree and axis-naming
    # notices, nn.LSTM's cached flat weights.
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            for message in (
                r"`torch\.jit\.\w+` is deprecated",
                r".*_flat_weights.*assigned during export",
                r".*axis name: .* will not be used",
            ):
                warnings.filterwarnings("ignore", message=message)
            warnings.filterwarnings("ignore", category=FutureWarning)
            yield
    finally:
        logger.setLevel(level)


# ------------------------------------------------------------ TorchScript


def script_step(step: nn.Module) -> torch.jit.ScriptModule:
    """``step`` compiled to TorchScript, frozen (weights become constants)
    and optimised for inference (operator fusion, pre-packed weights);
    call it like ``step``."""
    _check_step(step)
    with _quiet(), torch.no_grad():
        scripted = torch.jit.script(step.eval())
        return torch.jit.optimize_for_inference(torch.jit.freeze(scripted))


# --------------------------------------------------------- torch.compile


def cpp_compiler() -> str | None:
    """Path of the C++ compiler ``torch.compile`` would use on the CPU, or
    ``None`` where there is none (then :func:`compile_step` cannot run)."""
    found = (shutil.which(name) for name in ("c++", "g++", "clang++"))
    return next((path for path in found if path), None)


def compile_step(step: nn.Module, batch_size: int = 1):
    """``torch.compile(step)`` (Inductor, static shapes, one graph),
    compiled now for ``batch_size`` streams; returns the compiled callable
    and the seconds compiling took. Raises ``RuntimeError`` without a C++
    compiler. LSTM steps do not compile this way: with ``fullgraph=True``
    Dynamo does not capture ``nn.LSTM`` by default
    (``torch._dynamo.config.allow_rnn`` is False: it raises
    ``Unsupported``); without it, it falls back to eager PyTorch for the
    LSTM."""
    _check_step(step)
    check_int(batch_size, "batch_size")
    if cpp_compiler() is None:
        raise RuntimeError("torch.compile on the CPU needs a C++ compiler")
    compiled = torch.compile(step.eval(), fullgraph=True, dynamic=False)
    x, states = _example(step, batch_size)
    start = time.perf_counter()
    with _quiet(), torch.inference_mode():
        compiled(x, states)
    return compiled, time.perf_counter() - start


# ----------------------------------------------------------- ONNX export


def export_onnx(step: nn.Module, path: str | Path) -> Path:
    """Export ``step`` with ``torch.onnx.export(..., dynamo=True)`` to
    ``path``, the batch size free. The graph's inputs are ``x`` and every
    state tensor, its outputs ``y`` and every new state, in the order of
    ``step``'s list: the file alone streams a sequence."""
    _check_step(step)
    x, states = _example(step, 2)
    batch = torch.export.Dim("batch", min=1)
    axis = 1 if isinstance(step, LSTMStep) else 0
    dynamic = ({0: batch}, [{axis: batch} for _ in states])
    n = len(states)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _quiet():
        program = torch.onnx.export(
            step.eval(),
            (x, states),
            dynamo=True,
            dynamic_shapes=dynamic,
            input_names=["x"] + [f"state_{i}" for i in range(n)],
            output_names=["y"] + [f"new_state_{i}" for i in range(n)],
            verbose=False,
        )
        program.save(str(path))
    return path


def _array(value) -> np.ndarray:
    # a float32 NumPy array from a tensor or an array (tensors go through
    # .numpy(): NumPy 2 warns when it converts them itself)
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float32)


def _session(path, threads: int, profile_prefix: str | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    )
    options.log_severity_level = 3  # errors only
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return ort.InferenceSession(
        str(path), options, providers=["CPUExecutionProvider"]
    )


class OnnxStep:
    """A step exported by :func:`export_onnx` (or quantised by
    :func:`quantize_onnx_static`), run by ONNX Runtime on the CPU with
    ``threads`` threads and every graph optimisation on. Call it like the
    PyTorch step, on tensors; :meth:`run` takes and returns NumPy arrays
    (what a deployment without torch would do, and what to time)."""

    def __init__(self, path: str | Path, threads: int = 1):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no ONNX file at {path}")
        check_int(threads, "threads")
        self.path = path
        self.session = _session(path, threads)
        self.input_names = [i.name for i in self.session.get_inputs()]

    def feed(self, x, states) -> dict[str, np.ndarray]:
        """The input dictionary of one step, from tensors or arrays."""
        arrays = [_array(x)] + [_array(s) for s in states]
        if len(arrays) != len(self.input_names):
            raise ValueError(
                f"the graph takes x and {len(self.input_names) - 1} "
                f"states, got {len(arrays) - 1} states"
            )
        return dict(zip(self.input_names, arrays, strict=True))

    def run(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One step on NumPy arrays: ``[y, *new_states]``."""
        return self.session.run(None, feed)

    def __call__(self, x: torch.Tensor, states: list[torch.Tensor]):
        check_tensor(x, "x", ndim=2, floating=True)
        y, *new_states = self.run(self.feed(x.numpy(), states))
        return torch.from_numpy(y), [
            torch.from_numpy(s) for s in new_states
        ]


class BoundOnnxStream:
    """Streams through an :class:`OnnxStep` with the state kept inside ONNX
    Runtime: inputs and outputs are bound once to preallocated buffers
    (I/O binding), two sets of state buffers take turns as input and
    output, and a step only writes ``x`` and runs. This removes the
    per-call cost of converting every input and output between Python and
    ONNX Runtime. ``step(x)`` maps ``x`` ``(batch, input_size)`` to ``y``
    ``(batch, outputs)``, a NumPy array that the next step overwrites.
    """

    def __init__(self, onnx_step: OnnxStep, states, num_outputs: int):
        import onnxruntime as ort

        if not isinstance(onnx_step, OnnxStep):
            raise TypeError(
                "onnx_step must be an OnnxStep, got "
                f"{type(onnx_step).__name__}"
            )
        check_int(num_outputs, "num_outputs")
        session = onnx_step.session
        inputs = session.get_inputs()
        outputs = session.get_outputs()
        if len(states) != len(inputs) - 1:
            raise ValueError(
                f"the graph takes {len(inputs) - 1} states, got "
                f"{len(states)}"
            )
        buffers = [
            [_array(s).copy() for s in states],
            [np.zeros_like(_array(s)) for s in states],
        ]
        batch = buffers[0][0].shape[1 if buffers[0][0].ndim == 3 else 0]
        self.x = np.zeros((batch, inputs[0].shape[1]), dtype=np.float32)
        self.y = np.zeros((batch, num_outputs), dtype=np.float32)
        value = ort.OrtValue.ortvalue_from_numpy  # shares memory, no copy
        self.bindings = []
        for source, target in ((0, 1), (1, 0)):
            binding = session.io_binding()
            for given, array in zip(inputs, [self.x, *buffers[source]]):
                binding.bind_ortvalue_input(given.name, value(array))
            for given, array in zip(outputs, [self.y, *buffers[target]]):
                binding.bind_ortvalue_output(given.name, value(array))
            self.bindings.append(binding)
        self.buffers = buffers
        self.session = session
        self.turn = 0

    def step(self, x) -> np.ndarray:
        """One step of every stream: ``y`` ``(batch, outputs)``."""
        self.x[...] = _array(x)
        self.session.run_with_iobinding(self.bindings[self.turn])
        self.turn ^= 1
        return self.y


# -------------------------------------------------------- where time goes


class OpTime(NamedTuple):
    """One operator type in one step: calls and their total microseconds."""

    op: str
    calls: int
    us: float


def _summarise(calls, runs) -> list[OpTime]:
    count, total = collections.Counter(), collections.Counter()
    for name, seconds in calls:
        count[name] += 1
        total[name] += seconds
    rows = [
        OpTime(name, count[name] // runs, 1e6 * total[name] / runs)
        for name in count
    ]
    return sorted(rows, key=lambda r: (-r.calls, r.op))


def eager_op_times(
    step, batch_size: int = 1, runs: int = 50, runner=None
) -> list[OpTime]:
    """The ATen operators one call of ``step`` makes, with their mean
    time over ``runs`` calls, from ``torch.profiler`` (``runner``, default
    ``step`` itself, is what is called: for example its
    :func:`script_step`).

    Only the operators the step calls itself are listed (the ones they
    call inside are part of their time), so their calls add up to the
    step's operator calls. An operator's time is the profiler's CPU time
    for it, its dispatch included, not the Python code between operators.
    """
    _check_step(step, (TCNStep, LSTMStep, RecomputingTCN))
    check_int(batch_size, "batch_size")
    check_int(runs, "runs")
    runner = step if runner is None else runner
    x, states = _example(step, batch_size)
    # Kineto, behind torch.profiler, prints status lines from C++ to
    # stderr unless its log level is raised; a notebook would show them.
    # It reads the level when the profiler first starts in the process.
    os.environ.setdefault("KINETO_LOG_LEVEL", "99")
    with torch.inference_mode():
        for _ in range(3):
            runner(x, states)
        with torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU]
        ) as profiler:
            for _ in range(runs):
                runner(x, states)
    calls = [
        (event.name.removeprefix("aten::"), 1e-6 * event.cpu_time_total)
        for event in profiler.events()
        if _top_level_aten(event)
    ]
    return _summarise(calls, runs)


def _top_level_aten(event) -> bool:
    # an ATen operator called by the step itself, not one that another
    # ATen operator calls inside it (aten::slice -> aten::as_strided)
    if not event.name.startswith("aten::"):
        return False
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith("aten::"):
            return False
        parent = parent.cpu_parent
    return True


def onnx_op_times(
    path: str | Path, batch_size: int = 1, runs: int = 200
) -> list[OpTime]:
    """The nodes ONNX Runtime executes for one step of the file at
    ``path`` (after its own graph fusions) and their mean kernel time,
    from ONNX Runtime's profiler (one thread; the profile is written to a
    temporary directory and deleted)."""
    check_int(batch_size, "batch_size")
    check_int(runs, "runs")
    with tempfile.TemporaryDirectory() as folder:
        session = _session(path, 1, str(Path(folder) / "profile"))
        feed = {}
        for given in session.get_inputs():
            shape = [
                d if isinstance(d, int) else batch_size for d in given.shape
            ]
            feed[given.name] = np.zeros(shape, np.float32)
        for _ in range(runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    nodes = [
        (e["args"]["op_name"], 1e-6 * e["dur"])
        for e in events
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")
    ]
    return _summarise(nodes, runs)


# ------------------------------------------------------------ static int8


def calibration_feeds(step, x: torch.Tensor) -> list[list[np.ndarray]]:
    """Inputs of ``step`` seen while streaming ``x`` ``(batch, time,
    features)``: ``[x_t, *states_t]`` at every step, the calibration set
    of :func:`quantize_onnx_static` (the states must be calibrated on the
    values they take in use, not on zeros)."""
    check_tensor(x, "x", ndim=3, floating=True)
    feeds = []
    states = step.initial_state(x.shape[0])
    with torch.no_grad():
        for t in range(x.shape[1]):
            feeds.append(
                [x[:, t].numpy().copy()]
                + [s.numpy().copy() for s in states]
            )
            _, states = step(x[:, t], states)
    return feeds


def quantize_onnx_static(
    path: str | Path,
    out_path: str | Path,
    feeds: list[list[np.ndarray]],
) -> Path:
    """Static int8 quantisation of an exported step with ONNX Runtime,
    written to ``out_path``: int8 weights (per output channel) and int8
    activations whose ranges are calibrated on ``feeds`` (from
    :func:`calibration_feeds`), in the QDQ format. Every matrix product
    becomes an int8 product."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not feeds:
        raise ValueError("need at least one calibration feed")
    names = [i.name for i in _session(path, 1).get_inputs()]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(feeds)

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else dict(zip(names, item))

    out_path = Path(out_path)
    with tempfile.TemporaryDirectory() as folder:
        prepared = Path(folder) / "prepared.onnx"
        quant_pre_process(
            str(path), str(prepared), skip_symbolic_shape=True
        )
        quantize_static(
            str(prepared),
            str(out_path),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    return out_path


# ------------------------------------- dynamic int8, whole-model export


def quantize_int8(model: nn.Module) -> nn.Module:
    """Dynamic int8 quantisation: a copy of ``model`` whose ``nn.Linear``
    and ``nn.LSTM`` weights are int8 (per tensor, symmetric), activations
    quantised at run time from their observed range. ``nn.Conv1d`` is not
    covered: in a :class:`kd_lib.TCNClassifier` only the head changes, in
    its :class:`~kd_lib.chapters.streaming.TCNStep` every convolution.
    Inference only, on the CPU."""
    check_module(model)
    with warnings.catch_warnings():
        # torch.ao.quantization is deprecated in favour of torchao (not a
        # dependency); the eager API still works in the pinned torch
        warnings.filterwarnings(
            "ignore", message=r"torch\.ao\.quantization is deprecated"
        )
        warnings.filterwarnings(
            "ignore", message=r"torch\.quantize_per_tensor.*deprecated"
        )
        return torch.ao.quantization.quantize_dynamic(
            model, {nn.Linear, nn.LSTM}, dtype=torch.qint8, inplace=False
        )


def export_model(
    model: nn.Module, example: torch.Tensor, path: str | Path
) -> Path:
    """Export ``model`` with ``torch.export`` (batch and time sizes free)
    and save it to ``path``; a module that needs no kd_lib code to run.
    ``example`` is one input ``(batch, time, features)`` with batch >= 2
    and time >= 2 (a size of 1 would be taken as fixed)."""
    check_module(model)
    check_tensor(example, "example", ndim=3, floating=True)
    if example.shape[0] < 2 or example.shape[1] < 2:
        raise ValueError(
            "example needs batch >= 2 and time >= 2 so that both stay "
            f"free, got shape {tuple(example.shape)}"
        )
    batch = torch.export.Dim("batch", min=1)
    length = torch.export.Dim("time", min=1)
    was_training = model.training
    model.eval()
    try:
        program = torch.export.export(
            model, (example,), dynamic_shapes=({0: batch, 1: length},)
        )
    finally:
        model.train(was_training)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, path)
    return path
