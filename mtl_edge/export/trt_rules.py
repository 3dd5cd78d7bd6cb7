"""TensorRT's ONNX-parser rules, kept as data in ``trt_rules.json`` with the source of each.

The table is transcribed from onnx-tensorrt's ``docs/operators.md`` and its importer
(the exact versions are in the file's ``sources``); ``docs/tensorrt-rules.md`` explains it.
This module only reads it: :mod:`mtl_edge.export.compat` applies it to a graph.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

#: TensorRT major versions the table describes.
TRT_MAJORS = (10, 11)
#: Input/output roles an op rule may give a tensor (anything not listed is "data").
ROLES = ("data", "index", "shape", "initializer", "bool", "any")


@dataclass(frozen=True)
class OpRule:
    """What TensorRT's parser accepts for one ONNX op."""

    op: str
    trt: tuple[int, ...]
    types: frozenset[str]
    inputs: dict[int, str]
    outputs: dict[int, str]
    attrs: dict[str, tuple[Any, ...]]
    notes: str
    source: str

    def input_role(self, index: int) -> str:
        return self.inputs.get(index, "data")

    def output_role(self, index: int) -> str:
        return self.outputs.get(index, "data")


@dataclass(frozen=True)
class Rules:
    """The whole table: ops, opset range, bindable I/O dtypes and the cross-cutting rules."""

    sources: dict[str, str]
    opset: dict[int, tuple[int, int]]
    bindable: dict[int, frozenset[str]]
    ops: dict[str, OpRule]
    rules: dict[str, dict[str, str]]

    def source(self, key: str) -> str:
        """The full citation behind a source key (the key itself when it is already a citation)."""
        return self.sources.get(key, key)

    def rule_source(self, rule_id: str) -> str:
        return self.source(self.rules.get(rule_id, {}).get("source", "importer"))


def _op_rule(op: str, raw: dict[str, Any]) -> OpRule:
    def roles(table: dict[str, str] | None, what: str) -> dict[int, str]:
        out = {int(k): v for k, v in (table or {}).items()}
        unknown = {v for v in out.values() if v not in ROLES + ("index", "bool")}
        if unknown:
            raise ValueError(f"trt_rules.json: {op}.{what} has unknown roles {sorted(unknown)}; use {ROLES}")
        return out

    return OpRule(
        op=op,
        trt=tuple(int(v) for v in raw["trt"]),
        types=frozenset(raw["types"]),
        inputs=roles(raw.get("inputs"), "inputs"),
        outputs=roles(raw.get("outputs"), "outputs"),
        attrs={k: tuple(v) for k, v in (raw.get("attrs") or {}).items()},
        notes=raw.get("notes", ""),
        source=raw.get("source", "operators"),
    )


def parse_rules(raw: dict[str, Any]) -> Rules:
    """Rules from the JSON structure (see ``trt_rules.json``)."""
    return Rules(
        sources=dict(raw["sources"]),
        opset={int(k): (int(v[0]), int(v[1])) for k, v in raw["opset"].items()},
        bindable={int(k): frozenset(v) for k, v in raw["bindable"].items()},
        ops={op: _op_rule(op, r) for op, r in raw["ops"].items()},
        rules={r["id"]: r for r in raw.get("rules", [])},
    )


@functools.cache
def load_rules() -> Rules:
    """The table shipped with the package."""
    text = resources.files("mtl_edge.export").joinpath("trt_rules.json").read_text(encoding="utf-8")
    return parse_rules(json.loads(text))
