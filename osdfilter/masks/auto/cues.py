"""Image cues and mask helpers of the automatic OSD detector (:mod:`osdfilter.masks.auto.detector`)."""

from __future__ import annotations

import cv2
import numpy as np

from .config import AutoMaskConfig, Rect


def _luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _max_channel(rgb: np.ndarray) -> np.ndarray:
    """max(R, G, B) per pixel; a 1x3 dilation over the interleaved row is much faster
    than ``rgb.max(axis=2)``."""
    h, w = rgb.shape[:2]
    return np.ascontiguousarray(
        cv2.dilate(rgb.reshape(h, w * 3), np.ones((1, 3), np.uint8))[:, 1::3])


def _flank_min(luma: np.ndarray, k: int, horizontal: bool, before: bool) -> np.ndarray:
    """Darkest luma within k-1 px before/after each pixel (itself included) on one axis."""
    kernel = np.ones((1, k) if horizontal else (k, 1), np.uint8)
    a = k - 1 if before else 0
    anchor = (a, 0) if horizontal else (0, a)
    return cv2.erode(luma, kernel, anchor=anchor, borderValue=255)


def glyph_cue(rgb: np.ndarray, bright: int = 150, contrast: int = 90, stroke_px: int = 7,
              outline_px: int = 2) -> np.ndarray:
    """Outlined-stroke pixels of one RGB uint8 frame [H, W, 3] -> uint8 {0, 1} [H, W].

    A pixel is a stroke pixel when its max channel is at least ``bright`` and, within
    ``stroke_px`` on *both* sides horizontally or vertically, there is a pixel whose luma
    is at least ``contrast`` darker (the outline). Relative contrast rather than fixed
    white/black levels keeps semi-transparent OSDs (white and black both mixed with the
    scene) and coloured icons. The result is dilated by ``outline_px`` so that it covers
    the glyph's outline too.
    """
    rgb = np.ascontiguousarray(rgb)
    value = _max_channel(rgb)
    luma = _luma(rgb)
    limit = cv2.subtract(value, contrast)  # a flank must be at most this (saturating)
    k = stroke_px + 1

    def side(horizontal: bool, before: bool) -> np.ndarray:
        return cv2.compare(_flank_min(luma, k, horizontal, before), limit, cv2.CMP_LE)

    h = cv2.bitwise_and(side(True, True), side(True, False))
    v = cv2.bitwise_and(side(False, True), side(False, False))
    stroke = cv2.bitwise_or(h, v)
    stroke &= cv2.compare(value, bright, cv2.CMP_GE)
    stroke = (stroke > 0).view(np.uint8)
    if outline_px > 0:
        stroke = cv2.dilate(stroke, _disk(outline_px))
    return stroke


_K3 = np.ones((3, 3), np.uint8)
_KX = np.ones((1, 3), np.uint8)
_KY = np.ones((3, 1), np.uint8)


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _drop_specks(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Remove 8-connected components smaller than min_area pixels."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    return keep[labels]


def _exclusion(h: int, w: int, rects: list[Rect]) -> np.ndarray:
    """Bool [H, W]: True inside any exclusion rectangle."""
    out = np.zeros((h, w), bool)
    for x, y, rw, rh in rects:
        out[max(0, y):max(0, y + rh), max(0, x):max(0, x + rw)] = True
    return out


def _enclosed_cue(rgb: np.ndarray, bright: int, contrast: int, stroke_px: int,
                  reach: int = 0) -> np.ndarray:
    """Enclosed-stroke pixels, bool [H, W]: max channel >= ``bright`` with a pixel whose
    max channel is >= ``contrast`` lower within ``stroke_px`` on both sides across the
    stroke *and* within ``reach`` (at least stroke_px) on both sides along it,
    horizontally or vertically. An outlined glyph's body is closed on all sides; scene
    strokes (railings, edges a pan leaves persistent) are open along their length. The
    max channel on the flanks too, so a saturated colour is not its own "dark" flank.
    """
    value = _max_channel(np.ascontiguousarray(rgb))
    limit = cv2.subtract(value, contrast)
    k = stroke_px + 1

    def closed(hz: bool, kk: int) -> np.ndarray:
        return cv2.bitwise_and(cv2.compare(_flank_min(value, kk, hz, True), limit, cv2.CMP_LE),
                               cv2.compare(_flank_min(value, kk, hz, False), limit, cv2.CMP_LE))

    out = cv2.compare(value, bright, cv2.CMP_GE)
    if reach <= stroke_px:
        return (out & closed(True, k) & closed(False, k)) > 0
    kr = reach + 1
    either = cv2.bitwise_or(closed(True, k) & closed(False, kr), closed(False, k) & closed(True, kr))
    return (out & either) > 0


def filled_bodies(rgb: np.ndarray, near: np.ndarray, allowed: np.ndarray, bright: int, contrast: int,
                  span: int, ring: float, min_area: int, holes: bool = False) -> np.ndarray:
    """Filled icon bodies beside detected glyphs, bool [H, W].

    The glyph cue wants a dark outline within ``stroke_px`` on both sides of a stroke, so
    a filled icon wider than that (a battery, a coloured RSSI or GPS symbol) keeps only its
    thin parts, and every fill smears the rest back in. A body here is a 4-connected
    component of bright (max channel >= ``bright``), ``allowed`` pixels outside ``near``
    (the detected glyphs) that touches ``near``, is at least ``min_area`` pixels and fits in
    ``span`` x ``span`` (one OSD cell), and is closed in by the icon's outline: at least
    ``ring`` of the pixels around it, outside ``near``, lie within 1 px of a pixel
    ``contrast`` darker than the body's median. A bright patch of scene beside a glyph is
    open on some side, or larger than a cell.
    """
    out = np.zeros(near.shape, bool)
    value = _max_channel(np.ascontiguousarray(rgb))
    body = (value >= bright) & allowed & ~near
    if span < 2 or not body.any():
        return out
    n, labels, stats, _ = cv2.connectedComponentsWithStats(body.view(np.uint8), connectivity=4)
    beside = np.zeros(n, bool)
    beside[labels[cv2.dilate(near.view(np.uint8), _K3).view(bool) & body]] = True
    w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    beside &= (w <= span) & (h <= span) & (stats[:, cv2.CC_STAT_AREA] >= min_area)
    beside[0] = False
    luma = _luma(np.ascontiguousarray(rgb))
    hh, ww = near.shape
    for i in np.flatnonzero(beside):
        x, y, w, h = (int(v) for v in stats[i, :4])
        sl = (slice(max(0, y - 2), min(hh, y + h + 2)), slice(max(0, x - 2), min(ww, x + w + 2)))
        comp = labels[sl] == i
        around = cv2.dilate(comp.view(np.uint8), _K3).view(bool) & ~comp & ~near[sl]
        level = float(np.median(value[sl][comp])) - contrast
        dark = cv2.dilate((luma[sl] <= level).view(np.uint8), _K3).view(bool)
        if (dark[around].mean() >= ring) if around.any() else holes:
            out[sl] |= comp
    return out


def _glyph_components(cand: np.ndarray, glyph: np.ndarray, c: AutoMaskConfig,
                      hv: np.ndarray | None = None) -> np.ndarray:
    """Components of ``cand`` shaped like OSD glyphs / text: holding glyph-cue pixels,
    no taller than ``max_line_frac`` of the frame, not long thin scene lines.

    With ``hv`` (enclosed-stroke pixels, :func:`_enclosed_cue`) only *anchors* are kept,
    i.e. the part of a component within ``trim_px`` of its hv pixels, holding at least
    ``min_hv`` of them and filling at least ``min_fill`` of its box, plus the components
    lying on a text line of anchors (:func:`_on_anchor_line`)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cand.view(np.uint8), 8)
    hh, ww = cand.shape
    hits = np.bincount(labels[glyph & cand], minlength=n)
    w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    area = stats[:, cv2.CC_STAT_AREA]
    keep = (hits >= c.min_glyph_px) & (h <= c.max_line_frac * hh) & (w <= 0.3 * ww)
    keep &= ~((w >= 6 * h) & (area < 3 * w))  # thin horizontal lines
    keep &= ~((h >= 6 * w) & (area < 3 * h))
    keep[0] = False
    base = keep[labels]
    if hv is None:
        return base
    # Trimming cuts scene edges (pan streaks, a tracked car) off a glyph they touch.
    trimmed = base
    if c.trim_px > 0:
        trimmed = base & cv2.dilate((hv & base).view(np.uint8), _disk(c.trim_px)).view(bool)
    n2, lab2, st2, _ = cv2.connectedComponentsWithStats(trimmed.view(np.uint8), 8)
    w2, h2, a2 = st2[:, 2], st2[:, 3], st2[:, 4]
    anchor = np.bincount(lab2[hv & trimmed], minlength=n2) >= c.min_hv
    anchor &= (a2 >= c.min_fill * w2 * h2) & (a2 >= c.min_area)
    anchor[0] = False
    on_line = _on_anchor_line(stats, st2, anchor, c) & keep
    return anchor[lab2] | on_line[labels]


def _on_anchor_line(stats: np.ndarray, astats: np.ndarray, anchor: np.ndarray,
                    c: AutoMaskConfig) -> np.ndarray:
    """Bool per component of ``stats``: its box lies on a text line of anchor components
    (``astats`` rows where ``anchor``): inside the line's rows (+-2 px) and within
    ``box_extend`` line heights of its ends. Faint glyphs and punctuation beside a clear
    glyph are kept; a scene edge is rarely exactly one text line tall."""
    out = np.zeros(len(stats), bool)
    x, y, w, h = (stats[:, i].astype(np.int64) for i in range(4))
    p = 2
    for x0, y0, x1, y1 in _anchor_lines(astats, anchor, c):
        e = c.box_extend * (y1 - y0)
        ov = np.minimum(y + h, y1) - np.maximum(y, y0)  # rows shared with the line
        out |= ((ov >= 0.5 * h) & (h <= c.rescue_h * (y1 - y0) + p)
                & (x + w >= x0 - e) & (x <= x1 + e))
    return out


def _anchor_lines(astats: np.ndarray, anchor: np.ndarray,
                  c: AutoMaskConfig) -> list[tuple[int, int, int, int]]:
    """Text lines (x0, y0, x1, y1) of anchor components: joined left to right while their
    rows overlap by half a glyph and the gap is at most ``line_gap_px``."""
    idx = np.flatnonzero(anchor)
    ax, ay, aw, ah = (astats[:, i].astype(np.int64) for i in range(4))
    lines: list[list[int]] = []  # [x0, y0, x1, y1] per line, grown in place
    for i in idx[np.argsort(ax[idx], kind="stable")]:
        x0, y0, x1, y1 = int(ax[i]), int(ay[i]), int(ax[i] + aw[i]), int(ay[i] + ah[i])
        for ln in lines:
            if x0 - ln[2] <= c.line_gap_px and min(ln[3], y1) - max(ln[1], y0) > 0.5 * (y1 - y0):
                ln[1], ln[2], ln[3] = min(ln[1], y0), max(ln[2], x1), max(ln[3], y1)
                break
        else:
            lines.append([x0, y0, x1, y1])
    return [(x0, y0, x1, y1) for x0, y0, x1, y1 in lines]


def _touching(mask: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Components of ``mask`` that share at least one pixel with ``other``."""
    if not mask.any():
        return mask
    n, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[other & mask])] = True
    keep[0] = False
    return keep[labels]


def _boxes_of(mask: np.ndarray) -> list[Rect]:
    """Bounding rectangles (x, y, w, h) of the connected components of a bool mask."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), 8)
    return [tuple(int(v) for v in stats[i, :4]) for i in range(1, n)]


# ------------------------------------------------------------------------- metrics


def mask_recall_precision(pred: np.ndarray, gt: np.ndarray, tol_px: int = 2) -> tuple[float, float]:
    """(recall, precision) of overlay pixels at ``tol_px`` tolerance.

    Recall: fraction of GT pixels within tol of a predicted pixel. Precision: fraction of
    predicted pixels within tol of a GT pixel. Empty sets count as 1.0.
    """
    pred, gt = pred.astype(bool), gt.astype(bool)
    k = _disk(tol_px)
    near_pred = cv2.dilate(pred.view(np.uint8), k).view(bool)
    near_gt = cv2.dilate(gt.view(np.uint8), k).view(bool)
    recall = float((gt & near_pred).sum() / gt.sum()) if gt.any() else 1.0
    precision = float((pred & near_gt).sum() / pred.sum()) if pred.any() else 1.0
    return recall, precision
