"""Crash-safe file writing: nothing is ever left half-written under its final name."""

from __future__ import annotations

import contextlib
import os
import re
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


def temp_beside(path: str | Path, suffix: str = ".tmp") -> Path:
    """A hidden temp name beside ``path`` that carries this process's PID (see :func:`remove_stale_temps`)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}{suffix}")


_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)(?:\.[0-9a-f]{8})?\.tmp(?:\.\w+)?$")


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one owned by another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder: str | Path, name: str | None = None) -> list[Path]:
    """Delete the hidden temp files in ``folder`` left by processes that are gone (their PID is
    in the name: ``.NAME.PID[.HEX].tmp[.EXT]``), only those of ``name`` when given; returns them."""
    removed: list[Path] = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        match = _TEMP.match(entry.name)
        if not match or (name is not None and match["name"] != name) or not entry.is_file():
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or pid_alive(pid):
            continue
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed.append(entry)
    return removed


def fsync_folder(folder: str | Path) -> None:
    """Make a rename or a new file in ``folder`` survive a power cut (where the OS allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
