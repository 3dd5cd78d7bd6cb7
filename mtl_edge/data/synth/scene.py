"""What a scene holds (road, ego pose, vehicles, signs, weather) and how one is drawn
at random from a seed. Rendering lives in render.py; this module only decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..labels import SIGN_CLASSES, VEHICLE_CLASSES
from .camera import Camera
from .road import MarkingLine, Road

WHITE_PAINT = (232, 232, 226)
YELLOW_PAINT = (226, 178, 36)

#: (length, width, height) ranges in metres per vehicle class.
VEHICLE_SIZES: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "car": ((4.0, 4.9), (1.72, 1.92), (1.38, 1.62)),
    "truck": ((7.0, 10.0), (2.4, 2.55), (3.2, 3.9)),
    "bus": ((10.5, 13.0), (2.5, 2.55), (3.0, 3.3)),
    "motorcycle": ((2.0, 2.2), (0.7, 0.85), (1.45, 1.6)),
}
VEHICLE_WEIGHTS = {"car": 0.46, "truck": 0.2, "bus": 0.16, "motorcycle": 0.18}
BODY_COLOURS: dict[str, list[tuple[int, int, int]]] = {
    "car": [
        (235, 235, 235),
        (30, 30, 34),
        (160, 163, 168),
        (170, 25, 30),
        (30, 60, 140),
        (90, 92, 96),
        (35, 80, 50),
        (200, 185, 150),
        (220, 120, 20),
        (95, 20, 35),
    ],
    "truck": [(236, 236, 232), (200, 200, 196), (150, 40, 35), (40, 80, 150), (210, 170, 40)],
    "bus": [(230, 180, 20), (236, 236, 236), (190, 30, 35), (20, 110, 120), (40, 90, 170)],
    "motorcycle": [(25, 25, 28), (170, 20, 25), (30, 50, 130), (200, 200, 200), (40, 40, 40)],
}
TIMES_OF_DAY = ("day", "dusk", "night")


@dataclass
class Vehicle:
    """A vehicle driving away from the camera, its rear at arc ``s``, centred on ``offset``."""

    cls: str
    s: float
    offset: float
    length: float
    width: float
    height: float
    colour: tuple[int, int, int]
    speed: float = 0.0
    id: int = 0


@dataclass
class Sign:
    """A sign on a roadside pole, its face centre ``height`` above the road."""

    cls: str
    s: float
    offset: float
    height: float
    size: float
    yaw: float = 0.0
    id: int = 0


@dataclass
class Prop:
    """Unlabelled roadside clutter: "tree", "pole" (no sign), "board" (a blank sign back) or "building"."""

    kind: str
    s: float
    offset: float
    size: float
    colour: tuple[int, int, int]


@dataclass
class Conditions:
    """Lighting and weather; BDD100K frame attributes follow from it."""

    time: str = "day"
    fog_visibility: float | None = None  # metres at which contrast falls to 1/e
    rain: float = 0.0  # 0 none .. 1 heavy
    noise_sigma: float = 2.0  # sensor noise, 8-bit levels
    blur_sigma: float = 0.0
    exposure: float = 1.0

    def attributes(self) -> dict[str, str]:
        weather = "foggy" if self.fog_visibility else ("rainy" if self.rain > 0 else "clear")
        timeofday = {"day": "daytime", "dusk": "dawn/dusk", "night": "night"}[self.time]
        return {"weather": weather, "scene": "highway", "timeofday": timeofday}


@dataclass
class Palette:
    """Base colours of the static scene (RGB)."""

    sky_top: tuple[int, int, int]
    sky_horizon: tuple[int, int, int]
    grass: tuple[int, int, int]
    asphalt: tuple[int, int, int]
    paint_wear: float = 1.0


@dataclass
class Scene:
    """Everything needed to render one frame deterministically."""

    camera: Camera
    road: Road
    ego_s: float
    ego_offset: float
    ego_yaw: float
    vehicles: list[Vehicle] = field(default_factory=list)
    signs: list[Sign] = field(default_factory=list)
    props: list[Prop] = field(default_factory=list)
    conditions: Conditions = field(default_factory=Conditions)
    palette: Palette | None = None
    render_seed: int = 0


def sample_road(rng: np.random.Generator, length: float) -> Road:
    """A road with 2-6 lane lines and a curvature profile covering ``length`` metres."""
    n_lines = int(rng.integers(2, 7))
    lane_w = float(rng.uniform(3.3, 3.8))
    lines = []
    for i in range(n_lines):
        off = i * lane_w
        phase = float(rng.uniform(0, 12))
        if i == 0:
            kind = rng.choice(["single yellow", "single white", "double yellow"], p=[0.4, 0.3, 0.3])
            style = "dashed" if kind == "single yellow" and n_lines == 2 and rng.random() < 0.4 else "solid"
        elif i == n_lines - 1:
            kind, style = "single white", "solid"
        else:
            kind = rng.choice(["single white", "single yellow", "double white"], p=[0.82, 0.08, 0.1])
            style = "solid" if kind == "double white" or rng.random() < 0.12 else "dashed"
        colour = YELLOW_PAINT if "yellow" in kind else WHITE_PAINT
        width = float(rng.uniform(0.12, 0.2))
        lines.append(
            MarkingLine(
                offset=off,
                lane_type=str(kind),
                style=style,
                color=colour,
                width=width,
                dash=float(rng.uniform(2.5, 4.0)),
                gap=float(rng.uniform(6.0, 10.0)),
                phase=phase,
            )
        )
    knots = np.arange(-60.0, length + 300.0, float(rng.uniform(35, 80)))
    if rng.random() < 0.35:
        curv = rng.normal(0, 1 / 3000, size=len(knots))
    else:
        curv = rng.uniform(1 / 900, 1 / 220, size=len(knots)) * rng.choice([-1, 1], size=len(knots))
        curv *= rng.random(len(knots)) < 0.8  # some straight stretches between bends
    return Road(
        knots_s=knots, knots_curvature=curv, lane_width=lane_w, lines=lines, shoulder=float(rng.uniform(0.6, 2.2))
    )


def sample_conditions(rng: np.random.Generator) -> Conditions:
    time = str(rng.choice(TIMES_OF_DAY, p=[0.5, 0.2, 0.3]))
    fog = float(rng.uniform(35, 130)) if rng.random() < 0.2 else None
    rain = float(rng.uniform(0.3, 1.0)) if rng.random() < 0.2 else 0.0
    noise = float(rng.uniform(1.0, 4.0) if time == "day" else rng.uniform(3.0, 8.0))
    blur = float(rng.uniform(0.0, 1.3)) if rng.random() < 0.5 else 0.0
    return Conditions(
        time=time,
        fog_visibility=fog,
        rain=rain,
        noise_sigma=noise,
        blur_sigma=blur,
        exposure=float(rng.uniform(0.85, 1.15)),
    )


def sample_palette(rng: np.random.Generator, time: str) -> Palette:
    jitter = lambda c, a: tuple(int(np.clip(v + rng.uniform(-a, a), 0, 255)) for v in c)  # noqa: E731
    if time == "day":
        top, hor = jitter((70, 130, 200), 25), jitter((190, 210, 228), 15)
    elif time == "dusk":
        top, hor = jitter((60, 60, 120), 20), jitter((240, 150, 90), 25)
    else:
        top, hor = jitter((6, 8, 18), 4), jitter((22, 24, 40), 6)
    grass = jitter(rng.choice([(86, 120, 60), (120, 125, 70), (140, 120, 80), (70, 100, 55)]), 12)
    grey = int(rng.uniform(70, 125))
    return Palette(
        sky_top=top,
        sky_horizon=hor,
        grass=grass,
        asphalt=(grey, grey, grey + 3),
        paint_wear=float(rng.uniform(0.75, 1.0)),
    )


def sample_vehicle(rng: np.random.Generator, s: float, offset: float, vid: int) -> Vehicle:
    cls = str(rng.choice(VEHICLE_CLASSES, p=[VEHICLE_WEIGHTS[c] for c in VEHICLE_CLASSES]))
    (l0, l1), (w0, w1), (h0, h1) = VEHICLE_SIZES[cls]
    colours = BODY_COLOURS[cls]
    return Vehicle(
        cls=cls,
        s=s,
        offset=offset,
        length=float(rng.uniform(l0, l1)),
        width=float(rng.uniform(w0, w1)),
        height=float(rng.uniform(h0, h1)),
        colour=colours[int(rng.integers(len(colours)))],
        speed=float(rng.uniform(-4, 4)),
        id=vid,
    )


def sample_traffic(
    rng: np.random.Generator,
    road: Road,
    ego_s: float,
    ego_lane: int,
    near: float = 7.0,
    far: float = 135.0,
    first_id: int = 1,
) -> list[Vehicle]:
    """Vehicles in every lane, bumper gaps of at least 3 m, nearer in busier scenes."""
    density = float(rng.uniform(0.15, 1.0))
    vehicles: list[Vehicle] = []
    for lane in range(road.n_lanes):
        s = ego_s + (near + 3.0 if lane == ego_lane else near * 0.5) + float(rng.exponential(25 / density))
        while s < ego_s + far:
            v = sample_vehicle(rng, s, road.lane_centre(lane) + float(rng.uniform(-0.3, 0.3)), first_id + len(vehicles))
            vehicles.append(v)
            s += v.length + 3.0 + float(rng.exponential(30 / density))
    return vehicles


def sample_signs(
    rng: np.random.Generator, road: Road, s_from: float, s_to: float, count: int, first_id: int = 1000
) -> list[Sign]:
    """``count`` signs beside the road between arcs ``s_from`` and ``s_to``, at least 6 m apart."""
    slots = np.sort(rng.uniform(s_from, s_to, size=count * 3))
    chosen: list[float] = []
    for s in slots:
        if len(chosen) < count and all(abs(s - c) >= 6.0 for c in chosen):
            chosen.append(float(s))
    signs = []
    for i, s in enumerate(chosen):
        right = rng.random() < 0.75
        lateral = float(rng.uniform(0.8, 3.0))
        offset = road.right_edge + lateral if right else road.left_edge - lateral
        signs.append(
            Sign(
                cls=str(rng.choice(SIGN_CLASSES)),
                s=s,
                offset=offset,
                height=float(rng.uniform(1.9, 2.8)),
                size=float(rng.uniform(0.6, 0.9)),
                yaw=float(rng.uniform(-0.35, 0.35)),
                id=first_id + i,
            )
        )
    return signs


def sample_props(rng: np.random.Generator, road: Road, s_from: float, s_to: float, count: int) -> list[Prop]:
    props = []
    for _ in range(count):
        kind = str(rng.choice(["tree", "tree", "pole", "board", "building"]))
        side = 1 if rng.random() < 0.5 else -1
        edge = road.right_edge if side > 0 else road.left_edge
        lateral = {
            "tree": rng.uniform(3, 20),
            "pole": rng.uniform(0.8, 3),
            "board": rng.uniform(1, 3),
            "building": rng.uniform(15, 50),
        }[kind]
        size = {
            "tree": rng.uniform(2, 5),
            "pole": rng.uniform(2.5, 6),
            "board": rng.uniform(0.6, 1.2),
            "building": rng.uniform(6, 20),
        }[kind]
        colour = tuple(int(c) for c in rng.integers(40, 200, size=3))
        props.append(
            Prop(
                kind=kind,
                s=float(rng.uniform(s_from, s_to)),
                offset=float(edge + side * lateral),
                size=float(size),
                colour=colour,
            )
        )  # type: ignore[arg-type]
    return props


def sample_camera(rng: np.random.Generator, width: int, height: int) -> Camera:
    return Camera.for_size(
        width,
        height,
        mount_height=float(rng.uniform(1.25, 1.55)),
        pitch=float(rng.uniform(0.02, 0.07)),
        roll=float(rng.normal(0, 0.015)),
        horizon_offset=float(rng.uniform(-0.03, 0.03) * height),
    )


def sample_scene(seed: int, width: int = 1280, height: int = 720, road_length: float = 0.0) -> Scene:
    """Draw a random scene from ``seed``; the same seed always gives the same scene."""
    rng = np.random.default_rng(seed)
    road = sample_road(rng, road_length)
    ego_lane = int(rng.integers(road.n_lanes))
    conditions = sample_conditions(rng)
    signs = sample_signs(rng, road, 8.0, 95.0, int(rng.choice([0, 1, 2, 3, 4], p=[0.08, 0.27, 0.3, 0.23, 0.12])))
    return Scene(
        camera=sample_camera(rng, width, height),
        road=road,
        ego_s=0.0,
        ego_offset=road.lane_centre(ego_lane) + float(rng.uniform(-0.35, 0.35)),
        ego_yaw=float(rng.normal(0, 0.012)),
        vehicles=sample_traffic(rng, road, 0.0, ego_lane),
        signs=signs,
        props=sample_props(rng, road, 5.0, 200.0, int(rng.integers(2, 12))),
        conditions=conditions,
        palette=sample_palette(rng, conditions.time),
        render_seed=int(rng.integers(2**31)),
    )
