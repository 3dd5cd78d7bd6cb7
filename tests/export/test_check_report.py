"""``mtl-edge check``: exit codes, the printed report, JSON, and bad files."""

from __future__ import annotations

import json

import onnx
from onnx import TensorProto, helper

from mtl_edge.cli import main


def _transposed_frame(path):
    graph = helper.make_graph(
        [
            helper.make_node("Transpose", ["images"], ["t"], perm=[0, 3, 1, 2], name="preprocess/Transpose"),
            helper.make_node("Cast", ["t"], ["y"], to=TensorProto.FLOAT, name="preprocess/Cast"),
        ],
        "g",
        [helper.make_tensor_value_info("images", TensorProto.UINT8, [1, 8, 8, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return path


def test_errors_exit_1_naming_node_rule_source_and_fix(tmp_path, capsys):
    assert main(["check", str(_transposed_frame(tmp_path / "m.onnx"))]) == 1
    out = capsys.readouterr().out
    assert "FAILS TensorRT 10 parser rules" in out
    assert "preprocess/Transpose: [uint8-io-only]" in out and "Fix: cast 'images'" in out and "onnx-tensorrt" in out


def test_json_report(tmp_path, capsys):
    assert main(["check", str(_transposed_frame(tmp_path / "m.onnx")), "--trt", "11", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["trt_major"] == 11
    assert {"node", "rule", "problem", "fix", "source", "severity"} <= set(report["findings"][0])


def test_real_exports_pass_and_int8_prints_its_placement(shipped_exports, capsys):
    assert main(["check", str(shipped_exports["fp32-dynamic"])]) == 0  # the metadata asks for a dynamic batch
    assert main(["check", str(shipped_exports["int8"]), "--trt", "11"]) == 0
    out = capsys.readouterr().out
    assert "passes TensorRT 11 parser rules (0 errors" in out and "INT8 placement" in out
    assert main(["check", str(shipped_exports["int8-cpu"]), "--target", "ort"]) == 0


def test_cpu_int8_graph_is_reported_as_onnx_runtime_only(shipped_exports, capsys):
    assert main(["check", str(shipped_exports["int8-cpu"])]) == 1
    assert "ONNX Runtime only, TensorRT rejects it" in capsys.readouterr().out


def test_missing_or_truncated_file_exits_2_with_the_fix(tmp_path, capsys):
    assert main(["check", str(tmp_path / "none.onnx")]) == 2
    assert "no such file" in capsys.readouterr().err
    good = _transposed_frame(tmp_path / "m.onnx").read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(good[: len(good) // 2])
    assert main(["check", str(cut)]) == 2
    assert "Re-export it" in capsys.readouterr().err
