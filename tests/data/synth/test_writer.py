"""Dataset writing: layout, determinism across worker counts, resume, option checks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mtl_edge.data.formats import read_drivable_mask, read_frames
from mtl_edge.data.synth.writer import SynthOptions, generate

SMALL = dict(width=320, height=180)


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "meta.json"
    }


def test_layout_and_labels(tmp_path):
    out = tmp_path / "ds"
    made, skipped = generate(out, 3, SynthOptions(seed=5, **SMALL), workers=1, progress=False)
    assert (made, skipped) == (3, 0)
    frames = read_frames(out / "labels.json")
    assert [f.name for f in frames] == ["000000.jpg", "000001.jpg", "000002.jpg"]
    for f in frames:
        assert (out / "images" / f.name).stat().st_size > 1000
        assert read_drivable_mask(out / "drivable" / f.name.replace(".jpg", ".png")).shape == (180, 320)
        assert {"weather", "timeofday", "scene"} <= set(f.attributes)
    assert not list(out.rglob("*.tmp*")), "no temp files may be left behind"


def test_same_files_whatever_the_worker_count(tmp_path):
    generate(tmp_path / "a", 4, SynthOptions(seed=9, **SMALL), workers=1, progress=False)
    generate(tmp_path / "b", 4, SynthOptions(seed=9, **SMALL), workers=2, progress=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


def test_resume_redoes_only_missing_items(tmp_path):
    out, opts = tmp_path / "ds", SynthOptions(seed=2, **SMALL)
    generate(out, 3, opts, workers=1, progress=False)
    before = _digest(out)
    (out / "labels" / "000001.json").unlink()  # as if killed before item 1 finished
    (out / "images" / "000001.jpg").write_bytes(b"half-written")
    assert generate(out, 4, opts, workers=1, progress=False) == (2, 2)
    after = _digest(out)
    assert after["images/000001.jpg"] == before["images/000001.jpg"]  # redone, same pixels
    assert len(read_frames(out / "labels.json")) == 4


def test_an_empty_file_from_an_interrupted_run_is_redone(tmp_path):
    out, opts = tmp_path / "ds", SynthOptions(seed=2, **SMALL)
    generate(out, 3, opts, workers=1, progress=False)
    before = _digest(out)
    (out / "images" / "000001.jpg").write_bytes(b"")  # zero bytes: the write never reached the disk
    (out / "drivable" / "000002.png").write_bytes(b"")
    assert generate(out, 3, opts, workers=1, progress=False) == (2, 1)
    assert _digest(out) == before


def test_refuses_to_mix_options(tmp_path):
    out = tmp_path / "ds"
    generate(out, 1, SynthOptions(seed=1, **SMALL), workers=1, progress=False)
    with pytest.raises(ValueError, match=r"seed: 1 -> 2.*same options.*new --out"):
        generate(out, 1, SynthOptions(seed=2, **SMALL), workers=1, progress=False)


@pytest.mark.timeout(180)
def test_parallel_generation_after_rendering_in_the_parent(tmp_path):
    """Regression: forked workers deadlocked once the parent had run OpenCV's thread pool."""
    from mtl_edge.data.synth.render import render
    from mtl_edge.data.synth.scene import sample_scene

    render(sample_scene(0, 320, 180))
    assert generate(tmp_path, 2, SynthOptions(seed=3, **SMALL), workers=2, progress=False) == (2, 0)
