"""The streaming loop: capture thread (decode, letterbox) -> inference thread (one backend
call) -> results in source pixels (the consumer's thread) -> sink thread.

Decoded video frames stay in the decoder's YUV: the capture thread scales their planes
straight to the network's input size and converts to RGB there, and only the sink thread
makes full-resolution RGB, when a sink draws.

Each stage runs beside the others, so a frame's letterbox and the previous frame's
mapping back overlap with inference: on a GPU the loop runs at the pace of its slowest
stage, not of their sum.

Files are processed frame by frame (policy ``all``). Live sources use ``latest``: the
capture thread keeps only the newest frame, and stale ones are dropped and counted.
Sinks run on their own thread behind a bounded queue, so a slow sink never stalls
inference; under ``latest`` a sink that falls behind skips frames (counted), under
``all`` it applies back-pressure so every frame is written.

:meth:`Pipeline.request_stop` (``mtl-edge run`` calls it on SIGINT and SIGTERM) ends a run
cleanly: capture stops, the frames already captured are inferred and written, and every
sink is closed and published.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np

from mtl_edge.deploy.results import FrameResult, Thresholds, to_frame_result
from mtl_edge.deploy.table import format_table
from mtl_edge.runtime.sources import Source

_END = object()
STAGES = ("capture", "preprocess", "infer", "postprocess", "sink")


#: Timing samples kept per stage (the summary's percentiles cover the last this many frames).
TIMING_WINDOW = 10_000


@dataclass
class RunStats:
    """Per-stage milliseconds and frame counts of one run."""

    #: the last TIMING_WINDOW samples per stage: bounded, so a run of hours holds constant memory
    ms: dict[str, deque[float]] = field(default_factory=lambda: {s: deque(maxlen=TIMING_WINDOW) for s in STAGES})
    frames: int = 0
    dropped: int = 0  # stale live frames never inferred
    sink_skipped: int = 0  # inferred frames a lagging sink did not get (latest policy)
    corrupt: int = 0
    reconnects: int = 0  # a network source that came back after losing its stream
    wall_s: float = 0.0
    network_s: float = 0.0  # time inside backend.infer only
    expected: int | None = None  # frames the file source says it holds (None: live, looped or unknown)
    ended_early: bool = False  # the file ran out before ``expected`` (truncated)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s else 0.0

    def table(self) -> str:
        rows = [
            {
                "stage": s,
                "p50 ms": float(np.percentile(v, 50)),
                "p99 ms": float(np.percentile(v, 99)),
                "mean ms": float(np.mean(v)),
                "n": len(v),
            }
            for s, v in self.ms.items()
            if v
        ]
        return format_table(rows, floatfmt=".2f")

    @property
    def partial(self) -> bool:
        """The input was not all there: it ended early, had corrupt frames, or gave no frame."""
        return self.ended_early or self.corrupt > 0 or self.frames == 0

    def counts(self) -> dict[str, Any]:
        """The frame counts of the run (the JSONL summary record)."""
        return {
            "expected": self.expected,
            "processed": self.frames,
            "dropped": self.dropped,
            "corrupt": self.corrupt,
            "not_rendered": self.sink_skipped,
            "reconnects": self.reconnects,
            "ended_early": self.ended_early,
            "seconds": round(self.wall_s, 3),
        }

    def summary(self) -> str:
        early = f"ended early: {self.frames} of {self.expected} frames; " if self.ended_early else ""
        expected = f" of {self.expected} expected" if self.expected is not None else ""
        return (
            f"{early}{self.frames} frames{expected} in {self.wall_s:.1f} s: {self.fps:.1f} FPS; "
            f"dropped {self.dropped} stale, {self.corrupt} corrupt, {self.sink_skipped} not rendered"
            + (f", {self.reconnects} reconnects" if self.reconnects else "")
            + (f"\n{self.table()}" if self.frames else "")
        )


class Pipeline:
    """Stream ``source`` through ``backend`` into ``sinks``; iterate :meth:`results` or call :meth:`run`."""

    def __init__(
        self,
        backend: Any,
        source: Source,
        sinks: Sequence[Any] = (),
        policy: str | None = None,
        max_frames: int | None = None,
        hud: bool = False,
        thresholds: Thresholds | None = None,
        summary_record: bool = False,
    ) -> None:
        self.backend, self.source, self.sinks = backend, source, list(sinks)
        self.policy = policy or ("latest" if source.live else "all")
        if self.policy not in ("latest", "all"):
            raise ValueError(f"--policy {self.policy!r}: choose latest or all")
        self.max_frames, self.hud, self.thresholds = max_frames, hud, thresholds or Thresholds()
        self.summary_record = summary_record  # end JSONL sinks with {"summary": counts} (mtl-edge run)
        self.stats = RunStats()
        self._frames: queue.Queue = queue.Queue(maxsize=1 if self.policy == "latest" else 4)
        self._inferred: queue.Queue = queue.Queue(maxsize=2)
        self._rendered: queue.Queue = queue.Queue(maxsize=16)
        self._stop = threading.Event()
        self._halt = threading.Event()  # request_stop: capture ends, what is in flight is drained
        self._errors: list[BaseException] = []
        self._sinks_draw = any(getattr(sink, "needs_image", True) for sink in self.sinks)
        self._result_times: deque[float] = deque(maxlen=31)  # when the last results came out (HUD FPS)

    # -- threads -------------------------------------------------------------------------
    def _capture(self) -> None:
        try:
            frames = self.source.frames()
            while not self._stop.is_set() and not self._halt.is_set():
                start = time.perf_counter()
                frame = next(frames, None)
                if frame is None:
                    break
                decoded = time.perf_counter()
                boxed, params = frame.letterboxed(self.backend.input_hw)
                prepared = (frame, boxed, params, (time.perf_counter() - decoded) * 1e3)
                self.stats.ms["capture"].append((decoded - start) * 1e3)
                self._offer(self._frames, prepared, latest=self.policy == "latest", on_drop="dropped")
        except BaseException as e:  # noqa: BLE001  (re-raised in the consumer)
            self._errors.append(e)
        finally:
            self._offer(self._frames, _END, latest=self.policy == "latest", on_drop="dropped")

    def _offer(self, q: queue.Queue, item: Any, latest: bool, on_drop: str) -> None:
        """Put ``item``; under ``latest`` replace a waiting item (counted) instead of blocking."""
        while not self._stop.is_set() or item is _END:
            if latest and item is not _END:  # the end marker waits: it never displaces the last frame
                try:
                    q.put_nowait(item)
                    return
                except queue.Full:
                    try:
                        old = q.get_nowait()
                        if old is _END:  # never drop the end marker
                            q.put_nowait(old)
                            return
                        setattr(self.stats, on_drop, getattr(self.stats, on_drop) + 1)
                    except queue.Empty:
                        pass
            else:
                try:
                    q.put(item, timeout=0.1)
                    return
                except queue.Full:
                    if item is _END and self._stop.is_set():
                        return

    def _inference(self) -> None:
        """Run the engine on each prepared frame and hand the raw outputs on, so that mapping
        them back to source pixels overlaps with the next frame's inference."""
        done = 0
        try:
            while self.max_frames is None or done < self.max_frames:
                try:
                    item = self._frames.get(timeout=0.1)
                except queue.Empty:
                    if self._stop.is_set():
                        return
                    continue
                if item is _END:
                    return
                frame, boxed, params, preprocess_ms = item
                start = time.perf_counter()
                out = self.backend.infer(boxed[None])
                seconds = time.perf_counter() - start
                self.stats.network_s += seconds
                done += 1
                self._offer(self._inferred, (frame, params, out, preprocess_ms, seconds * 1e3), False, "dropped")
        except BaseException as e:  # noqa: BLE001  (re-raised in the consumer)
            self._errors.append(e)
        finally:
            self._offer(self._inferred, _END, latest=False, on_drop="dropped")

    def _render(self) -> None:
        while True:
            item = self._rendered.get()
            if item is _END:
                return
            frame, result, hud = item
            start = time.perf_counter()
            try:
                # a decoder's frame becomes full-size RGB here, off the inference path, if a sink draws
                image = frame.image if self._sinks_draw else None
                for sink in self.sinks:
                    sink.write(image, result, hud)
            except BaseException as e:  # noqa: BLE001
                self._errors.append(e)
                self._stop.set()
                return
            self.stats.ms["sink"].append((time.perf_counter() - start) * 1e3)

    def request_stop(self) -> None:
        """End the run soon and cleanly (safe from a signal handler): capture stops, frames in
        flight are drained to the sinks, which are then closed and published."""
        self._halt.set()
        self.source.stop()  # a network source may be waiting to reconnect

    @property
    def stop_requested(self) -> bool:
        return self._halt.is_set()

    # -- main loop -----------------------------------------------------------------------
    def results(self) -> Iterator[FrameResult]:
        """Run the stream, yielding each frame's results in source-frame pixels."""
        capture = threading.Thread(target=self._capture, name="mtl-edge-capture", daemon=True)
        inference = threading.Thread(target=self._inference, name="mtl-edge-infer", daemon=True)
        render = threading.Thread(target=self._render, name="mtl-edge-render", daemon=True)
        capture.start()
        inference.start()
        if self.sinks:
            render.start()
        t0 = time.perf_counter()
        ok = False
        try:
            while self.max_frames is None or self.stats.frames < self.max_frames:
                item = self._inferred.get()
                if item is _END:
                    break
                frame = item[0]
                result = self._to_result(*item)
                self.stats.frames += 1
                self._result_times.append(time.perf_counter())
                if self.sinks:
                    hud = self._hud() if self.hud else None
                    self._offer(self._rendered, (frame, result, hud), self.policy == "latest", "sink_skipped")
                yield result
                if self._errors:
                    break
            ok = not self._errors
        finally:
            self._stop.set()
            self.source.stop()  # a network source may be waiting to reconnect
            while capture.is_alive():  # unblock a capture thread waiting on a full queue
                try:
                    self._frames.get_nowait()
                except queue.Empty:
                    capture.join(0.05)
            inference.join()
            if self.sinks:
                if render.is_alive():
                    self._rendered.put(_END)  # the render thread drains the queue, so this returns
                render.join()
            self.stats.wall_s = time.perf_counter() - t0
            self.stats.corrupt = self.source.corrupt
            self.stats.reconnects = self.source.reconnects
            self.stats.expected = getattr(self.source, "expected", None)
            self.stats.ended_early = bool(getattr(self.source, "ended_early", False))
            for sink in self.sinks:
                if self.summary_record and hasattr(sink, "write_summary"):
                    sink.write_summary(self.stats.counts())
                sink.close(ok=True)  # what was written so far is kept (a clean, playable file)
            self.source.close()
        if self._errors and not ok:
            raise self._errors[0]

    def _to_result(
        self, frame: Any, params: Any, out: dict[str, np.ndarray], preprocess_ms: float, infer_ms: float
    ) -> FrameResult:
        start = time.perf_counter()
        result = to_frame_result(
            out,
            self.backend.heads,
            params,
            frame.hw,
            self.backend.input_hw,
            index=frame.index,
            timestamp=frame.timestamp,
            thresholds=self.thresholds,
        )
        post_ms = (time.perf_counter() - start) * 1e3
        result.timings = {"preprocess": preprocess_ms, "infer": infer_ms, "postprocess": post_ms}
        for stage, ms in result.timings.items():
            self.stats.ms[stage].append(ms)
        return result

    def _hud(self) -> str:
        """The loop's real output rate over the last 30 frames (sinks included) and the engine's time."""
        times = self._result_times
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        fps = (len(times) - 1) / span if span > 0 else 0.0
        infer = np.mean(list(islice(reversed(self.stats.ms["infer"]), 30)))
        return f"{fps:5.1f} FPS  infer {infer:.1f} ms  frame {self.stats.frames}"

    def run(self) -> RunStats:
        """Consume the whole stream (or ``max_frames``); returns the statistics."""
        for _ in self.results():
            pass
        return self.stats
