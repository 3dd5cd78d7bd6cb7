"""The shipped checkpoint's exports (``shipped_exports``), shared with ``tests/export``: the engine tests build them."""

from __future__ import annotations

from tests.export.conftest import shipped_exports, shipped_frames  # noqa: F401  (pytest fixtures, used by name)
