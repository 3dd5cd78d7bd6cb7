"""Streaming inference: sources -> the pipeline (one backend call per batch) -> sinks."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:  # lazy: results-only users don't import the backends
    if name == "Runtime":
        from mtl_edge.runtime.api import Runtime

        return Runtime
    raise AttributeError(f"module 'mtl_edge.runtime' has no attribute {name!r}")
