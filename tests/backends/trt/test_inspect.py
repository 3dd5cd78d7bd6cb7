"""The per-layer precisions of an engine (the doctor's engine step reports them), read from the inspector's JSON."""

from __future__ import annotations

import pytest

from mtl_edge.backends.trt.inspect import layer_precisions


def test_layer_precisions_reads_the_inspector_json_of_tensorrt_10_and_11():
    """The summary of ``IEngineInspector`` JSON, on the documented layout (no engine involved)."""
    info = {
        "Layers": [
            {  # TensorRT 10.x: one "Format/Datatype" string per tensor
                "Name": "backbone/stem/Conv + backbone/stem/Relu",
                "LayerType": "CaskConvolution",
                "Inputs": [
                    {"Name": "a", "Format/Datatype": "Thirty-two wide channel vectorized row major Int8 format"}
                ],
                "Outputs": [
                    {"Name": "b", "Format/Datatype": "Thirty-two wide channel vectorized row major Int8 format"}
                ],
            },
            {
                "Name": "Reformatting CopyNode for Input Tensor 0 to heads.lanes/Conv",
                "LayerType": "Reformat",
                "Inputs": [{"Name": "b", "Format/Datatype": "Int8 NC/32HW32"}],
                "Outputs": [{"Name": "c", "Format/Datatype": "Row major linear FP32"}],
            },
            {  # TensorRT 11.x: "DataType" and "Format" are separate fields
                "Name": "heads.lanes/Conv",
                "LayerType": "CaskConvolution",
                "Inputs": [{"Name": "c", "DataType": "Half", "Format": "Channel major FP16 format"}],
                "Outputs": [{"Name": "d", "DataType": "Half", "Format": "Channel major FP16 format"}],
            },
            {
                "Name": "preprocess/Cast",
                "LayerType": "Cast",
                "Inputs": [{"Name": "images", "DataType": "UInt8", "Format": "Row major linear UInt8 format"}],
                "Outputs": [{"Name": "e", "DataType": "Float", "Format": "Row major linear FP32"}],
            },
        ]
    }
    summary = layer_precisions(info)
    assert summary["layers"] == 4 and summary["int8_layers"] == 1 and summary["reformat_layers"] == 1
    assert summary["by_precision"] == {"INT8": 1, "FP16": 1, "UINT8": 1}
    assert summary["by_head"] == {"lanes": {"FP16": 1}, "preprocess": {"UINT8": 1}, "trunk": {"INT8": 1}}
    with pytest.raises(ValueError, match="DETAILED profiling verbosity"):
        layer_precisions({"Layers": ["backbone/stem/Conv"]})
