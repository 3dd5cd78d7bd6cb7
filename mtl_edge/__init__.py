"""mtl-edge: multi-task driving perception (lanes, vehicles, signs, drivable area) for the edge.

``mtl_edge.export(ckpt, out, precision=...)`` exports a checkpoint (see :mod:`mtl_edge.export`);
``mtl_edge.Runtime(model).stream(source)`` yields per-frame results (see :mod:`mtl_edge.runtime`).
"""

from mtl_edge.version import __version__ as __version__  # re-exported: mtl_edge.__version__


def __getattr__(name: str):  # lazy: importing mtl_edge stays cheap
    if name == "export":
        import importlib

        return importlib.import_module("mtl_edge.export")
    if name == "Runtime":
        from mtl_edge.runtime.api import Runtime

        return Runtime
    raise AttributeError(f"module 'mtl_edge' has no attribute {name!r}")
