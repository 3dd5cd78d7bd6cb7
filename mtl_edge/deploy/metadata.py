"""The model metadata contract: the JSON every exported model carries, readable without the onnx package.

An ONNX file keeps it in ``metadata_props["mtl_edge"]`` (written by
:func:`mtl_edge.export.onnx.finalize`); an engine file keeps the same dict in its header.
The reader walks the protobuf wire format of the file's top-level fields, so the deploy
path needs neither onnx nor torch to open a model.
"""

from __future__ import annotations

import hashlib
import json
import mmap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: What the protobuf walker reads: bytes, or a memory-mapped file.
Buffer = bytes | mmap.mmap

METADATA_KEY = "mtl_edge"
METADATA_SCHEMA = 1

#: ``ModelProto.metadata_props`` and ``StringStringEntryProto.key`` / ``.value`` field numbers (onnx.proto).
_METADATA_PROPS, _KEY, _VALUE = 14, 1, 2


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _varint(buf: Buffer, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end:
            raise ValueError("truncated protobuf (varint runs past the end)")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("malformed protobuf (varint longer than 10 bytes)")


def _fields(buf: Buffer, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(field number, start, end) of each length-delimited field of the message in ``buf[start:end]``."""
    pos = start
    while pos < end:
        tag, pos = _varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise ValueError("malformed protobuf (field number 0)")
        if wire == 0:
            _, pos = _varint(buf, pos, end)
        elif wire == 2:
            size, pos = _varint(buf, pos, end)
            if pos + size > end:
                raise ValueError("truncated protobuf (field runs past the end)")
            yield number, pos, pos + size
            pos += size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            if pos > end:
                raise ValueError("truncated protobuf (fixed-size field runs past the end)")
        else:
            raise ValueError(f"malformed protobuf (wire type {wire})")


def _metadata_props(buf: Buffer) -> dict[str, str]:
    """``metadata_props`` of a serialised ``ModelProto`` as a dict."""
    props: dict[str, str] = {}
    for number, start, end in _fields(buf, 0, len(buf)):
        if number == _METADATA_PROPS:
            entry = {n: bytes(buf[s:e]).decode("utf-8") for n, s, e in _fields(buf, start, end)}
            props[entry.get(_KEY, "")] = entry.get(_VALUE, "")
    return props


def _props_of_file(path: Path) -> dict[str, str]:
    """Walks the file through a read-only memory map: the weights it skips are never read."""
    with open(path, "rb") as f:
        if path.stat().st_size == 0:
            raise ValueError("empty file")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return _metadata_props(mapped)


def read_metadata(model: Any) -> dict[str, Any]:
    """The mtl-edge metadata of an ONNX model (a path, or an ``onnx.ModelProto``); a clear error if it has none."""
    if hasattr(model, "metadata_props"):
        props = {p.key: p.value for p in model.metadata_props}
        where = "model"
    else:
        props = _props_of_file(Path(model))
        where = str(model)
    if METADATA_KEY in props:
        return json.loads(props[METADATA_KEY])
    raise ValueError(
        f"{where}: no '{METADATA_KEY}' metadata; "
        "it was not exported by `mtl-edge export`. Re-export it from its checkpoint."
    )


def node_owner(name: str) -> str:
    """The owner prefix of an exported node name (``heads.signs``, ``backbone``, ...).

    Export names every node ``<owner>/<module path>/<OpType>_<n>``
    (:func:`mtl_edge.export.naming.name_nodes`); profilers group time by this prefix.
    """
    return name.split("/", 1)[0]
