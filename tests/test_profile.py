"""Per-head profiling: attribution adds up, and a deliberately heavy head gets the largest share."""

from __future__ import annotations

import json

import pytest

from mtl_edge.cli import main
from mtl_edge.export.onnx import export_graph, finalize, model_metadata, save, simplify
from mtl_edge.models.heads.detection import SignsConfig
from mtl_edge.models.network import build_model
from mtl_edge.profile import plot, profile_ort, table

HW = (128, 224)


@pytest.fixture(scope="module")
def heavy_signs(tmp_path_factory):
    """A model whose sign head (4 x 3x3 convs of 192 channels at stride 4) dwarfs everything else."""
    heavy = SignsConfig(channels=192, tower=4)
    net = build_model(heads={"lanes": None, "vehicles": None, "signs": heavy, "drivable": None}).eval()
    graph, _ = simplify(export_graph(net, HW))
    path = tmp_path_factory.mktemp("prof") / "heavy.onnx"
    save(finalize(graph, model_metadata(net, HW, "fp32", "0" * 64, 1)), path)
    return path


def test_ort_profile_attributes_time_per_head_and_adds_up(heavy_signs):
    prof = profile_ort(heavy_signs, frames=10, warmup=2, threads=1)
    heads = {k: v for k, v in prof.parts.items() if k in ("lanes", "vehicles", "signs", "drivable", "trunk")}
    assert set(heads) == {"lanes", "vehicles", "signs", "drivable", "trunk"}
    assert max(heads, key=heads.get) == "signs"  # the heavy head is found
    attributed = sum(v for k, v in prof.parts.items() if k != "unattributed")
    assert abs(attributed + prof.parts["unattributed"] - prof.call_mean) <= 0.1 * prof.call_mean
    assert attributed >= 0.9 * prof.call_mean  # node kernels explain the call; the rest is session overhead
    assert prof.host["letterbox"] > 0 and "signs ms" in table([prof])


def test_cli_profile_writes_json_and_chart(heavy_signs, tmp_path, capsys):
    out_json, out_png = tmp_path / "p.json", tmp_path / "p.png"
    assert main(["profile", str(heavy_signs), "--frames", "5", "--json", str(out_json), "--plot", str(out_png)]) == 0
    data = json.loads(out_json.read_text())
    assert data[0]["parts"]["signs"] > 0 and data[0]["call_p99"] >= data[0]["call_p50"]
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "signs ms" in capsys.readouterr().out


def test_plot_draws_one_bar_per_profile(heavy_signs, tmp_path):
    import cv2

    prof = profile_ort(heavy_signs, frames=3, warmup=1)
    plot([prof, prof], tmp_path / "two.png")
    img = cv2.imread(str(tmp_path / "two.png"))
    assert img.shape == (420, 760, 3) and (img != 255).any()


def test_torch_profile_times_trunk_and_every_head(tiny_run):
    from mtl_edge.profile import profile_torch

    prof = profile_torch(tiny_run / "best.pt", frames=3, warmup=1)
    assert {"trunk", "lanes", "vehicles", "signs", "drivable", "preprocess"} <= set(prof.parts)
    assert all(v > 0 for k, v in prof.parts.items() if k != "unattributed")
    assert sum(prof.parts.values()) == pytest.approx(prof.call_mean, rel=0.1)
