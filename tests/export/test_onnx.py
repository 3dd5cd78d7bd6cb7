"""FP32 export parity: eager deploy model vs ONNX Runtime, raw tensors and decoded results."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from mtl_edge.data.formats import read_frames
from mtl_edge.deploy.letterbox import letterbox_image
from mtl_edge.export.naming import node_owner
from mtl_edge.export.onnx import export_graph, finalize, model_metadata, read_metadata, save, simplify
from mtl_edge.models.loading import load_model
from mtl_edge.models.network import DeployModel

HW = (128, 224)


def _session(model, path):
    save(model, path)
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _run(session, images: np.ndarray) -> dict[str, np.ndarray]:
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {"images": images})))


@pytest.fixture(scope="module")
def trained(tiny_run):
    net, _ = load_model(tiny_run / "best.pt")
    return net


@pytest.fixture(scope="module")
def decoded_model(trained):
    graph, _ = simplify(export_graph(trained, HW))
    return finalize(graph, model_metadata(trained, HW, "fp32", "ab" * 32, 1))


def test_raw_tensors_match_eager_within_1e_4_on_random_inputs(trained, tmp_path):
    graph, _ = simplify(export_graph(trained, HW, decoded=False))
    session = _session(finalize(graph, {"raw": True}), tmp_path / "raw.onnx")
    eager = DeployModel(trained, decoded=False).eval()  # sets nothing on the shared heads: no copy needed
    rng = np.random.default_rng(0)
    for _ in range(3):
        images = rng.integers(0, 256, (1, *HW, 3), dtype=np.uint8)
        with torch.no_grad():
            ref = dict(zip(eager.output_names(), eager(torch.from_numpy(images))))
        got = _run(session, images)
        assert set(got) == set(ref)
        for name, value in ref.items():
            assert np.abs(got[name] - value.numpy()).max() <= 1e-4, name


def test_decoded_results_are_the_same_on_generated_scenes(trained, decoded_model, tiny_data, tmp_path):
    session = _session(decoded_model, tmp_path / "m.onnx")
    eager = DeployModel(trained).eval()
    root = tiny_data[1]
    import cv2

    for frame in read_frames(root / "labels.json")[:4]:
        image = cv2.cvtColor(cv2.imread(str(root / "images" / frame.name)), cv2.COLOR_BGR2RGB)
        boxed, _ = letterbox_image(image, HW)
        batch = boxed[None]
        with torch.no_grad():
            ref = {k: v.numpy() for k, v in eager.as_dict(eager(torch.from_numpy(batch))).items()}
        got = _run(session, batch)
        for head in ("vehicles", "signs"):
            keep = ref[f"{head}.scores"][0] > 0.05  # the detections a user could see
            assert np.array_equal(got[f"{head}.classes"][0][keep], ref[f"{head}.classes"][0][keep])
            assert np.abs(got[f"{head}.boxes"][0][keep] - ref[f"{head}.boxes"][0][keep]).max(initial=0) < 1e-3
        assert np.array_equal(got["lanes.valid"], ref["lanes.valid"])
        assert np.abs(got["lanes.x"] - ref["lanes.x"]).max() < 1e-3
        assert (got["drivable.mask"] == ref["drivable.mask"]).mean() > 0.9999


def test_metadata_and_node_names(decoded_model, tmp_path):
    model = decoded_model
    save(model, tmp_path / "m.onnx")
    meta = read_metadata(tmp_path / "m.onnx")
    assert meta["input"] == {**meta["input"], "dtype": "uint8", "layout": "NHWC", "height": 128, "width": 224}
    assert meta["heads"]["signs"]["classes"][0] == "stop" and len(meta["heads"]["lanes"]["row_y"]) == 16
    assert meta["outputs"] == [o.name for o in model.graph.output]
    owners = {node_owner(n.name) for n in model.graph.node}
    assert owners == {
        "preprocess",
        "backbone",
        "neck",
        "heads.lanes",
        "heads.vehicles",
        "heads.signs",
        "heads.drivable",
    }
    decode_ops = {n.op_type for n in model.graph.node if node_owner(n.name) == "heads.vehicles"}
    assert {"TopK", "ReduceMax", "GatherElements"} <= decode_ops  # the decode (box suppression too) is the head's


def _module_state(net: torch.nn.Module) -> list:
    """Every module's training flag and public attributes."""
    return [(name, {k: v for k, v in vars(m).items() if not k.startswith("_")}) for name, m in net.named_modules()]


def test_deploy_model_and_export_leave_the_wrapped_net_as_it_was(tiny_run):
    net, _ = load_model(tiny_run / "best.pt")
    net.train()
    before = _module_state(net)
    DeployModel(net), DeployModel(net, decoded=False)
    export_graph(net, HW)
    assert _module_state(net) == before and all(h.training for h in net.heads.values())
    net.eval()
    before = _module_state(net)
    with torch.no_grad():
        decoded = DeployModel(net).as_dict(DeployModel(net)(torch.zeros((1, *HW, 3), dtype=torch.uint8)))
        raw = net(torch.zeros((1, 3, *HW)))
    assert _module_state(net) == before
    assert "vehicles.boxes" in decoded and set(raw["vehicles"]) == {"heat", "sides"}  # the net's own call stays raw


def test_save_removes_what_a_killed_export_left_beside_the_file(tmp_path):
    import subprocess

    from onnx import helper

    dead = subprocess.Popen(["true"])  # a PID that no longer runs
    dead.wait(timeout=10)
    stale = tmp_path / f".m.onnx.{dead.pid}.0badc0de.tmp"
    stale.write_bytes(b"4 MB of a killed export")
    other = tmp_path / f".other.onnx.{dead.pid}.0badc0de.tmp"
    other.write_bytes(b"another file's")
    model = helper.make_model(helper.make_graph([], "g", [], []))
    save(model, tmp_path / "m.onnx")
    assert (tmp_path / "m.onnx").is_file() and not stale.exists() and other.exists()
