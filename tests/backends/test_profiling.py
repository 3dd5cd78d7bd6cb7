"""What backends' profilers share: owner groups and the Profile record."""

from __future__ import annotations

from mtl_edge.backends.profiling import Profile, group_of


def test_owner_groups():
    assert group_of("backbone") == group_of("neck") == "trunk" and group_of("heads.signs") == "signs"
    assert group_of("preprocess") == "preprocess"


def test_profile_summarises_its_calls():
    prof = Profile("m.onnx", "ort", 4, {"trunk": 1.0}, {"letterbox": 0.5}, [1.0, 2.0, 3.0, 10.0])
    d = prof.as_dict()
    assert d["call_mean"] == 4.0 and d["call_p50"] == 2.5 and d["call_p99"] > 9.0
