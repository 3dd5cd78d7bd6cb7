"""The ONNX-only steps' findings as JSON, for the checks of today and of older mtl-edge."""

from __future__ import annotations

from mtl_edge.doctor.onnx_steps import finding_dict


def test_findings_serialise_with_their_rule_and_source():
    from types import SimpleNamespace

    from mtl_edge.export.compat import Finding

    found = Finding("preprocess/Transpose", "uint8-io", "uint8 into Transpose.", "Cast first.", "operators.md")
    d = finding_dict(found)
    assert d["severity"] == "error" and d["node"] == "preprocess/Transpose" and d["rule"] == "uint8-io"
    assert d["source"] == "operators.md" and "Cast first" in d["text"]
    older = SimpleNamespace(node="n", problem="p", fix="f")  # the pre-rewrite Violation had no severity
    assert finding_dict(older)["severity"] == "error" and finding_dict(older)["rule"] is None
