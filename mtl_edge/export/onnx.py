"""Export the deploy graph to ONNX: uint8 NHWC frames in, every head's final outputs out.

Steps: fuse RepConv/BN for deploy, export with the torch (dynamo) exporter, name nodes
after their modules, simplify (onnxsim, falling back to onnxslim), embed the model
metadata, run ``onnx.checker`` with ``full_check``, write atomically.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import onnx
import torch

from mtl_edge.deploy.metadata import METADATA_KEY, METADATA_SCHEMA, file_sha256, read_metadata
from mtl_edge.export.naming import name_nodes
from mtl_edge.fileio import atomic_write_bytes, remove_stale_temps
from mtl_edge.models.blocks import reparameterize_model
from mtl_edge.models.network import MEAN, STD, DeployModel, MultiTaskNet, head_metadata
from mtl_edge.version import __version__

OPSET = 18


def model_metadata(
    net: MultiTaskNet,
    input_hw: tuple[int, int],
    precision: str,
    checkpoint_sha256: str,
    batch: int | str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON that travels in ``metadata_props["mtl_edge"]``."""
    return {
        "schema": METADATA_SCHEMA,
        "package_version": __version__,
        "input": {
            "name": "images",
            "dtype": "uint8",
            "layout": "NHWC",
            "channels": "RGB",
            "height": input_hw[0],
            "width": input_hw[1],
            "batch": batch,
            "letterbox_fill": 114,
            "normalization": {"mean": list(MEAN), "std": list(STD), "scale": 255.0},
        },
        "heads": head_metadata(net, input_hw),
        "outputs": DeployModel.output_names_of(net),
        "precision": precision,
        "checkpoint_sha256": checkpoint_sha256,
        # Per head, which module paths stay float and why (Head.float_scopes): read by the precision rewrites.
        "float_scopes": {name: dict(head.float_scopes()) for name, head in net.heads.items()},
        **(extra or {}),
    }


def export_graph(
    net: MultiTaskNet, input_hw: tuple[int, int], batch: int | str = 1, half: bool = False, decoded: bool = True
) -> onnx.ModelProto:
    """Trace the deploy model to ONNX (not yet simplified).

    ``batch="dynamic"`` makes the batch dimension symbolic; ``decoded=False`` exports the
    heads' raw tensors instead of their final outputs (for parity checks).
    """
    deploy = DeployModel(reparameterize_model(copy.deepcopy(net).eval()), decoded=decoded).eval()
    if half:
        deploy = deploy.half()
        deploy.preprocess.float()  # uint8 -> float32 normalisation, then one Cast to half
        deploy.set_compute_dtype(torch.float16)
    # torch.export specialises sizes 0 and 1, so a dynamic batch is traced with an example of 2.
    example = torch.zeros((2 if batch == "dynamic" else int(batch), *input_hw, 3), dtype=torch.uint8)
    dynamic = {0: torch.export.Dim("batch", min=1, max=64)} if batch == "dynamic" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            deploy,
            (example,),
            input_names=["images"],
            output_names=deploy.output_names(),
            opset_version=OPSET,
            dynamo=True,
            dynamic_shapes=(dynamic,) if dynamic else None,
            verbose=False,
        )
    model = program.model_proto
    return name_nodes(model)


def simplify(model: onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """onnxsim, or onnxslim when onnxsim is missing or fails; returns the model and the tool used."""
    try:
        import onnxsim

        simplified, ok = onnxsim.simplify(model)
        if ok:
            return simplified, f"onnxsim {onnxsim.__version__}"
    except Exception:  # noqa: BLE001  (any failure: fall back)
        pass
    try:
        import onnxslim

        return onnxslim.slim(model), f"onnxslim {onnxslim.__version__}"
    except Exception as e:  # noqa: BLE001
        warnings.warn(f"graph left unsimplified: onnxsim and onnxslim both failed ({e})", stacklevel=2)
        return model, "none"


def shapes_after_cast(model: onnx.ModelProto) -> int:
    """Point every Shape that reads a uint8 graph input at the Cast of that input; returns how many moved.

    A dynamic batch makes the exporter read the frame's shape with ``Shape(images)``, but TensorRT
    lets only Cast read a uint8 tensor. The Cast keeps the shape, so its output gives the same answer.
    """
    uint8_inputs = {v.name for v in model.graph.input if v.type.tensor_type.elem_type == onnx.TensorProto.UINT8}
    cast_of = {n.input[0]: n.output[0] for n in model.graph.node if n.op_type == "Cast" and n.input[0] in uint8_inputs}
    moved = 0
    for node in model.graph.node:
        if node.op_type == "Shape" and node.input[0] in cast_of:
            node.input[0] = cast_of[node.input[0]]
            moved += 1
    if moved:  # the Cast may now come after its readers in the node list
        order = sorted(model.graph.node, key=lambda n: n.op_type != "Cast" or n.input[0] not in uint8_inputs)
        del model.graph.node[:]
        model.graph.node.extend(order)
    return moved


def finalize(model: onnx.ModelProto, metadata: dict[str, Any]) -> onnx.ModelProto:
    """Rename nodes (simplification may add unnamed ones), embed metadata, check with full_check."""
    shapes_after_cast(model)
    if any(not n.name for n in model.graph.node):
        name_nodes(model)
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata, sort_keys=True)
    model.producer_name, model.producer_version = "mtl-edge", __version__
    onnx.checker.check_model(model, full_check=True)
    return model


def save(model: onnx.ModelProto, path: str | Path) -> None:
    """Serialise and write atomically (a failed export leaves no partial .onnx).

    Temp files that a killed export left beside ``path`` (their PID is dead) are removed first.
    """
    remove_stale_temps(Path(path).parent, Path(path).name)
    atomic_write_bytes(path, model.SerializeToString())


__all__ = ["export_graph", "simplify", "finalize", "save", "model_metadata", "read_metadata", "file_sha256"]
