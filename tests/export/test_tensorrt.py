"""TensorRT engine builds: real TensorRT where it is installed, clear errors where it is not.

TensorRT is never faked here. The build tests run only on a machine with TensorRT and an
NVIDIA GPU; everywhere else they skip with the reason, and what runs is the behaviour
without TensorRT plus a check that the test model itself is valid on ONNX Runtime.
"""

from __future__ import annotations

import json
import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from mtl_edge.export.engine_file import check_engine_header, read_engine
from mtl_edge.export.tensorrt import EngineBuildError, build_engine, gpu_identity, tensorrt_available

HAVE_TRT, TRT_STATUS = tensorrt_available()
NO_TRT = "TensorRT is not installed (it cannot be installed on machines without an NVIDIA GPU; see DESIGN.md)"
needs_trt = pytest.mark.skipif(not HAVE_TRT, reason=NO_TRT)
METADATA = {"schema": 1, "precision": "fp32", "input": {"name": "images", "height": 16, "width": 16}}


def _tiny_onnx(path, batch: int | str = 1, extra_node: onnx.NodeProto | None = None):
    """Conv + Relu on float32 [B, 3, 16, 16], nodes named by module, with mtl_edge metadata."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "backbone.conv.weight")
    b = numpy_helper.from_array(np.zeros(4, np.float32), "backbone.conv.bias")
    nodes = [
        helper.make_node("Conv", ["images", w.name, b.name], ["c"], name="backbone/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["features"], name="backbone/Relu"),
    ]
    out = "features"
    if extra_node is not None:
        nodes.append(extra_node)
        out = extra_node.output[0]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, 16, 16])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, [batch, 4, 16, 16])],
        [w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    entry = model.metadata_props.add()
    entry.key, entry.value = "mtl_edge", json.dumps(METADATA)
    onnx.save(model, str(path))
    return path


# --- everywhere ---------------------------------------------------------------------------------------------


def test_tensorrt_available_gives_a_reason():
    ok, reason = tensorrt_available()
    assert isinstance(ok, bool) and reason.startswith("TensorRT")
    if not ok:
        assert "not installed" in reason and "JetPack" in reason and "pip install tensorrt" in reason


@pytest.mark.skipif(HAVE_TRT, reason="TensorRT is installed here; this checks the error without it")
def test_build_without_tensorrt_says_how_to_get_it(tmp_path):
    onnx_path = _tiny_onnx(tmp_path / "m.onnx")
    with pytest.raises(RuntimeError) as e:
        build_engine(onnx_path, tmp_path / "m.engine")
    msg = str(e.value)
    assert "TensorRT is not installed" in msg and "JetPack" in msg and "pip install tensorrt" in msg
    assert "ONNX Runtime" in msg
    assert not (tmp_path / "m.engine").exists()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"opt_level": 7}, "opt_level must be 0..5"),
        ({"workspace_gb": 0}, "workspace_gb must be > 0"),
        ({"max_batch": 0}, "max_batch must be >= 1"),
        ({"dla_core": -1}, "dla_core must be >= 0"),
    ],
)
def test_bad_options_are_refused_first(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_engine(tmp_path / "m.onnx", tmp_path / "m.engine", **kwargs)


def test_gpu_identity_or_a_clear_error():
    try:
        name, cc = gpu_identity()
    except RuntimeError as e:  # no cuda-python, or no GPU/driver (as on the dev and CI machines)
        assert "pip install cuda-python" in str(e) or "NVIDIA GPU" in str(e)
    else:
        assert name and re.fullmatch(r"\d+\.\d+", cc)


def test_the_test_model_is_valid_on_onnx_runtime(tmp_path):
    import onnxruntime as ort

    from mtl_edge.export.onnx import read_metadata

    for batch in (1, "batch"):
        path = _tiny_onnx(tmp_path / f"m{batch}.onnx", batch=batch)
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
        assert read_metadata(path) == METADATA
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (y,) = sess.run(None, {"images": np.ones((2 if batch == "batch" else 1, 3, 16, 16), np.float32)})
        assert y.shape[1:] == (4, 16, 16) and (y >= 0).all()


# --- with TensorRT and an NVIDIA GPU ------------------------------------------------------------------------


@needs_trt
def test_build_writes_a_checked_engine_that_deserializes(tmp_path):
    import tensorrt as trt

    from mtl_edge.export.tensorrt import trt_logger

    onnx_path = _tiny_onnx(tmp_path / "m.onnx")
    cache = tmp_path / "timing.cache"
    report = build_engine(onnx_path, tmp_path / "m.engine", workspace_gb=0.5, timing_cache=cache, opt_level=1)
    header, engine = read_engine(report.engine_path)
    name, cc = gpu_identity()
    assert header["tensorrt_version"] == trt.__version__ == report.tensorrt_version
    assert (header["gpu"], header["compute_capability"]) == (name, cc) == (report.gpu, report.compute_capability)
    assert header["model"] == METADATA and len(header["onnx_sha256"]) == 64
    assert header["build"]["opt_level"] == 1 and header["build"]["batch"] == {"min": 1, "opt": 1, "max": 1}
    assert report.size_bytes == report.engine_path.stat().st_size and report.layers >= 1
    assert cache.stat().st_size > 0
    check_engine_header(header, trt.__version__, name, cc, "rebuild")
    runtime = trt.Runtime(trt_logger())
    cuda_engine = runtime.deserialize_cuda_engine(engine)
    assert cuda_engine is not None
    names = {cuda_engine.get_tensor_name(i) for i in range(cuda_engine.num_io_tensors)}
    assert names == {"images", "features"}
    again = build_engine(onnx_path, tmp_path / "m2.engine", timing_cache=cache)  # loads the saved cache
    assert again.timing_cache == cache


@needs_trt
def test_dynamic_batch_gets_a_profile(tmp_path):
    import tensorrt as trt

    from mtl_edge.export.tensorrt import trt_logger

    onnx_path = _tiny_onnx(tmp_path / "m.onnx", batch="batch")
    report = build_engine(onnx_path, tmp_path / "m.engine", max_batch=4)
    header, engine = read_engine(report.engine_path)
    assert header["build"]["batch"] == {"min": 1, "opt": 1, "max": 4}
    cuda_engine = trt.Runtime(trt_logger()).deserialize_cuda_engine(engine)
    lo, opt, hi = (tuple(s) for s in cuda_engine.get_tensor_profile_shape("images", 0))
    assert (lo, opt, hi) == ((1, 3, 16, 16), (1, 3, 16, 16), (4, 3, 16, 16))


@needs_trt
def test_unparseable_graph_names_the_node(tmp_path):
    bad = helper.make_node("NoSuchOp", ["features"], ["out"], name="heads.signs/NoSuchOp", domain="my.ops")
    onnx_path = tmp_path / "bad.onnx"
    _tiny_onnx(onnx_path, extra_node=bad)
    with pytest.raises(EngineBuildError, match="could not parse") as e:
        build_engine(onnx_path, tmp_path / "bad.engine")
    assert "heads.signs/NoSuchOp" in str(e.value) or "NoSuchOp" in str(e.value)
    assert not (tmp_path / "bad.engine").exists()


@needs_trt
def test_dla_core_beyond_the_device_is_refused(tmp_path):
    onnx_path = _tiny_onnx(tmp_path / "m.onnx")
    with pytest.raises(EngineBuildError, match="DLA"):
        build_engine(onnx_path, tmp_path / "m.engine", dla_core=64)
