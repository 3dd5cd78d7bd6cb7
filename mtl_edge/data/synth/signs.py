"""Traffic-sign face sprites: RGBA images told apart by shape, colour and glyph.

Each shape touches all four edges of its sprite, so the box of the projected sprite
quad is the box of the sign itself.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

from ..labels import SIGN_CLASSES

SPRITE_SIZE = 128
_SUPER = 4  # drawn at 4x and area-downsampled: cheap anti-aliasing

RED = (200, 28, 36)
WHITE = (246, 246, 242)
BLUE = (18, 74, 168)
BLACK = (22, 22, 24)

#: Height / width of each face; the yield triangle is wider than tall.
ASPECT: dict[str, float] = {name: 1.0 for name in SIGN_CLASSES} | {"yield": 0.88}


def _regular_polygon(n: int, radius: float, centre: tuple[float, float], rot: float) -> np.ndarray:
    a = rot + 2 * np.pi * np.arange(n) / n
    return np.stack([centre[0] + radius * np.cos(a), centre[1] + radius * np.sin(a)], 1)


def _fill(img: np.ndarray, pts: np.ndarray, color: tuple[int, ...]) -> None:
    cv2.fillPoly(img, [np.round(pts).astype(np.int32)], color, cv2.LINE_8)


def _centred_text(
    img: np.ndarray, text: str, box_w: float, cy: float, color: tuple[int, int, int], thickness_frac: float = 0.09
) -> None:
    """Draw ``text`` centred horizontally, scaled to ``box_w`` pixels wide, centred on row ``cy``."""
    font = cv2.FONT_HERSHEY_DUPLEX
    size = img.shape[1]
    thick = max(1, int(thickness_frac * size / len(text) ** 0.5))
    (w, h), _ = cv2.getTextSize(text, font, 1.0, thick)
    scale = box_w / w
    thick = max(1, int(thick * min(1.0, scale)))
    (w, h), _ = cv2.getTextSize(text, font, scale, thick)
    org = (int(round((size - w) / 2)), int(round(cy + h / 2)))
    cv2.putText(img, text, org, font, scale, color, thick, cv2.LINE_8)


def _draw(name: str, s: int) -> np.ndarray:
    """Draw one face at ``s`` pixels wide into an RGBA array (alpha marks the face)."""
    h = int(round(s * ASPECT[name]))
    img = np.zeros((h, s, 4), np.uint8)
    c = (s / 2.0, h / 2.0)
    r = s / 2.0
    if name == "stop":
        oct_r = r / np.cos(np.pi / 8)  # flat sides touch the sprite edges
        _fill(img, _regular_polygon(8, oct_r, c, np.pi / 8), WHITE + (255,))
        _fill(img, _regular_polygon(8, oct_r * 0.9, c, np.pi / 8), RED + (255,))
        _centred_text(img, "STOP", 0.78 * s, c[1], WHITE)
    elif name == "yield":
        tri = np.array([[0, 0], [s, 0], [s / 2, h]], np.float64)
        inner = (tri - tri.mean(0)) * 0.6 + tri.mean(0)
        _fill(img, tri, RED + (255,))
        _fill(img, inner, WHITE + (255,))
    elif name == "no_entry":
        cv2.circle(img, (int(c[0]), int(c[1])), int(r), RED + (255,), -1)
        bw, bh = 0.62 * s, 0.18 * s
        cv2.rectangle(
            img, (int(c[0] - bw / 2), int(c[1] - bh / 2)), (int(c[0] + bw / 2), int(c[1] + bh / 2)), WHITE + (255,), -1
        )
    elif name == "pedestrian_crossing":
        img[:] = BLUE + (255,)
        cv2.rectangle(img, (0, 0), (s - 1, h - 1), WHITE + (255,), max(1, s // 28))
        tri = np.array([[s * 0.5, h * 0.1], [s * 0.9, h * 0.86], [s * 0.1, h * 0.86]])
        _fill(img, tri, WHITE + (255,))
        _draw_pedestrian(img, s, h)
    elif name.startswith("speed_limit_"):
        cv2.circle(img, (int(c[0]), int(c[1])), int(r), RED + (255,), -1)
        cv2.circle(img, (int(c[0]), int(c[1])), int(r * 0.76), WHITE + (255,), -1)
        digits = name.rsplit("_", 1)[1]
        # Digits as large as the white disc allows (as on Vienna-convention signs): at
        # dash-cam distances they are the only cue that tells one speed limit from another.
        _centred_text(img, digits, (1.3 if len(digits) == 3 else 1.14) * r, c[1], BLACK, 0.15)
    else:
        raise KeyError(f"no sprite for sign class {name!r}; known: {', '.join(SIGN_CLASSES)}")
    return img


def _draw_pedestrian(img: np.ndarray, s: int, h: int) -> None:
    """A walking figure on zebra stripes, inside the white triangle."""
    t = max(1, s // 22)
    head = (int(s * 0.52), int(h * 0.36))
    cv2.circle(img, head, max(2, s // 18), BLACK + (255,), -1)
    hip, neck = (int(s * 0.49), int(h * 0.6)), (int(s * 0.51), int(h * 0.42))
    for a, b in [
        (neck, hip),
        (hip, (int(s * 0.40), int(h * 0.76))),
        (hip, (int(s * 0.6), int(h * 0.75))),
        (neck, (int(s * 0.40), int(h * 0.54))),
        (neck, (int(s * 0.62), int(h * 0.52))),
    ]:
        cv2.line(img, a, b, BLACK + (255,), t)
    for i in range(4):
        x0 = s * (0.28 + 0.12 * i)
        cv2.rectangle(img, (int(x0), int(h * 0.79)), (int(x0 + s * 0.07), int(h * 0.83)), BLACK + (255,), -1)


@cache
def sprite(name: str) -> np.ndarray:
    """RGBA sprite of sign class ``name``, SPRITE_SIZE wide (cached, read-only)."""
    big = _draw(name, SPRITE_SIZE * _SUPER)
    h = int(round(SPRITE_SIZE * ASPECT[name]))
    out = cv2.resize(big, (SPRITE_SIZE, h), interpolation=cv2.INTER_AREA)
    out.setflags(write=False)
    return out
