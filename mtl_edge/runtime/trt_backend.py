"""TensorRT backend through cuda-python: pinned host buffers, one stream, ``execute_async_v3``.

Not run on the machines this project is developed on (no GPU, no TensorRT; see
:mod:`mtl_edge.export.tensorrt`). It follows NVIDIA's documented TensorRT 10/11
name-based tensor API and cuda-python's runtime bindings. What is verified here:
the engine file's header is read and checked (TensorRT version, GPU, compute
capability) before TensorRT deserializes anything, and a mismatch gets the rebuild
command.

Per call: copy the uint8 frames into a pinned buffer, then one stream carries the
host-to-device copy, the engine and the device-to-host copies; with static shapes
the three are captured once into a CUDA graph and replayed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mtl_edge.export.engine_file import check_engine_header, read_engine


def _check(result: Any, call: str) -> Any:
    """Unpack cuda-python's ``(err, value...)`` tuples, raising (with the driver's message) on an error."""
    from mtl_edge.export.tensorrt import _cuda_check, _cudart

    err, *values = result if isinstance(result, tuple) else (result,)
    _cuda_check(_cudart(), err, call)
    return values[0] if len(values) == 1 else tuple(values) if values else None


class TrtBackend:
    """Run an mtl-edge ``.engine`` file (built by ``mtl-edge export --engine``)."""

    name = "trt"

    def __init__(self, path: str | Path, cuda_graph: bool = True) -> None:
        from mtl_edge.export.tensorrt import _cudart, _import_tensorrt, gpu_identity, trt_logger

        self.path = Path(path)
        header, engine_bytes = read_engine(self.path)  # clear errors for missing/foreign/truncated files
        trt = _import_tensorrt()
        name, cc = gpu_identity()
        hint = header.get("build", {}).get("rebuild_command") or f"mtl-edge export CKPT --engine {self.path}"
        check_engine_header(header, trt.__version__, name, cc, hint, path=self.path)
        self.metadata: dict[str, Any] = header["model"]
        self.heads = self.metadata["heads"]
        self.input_hw = (int(self.metadata["input"]["height"]), int(self.metadata["input"]["width"]))
        self._cudart = cudart = _cudart()
        self._runtime = trt.Runtime(trt_logger())
        self.engine = self._runtime.deserialize_cuda_engine(engine_bytes)
        if self.engine is None:
            raise RuntimeError(f"{self.path}: TensorRT could not deserialize the engine; rebuild it with: {hint}")
        self.context = self.engine.create_execution_context()
        self.stream = _check(cudart.cudaStreamCreate(), "cudaStreamCreate")
        self.buffers: dict[str, tuple[np.ndarray, int]] = {}  # name -> (pinned host array, device pointer)
        self.inputs, self.outputs = [], []
        for i in range(self.engine.num_io_tensors):
            tensor = self.engine.get_tensor_name(i)
            shape = tuple(self.engine.get_tensor_shape(tensor))
            if any(d < 0 for d in shape):
                raise RuntimeError(f"{self.path}: dynamic shapes are not supported by this backend; export --batch N")
            dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(tensor)))
            nbytes = int(np.prod(shape)) * dtype.itemsize
            host_ptr = _check(cudart.cudaMallocHost(nbytes), "cudaMallocHost")
            host = np.ctypeslib.as_array((np.ctypeslib.ctypes.c_byte * nbytes).from_address(host_ptr))
            host = host.view(dtype).reshape(shape)
            device = _check(cudart.cudaMalloc(nbytes), "cudaMalloc")
            self.buffers[tensor] = (host, device)
            self.context.set_tensor_address(tensor, device)
            is_input = self.engine.get_tensor_mode(tensor) == trt.TensorIOMode.INPUT
            (self.inputs if is_input else self.outputs).append(tensor)
        self._graph_exec = self._capture() if cuda_graph else None

    def _enqueue(self) -> None:
        cudart = self._cudart
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name in self.inputs:
            host, device = self.buffers[name]
            _check(cudart.cudaMemcpyAsync(device, host.ctypes.data, host.nbytes, h2d, self.stream), "cudaMemcpyAsync")
        if not self.context.execute_async_v3(self.stream):
            raise RuntimeError("TensorRT execute_async_v3 failed (see the TensorRT log above)")
        for name in self.outputs:
            host, device = self.buffers[name]
            _check(cudart.cudaMemcpyAsync(host.ctypes.data, device, host.nbytes, d2h, self.stream), "cudaMemcpyAsync")

    def _capture(self) -> Any:
        """Record copy-in, engine and copy-out once as a CUDA graph (after one warm-up run)."""
        cudart = self._cudart
        self._enqueue()
        _check(cudart.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")
        mode = cudart.cudaStreamCaptureMode.cudaStreamCaptureModeGlobal
        _check(cudart.cudaStreamBeginCapture(self.stream, mode), "cudaStreamBeginCapture")
        self._enqueue()
        graph = _check(cudart.cudaStreamEndCapture(self.stream), "cudaStreamEndCapture")
        try:
            return _check(cudart.cudaGraphInstantiate(graph, 0), "cudaGraphInstantiate")
        finally:
            cudart.cudaGraphDestroy(graph)  # the executable graph does not need its template

    def infer(self, images: np.ndarray) -> dict[str, np.ndarray]:
        host, _ = self.buffers[self.inputs[0]]
        if images.shape != host.shape or images.dtype != host.dtype:
            raise ValueError(f"this engine takes {host.dtype} {list(host.shape)} frames, got {list(images.shape)}")
        np.copyto(host, images)
        if self._graph_exec is not None:
            _check(self._cudart.cudaGraphLaunch(self._graph_exec, self.stream), "cudaGraphLaunch")
        else:
            self._enqueue()
        _check(self._cudart.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")
        return {name: self.buffers[name][0].copy() for name in self.outputs}

    def close(self) -> None:
        cudart = self._cudart
        if self._graph_exec is not None:
            cudart.cudaGraphExecDestroy(self._graph_exec)
            self._graph_exec = None
        for host, device in self.buffers.values():
            cudart.cudaFreeHost(host.ctypes.data)
            cudart.cudaFree(device)
        self.buffers.clear()
        cudart.cudaStreamDestroy(self.stream)

    def __enter__(self) -> TrtBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
