"""Lane lines as polylines: row anchors x ordered lane slots.

The head samples its feature map at R fixed image rows. For each of L slots (lane lines
ordered left to right around the ego car: slot L/2-1 is the ego lane's left line, L/2
its right line) and each row it predicts a distribution over the row's cells, whose
expectation is the line's x, plus whether the line exists on that row. Outputs are
polylines, not a mask: ``lanes.x`` [B,L,R] in input pixels, ``lanes.valid`` u8 [B,L,R],
``lanes.score`` [B,L]. Row positions travel in the model metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtl_edge.models.blocks import ConvBNAct
from mtl_edge.models.heads.base import Head, uint8_output
from mtl_edge.models.registry import HEADS


@dataclass
class LanesConfig:
    """Settings of the lanes head."""

    slots: int = 8  # lane lines kept, half left and half right of the ego car
    rows: int = 32  # row anchors between row_top and the bottom of the input
    row_top: float = 0.42  # first row anchor, as a fraction of input height (just below the horizon)
    channels: int = 32  # width of the row tower
    aux_mask: bool = True  # train an auxiliary lane-paint mask branch (not exported)
    location_weight: float = 1.0
    offset_weight: float = 0.5  # L1 on the expected x, in cells
    exist_weight: float = 1.0
    aux_weight: float = 0.5


def row_positions(cfg: LanesConfig, height: int) -> np.ndarray:
    """Row-anchor y coordinates in input pixels."""
    return np.linspace(cfg.row_top * height, height - 1, cfg.rows).astype(np.float32)


@HEADS.register("lanes")
class LanesHead(Head):
    """Row-anchor lane head on the stride-8 pyramid level."""

    Config = LanesConfig
    output_names = ("x", "valid", "score")
    raw_names = ("location", "exist")
    stride = 8

    def __init__(self, cfg: LanesConfig, channels: dict[str, int]) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        self.project = ConvBNAct(channels["p3"] + 2, c, k=1)  # +2: x and y coordinate channels
        self.rows_conv = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, (1, 9), padding=(0, 4), bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
        )
        self.location = nn.Conv2d(c, cfg.slots, 1)
        self.exist = nn.Conv2d(c, cfg.slots, 1)
        self.aux = nn.Conv2d(c, 1, 1) if cfg.aux_mask else None
        nn.init.constant_(self.exist.bias, -2.0)
        self._row_matrices: dict[tuple[int, int, str], Tensor] = {}

    def _row_matrix(self, feat_h: int, input_h: int, device: torch.device) -> Tensor:
        """[R, feat_h] linear-interpolation weights that sample feature rows at the row anchors (cached per shape)."""
        key = (feat_h, input_h, str(device))
        if key not in self._row_matrices:
            self._row_matrices[key] = self._build_row_matrix(feat_h, input_h).to(device)
        return self._row_matrices[key]

    def _build_row_matrix(self, feat_h: int, input_h: int) -> Tensor:
        ys = row_positions(self.cfg, input_h) / self.stride - 0.5  # feature-row coordinates
        ys = np.clip(ys, 0, feat_h - 1)
        lo = np.floor(ys).astype(int)
        hi = np.minimum(lo + 1, feat_h - 1)
        frac = (ys - lo).astype(np.float32)
        m = np.zeros((len(ys), feat_h), np.float32)
        m[np.arange(len(ys)), lo] += 1 - frac
        m[np.arange(len(ys)), hi] += frac
        return torch.from_numpy(m)

    def forward(self, feats: dict[str, Tensor], decode: bool = False) -> dict[str, Tensor]:
        p3 = feats["p3"]
        b, _, h, w = p3.shape
        xs = torch.linspace(-1.0, 1.0, w, dtype=p3.dtype, device=p3.device).view(1, 1, 1, w).expand(b, 1, h, w)
        ys = torch.linspace(-1.0, 1.0, h, dtype=p3.dtype, device=p3.device).view(1, 1, h, 1).expand(b, 1, h, w)
        f = self.project(torch.cat([p3, xs, ys], 1))
        m = self._row_matrix(h, h * self.stride, p3.device).to(f.dtype)
        rows = torch.matmul(m, f)  # [B,C,R,W]: (R x H) @ (H x W) per channel
        r = self.rows_conv(rows)
        raw = {"location": self.location(r), "exist": self.exist(r).amax(dim=3)}  # [B,L,R,W], [B,L,R]
        if self.aux is not None and self.training:
            raw["aux"] = self.aux(f)
        return self.decode(raw) if decode else raw

    def float_scopes(self) -> dict[str, str]:
        return {"": "decode", "location": "logits", "exist": "logits"}

    def decode(self, raw: dict[str, Tensor]) -> dict[str, Tensor]:
        loc = raw["location"].float()
        w = loc.shape[-1]
        centres = (torch.arange(w, dtype=torch.float32) + 0.5) * self.stride
        x = (torch.softmax(loc, dim=-1) * centres).sum(-1)
        exist = torch.sigmoid(raw["exist"].float())
        return {"x": x, "valid": uint8_output(exist > 0.5), "score": exist.amax(dim=2)}

    def loss(self, raw: dict[str, Tensor], targets: dict[str, Any], supervised: Tensor) -> dict[str, Tensor]:
        loc = raw["location"].float()
        b, slots, rows, w = loc.shape
        height, width = targets["input_hw"]
        t = build_lane_targets(targets["lanes"], targets["lane_valid"], self.cfg, width, height)
        x_t, present = t["x"].to(loc.device), t["present"].to(loc.device)  # [B,L,R] pixels, bool
        sup = supervised.to(loc.dtype).view(b, 1, 1)
        pos = present.to(loc.dtype) * sup
        n_pos = pos.sum().clamp(min=1.0)
        cell = (x_t / self.stride - 0.5).clamp(0, w - 1)
        ce = F.cross_entropy(loc.permute(0, 3, 1, 2), cell.round().long().clamp(0, w - 1), reduction="none")
        centres = torch.arange(w, dtype=loc.dtype, device=loc.device)
        expected = (torch.softmax(loc, -1) * centres).sum(-1)
        l1 = (expected - cell).abs()
        exist_bce = F.binary_cross_entropy_with_logits(raw["exist"].float(), present.to(loc.dtype), reduction="none")
        location = (ce * pos).sum() / n_pos
        offset = (l1 * pos).sum() / n_pos
        exist = (exist_bce * sup).sum() / (sup.sum() * slots * rows).clamp(min=1.0)
        total = self.cfg.location_weight * location + self.cfg.offset_weight * offset + self.cfg.exist_weight * exist
        parts = {"location": location.detach(), "offset": offset.detach(), "exist": exist.detach()}
        if "aux" in raw:
            mask_t = lane_mask_targets(targets["lanes"], targets["lane_valid"], raw["aux"].shape[-2:], self.stride)
            aux = F.binary_cross_entropy_with_logits(raw["aux"].float()[:, 0], mask_t.to(loc.device), reduction="none")
            aux = (aux.flatten(1).mean(1) * supervised.to(loc.dtype)).sum() / supervised.sum().clamp(min=1)
            total = total + self.cfg.aux_weight * aux
            parts["aux"] = aux.detach()
        return {"loss": total, **parts}

    def metadata(self, input_hw: tuple[int, int]) -> dict[str, Any]:
        rows = row_positions(self.cfg, input_hw[0])
        return {"slots": self.cfg.slots, "row_y": [round(float(y), 4) for y in rows]}


def assign_slots(bottom_x: np.ndarray, centre_x: float, slots: int) -> np.ndarray:
    """Slot of each lane from its x at the bottom of the image; -1 for lanes beyond the slots."""
    half = slots // 2
    out = np.full(len(bottom_x), -1, np.int64)
    left = [i for i in np.argsort(-bottom_x) if bottom_x[i] < centre_x]
    right = [i for i in np.argsort(bottom_x) if bottom_x[i] >= centre_x]
    for rank, i in enumerate(left[:half]):
        out[i] = half - 1 - rank
    for rank, i in enumerate(right[:half]):
        out[i] = half + rank
    return out


def _lane_rows(points: np.ndarray, rows: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray, float]:
    """x at each row (NaN where absent), and x extrapolated to the image bottom."""
    order = np.argsort(points[:, 1])
    p = points[order]
    keep = np.concatenate([[True], np.diff(p[:, 1]) > 1e-3])
    p = p[keep]
    x = np.interp(rows, p[:, 1], p[:, 0], left=np.nan, right=np.nan)
    x[(x < 0) | (x >= width)] = np.nan
    if len(p) >= 2:
        (x0, y0), (x1, y1) = p[-1], p[-2]
        slope = (x0 - x1) / (y0 - y1) if abs(y0 - y1) > 1e-6 else 0.0
        bottom = x0 + slope * (rows[-1] - y0)
    else:
        bottom = p[-1, 0]
    return x, np.isfinite(x), float(bottom)


def build_lane_targets(
    lanes: Tensor, lane_valid: Tensor, cfg: LanesConfig, width: int, height: int
) -> dict[str, Tensor]:
    """Per slot and row: target x (input pixels) and presence, from padded lane points."""
    rows = row_positions(cfg, height)
    batch = lanes.shape[0]
    x_t = np.zeros((batch, cfg.slots, cfg.rows), np.float32)
    present = np.zeros((batch, cfg.slots, cfg.rows), bool)
    pts, ok = lanes.numpy(), lane_valid.numpy()
    for i in range(batch):
        xs, valids, bottoms = [], [], []
        for k in range(pts.shape[1]):
            p = pts[i, k][ok[i, k]]
            if len(p) < 2:
                continue
            x, v, bottom = _lane_rows(p, rows, width)
            if v.any():
                xs.append(x), valids.append(v), bottoms.append(bottom)
        for j, slot in enumerate(assign_slots(np.array(bottoms), width / 2, cfg.slots)):
            if slot >= 0:
                x_t[i, slot] = np.nan_to_num(xs[j])
                present[i, slot] = valids[j]
    return {"x": torch.from_numpy(x_t), "present": torch.from_numpy(present)}


def lane_mask_targets(lanes: Tensor, lane_valid: Tensor, hw: tuple[int, int], stride: int) -> Tensor:
    """Lane paint as 1-cell-wide polylines on the stride-s grid (auxiliary target)."""
    h, w = int(hw[0]), int(hw[1])
    out = np.zeros((lanes.shape[0], h, w), np.float32)
    pts, ok = lanes.numpy(), lane_valid.numpy()
    for i in range(lanes.shape[0]):
        for k in range(pts.shape[1]):
            p = pts[i, k][ok[i, k]] / stride
            if len(p) >= 2:
                cv2.polylines(
                    out[i], [np.round(p * 16).astype(np.int32).reshape(-1, 1, 2)], False, 1.0, 1, cv2.LINE_8, 4
                )
    return torch.from_numpy(out)
