"""What every step of the doctor shares: the progress callback's type and how an error is written down."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Progress = Callable[[str], Any]


def error_text(e: BaseException) -> str:
    """An exception as one line for the report: ``"<type>: <message>"``."""
    return f"{type(e).__name__}: {e}"
