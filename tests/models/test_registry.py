"""The registry refuses duplicate names and explains unknown ones."""

from __future__ import annotations

import pytest

from mtl_edge.models import BACKBONES, HEADS
from mtl_edge.models.registry import Registry


def test_register_build_and_names() -> None:
    reg = Registry("widget")

    @reg.register("b")
    def make_b(size: int = 1) -> tuple[str, int]:
        return ("b", size)

    @reg.register("a")
    class A:
        def __init__(self, size: int = 2) -> None:
            self.size = size

    assert reg.names() == ["a", "b"]
    assert "a" in reg and "c" not in reg and len(reg) == 2
    assert reg.build("b", size=5) == ("b", 5)
    assert reg.build("a").size == 2
    assert reg.get("a") is A
    assert make_b() == ("b", 1)  # the decorator returns the object unchanged


def test_duplicate_name_is_refused_and_names_both() -> None:
    reg = Registry("widget")

    @reg.register("dup")
    def first() -> None: ...

    def second() -> None: ...

    with pytest.raises(ValueError, match="widget 'dup' is already registered") as err:
        reg.register("dup")(second)
    message = str(err.value)
    assert "first" in message and "second" in message
    assert reg.get("dup") is first  # the original entry survives


def test_unknown_name_lists_known_names() -> None:
    reg = Registry("widget")
    reg.register("alpha")(dict)
    reg.register("beta")(list)
    with pytest.raises(ValueError, match=r"unknown widget 'gamma'; known widgets: alpha, beta"):
        reg.build("gamma")
    with pytest.raises(ValueError, match="none registered"):
        Registry("head").get("lanes")


def test_empty_name_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        Registry("widget").register("")


def test_project_registries() -> None:
    assert BACKBONES.kind == "backbone" and HEADS.kind == "head" and BACKBONES is not HEADS
    assert {"edgenet", "resnet18", "mobilenet_v3_large", "mobilenet_v3_small"} <= set(BACKBONES.names())
    with pytest.raises(ValueError, match="edgenet"):
        BACKBONES.build("edgenett")
