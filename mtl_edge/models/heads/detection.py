"""Anchor-free multi-class detection, used for vehicles and for traffic signs.

Each cell of a stride-s map predicts a heat-map score per class and the distances from
the cell centre to the four box sides. Training follows TTFNet (Liu et al. 2019): an
elliptical Gaussian heat-map target per object, and GIoU regression over the whole
Gaussian area weighted by the Gaussian. That converges in far fewer epochs than one
regression sample per object, which matters when training on a CPU.

Decode runs in the graph with ops that ONNX Runtime and TensorRT both run natively:
sigmoid, TopK over classes x cells, GatherElements, and one of two ways to keep a single
detection per object: 3x3 max-pool peaks (``nms_iou: 0``), or box suppression among the
top cells (``nms_iou > 0``): a cell is dropped when its box overlaps a higher-scored cell's
box by more than that IoU. Peaks cannot separate two objects whose centres are one cell
apart (a car queue, a car behind a truck); box suppression can, and it also removes the
duplicate peaks a large object leaves on a fine map. It is Fast NMS (Bolya et al. 2019):
one fixed-shape pairwise-IoU matrix, elementwise ops and a ReduceMax, no loop.
With a glimpse (``glimpse.size > 0``, see glimpse.py) the candidates are taken class-agnostic,
each candidate's class comes from a small CNN on its crop of the input frame, and the
score is objectness x class probability.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtl_edge.data.labels import SIGN_CLASSES, VEHICLE_CLASSES
from mtl_edge.models.blocks import ConvBNAct
from mtl_edge.models.heads.base import FuseUp, Head, level_for_stride
from mtl_edge.models.heads.glimpse import GlimpseClassifier, GlimpseConfig, apply_deltas, crop_boxes
from mtl_edge.models.registry import HEADS

#: Prior probability of an object at a cell, for the heat-map bias (as in RetinaNet).
PRIOR = 0.01
#: Box suppression reads this many times as many top cells as it keeps.
NMS_POOL = 4
#: Box sides are predicted as exp(x) * stride, with x clamped here (keeps FP16 finite).
MAX_LOG_SIDE = 8.0


@dataclass
class DetectionConfig:
    """Settings of a detection head (the defaults suit vehicles)."""

    classes: tuple[str, ...] = VEHICLE_CLASSES
    stride: int = 8  # output stride: 8 reads p3; 4 adds the stride-4 backbone map (small objects)
    channels: int = 64  # width of the conv tower
    tower: int = 1  # 3x3 convs before the outputs
    context: int = 0  # depthwise-separable 3x3 blocks after the tower: more receptive field, few FLOPs
    # Stride 4 only: run the tower on p3 (stride 8), then fuse it with c2 into this many channels.
    # Keeps a wide tower where cells are few and still separates neighbours 4 px apart (0: tower at stride 4).
    late_fuse: int = 0
    top_k: int = 100  # detections kept per image
    # > 0: keep one detection per object by box suppression at this IoU among the top cells,
    # not by 3x3 heat-map peaks (0). Unlike peaks it separates neighbours one cell apart (a queue).
    nms_iou: float = 0.45
    gaussian: float = 0.54  # target Gaussian sigma = gaussian * box side / 6 (TTFNet's alpha/beta)
    # Smallest target sigma, in cells. Below 0.41 a small object's box is regressed by its centre
    # cell alone; at 0.5 by that cell and its 4 neighbours. 0.3 because 0.5 measured no better
    # (docs/experiments.md).
    min_sigma: float = 0.3
    heat_weight: float = 1.0
    box_weight: float = 5.0
    glimpse: GlimpseConfig = field(default_factory=GlimpseConfig)  # second-look classifier (size 0: off)


@dataclass
class SignsConfig(DetectionConfig):
    """Signs are small: stride 4 and a narrower tower by default."""

    classes: tuple[str, ...] = SIGN_CLASSES
    stride: int = 4
    channels: int = 32
    top_k: int = 50


class DetectionHead(Head):
    """Heat-map + box-side detection head with in-graph decode."""

    Config = DetectionConfig
    output_names = ("boxes", "scores", "classes")
    raw_names = ("heat", "sides")

    def __init__(self, cfg: DetectionConfig, channels: dict[str, int]) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        self.level = level_for_stride(cfg.stride)
        self.reads = ("c2", "p3") if self.level == "c2" else (self.level,)
        if cfg.late_fuse and self.level != "c2":
            raise ValueError(f"late_fuse needs stride 4 (it fuses with the stride-4 map c2), not {cfg.stride}")
        self.fuse: FuseUp | None = None  # before the tower: c2 + p3 -> c
        self.late: FuseUp | None = None  # after the tower: c2 + tower(p3) -> late_fuse
        first = channels["p3"] if self.level == "c2" else channels[self.level]
        if self.level == "c2" and not cfg.late_fuse:
            self.fuse, first = FuseUp(channels["c2"], channels["p3"], c, factor=2), c
        layers = [ConvBNAct(first if i == 0 else c, c) for i in range(cfg.tower)]
        last = c if cfg.tower else first
        self.tower = nn.Sequential(*layers)
        if cfg.late_fuse:
            self.late, last = FuseUp(channels["c2"], last, cfg.late_fuse, factor=2), cfg.late_fuse
        blocks, out = [], cfg.late_fuse or c
        for _ in range(cfg.context):
            blocks += [ConvBNAct(last, last, k=3, groups=last), ConvBNAct(last, out, k=1)]
            last = out
        self.context = nn.Sequential(*blocks)
        self.heat = nn.Conv2d(last, len(cfg.classes), 1)
        self.sides = nn.Conv2d(last, 4, 1)
        nn.init.constant_(self.heat.bias, -math.log((1 - PRIOR) / PRIOR))
        nn.init.normal_(self.sides.weight, std=0.01)
        nn.init.constant_(self.sides.bias, 0.0)
        self.glimpse = GlimpseClassifier(cfg.glimpse, len(cfg.classes)) if cfg.glimpse.size > 0 else None

    def forward(self, feats: dict[str, Tensor], decode: bool = False) -> dict[str, Tensor]:
        if self.fuse is not None:
            x = self.tower(self.fuse(feats["c2"], feats["p3"]))
        elif self.late is not None:
            x = self.late(feats["c2"], self.tower(feats["p3"]))
        else:
            x = self.tower(feats[self.level])
        x = self.context(x)
        raw = {"heat": self.heat(x), "sides": self.sides(x)}
        if not decode:
            return raw
        return self.decode_with_glimpse(raw, feats["image"]) if self.glimpse is not None else self.decode(raw)

    def float_scopes(self) -> dict[str, str]:
        # The glimpse reads full-range pixel crops (the first conv's INT8 problem) and its
        # outputs are the scores and box corrections themselves: FP16 at most.
        return {"": "decode", "heat": "logits", "sides": "logits", "glimpse": "float"}

    def post_fit_modules(self) -> tuple[str, ...]:
        return ("glimpse",) if self.glimpse is not None else ()

    def post_fit(self, net: nn.Module, loader: Any, seed: int = 0, progress: bool = True) -> dict[str, Any]:
        """Fit the glimpse classifier on the frozen ``net`` for ``glimpse.fit_epochs`` (see glimpse_fit.py)."""
        if self.glimpse is None or self.cfg.glimpse.fit_epochs == 0:
            return {}
        from mtl_edge.models.heads.glimpse_fit import fit_glimpse

        return fit_glimpse(net, self, loader, seed=seed, progress=progress)

    def decode(self, raw: dict[str, Tensor]) -> dict[str, Tensor]:
        """Top-K detections as boxes [B,K,4] (xyxy input pixels), scores [B,K], classes int32 [B,K]."""
        heat = torch.sigmoid(raw["heat"].float())
        b, c, h, w = heat.shape
        scores, boxes, cls = self._best_cells(heat, raw["sides"], min(self.cfg.top_k, c * h * w), self.cfg.nms_iou)
        return {"boxes": self._clamp(boxes, h, w), "scores": scores, "classes": cls.to(torch.int32)}

    def candidates(self, raw: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Class-agnostic candidates for the glimpse: objectness [B,Kc] and unclamped boxes [B,Kc,4]."""
        heat = torch.sigmoid(raw["heat"].float())
        h, w = heat.shape[-2:]
        objectness = heat.amax(1, keepdim=True)
        g = self.cfg.glimpse
        k = min(g.candidates, h * w)
        scores, boxes, _ = self._best_cells(objectness, raw["sides"], k, g.candidate_nms_iou or self.cfg.nms_iou)
        return scores, boxes

    def _best_cells(self, heat: Tensor, sides: Tensor, k: int, nms_iou: float) -> tuple[Tensor, Tensor, Tensor]:
        """The ``k`` best (channel, cell) pairs of ``heat`` [B,C,H,W], one per object.

        Returns scores [B,k], unclamped boxes [B,k,4] and channels [B,k] (float). One per object
        means 3x3 peaks (``nms_iou`` 0) or box suppression at ``nms_iou``
        among ``NMS_POOL * k`` top cells, within a channel.
        """
        b, c, h, w = heat.shape
        if not nms_iou:
            heat = _peaks(heat)
        pool = min(NMS_POOL * k, c * h * w) if nms_iou else k
        scores, index = heat.reshape(b, c * h * w).topk(pool, dim=1)
        # Float index arithmetic is exact here (< 2^24) and avoids integer Div, which engines treat differently.
        flat = index.to(torch.float32)
        channel = torch.floor(flat / (h * w))
        boxes = self._boxes_at(sides, flat - channel * (h * w))
        if nms_iou:
            scores = suppress_overlaps(boxes, scores, nms_iou, channel if c > 1 else None)
            scores, keep = scores.topk(k, dim=1)
            boxes, channel = _take(boxes, keep), channel.gather(1, keep)
        return scores, boxes, channel

    def decode_with_glimpse(self, raw: dict[str, Tensor], image: Tensor) -> dict[str, Tensor]:
        """Like :meth:`decode`, with each candidate classified by the glimpse; score = objectness x p(class)."""
        assert self.glimpse is not None
        objectness, boxes = self.candidates(raw)
        b, k = objectness.shape
        c = len(self.cfg.classes)
        g = self.cfg.glimpse
        steps = g.refine_steps if g.refine else 1
        probs, proposed = torch.zeros(()), boxes
        for _ in range(steps):
            # The crop is decode (float32 geometry, named heads.<name>/...); only the CNN may run in fp16 / int8.
            crops = crop_boxes(image, boxes.to(image.dtype), g.size, g.context)
            logits, deltas = self.glimpse.classify(crops)
            probs = probs + torch.softmax(logits.float().reshape(b, k, c + 1), -1)[..., :c]  # no background
            if deltas is not None:
                boxes = apply_deltas(boxes, deltas.float().reshape(b, k, 4))
        probs = probs / steps
        if g.refine_max_side > 0:  # both need refine (GlimpseConfig checks)
            sides = torch.maximum(proposed[..., 2] - proposed[..., 0], proposed[..., 3] - proposed[..., 1])
            boxes = torch.where((sides > g.refine_max_side).unsqueeze(-1), proposed, boxes)
        if g.refined_nms_iou > 0:
            objectness, probs, boxes = _suppress_refined(objectness, probs, boxes, g.refined_nms_iou)
        joint = (objectness.unsqueeze(-1) * probs).reshape(b, k * c)
        scores, index = joint.topk(min(self.cfg.top_k, k * c), dim=1)
        flat = index.to(torch.float32)
        candidate = torch.floor(flat / c)
        cls = flat - candidate * c
        picked = _take(boxes, candidate.to(torch.int64))
        h, w = raw["heat"].shape[-2:]
        return {"boxes": self._clamp(picked, h, w), "scores": scores, "classes": cls.to(torch.int32)}

    def _boxes_at(self, sides: Tensor, cell: Tensor) -> Tensor:
        """Boxes [B,K,4] (xyxy input pixels) predicted at flat cell indices ``cell`` [B,K] (float)."""
        b, _, h, w = sides.shape
        row = torch.floor(cell / w)
        col = cell - row * w
        s = float(self.cfg.stride)
        d = torch.exp(sides.float().clamp(max=MAX_LOG_SIDE)) * s
        gathered = d.reshape(b, 4, h * w).gather(2, cell.to(torch.int64).unsqueeze(1).expand(b, 4, -1))
        cx, cy = (col + 0.5) * s, (row + 0.5) * s
        return torch.stack([cx - gathered[:, 0], cy - gathered[:, 1], cx + gathered[:, 2], cy + gathered[:, 3]], -1)

    def _clamp(self, boxes: Tensor, h: int, w: int) -> Tensor:
        s = float(self.cfg.stride)
        limit = torch.tensor([w * s, h * s, w * s, h * s], dtype=boxes.dtype, device=boxes.device)
        return torch.minimum(boxes.clamp(min=0.0), limit)

    def loss(self, raw: dict[str, Tensor], targets: dict[str, Any], supervised: Tensor) -> dict[str, Tensor]:
        heat, sides = raw["heat"].float(), raw["sides"].float()
        b, c, h, w = heat.shape
        cfg = self.cfg
        t = build_targets(targets, self.box_head_id(targets), c, h, w, cfg.stride, cfg.gaussian, cfg.min_sigma)
        t = {k: v.to(heat.device) for k, v in t.items()}
        focal, n_pos = focal_loss(heat, t["heat"], t["valid"])  # per sample [B]
        heat_loss = masked_sum(focal, supervised) / masked_sum(n_pos, supervised).clamp(min=1.0)
        pred = boxes_from_sides(sides, self.cfg.stride)
        giou = generalized_iou(pred, t["boxes"])  # [B,H,W]
        box_w = t["box_weight"]
        box_loss = masked_sum(((1 - giou) * box_w).flatten(1).sum(1), supervised) / masked_sum(
            box_w.flatten(1).sum(1), supervised
        ).clamp(min=1e-6)
        total = self.cfg.heat_weight * heat_loss + self.cfg.box_weight * box_loss
        return {"loss": total, "heat": heat_loss.detach(), "box": box_loss.detach()}

    def metadata(self, input_hw: tuple[int, int]) -> dict[str, Any]:
        meta = {
            "classes": list(self.cfg.classes),
            "stride": self.cfg.stride,
            "top_k": self.cfg.top_k,
            "nms_iou": self.cfg.nms_iou,
        }
        if self.glimpse is not None:
            g = self.cfg.glimpse
            meta["glimpse"] = {
                "size": g.size,
                "candidates": g.candidates,
                "refine": g.refine,
                "refine_steps": g.refine_steps,
                "refined_nms_iou": g.refined_nms_iou,
                "refine_max_side": g.refine_max_side,
            }
        return meta


def _peaks(heat: Tensor) -> Tensor:
    """``heat`` with every value that is not a 3x3 local maximum set to 0."""
    peaks = F.max_pool2d(heat, kernel_size=3, stride=1, padding=1)
    return heat * (peaks == heat).to(heat.dtype)


def _take(boxes: Tensor, index: Tensor) -> Tensor:
    """Rows ``index`` [B,K] (int64) of ``boxes`` [B,N,4]."""
    return boxes.gather(1, index.unsqueeze(-1).expand(-1, -1, 4))


def _overlap_1d(lo: Tensor, hi: Tensor) -> Tensor:
    """Pairwise overlap [B,N,N] of the intervals [lo, hi] ([B,N] each)."""
    lo, hi = lo.unsqueeze(2), hi.unsqueeze(2)
    return (torch.minimum(hi, hi.transpose(1, 2)) - torch.maximum(lo, lo.transpose(1, 2))).clamp(min=0)


def suppress_overlaps(boxes: Tensor, scores: Tensor, iou: float, classes: Tensor | None = None) -> Tensor:
    """``scores`` [B,N] (highest first), 0 where a box overlaps a higher-scored box by IoU > ``iou``.

    Fast NMS: every pair is compared once in a fixed [B,N,N] matrix, so a box is dropped even
    when the box that overlaps it was itself dropped (slightly stricter than greedy NMS).
    With ``classes`` [B,N], only boxes of the same class suppress each other.
    """
    x1, y1, x2, y2 = boxes.unbind(-1)
    area = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    inter = _overlap_1d(x1, x2) * _overlap_1d(y1, y2)
    overlaps = (inter > iou * (area.unsqueeze(2) + area.unsqueeze(1) - inter)).to(scores.dtype)  # no division
    rank = torch.arange(scores.shape[1], device=scores.device)
    overlaps = overlaps * (rank.unsqueeze(1) < rank.unsqueeze(0)).to(scores.dtype)  # [i, j]: i outranks j
    if classes is not None:
        overlaps = overlaps * (classes.unsqueeze(2) == classes.unsqueeze(1)).to(scores.dtype)
    return scores * (1.0 - overlaps.amax(1))


def _suppress_refined(objectness: Tensor, probs: Tensor, boxes: Tensor, iou: float) -> tuple[Tensor, Tensor, Tensor]:
    """Candidates sorted by their best score, with the class probabilities of each one whose
    refined box overlaps a better candidate's by IoU > ``iou`` set to 0 (Fast NMS, class-agnostic)."""
    _, order = (objectness.unsqueeze(-1) * probs).amax(-1).topk(objectness.shape[1], dim=1)
    objectness, boxes = objectness.gather(1, order), _take(boxes, order)
    probs = probs.gather(1, order.unsqueeze(-1).expand_as(probs))
    kept = suppress_overlaps(boxes, torch.ones_like(objectness), iou)  # 1 kept, 0 dropped (boxes in rank order)
    return objectness, probs * kept.unsqueeze(-1), boxes


def masked_sum(per_sample: Tensor, supervised: Tensor) -> Tensor:
    return (per_sample * supervised.to(per_sample.dtype)).sum()


def focal_loss(logits: Tensor, target: Tensor, valid: Tensor, alpha: float = 2.0, beta: float = 4.0):
    """CenterNet's penalty-reduced focal loss, summed per sample; also the positive count per sample.

    ``valid`` [B,1,H,W] is 0 inside ignored objects, where no prediction is punished.
    """
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1.0).to(logits.dtype)
    pos_loss = -torch.log(p) * (1 - p) ** alpha * pos
    neg_loss = -torch.log(1 - p) * p**alpha * (1 - target) ** beta * (1 - pos)
    per_sample = ((pos_loss + neg_loss) * valid).flatten(1).sum(1)
    return per_sample, pos.flatten(1).sum(1)


def boxes_from_sides(sides: Tensor, stride: int) -> Tensor:
    """Box [B,4,H,W] (xyxy input pixels) predicted at every cell."""
    b, _, h, w = sides.shape
    d = torch.exp(sides.clamp(max=MAX_LOG_SIDE)) * stride
    ys = (torch.arange(h, dtype=d.dtype, device=d.device) + 0.5) * stride
    xs = (torch.arange(w, dtype=d.dtype, device=d.device) + 0.5) * stride
    cy, cx = ys.view(1, h, 1), xs.view(1, 1, w)
    return torch.stack([cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]], 1)


def generalized_iou(a: Tensor, b: Tensor) -> Tensor:
    """GIoU of boxes [B,4,H,W] with boxes [B,4,H,W], per cell."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    iw = (torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])).clamp(min=0)
    ih = (torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])).clamp(min=0)
    inter = iw * ih
    union = area_a + area_b - inter
    cw = torch.maximum(a[:, 2], b[:, 2]) - torch.minimum(a[:, 0], b[:, 0])
    ch = torch.maximum(a[:, 3], b[:, 3]) - torch.minimum(a[:, 1], b[:, 1])
    enclose = (cw * ch).clamp(min=1e-6)
    iou = inter / union.clamp(min=1e-6)
    return iou - (enclose - union) / enclose


def build_targets(
    targets: dict[str, Any],
    head_id: int,
    n_classes: int,
    h: int,
    w: int,
    stride: int,
    gaussian: float,
    min_sigma: float,
) -> dict[str, Tensor]:
    """Heat-map, ignore mask, box and box-weight targets for a batch (numpy per image)."""
    batch = len(targets["boxes"])
    heat = np.zeros((batch, n_classes, h, w), np.float32)
    valid = np.ones((batch, 1, h, w), np.float32)
    boxes = np.zeros((batch, 4, h, w), np.float32)
    weight = np.zeros((batch, h, w), np.float32)
    for i in range(batch):
        sel = (targets["head"][i] == head_id).numpy()
        _draw_image(
            heat[i],
            valid[i, 0],
            boxes[i],
            weight[i],
            np.asarray(targets["boxes"][i], np.float32)[sel],
            targets["labels"][i].numpy()[sel],
            targets["ignore"][i].numpy()[sel],
            stride,
            gaussian,
            min_sigma,
        )
    return {
        "heat": torch.from_numpy(heat),
        "valid": torch.from_numpy(valid),
        "boxes": torch.from_numpy(boxes),
        "box_weight": torch.from_numpy(weight),
    }


def _draw_image(
    heat: np.ndarray,
    valid: np.ndarray,
    boxes: np.ndarray,
    weight: np.ndarray,
    gt: np.ndarray,
    labels: np.ndarray,
    ignore: np.ndarray,
    stride: int,
    gaussian: float,
    min_sigma: float,
) -> None:
    h, w = valid.shape
    areas = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
    for k in np.argsort(-areas):  # large first, so smaller objects win shared cells
        x1, y1, x2, y2 = gt[k] / stride
        if ignore[k] or labels[k] < 0:
            valid[max(int(y1), 0) : min(int(math.ceil(y2)), h), max(int(x1), 0) : min(int(math.ceil(x2)), w)] = 0.0
            continue
        if x2 - x1 <= 0 or y2 - y1 <= 0:
            continue
        cx, cy = min(int((x1 + x2) / 2), w - 1), min(int((y1 + y2) / 2), h - 1)
        sx, sy = max(gaussian * (x2 - x1) / 6, min_sigma), max(gaussian * (y2 - y1) / 6, min_sigma)
        rx, ry = int(math.ceil(3 * sx)), int(math.ceil(3 * sy))
        xa, xb, ya, yb = max(cx - rx, 0), min(cx + rx + 1, w), max(cy - ry, 0), min(cy + ry + 1, h)
        gx = np.exp(-((np.arange(xa, xb) - cx) ** 2) / (2 * sx * sx))
        gy = np.exp(-((np.arange(ya, yb) - cy) ** 2) / (2 * sy * sy))
        g = (gy[:, None] * gx[None, :]).astype(np.float32)  # exactly 1 at the centre cell
        region = heat[labels[k], ya:yb, xa:xb]
        np.maximum(region, g, out=region)
        reg = g > 0.05
        boxes[:, ya:yb, xa:xb][:, reg] = (gt[k])[:, None]
        wk = g[reg] / g[reg].sum() * math.log(max(areas[k], 2.0))
        weight[ya:yb, xa:xb][reg] = wk


@HEADS.register("vehicles")
class VehiclesHead(DetectionHead):
    Config = DetectionConfig


@HEADS.register("signs")
class SignsHead(DetectionHead):
    Config = SignsConfig


__all__ = ["DetectionConfig", "DetectionHead", "SignsConfig", "SignsHead", "VehiclesHead"]
