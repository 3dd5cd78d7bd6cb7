"""The deploy path runs with only the base install: no torch, torchvision, onnx, scipy or PyYAML.

A fresh interpreter gets an import hook that refuses the [train] extra's modules before
mtl_edge is imported, then streams a clip through ``mtl_edge.Runtime`` on an exported
ONNX file, runs ``mtl-edge run`` into a video and JSON lines, and asks for a training command.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from mtl_edge.extras import TRAIN_MODULES

SCRIPT = textwrap.dedent(
    """
    import json, sys

    BLOCKED = set(sys.argv[1].split(","))

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
            return None

    sys.meta_path.insert(0, Refuse())
    model, clip, out = sys.argv[2:5]

    import mtl_edge
    from mtl_edge.cli import main

    results = list(mtl_edge.Runtime(model).stream(clip))
    video, jsonl = f"{out}/annotated.mp4", f"{out}/results.jsonl"
    run_rc = main(["run", model, "--source", clip, "--sink", video, "--sink", jsonl])
    export_rc = main(["export", model, "--out", f"{out}/x.onnx"])
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    print(json.dumps({
        "frames": len(results),
        "first": json.loads(results[0].to_json()),
        "run_rc": run_rc,
        "export_rc": export_rc,
        "loaded": loaded,
    }))
    """
)


def test_runtime_streams_a_clip_without_torch(tiny_onnx, clip, tmp_path):
    blocked = ",".join(sorted(TRAIN_MODULES))
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, blocked, str(tiny_onnx), str(clip), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["frames"] == 24 and report["loaded"] == []
    assert {"lanes", "vehicles", "signs", "timings_ms"} <= set(report["first"])
    assert report["run_rc"] == 0
    *lines, last = (tmp_path / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["index"] for line in lines] == list(range(24))
    assert json.loads(last)["summary"]["processed"] == 24
    assert (tmp_path / "annotated.mp4").stat().st_size > 0
    assert report["export_rc"] == 2 and "pip install 'mtl-edge[train]'" in proc.stderr
