"""Build a TensorRT engine from an exported ONNX file, on the machine that will run it.

What is verified where: TensorRT cannot be installed on the machines this project is
developed and tested on (no NVIDIA GPU; its PyPI packages download from a host they cannot
reach). This module therefore follows NVIDIA's documented Python API for TensorRT 10.x
and 11.x exactly, its TensorRT tests skip with that reason, and it has not been run
against a real TensorRT here. What the engine consumes is verified: the ONNX graph, its
precision (FP16 / INT8 Q/DQ live in the graph, so both versions build it as a strongly
typed network) and its I/O contract run on ONNX Runtime, and ``compat.check`` keeps the
graph inside the operator set both TensorRT versions parse. The engine-file format and
its version/GPU checks (:mod:`~mtl_edge.backends.trt.engine_file`) are pure Python and fully tested, and so is the
refusal of a DLA build of an fp32 graph (``check_dla_precision``, run before TensorRT is
imported).

API read for this module: the TensorRT 10.x Python API reference (``Builder``,
``IBuilderConfig``, ``OnnxParser``, ``Runtime.DLA_core``; C++ reference 10.14), NVIDIA's
"Working with DLA" and "Strongly Typed Networks" pages, and the TensorRT 10.x -> 11.x
migration guide (11.0-11.4: strong typing always on, weak-typing flags removed, DLA back
on Jetson AGX Orin in 11.4.1).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtl_edge.backends.trt.cuda import (
    EngineBuildError,
    TensorRTUnavailableError,
    gpu_identity,
    import_tensorrt,
    tensorrt_major,
    trt_logger,
)
from mtl_edge.backends.trt.engine_file import engine_header, write_engine
from mtl_edge.fileio import atomic_write_bytes

#: Upper end of the batch range for a dynamic-batch ONNX when ``max_batch`` is not given.
DEFAULT_MAX_BATCH = 8
#: TensorRT's builder optimization levels (3 is its default).
OPT_LEVELS = range(0, 6)


@dataclass
class EngineBuildReport:
    """What a build produced."""

    engine_path: Path
    tensorrt_version: str
    gpu: str
    compute_capability: str
    seconds: float
    size_bytes: int
    timing_cache: Path | None
    dla_core: int | None
    #: layers of the parsed TensorRT network (before TensorRT fuses them)
    layers: int | None

    def summary(self) -> str:
        where = f"DLA core {self.dla_core} + GPU fallback" if self.dla_core is not None else "GPU"
        return (
            f"{self.engine_path}: {self.size_bytes / 1e6:.1f} MB, TensorRT {self.tensorrt_version} on "
            f"{self.gpu} (sm {self.compute_capability}, {where}), built in {self.seconds:.1f} s"
        )


def _network_flags(trt: Any) -> int:
    """``create_network`` flags for a strongly typed network on TensorRT 10.x and 11.x.

    10.x: strong typing is opt-in with ``NetworkDefinitionCreationFlag.STRONGLY_TYPED``
    (``EXPLICIT_BATCH`` is deprecated and ignored there, so it is not set). 11.x: networks are
    always strongly typed, ``STRONGLY_TYPED`` is deprecated and ignored, ``EXPLICIT_BATCH`` is
    gone, so no flag is passed.
    """
    if tensorrt_major(trt.__version__) >= 11:
        return 0
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    if flag is None:
        raise TensorRTUnavailableError(
            f"TensorRT {trt.__version__} has no strongly typed networks; upgrade to TensorRT 10 or 11 "
            "(JetPack 6 on Jetson; `pip install -U tensorrt` elsewhere)."
        )
    return 1 << int(flag)


def _validate(workspace_gb: float | None, dla_core: int | None, opt_level: int, max_batch: int | None) -> None:
    if workspace_gb is not None and not workspace_gb > 0:
        raise ValueError(f"workspace_gb must be > 0 (got {workspace_gb}); leave it unset for TensorRT's default")
    if dla_core is not None and dla_core < 0:
        raise ValueError(f"dla_core must be >= 0 (got {dla_core}); leave it unset to build for the GPU")
    if opt_level not in OPT_LEVELS:
        raise ValueError(f"opt_level must be 0..5 (got {opt_level}); 3 is TensorRT's default")
    if max_batch is not None and max_batch < 1:
        raise ValueError(f"max_batch must be >= 1 (got {max_batch})")


def check_dla_precision(precision: str | None, dla_core: int | None) -> None:
    """Refuse a DLA build of an fp32 graph: it would put nothing on the DLA.

    mtl-edge graphs build as strongly typed networks, whose layer precisions are the ONNX
    tensor types; DLA runs FP16 and INT8 layers only (NVIDIA "Working with DLA" and
    "Strongly Typed Networks", TensorRT 10.x), so every layer of an fp32 graph would fall back
    to the GPU. Pure Python: it runs before TensorRT is imported.
    """
    if dla_core is None or precision != "fp32":
        return
    raise ValueError(
        f"--dla-core {dla_core} with an fp32 model: TensorRT builds mtl-edge graphs as strongly typed networks, "
        "and a strongly typed fp32 network puts nothing on the DLA (DLA runs FP16 and INT8 layers only), so the "
        "whole engine would run on the GPU. Export fp16 or int8 for DLA (`mtl-edge export CKPT --out MODEL.onnx "
        "--precision fp16`, or `--precision int8 --calib DIR`) and build that, or leave out --dla-core to build "
        "for the GPU."
    )


def _parser_error(err: Any) -> str:
    name = err.node_name() if hasattr(err, "node_name") else ""
    op = err.node_operator() if hasattr(err, "node_operator") else ""
    where = name or (f"node #{err.node()}" if err.node() >= 0 else "graph")
    return f"{where}{f' ({op})' if op else ''}: {err.desc()}"


def _parse(trt: Any, builder: Any, onnx_path: Path, logger: Any) -> tuple[Any, Any]:
    """The strongly typed network and its parser (which must outlive the build: it owns the weights)."""
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [_parser_error(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineBuildError(
            f"TensorRT {trt.__version__} could not parse {onnx_path}:\n  "
            + "\n  ".join(errors or ["(no parser errors reported; see the TensorRT log above)"])
            + "\nThe named nodes use something this TensorRT version does not support. Re-export with "
            "`mtl-edge export` (its TensorRT compatibility check names the fix), or upgrade TensorRT."
        )
    return network, parser


def _batch_profile(builder: Any, network: Any, max_batch: int | None) -> tuple[Any, dict[str, int]]:
    """An optimization profile (min 1, opt 1, max) when the batch dimension is dynamic, else None."""
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    dynamic = [t for t in inputs if any(d < 0 for d in tuple(t.shape))]
    if not dynamic:
        batch = int(tuple(inputs[0].shape)[0]) if inputs else 1
        if max_batch is not None and max_batch != batch:
            warnings.warn(
                f"max_batch={max_batch} ignored: the ONNX has a fixed batch of {batch}. "
                "Export with `--batch dynamic` for a batch range.",
                stacklevel=3,
            )
        return None, {"min": batch, "opt": batch, "max": batch}
    hi = max_batch or DEFAULT_MAX_BATCH
    profile = builder.create_optimization_profile()
    for t in dynamic:
        shape = tuple(int(d) for d in t.shape)
        if any(d < 0 for d in shape[1:]):
            raise EngineBuildError(
                f"input {t.name} has dynamic dimensions besides the batch: {shape}. "
                "Re-export with a fixed --imgsz (only the batch may be dynamic)."
            )
        profile.set_shape(t.name, (1, *shape[1:]), (1, *shape[1:]), (hi, *shape[1:]))
    return profile, {"min": 1, "opt": 1, "max": hi}


def _use_timing_cache(config: Any, path: Path | None) -> None:
    """Attach the timing cache at ``path`` (or a fresh one when it is missing or from another setup)."""
    data = path.read_bytes() if path is not None and path.is_file() else b""
    cache = config.create_timing_cache(data)
    if cache is None and data:
        warnings.warn(f"timing cache {path} is unreadable; starting a new one", stacklevel=3)
        cache = config.create_timing_cache(b"")
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        warnings.warn(
            f"timing cache {path} was made by another TensorRT version or GPU; starting a new one", stacklevel=3
        )
        config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)


def _use_dla(trt: Any, builder: Any, config: Any, dla_core: int) -> None:
    cores = builder.num_DLA_cores
    if cores == 0:
        raise EngineBuildError(
            f"DLA core {dla_core} was requested, but this device has no DLA. DLA exists only on some Jetson "
            "modules (e.g. AGX Orin), and TensorRT 11.0-11.3 has no DLA support. Leave out --dla-core to build "
            "for the GPU."
        )
    if not 0 <= dla_core < cores:
        raise EngineBuildError(
            f"DLA core {dla_core} does not exist: this device has {cores} DLA core(s), numbered 0..{cores - 1}."
        )
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = dla_core
    config.set_flag(trt.BuilderFlag.GPU_FALLBACK)  # layers DLA cannot run stay on the GPU


def _default_hint(onnx_path: Path, engine_path: Path, dla_core: int | None, max_batch: int | None) -> str:
    extra = (f" --dla-core {dla_core}" if dla_core is not None else "") + (
        " --batch dynamic" if max_batch is not None else ""
    )
    return f"mtl-edge export CHECKPOINT --out {onnx_path} --engine {engine_path}{extra}"


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    *,
    workspace_gb: float | None = None,
    timing_cache: str | Path | None = None,
    dla_core: int | None = None,
    opt_level: int = 3,
    max_batch: int | None = None,
    model_metadata: dict | None = None,
    rebuild_hint: str = "",
) -> EngineBuildReport:
    """Build ``onnx_path`` into an mtl-edge engine file at ``engine_path`` (written atomically).

    None means TensorRT's default (workspace: all GPU memory). ``timing_cache`` is loaded when
    the file exists and saved back after the build. ``dla_core`` targets a Jetson DLA core with
    GPU fallback. A dynamic batch gets the profile min 1, opt 1, max ``max_batch`` (default 8).
    ``model_metadata`` defaults to the ONNX's own mtl_edge metadata.
    """
    _validate(workspace_gb, dla_core, opt_level, max_batch)
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    cache_path = Path(timing_cache) if timing_cache is not None else None
    if not onnx_path.is_file():
        raise FileNotFoundError(f"ONNX file {onnx_path} does not exist; export it first with `mtl-edge export`")
    from mtl_edge.deploy.metadata import file_sha256, read_metadata

    metadata = model_metadata if model_metadata is not None else read_metadata(onnx_path)
    check_dla_precision(metadata.get("precision"), dla_core)  # before TensorRT: a wrong request costs nothing
    trt = import_tensorrt()
    onnx_sha = file_sha256(onnx_path)
    gpu, cc = gpu_identity()
    hint = rebuild_hint or _default_hint(onnx_path, engine_path, dla_core, max_batch)

    logger = trt_logger()
    logger.errors.clear()
    builder = trt.Builder(logger)
    network, parser = _parse(trt, builder, onnx_path, logger)
    config = builder.create_builder_config()
    if workspace_gb is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # layer names -> per-head timings
    config.builder_optimization_level = opt_level
    _use_timing_cache(config, cache_path)
    if dla_core is not None:
        _use_dla(trt, builder, config, dla_core)
    profile, batch = _batch_profile(builder, network, max_batch)
    if profile is not None:
        config.add_optimization_profile(profile)

    start = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - start
    if serialized is None:
        errors = "\n  ".join(logger.errors) or "(see the TensorRT log above)"
        raise EngineBuildError(
            f"TensorRT {trt.__version__} could not build {onnx_path} on {gpu}:\n  {errors}\n"
            "If it ran out of memory, free GPU memory or lower --workspace; if a layer has no implementation, "
            "re-export the model (or drop --dla-core)."
        )
    engine = bytes(memoryview(serialized))
    del parser  # kept alive until here: it owns the weights the builder reads
    if cache_path is not None:
        atomic_write_bytes(cache_path, bytes(memoryview(config.get_timing_cache().serialize())))

    build = {
        "workspace_gb": workspace_gb,
        "dla_core": dla_core,
        "gpu_fallback": dla_core is not None,
        "opt_level": opt_level,
        "precision": metadata.get("precision"),
        "batch": batch,
        "strongly_typed": True,
        "seconds": round(seconds, 2),
        "rebuild_command": hint,
    }
    write_engine(engine_path, engine, engine_header(trt.__version__, gpu, cc, onnx_sha, metadata, build))
    return EngineBuildReport(
        engine_path=engine_path,
        tensorrt_version=trt.__version__,
        gpu=gpu,
        compute_capability=cc,
        seconds=seconds,
        size_bytes=engine_path.stat().st_size,
        timing_cache=cache_path,
        dla_core=dla_core,
        layers=int(network.num_layers),
    )


__all__ = ["DEFAULT_MAX_BATCH", "EngineBuildReport", "build_engine", "check_dla_precision"]
