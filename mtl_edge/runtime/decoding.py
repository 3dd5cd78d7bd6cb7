"""Decoding PyAV packets into frames, shared by the file and network sources."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


def decoded_frames(packets: Iterable[Any], source: Any) -> Iterator[Any]:
    """The decoded frames of ``packets``, in order; a packet that fails to decode is counted in
    ``source.corrupt`` and skipped. Demuxing errors propagate."""
    import av

    for packet in packets:
        try:
            decoded = packet.decode()
        except av.FFmpegError:
            source.corrupt += 1
            continue
        yield from decoded


def stream_fps(stream: Any) -> float | None:
    """A PyAV video stream's average frame rate, None when the container does not say."""
    rate = stream.average_rate or stream.guessed_rate
    return float(rate) if rate else None
