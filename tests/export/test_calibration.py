"""Calibration ranges: one streaming pass, percentile clipping, min/max; a cache trusted only after checks."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from mtl_edge.export.calibration import (
    CACHE_FORMAT,
    CACHE_VERSION,
    CalibrationReader,
    RangeCollector,
    cached_ranges,
    read_ranges_cache,
)
from tests.export.conftest import export_shipped


def test_percentile_ranges_clip_rare_outliers_and_minmax_keeps_them():
    rng = np.random.default_rng(0)
    c = RangeCollector(["x"])
    c.update("x", rng.uniform(0, 1, 200_000).astype(np.float32))
    big = rng.uniform(0, 1, 200_000).astype(np.float32)
    big[7] = 50.0  # one outlier, in a later batch: the histogram widens and keeps earlier counts
    c.update("x", big)
    assert c.hist["x"].sum() == 400_000 // 4
    assert c.ranges(None)["x"] == (0.0, 50.0)
    lo, hi = c.ranges(99.9)["x"]
    assert lo == 0.0 and 0.95 < hi < 1.1


# --- the ranges cache ----------------------------------------------------------------------------------------

HW = (32, 48)
TENSORS = ["scaled", "out"]


@pytest.fixture
def graph() -> onnx.ModelProto:
    """uint8 NHWC frames -> float -> x * 0.5 - 10 -> Relu: two activations to measure."""
    nodes = [
        helper.make_node("Cast", ["images"], ["f"], to=TensorProto.FLOAT, name="cast"),
        helper.make_node("Mul", ["f", "half"], ["m"], name="mul"),
        helper.make_node("Sub", ["m", "ten"], ["scaled"], name="sub"),
        helper.make_node("Relu", ["scaled"], ["out"], name="relu"),
    ]
    inits = [
        helper.make_tensor("half", TensorProto.FLOAT, [], [0.5]),
        helper.make_tensor("ten", TensorProto.FLOAT, [], [10.0]),
    ]
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("images", TensorProto.UINT8, [1, *HW, 3])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, *HW, 3])],
        inits,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture
def reader(tmp_path) -> CalibrationReader:
    rng = np.random.default_rng(3)
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"frame{i}.png")
        cv2.imwrite(str(paths[-1]), rng.integers(0, 256, (*HW, 3), dtype=np.uint8))
    return CalibrationReader(paths, HW, 1, "images")


def _no_warnings(call):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call()


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])  # e.g. `Expecting ',' delimiter` before this change


def _wrong_checksum(p: Path) -> None:
    doc = json.loads(p.read_text())
    doc["ranges"]["minmax"]["out"][1] += 1.0  # a plausible range, but not the one whose sha256 is stored
    p.write_text(json.dumps(doc))


def _garbage(p: Path) -> None:
    p.write_bytes(bytes(range(256)) * 8)


def _old_format(p: Path) -> None:
    p.write_text(json.dumps(json.loads(p.read_text())["ranges"]))  # what mtl-edge wrote before: no version, no sum


def _not_finite(p: Path) -> None:
    doc = json.loads(p.read_text())
    doc["ranges"]["minmax"]["out"] = [float("nan"), 1.0]
    p.write_text(json.dumps(doc))  # NaN: valid to Python's json, never a range


def _empty(p: Path) -> None:
    p.write_bytes(b"")  # a power cut before the data reached the disk


def test_the_cache_is_versioned_checksummed_and_reused(graph, reader, tmp_path):
    cache_dir = tmp_path / "cache"
    fresh, reused = _no_warnings(lambda: cached_ranges(graph, TENSORS, reader, cache_dir))
    assert not reused and fresh["minmax"]["scaled"][0] < 0 < fresh["minmax"]["out"][1]
    (path,) = cache_dir.glob("ranges-*.json")
    doc = json.loads(path.read_text())
    assert doc["format"] == CACHE_FORMAT and doc["version"] == CACHE_VERSION and len(doc["sha256"]) == 64
    assert read_ranges_cache(path) == fresh
    again, reused = _no_warnings(lambda: cached_ranges(graph, TENSORS, reader, cache_dir))
    assert reused and again == fresh
    assert [p.name for p in cache_dir.iterdir()] == [path.name]  # no temp file left


@pytest.mark.parametrize("damage", [_truncate, _wrong_checksum, _garbage, _old_format, _not_finite, _empty])
def test_a_damaged_cache_is_reported_with_its_path_discarded_and_recomputed(graph, reader, tmp_path, damage):
    cache_dir = tmp_path / "cache"
    fresh, _ = cached_ranges(graph, TENSORS, reader, cache_dir)
    (path,) = cache_dir.glob("ranges-*.json")
    damage(path)
    with pytest.warns(UserWarning, match=re.escape(str(path))) as caught:
        ranges, reused = cached_ranges(graph, TENSORS, reader, cache_dir)
    assert len(caught) == 1 and "calibrating again" in str(caught[0].message)
    assert not reused and ranges == fresh
    assert read_ranges_cache(path) == fresh  # rewritten whole
    assert _no_warnings(lambda: cached_ranges(graph, TENSORS, reader, cache_dir)) == (fresh, True)  # reported once


def test_a_cache_that_cannot_be_written_is_reported_and_calibration_goes_on(graph, reader, tmp_path):
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder should be")
    with pytest.warns(UserWarning, match=f"could not write the calibration cache {re.escape(str(blocked))}"):
        ranges, reused = cached_ranges(graph, TENSORS, reader, blocked)
    assert not reused and set(ranges) == {"minmax", "percentile"}


def test_temp_files_of_dead_writers_are_removed(graph, reader, tmp_path):
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    stale = cache_dir / ".ranges-0123.json.999999999.0a1b2c3d.tmp"  # a PID no process has
    stale.write_text('{"minmax": {"out": [0.0, 1')
    cached_ranges(graph, TENSORS, reader, cache_dir)
    assert not stale.exists() and len(list(cache_dir.glob("ranges-*.json"))) == 1


def test_an_int8_export_over_a_truncated_cache_warns_and_works(tmp_path, shipped_frames):
    export_shipped(tmp_path / "first.onnx", shipped_frames, precision="int8")
    (path,) = (tmp_path / "cache").glob("ranges-*.json")
    _truncate(path)
    with pytest.warns(UserWarning, match=re.escape(str(path))):
        out = export_shipped(tmp_path / "second.onnx", shipped_frames, precision="int8")
    assert onnx.load(out).graph == onnx.load(tmp_path / "first.onnx").graph  # the same ranges, recomputed
    assert read_ranges_cache(path)
