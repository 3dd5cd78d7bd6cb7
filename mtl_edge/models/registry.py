"""Name -> constructor registries for backbones and heads (torchvision ``models/_api.py`` style).

A registry is a plain dict filled by a decorator at import time of the module that
defines the constructor. It exists only for the two places a recipe names a component
(backbone, heads); everything else is built with ordinary constructors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T", bound=Callable[..., Any])


def _qualname(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


class Registry:
    """A named dict of constructors that refuses to register a name twice."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers a class or factory function under ``name``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} names must be non-empty strings, got {name!r}")

        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(
                    f"{self.kind} {name!r} is already registered to {_qualname(self._entries[name])}; "
                    f"refusing to register {_qualname(obj)} under the same name. Pick another name."
                )
            self._entries[name] = obj
            return obj

        return decorator

    def name_of(self, obj: object) -> str | None:
        """The name ``obj`` is registered under (the first one), or None."""
        return next((name for name, entry in self._entries.items() if entry is obj), None)

    def unregister(self, name: str) -> None:
        """Forget ``name`` (tests that register a component of their own); unknown names are ignored."""
        self._entries.pop(name, None)

    def get(self, name: str) -> Callable[..., Any]:
        """The constructor registered under ``name``."""
        if name not in self._entries:
            known = ", ".join(self.names()) or "(none registered yet; import the module that defines them)"
            raise ValueError(f"unknown {self.kind} {name!r}; known {self.kind}s: {known}")
        return self._entries[name]

    def build(self, name: str, **kwargs: Any) -> Any:
        """Call the constructor registered under ``name`` with ``kwargs``."""
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"


BACKBONES = Registry("backbone")
HEADS = Registry("head")
