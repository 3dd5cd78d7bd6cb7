"""A recipe split becomes a folder (generated on demand) and a dataset."""

from __future__ import annotations

from pathlib import Path

from mtl_edge.config import DataSplit, SynthSpec
from mtl_edge.data.splits import make_dataset, prepare_split, synth_root


def test_a_folder_split_is_its_root_and_an_image_split_has_none(tiny_data):
    train, _ = tiny_data
    assert prepare_split(DataSplit(root=str(train)), "train", progress=False) == train
    assert prepare_split(DataSplit(images="imgs", labels=["l.json"]), "train", progress=False) is None
    assert len(make_dataset(DataSplit(root=str(train)), train, transforms=None)) == 12


def test_a_generated_split_is_made_once_under_a_name_from_its_spec(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = SynthSpec(n=2, seed=7, size=(320, 192))
    root = prepare_split(DataSplit(synth=spec), "val", progress=False)
    assert root == synth_root(spec, "val") == Path("data/synth/val-seed7-n2-320x192")
    assert len(list((tmp_path / root / "images").iterdir())) == 2
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / root / "images").iterdir()}
    assert prepare_split(DataSplit(synth=spec), "val", progress=False) == root
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / root / "images").iterdir()} == stamps  # not re-rendered
