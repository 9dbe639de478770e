"""Classical fills put inside the mask before the network sees a frame.

The network (``ModelConfig.residual``) learns a correction of this fill rather than
drawing pixels from nothing, so even a briefly trained model starts at the classical
quality (FINDINGS.md: thin glyph strokes are easy for Telea).
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

Prefill = Callable[[np.ndarray, np.ndarray], np.ndarray]


def telea(image: np.ndarray, mask: np.ndarray, radius: int = 3) -> np.ndarray:
    """OpenCV Telea inpainting of ``mask`` (bool [H, W]) in ``image`` (uint8 [H, W, 3])."""
    if not mask.any():
        return image
    return cv2.inpaint(image, mask.astype(np.uint8), radius, cv2.INPAINT_TELEA)


def keep(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """No fill: the network sees the overlaid pixels (the write-up's original input)."""
    return image


PREFILLS: dict[str, Prefill] = {"telea": telea, "none": keep}


def get_prefill(name: str) -> Prefill:
    try:
        return PREFILLS[name]
    except KeyError:
        raise ValueError(f"unknown prefill {name!r}; choose from {sorted(PREFILLS)}") from None
