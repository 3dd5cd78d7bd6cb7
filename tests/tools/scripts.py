"""Running a tools/ script as a user would: a fresh interpreter, the checkout on the path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python tools/<name> ARGS`` from the checkout; its completed process (stdout and stderr as text)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, str(ROOT / "tools" / name), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
