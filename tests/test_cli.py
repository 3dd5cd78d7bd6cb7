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
    err = capsys.readouterr().err
    assert "not a dataset folder in any supported layout" in err and "mtl-edge data synth" in err
    assert "Errno" not in err and not (tmp_path / "show").exists()


def test_eval_on_a_folder_that_is_not_a_dataset_lists_the_layouts(tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    assert main(["eval", str(tmp_path / "missing.pt"), "--data", str(tmp_path / "photos")]) == 2
    err = capsys.readouterr().err
    assert "not a dataset folder in any supported layout" in err and "bdd100k: images/100k" in err
    assert "Errno" not in err


def test_export_refuses_negative_val_images_before_loading_anything(tmp_path):
    from mtl_edge.export.exporter import export

    with pytest.raises(ValueError, match="--val-images must be 0"):
        export(tmp_path / "missing.pt", tmp_path / "m.onnx", val_images=-1)
    with pytest.raises(ValueError, match="same file as --out"):
        export(tmp_path / "missing.pt", tmp_path / "m.onnx", engine=tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_console_entry_point_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "mtl_edge", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"mtl-edge {__version__}"


def test_info_prints_size_cost_heads_and_classes(tiny_run, capsys):
    assert main(["info", str(tiny_run / "best.pt"), "--imgsz", "384x640"]) == 0
    out = capsys.readouterr().out
    assert "GFLOPs" in out and "at 640x384" in out and "params" in out
    assert "speed_limit_100" in out and "motorcycle" in out


def test_eval_prints_the_table_and_writes_json(tiny_run, tiny_data, tmp_path, capsys):
    import json

    target = tmp_path / "m.json"
    assert main(["eval", str(tiny_run / "best.pt"), "--data", str(tiny_data[1]), "--json", str(target)]) == 0
    assert "mAP50" in capsys.readouterr().out
    numbers = json.loads(target.read_text())
    assert set(numbers) == {"lanes", "vehicles", "signs", "drivable"} and "per_class" in numbers["signs"]


def test_train_with_a_bad_recipe_exits_2_with_the_fix(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndata: {train: {root: nowhere}, val: {root: nowhere}}\nmodel: {heads: {lanes: {}}}\n")
    assert main(["train", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "data.train.root: nowhere is not a folder. Generate one with `mtl-edge data synth" in capsys.readouterr().err


def test_wrong_checkpoint_is_refused_clearly(tmp_path, capsys):
    fake = tmp_path / "x.pt"
    fake.write_bytes(b"not a checkpoint")
    assert main(["info", str(fake)]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err
