"""Frame: decoder frames stay unconverted until needed, and letterbox like RGB arrays do."""

from __future__ import annotations

import av
import numpy as np
import pytest

from mtl_edge.deploy.letterbox import letterbox_image
from mtl_edge.runtime.frame import Frame

from .conftest import index_of, numbered_frames


def _scene(hw: tuple[int, int]) -> np.ndarray:
    """A generated driving scene: the content the runtime letterboxes."""
    from mtl_edge.data.synth.render import render
    from mtl_edge.data.synth.scene import sample_scene

    return render(sample_scene(4, hw[1], hw[0])).image


def _video_frame(rgb: np.ndarray) -> av.VideoFrame:
    """A yuv420p frame, as an H.264 decoder hands it over."""
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")


@pytest.mark.parametrize(
    ("src_hw", "dst_hw"),
    [
        ((720, 1280), (384, 640)),
        ((720, 1280), (128, 224)),
        ((100, 180), (128, 224)),
        ((362, 642), (128, 224)),
        ((361, 641), (128, 224)),
    ],
)
def test_decoder_frame_letterboxes_as_faithfully_as_its_rgb_image(src_hw, dst_hw):
    rendered = _scene(src_hw)
    frame = Frame(3, 0.1, _video_frame(rendered))
    assert frame.hw == src_hw
    boxed, params = frame.letterboxed(dst_hw)
    via_rgb, via_rgb_params = letterbox_image(frame.image, dst_hw)
    truth, _ = letterbox_image(rendered, dst_hw)  # the pixels before the YUV round trip
    assert params == via_rgb_params and boxed.shape == via_rgb.shape == (*dst_hw, 3)
    error, error_via_rgb = (float(np.abs(x.astype(int) - truth.astype(int)).mean()) for x in (boxed, via_rgb))
    assert error <= error_via_rgb + 0.1, (error, error_via_rgb)
    padding = np.ones(boxed.shape[:2], bool)
    scale, pad_x, pad_y = params
    padding[pad_y : pad_y + round(src_hw[0] * scale), pad_x : pad_x + round(src_hw[1] * scale)] = False
    assert (boxed[padding] == 114).all()


def test_image_is_converted_once_and_only_when_read():
    rgb = numbered_frames(5)[4]
    frame = Frame(0, 0.0, _video_frame(rgb))
    assert not isinstance(frame._pixels, np.ndarray)  # nothing converted yet
    assert frame.hw == rgb.shape[:2]
    image = frame.image
    assert frame.image is image and image.shape == rgb.shape and index_of(image) == 4


def test_renumbered_keeps_the_pixels():
    rgb = numbered_frames(3)[2]
    frame = Frame(0, 0.0, rgb).renumbered(7, 1.5)
    assert (frame.index, frame.timestamp) == (7, 1.5) and frame.image is rgb and frame.hw == rgb.shape[:2]


def test_frame_is_built_as_before_from_an_rgb_image():
    rgb = numbered_frames(2)[1]
    frame = Frame(index=1, timestamp=0.5, image=rgb)  # custom sources written for the earlier dataclass
    assert frame.image is rgb and frame.hw == (180, 320) and frame.letterboxed((128, 224))[0].shape == (128, 224, 3)
