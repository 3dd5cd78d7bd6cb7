"""The ONNX Runtime backend's session: threads that sleep when idle in the loop, spin when asked."""

from __future__ import annotations

import pytest

from mtl_edge.backends.ort import OrtBackend, session_options

SPIN = "session.intra_op.allow_spinning"


def test_loop_backend_threads_sleep_when_idle(tiny_onnx):
    with OrtBackend(tiny_onnx, threads=2) as backend:
        assert backend.session.get_session_options().get_session_config_entry(SPIN) == "0"
        assert backend.session.get_session_options().intra_op_num_threads == 2


def test_session_options_spin_unless_told_not_to():
    with pytest.raises(RuntimeError, match="does not have configuration"):
        session_options(2).get_session_config_entry(SPIN)  # left at ONNX Runtime's default: spin
    assert session_options(2, spin=False).get_session_config_entry(SPIN) == "0"
