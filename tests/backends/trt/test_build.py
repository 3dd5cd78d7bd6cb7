"""TensorRT engine builds: real TensorRT where it is installed, clear errors where it is not.

TensorRT is never faked here. The build tests run only on a machine with TensorRT and an
NVIDIA GPU; everywhere else they skip with the reason, and what runs is the behaviour
without TensorRT (argument checks, the DLA/fp32 refusal, the install advice) plus a check
that the test model itself is valid on ONNX Runtime.

On a machine with TensorRT, the shipped checkpoint is exported at fp32, fp16 and int8
(TensorRT flavour) and at a dynamic batch, built, and every head's outputs are compared
with ONNX Runtime running the same ONNX file on the same generated frames, with a
tolerance per precision; the runtime backend runs with and without CUDA graphs. The
exports and builds happen in fixtures that only the TensorRT tests request, so they cost
nothing where those tests skip.
"""

from __future__ import annotations

import json
import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from mtl_edge.backends.trt.build import build_engine, check_dla_precision
from mtl_edge.backends.trt.cuda import EngineBuildError, gpu_identity, tensorrt_available
from mtl_edge.backends.trt.engine_file import check_engine_header, read_engine
from mtl_edge.doctor import compare_heads
from tests.trt_marks import HAVE_TRT, needs_trt

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
        assert "--system-site-packages" in reason and "cuda-python>=12.6,<13" in reason


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


def test_dla_on_an_fp32_graph_is_refused_before_tensorrt_is_needed(tmp_path):
    onnx_path = _tiny_onnx(tmp_path / "m.onnx")  # its metadata says precision fp32
    with pytest.raises(ValueError, match="strongly typed fp32 network puts nothing on the DLA") as e:
        build_engine(onnx_path, tmp_path / "m.engine", dla_core=0)
    assert "--precision fp16" in str(e.value) and "int8" in str(e.value)
    assert not (tmp_path / "m.engine").exists()
    with pytest.raises(ValueError, match="export fp16 or int8|Export fp16 or int8"):
        build_engine(onnx_path, tmp_path / "m.engine", dla_core=1, model_metadata={**METADATA, "precision": "fp32"})


def test_dla_precision_rule():
    check_dla_precision("fp16", 0)
    check_dla_precision("int8", 1)
    check_dla_precision("fp32", None)
    with pytest.raises(ValueError, match="fp32"):
        check_dla_precision("fp32", 0)


@pytest.mark.skipif(HAVE_TRT, reason="TensorRT is installed here; this checks the error without it")
def test_dla_on_fp16_gets_as_far_as_tensorrt(tmp_path):
    onnx_path = _tiny_onnx(tmp_path / "m.onnx")
    with pytest.raises(RuntimeError, match="TensorRT is not installed"):
        build_engine(onnx_path, tmp_path / "m.engine", dla_core=0, model_metadata={**METADATA, "precision": "fp16"})


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

    from mtl_edge.backends.trt.cuda import trt_logger

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

    from mtl_edge.backends.trt.cuda import trt_logger

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


# --- the shipped model, with TensorRT and an NVIDIA GPU ----------------------------------------------------

PRECISIONS = ("fp32", "fp16", "int8")


def _outputs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Outputs shaped like the shipped model's (2 frames), for checking the comparison itself."""
    boxes = np.sort(rng.uniform(0, 600, (2, 5, 4)).astype(np.float32).reshape(2, 5, 2, 2), axis=2).reshape(2, 5, 4)
    boxes[..., 2:] += 20
    return {
        "lanes.x": rng.uniform(0, 640, (2, 8, 32)).astype(np.float32),
        "lanes.valid": rng.integers(0, 2, (2, 8, 32), dtype=np.uint8),
        "lanes.score": rng.uniform(0, 1, (2, 8)).astype(np.float32),
        "vehicles.boxes": boxes,
        "vehicles.scores": np.array([[0.9, 0.8, 0.35, 0.1, 0.0]] * 2, np.float32),
        "vehicles.classes": np.zeros((2, 5), np.int32),
        "drivable.mask": rng.integers(0, 3, (2, 192, 320), dtype=np.uint8),
    }


def test_the_per_head_comparison_passes_equal_outputs_and_names_what_differs():
    ref = _outputs(np.random.default_rng(0))
    assert compare_heads(ref, {k: v.copy() for k, v in ref.items()}, "fp32") == {}
    got = {k: v.copy() for k, v in ref.items()}
    got["vehicles.boxes"][0, 0] += 200  # a confident box moved away
    got["drivable.mask"][:, :40] = (got["drivable.mask"][:, :40] + 1) % 3
    got["lanes.x"][ref["lanes.valid"] > 0] += 5
    failures = compare_heads(ref, got, "fp16")
    assert set(failures) == {"vehicles", "drivable.mask", "lanes.x"}, failures
    got = {k: v.copy() for k, v in ref.items()}
    got["vehicles.scores"][:, 2] = 0.25  # a box at the threshold flickering below it is not a miss
    assert compare_heads(ref, got, "int8") == {}


@pytest.fixture(scope="module")
def shipped_onnx(shipped_exports):
    """The shipped checkpoint's fp32, fp16, int8 (TensorRT flavour) and fp32 dynamic-batch exports.

    They come from the session fixture of ``tests/export/conftest.py`` (brought here by this folder's
    conftest), which exports only when a test that needs it runs: here, only where TensorRT is installed.
    """
    return {**{p: shipped_exports[p] for p in PRECISIONS}, "dynamic": shipped_exports["fp32-dynamic"]}


@pytest.fixture(scope="module")
def shipped_engines(shipped_onnx, tmp_path_factory):
    """Engines of the three static exports (one timing cache) and of the dynamic one (batch 1..4)."""
    root = tmp_path_factory.mktemp("trt-engines")
    cache = root / "timing.cache"
    engines = {
        p: build_engine(shipped_onnx[p], root / f"{p}.engine", timing_cache=cache).engine_path for p in PRECISIONS
    }
    engines["dynamic"] = build_engine(shipped_onnx["dynamic"], root / "dynamic.engine", max_batch=4).engine_path
    return engines


@pytest.fixture(scope="module")
def scenes(shipped_onnx):
    """Four generated driving scenes, letterboxed to the model input."""
    from mtl_edge.doctor import compare_frames
    from mtl_edge.export.onnx import read_metadata

    meta = read_metadata(shipped_onnx["fp32"])["input"]
    return compare_frames((meta["height"], meta["width"]), 4)


def _ort(path, images):
    from mtl_edge.backends.ort import OrtBackend

    with OrtBackend(path) as backend:
        return backend.infer(images)


def _trt(path, images, **kwargs):
    from mtl_edge.backends.trt.runner import TrtBackend

    with TrtBackend(path, **kwargs) as backend:
        return {k: np.concatenate(v) for k, v in _per_frame(backend, images).items()}


def _per_frame(backend, images):
    outs: dict[str, list] = {}
    for i in range(len(images)):
        for k, v in backend.infer(images[i : i + 1]).items():
            outs.setdefault(k, []).append(v)
    return outs


@needs_trt
@pytest.mark.parametrize("precision", PRECISIONS)
def test_shipped_engine_matches_onnx_runtime_per_head(shipped_onnx, shipped_engines, scenes, precision):
    ref, got = _ort(shipped_onnx[precision], scenes), _trt(shipped_engines[precision], scenes)
    failures = compare_heads(ref, got, precision)
    assert not failures, f"{precision} engine vs ONNX Runtime: {failures}"


@needs_trt
def test_shipped_engine_headers_record_the_build(shipped_engines):
    import tensorrt as trt

    for precision in PRECISIONS:
        header, _ = read_engine(shipped_engines[precision])
        assert header["tensorrt_version"] == trt.__version__ and header["model"]["precision"] == precision
        assert header["build"]["strongly_typed"] and header["build"]["dla_core"] is None


@needs_trt
def test_backend_with_and_without_cuda_graph_agree(shipped_engines, scenes):
    from mtl_edge.backends.trt.runner import TrtBackend

    engine = shipped_engines["fp16"]
    with TrtBackend(engine, cuda_graph=True) as graphed, TrtBackend(engine, cuda_graph=False) as plain:
        assert graphed.cuda_graph, "CUDA graph capture fell back to plain enqueues for the shipped model"
        assert not plain.cuda_graph
        for i in (0, 1, 0, 2):  # replays must read each call's frame, not the captured one
            a, b = graphed.infer(scenes[i : i + 1]), plain.infer(scenes[i : i + 1])
            for name in a:
                np.testing.assert_allclose(a[name], b[name], atol=1e-5, err_msg=f"{name}, frame {i}")
        with pytest.raises(ValueError, match="frames"):
            graphed.infer(scenes[:2])


@needs_trt
def test_dynamic_batch_engine_runs_any_batch_up_to_its_profile(shipped_onnx, shipped_engines, scenes):
    from mtl_edge.backends.trt.runner import TrtBackend

    header, _ = read_engine(shipped_engines["dynamic"])
    assert header["build"]["batch"] == {"min": 1, "opt": 1, "max": 4}
    with TrtBackend(shipped_engines["dynamic"]) as backend:
        assert backend.max_batch == 4 and not backend.cuda_graph
        for n in (1, 3, 4, 2):
            got = backend.infer(scenes[:n])
            assert got["vehicles.boxes"].shape[0] == n
            ref = _ort(shipped_onnx["dynamic"], scenes[:n])
            failures = compare_heads(ref, got, "fp32")
            assert not failures, f"batch {n}: {failures}"
        with pytest.raises(ValueError, match="1..4 frames"):
            backend.infer(np.concatenate([scenes, scenes[:1]]))


@needs_trt
def test_profile_and_layer_precisions_of_the_shipped_engines(shipped_engines):
    from mtl_edge.backends.trt.inspect import inspect_engine
    from mtl_edge.profile import profile_trt

    prof = profile_trt(shipped_engines["fp16"], frames=10)
    assert {"trunk", "vehicles", "signs", "lanes", "drivable"} <= set(prof.parts), prof.parts
    int8 = inspect_engine(shipped_engines["int8"])
    assert int8["int8_layers"] > 0, int8
    fp32 = inspect_engine(shipped_engines["fp32"])
    assert fp32["int8_layers"] == 0 and fp32["by_precision"].get("FP16", 0) == 0, fp32


@needs_trt
def test_dla_engine_runs_on_its_core(shipped_onnx, tmp_path, scenes):
    import tensorrt as trt

    from mtl_edge.backends.trt.cuda import trt_logger

    if trt.Runtime(trt_logger()).num_DLA_cores == 0:
        pytest.skip("this device has no DLA (only some Jetson modules, e.g. AGX Orin, have one)")
    report = build_engine(shipped_onnx["fp16"], tmp_path / "dla.engine", dla_core=0)
    header, _ = read_engine(report.engine_path)
    assert header["build"]["dla_core"] == 0
    ref, got = _ort(shipped_onnx["fp16"], scenes), _trt(report.engine_path, scenes, dla_core=0)
    assert not compare_heads(ref, got, "fp16")
