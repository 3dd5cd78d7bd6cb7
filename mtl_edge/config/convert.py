"""Plain YAML data <-> (nested) dataclasses, checked against the field annotations.

``from_dict`` builds any dataclass from plain data, so a new setting is a new annotated
field with a commented default, nothing more; ``to_dict`` is its inverse.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from .errors import EXAMPLE, RecipeError, fail

# PyYAML follows YAML 1.1, where ``2e-3`` (no dot) is a string; a float field accepts it.
_FLOAT_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _got(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _join(key: str, name: object) -> str:
    return f"{key}.{name}" if key else str(name)


def _describe(tp: Any) -> str:
    """How an error message names the expected type."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "a whole number"
    if tp is float:
        return "a number"
    if tp in (str, Path):
        return "a string"
    if dataclasses.is_dataclass(tp):
        return "a mapping of settings"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list (each {_describe(args[0])})"
        return f"a list of {len(args)} values"
    if origin is list:
        return "a list"
    if origin is dict:
        return "a mapping"
    if origin in (Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    return str(tp)


def _convert(tp: Any, value: Any, where: str, key: str) -> Any:
    """``value`` checked against (and converted to) the annotation ``tp``."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _convert(inner[0], value, where, key)
        for option in inner:
            try:
                return _convert(option, value, where, key)
            except RecipeError:
                continue
        raise fail(where, key, f"expected {_describe(tp)}, got {_got(value)}.")
    if origin is Literal:
        if any(type(value) is type(a) and value == a for a in args):
            return value
        allowed = ", ".join(repr(a) for a in args)
        quote = " (quote it, YAML read it as a number)" if str(value) in {str(a) for a in args} else ""
        raise fail(where, key, f"{value!r} is not allowed{quote}; use one of {allowed}.")
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where, key)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise fail(where, key, f"expected {_describe(tp)}, got {_got(value)}.")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, where, f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise fail(where, key, f"expected {len(args)} values, got {len(value)}: {list(value)!r}.")
        return tuple(_convert(a, v, where, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin is list:
        if not isinstance(value, (list, tuple)):
            hint = f" (write [{value!r}] for one item)" if isinstance(value, str) else ""
            raise fail(where, key, f"expected a list, got {_got(value)}{hint}.")
        return [_convert(args[0], v, where, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise fail(where, key, f"expected a mapping (key: value lines), got {_got(value)}.")
        out = {}
        for k, v in value.items():
            if args[0] is str and not isinstance(k, str):
                raise fail(where, _join(key, k), f"keys must be strings, got {_got(k)}; quote it.")
            out[k] = _convert(args[1], v, where, _join(key, k))
        return out
    if tp is bool:
        if not isinstance(value, bool):
            raise fail(where, key, f"expected true or false, got {_got(value)}.")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(where, key, f"expected a whole number, got {_got(value)}.")
        return value
    if tp is float:
        if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(where, key, f"expected a number, got {_got(value)}.")
        if not math.isfinite(value):
            raise fail(where, key, f"expected a finite number, got {value!r}.")
        return float(value)
    if tp in (str, Path):
        if not isinstance(value, str):
            quote = f" (quote it: '{value}')" if isinstance(value, (int, float)) else ""
            raise fail(where, key, f"expected a string, got {_got(value)}{quote}.")
        return Path(value) if tp is Path else value
    raise TypeError(f"{where}: {key}: unsupported recipe field type {tp!r}; add it to mtl_edge.config.convert._convert")


def from_dict(cls: type, data: Any, where: str, key: str = "") -> Any:
    """Build dataclass ``cls`` from YAML data; unknown, missing or mistyped keys raise RecipeError.

    ``where`` names the source (a file) and ``key`` the dotted path of ``data`` within it,
    both only for error messages. ``None`` (an empty YAML section) means all defaults.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise fail(where, key, f"expected a mapping of settings (key: value lines), got {_got(data)}.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for k in data:
        if k not in fields:
            close = difflib.get_close_matches(str(k), fields, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise fail(where, _join(key, k), f"unknown key.{hint} Known keys: {', '.join(fields)}.")
    kwargs = {}
    for name, f in fields.items():
        path = _join(key, name)
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], where, path)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise fail(where, path, f"missing required key; add it (see {EXAMPLE} for an example).")
    try:
        return cls(**kwargs)
    except ValueError as err:  # a dataclass's own check of its values (__post_init__)
        raise fail(where, key, str(err)) from err


def to_dict(obj: Any) -> Any:
    """Plain YAML/JSON data of a (nested) dataclass: tuples become lists, paths strings."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj
