"""The uint8 frame is cast before any other op, uint8 outputs are cast from float, and ONNX Runtime sees no change.

The "legacy" graphs rebuild the old ordering (Transpose on the uint8 frame, uint8 outputs cast
from BOOL / INT64) by patching the two places that produce it, so the new graphs can be
compared with the old ones bit for bit, and the parser check shown to reject the old ones.
"""

from __future__ import annotations

import cv2
import numpy as np
import onnx
import pytest
import torch

from mtl_edge.backends.ort import OrtBackend
from mtl_edge.export.compat import check, errors
from tests.export.conftest import SHIPPED_EXPORTS, export_shipped

FLAVOURS = ("fp32", "fp16", "int8", "int8-cpu")


def _legacy_preprocess(self, images):
    return images.permute(0, 3, 1, 2).to(torch.float32) * self.scale + self.shift


@pytest.fixture(scope="module")
def legacy_exports(tmp_path_factory, shipped_frames):
    """The four flavours exported with the old uint8 handling (the TensorRT check bypassed: it rejects them)."""
    root = tmp_path_factory.mktemp("legacy")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("mtl_edge.models.network.Preprocess.forward", _legacy_preprocess)
        for module in ("lanes", "drivable"):
            mp.setattr(f"mtl_edge.models.heads.{module}.uint8_output", lambda x: x.to(torch.uint8))
        mp.setattr("mtl_edge.export.exporter.require_compatible", lambda *a, **k: None)
        return {
            name: export_shipped(root / f"{name}.onnx", shipped_frames, **SHIPPED_EXPORTS[name]) for name in FLAVOURS
        }


def _outputs(path, frames) -> dict[str, np.ndarray]:
    out = {}
    with OrtBackend(path) as backend:
        h, w = backend.input_hw
        for i, p in enumerate(sorted(frames.glob("*"))):
            image = cv2.resize(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB), (w, h))[None]
            out.update({f"{i}/{k}": v for k, v in backend.infer(image).items()})
    return out


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_onnx_runtime_outputs_are_bit_identical_to_the_old_graph(
    flavour, shipped_exports, legacy_exports, shipped_frames
):
    new, old = _outputs(shipped_exports[flavour], shipped_frames), _outputs(legacy_exports[flavour], shipped_frames)
    assert new.keys() == old.keys() and len(new) > 0
    for key in new:
        assert new[key].dtype == old[key].dtype, key
        assert np.array_equal(new[key], old[key]), key


def test_the_frame_is_cast_first_and_uint8_outputs_come_from_float(shipped_exports):
    model = onnx.shape_inference.infer_shapes(onnx.load(str(shipped_exports["fp32"])))
    types = {v.name: v.type.tensor_type.elem_type for v in [*model.graph.value_info, *model.graph.output]}
    readers = [n for n in model.graph.node if "images" in n.input]
    assert [n.op_type for n in readers] == ["Cast"]
    producer = {o: n for n in model.graph.node for o in n.output}
    for name in ("lanes.valid", "drivable.mask"):
        cast = producer[name]
        assert cast.op_type == "Cast" and types[cast.input[0]] == onnx.TensorProto.FLOAT


def test_check_rejects_the_old_graph_naming_the_transpose_and_the_fix(legacy_exports):
    found = errors(check(onnx.load(str(legacy_exports["fp32"]))))
    frame = [f for f in found if f.rule == "uint8-io-only" and "Transpose" in f.node]
    assert frame, [str(f) for f in found]
    assert "images" in frame[0].problem and "cast" in frame[0].fix.lower()
    assert {f.rule for f in found} >= {"uint8-io-only", "uint8-cast-from-float"}
