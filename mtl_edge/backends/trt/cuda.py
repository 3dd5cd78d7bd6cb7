"""What the TensorRT builder, runner and inspector share: importing TensorRT and cuda-python,
the process-wide TensorRT logger, the current GPU's identity, and the errors and install
advice for a machine that lacks them.

Not run on the machines this project is developed on (no NVIDIA GPU, no TensorRT): it follows
NVIDIA's documented Python API for TensorRT 10.x and 11.x (``ILogger``, ``__version__``) and
cuda-python's ``cuda.bindings.runtime`` (``cudaGetDevice``, ``cudaGetDeviceProperties``,
``cudaGetErrorString``). TensorRT and cuda-python are imported only when a function needs them.
"""

from __future__ import annotations

import functools
import logging
from collections import deque
from typing import Any

#: cuda-python matching JetPack 6's CUDA 12 (cuda-bindings links its own CUDA runtime, so its major must match).
CUDA_PYTHON_PIN = "cuda-python>=12.6,<13"

INSTALL_HELP = (
    "Install it on the machine with the NVIDIA GPU that will run the engine. On a Jetson, use the TensorRT that "
    "JetPack installs (JetPack 6 ships TensorRT 10 for CUDA 12): create the virtual environment with "
    "`python3 -m venv --system-site-packages .venv` so that it sees JetPack's `tensorrt` module, then "
    f"`pip install mtl-edge '{CUDA_PYTHON_PIN}'`; do not `pip install tensorrt` (or the [trt] extra) there, since "
    "PyPI's TensorRT wheels are not built for JetPack. On an x86_64 machine with an NVIDIA GPU and driver, "
    "`pip install mtl-edge[trt]` installs TensorRT and cuda-python for CUDA 12 (`mtl-edge[trt-cu13]` for "
    "CUDA 13). Meanwhile the ONNX file runs "
    "as it is on ONNX Runtime, on any machine."
)

_log = logging.getLogger(__name__)
_LOGGER: Any = None


class EngineBuildError(RuntimeError):
    """TensorRT could not parse or build the model; the message says why and what to change."""


class TensorRTUnavailableError(EngineBuildError):
    """TensorRT, cuda-python or a usable NVIDIA GPU is missing on this machine."""


def tensorrt_available() -> tuple[bool, str]:
    """(True, "TensorRT <version>") or (False, why it cannot be imported and how to get it)."""
    try:
        import tensorrt as trt
    except Exception as e:  # noqa: BLE001  (ImportError, or a broken install failing to load libnvinfer)
        return False, f"TensorRT is not installed ({type(e).__name__}: {e}). {INSTALL_HELP}"
    return True, f"TensorRT {trt.__version__}"


def tensorrt_major(version: str) -> int:
    """The major version of a TensorRT version string ("10.3.0" -> 10)."""
    return int(version.split(".")[0])


def import_tensorrt() -> Any:
    try:
        import tensorrt as trt
    except Exception as e:  # noqa: BLE001
        raise TensorRTUnavailableError(f"TensorRT is not installed ({type(e).__name__}: {e}). {INSTALL_HELP}") from e
    if tensorrt_major(trt.__version__) < 10:
        raise TensorRTUnavailableError(
            f"TensorRT {trt.__version__} is too old: mtl-edge builds strongly typed networks, which need "
            "TensorRT 10 or 11. Upgrade TensorRT (JetPack 6 on Jetson; `pip install -U tensorrt` elsewhere)."
        )
    return trt


def trt_logger() -> Any:
    """The process-wide TensorRT logger: warnings and errors go to ``logging``; errors are kept for messages.

    One instance is shared, since TensorRT expects the same logger for every builder and runtime.
    """
    global _LOGGER
    if _LOGGER is None:
        trt = import_tensorrt()
        severity = trt.ILogger.Severity

        class _Logger(trt.ILogger):
            def __init__(self) -> None:
                trt.ILogger.__init__(self)
                self.errors: deque[str] = deque(maxlen=20)

            def log(self, sev: Any, msg: str) -> None:
                if sev in (severity.INTERNAL_ERROR, severity.ERROR):
                    self.errors.append(msg)
                    _log.error("TensorRT: %s", msg)
                elif sev == severity.WARNING:
                    _log.warning("TensorRT: %s", msg)

        _LOGGER = _Logger()
    return _LOGGER


@functools.cache
def load_cudart() -> Any:
    """cuda-python's runtime bindings, resolved once (the TensorRT backend calls this per frame)."""
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6, 13
    except ImportError:
        try:
            from cuda import cudart  # older cuda-python
        except ImportError as e:
            raise TensorRTUnavailableError(
                "cuda-python is not installed; mtl-edge reads the GPU name and compute capability and runs engines "
                "with it. Install it with `pip install cuda-python` for this machine's CUDA major version "
                f"(`pip install '{CUDA_PYTHON_PIN}'` for CUDA 12, as on JetPack 6), or `pip install mtl-edge[trt]`."
            ) from e
    return cudart


def cuda_check(cudart: Any, status: Any, call: str) -> None:
    if status != cudart.cudaError_t.cudaSuccess:
        _, text = cudart.cudaGetErrorString(status)
        text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
        raise TensorRTUnavailableError(
            f"{call} failed: {text}. TensorRT engines are built and run on an NVIDIA GPU with a working driver; "
            "check `nvidia-smi` (on Jetson: that JetPack is installed), or run the ONNX file on ONNX Runtime."
        )


def gpu_identity() -> tuple[str, str]:
    """(GPU name, compute capability "major.minor") of the current CUDA device, via cuda-python."""
    cudart = load_cudart()
    status, device = cudart.cudaGetDevice()
    cuda_check(cudart, status, "cudaGetDevice")
    status, props = cudart.cudaGetDeviceProperties(device)
    cuda_check(cudart, status, "cudaGetDeviceProperties")
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
    return name.rstrip("\x00").strip(), f"{props.major}.{props.minor}"


__all__ = [
    "CUDA_PYTHON_PIN",
    "INSTALL_HELP",
    "EngineBuildError",
    "TensorRTUnavailableError",
    "cuda_check",
    "gpu_identity",
    "import_tensorrt",
    "load_cudart",
    "tensorrt_available",
    "tensorrt_major",
    "trt_logger",
]
