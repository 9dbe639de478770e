"""Synthetic camera motion over a still: pan, zoom and roll, as an FPV camera moves.

Most clean footage here comes from fixed or slow cameras, while FPV footage is mostly
ego-motion under a static OSD. Warping one frame along a smooth random trajectory gives
clips where the background moves under the overlay, so the recurrent state can learn to
use pixels that an earlier frame showed.
"""

from __future__ import annotations

import cv2
import numpy as np


# Camera kinds: a still camera (a tripod, a hover: no frame ever shows what the OSD hides) and
# a slow drift are where a fill has the least to carry, so a model must see them too.
CAMERA_SPEED = {"still": 0.0, "drift": 0.1, "fast": 1.0}


def motion_params(rng: np.random.Generator, frames: int, height: int, width: int, kind: str = "fast") -> np.ndarray:
    """Per-frame ``(dx, dy, log_zoom, roll_deg)``, ``[frames, 4]``: constant velocity plus jitter,
    both scaled by ``kind`` (:data:`CAMERA_SPEED`)."""
    size = min(height, width)
    velocity = np.array(
        [
            rng.normal(0.0, 0.03 * size),  # px per frame (fast pans are common in FPV)
            rng.normal(0.0, 0.015 * size),
            rng.normal(0.0, 0.01),  # zoom 1 %/frame: flying forward
            rng.normal(0.0, 0.8),  # roll in degrees per frame
        ]
    )
    jitter = rng.normal(0.0, 1.0, (frames, 4)) * np.array([0.004 * size, 0.004 * size, 0.002, 0.15])
    t = np.arange(frames)[:, None] - (frames - 1) / 2.0
    return CAMERA_SPEED[kind] * (t * velocity + jitter)


def warp_matrix(params: np.ndarray, height: int, width: int, out_h: int, out_w: int) -> np.ndarray:
    """2x3 affine taking output pixels to source pixels for one frame's ``(dx, dy, log_zoom, roll)``."""
    dx, dy, log_zoom, roll = params
    m = cv2.getRotationMatrix2D((out_w / 2.0, out_h / 2.0), float(roll), float(np.exp(-log_zoom)))
    # Centre the output window on the source centre, shifted by the pan.
    m[0, 2] += (width - out_w) / 2.0 + dx
    m[1, 2] += (height - out_h) / 2.0 + dy
    return m


def camera_motion(image: np.ndarray, frames: int, rng: np.random.Generator, out_hw: tuple[int, int], kind: str = "fast") -> np.ndarray:
    """A ``[frames, out_h, out_w, 3]`` clip flying over ``image`` (uint8 ``[H, W, 3]``).

    ``out_hw`` should be smaller than the image (e.g. 0.8x) so most warps stay inside it;
    what falls outside is mirrored rather than black, since black borders never occur in FPV.
    """
    h, w = image.shape[:2]
    out_h, out_w = out_hw
    params = motion_params(rng, frames, out_h, out_w, kind)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return np.stack(
        [cv2.warpAffine(image, warp_matrix(p, h, w, out_h, out_w), (out_w, out_h), flags=flags, borderMode=cv2.BORDER_REFLECT_101) for p in params]
    )
