"""The label-format error and the helpers that make its messages point at the bad field."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Stands for a key absent from a JSON object (error messages show it as "nothing").
MISSING = object()


class LabelFormatError(ValueError):
    """A label file or mask does not follow the expected format; the message says where and how to fix it."""


def show(value: Any) -> str:
    """Short JSON-ish rendering of a bad value for error messages."""
    if value is MISSING:
        return "nothing"
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def one_of(choices: Sequence[str]) -> str:
    """The choices quoted and comma-separated, for "Use one of ..." hints."""
    return ", ".join(f'"{c}"' for c in choices)


@dataclass(frozen=True)
class Where:
    """Where a frame came from, so that every error can point at it."""

    source: str
    index: int | None = None
    name: str | None = None

    def error(self, field: str, problem: str, fix: str) -> LabelFormatError:
        frame = "frame" if self.index is None else f"frame {self.index}"
        if self.name is not None:
            frame += f" ({show(self.name)})"
        return LabelFormatError(f"{self.source}: {frame} {field}: {problem}. {fix}")
