"""The doctor's environment probe: which of TensorRT, CUDA, cuda-python, GPU and DLA cores are usable here."""

from __future__ import annotations

import platform
from typing import Any

from mtl_edge.doctor.common import error_text
from mtl_edge.version import __version__


def _ok(value: Any) -> dict[str, Any]:
    return {"status": "ok", "value": value}


def _missing(reason: str) -> dict[str, Any]:
    return {"status": "missing", "reason": reason}


def _package_version(*names: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    for name in names:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return None


def _cuda_version(number: int) -> str:
    """CUDA's integer versions (12060) as text ("12.6")."""
    return f"{number // 1000}.{(number % 1000) // 10}"


def cuda_mismatch(runtime: str, driver: str) -> str | None:
    """Why cuda-python cannot work with this driver (its CUDA runtime is of a newer major), or None."""
    from mtl_edge.backends.trt.cuda import CUDA_PYTHON_PIN

    rt_major, drv_major = int(runtime.split(".")[0]), int(driver.split(".")[0])
    if rt_major <= drv_major:
        return None
    return (
        f"cuda-python links its own CUDA {runtime} runtime, but this driver supports CUDA {driver}: a CUDA "
        f"{rt_major} runtime needs a CUDA {rt_major} driver. Install the cuda-python of the driver's major "
        f"(`pip install 'cuda-python>={drv_major},<{drv_major + 1}'`; on JetPack 6, `pip install '{CUDA_PYTHON_PIN}'`)."
    )


def environment() -> dict[str, dict[str, Any]]:
    """Each component the TensorRT path needs: ``status`` "ok" with its ``value``, or "missing" with the ``reason``."""
    from mtl_edge.backends.trt.cuda import gpu_identity, tensorrt_available, tensorrt_major
    from mtl_edge.backends.trt.cuda import load_cudart as _cudart

    env: dict[str, dict[str, Any]] = {
        "python": _ok(platform.python_version()),
        "platform": _ok(f"{platform.system()} {platform.machine()}"),
        "mtl_edge": _ok(__version__),
    }
    ort_version = _package_version("onnxruntime", "onnxruntime-gpu")
    env["onnxruntime"] = _ok(ort_version) if ort_version else _missing("onnxruntime is not installed")
    have_trt, trt_status = tensorrt_available()
    env["tensorrt"] = _ok(trt_status.removeprefix("TensorRT ")) if have_trt else _missing(trt_status)
    if have_trt and tensorrt_major(env["tensorrt"]["value"]) < 10:
        have_trt = False
        env["tensorrt"] = _missing(
            f"{trt_status} is too old: mtl-edge builds strongly typed networks, which need TensorRT 10 or 11. "
            "Upgrade TensorRT (JetPack 6 on Jetson; `pip install -U tensorrt` elsewhere)."
        )
    try:
        cudart = _cudart()
    except RuntimeError as e:
        for key in ("cuda_python", "cuda_runtime", "cuda_driver", "gpu", "compute_capability"):
            env[key] = _missing(str(e))
    else:
        env["cuda_python"] = _ok(_package_version("cuda-python", "cuda-bindings") or "installed")
        for key, call in (("cuda_runtime", "cudaRuntimeGetVersion"), ("cuda_driver", "cudaDriverGetVersion")):
            try:
                err, number = getattr(cudart, call)()
                if err != cudart.cudaError_t.cudaSuccess:
                    env[key] = _missing(f"{call} failed ({err})")
                elif not number:  # the call succeeds and reports 0 when no driver is loaded
                    env[key] = _missing("no NVIDIA driver is loaded (check `nvidia-smi`; on Jetson, JetPack)")
                else:
                    env[key] = _ok(_cuda_version(int(number)))
            except Exception as e:  # noqa: BLE001  (a broken CUDA install fails in many ways)
                env[key] = _missing(f"{call} failed: {error_text(e)}")
        if env["cuda_runtime"]["status"] == env["cuda_driver"]["status"] == "ok":
            mismatch = cuda_mismatch(env["cuda_runtime"]["value"], env["cuda_driver"]["value"])
            if mismatch:
                env["cuda_python"] = _missing(mismatch)
        try:
            name, cc = gpu_identity()
            env["gpu"], env["compute_capability"] = _ok(name), _ok(cc)
        except RuntimeError as e:
            env["gpu"] = env["compute_capability"] = _missing(str(e))
    env["dla_cores"] = _dla_cores(have_trt, env["tensorrt"].get("reason", ""))
    return env


def _dla_cores(have_trt: bool, why_not: str) -> dict[str, Any]:
    if not have_trt:
        return _missing(f"needs TensorRT ({first_sentence(why_not)})")
    try:
        import tensorrt as trt

        from mtl_edge.backends.trt.cuda import trt_logger

        return _ok(int(trt.Runtime(trt_logger()).num_DLA_cores))
    except Exception as e:  # noqa: BLE001
        return _missing(f"TensorRT could not report DLA cores: {error_text(e)}")


def first_sentence(text: str) -> str:
    """The first sentence of a missing component's reason (for one-line summaries)."""
    return text.split(". ", 1)[0].rstrip(".")


def tensorrt_ready(env: dict[str, dict[str, Any]]) -> tuple[bool, str]:
    """Whether engines can be built here; if not, why (the first sentence of each missing component's reason)."""
    needed = ("tensorrt", "cuda_python", "gpu")
    reasons = [f"{key}: {first_sentence(env[key]['reason'])}" for key in needed if env[key]["status"] != "ok"]
    if not reasons:
        return True, ""
    return False, "; ".join(reasons) + " (the report's environment section says how to fix each)"
