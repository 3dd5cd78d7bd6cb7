"""A recipe split becomes a dataset, or a mixture of datasets: generated on demand, or read from its layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtl_edge.config import DataSplit, SynthSpec
from mtl_edge.data.formats import LabelFormatError
from mtl_edge.data.splits import MixedDataset, open_split, read_part, synth_root, val_datasets


def test_a_folder_split_is_read_in_its_detected_layout(tiny_data):
    train, _ = tiny_data
    ds = open_split(DataSplit(root=str(train)), "train")
    assert len(ds) == 12 and ds.name == "generated"
    assert ds.supervises.all(), "the generator labels every task in every scene"


def test_a_generated_split_is_made_once_under_a_name_from_its_spec(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = SynthSpec(n=2, seed=7, size=(320, 192))
    data = read_part(DataSplit(synth=spec), "val")
    root = synth_root(spec, "val")
    assert root == Path("data/synth/val-seed7-n2-320x192") and data.images == root / "images"
    assert len(list((tmp_path / root / "images").iterdir())) == 2
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / root / "images").iterdir()}
    read_part(DataSplit(synth=spec), "val")
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / root / "images").iterdir()} == stamps  # not re-rendered


def test_a_mixture_samples_by_weight_and_keeps_each_datasets_heads(tiny_data):
    train, val = tiny_data
    split = DataSplit(
        datasets=[
            DataSplit(root=str(train), name="full", weight=3.0),
            DataSplit(root=str(val), name="lanes only", heads=["lanes"], weight=1.0),
        ]
    )
    mixed = open_split(split, "train")
    assert isinstance(mixed, MixedDataset) and len(mixed) == len(mixed.parts[0]) + len(mixed.parts[1])
    weights = mixed.sample_weights()
    n0 = len(mixed.parts[0])
    assert float(weights[:n0].sum()) == pytest.approx(0.75) and float(weights[n0:].sum()) == pytest.approx(0.25)
    lanes_only = mixed.supervises[n0:]
    assert lanes_only[:, mixed.heads.index("lanes")].all()
    assert not lanes_only[:, [i for i, h in enumerate(mixed.heads) if h != "lanes"]].any()
    assert [d.name for d in val_datasets(split)] == ["full", "lanes only"]


def test_masks_of_the_other_coding_are_refused_naming_the_setting(tiny_data):
    train, _ = tiny_data
    with pytest.raises(LabelFormatError, match=r'drivable_coding.*Set drivable_coding: "2018"'):
        open_split(DataSplit(root=str(train), drivable_coding="2020"), "train")


def test_plain_label_files_of_signs_only_label_no_vehicles(tmp_path):
    """A file of typed signs (tools/signs_to_bdd.py's output) must not teach the vehicles head 'no vehicle here'."""
    import cv2
    import numpy as np

    from mtl_edge.data.formats import write_frames
    from mtl_edge.data.labels import Box2D, FrameLabels, ObjectLabel

    (tmp_path / "images").mkdir()
    for name in ("a.jpg", "b.jpg"):
        assert cv2.imwrite(str(tmp_path / "images" / name), np.zeros((40, 60, 3), np.uint8))
    stop = ObjectLabel("traffic sign", Box2D(1, 1, 9, 9), sign_type="stop")
    write_frames([FrameLabels("a.jpg", objects=[stop]), FrameLabels("b.jpg")], tmp_path / "signs.json")
    ds = open_split(DataSplit(images=str(tmp_path / "images"), labels=[str(tmp_path / "signs.json")]), "train")
    flags = {h: ds.supervises[:, i].tolist() for i, h in enumerate(ds.heads)}
    assert flags["signs"] == [True, True], "b.jpg is listed with no labels: a sign negative"
    assert flags["vehicles"] == [False, False] and flags["lanes"] == [False, False]
