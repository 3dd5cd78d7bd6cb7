"""The mtl-edge engine file: a serialized TensorRT engine with a JSON header in front.

Layout: the 8-byte magic ``b"MTLENG01"``, a little-endian uint32 header length, the UTF-8
JSON header, then the engine bytes exactly as TensorRT serialized them. The header carries
the ONNX model's ``mtl_edge`` metadata plus what the engine is bound to (TensorRT version,
GPU, compute capability) and how it was built, so a loader can refuse a stale engine with
the command that rebuilds it. Pure Python: nothing here needs TensorRT.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from mtl_edge.fileio import atomic_write_bytes, remove_stale_temps

MAGIC = b"MTLENG01"
FORMAT = 1
_LEN = struct.Struct("<I")
_PREFIX = len(MAGIC) + _LEN.size
_BUILD_HINT = "mtl-edge export CHECKPOINT --out MODEL.onnx --engine {path}"


class EngineFileError(ValueError):
    """An engine file that cannot be read; the message says how to fix it."""


class EngineMismatchError(EngineFileError):
    """The engine was built for another TensorRT version or GPU than this machine's."""

    def __init__(self, message: str, mismatches: list[str], built_for: dict[str, str], this_machine: dict[str, str]):
        super().__init__(message)
        self.mismatches = mismatches
        self.built_for = built_for
        self.this_machine = this_machine


def engine_header(
    trt_version: str,
    gpu_name: str,
    compute_capability: str,
    onnx_sha256: str,
    model_metadata: dict[str, Any],
    build: dict[str, Any],
) -> dict[str, Any]:
    """The JSON header of an engine file (``model`` is the ONNX's mtl_edge metadata)."""
    return {
        "format": FORMAT,
        "tensorrt_version": trt_version,
        "gpu": gpu_name,
        "compute_capability": compute_capability,
        "onnx_sha256": onnx_sha256,
        "model": model_metadata,
        "build": build,
    }


def write_engine(path: str | Path, engine: bytes, header: dict[str, Any]) -> None:
    """Write header + engine atomically: a failed write leaves no partial file under ``path``.

    The stored header gains ``engine_bytes`` (the engine's size), so a truncated file is detected.
    """
    blob = json.dumps({**header, "engine_bytes": len(engine)}, sort_keys=True).encode("utf-8")
    if len(blob) >= 1 << 32:
        raise ValueError(f"engine header is {len(blob)} bytes; it must fit in a uint32 length")
    remove_stale_temps(Path(path).parent, Path(path).name)  # left beside it by a killed build
    atomic_write_bytes(path, MAGIC + _LEN.pack(len(blob)) + blob + bytes(engine))


def _rebuild(path: Path) -> str:
    return f"Rebuild it from its ONNX file with `{_BUILD_HINT.format(path=path)}`."


def _read_prefix(f, path: Path) -> int:
    prefix = f.read(_PREFIX)
    if not prefix:
        raise EngineFileError(f"{path} is empty. " + _rebuild(path))
    if prefix[: len(MAGIC)] != MAGIC[: len(prefix)]:
        raise EngineFileError(
            f"{path} is not an mtl-edge engine file (no {MAGIC.decode()} header). A raw TensorRT engine "
            "(e.g. from trtexec) lacks the metadata mtl-edge needs to decode its outputs. " + _rebuild(path)
        )
    if len(prefix) < _PREFIX:
        raise EngineFileError(f"{path} is truncated: it ends inside the header. " + _rebuild(path))
    return _LEN.unpack(prefix[len(MAGIC) :])[0]


def _parse_header(blob: bytes, path: Path) -> dict[str, Any]:
    try:
        header = json.loads(blob.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EngineFileError(f"{path} has a corrupt JSON header ({e}). " + _rebuild(path)) from e
    if not isinstance(header, dict):
        raise EngineFileError(f"{path} has a header that is not a JSON object. " + _rebuild(path))
    fmt = header.get("format")
    if not isinstance(fmt, int) or fmt > FORMAT:
        raise EngineFileError(
            f"{path} has engine-file format {fmt!r}; this mtl-edge reads format {FORMAT}. "
            "Upgrade mtl-edge, or rebuild the engine with this version: " + _BUILD_HINT.format(path=path)
        )
    return header


def read_engine_header(path: str | Path) -> tuple[dict[str, Any], int]:
    """The header and the byte offset where the engine starts; reads only the header."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            n = _read_prefix(f, path)
            blob = f.read(n)
    except FileNotFoundError:
        raise EngineFileError(
            f"engine file {path} does not exist. Build it with `{_BUILD_HINT.format(path=path)}`."
        ) from None
    if len(blob) < n:
        raise EngineFileError(
            f"{path} is truncated: its header says {n} bytes but only {len(blob)} follow. " + _rebuild(path)
        )
    return _parse_header(blob, path), _PREFIX + n


def read_engine(path: str | Path) -> tuple[dict[str, Any], bytes]:
    """The header and the serialized TensorRT engine bytes."""
    header, offset = read_engine_header(path)
    with open(path, "rb") as f:
        f.seek(offset)
        engine = f.read()
    if not engine:
        raise EngineFileError(f"{path} is truncated: it has a header but no engine. " + _rebuild(Path(path)))
    size = header.get("engine_bytes")
    if isinstance(size, int) and size != len(engine):
        raise EngineFileError(
            f"{path} is truncated or damaged: the engine is {len(engine)} bytes, the header says {size}. "
            + _rebuild(Path(path))
        )
    return header, engine


def _describe(side: dict[str, str]) -> str:
    return f"TensorRT {side['tensorrt_version']} on {side['gpu']} (compute capability {side['compute_capability']})"


def check_engine_header(
    header: dict[str, Any],
    trt_version: str,
    gpu_name: str,
    compute_capability: str,
    rebuild_hint: str,
    *,
    path: str | Path | None = None,
) -> None:
    """Raise EngineMismatchError unless the engine was built by this TensorRT version for this GPU.

    TensorRT engines are tied to the exact TensorRT version (any difference counts) and the
    GPU's compute capability; another GPU model of the same compute capability is not
    guaranteed to run it either, so a different GPU name is refused too, and the message
    says which of the three differ.
    """
    built = {
        "tensorrt_version": str(header.get("tensorrt_version", "?")),
        "gpu": str(header.get("gpu", "?")),
        "compute_capability": str(header.get("compute_capability", "?")),
    }
    here = {"tensorrt_version": trt_version, "gpu": gpu_name, "compute_capability": compute_capability}
    labels = {
        "tensorrt_version": "TensorRT version (engines run only on the TensorRT version that built them)",
        "compute_capability": "compute capability (engines run only on the GPU architecture they were built for)",
        "gpu": "GPU model (an engine built on another GPU model is not guaranteed to run or be fast here)",
    }
    mismatches = [k for k in ("tensorrt_version", "compute_capability", "gpu") if built[k] != here[k]]
    if not mismatches:
        return
    what = str(path) if path is not None else "the engine"
    message = (
        f"{what} was built for {_describe(built)}, but this machine has {_describe(here)}. "
        f"Different: {'; '.join(labels[k] for k in mismatches)}. "
        f"Rebuild the engine on this machine: {rebuild_hint or _BUILD_HINT.format(path=path or 'model.engine')}"
    )
    raise EngineMismatchError(message, mismatches, built, here)


__all__ = [
    "MAGIC",
    "EngineFileError",
    "EngineMismatchError",
    "engine_header",
    "write_engine",
    "read_engine_header",
    "read_engine",
    "check_engine_header",
]
