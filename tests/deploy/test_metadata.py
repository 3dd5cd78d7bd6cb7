"""The metadata contract is read from an ONNX file's protobuf without the onnx package."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from mtl_edge.deploy.metadata import METADATA_KEY, file_sha256, node_owner, read_metadata


def _model(props: dict[str, str]) -> onnx.ModelProto:
    """A small valid graph with a large initializer ahead of the metadata (as exported graphs have)."""
    weight = numpy_helper.from_array(np.arange(300_000, dtype=np.float32).reshape(600, 500), "w")
    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="heads.lanes/MatMul_1")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 600])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 500])],
        [weight],
    )
    model = helper.make_model(graph, producer_name="mtl-edge")
    helper.set_model_props(model, props)
    return model


def test_reads_what_onnx_wrote(tmp_path):
    meta = {"schema": 1, "heads": {"lanes": {"row_y": [1.5, 2.5]}}, "note": "ünïcode"}
    model = _model({"other": "x", METADATA_KEY: json.dumps(meta), "last": "y"})
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    assert read_metadata(path) == meta
    assert read_metadata(model) == meta  # an in-memory ModelProto too
    assert len(file_sha256(path)) == 64


def test_a_model_without_metadata_says_how_to_fix_it(tmp_path):
    path = tmp_path / "plain.onnx"
    onnx.save(_model({"other": "x"}), path)
    with pytest.raises(ValueError, match="no 'mtl_edge' metadata.*Re-export"):
        read_metadata(path)


@pytest.mark.parametrize("blob", [b"\x00" * 100, b"\xff" * 16, b"", b"not a model at all\n"])
def test_garbage_raises_value_error(tmp_path, blob):
    path = tmp_path / "bad.onnx"
    path.write_bytes(blob)
    with pytest.raises(ValueError):
        read_metadata(path)


def test_a_truncated_file_raises_value_error(tmp_path):
    path = tmp_path / "cut.onnx"
    onnx.save(_model({METADATA_KEY: "{}"}), path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ValueError):
        read_metadata(path)


def test_node_owner_is_the_name_prefix():
    assert node_owner("heads.signs/tower/Conv_3") == "heads.signs" and node_owner("backbone") == "backbone"
