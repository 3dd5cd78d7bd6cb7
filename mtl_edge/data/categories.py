"""Category tables: a dataset's box categories mapped onto the box heads' classes.

A table maps each category of a dataset (``car``, ``regulatory--stop--g1``, a GTSDB class id,
...) to one of

==================  ==========================================================================
``vehicles/car``    class ``car`` of head ``vehicles``
``vehicles/ignore`` an ignore region of head ``vehicles``: predictions there are neither
                    rewarded nor punished (BDD100K ``other vehicle``, ``trailer``, ``train``)
``signs``           head ``signs``, the class from the label's own ``signType`` attribute
                    (the generator writes it); an ignore region where the label has none
``skip``            no head predicts it (pedestrians, traffic lights): dropped, no error
==================  ==========================================================================

Keys may be shell-style patterns (``regulatory--maximum-speed-limit-30--*``, ``*``); an exact
key wins, then the patterns in the order given. A category that no key matches is an error
that names it, so a new dataset's classes are never silently learned as background. A box
flagged ``crowd`` (or our ``ignore`` attribute) is an ignore region of whatever head it maps to.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass

from mtl_edge.data.formats.errors import LabelFormatError
from mtl_edge.data.labels import ObjectLabel

SKIP = "skip"
IGNORE = "ignore"


@dataclass(frozen=True)
class BoxTarget:
    """Where one object goes: its head and class (None: an ignore region of that head)."""

    head: str
    cls: str | None


class CategoryTable:
    """One dataset's table from box categories to heads and classes (see the module docs)."""

    def __init__(self, rules: Mapping[str, str], box_heads: Mapping[str, tuple[str, ...]], where: str) -> None:
        """``box_heads``: each box head's classes; ``where`` names the table in errors (the recipe entry)."""
        self.where = where
        self.heads = {h: tuple(c) for h, c in box_heads.items()}
        self.exact: dict[str, BoxTarget | None] = {}
        self.patterns: list[tuple[str, BoxTarget | None]] = []
        for key, value in rules.items():
            target = self._parse(str(key), value, box_heads)
            if any(c in str(key) for c in "*?["):
                self.patterns.append((str(key), target))
            else:
                self.exact[str(key)] = target
        self._cache: dict[str, BoxTarget | None] = {}

    def _parse(self, key: str, value: object, box_heads: Mapping[str, tuple[str, ...]]) -> BoxTarget | None:
        fix = 'Map it to "skip", "<head>", "<head>/ignore" or "<head>/<class>"; box heads: ' + "; ".join(
            f"{h} ({', '.join(c)})" for h, c in box_heads.items()
        )
        if not isinstance(value, str) or not value:
            raise ValueError(f"{self.where}: categories.{key}: expected a string, got {value!r}. {fix}")
        if value == SKIP:
            return None
        head, _, cls = value.partition("/")
        if head not in box_heads:
            raise ValueError(f"{self.where}: categories.{key}: {value!r} names no box head. {fix}")
        if cls and cls != IGNORE and cls not in box_heads[head]:
            raise ValueError(
                f"{self.where}: categories.{key}: {cls!r} is not a class of {head} "
                f"({', '.join(box_heads[head])}). {fix}"
            )
        return BoxTarget(head, None if cls == IGNORE else (cls or "*"))

    def lookup(self, category: str, source: str = "") -> BoxTarget | None:
        """The rule for ``category``; LabelFormatError when nothing matches."""
        if category in self._cache:
            return self._cache[category]
        matches = [t for pattern, t in self.patterns if fnmatch.fnmatchcase(category, pattern)]
        if category in self.exact:
            target = self.exact[category]
        elif matches:
            target = matches[0]
        else:
            raise LabelFormatError(
                f"{source or self.where}: category {category!r} is not in the category table of {self.where}. "
                f'Add it under categories: as "<head>/<class>", "<head>/ignore" or "skip" '
                f'(or a "*" entry for every category not listed).'
            )
        self._cache[category] = target
        return target

    def resolve(self, obj: ObjectLabel, source: str = "") -> tuple[str, str | None] | None:
        """(head, class or None where the table makes it an ignore region) of ``obj``; None: skipped.

        A box the label itself flags (``crowd``, ``ignore``) keeps its class; callers ignore it.
        """
        target = self.lookup(obj.category, source)
        if target is None:
            return None
        cls = target.cls
        if cls == "*":  # the class comes from the label's own type attribute
            cls = obj.sign_type if obj.sign_type in self.heads[target.head] else None
        return target.head, cls


#: The default table of BDD100K's box categories (2020 ``det_20`` names; the 2018 aliases
#: person/bike/motor are read as pedestrian/bicycle/motorcycle before lookup). BDD100K's own
#: detection evaluation (bdd100k toolkit, bdd100k/configs/det.toml @ 3de4af5) scores ``other
#: vehicle`` and ``trailer`` boxes as ignored regions (its ``ignore_mapping``) and a ``crowd``
#: box likewise; ``train`` is a class there but not ours, so it is an ignore region too: a train
#: is never learned as a vehicle negative. Its "traffic sign" has no type: the class comes from
#: our ``signType`` attribute when a label carries one (generated data), else the box is an
#: ignore region of the signs head.
BDD100K_CATEGORIES: dict[str, str] = {
    "car": "vehicles/car",
    "truck": "vehicles/truck",
    "bus": "vehicles/bus",
    "motorcycle": "vehicles/motorcycle",
    "other vehicle": "vehicles/ignore",
    "trailer": "vehicles/ignore",
    "train": "vehicles/ignore",
    "traffic sign": "signs",
    "pedestrian": SKIP,
    "rider": SKIP,
    "other person": SKIP,
    "bicycle": SKIP,
    "traffic light": SKIP,
    "person": SKIP,  # 2018 names of pedestrian, bicycle and motorcycle
    "bike": SKIP,
    "motor": "vehicles/motorcycle",
}
