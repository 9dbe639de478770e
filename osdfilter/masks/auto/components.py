"""Second stage of the static-camera path of ``--mask auto``: keep or drop whole components.

The pixel classifier (:mod:`osdfilter.masks.auto.classifier`) sees about one glyph cell around a
pixel. What it keeps still holds far more scene than OSD on a static camera (railings,
leaves, roofs: precision ~0.1, docs/automask.md). This stage looks at each 8-connected
component of what it kept as a whole, with what a pixel cannot see: the classifier's
statistics over the component, its shape, its colour, where it sits in the frame, and its
text line (other kept components on the same rows with a similar height nearby: OSD
elements are rows of equal-height cells). A 16-unit MLP scores each component; components
scored below the threshold are dropped.

Weights and threshold are a data file of the package, ``weights/automask_components.json``
(plain numbers, a few KB), written by :mod:`osdfilter.train.automask.components` from the
``clean/train`` clips and the training fonts (never the eval clips or the held-out
``walksnail`` font)::

    python -m osdfilter.train.automask.components --clips ../shared/data/clean/train \\
        --fonts ../shared/data/fonts --exclude-fonts walksnail --cases 12 --jobs 2 \\
        --out osdfilter/weights/automask_components.json

The threshold is not tuned on the benchmark: the command cross-validates over the train
clips (two folds split by clip) and takes the highest threshold that still keeps
``--keep`` (98 %) of the held-out overlay area.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files
from typing import Optional

import cv2
import numpy as np

FEATURES = (
    "p_mean", "p_max", "p_hi", "log_area", "log_h", "log_w", "fill", "aspect", "std", "cue",
    "bright", "sat", "dark", "edge_x", "edge_y", "centre", "line_n", "line_p", "line_log_n",
)
WEIGHTS = "automask_components.json"  # in the package's weights/ folder


def component_features(feat: np.ndarray, prob: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per 8-connected component of ``keep`` (bool [h, w]): features float32 [n, len(FEATURES)]
    and the label image int32 [h, w] (0 = background, component i is label i + 1).

    ``feat``: the pixel classifier's input (:func:`osdfilter.masks.auto.classifier.features`),
    ``prob``: its output, both at the detector's working resolution.
    """
    h, w = keep.shape
    n, lab, st, cen = cv2.connectedComponentsWithStats(keep.astype(np.uint8), connectivity=8)
    n -= 1  # without the background
    if n == 0:
        return np.zeros((0, len(FEATURES)), np.float32), lab
    at = np.flatnonzero(keep.ravel())  # statistics over the kept pixels only
    ids = lab.ravel()[at] - 1
    st, cen = st[1:].astype(np.float64), cen[1:]
    area, bw, bh = st[:, cv2.CC_STAT_AREA], st[:, cv2.CC_STAT_WIDTH], st[:, cv2.CC_STAT_HEIGHT]

    def mean(values: np.ndarray) -> np.ndarray:
        return np.bincount(ids, values.astype(np.float64), minlength=n) / area

    p = prob.ravel()[at]
    p_max = np.zeros(n)
    np.maximum.at(p_max, ids, p)
    rgb = feat[:3].reshape(3, -1)[:, at].astype(np.float32)  # mean image, 0..1
    hi, lo = rgb.max(0), rgb.min(0)
    luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    p_mean = mean(p)
    cx, cy = cen[:, 0] / w, cen[:, 1] / h
    line_n, line_p = _line_context(st, p_mean)
    x = np.stack([
        p_mean, p_max, mean(p >= 0.5),
        np.log(area), np.log(bh), np.log(bw), area / (bw * bh), np.log(bw / bh),
        mean(feat[3].ravel()[at]), mean(feat[4].ravel()[at]),
        mean(hi >= 0.7), mean((hi - lo) / np.maximum(hi, 1e-3)), mean(luma <= 0.25),
        np.minimum(cx, 1 - cx), np.minimum(cy, 1 - cy), np.hypot(cx - 0.5, (cy - 0.5) * h / w),
        np.minimum(line_n, 8) / 8.0, line_p, np.log1p(line_n),
    ], 1)
    return x.astype(np.float32), lab


def _line_context(st: np.ndarray, p_mean: np.ndarray, block: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Per component (``st``: OpenCV stats rows, background dropped): how many others lie on
    its text line, i.e. share half the shorter one's rows, are at most 1.6x taller or
    shorter and at most 4 heights apart along the row; and the highest ``p_mean`` among
    them. Pairwise in blocks of ``block`` rows, so memory stays bounded on noisy frames
    with thousands of components."""
    x0, y0, bw, bh = (st[:, i] for i in range(4))
    x1, y1 = x0 + bw, y0 + bh
    n = len(st)
    count, best = np.zeros(n, np.int64), np.zeros(n)
    for a in range(0, n, block):
        i = slice(a, min(n, a + block))
        rows = np.minimum(y1[i, None], y1[None]) - np.maximum(y0[i, None], y0[None])
        line = rows >= 0.5 * np.minimum(bh[i, None], bh[None])
        line &= np.abs(np.log(bh[i, None] / bh[None])) <= np.log(1.6)
        line &= np.maximum(x0[None] - x1[i, None], x0[i, None] - x1[None]) <= 4 * np.maximum(bh[i, None], bh[None])
        line[np.arange(i.stop - a), np.arange(a, i.stop)] = False  # not itself
        count[i] = line.sum(1)
        best[i] = (line * p_mean[None]).max(1, initial=0.0)
    return count, best


def weights_of(data: dict) -> Optional[dict]:
    """The scorer (arrays and threshold) of the data that the exporter wrote (its JSON,
    loaded), or None if it was written for another feature set (unusable)."""
    if tuple(data["features"]) != FEATURES:
        return None
    return {k: np.asarray(data[k], np.float32) for k in ("MEAN", "STD", "W1", "B1", "W2", "B2")} | {
        "threshold": float(data["threshold"])}


@lru_cache(maxsize=1)
def _weights() -> Optional[dict]:
    """The packaged scorer, or None without its weights file."""
    try:
        text = (files("osdfilter") / "weights" / WEIGHTS).read_text()
    except FileNotFoundError:
        return None
    return weights_of(json.loads(text))


def available() -> bool:
    """Whether the packaged component scorer is there."""
    return _weights() is not None


def score(x: np.ndarray, weights: Optional[dict] = None) -> np.ndarray:
    """Overlay probability per component (float32 [n]) for features ``x`` [n, len(FEATURES)]."""
    wt = weights if weights is not None else _weights()
    z = (x - wt["MEAN"]) / wt["STD"]
    hidden = np.maximum(z @ wt["W1"].T + wt["B1"], 0.0)
    logit = (hidden @ wt["W2"].T + wt["B2"])[:, 0]
    return (0.5 + 0.5 * np.tanh(0.5 * logit)).astype(np.float32)  # the sigmoid, without overflow


def filter_components(feat: np.ndarray, prob: np.ndarray, keep: np.ndarray,
                      threshold: Optional[float] = None, weights: Optional[dict] = None) -> np.ndarray:
    """``keep`` without the components scored below ``threshold`` (None: the packaged one)."""
    wt = weights if weights is not None else _weights()
    x, lab = component_features(feat, prob, keep)
    if not len(x):
        return keep
    t = wt["threshold"] if threshold is None else threshold
    return np.concatenate([[False], score(x, wt) >= t])[lab]
