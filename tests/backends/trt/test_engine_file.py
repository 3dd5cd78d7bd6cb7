"""The engine file round-trips, is written atomically, and refuses damaged, foreign or stale engines clearly."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from mtl_edge.backends.trt.engine_file import (
    MAGIC,
    EngineFileError,
    EngineMismatchError,
    check_engine_header,
    engine_header,
    read_engine,
    read_engine_header,
    write_engine,
)

ENGINE = bytes(range(256)) * 40  # stands in for TensorRT's opaque serialized bytes
HINT = "mtl-edge export best.pt --out model.onnx --engine model.engine"


def _header(**over):
    h = engine_header(
        trt_version="10.3.0",
        gpu_name="Orin",
        compute_capability="8.7",
        onnx_sha256="ab" * 32,
        model_metadata={"schema": 1, "precision": "int8", "heads": {"vehicles": {"classes": ["car"]}}},
        build={"workspace_gb": 2.0, "dla_core": None, "opt_level": 3, "batch": {"min": 1, "opt": 1, "max": 1}},
    )
    h.update(over)
    return h


def test_round_trip(tmp_path):
    path = tmp_path / "sub" / "model.engine"
    header = _header()
    write_engine(path, ENGINE, header)
    got, engine = read_engine(path)
    assert engine == ENGINE
    assert {k: v for k, v in got.items() if k != "engine_bytes"} == header
    assert got["engine_bytes"] == len(ENGINE) and got["format"] == 1
    only_header, offset = read_engine_header(path)
    assert only_header == got and offset == path.stat().st_size - len(ENGINE)
    assert path.read_bytes()[:8] == MAGIC


def test_header_keys():
    h = _header()
    assert set(h) == {"format", "tensorrt_version", "gpu", "compute_capability", "onnx_sha256", "model", "build"}
    assert h["model"]["precision"] == "int8" and h["build"]["opt_level"] == 3


def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.engine"
    write_engine(path, ENGINE, _header())
    before = path.read_bytes()
    with pytest.raises(TypeError):
        write_engine(path, ENGINE, _header(build={"bad": object()}))  # header not JSON-serialisable

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("mtl_edge.fileio.os.replace", disk_full)  # fails after the temp file is written
    with pytest.raises(OSError, match="No space"):
        write_engine(path, b"new" + ENGINE, _header())
    with pytest.raises(OSError, match="No space"):
        write_engine(tmp_path / "fresh.engine", ENGINE, _header())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.engine"]  # no temp or partial file left


def test_missing_file_says_how_to_build(tmp_path):
    with pytest.raises(EngineFileError, match=r"does not exist.*mtl-edge export .*--engine") as e:
        read_engine(tmp_path / "nope.engine")
    # a command export accepts: a checkpoint in, the ONNX file as --out (export refuses an .onnx as input)
    assert f"mtl-edge export CHECKPOINT --out MODEL.onnx --engine {tmp_path / 'nope.engine'}" in str(e.value)


def test_the_default_rebuild_hint_is_a_command_export_accepts():
    from mtl_edge.backends.trt.build import _default_hint

    hint = _default_hint(Path("m.onnx"), Path("m.engine"), 0, 4)
    assert hint == "mtl-edge export CHECKPOINT --out m.onnx --engine m.engine --dla-core 0 --batch dynamic"


def test_raw_trtexec_engine_is_refused(tmp_path):
    raw = tmp_path / "raw.engine"
    raw.write_bytes(b"ftrt" + ENGINE)  # a plain TensorRT plan has no mtl-edge header
    with pytest.raises(EngineFileError) as e:
        read_engine(raw)
    msg = str(e.value)
    assert "not an mtl-edge engine" in msg and "trtexec" in msg and "--engine" in msg
    empty = tmp_path / "empty.engine"
    empty.write_bytes(b"")
    with pytest.raises(EngineFileError, match="is empty"):
        read_engine_header(empty)


@pytest.mark.parametrize("cut", [4, 10, 30, -5, -len(ENGINE)])
def test_truncated_files(tmp_path, cut):
    path = tmp_path / "model.engine"
    write_engine(path, ENGINE, _header())
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    with pytest.raises(EngineFileError, match=r"truncated.*Rebuild it"):
        read_engine(path)


def test_bad_json_header(tmp_path):
    path = tmp_path / "model.engine"
    blob = b"{not json"
    path.write_bytes(MAGIC + struct.pack("<I", len(blob)) + blob + ENGINE)
    with pytest.raises(EngineFileError, match=r"corrupt JSON header.*Rebuild"):
        read_engine(path)
    blob = json.dumps([1, 2]).encode()
    path.write_bytes(MAGIC + struct.pack("<I", len(blob)) + blob + ENGINE)
    with pytest.raises(EngineFileError, match="not a JSON object"):
        read_engine_header(path)


def test_newer_format_asks_to_upgrade(tmp_path):
    path = tmp_path / "model.engine"
    write_engine(path, ENGINE, _header(format=2))
    with pytest.raises(EngineFileError, match="Upgrade mtl-edge"):
        read_engine(path)


def test_matching_header_passes():
    check_engine_header(_header(), "10.3.0", "Orin", "8.7", HINT)


def test_tensorrt_version_mismatch_names_both_sides_and_the_command():
    with pytest.raises(EngineMismatchError) as e:
        check_engine_header(_header(), "10.7.0", "Orin", "8.7", HINT)
    msg = str(e.value)
    assert "TensorRT 10.3.0" in msg and "TensorRT 10.7.0" in msg and HINT in msg
    assert e.value.mismatches == ["tensorrt_version"]
    assert isinstance(e.value, EngineFileError)


def test_compute_capability_and_gpu_mismatch():
    with pytest.raises(EngineMismatchError) as e:
        check_engine_header(_header(), "10.3.0", "NVIDIA GeForce RTX 4090", "8.9", HINT, path="m.engine")
    msg = str(e.value)
    assert "m.engine was built for TensorRT 10.3.0 on Orin (compute capability 8.7)" in msg
    assert "this machine has TensorRT 10.3.0 on NVIDIA GeForce RTX 4090 (compute capability 8.9)" in msg
    assert e.value.mismatches == ["compute_capability", "gpu"] and HINT in msg


def test_same_compute_capability_other_gpu_model_is_refused_and_says_so():
    with pytest.raises(EngineMismatchError) as e:
        check_engine_header(_header(gpu="NVIDIA A10"), "10.3.0", "NVIDIA GeForce RTX 3090", "8.6", HINT)
    assert e.value.mismatches == ["compute_capability", "gpu"]
    h = _header(gpu="NVIDIA A10", compute_capability="8.6")
    with pytest.raises(EngineMismatchError) as e:
        check_engine_header(h, "10.3.0", "NVIDIA GeForce RTX 3090", "8.6", HINT)
    assert e.value.mismatches == ["gpu"]
    assert "GPU model" in str(e.value) and "compute capability (" not in str(e.value)
    assert e.value.built_for["gpu"] == "NVIDIA A10" and e.value.this_machine["gpu"] == "NVIDIA GeForce RTX 3090"
