"""The Python API: ``for r in mtl_edge.Runtime("model.onnx").stream("clip.mp4"): ...``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mtl_edge.backends import open_backend
from mtl_edge.deploy.results import FrameResult, Thresholds
from mtl_edge.runtime.live import ReconnectPolicy
from mtl_edge.runtime.pipeline import Pipeline
from mtl_edge.runtime.sinks import check_sinks, open_sink
from mtl_edge.runtime.sources import open_source

#: Frame rate of video sinks when the source does not report one (image folders, a stream not yet connected).
DEFAULT_FPS = 30.0


class Runtime:
    """A loaded model (.onnx, .engine or checkpoint) that streams sources into results."""

    def __init__(
        self,
        model: str | Path,
        backend: str = "auto",
        threads: int | None = None,
        thresholds: Thresholds | None = None,
    ) -> None:
        self.backend = open_backend(model, backend, threads)
        self.thresholds = thresholds or Thresholds()
        self.last_stats: Any = None

    def pipeline(
        self,
        source: str | Path | Any,
        sinks: Sequence[str | Path] = (),
        policy: str | None = None,
        max_frames: int | None = None,
        hud: bool = False,
        loop: bool = False,
        reconnect: ReconnectPolicy | None = None,
        segment: float | None = None,
    ) -> Pipeline:
        """A pipeline from ``source`` (a URI or a source object) into ``sinks`` (URIs).

        ``loop`` replays a file source; ``reconnect`` sets a network stream's timeouts and backoff.
        Video sinks are written at the source's frame rate; ``segment`` (seconds) rotates
        video and JSONL sinks (``out_00000.mp4``, ...). A sink that is the source, or that
        is given twice, is refused (ValueError) before anything is opened.
        """
        check_sinks(source if isinstance(source, (str, Path)) else None, sinks)
        src = open_source(source, loop, reconnect) if isinstance(source, (str, Path)) else source
        opened = [open_sink(s, src.fps or DEFAULT_FPS, segment) for s in sinks]
        return Pipeline(self.backend, src, opened, policy, max_frames, hud, self.thresholds)

    def stream(self, source: str | Path | Any, **options: Any) -> Iterator[FrameResult]:
        """Yield one FrameResult per processed frame; ``options`` as for :meth:`pipeline`."""
        pipe = self.pipeline(source, **options)
        self.last_stats = pipe.stats
        yield from pipe.results()

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
