"""TensorRT backend through cuda-python: pinned host buffers, one stream, ``execute_async_v3``,
and its per-layer profiler.

Not run on the machines this project is developed on (no GPU, no TensorRT; see
:mod:`mtl_edge.backends.trt.build`). It follows NVIDIA's documented TensorRT 10.x/11.x
name-based tensor API (``IRuntime.DLA_core``, ``get_tensor_profile_shape``,
``set_input_shape``, ``execute_async_v3``) and cuda-python's ``cuda.bindings.runtime``,
with buffers handled as in NVIDIA's ``samples/python/common_runtime.py`` (TensorRT 10.x).
What is verified here: the engine file's header is read and checked (TensorRT version,
GPU, compute capability) before TensorRT deserializes anything, a mismatch gets the
rebuild command, and the DLA-core choice is validated (:func:`dla_core_to_use`).

Per call: copy the uint8 frames into a pinned buffer, then one stream carries the
host-to-device copy, the engine and the device-to-host copies. With static shapes the
three are captured once into a CUDA graph and replayed; when capture fails (an engine
may hold operations that CUDA graphs do not allow) the capture is ended and discarded
as trtexec does (TensorRT 10.x ``samples/common/sampleInference.cpp``,
``TrtCudaGraph::endCaptureOnError`` in ``sampleDevice.h``), a warning says so once, and
every call runs a plain ``execute_async_v3``. A dynamic-batch engine gets buffers for
its profile's largest batch and runs without a CUDA graph.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtl_edge.backends.base import Backend
from mtl_edge.backends.trt.cuda import cuda_check, gpu_identity, import_tensorrt, load_cudart, trt_logger
from mtl_edge.backends.trt.engine_file import check_engine_header, read_engine
from mtl_edge.backends.trt.profiler import profile_layers

if TYPE_CHECKING:
    from mtl_edge.backends.profiling import Profile

_log = logging.getLogger(__name__)
_GRAPH_FALLBACK_WARNED: set[str] = set()


def _check(result: Any, call: str) -> Any:
    """Unpack cuda-python's ``(err, value...)`` tuples, raising (with the driver's message) on an error."""
    err, *values = result if isinstance(result, tuple) else (result,)
    cuda_check(load_cudart(), err, call)
    return values[0] if len(values) == 1 else tuple(values) if values else None


def _status(result: Any) -> Any:
    """The ``cudaError_t`` of a cuda-python call (which returns a tuple led by it)."""
    return result[0] if isinstance(result, tuple) else result


def _error_text(cudart: Any, err: Any) -> str:
    _, text = cudart.cudaGetErrorString(err)
    return text.decode(errors="replace") if isinstance(text, bytes) else str(text)


def dla_core_to_use(built_for: int | None, requested: int | None, available: int, path: Path, hint: str) -> int | None:
    """The DLA core to run on (``IRuntime.DLA_core``), or None for a GPU engine; a clear error otherwise.

    ``built_for`` is the core recorded in the engine file; ``requested`` overrides it (an engine
    built for one DLA core runs on any core of the same device).
    """
    if built_for is None:
        if requested is not None:
            raise ValueError(
                f"{path} was built for the GPU, so it cannot run on DLA core {requested}. "
                f"Rebuild it for DLA (add --dla-core {requested}) or leave out the DLA core: {hint}"
            )
        return None
    core = built_for if requested is None else requested
    if available == 0:
        raise ValueError(
            f"{path} was built for DLA core {built_for}, but this device has no DLA (DLA exists only on some "
            f"Jetson modules, e.g. AGX Orin). Rebuild it without --dla-core on this machine: {hint}"
        )
    if not 0 <= core < available:
        raise ValueError(
            f"DLA core {core} does not exist: this device has {available} DLA core(s), numbered 0..{available - 1}."
        )
    return core


def _warn_graph_fallback(path: Path, reason: str) -> None:
    """Say once per engine file that CUDA-graph capture failed and plain enqueues are used."""
    if str(path) in _GRAPH_FALLBACK_WARNED:
        _log.debug("CUDA graph capture failed again for %s: %s", path, reason)
        return
    _GRAPH_FALLBACK_WARNED.add(str(path))
    warnings.warn(
        f"{path}: CUDA graph capture failed ({reason}); running every call with a plain execute_async_v3 "
        "instead (same results, a little more launch overhead). Pass cuda_graph=False to skip the attempt.",
        RuntimeWarning,
        stacklevel=3,
    )


class TrtBackend(Backend):
    """Run an mtl-edge ``.engine`` file (built by ``mtl-edge export --engine``).

    ``dla_core`` picks the DLA core for an engine built for DLA (default: the core it was
    built for). ``cuda_graph`` replays copy-in, engine and copy-out as one CUDA graph where
    the engine allows it; ``self.cuda_graph`` says whether it is in use.
    """

    name = "trt"

    def __init__(self, path: str | Path, cuda_graph: bool = True, dla_core: int | None = None) -> None:
        super().__init__(path)
        self._use_graph, self._dla_request = cuda_graph, dla_core
        self.load()

    def load(self) -> None:
        header, engine_bytes = read_engine(self.path)  # clear errors for missing/foreign/truncated files
        trt = import_tensorrt()
        name, cc = gpu_identity()
        build = header.get("build", {})
        hint = build.get("rebuild_command") or f"mtl-edge export CHECKPOINT --out MODEL.onnx --engine {self.path}"
        check_engine_header(header, trt.__version__, name, cc, hint, path=self.path)
        self.metadata = header["model"]
        self.input_hw = (int(self.metadata["input"]["height"]), int(self.metadata["input"]["width"]))
        self._cudart = cudart = load_cudart()
        self._graph_exec: Any = None
        self.buffers: dict[str, tuple[np.ndarray, int]] = {}  # name -> (flat pinned host array, device pointer)
        self._runtime = trt.Runtime(trt_logger())
        # IRuntime.DLA_core must be set before deserialize_cuda_engine: it picks the core the engine runs on.
        self.dla_core = dla_core_to_use(
            build.get("dla_core"), self._dla_request, int(self._runtime.num_DLA_cores), self.path, hint
        )
        if self.dla_core is not None:
            self._runtime.DLA_core = self.dla_core
        self.engine = self._runtime.deserialize_cuda_engine(engine_bytes)
        if self.engine is None:
            raise RuntimeError(f"{self.path}: TensorRT could not deserialize the engine; rebuild it with: {hint}")
        self.context = self.engine.create_execution_context()
        self.stream = _check(cudart.cudaStreamCreate(), "cudaStreamCreate")
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.dtypes: dict[str, np.dtype] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}  # the shapes of the current call
        self.max_batch: int | None = None  # the profile's largest batch, for a dynamic-batch engine
        self._allocate(trt)
        self.cuda_graph = False
        if self._use_graph and self.max_batch is None:
            self._graph_exec = self._capture()
            self.cuda_graph = self._graph_exec is not None

    def _allocate(self, trt: Any) -> None:
        """Pinned host and device buffers per I/O tensor, sized for the largest batch the engine takes."""
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        for tensor in names:
            is_input = self.engine.get_tensor_mode(tensor) == trt.TensorIOMode.INPUT
            (self.inputs if is_input else self.outputs).append(tensor)
            self.dtypes[tensor] = np.dtype(trt.nptype(self.engine.get_tensor_dtype(tensor)))
        for tensor in self.inputs:
            shape = tuple(int(d) for d in self.engine.get_tensor_shape(tensor))
            if any(d < 0 for d in shape):
                _, _, largest = self.engine.get_tensor_profile_shape(tensor, 0)  # [min, opt, max] of profile 0
                shape = tuple(int(d) for d in largest)
                self.max_batch = shape[0]
                self.context.set_input_shape(tensor, shape)
            self.shapes[tensor] = shape
        for tensor in self.outputs:  # with every input shape set, the context knows the output shapes
            self.shapes[tensor] = tuple(int(d) for d in self.context.get_tensor_shape(tensor))
        cudart = self._cudart
        for tensor in names:
            dtype, shape = self.dtypes[tensor], self.shapes[tensor]
            if any(d < 0 for d in shape):
                raise RuntimeError(
                    f"{self.path}: tensor {tensor} has a data-dependent shape {list(shape)}; mtl-edge engines have "
                    "fixed output shapes. Re-export the model with `mtl-edge export` and rebuild the engine."
                )
            nbytes = int(np.prod(shape)) * dtype.itemsize
            host_ptr = _check(cudart.cudaMallocHost(nbytes), "cudaMallocHost")
            host = np.ctypeslib.as_array((np.ctypeslib.ctypes.c_byte * nbytes).from_address(int(host_ptr)))
            device = _check(cudart.cudaMalloc(nbytes), "cudaMalloc")
            self.buffers[tensor] = (host.view(dtype), int(device))
            self.context.set_tensor_address(tensor, int(device))

    def _host(self, tensor: str) -> np.ndarray:
        """The pinned host array of ``tensor`` in the current call's shape."""
        shape = self.shapes[tensor]
        return self.buffers[tensor][0][: int(np.prod(shape))].reshape(shape)

    def _enqueue(self) -> None:
        cudart = self._cudart
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name in self.inputs:
            host, device = self._host(name), self.buffers[name][1]
            _check(cudart.cudaMemcpyAsync(device, host.ctypes.data, host.nbytes, h2d, self.stream), "cudaMemcpyAsync")
        if not self.context.execute_async_v3(self.stream):
            raise RuntimeError("TensorRT execute_async_v3 failed (see the TensorRT log above)")
        for name in self.outputs:
            host, device = self._host(name), self.buffers[name][1]
            _check(cudart.cudaMemcpyAsync(host.ctypes.data, device, host.nbytes, d2h, self.stream), "cudaMemcpyAsync")

    def _capture(self) -> Any:
        """Record copy-in, engine and copy-out once as a CUDA graph; None (and a warning) if that fails.

        One plain run comes first, so that TensorRT's first-call initialisation is not captured.
        A failed capture is ended and its graph discarded, then the CUDA error it left is cleared
        (``cudaGetLastError``), as trtexec does, so that later calls do not report it.
        """
        cudart = self._cudart
        success = cudart.cudaError_t.cudaSuccess
        self._enqueue()
        _check(cudart.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")
        mode = cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        err = _status(cudart.cudaStreamBeginCapture(self.stream, mode))
        if err != success:
            cudart.cudaGetLastError()
            _warn_graph_fallback(self.path, f"cudaStreamBeginCapture: {_error_text(cudart, err)}")
            return None
        reason = None
        try:
            self._enqueue()
        except RuntimeError as e:  # execute_async_v3 returned False, or a copy failed while capturing
            reason = str(e)
        err, graph = cudart.cudaStreamEndCapture(self.stream)  # always end the capture, even after a failure
        if err == success and reason is None:
            err, graph_exec = cudart.cudaGraphInstantiate(graph, 0)
            cudart.cudaGraphDestroy(graph)  # the executable graph does not need its template
            if err == success:
                return graph_exec
            reason = f"cudaGraphInstantiate: {_error_text(cudart, err)}"
        elif err == success:
            cudart.cudaGraphDestroy(graph)  # capture ended but TensorRT reported a failure: discard it
        else:  # cudaErrorStreamCaptureInvalidated: no graph was made
            reason = reason or f"cudaStreamEndCapture: {_error_text(cudart, err)}"
        cudart.cudaGetLastError()
        _warn_graph_fallback(self.path, reason or "unknown error")
        return None

    def _set_batch(self, batch: int) -> None:
        """Set a dynamic-batch engine's input shapes for this call and read back its output shapes."""
        if self.max_batch is None:
            return
        if not 1 <= batch <= self.max_batch:
            raise ValueError(
                f"this engine takes 1..{self.max_batch} frames per call, got {batch}; split the batch, or rebuild "
                "the engine with a larger max_batch (mtl_edge.backends.trt.build.build_engine(..., max_batch=N))"
            )
        if self.shapes[self.inputs[0]][0] == batch:
            return
        for name in self.inputs:
            shape = (batch, *self.shapes[name][1:])
            if not self.context.set_input_shape(name, shape):
                raise RuntimeError(f"TensorRT refused input shape {list(shape)} for {name}")
            self.shapes[name] = shape
        for name in self.outputs:
            self.shapes[name] = tuple(int(d) for d in self.context.get_tensor_shape(name))

    def infer(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """One engine call on a batch of letterboxed uint8 frames; ``{"<head>.<field>": array}``."""
        name = self.inputs[0]
        expected = self.shapes[name][1:]
        if images.ndim != 4 or tuple(images.shape[1:]) != expected or images.dtype != self.dtypes[name]:
            raise ValueError(
                f"this engine takes {self.dtypes[name]} [B,{','.join(map(str, expected))}] frames, "
                f"got {images.dtype} {list(images.shape)}"
            )
        self._set_batch(images.shape[0])
        if images.shape[0] != self.shapes[name][0]:
            raise ValueError(f"this engine takes batches of {self.shapes[name][0]} frames, got {images.shape[0]}")
        np.copyto(self._host(name), images)
        if self._graph_exec is not None:
            _check(self._cudart.cudaGraphLaunch(self._graph_exec, self.stream), "cudaGraphLaunch")
        else:
            self._enqueue()
        _check(self._cudart.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")
        return {name: self._host(name).copy() for name in self.outputs}

    def close(self) -> None:
        cudart = self._cudart
        if self._graph_exec is not None:
            cudart.cudaGraphExecDestroy(self._graph_exec)
            self._graph_exec = None
        for host, device in self.buffers.values():
            cudart.cudaFreeHost(host.ctypes.data)
            cudart.cudaFree(device)
        self.buffers.clear()
        if getattr(self, "stream", None) is not None:
            cudart.cudaStreamDestroy(self.stream)
            self.stream = None

    def profile(self, image: np.ndarray, frames: int = 50, warmup: int = 5) -> Profile:
        """Per-layer times from a TensorRT ``IProfiler``, grouped by the owners of the ONNX nodes each layer fused.

        Needs plain enqueues: open the backend with ``cuda_graph=False``.
        """
        if self._graph_exec is not None:
            raise ValueError("per-layer profiling needs plain enqueues: open the engine with cuda_graph=False")
        return profile_layers(self, image, frames, warmup)


__all__ = ["TrtBackend", "dla_core_to_use"]
