"""In-memory label types shared by the generator, the file formats and the datasets.

Coordinates are in source-image pixels, x to the right and y down. Category and
attribute names follow the published BDD100K label schema, so real BDD100K frames and
generated ones are the same objects once loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Vehicle categories the vehicles head predicts, in class-index order (BDD100K names).
VEHICLE_CLASSES: tuple[str, ...] = ("car", "truck", "bus", "motorcycle")

#: Sign types the signs head predicts, in class-index order. BDD100K has a single
#: "traffic sign" category; the type travels in the label attribute ``signType``.
SIGN_CLASSES: tuple[str, ...] = (
    "stop",
    "yield",
    "no_entry",
    "pedestrian_crossing",
    "speed_limit_30",
    "speed_limit_50",
    "speed_limit_80",
    "speed_limit_100",
)

#: Box categories of BDD100K (2020 det_20 names). Objects of categories no head
#: predicts still load, so real files need no editing.
BOX_CATEGORIES: tuple[str, ...] = (
    "pedestrian",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
    "traffic light",
    "traffic sign",
    "other vehicle",
    "other person",
    "trailer",
)

#: Older (2018) BDD100K box category names and the 2020 names they mean.
BOX_CATEGORY_ALIASES: dict[str, str] = {"person": "pedestrian", "bike": "bicycle", "motor": "motorcycle"}

#: BDD100K lane-marking types (the 2020 lane categories; the 2018 ``laneType`` values).
LANE_TYPES: tuple[str, ...] = (
    "single white",
    "single yellow",
    "single other",
    "double white",
    "double yellow",
    "double other",
    "road curb",
    "crosswalk",
)
LANE_STYLES: tuple[str, ...] = ("solid", "dashed")
LANE_DIRECTIONS: tuple[str, ...] = ("parallel", "vertical")

#: Pixel values of a drivable-area mask PNG (the BDD100K ``drivable_maps`` convention).
DRIVABLE_BACKGROUND, DRIVABLE_DIRECT, DRIVABLE_ALTERNATIVE = 0, 1, 2


@dataclass
class Box2D:
    """Axis-aligned box, corners in pixels (x1 <= x2, y1 <= y2)."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1


@dataclass
class ObjectLabel:
    """One boxed object: a vehicle, a traffic sign, or any other BDD100K box category."""

    category: str
    box: Box2D
    #: One of SIGN_CLASSES when ``category == "traffic sign"`` and the type is known.
    sign_type: str | None = None
    occluded: bool = False
    truncated: bool = False
    #: Too small or too hidden to be fair: evaluation neither rewards nor punishes it.
    ignore: bool = False
    id: str = ""


@dataclass
class LaneLabel:
    """One lane marking as an open polyline of (x, y) vertices, near to far."""

    points: np.ndarray  # float32 [N, 2]
    lane_type: str = "single white"
    style: str = "solid"
    direction: str = "parallel"
    id: str = ""


@dataclass
class FrameLabels:
    """Everything labelled on one image."""

    #: Image file name, relative to the dataset's image folder.
    name: str
    objects: list[ObjectLabel] = field(default_factory=list)
    lanes: list[LaneLabel] = field(default_factory=list)
    #: Frame attributes such as weather, scene and timeofday (BDD100K values).
    attributes: dict[str, str] = field(default_factory=dict)
    #: Set for frames of a clip.
    video_name: str | None = None
    frame_index: int | None = None
    #: Closed drivable-area polygons from 2018-style files: (vertices [N, 2], areaType).
    drivable_polygons: list[tuple[np.ndarray, str]] = field(default_factory=list)
