"""The dataset layouts mtl-edge reads, and how a folder's layout is found.

Every command that reads labelled data (training and its validation, ``mtl-edge eval --data``,
``mtl-edge data show``, INT8 calibration and the export accuracy check) opens it here:
:func:`load_split` reads one split of a folder in a named or detected layout. Each layout's
module registers itself with :func:`register_layout`; ``_MODULES`` lists the shipped ones.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from mtl_edge.data.layouts.base import LABEL_KINDS, Layout, LayoutData

__all__ = ["LABEL_KINDS", "Layout", "LayoutData", "register_layout", "layouts", "detect_layout", "load_split"]

_LAYOUTS: dict[str, Layout] = {}
#: The shipped layout modules, imported on first use (each registers its layouts).
_MODULES = ("generated", "bdd100k", "tusimple", "culane", "mtsd", "gtsdb")
_ORDER = ("generated", "bdd100k", "bdd100k-2018", "tusimple", "culane", "mtsd", "gtsdb")


def register_layout(layout: Layout) -> Layout:
    """Make ``layout`` known to every command; a name given twice is refused."""
    if layout.name in _LAYOUTS:
        raise ValueError(f"layout {layout.name!r} is already registered; pick another name")
    _LAYOUTS[layout.name] = layout
    return layout


def layouts() -> dict[str, Layout]:
    """Every registered layout, by name: the shipped ones in a fixed order, then any others."""
    for module in _MODULES:
        importlib.import_module(f"mtl_edge.data.layouts.{module}")
    order = {name: i for i, name in enumerate(_ORDER)}
    return {name: _LAYOUTS[name] for name in sorted(_LAYOUTS, key=lambda n: (order.get(n, len(order)), n))}


def describe() -> str:
    """The layouts and the files each expects, for help texts and errors."""
    lines = []
    for layout in layouts().values():
        lines.append(f"  {layout.name}: " + "; ".join(layout.expects))
    return "\n".join(lines)


def detect_layout(root: str | Path, hint: str = "--layout") -> str:
    """The name of the one layout ``root`` is in; a ValueError listing the layouts otherwise.

    ``hint`` is how the caller names a layout (``--layout``, ``--val-layout``, a recipe's ``layout:``).
    """
    root = Path(root)
    if not root.is_dir():
        problem = "no such folder" if not root.exists() else "not a folder"
        raise FileNotFoundError(f"{root}: {problem}. Give a dataset folder in one of these layouts:\n{describe()}")
    found = [name for name, layout in layouts().items() if layout.detect(root)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise ValueError(
            f"{root}: not a dataset folder in any supported layout (or an unfinished `mtl-edge data synth` "
            f"run: run it again to finish). Lay it out as one of these, or name the layout with {hint}:\n"
            f"{describe()}"
        )
    raise ValueError(f"{root}: looks like several layouts ({', '.join(found)}); name one with {hint}.")


def get_layout(name: str) -> Layout:
    """The registered layout ``name``."""
    table = layouts()
    if name not in table:
        raise ValueError(f"unknown layout {name!r}; supported layouts are {', '.join(table)}.")
    return table[name]


def load_split(root: str | Path, layout: str | None = None, role: str = "val", hint: str = "--layout") -> LayoutData:
    """Split ``role`` of the dataset under ``root``, in ``layout`` (None: detected; ``hint``: see detect_layout)."""
    root = Path(root)
    name = layout or detect_layout(root, hint)
    spec = get_layout(name)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder. Expected the {name} layout:\n  " + "\n  ".join(spec.expects))
    if spec.roles != ("",) and role not in spec.roles:
        raise ValueError(f"{root}: the {name} layout has splits {', '.join(spec.roles)}, not {role!r}.")
    return spec.load(root, role)
