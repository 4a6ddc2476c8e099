"""Running a streaming step fast where it is deployed: runtimes, export,
static int8 and where the time goes.

A streaming step of a small model does little arithmetic, so on a CPU its
latency is set by the fixed cost of every operator call, not by its
multiply-adds. This module runs one step (a
:class:`~kd_lib.chapters.streaming.TCNStep` or
:class:`~kd_lib.chapters.streaming.LSTMStep`:
``(y, states) = step(x, states)``) in four runtimes and measures what each
costs:

- eager PyTorch (the module itself);
- TorchScript, frozen and optimised for inference (:func:`script_step`);
- ``torch.compile`` with the Inductor backend (:func:`compile_step`; needs
  a C++ compiler, see :func:`cpp_compiler`);
- ONNX Runtime (:func:`export_onnx`, then :class:`OnnxStep`, or
  :class:`BoundOnnxStream` to keep the state inside the runtime), with
  static int8 quantisation of the exported graph
  (:func:`quantize_onnx_static`).

:func:`eager_op_times` and :func:`onnx_op_times` say which operators one
step runs and how long each takes; :func:`raw_weight_bytes` and
:func:`onnx_weight_bytes` give sizes as numbers times bytes per number.
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..utils import check_int, check_tensor
from .streaming import LSTMStep, TCNStep

__all__ = [
    "int8_dot_product",
    "cpp_compiler",
    "script_step",
    "compile_step",
    "export_onnx",
    "OnnxStep",
    "BoundOnnxStream",
    "onnx_op_counts",
    "onnx_weight_bytes",
    "raw_weight_bytes",
    "OpTime",
    "eager_op_times",
    "onnx_op_times",
    "quantize_onnx_static",
    "calibration_feeds",
]


def _check_step(step) -> None:
    if not isinstance(step, (TCNStep, LSTMStep)):
        raise TypeError(
            "step must be a kd_lib.streaming.TCNStep or LSTMStep, got "
            f"{type(step).__name__}"
        )


def _example(step, batch_size: int):
    return torch.zeros(batch_size, step.input_size), step.initial_state(
        batch_size
    )


# ------------------------------------------------------------ TorchScript


@contextlib.contextmanager
def _quiet_torchscript():
    # TorchScript is deprecated in the pinned torch (2.13) in favour of
    # torch.compile and torch.export, and every call says so. It still works
    # and is still the lowest-overhead PyTorch runtime for a tiny step on a
    # CPU here, which is what the deployment chapter measures; silence
    # exactly these deprecation notices, nothing else.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=r"`torch\.jit\.\w+` is deprecated",
            category=DeprecationWarning,
        )
        yield


def script_step(step: nn.Module) -> torch.jit.ScriptModule:
    """``step`` compiled to TorchScript, frozen (weights become constants)
    and optimised for inference (operator fusion, pre-packed weights).

    Call it like ``step``: ``(y, states) = scripted(x, states)``.
    """
    _check_step(step)
    with _quiet_torchscript(), torch.no_grad():
        scripted = torch.jit.script(step.eval())
        return torch.jit.optimize_for_inference(torch.jit.freeze(scripted))


# --------------------------------------------------------- torch.compile


def int8_dot_product() -> list[str]:
    """The CPU's instructions for int8 dot products (``avx512_vnni``,
    ``avx_vnni``, ``amx_int8``), from ``/proc/cpuinfo``; empty when it has
    none, or on a system without that file. Without them an int8 matrix
    product has no fast path, and int8 is rarely faster than float."""
    wanted = ("avx512_vnni", "avx_vnni", "amx_int8")
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(
                (
                    line.split(":", 1)[1].split()
                    for line in f
                    if line.startswith("flags")
                ),
                [],
            )
    except OSError:
        return []
    return [name for name in wanted if name in flags]


def cpp_compiler() -> str | None:
    """Path of the C++ compiler ``torch.compile`` would use on the CPU, or
    ``None`` where there is none (then :func:`compile_step` cannot run)."""
    for name in ("c++", "g++", "clang++"):
        path = shutil.which(name)
        if path:
            return path
    return None


def compile_step(step: nn.Module, batch_size: int = 1):
    """``torch.compile(step)`` (Inductor, static shapes, one graph),
    compiled now for ``batch_size`` streams; returns the compiled callable
    and the seconds compiling took.

    Raises ``RuntimeError`` without a C++ compiler. LSTM steps do not
    compile this way: with ``fullgraph=True`` Dynamo cannot capture
    ``nn.LSTM`` in one graph (it raises ``Unsupported``); without it, it
    would fall back to eager PyTorch for the LSTM.
    """
    _check_step(step)
    check_int(batch_size, "batch_size")
    if cpp_compiler() is None:
        raise RuntimeError("torch.compile on the CPU needs a C++ compiler")
    compiled = torch.compile(step.eval(), fullgraph=True, dynamic=False)
    x, states = _example(step, batch_size)
    start = time.perf_counter()
    # Inductor itself still touches torch.jit.script_method, which warns
    # as deprecated in torch 2.13: the same notice as TorchScript's
    with _quiet_torchscript(), torch.inference_mode():
        compiled(x, states)
    return compiled, time.perf_counter() - start


# ----------------------------------------------------------- ONNX export


@contextlib.contextmanager
def _quiet_export():
    # torch.onnx.export(dynamo=True) in torch 2.13 reports its own internals
    # as warnings and log lines that say nothing about the model: missing
    # torchvision operators, a deprecated torch._check_is_size it calls
    # itself, pytree and axis-naming notices, and nn.LSTM's cached flat
    # weights. Silence those categories during export only.
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings(
                "ignore", message=r".*_flat_weights.*assigned during export"
            )
            warnings.filterwarnings(
                "ignore", message=r".*axis name: .* will not be used"
            )
            yield
    finally:
        logger.setLevel(level)


def export_onnx(step: nn.Module, path: str | Path) -> Path:
    """Export ``step`` with ``torch.onnx.export(..., dynamo=True)`` (the
    ``torch.export``-based exporter) to ``path``, the batch size free.

    The graph's inputs are ``x`` and then every state tensor, its outputs
    ``y`` and then every new state, in the order of ``step``'s list: the
    state is explicit, so the file alone streams a sequence.
    """
    _check_step(step)
    x, states = _example(step, 2)
    batch = torch.export.Dim("batch", min=1)
    axis = 1 if isinstance(step, LSTMStep) else 0
    dynamic = ({0: batch}, [{axis: batch} for _ in states])
    n = len(states)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _quiet_export():
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
    ``threads`` threads and every graph optimisation on.

    Call it like the PyTorch step, on tensors: ``(y, states) =
    onnx_step(x, states)``. :meth:`run` takes and returns NumPy arrays
    (what a deployment without torch would do, and what to time).
    """

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
    (ONNX Runtime's I/O binding), two sets of state buffers take turns as
    input and output, and a step only writes ``x`` and runs.

    This removes the per-call cost of converting every input and output
    between Python and ONNX Runtime, which for a step with many small
    state tensors is a large part of its time. ``step(x)`` takes ``x``
    ``(batch, input_size)`` (array or tensor) and returns ``y`` ``(batch,
    outputs)`` as a NumPy array that the next step overwrites.
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

        def value(array):
            # shares the NumPy array's memory, no copy
            return ort.OrtValue.ortvalue_from_numpy(array)

        self._keep = [value(self.x), value(self.y)]
        self.bindings = []
        for source, target in ((0, 1), (1, 0)):
            binding = session.io_binding()
            binding.bind_ortvalue_input(inputs[0].name, self._keep[0])
            binding.bind_ortvalue_output(outputs[0].name, self._keep[1])
            for given, array in zip(inputs[1:], buffers[source]):
                binding.bind_ortvalue_input(given.name, value(array))
            for given, array in zip(outputs[1:], buffers[target]):
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


def onnx_op_counts(path: str | Path) -> collections.Counter:
    """How many nodes of each operator type the ONNX file's graph holds (as
    exported, before ONNX Runtime's own fusions)."""
    import onnx

    model = onnx.load(str(path))
    return collections.Counter(node.op_type for node in model.graph.node)


def onnx_weight_bytes(path: str | Path) -> int:
    """Raw bytes of the weights stored in an ONNX file: the numbers of every
    initializer times bytes per number (int8 = 1, float32 and int32 = 4),
    without the file format's overhead. Quantised graphs count their
    scales, zero points and int32 biases too; int64 initializers (tap
    indices, shape constants) are not weights and are left out."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    arrays = (numpy_helper.to_array(t) for t in model.graph.initializer)
    return sum(a.nbytes for a in arrays if a.dtype != np.int64)


def raw_weight_bytes(model: nn.Module, bytes_per_value: int = 4) -> int:
    """Weights times bytes per value: what the weights of ``model`` take as
    bare numbers (4 for float32, 1 for int8). Weights are the floating
    parameters and buffers (a :class:`TCNStep` keeps its folded weights as
    buffers; its integer tap indices are not weights)."""
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )
    check_int(bytes_per_value, "bytes_per_value")
    tensors = list(model.parameters()) + list(model.buffers())
    return bytes_per_value * sum(
        t.numel() for t in tensors if t.is_floating_point()
    )


# -------------------------------------------------------- where time goes


@dataclass
class OpTime:
    """One operator type in one step: how many calls and their total time
    in microseconds."""

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
    call inside are part of their time); an operator's time is the
    profiler's CPU time for it, its dispatch included, but not the Python
    code between operators.
    """
    _check_step(step)
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
                batch_size if not isinstance(d, int) else d
                for d in given.shape
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


def calibration_feeds(
    step, x: torch.Tensor, every: int = 1
) -> list[list[np.ndarray]]:
    """Inputs of ``step`` seen while streaming ``x`` ``(batch, time,
    features)``: ``[x_t, *states_t]`` at every ``every``-th step, the
    calibration set of :func:`quantize_onnx_static` (the states must be
    calibrated on the values they take in use, not on zeros)."""
    check_tensor(x, "x", ndim=3, floating=True)
    check_int(every, "every")
    feeds = []
    states = step.initial_state(x.shape[0])
    with torch.no_grad():
        for t in range(x.shape[1]):
            if t % every == 0:
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
    per_channel: bool = True,
) -> Path:
    """Static int8 quantisation of an exported step with ONNX Runtime:
    int8 weights (per output channel with ``per_channel``) and int8
    activations whose ranges are calibrated on ``feeds`` (from
    :func:`calibration_feeds`), in the QDQ format. Writes ``out_path``.

    Every matrix product, the convolutions' included, becomes an int8
    product; the graph is shape-inferred first, as ONNX Runtime advises.
    """
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
            per_channel=per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    return out_path
