"""The command line: version, help, synth and show end to end, and clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mtl_edge import __version__
from mtl_edge.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and __version__ in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv", [["--help"], ["data", "--help"], ["data", "synth", "--help"], ["data", "show", "--help"]]
)
def test_every_command_has_help(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0 and "usage: mtl-edge" in capsys.readouterr().out


def test_synth_then_show(tmp_path, capsys):
    assert (
        main(
            [
                "data",
                "synth",
                "--out",
                str(tmp_path / "ds"),
                "--n",
                "2",
                "--size",
                "320x180",
                "--quiet",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    assert main(["data", "show", str(tmp_path / "ds"), "--n", "2"]) == 0
    pngs = sorted((tmp_path / "ds" / "show").glob("*.png"))
    assert [p.name for p in pngs] == ["000000.png", "000001.png"]


def test_bad_size_is_rejected_with_the_fix(capsys):
    with pytest.raises(SystemExit):
        main(["data", "synth", "--out", "x", "--n", "1", "--size", "1280by720"])
    assert "WIDTHxHEIGHT" in capsys.readouterr().err


def test_show_on_a_folder_without_labels_says_what_to_do(tmp_path, capsys):
    assert main(["data", "show", str(tmp_path)]) == 2
    assert "mtl-edge data synth" in capsys.readouterr().err


def test_console_entry_point_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "mtl_edge", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"mtl-edge {__version__}"
