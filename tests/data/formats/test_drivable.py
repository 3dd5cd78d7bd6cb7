"""Tests for mtl_edge.data.formats.drivable: drivable-area masks and polygon rasterizing."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mtl_edge.data.formats.drivable import rasterize_drivable, read_drivable_mask, write_drivable_mask
from mtl_edge.data.formats.errors import LabelFormatError
from mtl_edge.data.formats.read import read_frames
from mtl_edge.data.labels import DRIVABLE_ALTERNATIVE, DRIVABLE_BACKGROUND, DRIVABLE_DIRECT
from tests.data.formats.samples import FIXTURES


def test_drivable_mask_round_trip(tmp_path: Path) -> None:
    mask = np.zeros((36, 64), np.uint8)
    mask[20:, :] = DRIVABLE_DIRECT
    mask[20:, :10] = DRIVABLE_ALTERNATIVE
    path = tmp_path / "masks" / "a.png"
    write_drivable_mask(mask, path)
    got = read_drivable_mask(path)
    assert got.dtype == np.uint8 and got.shape == (36, 64)
    np.testing.assert_array_equal(got, mask)
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.png"]


def test_drivable_mask_2020_coding(tmp_path: Path) -> None:
    path = tmp_path / "m.png"
    cv2.imwrite(str(path), np.array([[0, 1, 2]], np.uint8))  # 2020: 0 direct, 1 alternative, 2 background
    np.testing.assert_array_equal(
        read_drivable_mask(path, coding="2020"), [[DRIVABLE_DIRECT, DRIVABLE_ALTERNATIVE, DRIVABLE_BACKGROUND]]
    )


def test_drivable_mask_rejects_bad_files(tmp_path: Path) -> None:
    colour = tmp_path / "colour.png"
    cv2.imwrite(str(colour), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(LabelFormatError, match=r"colour\.png: .*3 channels"):
        read_drivable_mask(colour)
    values = tmp_path / "values.png"
    cv2.imwrite(str(values), np.array([[0, 1, 2, 7, 255]], np.uint8))
    with pytest.raises(LabelFormatError, match=r"values\.png: .*\[7, 255\]"):
        read_drivable_mask(values)
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not a png at all")
    with pytest.raises(LabelFormatError, match=r"garbage\.png: cannot read"):
        read_drivable_mask(garbage)
    with pytest.raises(LabelFormatError, match=r"missing\.png: cannot read"):
        read_drivable_mask(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="values 0, 1, 2"):
        write_drivable_mask(np.full((2, 2), 3, np.uint8), tmp_path / "w.png")
    assert not (tmp_path / "w.png").exists()


def test_rasterize_drivable_direct_over_alternative() -> None:
    square = np.array([[10, 10], [20, 10], [20, 20], [10, 20]], np.float32)
    polygons = [
        (square, "direct"),
        (square + 5, "alternative"),
        (square + 30, "alternative"),
        (square + 35, "alternative"),
    ]
    mask = rasterize_drivable(polygons, 60, 70)
    assert mask.dtype == np.uint8 and mask.shape == (60, 70)
    assert mask[15, 15] == DRIVABLE_DIRECT
    assert mask[20, 20] == DRIVABLE_DIRECT, "direct is drawn on top"
    assert mask[24, 24] == DRIVABLE_ALTERNATIVE
    assert mask[45, 45] == DRIVABLE_ALTERNATIVE, "overlapping polygons of one type both fill"
    assert mask[5, 5] == DRIVABLE_BACKGROUND
    assert (mask == DRIVABLE_DIRECT).sum() == 11 * 11
    with pytest.raises(ValueError, match="unknown drivable area type"):
        rasterize_drivable([(square, "sideways")], 30, 30)


def test_rasterize_2018_fixture_matches_areas() -> None:
    (frame,) = read_frames(FIXTURES / "bdd2018_sample.json")
    mask = rasterize_drivable(frame.drivable_polygons, 720, 1280)
    assert mask[700, 650] == DRIVABLE_DIRECT
    assert mask[700, 100] == DRIVABLE_ALTERNATIVE
    assert mask[100, 650] == DRIVABLE_BACKGROUND
