"""The tile plan: fixed regions over a frame that cover a mask, where the model runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np


Region = tuple[int, int, int, int]  # (y, x, h, w) of a core in frame pixels


@dataclass(frozen=True)
class TilePlan:
    """Fixed regions over a frame that the model runs on. ``cores`` are ``(y, x, h, w)``
    rectangles (sides multiples of 8) that together cover the mask; each is run with
    ``context`` pixels of surroundings, as a crop of ``(h + 2 context, w + 2 context)``.

    Regions of one shape form a group: the model runs once per group and chunk, all its
    regions batched, each keeping its own recurrent state.
    """

    height: int
    width: int
    tile: int  # largest core side
    context: int
    cores: tuple[Region, ...]

    def __len__(self) -> int:
        return len(self.cores)

    @property
    def pixels(self) -> int:
        """Pixels the model processes per frame (crops, context included)."""
        c = 2 * self.context
        return sum((h + c) * (w + c) for _, _, h, w in self.cores)

    def groups(self) -> list[tuple[tuple[int, int], list[int]]]:
        """``[((crop_h, crop_w), [region indices])]``, in first-appearance order."""
        out: dict[tuple[int, int], list[int]] = {}
        for i, (_, _, h, w) in enumerate(self.cores):
            out.setdefault((h + 2 * self.context, w + 2 * self.context), []).append(i)
        return list(out.items())


def _round8(n: int) -> int:
    return -(-n // 8) * 8


def _fit(y: int, x: int, h: int, w: int, height: int, width: int) -> Region:
    """Core of at least ``h x w`` (rounded up to 8) at (y, x), moved inside the frame."""
    h, w = _round8(max(h, 8)), _round8(max(w, 8))
    return max(0, min(y, height - h)), max(0, min(x, width - w)), h, w


def plan_tiles(mask: np.ndarray, tile: int, context: int) -> TilePlan:
    """Regions covering every True pixel of ``mask``; positions fixed for the whole video,
    so each region keeps its own recurrent state.

    An OSD is a few text lines and icons, so the crops follow the mask's components rather
    than a square grid: a component fitting in ``tile x tile`` gets one core around its
    bounding box (a 12 px text line is not run as a 64 px square); a larger one is cut
    into ``tile``-sized cells, each shrunk to the mask inside it. Regions whose crops
    would overlap are merged while the merged crop costs no more pixels than the two,
    so shared context is not computed twice. Measured on the benchmark layouts (480p,
    720p): about half the pixels of a square 64 + 2x16 grid.
    """
    h, w = mask.shape
    m8 = mask.astype(np.uint8)
    boxes: list[tuple[int, int, int, int]] = []  # (y0, x0, y1, x1) of mask content
    _, _, stats, _ = cv2.connectedComponentsWithStats(m8, connectivity=8)
    for x0, y0, bw, bh, _area in stats[1:].tolist():
        for cy in range(y0, y0 + bh, tile):
            for cx in range(x0, x0 + bw, tile):
                cell = m8[cy : min(cy + tile, y0 + bh), cx : min(cx + tile, x0 + bw)]
                ys, xs = np.nonzero(cell)
                if len(ys):
                    boxes.append((cy + int(ys.min()), cx + int(xs.min()), cy + int(ys.max()) + 1, cx + int(xs.max()) + 1))
    boxes = _merge(boxes, context)
    cores = sorted(_fit(y0, x0, y1 - y0, x1 - x0, h, w) for y0, x0, y1, x1 in boxes)
    return TilePlan(h, w, tile, context, tuple(cores))


def _merge(boxes: list[tuple[int, int, int, int]], context: int) -> list[tuple[int, int, int, int]]:
    """Greedily merge boxes whose merged crop has no more pixels than their two crops."""
    def cost(b: tuple[int, int, int, int]) -> int:
        return (_round8(b[2] - b[0]) + 2 * context) * (_round8(b[3] - b[1]) + 2 * context)

    boxes = list(boxes)
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                u = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                if cost(u) <= cost(a) + cost(b):
                    boxes[i] = u
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return boxes


def pad_for_tiles(image: np.ndarray, plan: TilePlan) -> np.ndarray:
    """Pad an ``[H, W, ...]`` image so every crop of ``plan`` lies inside (reflected borders).

    The crop of core ``(y, x, h, w)`` is then ``padded[y : y + h + 2c, x : x + w + 2c]``.
    """
    c = plan.context
    extra_h = max([0] + [ch - plan.height for _, _, ch, _ in plan.cores])
    extra_w = max([0] + [cw - plan.width for _, _, _, cw in plan.cores])
    return cv2.copyMakeBorder(image, c, c + extra_h, c, c + extra_w, cv2.BORDER_REFLECT_101)


def _crop_part(core: Region, context: int, height: int, width: int) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """The part of ``core``'s crop (the core grown by ``context``) inside an image of
    ``height`` x ``width``, ``(y0, y1, x0, x1)``, and the padding the crop needs around it
    (top, bottom, left, right)."""
    y, x, h, w = core
    top, left, bottom, right = y - context, x - context, y + h + context, x + w + context
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(bottom, height), min(right, width)
    return (y0, y1, x0, x1), (y0 - top, bottom - y1, x0 - left, right - x1)


def _reflects_beyond(part: tuple[int, int, int, int], pads: tuple[int, int, int, int]) -> bool:
    """Whether reflecting ``part`` by ``pads`` reaches pixels outside it."""
    y0, y1, x0, x1 = part
    return max(pads[:2]) >= y1 - y0 or max(pads[2:]) >= x1 - x0


def crop_sources(plan: TilePlan) -> Optional[list[tuple[int, int, int, int]]]:
    """The image rectangles ``(y0, y1, x0, x1)`` that :func:`plan_crop` reads, one per core;
    None where a crop reflects pixels from beyond its own rectangle (it pads the whole image)."""
    out = []
    for core in plan.cores:
        part, pads = _crop_part(core, plan.context, plan.height, plan.width)
        if _reflects_beyond(part, pads):
            return None
        out.append(part)
    return out


def plan_crop(image: np.ndarray, plan: TilePlan, core: tuple[int, int, int, int]) -> np.ndarray:
    """The crop of ``core`` (``(y, x, h, w)`` of ``plan``) from ``image`` as
    :func:`pad_for_tiles` would give it, without padding the whole image: a view when the
    crop lies inside, else only the crop is padded (bit-identical: both reflect about the
    image's edge, and the reflected pixels lie inside the crop's part of the image)."""
    y, x, h, w = core
    c = plan.context
    (y0, y1, x0, x1), pads = _crop_part(core, c, image.shape[0], image.shape[1])
    if not any(pads):
        return image[y0:y1, x0:x1]
    if _reflects_beyond((y0, y1, x0, x1), pads):
        return pad_for_tiles(image, plan)[y : y + h + 2 * c, x : x + w + 2 * c]
    return cv2.copyMakeBorder(image[y0:y1, x0:x1], *pads, cv2.BORDER_REFLECT_101)
