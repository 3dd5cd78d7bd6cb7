"""The ``heads`` fixture: a fresh registry of dummy heads, so the recipe tests check the loader alone."""

from __future__ import annotations

import pytest

from mtl_edge.models.registry import Registry
from tests.config.recipes import BoxesHead, PaintHead


@pytest.fixture
def heads() -> Registry:
    registry = Registry("head")
    registry.register("boxes")(BoxesHead)
    registry.register("paint")(PaintHead)
    return registry
