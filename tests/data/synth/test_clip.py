"""Clips: real H.264 that decodes to the right frame count, with coherent per-frame labels."""

from __future__ import annotations

import av
import numpy as np

from mtl_edge.data.formats import read_frames
from mtl_edge.data.synth.clip import ClipSimulator
from mtl_edge.data.synth.writer import SynthOptions, generate


def test_clip_decodes_with_the_right_frame_count(tmp_path):
    generate(
        tmp_path, 1, SynthOptions(seed=4, width=320, height=180, clip_frames=12, fps=10), workers=1, progress=False
    )
    video = tmp_path / "videos" / "clip_0000.mp4"
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(frames) == 12 and frames[0].shape == (180, 320, 3)
    labels = read_frames(tmp_path / "videos" / "clip_0000.json")
    assert [f.frame_index for f in labels] == list(range(12))
    assert {f.video_name for f in labels} == {"clip_0000"}


def test_the_car_drives_forward_and_the_world_stays_put():
    sim = ClipSimulator(seed=8, n_frames=20, fps=10)
    scenes = [s for _, s in sim.frames()]
    ego = np.array([s.ego_s for s in scenes])
    assert (np.diff(ego) > 1.0).all()  # 14-30 m/s at 10 fps
    signs = {}
    for s in scenes:
        for sign in s.signs:
            signs.setdefault(sign.id, set()).add(round(sign.s, 6))
    assert signs and all(len(positions) == 1 for positions in signs.values())  # signs never move
    dash_phase = {tuple((ln.offset, ln.phase) for ln in s.road.lines) for s in scenes}
    assert len(dash_phase) == 1  # the lane layout is the same road all clip long
