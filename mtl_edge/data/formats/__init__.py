"""Read and write BDD100K-style label JSON (Scalabel frames) and drivable-area masks.

Accepted input, all loaded into :mod:`mtl_edge.data.labels` objects:

* 2020 files: ``det_20`` box labels and ``lane/polygons/lane_*.json`` lane labels (the
  category is the lane type), and drivable polygons with categories ``direct`` /
  ``alternative`` (``background`` polygons are skipped).
* 2018 all-in-one files (``bdd100k_labels_images_*.json``): category ``lane`` with a
  ``laneType`` attribute, ``drivable area`` with ``areaType``, and the old box names
  ``person`` / ``bike`` / ``motor``.
* Our extensions in box attributes: ``ignore`` (evaluation skips the object) and
  ``signType`` (one of ``SIGN_CLASSES``, traffic signs only). A ``crowd`` box loads with
  ``ignore=True``, which is how crowd regions are evaluated.

A ``poly2d`` entry may hold several polylines; each becomes its own ``LaneLabel`` with
the label id suffixed ``_0``, ``_1``, ... Vertices typed ``C`` are Bézier control points:
each curve is evaluated as a cubic and sampled within half a pixel (``fields.trace_path``).
Frame ``timestamp``, box ``manualShape`` / ``manualAttributes`` / ``score`` and
``trafficLightColor`` are read past and not kept.

Output is 2020 style: lanes carry their type as category and as ``laneTypes``,
coordinates are rounded to 2 decimals, extension attributes appear only when set, and
drivable polygons are written as 2018 ``drivable area`` labels. Writes are atomic.

The modules: :mod:`~mtl_edge.data.formats.read` (files and directories to frames, and
merging), :mod:`~mtl_edge.data.formats.parse` (one frame object to labels),
:mod:`~mtl_edge.data.formats.fields` (validated JSON fields), :mod:`~mtl_edge.data.formats.write`
(frames to JSON), :mod:`~mtl_edge.data.formats.drivable` (drivable-area masks) and
:mod:`~mtl_edge.data.formats.errors` (:class:`LabelFormatError` and its messages).
"""

from __future__ import annotations

from mtl_edge.data.formats.drivable import rasterize_drivable, read_drivable_mask, write_drivable_mask
from mtl_edge.data.formats.errors import LabelFormatError
from mtl_edge.data.formats.parse import frame_from_dict
from mtl_edge.data.formats.read import merge_frames, read_frames
from mtl_edge.data.formats.write import frame_to_dict, write_frame, write_frames

__all__ = [
    "LabelFormatError",
    "read_frames",
    "write_frames",
    "write_frame",
    "frame_from_dict",
    "frame_to_dict",
    "merge_frames",
    "read_drivable_mask",
    "write_drivable_mask",
    "rasterize_drivable",
]
