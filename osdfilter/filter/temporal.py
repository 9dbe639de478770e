"""The temporal prefill: background from earlier frames, warped into the current one.

The OSD is screen-fixed while the camera moves, so background hidden under the mask now was
visible in earlier frames. Each frame the previous *filled* frame (the background memory) is
warped into the current one with the motion measured just outside the mask,
brightness-corrected against that ring, and used where it is trustworthy; a normalized
convolution (:func:`osdfilter.filter.fill.normalized_fill`) fills what no frame has shown.
Use :class:`TemporalPrefill` (one per video, frames in order, ``reset()`` on a cut) on full
frames, or :func:`prefill_sequence` for a ``[T, H, W, 3]`` clip.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional, Sequence

import cv2
import numpy as np

from .fill import _blur_reach, _put_pixels, get_prefill



@dataclass(frozen=True)
class TemporalConfig:
    """Knobs of the temporal prefill (defaults measured on the eval clips, benchmarks/quality.py)."""

    flow_scale: float = 0.5  # DIS runs on luma downscaled by this: camera motion is smooth
    ring: int = 16  # px around the mask where motion and brightness are measured
    gap: int = 2  # px skipped just outside the mask (outline remnants, codec ringing)
    decay: float = 0.93  # confidence kept per frame a pixel is carried inside the mask
    min_conf: float = 0.5  # below this a pixel is filled by the fallback instead
    ok_residual: float = 6.0  # mean ring residual (0-255) up to which a group's warp is fully trusted
    max_residual: float = 14.0  # ... and at which it is not trusted at all
    # What fills the pixels no frame has shown (a stateless fill of PREFILLS): "normalized"
    # (normalized_fill) or "telea" (radius 3), which it replaced: the same masked PSNR for
    # 0.4-0.5x the fill's CPU where most of the mask falls back (normalized_fill).
    fallback: str = "normalized"
    # Seam matching: the carried fill is shifted towards the frame by the smoothed residual
    # on the ``seam`` px just outside the mask, else its mismatch there is carried into the
    # mask next frame and draws the mask's outline (the "ghost" of the OSD). 0 = off.
    seam: int = 2
    seam_sigma: float = 2.0  # px, reach of that correction into the mask
    seam_edge: float = 30.0  # luma gradient (Sobel) at which a seam pixel counts half: misregistered edges
    # Where the fallback fills, this share of the last frame's fill (moved with the camera) is
    # mixed in, so it does not shimmer from frame to frame (docs/benchmarks.md, Quality).
    # 0 = the plain fallback.
    smooth: float = 0.5
    max_samples: int = 800  # ring samples per group for the motion and brightness fits (speed)
    # Threads filling groups at once; 0 = one per CPU, at most 4: more gained nothing
    # (docs/benchmarks.md, benchmarks/fill_speed.py).
    # The output does not depend on it.
    workers: int = 0

    def __post_init__(self) -> None:
        get_prefill(self.fallback)  # an unknown or temporal name fails here, not at the first frame


@dataclass(frozen=True)
class _Group:
    """One component of the mask grown by ``ring``: filled with one motion, in its box."""

    box: tuple[int, int, int, int]  # (x0, y0, x1, y1) full resolution
    inside: np.ndarray  # bool [h, w] the mask in the box
    ring_flat: np.ndarray  # flat box-local indices (row-major) of the ring where motion and brightness are measured
    seam_box: tuple[slice, slice]  # box-local: the mask and its seam plus the seam blur's reach
    seam: np.ndarray  # float32 in ``seam_box``: 1 within ``cfg.seam`` px outside the mask, else 0
    seam_index: np.ndarray  # flat indices in ``seam_box`` of ``inside``'s pixels
    inside_flat: np.ndarray  # flat box-local indices of ``inside`` (np.take: ~6x faster than [rows, cols])
    inside_grid: np.ndarray  # float32 [n, 3] their (x, y) normalised to [-0.5, 0.5), and 1: the brightness plane's design
    points: Optional[np.ndarray]  # float64 [n, 2] full-frame (x, y) of the ring samples (None: too few)
    design: Optional[np.ndarray]  # float64 [n, 3] the affine fit's centred design for ``points``
    centre: tuple[float, float]  # the centre subtracted in ``design``
    flow_index: np.ndarray  # flat indices of ``points`` in the flow field's [h * w, 2] rows

    @property
    def slices(self) -> tuple[slice, slice]:
        x0, y0, x1, y1 = self.box
        return slice(y0, y1), slice(x0, x1)


@dataclass(frozen=True)
class _HoleBox:
    """One component of the hole, in its box grown by the blur's reach (flow resolution)."""

    box: tuple[slice, slice]
    component: np.ndarray  # bool [h, w] this component's pixels in the box
    keep: np.ndarray  # float32 [h, w] 1 outside the hole (the pixels the blur averages), 0 in it
    norm: np.ndarray  # float32 [n] the blurred ``keep`` of the whole image at ``component`` (>= 1e-3)


@dataclass(frozen=True)
class _Geometry:
    """Everything the temporal fill derives from a mask alone. An OSD mask rarely changes
    from frame to frame, so it is computed once and reused while the mask stays equal."""

    mask: np.ndarray  # bool [H, W]
    small_mask: np.ndarray  # bool [h, w] at flow resolution
    hole: np.ndarray  # bool [h, w] the small mask grown by 1: smoothed over before the flow
    hole_boxes: list[_HoleBox]  # where and how the blur fill fills ``hole``
    groups: list[_Group]


@dataclass
class TemporalState:
    """What one frame leaves for the next (all full-frame)."""

    memory: np.ndarray  # uint8 [H, W, 3] the previous output: input outside the mask, fill inside
    conf: np.ndarray  # float32 [H, W] 1 = real background last frame; decays while carried
    gray: np.ndarray  # uint8 [h, w] downscaled luma of ``memory`` (the flow's source)
    geometry: Optional[_Geometry] = None  # of the previous frame's mask (reused while it is equal)


class TemporalPrefill:
    """Causal temporal fill for one video: call on each full frame in order; ``reset()`` on a cut.

    Deterministic, and the output of frame t depends only on frames 0..t since the last
    reset, so it does not depend on how the caller chunks the video.
    """

    def __init__(self, config: TemporalConfig = TemporalConfig()) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        """Forget the background memory (scene cut, seek, new file): the next frame is the fallback fill."""
        self.state: Optional[TemporalState] = None

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Fill ``mask`` (bool [H, W]) in ``image`` (uint8 [H, W, 3]); returns uint8 [H, W, 3]."""
        out, self.state = temporal_step(image, mask, self.state, self.config)
        return out


def prefill_sequence(frames: Sequence[np.ndarray], masks: Sequence[np.ndarray], config: TemporalConfig = TemporalConfig()) -> np.ndarray:
    """Temporal prefill of a clip from a fresh state: ``[T, H, W, 3]`` uint8, masks ``[T, H, W]`` bool."""
    fill = TemporalPrefill(config)
    return np.stack([fill(f, m) for f, m in zip(frames, masks)])


def temporal_step(
    image: np.ndarray,
    mask: np.ndarray,
    state: Optional[TemporalState],
    cfg: TemporalConfig = TemporalConfig(),
) -> tuple[np.ndarray, TemporalState]:
    """One frame of the temporal prefill: ``(filled uint8 [H, W, 3], new state)``.

    ``state=None`` (first frame, after a reset) or a size change gives the fallback fill
    (``cfg.fallback``) of the whole mask. Work is done
    per *group* (a component of the mask grown by ``cfg.ring``, in its bounding box), so
    the cost follows the mask, not the frame.
    """
    mask = mask.astype(bool)
    geo = state.geometry if state is not None else None
    if geo is None or geo.mask.shape != mask.shape or not np.array_equal(geo.mask, mask):
        geo = _geometry(mask, cfg)
    out = image.copy()
    conf = np.ones(mask.shape, np.float32)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    fresh = state is None or state.memory.shape != image.shape
    flow = None
    if not fresh and geo.groups and min(state.gray.shape) >= MIN_FLOW_SIDE:
        # A fresh DIS each frame (0.2 ms): a reused one carries buffers from earlier calls
        # into its result (measured), which would tie the flow to the call history.
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        # Backward flow: for each pixel now, where it was in the previous (filled) frame.
        small = _blur_fill(_downscale(gray, cfg.flow_scale), geo)
        flow = dis.calc(small, state.gray, None)  # flow-resolution px: scaled at the samples (_fit_affine)
    out_gray = gray.copy()
    fill = lambda group: _fill_group(image, group, state if flow is not None else None, flow, cfg)  # noqa: E731
    workers = cfg.workers or min(4, os.cpu_count() or 1)
    # Groups are independent (each reads the input frame and the previous state only): the
    # OpenCV and NumPy calls inside release the GIL, so on a many-core machine (a GPU box)
    # the fill no longer caps the pipeline at one core. Written back in order: same output.
    results = _pool(workers).map(fill, geo.groups) if workers > 1 and len(geo.groups) > 1 else map(fill, geo.groups)
    for group, (filled, carried) in zip(geo.groups, results):
        sl = group.slices
        inside = group.inside.view(np.uint8)
        _paste(out[sl], filled, inside)
        _paste(conf[sl], carried, inside)
        out_gray[sl] = cv2.cvtColor(out[sl], cv2.COLOR_RGB2GRAY)  # luma is per pixel: only the boxes change
    return out, TemporalState(out, conf, _downscale(out_gray, cfg.flow_scale), geo)


def _paste(dst: np.ndarray, src: np.ndarray, where: np.ndarray) -> None:
    """``dst[where] = src[where]`` in place (``dst`` may be a view into a larger array; ``where``
    uint8 [h, w]). OpenCV's masked copy: ~40x faster than ``np.copyto(..., where=...)``, whose
    mask broadcast over the colour channels goes element by element."""
    cv2.copyTo(src, where, dst)


@lru_cache(maxsize=None)
def _pool(workers: int) -> ThreadPoolExecutor:
    """One shared pool per size, made on first use (threads idle between frames)."""
    return ThreadPoolExecutor(workers, thread_name_prefix="osdfilter-fill")


# A forked child (the trainer's data workers) inherits the pool object but none of its
# threads: work submitted there would wait forever. The child makes its own on first use.
if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork
    os.register_at_fork(after_in_child=_pool.cache_clear)


def _geometry(mask: np.ndarray, cfg: TemporalConfig) -> _Geometry:
    small_mask = _small_mask(mask, cfg.flow_scale)
    hole = cv2.dilate(small_mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    hole_boxes = _hole_boxes(hole)
    groups = []
    for box in _group_boxes(small_mask, mask.shape, cfg):
        x0, y0, x1, y1 = box
        inside = mask[y0:y1, x0:x1]
        dist = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, 3)
        ring = (dist > cfg.gap) & (dist <= cfg.ring)
        seam = (dist > 0) & (dist <= cfg.seam)
        sy, sx = seam_box = _grown_box(inside | seam, _blur_reach(cfg.seam_sigma))
        iy, ix = np.nonzero(inside)
        seam_index = (iy - sy.start) * (sx.stop - sx.start) + (ix - sx.start)
        inside_flat = iy * (x1 - x0) + ix
        inside_grid = np.stack([ix.astype(np.float32) / (x1 - x0) - 0.5, iy.astype(np.float32) / (y1 - y0) - 0.5, np.ones(len(ix), np.float32)], 1)
        ring_flat = np.flatnonzero(ring)
        ys, xs = np.divmod(_samples(ring_flat, cfg.max_samples), x1 - x0)
        points = design = None
        centre, flow_index = (0.0, 0.0), np.zeros(0, np.intp)
        if len(xs) >= 12:
            xs, ys = (xs + x0).astype(np.float64), (ys + y0).astype(np.float64)
            sh, sw = small_mask.shape
            rows = np.clip((ys * sh / mask.shape[0]).astype(int), 0, sh - 1)
            flow_index = rows * sw + np.clip((xs * sw / mask.shape[1]).astype(int), 0, sw - 1)
            points = np.stack([xs, ys], 1)
            # Centred coordinates keep the normal equations well conditioned.
            centre = (xs.mean(), ys.mean())
            design = np.stack([xs - centre[0], ys - centre[1], np.ones_like(xs)], 1)
        seam = seam[seam_box].astype(np.float32)
        groups.append(_Group(box, inside, ring_flat, seam_box, seam, seam_index, inside_flat, inside_grid, points, design, centre, flow_index))
    return _Geometry(mask, small_mask, hole, hole_boxes, groups)


def _fill_group(
    image: np.ndarray, group: _Group, state: Optional[TemporalState], flow: Optional[np.ndarray], cfg: TemporalConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Fill of one group's box (uint8 [h, w, 3]) and the confidence it hands on (float32 [h, w])."""
    x0, y0, x1, y1 = group.box
    crop = image[y0:y1, x0:x1]
    mask = group.inside
    carried = np.zeros(mask.shape, np.float32)
    good = np.zeros(mask.shape, bool)
    cand = None
    if state is not None and flow is not None:
        affine = _fit_affine(flow, group, cfg.flow_scale)
        if affine is not None:
            cand, weight, trust = _warp_group(crop, state, affine, group, cfg)
            good = mask & (weight >= cfg.min_conf)
            crop = crop.copy()
            _paste(crop, cand, good.view(np.uint8))
            carried[good] = weight[good] * cfg.decay
            cand = cand if trust > 0.0 else None
    # The fallback fills what no frame has shown, with the carried pixels as part of its boundary.
    rest = mask & ~good
    filled = get_prefill(cfg.fallback)(crop, rest)
    if cand is not None and cfg.smooth > 0.0 and rest.any():
        # A fresh fill per frame shimmers as the scene moves past the mask; the last frame's fill,
        # moved with the camera, steadies it (a running average along the motion).
        idx = np.flatnonzero(rest)
        pixels = filled.reshape(-1, 3)  # (the fallback returned a new array for a non-empty hole: written in place below)
        mix = (1.0 - cfg.smooth) * np.take(pixels, idx, axis=0).astype(np.float32) + cfg.smooth * np.take(cand.reshape(-1, 3), idx, axis=0)
        _put_pixels(filled, idx, mix)
    return filled, carried


def _small_size(hw: tuple[int, int], scale: float) -> tuple[int, int]:
    """(width, height) of the flow resolution."""
    h, w = hw
    return max(8, int(round(w * scale))), max(8, int(round(h * scale)))


def _small_mask(mask: np.ndarray, scale: float) -> np.ndarray:
    """The mask at flow resolution (any overlap counts)."""
    return cv2.resize(mask.astype(np.uint8), _small_size(mask.shape, scale), interpolation=cv2.INTER_AREA) > 0


def _group_boxes(small_mask: np.ndarray, full_hw: tuple[int, int], cfg: TemporalConfig) -> list[tuple[int, int, int, int]]:
    """Boxes ``(x0, y0, x1, y1)`` (full resolution) of the components of the mask grown by
    ``cfg.ring``: each is filled with one motion. Found at flow resolution (4x fewer pixels)."""
    r = max(1, int(np.ceil(cfg.ring * cfg.flow_scale)))
    grown = cv2.dilate(small_mask.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    (h, w), (sh, sw) = full_hw, small_mask.shape
    boxes = []
    for x, y, bw, bh, _ in stats[1:].tolist():
        x0, y0 = max(0, int(x * w / sw) - 1), max(0, int(y * h / sh) - 1)
        x1, y1 = min(w, int(np.ceil((x + bw) * w / sw)) + 1), min(h, int(np.ceil((y + bh) * h / sh)) + 1)
        boxes.append((x0, y0, x1, y1))
    return boxes


def _grown_box(where: np.ndarray, margin: int) -> tuple[slice, slice]:
    """Bounding box of ``where`` (bool [h, w]) grown by ``margin``, clipped (all of it if empty)."""
    ys, xs = np.flatnonzero(where.any(1)), np.flatnonzero(where.any(0))
    if not len(ys):
        return slice(0, where.shape[0]), slice(0, where.shape[1])
    return _grow((ys[0], xs[0], ys[-1] + 1 - ys[0], xs[-1] + 1 - xs[0]), margin, where.shape)


def _grow(box: tuple[int, int, int, int], margin: int, shape: tuple[int, ...]) -> tuple[slice, slice]:
    """``box`` (y, x, h, w) grown by ``margin`` on every side, clipped to ``shape``."""
    y, x, bh, bw = box
    return slice(max(0, y - margin), min(shape[0], y + bh + margin)), slice(max(0, x - margin), min(shape[1], x + bw + margin))


def _downscale(gray: np.ndarray, scale: float) -> np.ndarray:
    """Luma at flow resolution."""
    return cv2.resize(gray, _small_size(gray.shape, scale), interpolation=cv2.INTER_AREA)


# OpenCV's DIS raises on smaller flow images, and on flat ones it crashed the process
# (segfault: 320x24, 160x12, 48x8, as a 640x48 frame gives at flow_scale 0.5): below this
# on either side (frames under 64 px at 0.5) the fill carries nothing and falls back.
MIN_FLOW_SIDE = 32

BLUR_SIGMA = 6.0  # px at flow resolution: the blur fill of the mask before the flow
BLUR_REACH = _blur_reach(BLUR_SIGMA)


def _blur_fill(gray: np.ndarray, geo: _Geometry) -> np.ndarray:
    """``gray`` with ``geo.hole`` replaced by a normalized Gaussian average of the pixels around
    it, so that the static OSD's strong edges do not pull the flow around it towards zero.

    Blurred only in each hole component's box grown by the kernel's reach: the values at
    the hole are the same as from blurring the whole image (tested), at a fraction of the
    cost (an OSD covers a few percent of the frame).
    """
    out = gray.copy()
    for hb in geo.hole_boxes:
        num = cv2.GaussianBlur(gray[hb.box].astype(np.float32) * hb.keep, (0, 0), BLUR_SIGMA)
        # Only this component's pixels: another's may lie too near this box's edge.
        out[hb.box][hb.component] = np.clip(num[hb.component] / hb.norm + 0.5, 0, 255).astype(np.uint8)
    return out


def _hole_boxes(hole: np.ndarray) -> list[_HoleBox]:
    """Per 8-connected component of ``hole``: its bounding box grown by ``BLUR_REACH``
    (clipped) and what the blur fill needs there that depends on the mask alone. One
    whole-image box instead when the boxes together would cover more than half the image
    (many scattered components)."""
    h, w = hole.shape
    keep = (~hole).astype(np.float32)
    norm = np.maximum(cv2.GaussianBlur(keep, (0, 0), BLUR_SIGMA), 1e-3)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(hole.astype(np.uint8), connectivity=8)
    boxes = [(_grow((y, x, bh, bw), BLUR_REACH, hole.shape), k)
             for k, (x, y, bw, bh, _) in enumerate(stats[1:].tolist(), start=1)]
    if sum((ys.stop - ys.start) * (xs.stop - xs.start) for (ys, xs), _ in boxes) > 0.5 * h * w:
        whole = (slice(0, h), slice(0, w))
        return [_HoleBox(whole, hole, keep, norm[hole])]
    out = []
    for box, k in boxes:
        component = labels[box] == k
        out.append(_HoleBox(box, component, keep[box], norm[box][component]))
    return out


def _solve_robust(design: np.ndarray, target: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Least squares ``design @ coef ≈ target``, refitted once without outliers (error above
    ``max(floor, 2.5 x median)``). Returns ``coef`` and the per-sample mean absolute error."""
    coef = _solve3(design.T @ design + _RIDGE, design.T @ target)
    err = np.abs(design @ coef - target).sum(1) / target.shape[1]  # .mean(1) without its Python overhead
    keep = err <= max(floor, 2.5 * _median(err))
    a, b = design[keep], target[keep]
    coef = _solve3(a.T @ a + _RIDGE, a.T @ b)
    return coef, np.abs(design @ coef - target).sum(1) / target.shape[1]


def _solve3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.linalg.solve`` for the 3x3 normal equations, via OpenCV's LU (4x less overhead)."""
    return cv2.solve(a, b, flags=cv2.DECOMP_LU)[1]


_RIDGE = 1e-6 * np.eye(3)  # keeps the 3x3 normal equations solvable on degenerate samples


def _median(a: np.ndarray) -> float:
    """``np.median`` of a 1-D float array without its generic-path overhead (called ~10x per
    group and frame)."""
    n = len(a)
    k = n // 2
    part = np.partition(a, (k - 1, k) if n % 2 == 0 and n > 1 else k)
    return float(part[k]) if n % 2 else float((part[k - 1] + part[k]) / 2)


def _samples(indices: np.ndarray, max_samples: int) -> np.ndarray:
    """At most about ``max_samples`` of ``indices``, evenly strided (the motion and
    brightness fits' ring samples)."""
    return indices[:: max(1, len(indices) // max_samples)]


def _fit_affine(flow: np.ndarray, group: _Group, scale: float) -> Optional[np.ndarray]:
    """2x3 affine ``A``: ``A @ [x, y, 1]`` is where full-frame pixel (x, y) was last frame.

    Fitted to the (downscaled) ``flow`` at the group's ring samples, its vectors divided by
    ``scale`` there (not over the whole field: 0.3-0.5 ms a 1080p frame); outliers
    (occlusions, objects moving on their own) dropped.
    """
    if group.design is None:
        return None
    target = group.points + np.take(flow.reshape(-1, 2), group.flow_index, axis=0) / scale
    coef, _ = _solve_robust(group.design, target, 0.5)
    cx, cy = group.centre
    shift = np.array([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]])
    return coef.T @ shift


def _warp_group(
    crop: np.ndarray, state: TemporalState, affine: np.ndarray, group: _Group, cfg: TemporalConfig
) -> tuple[np.ndarray, np.ndarray, float]:
    """Memory warped into one group's box by ``affine``, brightness-corrected against the
    ring and matched to the frame at the mask's edge (uint8 [h, w, 3], computed only inside
    the mask), a per-pixel confidence: the carried confidence, capped by how well the warped
    ring agrees with the frame, and that cap (the group's trust, 0-1)."""
    bh, bw = group.inside.shape
    x0, y0 = group.box[:2]
    # Box-local destination (u, v) -> full-frame source: A @ [u + x0, v + y0, 1].
    local = affine @ np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpAffine(state.memory, local, (bw, bh), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    conf = cv2.warpAffine(state.conf, local, (bw, bh), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    # Ring pixels whose warped memory was real background in the last frame.
    ring = group.ring_flat[np.take(conf.reshape(-1), group.ring_flat) > 0.99]
    coef, residual = _brightness_fit(crop, warped, ring, cfg.max_samples)
    # min, not product: the group's trust must not compound over the hops a pixel is carried.
    trust = float(np.clip((cfg.max_residual - residual) / (cfg.max_residual - cfg.ok_residual), 0.0, 1.0))
    if trust <= 0.0:  # nothing of this group is carried: skip the correction (speed)
        return warped, np.zeros_like(conf), trust
    # The fitted plane at the mask's pixels only (nothing else of the candidate is used).
    # One [n, 3] @ [3, 3] product: broadcasting each coefficient row over [n, 3] took ~10x as
    # long (NumPy's inner loop runs over the 3 channels); the same sums up to float rounding.
    plane = group.inside_grid @ coef.astype(np.float32)  # (in place from here: fewer temporaries)
    if cfg.seam > 0:
        offset, near = _seam_match(crop, warped, group, cfg)
        # Near the seam the local residual takes over from the group's plane.
        plane *= (1.0 - near)[:, None]
        plane += offset
    pixels = warped.reshape(-1, 3)  # the box's pixels as rows (the candidate is ``warped`` itself)
    plane += np.take(pixels, group.inside_flat, axis=0)
    _put_pixels(warped, group.inside_flat, plane)
    return warped, np.minimum(conf, trust), trust


def _seam_match(crop: np.ndarray, warped: np.ndarray, group: _Group, cfg: TemporalConfig) -> tuple[np.ndarray, np.ndarray]:
    """At the mask's pixels: ``crop - warped`` on the seam, Gaussian-averaged into the mask
    (float32 [n, 3]), and how near the seam each pixel is (float32 [n], 1 at it, 0 a few
    ``seam_sigma`` away: there the average fades out).

    The memory's fill did not match the frame at the mask's edge everywhere, and the carry
    moves that mismatch into the mask: where the old fill meets freshly carried background
    it drew the mask's outline, shifted, inside the fill. Seam pixels on strong edges of the
    warp count less: there the residual is misregistration, not an offset.
    """
    # Computed in ``seam_box`` only: its margin is the blur's reach, so the values at the
    # mask are those of the whole box.
    sy, sx = group.seam_box
    warped = warped[sy, sx]
    h, w = warped.shape[:2]
    gray = cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY)
    edge = np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(gray, cv2.CV_32F, 0, 1))
    weight = group.seam / (1.0 + (edge / cfg.seam_edge) ** 2)
    residual = cv2.subtract(crop[sy, sx], warped, dtype=cv2.CV_32F).reshape(h, w * 3)
    residual *= np.repeat(weight, 3, axis=1)  # [h, w * 3]: NumPy loops over rows, not 3 channels
    num = cv2.GaussianBlur(residual.reshape(h, w, 3), (0, 0), cfg.seam_sigma).reshape(-1, 3)
    total = cv2.GaussianBlur(weight, (0, 0), cfg.seam_sigma).reshape(-1)
    num, total = np.take(num, group.seam_index, axis=0), np.take(total, group.seam_index)
    # + 0.05: the average falls to 0 away from the seam instead of reaching across the mask.
    den = total + 0.05
    return num / den[:, None], total / den


def _brightness_fit(crop: np.ndarray, warped: np.ndarray, ring: np.ndarray, max_samples: int) -> tuple[np.ndarray, float]:
    """Per-channel plane ``coef`` ([3, 3]: x slope, y slope, offset) fitted to ``crop - warped``
    on the ``ring`` pixels (flat box-local indices, row-major) in box coordinates normalised
    to [-0.5, 0.5), and the median ring residual (inf if the ring is too small).

    Why: propagation loses to Telea unless the carried pixels are matched to the
    brightness around the mask (exposure changes, vignetting as the camera pans).
    """
    ring = _samples(ring, max_samples)
    if len(ring) < 12:
        return np.zeros((3, 3)), float("inf")
    h, w = warped.shape[:2]
    ys, xs = np.divmod(ring, w)
    d = crop[ys, xs].astype(np.float64) - np.take(warped.reshape(-1, 3), ring, axis=0)  # [n, 3]
    design = np.stack([xs / w - 0.5, ys / h - 0.5, np.ones(len(xs))], 1)
    coef, err = _solve_robust(design, d, 2.0)
    return coef, float(_median(err))
