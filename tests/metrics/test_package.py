"""Tests for the mtl_edge.metrics package: its import stays light."""

from __future__ import annotations

import subprocess
import sys


def test_metrics_import_is_light() -> None:
    code = "import sys, mtl_edge.metrics; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
