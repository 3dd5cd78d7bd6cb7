"""Temporally coherent clips: the ego car drives forward, traffic moves, signs pass by."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from .scene import sample_props, sample_scene, sample_signs, sample_vehicle

#: Vehicles are dropped this close behind the camera's clip plane, or this far ahead (m).
DESPAWN_BEHIND, DESPAWN_AHEAD = 4.0, 190.0


@dataclass
class ClipState:
    """Motion that persists across frames."""

    speed: float  # ego speed, m/s
    t: float = 0.0
    pitch0: float = 0.0
    roll0: float = 0.0
    phase: float = 0.0
    next_id: int = 1


class ClipSimulator:
    """Steps one sampled scene forward in time; ``frames()`` yields a Scene per frame."""

    def __init__(self, seed: int, n_frames: int, fps: float = 30.0, width: int = 1280, height: int = 720):
        self.rng = np.random.default_rng([seed, 1])
        speed = float(self.rng.uniform(14, 30))
        self.scene = sample_scene(seed, width, height, road_length=speed * n_frames / fps + 200)
        self.n_frames, self.dt = n_frames, 1.0 / fps
        self.state = ClipState(
            speed=speed,
            pitch0=self.scene.camera.pitch,
            roll0=self.scene.camera.roll,
            phase=float(self.rng.uniform(0, 2 * np.pi)),
            next_id=1 + len(self.scene.vehicles) + 1000,
        )
        for v in self.scene.vehicles:
            v.speed = speed + float(self.rng.uniform(-5, 4))
            if abs(v.offset - self.scene.ego_offset) < 1.5:  # never drive into the car ahead
                v.speed = max(v.speed, speed + 0.5)

    def frames(self):
        """Yield (index, Scene) for every frame; the yielded scene is a snapshot."""
        for i in range(self.n_frames):
            yield i, copy.deepcopy(self.scene)
            self._step()

    def _step(self) -> None:
        sc, st, rng = self.scene, self.state, self.rng
        st.t += self.dt
        sc.ego_s += st.speed * self.dt
        # Body motion: slow pitch/roll sway plus a little road vibration.
        pitch = st.pitch0 + 0.006 * np.sin(2 * np.pi * 0.9 * st.t + st.phase) + float(rng.normal(0, 0.0008))
        roll = st.roll0 + 0.004 * np.sin(2 * np.pi * 0.6 * st.t + 2 * st.phase) + float(rng.normal(0, 0.0005))
        sc.camera = type(sc.camera)(**{**sc.camera.__dict__, "pitch": pitch, "roll": roll})
        sc.ego_yaw = 0.01 * np.sin(2 * np.pi * 0.2 * st.t + st.phase)
        for v in sc.vehicles:
            v.s += v.speed * self.dt
        sc.vehicles = [v for v in sc.vehicles if DESPAWN_BEHIND < v.s - sc.ego_s < DESPAWN_AHEAD]
        if rng.random() < 0.6 * self.dt:  # a new vehicle appears far ahead about every 2 s
            lane = int(rng.integers(sc.road.n_lanes))
            s = sc.ego_s + float(rng.uniform(140, 170))
            if all(abs(v.s - s) > 15 or abs(v.offset - sc.road.lane_centre(lane)) > 1.5 for v in sc.vehicles):
                v = sample_vehicle(rng, s, sc.road.lane_centre(lane) + float(rng.uniform(-0.3, 0.3)), st.next_id)
                v.speed = st.speed + float(rng.uniform(-6, 2))
                if abs(v.offset - sc.ego_offset) < 1.5:
                    v.speed = max(v.speed, st.speed + 0.5)
                sc.vehicles.append(v)
                st.next_id += 1
        sc.signs = [s for s in sc.signs if s.s - sc.ego_s > 1.0]
        if rng.random() < st.speed * self.dt / 45.0:  # about one sign every 45 m of road
            sc.signs += sample_signs(rng, sc.road, sc.ego_s + 90, sc.ego_s + 100, 1, first_id=st.next_id)
            st.next_id += 1
        sc.props = [p for p in sc.props if p.s - sc.ego_s > 1.0]
        if rng.random() < st.speed * self.dt / 25.0:
            sc.props += sample_props(rng, sc.road, sc.ego_s + 180, sc.ego_s + 200, 1)
