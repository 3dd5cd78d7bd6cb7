"""Scene builders shared by the generator tests."""

from __future__ import annotations

import dataclasses

import pytest

from mtl_edge.data.synth.scene import Conditions, Scene, Vehicle, sample_scene


def clean(scene: Scene, **changes) -> Scene:
    """Daylight, no weather, no noise or blur: pixels show exactly what was drawn."""
    cond = Conditions(time="day", fog_visibility=None, rain=0.0, noise_sigma=0.0, blur_sigma=0.0, exposure=1.0)
    return dataclasses.replace(scene, conditions=cond, **changes)


def empty_road(seed: int) -> Scene:
    """A sampled road and camera with nothing on or beside it."""
    return clean(sample_scene(seed), vehicles=[], signs=[], props=[])


def vehicle(cls: str, s: float, offset: float, vid: int, colour=(200, 30, 30)) -> Vehicle:
    size = {"car": (4.5, 1.8, 1.5), "truck": (9.0, 2.5, 3.6), "bus": (12.0, 2.55, 3.2), "motorcycle": (2.1, 0.8, 1.5)}
    length, width, height = size[cls]
    return Vehicle(cls=cls, s=s, offset=offset, length=length, width=width, height=height, colour=colour, id=vid)


@pytest.fixture
def road_scene() -> Scene:
    return empty_road(7)
