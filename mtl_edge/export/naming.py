"""Name every ONNX node after the module that owns it, so time can be attributed per head.

The torch exporter records each node's module path in ``pkg.torch.onnx.name_scopes``.
A node becomes ``<owner>/<rest of the module path>/<OpType>_<n>``, where the owner is
``preprocess``, ``backbone``, ``neck`` or ``heads.<name>``.
"""

from __future__ import annotations

import ast

import onnx

from mtl_edge.deploy.metadata import node_owner as node_owner  # the owner prefix, read back by profilers

SCOPES_KEY = "pkg.torch.onnx.name_scopes"
OWNERS = ("preprocess", "backbone", "neck")


def owner_of(module_path: str) -> str:
    """``heads.signs.tower.0`` -> ``heads.signs``; ``backbone.stem.conv`` -> ``backbone``."""
    parts = module_path.split(".")
    if parts[0] == "heads" and len(parts) > 1:
        return f"heads.{parts[1]}"
    return parts[0] if parts[0] else "graph"


def _module_path(node: onnx.NodeProto) -> str | None:
    for prop in node.metadata_props:
        if prop.key == SCOPES_KEY:
            try:
                scopes = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                return None
            # The last entry is the op itself; "_empty_nn_module_stack..." marks a node with no module.
            modules = [s for s in scopes[:-1] if s and not s.startswith("_empty_nn_module_stack")]
            return modules[-1] if modules else None
    return None


def name_nodes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rename nodes in place from their recorded module scope; unscoped nodes inherit a neighbour's owner."""
    graph = model.graph
    producer_owner: dict[str, str] = {}
    counts: dict[str, int] = {}
    for node in graph.node:
        path = _module_path(node)
        if path is None:  # exporter-made helpers: belong to whoever made their inputs
            owner = next((producer_owner[i] for i in node.input if i in producer_owner), "graph")
            path = owner
        owner = owner_of(path)
        rest = path[len(owner) :].lstrip(".").replace(".", "/")
        prefix = f"{owner}/{rest}" if rest else owner
        key = f"{prefix}/{node.op_type}"
        counts[key] = counts.get(key, 0) + 1
        node.name = f"{key}_{counts[key]}" if counts[key] > 1 else key
        for out in node.output:
            producer_owner[out] = owner
    return model
