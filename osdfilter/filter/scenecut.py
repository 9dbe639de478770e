"""Scene cuts: where the recurrent state and the temporal fill's memory must start over.

A cut is a new shot: the colours change (HSV histogram, Bhattacharyya distance on 64x36
thumbnails) *and* the picture does not match the previous one under any small shift (mean
abs difference after the best shift of up to 3 thumbnail pixels, about 5% of the width).
Both are required. A large compensated difference alone is what fast camera motion gives
(FPV, drift, handheld action), and a false cut costs more than a missed one: it throws
away the background memory and the recurrent state on a frame where both were good,
while after a missed cut the fill's ring check rejects the stale memory by itself.

Measured on the clean clips (``benchmarks/scenecut.py``: 26 clips, 8,005 frame pairs,
25 annotated cuts): the former rule (the difference alone when above twice its threshold)
finds 22 cuts with 74 false ones (63 in a fast handheld battle scene, 8 in the drift
clip); requiring the colour change finds the same 22 with 25 false ones.
"""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

THUMB = (64, 36)  # (width, height) the cues are computed on
HIST_THRESH = 0.25  # Bhattacharyya distance of the HSV histograms
DIFF_THRESH = 14.0  # mean abs difference (0-255) after the best shift
MAX_SHIFT = 3  # thumbnail px searched in each direction


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """The 64x36 thumbnail the cues use (uint8 RGB): halved (2x2 means) while at least 4x
    the thumbnail, then an area resize. One area resize from the full frame costs 2-8 ms at
    480p-1080p (OpenCV's generic path); this costs 0.5-1.4 ms, within 0.4-0.7 levels on average."""
    w, h = THUMB
    while frame.shape[1] >= 4 * w and frame.shape[0] >= 4 * h:
        frame = cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(frame, THUMB, interpolation=cv2.INTER_AREA)


def colour_histogram(thumb: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(thumb, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [8, 4, 8], [0, 180, 0, 256, 0, 256])
    return cv2.normalize(hist, hist).flatten()


def shifted_difference(a: np.ndarray, b: np.ndarray, r: int = MAX_SHIFT) -> float:
    """Smallest mean abs difference of two thumbnails over shifts of up to ``r`` px."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    h, w = a.shape[:2]
    best = float(np.abs(a - b).mean())
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            pa = a[max(0, dy) : h + min(0, dy), max(0, dx) : w + min(0, dx)]
            pb = b[max(0, -dy) : h + min(0, -dy), max(0, -dx) : w + min(0, -dx)]
            best = min(best, float(np.abs(pa - pb).mean()))
    return best


def cut_scores(prev: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """(histogram distance 0..1, shift-compensated difference 0..255) of two frames or thumbnails."""
    ta, tb = thumbnail(prev), thumbnail(cur)
    dist = cv2.compareHist(colour_histogram(ta), colour_histogram(tb), cv2.HISTCMP_BHATTACHARYYA)
    return float(dist), shifted_difference(ta, tb)


def is_cut(prev: np.ndarray, cur: np.ndarray) -> bool:
    """Whether ``cur`` starts a new shot after ``prev`` (uint8 RGB frames of one size)."""
    detector = SceneCutDetector()
    detector(prev)
    return detector(cur)


class SceneCutDetector:
    """Streaming: call on each frame in order; True where a frame starts a new shot.

    Keeps the previous frame's thumbnail and histogram, so each frame is shrunk and
    histogrammed once; the 49-shift search runs only when the colours changed.
    """

    def __init__(self) -> None:
        self._prev: Optional[tuple[np.ndarray, np.ndarray]] = None

    def __call__(self, frame: np.ndarray) -> bool:
        thumb = thumbnail(frame)
        hist = colour_histogram(thumb)
        prev, self._prev = self._prev, (thumb, hist)
        if prev is None:
            return False
        if cv2.compareHist(prev[1], hist, cv2.HISTCMP_BHATTACHARYYA) <= HIST_THRESH:
            return False
        return shifted_difference(prev[0], thumb) > DIFF_THRESH
