"""The TensorRT backend: what runs without TensorRT, and the real thing where it is installed.

TensorRT is never faked. Here: the DLA-core choice (set on ``IRuntime.DLA_core`` before
the engine is deserialized), the once-only warning when CUDA-graph capture falls back to
plain enqueues, and that an engine file is read and refused with the install advice when
TensorRT is missing. The backend on the shipped model, with and without CUDA graphs and
at a dynamic batch, is tested in ``tests/backends/trt/test_build.py`` where TensorRT exists.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from mtl_edge.backends.trt import runner as trt_backend
from mtl_edge.backends.trt.engine_file import engine_header, write_engine
from mtl_edge.backends.trt.runner import dla_core_to_use
from tests.trt_marks import HAVE_TRT

ENGINE = Path("m.engine")
HINT = "mtl-edge export best.pt --out m.onnx --engine m.engine"


def test_gpu_engine_runs_on_the_gpu():
    assert dla_core_to_use(None, None, 2, ENGINE, HINT) is None
    assert dla_core_to_use(None, None, 0, ENGINE, HINT) is None


def test_dla_engine_runs_on_its_core_or_the_one_asked_for():
    assert dla_core_to_use(0, None, 2, ENGINE, HINT) == 0
    assert dla_core_to_use(0, 1, 2, ENGINE, HINT) == 1  # a DLA engine runs on any core of the device


def test_dla_requests_that_cannot_work_say_what_to_do():
    with pytest.raises(ValueError, match="built for the GPU.*--dla-core 1") as e:
        dla_core_to_use(None, 1, 2, ENGINE, HINT)
    assert HINT in str(e.value)
    with pytest.raises(ValueError, match="no DLA.*Rebuild it without --dla-core") as e:
        dla_core_to_use(0, None, 0, ENGINE, HINT)
    assert HINT in str(e.value)
    with pytest.raises(ValueError, match=r"DLA core 2 does not exist.*0\.\.1"):
        dla_core_to_use(0, 2, 2, ENGINE, HINT)


def test_cuda_graph_fallback_is_announced_once_per_engine(monkeypatch):
    monkeypatch.setattr(trt_backend, "_GRAPH_FALLBACK_WARNED", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trt_backend._warn_graph_fallback(Path("a.engine"), "cudaStreamEndCapture: capture invalidated")
        trt_backend._warn_graph_fallback(Path("a.engine"), "cudaStreamEndCapture: capture invalidated")
        trt_backend._warn_graph_fallback(Path("b.engine"), "execute_async_v3 failed")
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2 and all(issubclass(w.category, RuntimeWarning) for w in caught)
    assert "a.engine: CUDA graph capture failed (cudaStreamEndCapture" in messages[0]
    assert "plain execute_async_v3" in messages[0] and "cuda_graph=False" in messages[0]


@pytest.mark.skipif(HAVE_TRT, reason="TensorRT is installed here; this checks the error without it")
def test_engine_without_tensorrt_says_how_to_get_it(tmp_path):
    path = tmp_path / "m.engine"
    header = engine_header("10.3.0", "Orin", "8.7", "0" * 64, {"precision": "fp16"}, {"dla_core": 0})
    write_engine(path, b"not run: TensorRT is missing", header)
    with pytest.raises(RuntimeError, match="TensorRT is not installed") as e:
        trt_backend.TrtBackend(path)
    assert "--system-site-packages" in str(e.value) and "JetPack" in str(e.value)
