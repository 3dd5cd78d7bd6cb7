"""PANNeck shapes, wiring and its export-friendly deploy graph."""

from __future__ import annotations

import copy
import io
import warnings

import pytest
import torch
from torch import Tensor, nn

from mtl_edge.models.backbones import EdgeNet
from mtl_edge.models.blocks import RepConv, reparameterize_model
from mtl_edge.models.neck import PANNeck


def features(channels: list[int], h: int = 384, w: int = 640, batch: int = 1) -> list[Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(batch, c, h // s, w // s, generator=g) for c, s in zip(channels, (8, 16, 32), strict=True)]


@pytest.mark.parametrize(("in_channels", "channels"), [([48, 96, 224], 64), ([128, 256, 512], 32)])
def test_output_shapes(in_channels: list[int], channels: int) -> None:
    neck = PANNeck(in_channels, channels).eval()
    assert neck.out_channels == channels and neck.strides == (8, 16, 32)
    with torch.no_grad():
        outs = neck(features(in_channels))
    assert [tuple(o.shape) for o in outs] == [(1, channels, 384 // s, 640 // s) for s in (8, 16, 32)]


def test_takes_the_last_three_backbone_levels() -> None:
    backbone = EdgeNet(width=0.5).eval()
    neck = PANNeck([f["num_chs"] for f in backbone.feature_info[-3:]], 32).eval()
    with torch.no_grad():
        feats = backbone(torch.randn(1, 3, 128, 192))
        all_four, last_three = neck(feats), neck(feats[1:])
    for a, b in zip(all_four, last_three, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="stride 8, 16 and 32"):
        neck(feats[:2])


@pytest.mark.parametrize("depth", [0, 1, 2])
def test_depth_and_every_parameter_is_used(depth: int) -> None:
    neck = PANNeck([16, 24, 40], channels=16, depth=depth).train()
    smoothing = sum(isinstance(m, RepConv) for m in neck.modules()) - 2  # minus the two stride-2 convs
    assert smoothing == 4 * depth
    outs = neck(features([16, 24, 40], h=64, w=96, batch=2))
    sum(o.square().mean() for o in outs).backward()
    unused = [name for name, p in neck.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert unused == []


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="3 values"):
        PANNeck([96, 224])
    with pytest.raises(ValueError, match="depth >= 0"):
        PANNeck([8, 16, 32], depth=-1)
    with pytest.raises(ValueError, match="channels >= 1"):
        PANNeck([8, 16, 32], channels=0)


class _BackboneNeck(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = EdgeNet(width=0.5)
        self.neck = PANNeck([f["num_chs"] for f in self.backbone.feature_info[-3:]], 32)

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.neck(self.backbone(x))


def test_deploy_graph_is_plain_and_matches_onnxruntime() -> None:
    """Fused edgenet + neck exports to Conv/Relu/Add/Resize(nearest) only, and ONNX Runtime agrees."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = reparameterize_model(copy.deepcopy(_BackboneNeck()).eval())
    x = torch.randn(1, 3, 128, 192)
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation warning is expected
        warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning, UserWarning))
        torch.onnx.export(model, (x,), buf, dynamo=False, input_names=["x"], opset_version=17)
    graph = onnx.load_from_string(buf.getvalue()).graph
    ops = {n.op_type for n in graph.node}
    assert ops <= {"Conv", "Relu", "Add", "Resize", "Constant", "Identity"}, ops
    resize_modes = [a.s for n in graph.node if n.op_type == "Resize" for a in n.attribute if a.name == "mode"]
    assert resize_modes and set(resize_modes) == {b"nearest"}
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    outs = session.run(None, {"x": x.numpy()})
    with torch.no_grad():
        for got, ref in zip(outs, model(x), strict=True):
            torch.testing.assert_close(torch.from_numpy(got), ref, rtol=1e-4, atol=1e-4)


def test_neck_stops_at_the_deepest_level_a_head_reads() -> None:
    from mtl_edge.models.heads.detection import DetectionConfig
    from mtl_edge.models.network import build_model

    torch.manual_seed(0)
    p3_only = build_model("edgenet", {"width": 0.25, "depth": 0.5}, 16, 1, {"lanes": None, "signs": None})
    assert p3_only.neck.levels == 1 and not any(k.startswith("neck.down") for k in p3_only.state_dict())
    feats = p3_only.eval().features(torch.randn(1, 3, 64, 96))
    assert "p3" in feats and "p4" not in feats
    coarse = DetectionConfig(stride=16, channels=8)
    keys = build_model("edgenet", {"width": 0.25, "depth": 0.5}, 16, 1, {"vehicles": coarse}).state_dict()
    assert "neck.down.0.dense.conv.weight" in keys and "neck.down.1.dense.conv.weight" not in keys


def test_a_cut_neck_draws_the_same_weights_and_gives_the_same_p3() -> None:
    features = [torch.randn(1, c, s, s) for c, s in ((8, 16), (16, 8), (24, 4))]
    torch.manual_seed(0)
    full = PANNeck([8, 16, 24], 16).eval()
    torch.manual_seed(0)
    cut = PANNeck([8, 16, 24], 16).eval()
    cut.keep_levels(1)
    assert len(cut.down) == len(cut.bottom_up) == 0
    state = full.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in cut.state_dict().items())  # seeded init unchanged
    outs = cut(features)
    assert len(outs) == 1 and torch.equal(outs[0], full(features)[0])
    with pytest.raises(ValueError, match="1 to 3"):
        cut.keep_levels(0)


def test_old_checkpoints_with_the_unread_levels_still_load() -> None:
    from mtl_edge.models.network import build_model

    torch.manual_seed(0)
    net = build_model("edgenet", {"width": 0.25, "depth": 0.5}, 16, 1, {"lanes": None})
    unkept = {k: v for k, v in PANNeck([8, 16, 24], 16).state_dict().items() if k.startswith(("down.", "bottom_up."))}
    old = {**net.state_dict(), **{f"neck.{k}": v for k, v in unkept.items()}}
    net.load_state_dict(old)  # strict: only the neck's unkept steps are forgotten
    with pytest.raises(RuntimeError, match="Unexpected"):
        net.load_state_dict({**old, "heads.lanes.extra": torch.zeros(1)})
