"""``FilterConfig.steady``: a network's restored pixels held to the fill's steps.

Where the camera is still, a restored pixel moves from one frame to the next at most
``steady`` times as far as the fill under it did: a still scene settles as the fill does,
instead of shimmering where codec noise tips the network between the recorded pixel and
the fill. Where it pans slowly (``steady_motion``), the same along the motion: the previous
frame's fill and output are first moved with the group's fitted motion (per tile crop).

The filter (:mod:`osdfilter.filter.core`) holds the previous frame per region shape and
calls :func:`steady_chunk` on each chunk the model restored.
"""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from .lookahead import box_shift, is_still
from .tiles import TilePlan

# Per region: ``((y0, y1, x0, x1), M)``: a rectangle of the region's crop and the 2x3 map from
# its pixels to where they were in the previous frame's crop, None where they did not move
# (``Prepared.motion``).
CropMotion = list[tuple[tuple[int, int, int, int], Optional[np.ndarray]]]
Held = tuple[np.ndarray, np.ndarray]  # the previous frame's fill and output, [regions, 3, h, w]


def crop_motion(motion: list[tuple[tuple[int, int, int, int], np.ndarray]], limit: Optional[float], plan: TilePlan,
                groups: list) -> Optional[list[list[CropMotion]]]:
    """Per region shape (``plan.groups()``), per region: the fill's groups of known motion
    (:attr:`Filled.motion`: box and 3x3 motion to the previous frame) that did not move, or
    (``limit`` not None) whose box moved by at most ``limit`` px, in each crop they overlap;
    None where none did."""
    kept = []  # (box, None where it did not move, else its motion)
    for box, A in motion:
        if is_still(A):
            kept.append((box, None))
        elif limit is not None and box_shift(box, A) <= limit:
            kept.append((box, A))
    if not kept:
        return None
    c = plan.context
    out = []
    for (ch, cw), idx in groups:
        per = []
        for i in idx:
            oy, ox = plan.cores[i][0] - c, plan.cores[i][1] - c  # the crop's origin in the frame
            to_frame, to_crop = np.eye(3), np.eye(3)
            to_frame[:2, 2], to_crop[:2, 2] = (ox, oy), (-ox, -oy)
            parts = []
            for (x0, y0, x1, y1), A in kept:
                r = (max(y0 - oy, 0), min(y1 - oy, ch), max(x0 - ox, 0), min(x1 - ox, cw))
                if r[0] < r[1] and r[2] < r[3]:
                    parts.append((r, None if A is None else (to_crop @ A @ to_frame)[:2]))
            per.append(parts)
        out.append(per)
    return out


def steady_chunk(held: Optional[Held], x: np.ndarray, y: np.ndarray, steady: float,
                 motion: Optional[list[Optional[list[CropMotion]]]]) -> Held:
    """One region shape's restored chunk ``y`` (``[regions, T, 3, h, w]``, in place) held,
    frame by frame from ``held``, to its fill ``x[:, :, :3]``: where ``motion`` (per frame,
    per region) says the camera did not move, each pixel's step is clipped, colour by colour,
    to ``steady`` times its fill's step; where it moved, the same with the previous frame's
    fill and output moved along the motion. Returns the last frame (copied: the chunk's
    buffers are not kept)."""
    for t in range(x.shape[1]):
        fill = x[:, t, :3]
        if held is not None and motion is not None and motion[t] is not None:
            _clip_steps(fill, y[:, t], held, steady, motion[t])
        held = (fill, y[:, t])
    return held[0].copy(), held[1].copy()


def _clip_steps(fill: np.ndarray, out: np.ndarray, held: Held, steady: float, motion: list[CropMotion]) -> None:
    """One frame of :func:`steady_chunk`: ``out`` (``[regions, 3, h, w]``, in place) against
    ``held``."""
    ref_fill, ref_out = held
    ok = np.zeros((fill.shape[0], *fill.shape[2:]), bool)
    if any(M is not None for parts in motion for _, M in parts):
        ref_fill, ref_out = ref_fill.copy(), ref_out.copy()
    h, w = fill.shape[2:]
    for k, parts in enumerate(motion):
        for (y0, y1, x0, x1), M in parts:
            if M is None:  # not moved: the previous frame's pixels as they are
                ok[k, y0:y1, x0:x1] = True
                continue
            v, u = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            M = M.astype(np.float32)
            mx, my = M[0, 0] * u + M[0, 1] * v + M[0, 2], M[1, 0] * u + M[1, 1] * v + M[1, 2]
            inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
            for src, dst in ((held[0][k], ref_fill[k]), (held[1][k], ref_out[k])):
                moved = cv2.remap(np.ascontiguousarray(src.transpose(1, 2, 0)), mx, my, cv2.INTER_LINEAR)
                dst[:, y0:y1, x0:x1][:, inside] = moved.transpose(2, 0, 1)[:, inside]
            ok[k, y0:y1, x0:x1] |= inside
    lim = np.abs(fill - ref_fill)
    lim *= np.float32(steady)
    lim[np.broadcast_to(~ok[:, None], lim.shape)] = np.inf
    step = out - ref_out
    over = np.abs(step) > lim
    if over.any():  # (only there: elsewhere the output stays bit for bit what it was)
        np.clip(step, -lim, lim, out=step)
        out[over] = (ref_out + step)[over]
