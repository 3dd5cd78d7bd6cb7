"""Checkpoint -> ONNX (fp32 / fp16 / int8 Q/DQ) -> TensorRT engine.

The package is also callable: ``mtl_edge.export(ckpt, out, precision="int8")`` runs
:func:`mtl_edge.export.exporter.export` and returns its :class:`ExportReport`.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from mtl_edge.export.exporter import export

        return export(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
