"""Builtin glyphs that need no font files: OpenCV Hershey text plus procedurally drawn icons.

Every glyph is drawn as two coverage masks, a thick black *outline* stroke and a thin white
*fill* stroke on top, 4x supersampled and area-downsampled so edges are antialiased like a
scaled DVR font. Output: straight-alpha RGBA uint8 of the cell size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import symbols as S

SS = 4  # supersampling factor
HERSHEY_FACES = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_PLAIN,
    cv2.FONT_HERSHEY_COMPLEX_SMALL,
)


@dataclass(frozen=True)
class BuiltinFace:
    """How builtin glyphs are drawn: Hershey face, stroke widths in output pixels."""

    face: int = cv2.FONT_HERSHEY_SIMPLEX
    stroke_px: float = 1.5
    outline_px: float = 1.0
    text_height: float = 0.62  # digit height as a fraction of the cell height
    italic: bool = False


class _Canvas:
    """Two supersampled masks (outline, fill) on which unit-square primitives are drawn."""

    def __init__(self, h: int, w: int, face: BuiltinFace):
        self.h, self.w, self.face = h * SS, w * SS, face
        self.outline = np.zeros((self.h, self.w), np.uint8)
        self.fill = np.zeros((self.h, self.w), np.uint8)
        self.t_fill = max(1, round(face.stroke_px * SS))
        self.t_out = self.t_fill + max(1, round(2 * face.outline_px * SS))

    def pt(self, x: float, y: float) -> tuple[int, int]:
        return int(round(x * (self.w - 1))), int(round(y * (self.h - 1)))

    def poly(self, pts, closed: bool = False) -> None:
        p = np.array([self.pt(x, y) for x, y in pts], np.int32)
        cv2.polylines(self.outline, [p], closed, 255, self.t_out, cv2.LINE_AA)
        cv2.polylines(self.fill, [p], closed, 255, self.t_fill, cv2.LINE_AA)

    def solid(self, pts) -> None:
        """Filled polygon; its outline is a stroke around the border."""
        p = np.array([self.pt(x, y) for x, y in pts], np.int32)
        cv2.fillPoly(self.outline, [p], 255, cv2.LINE_AA)
        cv2.polylines(self.outline, [p], True, 255, self.t_out - self.t_fill, cv2.LINE_AA)
        cv2.fillPoly(self.fill, [p], 255, cv2.LINE_AA)

    def circle(self, x: float, y: float, r: float) -> None:
        c, rr = self.pt(x, y), max(1, int(r * min(self.w, self.h)))
        cv2.circle(self.outline, c, rr, 255, self.t_out, cv2.LINE_AA)
        cv2.circle(self.fill, c, rr, 255, self.t_fill, cv2.LINE_AA)

    def text(self, s: str, box=(0.0, 0.0, 1.0, 1.0), height: float = 1.0) -> None:
        """Hershey text fitted into ``box`` (x0, y0, x1, y1), digit height = height * box h."""
        x0, y0 = self.pt(box[0], box[1])
        x1, y1 = self.pt(box[2], box[3])
        bw, bh = max(1, x1 - x0), max(1, y1 - y0)
        f = self.face.face | (cv2.FONT_ITALIC if self.face.italic else 0)
        (tw, th), _ = cv2.getTextSize(s, f, 1.0, self.t_fill)
        # getTextSize counts the fill stroke; fit that to the box so the outline may reach
        # the cell edge (real OSD fonts use the whole cell, outline included)
        scale = min(height * bh / max(th, 1), 0.95 * bw / max(tw, 1))
        (tw, th), _ = cv2.getTextSize(s, f, scale, self.t_fill)
        org = (x0 + (bw - tw) // 2, y0 + (bh + th) // 2)
        cv2.putText(self.outline, s, org, f, scale, 255, self.t_out, cv2.LINE_AA)
        cv2.putText(self.fill, s, org, f, scale, 255, self.t_fill, cv2.LINE_AA)

    def rgba(self) -> np.ndarray:
        """Downsample to the cell: straight-alpha RGBA, white fill over black outline."""
        size = (self.w // SS, self.h // SS)
        out = cv2.resize(self.outline, size, interpolation=cv2.INTER_AREA).astype(np.float32)
        fill = cv2.resize(self.fill, size, interpolation=cv2.INTER_AREA).astype(np.float32)
        alpha = np.maximum(out, fill)
        white = np.where(alpha > 0, 255.0 * fill / np.maximum(alpha, 1.0), 0.0)
        rgba = np.dstack([white, white, white, alpha])
        return np.clip(rgba + 0.5, 0, 255).astype(np.uint8)


def render_builtin(code: int, h: int, w: int, face: BuiltinFace) -> np.ndarray:
    """RGBA uint8 [h, w, 4] (straight alpha) for one character code (ASCII or BF symbol)."""
    cv = _Canvas(h, w, face)
    ch = chr(code)
    if code in S.ICON_CODES:
        _draw_icon(cv, ch)
    elif ch.strip():
        cv.text(ch, height=face.text_height)
    return cv.rgba()


def _draw_icon(cv: _Canvas, ch: str) -> None:
    """Dispatch a BF symbol code to its drawing."""
    if ch in S.ARROWS:
        _arrow(cv, S.ARROWS.index(ch) * 22.5)
    elif ch in S.AHI_LEVELS:
        y = 0.1 + 0.8 * (1 - S.AHI_LEVELS.index(ch) / 8)
        cv.poly([(0.0, y), (1.0, y)])
    elif ch == S.BATT or ch in S.BATT_LEVELS:
        level = 1.0 if ch == S.BATT else 1 - S.BATT_LEVELS.index(ch) / 6
        _battery(cv, level)
    elif ch in _TEXT_ICONS:
        cv.text(_TEXT_ICONS[ch], (0.05, 0.2, 0.95, 0.8), 0.8)
    else:
        _SHAPES[ch](cv)


def _arrow(cv: _Canvas, deg: float) -> None:
    """Home arrow pointing ``deg`` clockwise from up, drawn as a filled triangle + shaft."""
    a = np.deg2rad(deg)
    rot = lambda x, y: (0.5 + x * np.cos(a) - y * np.sin(a), 0.5 + x * np.sin(a) + y * np.cos(a))
    cv.solid([rot(0, -0.4), rot(0.28, 0.0), rot(-0.28, 0.0)])
    cv.poly([rot(0, 0), rot(0, 0.38)])


def _battery(cv: _Canvas, level: float) -> None:
    """Upright battery outline with a nub; filled from the bottom to ``level``."""
    cv.poly([(0.2, 0.18), (0.8, 0.18), (0.8, 0.9), (0.2, 0.9)], closed=True)
    cv.solid([(0.38, 0.08), (0.62, 0.08), (0.62, 0.18), (0.38, 0.18)])
    if level > 0:
        top = 0.88 - 0.68 * level
        cv.solid([(0.3, top), (0.7, top), (0.7, 0.82), (0.3, 0.82)])


def _bars(cv: _Canvas) -> None:
    for i, x in enumerate((0.2, 0.45, 0.7)):
        cv.poly([(x, 0.85), (x, 0.65 - 0.22 * i)])


def _sat(cv: _Canvas, right: bool) -> None:
    if right:  # panel + dish, second half of the two-cell satellite
        cv.poly([(0.0, 0.5), (0.4, 0.5)])
        cv.circle(0.55, 0.5, 0.15)
        cv.poly([(0.3, 0.2), (0.9, 0.8)])
    else:
        cv.poly([(0.2, 0.3), (0.9, 0.3), (0.9, 0.7), (0.2, 0.7)], closed=True)
        cv.poly([(0.55, 0.3), (0.55, 0.7)])


def _house(cv: _Canvas) -> None:
    cv.poly([(0.15, 0.5), (0.5, 0.15), (0.85, 0.5)])
    cv.poly([(0.25, 0.45), (0.25, 0.85), (0.75, 0.85), (0.75, 0.45)])


def _thermo(cv: _Canvas) -> None:
    cv.poly([(0.45, 0.12), (0.45, 0.62)])
    cv.poly([(0.55, 0.12), (0.55, 0.62)])
    cv.circle(0.5, 0.75, 0.15)


def _clock(cv: _Canvas) -> None:
    cv.circle(0.5, 0.5, 0.3)
    cv.poly([(0.5, 0.3), (0.5, 0.5), (0.65, 0.6)])


_TEXT_ICONS = {
    S.VOLT: "V", S.MAH: "MAH", S.AMP: "A", S.METRE: "M", S.FEET: "F", S.KM: "KM",
    S.KMH: "KMH", S.MPH: "MPH", S.MPS: "MS", S.THROTTLE: "THR", S.LAT: "LA",
    S.LON: "LO", S.DEG_C: "C", S.LQ: "LQ",
}

_SHAPES = {
    S.RSSI: _bars,
    S.ALT: lambda cv: (cv.solid([(0.5, 0.15), (0.8, 0.5), (0.2, 0.5)]), cv.poly([(0.5, 0.5), (0.5, 0.9)])),
    S.SPEED: lambda cv: (cv.circle(0.5, 0.6, 0.32), cv.poly([(0.5, 0.6), (0.72, 0.38)])),
    S.ON_TIME: _clock,
    S.FLY_TIME: lambda cv: (_clock(cv), cv.poly([(0.15, 0.15), (0.85, 0.15)])),
    S.SATS[0]: lambda cv: _sat(cv, False),
    S.SATS[1]: lambda cv: _sat(cv, True),
    S.HOME: _house,
    S.OVER_HOME: lambda cv: (_house(cv), cv.poly([(0.5, 0.05), (0.5, 0.3)])),
    S.CROSSHAIR[0]: lambda cv: cv.poly([(0.2, 0.5), (1.0, 0.5)]),
    S.CROSSHAIR[1]: lambda cv: (cv.circle(0.5, 0.5, 0.12), cv.poly([(0.5, 0.2), (0.5, 0.38)])),
    S.CROSSHAIR[2]: lambda cv: cv.poly([(0.0, 0.5), (0.8, 0.5)]),
    S.SIDEBAR: lambda cv: cv.poly([(0.3, 0.5), (0.7, 0.5)]),
    S.SIDEBAR_LEFT_ARROW: lambda cv: cv.solid([(0.2, 0.5), (0.8, 0.25), (0.8, 0.75)]),
    S.SIDEBAR_RIGHT_ARROW: lambda cv: cv.solid([(0.8, 0.5), (0.2, 0.25), (0.2, 0.75)]),
    S.TEMP: _thermo,
}
