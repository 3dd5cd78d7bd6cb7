"""Progress reporting that a terminal and a service log can both keep.

On a terminal, :func:`progress` is a tqdm bar. When stderr is not a terminal (systemd,
docker, CI, a redirect to a file), a bar would write a carriage-return frame per refresh,
megabytes over a long run; instead it prints a plain status line at most every
:data:`INTERVAL` seconds, and one final line. tqdm is imported only for a terminal and
only where it is installed (it comes with the [train] extra), so any layer may use this.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any, Generic, TypeVar

T = TypeVar("T")

#: Seconds between two plain status lines (the final line is always printed).
INTERVAL = 10.0


def _clock() -> float:
    return time.monotonic()


class PlainProgress(Generic[T]):
    """tqdm's interface (iterate, ``update``, ``set_postfix``, ``close``) as rate-limited plain lines."""

    def __init__(
        self,
        iterable: Iterable[T] | None,
        desc: str,
        total: int | None,
        unit: str,
        stream: IO[str] | None,
        interval: float,
        enabled: bool = True,
    ) -> None:
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable, self.desc, self.total, self.n = iterable, desc, total, 0
        self.unit = unit.strip() or "it"
        self.stream, self.interval, self.enabled = stream, interval, enabled
        self.started = self.last = _clock()
        self.postfix = ""
        self.closed = False

    def __iter__(self) -> Iterator[T]:
        if self.iterable is None:
            raise TypeError("this progress has no iterable: call update() instead of iterating")
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:  # also when the loop breaks early: the generator is closed, and so is the progress
            self.close()

    def __enter__(self) -> PlainProgress[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more done; print a status line when :data:`INTERVAL` seconds passed since the last."""
        self.n += n
        now = _clock()
        if self.enabled and not self.closed and now - self.last >= self.interval:
            self.last = now
            self._print(self._line(now, final=False))

    def set_postfix(self, ordered_dict: Mapping[str, Any] | None = None, refresh: bool = True, **kwargs: Any) -> None:
        """Values shown after the count (e.g. the running loss), as tqdm's ``set_postfix``."""
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def close(self) -> None:
        """Print the final line (once)."""
        if self.closed:
            return
        self.closed = True
        if self.enabled:
            self._print(self._line(_clock(), final=True))

    def _line(self, now: float, final: bool) -> str:
        elapsed = now - self.started
        count = f"{self.n}/{self.total}" if self.total is not None else f"{self.n}"
        parts = [f"{self.desc}: " if self.desc else "", f"{count} {self.unit}"]
        if final:
            parts.append(f" in {elapsed:.1f} s")
        else:
            if self.total:
                parts.append(f" ({100 * self.n / self.total:.0f}%)")
            parts.append(f", {elapsed:.0f} s")
            if self.n and self.total:
                parts.append(f", ~{elapsed * (self.total - self.n) / self.n:.0f} s left")
        if self.postfix:
            parts.append(f", {self.postfix}")
        return "".join(parts)

    def _print(self, line: str) -> None:
        stream = self.stream if self.stream is not None else sys.stderr
        print(line, file=stream, flush=True)


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed or detached stream
        return False


def progress(
    iterable: Iterable[T] | None = None,
    desc: str = "",
    total: int | None = None,
    enabled: bool = True,
    *,
    unit: str = "it",
    leave: bool = True,
    stream: IO[str] | None = None,
    interval: float | None = None,
) -> Any:
    """Progress over ``iterable`` (or counted with ``update()`` when None), on ``stream`` (stderr).

    A tqdm bar on a terminal; otherwise plain lines at most every ``interval`` seconds
    (default :data:`INTERVAL`) plus a final one. ``enabled=False`` (``--quiet``) prints
    nothing. Iterate it, or call ``update(n)`` and ``close()``; ``set_postfix`` works on both.
    """
    out = stream if stream is not None else sys.stderr
    if enabled and _is_terminal(out):
        try:
            from tqdm import tqdm
        except ImportError:  # the base install has no tqdm: plain lines
            pass
        else:
            return tqdm(iterable, desc=desc or None, total=total, unit=unit, leave=leave, file=out, dynamic_ncols=True)
    every = INTERVAL if interval is None else interval
    return PlainProgress(iterable, desc, total, unit, stream, every, enabled=enabled)
