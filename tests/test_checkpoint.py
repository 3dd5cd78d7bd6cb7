"""Checkpoints round-trip through torch.load(weights_only=True) and bad files get clear errors."""

from __future__ import annotations

import pickle

import pytest
import torch

from mtl_edge import checkpoint
from mtl_edge.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, strip


def _save(path, **kw):
    state = {"w": torch.arange(6.0).reshape(2, 3), "n": torch.tensor(3)}
    save_checkpoint(
        path,
        recipe={"name": "t", "data": {"imgsz": [384, 640]}},
        model=state,
        metrics={"lanes": {"f1": 0.5}},
        epoch=4,
        classes={"signs": ["stop"]},
        **kw,
    )
    return state


def test_round_trip_loads_with_weights_only(tmp_path):
    path = tmp_path / "a.pt"
    state = _save(path, train_state={"optimizer": {"lr": 0.1}, "history": [{"epoch": 1}]})
    raw = torch.load(path, weights_only=True)  # no arbitrary pickles inside
    assert raw["format"] == checkpoint.FORMAT
    data = load_checkpoint(path)
    assert torch.equal(data["model"]["w"], state["w"]) and data["epoch"] == 4
    assert data["classes"] == {"signs": ["stop"]} and data["metrics"]["lanes"]["f1"] == 0.5
    strip(path, tmp_path / "small.pt")
    small = load_checkpoint(tmp_path / "small.pt")
    assert "train_state" not in small and torch.equal(small["model"]["w"], state["w"])


def test_missing_truncated_foreign_and_future_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found.*mtl-edge train"):
        load_checkpoint(tmp_path / "nope.pt")
    good = tmp_path / "good.pt"
    _save(good)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="not a readable checkpoint.*truncated"):
        load_checkpoint(cut)
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(object()))
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(evil)
    plain = tmp_path / "plain.pt"
    torch.save({"state_dict": {}}, plain)
    with pytest.raises(CheckpointError, match="not an mtl-edge checkpoint"):
        load_checkpoint(plain)
    future = tmp_path / "future.pt"
    data = torch.load(good, weights_only=True)
    data["format_version"] = checkpoint.FORMAT_VERSION + 1
    torch.save(data, future)
    with pytest.raises(CheckpointError, match="Install the mtl-edge version that wrote it, or retrain"):
        load_checkpoint(future)


class _Foreign:
    """A class torch's safe loader refuses."""


def test_an_unsafe_pickle_never_suggests_weights_only_false(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"model": _Foreign()}, path)
    with pytest.raises(CheckpointError, match="not a readable checkpoint.*_Foreign") as e:
        load_checkpoint(path)
    assert "weights_only" not in str(e.value) and "Re-running" not in str(e.value)


def test_a_failed_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    from mtl_edge import fileio

    path = tmp_path / "last.pt"
    _save(path)
    before = path.read_bytes()

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "fsync", fail)  # the write fails after the temp file was filled
    with pytest.raises(OSError, match="disk full"):
        _save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind
