"""What a bad recipe raises, and the recipe its messages point to as a worked example."""

from __future__ import annotations

#: The recipe that error messages point to as a worked example.
EXAMPLE = "recipes/synth-edge.yaml"


class RecipeError(ValueError):
    """A recipe that cannot be used as written; the message names the file, the key and the fix."""


def fail(where: str, key: str, problem: str) -> RecipeError:
    """The error for ``problem`` at dotted ``key`` of the source ``where`` (a file; no key: the whole of it)."""
    return RecipeError(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")
