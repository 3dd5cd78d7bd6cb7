"""Crash-safe file writing: nothing is ever left half-written under its final name."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def atomic_write(
    path: str | Path, write: Callable[[IO[Any]], object], *, text: bool = False, durable: bool = True
) -> None:
    """Call ``write(f)`` on a temp file beside ``path``, then rename it over ``path``.

    On any error the temp file is removed and ``path`` is untouched. ``durable`` adds
    fsync of the file and its folder, so the rename survives a power cut.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n") if text else open(tmp, "xb") as f:
            write(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if durable:
        with contextlib.suppress(OSError):  # directory fsync is not possible everywhere
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes, *, durable: bool = True) -> None:
    atomic_write(path, lambda f: f.write(data), durable=durable)
