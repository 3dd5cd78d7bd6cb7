"""Argument types: each bad value is refused with what is allowed; output paths are checked up front."""

from __future__ import annotations

import argparse
import os

import pytest

from mtl_edge.cli.args import (
    MAX_FRAME_SIDE,
    batch_size,
    hw_size,
    non_negative_int,
    output_dir,
    output_file,
    positive_float,
    positive_int,
    precision_list,
    unit_float,
    wh_size,
)


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (positive_int, "0", "at least 1"),
        (positive_int, "-3", "at least 1"),
        (positive_int, "two", "whole number"),
        (non_negative_int, "-1", "at least 0"),
        (positive_float, "0", "above 0"),
        (positive_float, "inf", "above 0"),
        (unit_float, "5", "at most 1"),
        (unit_float, "-0.1", "at least 0"),
        (unit_float, "nan", "at most 1"),
        (hw_size, "100x100", "multiples of 32"),
        (hw_size, "384by640", "HEIGHTxWIDTH"),
        (hw_size, "8192x8192", "at most 4096"),
        (wh_size, "100000x100000", f"too large for memory: each side may be at most {MAX_FRAME_SIDE}"),
        (wh_size, "321x180", "even"),
        (batch_size, "0", "1 to 64 or 'dynamic'"),
        (batch_size, "65", "1 to 64 or 'dynamic'"),
        (precision_list, "fp32,fp8", "fp32, fp16, int8"),
    ],
)
def test_bad_values_say_what_is_allowed(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse(text)


def test_good_values_parse():
    assert positive_int("3") == 3 and non_negative_int("0") == 0
    assert unit_float("0") == 0.0 and unit_float("1") == 1.0 and positive_float("0.5") == 0.5
    assert hw_size("384x640") == (384, 640) and wh_size("1280x720") == (1280, 720)
    assert batch_size("dynamic") == "dynamic" and batch_size("8") == 8
    assert precision_list("fp32,int8") == ["fp32", "int8"]


def test_output_file_refuses_a_folder_and_a_file_as_parent(tmp_path):
    with pytest.raises(argparse.ArgumentTypeError, match="is a folder"):
        output_file(str(tmp_path))
    (tmp_path / "f").write_text("x")
    with pytest.raises(argparse.ArgumentTypeError, match="is a file, not a folder"):
        output_file(str(tmp_path / "f" / "m.onnx"))
    assert output_file(str(tmp_path / "new" / "m.onnx")) == tmp_path / "new" / "m.onnx"
    assert not (tmp_path / "new").exists(), "checking creates nothing"


def test_output_dir_refuses_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(argparse.ArgumentTypeError, match="is a file"):
        output_dir(str(tmp_path / "f"))
    assert output_dir(str(tmp_path / "a" / "b")) == tmp_path / "a" / "b"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_folders_are_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(argparse.ArgumentTypeError, match="not writable"):
            output_file(str(ro / "m.onnx"))
        with pytest.raises(argparse.ArgumentTypeError, match="not writable"):
            output_dir(str(ro))
    finally:
        ro.chmod(0o700)


def test_read_only_folders_are_refused_even_as_root(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(argparse.ArgumentTypeError, match="not writable"):
        output_file(str(tmp_path / "m.onnx"))
