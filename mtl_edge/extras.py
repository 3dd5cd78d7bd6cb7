"""Which optional extra a missing module belongs to, so commands can say what to install.

``pip install mtl-edge`` installs the deploy path only (ONNX Runtime, OpenCV, PyAV);
training, export and the torch backend need ``mtl-edge[train]``.
"""

from __future__ import annotations

#: Top-level modules that only the [train] extra installs.
TRAIN_MODULES = frozenset(
    {"torch", "torchvision", "onnx", "onnxscript", "onnxsim", "onnxslim", "scipy", "yaml", "tqdm"}
)


def missing_extra(error: ModuleNotFoundError) -> str | None:
    """What to install for ``error`` when the missing module comes with an extra; None otherwise."""
    root = (error.name or "").split(".")[0]
    if root in TRAIN_MODULES:
        return f"this command needs the training extra ({root} is not installed): pip install 'mtl-edge[train]'"
    return None
