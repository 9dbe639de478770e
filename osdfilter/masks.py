"""Mask images: loading, dilation, feathering, and the tile plan that covers a mask.

A mask is a bool array ``[H, W]`` at the video's resolution, True where the overlay is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Union

import cv2
import numpy as np

from .errors import MaskError

PathLike = Union[str, os.PathLike]


def load_mask(path: PathLike, height: int, width: int) -> np.ndarray:
    """Read a PNG/JPG mask (white = overlay), resize it to ``height x width``, threshold at 50%."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MaskError(f"mask file not found: {path}")
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise MaskError(f"cannot read mask image: {path}")
    if img.ndim == 3:
        # Alpha-only masks (painted on a transparent layer) count too.
        gray = img[..., 3] if img.shape[2] == 4 and img[..., :3].max() == 0 else cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2GRAY)
    else:
        gray = img
    gray = gray.astype(np.float32) / float(np.iinfo(img.dtype).max if img.dtype.kind == "u" else 1.0)
    if gray.shape != (height, width):
        gray = cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA)
    mask = gray >= 0.5
    if not mask.any():
        raise MaskError(f"mask is empty (no white pixels): {path}")
    if mask.mean() > 0.9:
        raise MaskError(f"mask covers {mask.mean():.0%} of the frame; white must mark only the overlay: {path}")
    return mask


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def dilate(mask: np.ndarray, px: int) -> np.ndarray:
    """Grow a bool mask by ``px`` pixels (disk); outlines and codec ringing sit just outside glyphs."""
    if px <= 0:
        return mask.copy()
    return cv2.dilate(mask.astype(np.uint8), _disk(int(px))).astype(bool)


def feather(mask: np.ndarray, px: float) -> np.ndarray:
    """Alpha in [0, 1]: 1 on ``mask``, falling to 0 within about ``px`` pixels outside it."""
    alpha = mask.astype(np.float32)
    if px <= 0:
        return alpha
    k = 2 * int(np.ceil(2 * px)) + 1
    soft = cv2.GaussianBlur(alpha, (k, k), px / 1.5)
    # max(): the mask itself stays fully replaced; only the outside edge is blended.
    return np.maximum(alpha, np.clip(2.0 * soft, 0.0, 1.0))


@dataclass(frozen=True)
class TilePlan:
    """Fixed tile positions over a frame. ``cores`` are (y, x) of ``tile x tile`` squares that
    together cover the mask; each is run with ``context`` pixels of surroundings."""

    height: int
    width: int
    tile: int
    context: int
    cores: tuple[tuple[int, int], ...]

    @property
    def crop(self) -> int:
        return self.tile + 2 * self.context

    def __len__(self) -> int:
        return len(self.cores)


def plan_tiles(mask: np.ndarray, tile: int, context: int) -> TilePlan:
    """Cover every True pixel of ``mask`` with ``tile``-sized cores, bounding box by bounding box.

    Positions are fixed for the whole video, so each tile keeps its own recurrent state.
    """
    h, w = mask.shape
    cores: list[tuple[int, int]] = []
    covered = np.zeros_like(mask, dtype=bool)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    for x0, y0, bw, bh, _area in sorted(stats[1:].tolist(), key=lambda s: (s[1], s[0])):
        for y in range(y0, y0 + bh, tile):
            for x in range(x0, x0 + bw, tile):
                cy, cx = max(0, min(y, h - tile)), max(0, min(x, w - tile))
                region = mask[cy : cy + tile, cx : cx + tile] & ~covered[cy : cy + tile, cx : cx + tile]
                if region.any():
                    cores.append((cy, cx))
                    covered[cy : cy + tile, cx : cx + tile] = True
    return TilePlan(h, w, tile, context, tuple(cores))


def pad_for_tiles(image: np.ndarray, plan: TilePlan) -> np.ndarray:
    """Pad an ``[H, W, ...]`` image so every crop of ``plan`` lies inside (reflected borders).

    Crop ``i`` is then ``padded[y : y + crop, x : x + crop]`` for core ``(y, x)``.
    """
    c = plan.context
    extra_h = max(0, plan.tile - plan.height)
    extra_w = max(0, plan.tile - plan.width)
    return cv2.copyMakeBorder(image, c, c + extra_h, c, c + extra_w, cv2.BORDER_REFLECT_101)
