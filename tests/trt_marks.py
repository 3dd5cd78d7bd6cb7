"""Whether TensorRT is here, and the one skip reason every TensorRT test gives when it is not."""

from __future__ import annotations

import pytest

from mtl_edge.backends.trt.cuda import tensorrt_available

HAVE_TRT, TRT_STATUS = tensorrt_available()
NO_TRT = (
    "TensorRT is not installed: it cannot be installed on machines without an NVIDIA GPU and NVIDIA's package "
    "host (README, 'What was verified without TensorRT')"
)
needs_trt = pytest.mark.skipif(not HAVE_TRT, reason=NO_TRT)
