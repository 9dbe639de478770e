"""Mask images: loading, dilation, feathering.

A mask is a bool array ``[H, W]`` at the video's resolution, True where the overlay is.
"""

from __future__ import annotations

import os
from typing import Union

import cv2
import numpy as np

from ..errors import MaskError

PathLike = Union[str, os.PathLike]


def load_mask(path: PathLike, height: int, width: int) -> np.ndarray:
    """Read a PNG/JPG mask (white = overlay), resize it to ``height x width``, threshold at 50%."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MaskError(f"mask file not found: {path}")
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise MaskError(f"cannot read mask image: {path}")
    top = float(np.iinfo(img.dtype).max if img.dtype.kind == "u" else 1.0)
    if img.ndim == 3:
        gray = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2GRAY).astype(np.float32) / top
        if img.shape[2] == 4:
            # Painted on a transparent layer: only the opaque white counts (an editor may keep
            # any colour under transparent pixels), and alpha alone where the colour is black.
            alpha = img[..., 3].astype(np.float32) / top
            gray = alpha if img[..., :3].max() == 0 else gray * alpha
    else:
        gray = img.astype(np.float32) / top
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
