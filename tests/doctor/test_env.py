"""The environment probe's verdicts: what the TensorRT steps miss, and a cuda-python too new for the driver."""

from __future__ import annotations

from mtl_edge.doctor.env import cuda_mismatch, tensorrt_ready


def test_readiness_lists_each_missing_component_once():
    env = {
        "tensorrt": {"status": "missing", "reason": "TensorRT is not installed"},
        "cuda_python": {"status": "missing", "reason": "cuda-python is not installed"},
        "gpu": {"status": "missing", "reason": "cuda-python is not installed"},
    }
    ready, why = tensorrt_ready(env)
    assert not ready and why.count("cuda-python is not installed") == 2 and why.startswith("tensorrt: TensorRT")
    assert why.endswith("(the report's environment section says how to fix each)")
    assert tensorrt_ready({k: {"status": "ok", "value": "x"} for k in env}) == (True, "")


def test_cuda_python_newer_than_the_driver_is_caught():
    assert cuda_mismatch("12.6", "12.2") is None and cuda_mismatch("12.9", "13.0") is None
    why = cuda_mismatch("13.5", "12.6")
    assert "CUDA 13.5 runtime" in why and "pip install 'cuda-python>=12,<13'" in why and "JetPack 6" in why
