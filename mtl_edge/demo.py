"""``mtl-edge demo``: the shipped model on a generated driving clip, end to end.

Renders a clip, exports the shipped checkpoint to ONNX once (reused afterwards), streams
the clip through the runtime into an annotated mp4 and a JSONL file, and returns the
run's statistics.
"""

from __future__ import annotations

from pathlib import Path

from mtl_edge.runtime.pipeline import RunStats

#: Printed by ``mtl-edge demo`` with the shipped model: what it is not for, and what to do instead.
SHIPPED_MODEL_NOTE = (
    "note: the shipped model was trained on generated scenes only; it does not work on real camera "
    "footage. For a real camera, train on real data: mtl-edge train recipes/bdd100k.yaml (lanes, vehicles, "
    "drivable area) or recipes/bdd100k+mtsd.yaml (plus typed signs); see the README, 'Status of the shipped model'."
)


def demo_clip(out: Path, frames: int, seed: int) -> Path:
    """Render (or reuse) one generated 1280x720 clip; returns its mp4."""
    from mtl_edge.data.synth.writer import SynthOptions, generate

    root = out / f"clip-seed{seed}-{frames}f"
    generate(root, 1, SynthOptions(seed=seed, clip_frames=frames), workers=1, progress=True)
    return root / "videos" / "clip_0000.mp4"


def demo_model(out: Path, checkpoint: Path) -> Path:
    """The checkpoint exported to FP32 ONNX, re-exported only when the checkpoint changed."""
    from mtl_edge.export.exporter import export
    from mtl_edge.export.onnx import file_sha256, read_metadata

    path = out / "model.onnx"
    if path.exists() and read_metadata(path).get("checkpoint_sha256") == file_sha256(checkpoint):
        return path
    print(f"exporting {checkpoint} -> {path} (once)")
    export(checkpoint, path, val_images=0)
    return path


def run_demo(
    out: Path, checkpoint: Path | None = None, frames: int = 150, seed: int = 0, backend: str = "auto"
) -> tuple[RunStats, Path]:
    """Generate, export, run; returns the statistics and the annotated video's path."""
    from mtl_edge.assets import SHIPPED_CHECKPOINT
    from mtl_edge.runtime.api import Runtime

    out.mkdir(parents=True, exist_ok=True)
    clip = demo_clip(out, frames, seed)
    model = demo_model(out, Path(checkpoint or SHIPPED_CHECKPOINT))
    video = out / "demo.mp4"
    with Runtime(model, backend=backend) as rt:
        pipe = rt.pipeline(clip, sinks=[video, out / "results.jsonl"], hud=True)
        stats = pipe.run()
    return stats, video
