"""Commands that need a missing extra say which one to install."""

from __future__ import annotations

import argparse

from mtl_edge import cli
from mtl_edge.extras import missing_extra


def test_training_modules_point_at_the_train_extra():
    hint = missing_extra(ModuleNotFoundError("No module named 'torch'", name="torch"))
    assert hint is not None and "pip install 'mtl-edge[train]'" in hint and "torch" in hint
    assert missing_extra(ModuleNotFoundError("x", name="torchvision.transforms")) is not None
    assert missing_extra(ModuleNotFoundError("x", name="somethingelse")) is None


def test_main_turns_a_missing_extra_into_an_exit_code_and_advice(monkeypatch, capsys):
    def needs_torch(args: argparse.Namespace) -> int:
        raise ModuleNotFoundError("No module named 'onnxscript'", name="onnxscript")

    monkeypatch.setattr(cli, "cmd_info", needs_torch)  # the parser binds commands when it is built
    assert cli.main(["info", "x.pt"]) == 2
    assert "needs the training extra" in capsys.readouterr().err
