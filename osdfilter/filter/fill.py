"""Classical fills put inside the mask before the network sees a frame.

The network (``ModelConfig.residual``) learns a correction of this fill rather than
drawing pixels from nothing, so even a briefly trained model starts at the classical
quality: thin glyph strokes are easy for classical inpainting.

Two kinds of fill:

* stateless, per image (``telea``, ``normalized``, ``none``): ``get_prefill(name)(image, mask)``; the filter
  applies them to each tile crop (here).
* temporal (``temporal``): stateful, whole frames in order, background from earlier and
  later frames (:mod:`osdfilter.filter.lookahead`).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import cv2
import numpy as np

Prefill = Callable[[np.ndarray, np.ndarray], np.ndarray]
# One scale of a normalized convolution (_by_scale): (sigma, shrink factor, y0, y1, x0, x1,
# the pixels' flat indices in that box) -> (their known weight, values of the chosen ones).
Estimate = Callable[[float, int, int, int, int, int, np.ndarray], tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]]


def telea(image: np.ndarray, mask: np.ndarray, radius: int = 3) -> np.ndarray:
    """OpenCV Telea inpainting of ``mask`` (bool [H, W]) in ``image`` (uint8 [H, W, 3]).

    Runs on the mask's bounding box plus ``radius + 2`` pixels: Telea reads nothing
    farther out, so the result is bit-identical (tested) while its whole-image setup
    shrinks to the box.
    """
    ys = np.flatnonzero(mask.any(axis=1))
    if not len(ys):
        return image
    xs = np.flatnonzero(mask.any(axis=0))
    m, (h, w) = radius + 2, mask.shape
    y0, y1 = max(0, ys[0] - m), min(h, ys[-1] + 1 + m)
    x0, x1 = max(0, xs[0] - m), min(w, xs[-1] + 1 + m)
    if (y1 - y0) * (x1 - x0) >= 0.8 * h * w:
        return cv2.inpaint(image, mask.astype(np.uint8), radius, cv2.INPAINT_TELEA)
    out = image.copy()
    box = (slice(y0, y1), slice(x0, x1))
    out[box] = cv2.inpaint(image[box], mask[box].astype(np.uint8), radius, cv2.INPAINT_TELEA)
    return out


# Normalized convolution's scales (Gaussian sigma, px) and the known weight a pixel needs at
# one of them (the former causal fill alone, quality.py --frames 24, masked PSNR / SSIM
# exact, box; a first version with every scale at full resolution: support 0.05 23.31 /
# 0.695, 20.24 / 0.539; 0.01 23.30 / 0.696, 20.21 / 0.542; 0.004 23.29 / 0.696, 20.19 /
# 0.544; 0.1 and 0.2 lower on both. As written, 0.01: 23.30 / 0.696, 20.19 / 0.542. Telea:
# 23.29 / 0.696, 20.08 / 0.545).
FILL_SCALES = (1.0, 2.0, 4.0, 8.0, 16.0)
FILL_SUPPORT = 0.01
# Larger scales are blurred on the region shrunk by sigma / this: far fewer pixels, and
# within a fraction of a level of blurring at full resolution (docs/benchmarks.md).
FULL_RES_SIGMA = 2.0


def normalized_fill(image: np.ndarray, mask: np.ndarray, scales: Sequence[float] = FILL_SCALES,
                    support: float = FILL_SUPPORT) -> np.ndarray:
    """Fill ``mask`` (bool [H, W]) in ``image`` (uint8 [H, W, 3]) by normalized convolution
    (Knutsson & Westin, 1993): each masked pixel gets the Gaussian-weighted mean of the
    known pixels around it, at the smallest of ``scales`` (sigma, px) where their weight
    exceeds ``support`` (the largest scale takes whatever is left).

    The stateless prefill ``"normalized"``. (The lookahead fill's thick holes take
    :func:`spatial_fill`, whose plane fit is the first-order version of this.) As the former
    causal fill's fallback it was as good as OpenCV's Telea on glyph masks, a little better
    and steadier on boxes, and cheaper (docs/benchmarks.md). Telea's cost
    grows with the pixels times its radius squared and the channels; here it is a few
    blurs of the mask's box at growing scale, the larger ones downscaled. Written here
    rather than taken from a library: OpenCV's photo module has Telea and Navier-Stokes
    only.
    """
    if not mask.any():
        return image

    def estimate(sigma, f, y0, y1, x0, x1, local):
        known = np.logical_not(mask[y0:y1, x0:x1]).view(np.uint8)
        values = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
        cv2.copyTo(image[y0:y1, x0:x1], known, values)  # the known pixels, 0 in the mask
        values, weight = values.astype(np.float32), known.astype(np.float32)
        if f > 1:
            size = (-(-(x1 - x0) // f), -(-(y1 - y0) // f))  # whole f x f blocks where _span could: INTER_AREA's fast path
            values, weight = (cv2.resize(a, size, interpolation=cv2.INTER_AREA) for a in (values, weight))
            values, weight = (cv2.GaussianBlur(a, (0, 0), sigma / f) for a in (values, weight))
            values, weight = (cv2.resize(a, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR) for a in (values, weight))
        else:
            values, weight = (cv2.GaussianBlur(a, (0, 0), sigma) for a in (values, weight))
        wsum = np.take(weight.reshape(-1), local)
        return wsum, lambda done: np.take(values.reshape(-1, 3), local[done], axis=0) / np.maximum(wsum[done], 1e-6)[:, None]

    return _by_scale(image.copy(), mask, scales, support, _blur_reach, estimate)


def _by_scale(out: np.ndarray, mask: np.ndarray, scales: Sequence[float], support: float,
              reach: Callable[[float], int], estimate: Estimate) -> np.ndarray:
    """The normalized convolutions' common loop: each masked pixel of ``out`` (uint8 [H, W, 3],
    written in place) takes ``estimate``'s value at the smallest of ``scales`` where the known
    pixels' weight exceeds ``support`` (the largest scale takes whatever is left). Each scale
    works in the box of the pixels left grown by ``reach(sigma)``, scales from
    ``FULL_RES_SIGMA`` up on it shrunk by ``sigma // FULL_RES_SIGMA``: ``estimate(sigma, f, y0,
    y1, x0, x1, local)`` (``local``: the pixels' flat indices in that box) returns their weights
    and a function of the chosen ones (bool) giving their values (float [n, 3])."""
    todo = np.flatnonzero(mask)  # flat indices still to fill
    h, w = mask.shape
    for k, sigma in enumerate(scales):
        ys, xs = np.divmod(todo, w)
        r = reach(sigma)
        f = max(1, int(sigma // FULL_RES_SIGMA))
        (y0, y1), (x0, x1) = _span(ys.min() - r, ys.max() + 1 + r, h, f), _span(xs.min() - r, xs.max() + 1 + r, w, f)
        weight, values = estimate(sigma, f, y0, y1, x0, x1, (ys - y0) * (x1 - x0) + (xs - x0))
        done = np.ones(len(todo), bool) if k == len(scales) - 1 else weight > support
        _put_pixels(out, todo[done], values(done))
        todo = todo[~done]
        if not len(todo):
            break
    return out


def _span(lo: int, hi: int, size: int, f: int) -> tuple[int, int]:
    """``[lo, hi)`` clipped to ``[0, size)`` and widened to a multiple of ``f`` where the
    image leaves room (else just clipped: never narrower than the clipped span)."""
    lo, hi = max(0, lo), min(size, hi)
    extra = -(hi - lo) % f
    if extra > (size - hi) + lo:
        return lo, hi
    grow = min(extra, size - hi)
    return lo - (extra - grow), hi + grow


def _put_pixels(image: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
    """``image`` (C-contiguous uint8 ``[h, w, 3]``) at flat pixel ``index`` := ``values``
    (float ``[n, 3]``, overwritten) rounded and clipped to 0-255. Written as one 3-byte item
    per pixel: 2x faster scattered writes than ``[n, 3]`` rows."""
    if not image.flags.c_contiguous:
        raise ValueError("_put_pixels writes into a C-contiguous image only")
    values += 0.5
    np.clip(values, 0, 255, out=values)
    image.reshape(-1).view("V3")[index] = values.astype(np.uint8).view("V3").reshape(-1)


def keep(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """No fill: the network sees the overlaid pixels (the write-up's original input)."""
    return image


PREFILLS: dict[str, Prefill] = {"telea": telea, "normalized": normalized_fill, "none": keep}
TEMPORAL_PREFILLS = ("temporal",)


def is_temporal(name: str) -> bool:
    """Whether prefill ``name`` needs the frames in order (full frames, one state per video)."""
    return name in TEMPORAL_PREFILLS


def get_prefill(name: str) -> Prefill:
    """The stateless prefill ``name``: ``fill(image_uint8 [H, W, 3], mask_bool [H, W])``."""
    if is_temporal(name):
        raise ValueError(
            f"prefill {name!r} is temporal: use LookaheadFill(region) on full frames in order, "
            "or fill_sequence(frames, masks)"
        )
    try:
        return PREFILLS[name]
    except KeyError:
        choices = sorted([*PREFILLS, *TEMPORAL_PREFILLS])
        raise ValueError(f"unknown prefill {name!r}; choose from {choices}") from None


def _blur_reach(sigma: float) -> int:
    """Half the kernel OpenCV builds for a float32 Gaussian blur of ``sigma`` (size round(8 sigma + 1) | 1)."""
    return (int(round(8 * sigma + 1)) | 1) // 2


# ------------------------------------------------------------------ the fill's spatial part

def spatial_fill(crop: np.ndarray, hole: np.ndarray, thin: float, memo: Optional[list] = None) -> np.ndarray:
    """Telea on thin holes (glyph strokes: it is strong there); on thick ones (boxes, glyphs
    grown into each other) a first-order normalized convolution (:func:`_linear_fill`). On the
    benchmark matrix the plane fit alone scored higher than the mean of it and Telea, at two
    thirds of the fill's time (docs/benchmarks.md); Telea deep in a large hole also drifts
    and streaks along its marching fronts.

    A thick hole on the crop's edge (the frame's, in the lookahead fill: its group boxes
    reach past the mask) takes the mean of the two: with no known pixels on that side the
    plane takes the level of the hole's widest border, where Telea carries the rows of its
    sides in (a box on the bottom edge of a sky that brightens downwards: 4 levels dark).
    ``memo`` (a list, [hole, drift]) keeps the last such hole's Telea drift (below): the same
    hole comes back frame after frame."""
    dist = cv2.distanceTransform(hole, cv2.DIST_L2, 3)
    if dist.max() <= thin:
        return cv2.inpaint(crop, hole, 3, cv2.INPAINT_TELEA)
    # Beyond the reach of its largest blur no known pixel weighs in (a box in a corner of the
    # frame): the far part is filled again from the pixels just filled, nearer each pass.
    out = _linear_fill(np.ascontiguousarray(crop), hole.astype(bool))
    far = dist > FAR
    while far.any():
        dist = cv2.distanceTransform(far.view(np.uint8), cv2.DIST_L2, 3)
        near = far & (dist <= FAR)
        out[near] = _linear_fill(out, far)[near]
        far &= ~near
    if hole[0].any() or hole[-1].any() or hole[:, 0].any() or hole[:, -1].any():
        # OpenCV's Telea drifts upwards deep in a large hole, whatever the image (up to +20
        # levels on a flat one): its drift on a flat image of the hole is taken off (a level
        # of 100: on 128, 0 and 255 it happens not to drift).
        if memo is not None and len(memo) == 2 and np.array_equal(memo[0], hole):
            drift = memo[1]
        else:
            drift = cv2.inpaint(np.full(hole.shape, 100, np.uint8), hole, 3, cv2.INPAINT_TELEA).astype(np.int16) - 100
            if memo is not None:
                memo[:] = [hole.copy(), drift]
        telea = cv2.inpaint(crop, hole, 3, cv2.INPAINT_TELEA)
        out = ((out.astype(np.int16) + telea - drift[..., None] + 1) >> 1).clip(0, 255).astype(np.uint8)
    return out


def _moment_kernels(sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1-D Gaussian g (sum 1), u*g and u*u*g with u the offset in sigmas."""
    r = int(np.ceil(4 * sigma))
    u = np.arange(-r, r + 1, dtype=np.float64) / sigma
    g = np.exp(-0.5 * u * u)
    g /= g.sum()
    return g.astype(np.float32), (u * g).astype(np.float32), (u * u * g).astype(np.float32)


def _linear_fill(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill ``mask`` (bool [H, W]) in ``image`` (uint8 [H, W, 3]) by first-order normalized
    convolution: each masked pixel takes the value at itself of a plane fitted, Gaussian-weighted,
    to the known pixels around it (slopes pulled towards flat by ``LINEAR_RIDGE``), at the
    smallest of ``FILL_SCALES`` where their weight exceeds ``FILL_SUPPORT``. The zeroth-order
    fill (a weighted mean) flattens a smooth gradient, which a hole at the frame's edge sees
    from one side only: it was 2-8 levels off in the depth of the matrix's sky boxes."""
    if not mask.any():
        return image.copy()
    h, w = mask.shape
    sep = lambda a, kx, ky: cv2.sepFilter2D(a, cv2.CV_32F, kx, ky, borderType=cv2.BORDER_CONSTANT)
    # the known pixels' weight and values (0 in the mask), once: each scale works in a part of it
    known = np.logical_not(mask).view(np.uint8)
    values = np.zeros((h, w, 3), np.uint8)
    cv2.copyTo(image, known, values)
    kv_all = cv2.merge([known.astype(np.float32), values.astype(np.float32)])

    def estimate(sigma, f, y0, y1, x0, x1, local):
        kv = kv_all[y0:y1, x0:x1]
        if f > 1:
            kv = cv2.resize(kv, (-(-(x1 - x0) // f), -(-(y1 - y0) // f)), interpolation=cv2.INTER_AREA)
        g0, g1, g2 = _moment_kernels(sigma / f)
        kn = np.ascontiguousarray(kv[..., 0])
        # moments (1, x, y per channel; xx, yy, xy of the weight), x and y in sigmas from the pixel
        maps = [sep(kv, g0, g0), sep(kv, g1, g0), sep(kv, g0, g1),
                cv2.merge([sep(kn, g2, g0), sep(kn, g0, g2), sep(kn, g1, g1)])]
        if f > 1:
            maps = [cv2.resize(a, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR) for a in maps]
        maps = [a.reshape(-1, a.shape[-1]) for a in maps]

        def plane(done):
            at = local[done]
            a0, ax, ay, a2 = (np.take(a, at, axis=0).astype(np.float64) for a in maps)
            # The plane's value at the pixel: the first unknown of the 3x3 normal equations
            # (symmetric), by cofactors.
            m0 = np.maximum(a0[:, 0], 1e-6)
            mx, my, mxy = ax[:, 0], ay[:, 0], a2[:, 2]
            mxx, myy = a2[:, 0] + LINEAR_RIDGE * m0, a2[:, 1] + LINEAR_RIDGE * m0
            c0, c1, c2 = mxx * myy - mxy * mxy, my * mxy - mx * myy, mx * mxy - mxx * my
            det = m0 * c0 + mx * c1 + my * c2
            return (c0[:, None] * a0[:, 1:] + c1[:, None] * ax[:, 1:] + c2[:, None] * ay[:, 1:]) / det[:, None]

        return np.take(maps[0][:, 0], local), plane

    return _by_scale(image.copy(), mask, FILL_SCALES, FILL_SUPPORT, lambda sigma: int(np.ceil(4 * sigma)), estimate)

FAR = 32.0  # px: well within the reach of the largest normalized-convolution scale (sigma 16)
LINEAR_RIDGE = 0.5  # the plane's slopes are pulled towards flat as if each sigma of offset cost this (0.1-2 measured, 0.5 best)
