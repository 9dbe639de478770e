"""Classical fills put inside the mask before the network sees a frame.

The network (``ModelConfig.residual``) learns a correction of this fill rather than
drawing pixels from nothing, so even a briefly trained model starts at the classical
quality (FINDINGS.md: thin glyph strokes are easy for Telea).

Two kinds of fill:

* stateless, per image (``telea``, ``none``): ``get_prefill(name)(image, mask)``; the filter
  applies them to each tile crop.
* temporal (``temporal``): causal and stateful. The OSD is screen-fixed while the camera
  moves, so background hidden under the mask now was visible in earlier frames. Each frame
  the previous *filled* frame (the background memory) is warped into the current one with
  the motion measured just outside the mask, brightness-corrected against that ring, and
  used where it is trustworthy; Telea fills what no frame has shown. Use
  :class:`TemporalPrefill` (one per video, frames in order, ``reset()`` on a cut) on full
  frames, or :func:`prefill_sequence` for a ``[T, H, W, 3]`` clip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

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
TEMPORAL_PREFILLS = ("temporal",)


def is_temporal(name: str) -> bool:
    """Whether prefill ``name`` needs the frames in order (full frames, one state per video)."""
    return name in TEMPORAL_PREFILLS


def get_prefill(name: str) -> Prefill:
    """The stateless prefill ``name``: ``fill(image_uint8 [H, W, 3], mask_bool [H, W])``."""
    if is_temporal(name):
        raise ValueError(
            f"prefill {name!r} is temporal: use TemporalPrefill() on full frames in order, "
            "or prefill_sequence(frames, masks)"
        )
    try:
        return PREFILLS[name]
    except KeyError:
        choices = sorted([*PREFILLS, *TEMPORAL_PREFILLS])
        raise ValueError(f"unknown prefill {name!r}; choose from {choices}") from None


# ---------------------------------------------------------------- temporal prefill


@dataclass(frozen=True)
class TemporalConfig:
    """Knobs of the temporal prefill (defaults measured on the eval clips, benchmarks/quality.py)."""

    flow_scale: float = 0.5  # DIS runs on luma downscaled by this: camera motion is smooth
    ring: int = 16  # px around the mask where motion and brightness are measured
    gap: int = 2  # px skipped just outside the mask (outline remnants, codec ringing)
    decay: float = 0.93  # confidence kept per frame a pixel is carried inside the mask
    min_conf: float = 0.5  # below this a pixel is filled by Telea instead
    ok_residual: float = 6.0  # mean ring residual (0-255) up to which a group's warp is fully trusted
    max_residual: float = 14.0  # ... and at which it is not trusted at all
    radius: int = 3  # Telea radius for the fallback
    max_samples: int = 1500  # ring samples per group for the motion fit (speed)


@dataclass
class TemporalState:
    """What one frame leaves for the next (all full-frame)."""

    memory: np.ndarray  # float32 [H, W, 3] the previous output: input outside the mask, fill inside
    conf: np.ndarray  # float32 [H, W] 1 = real background last frame; decays while carried
    gray: np.ndarray  # uint8 [h, w] downscaled luma of ``memory`` (the flow's source)


class TemporalPrefill:
    """Causal temporal fill for one video: call on each full frame in order; ``reset()`` on a cut.

    Deterministic, and the output of frame t depends only on frames 0..t since the last
    reset, so it does not depend on how the caller chunks the video.
    """

    def __init__(self, config: TemporalConfig = TemporalConfig()) -> None:
        self.config = config
        self.state: Optional[TemporalState] = None
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)

    def reset(self) -> None:
        """Forget the background memory (scene cut, seek, new file): the next frame is Telea."""
        self.state = None

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Fill ``mask`` (bool [H, W]) in ``image`` (uint8 [H, W, 3]); returns uint8 [H, W, 3]."""
        out, self.state = temporal_step(image, mask, self.state, self.config, self._dis)
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
    dis: Optional[cv2.DISOpticalFlow] = None,
) -> tuple[np.ndarray, TemporalState]:
    """One frame of the temporal prefill: ``(filled uint8 [H, W, 3], new state)``.

    ``state=None`` (first frame, after a reset) or a size change gives plain Telea.
    """
    mask = mask.astype(bool)
    if state is None or state.memory.shape != image.shape:
        out = telea(image, mask, cfg.radius)
        return out, _new_state(out, mask, np.zeros(mask.shape, np.float32), cfg)
    if not mask.any():
        return image, _new_state(image, mask, np.zeros(mask.shape, np.float32), cfg)
    dis = dis or cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    gray = _small_luma(image, mask, cfg.flow_scale)
    # Backward flow: for each pixel now, where it was in the previous (filled) frame.
    flow = dis.calc(gray, state.gray, None) / cfg.flow_scale
    cand, weight = _propagate(image, mask, state, flow, cfg)
    good = mask & (weight >= cfg.min_conf)
    out = image.copy()
    out[good] = np.clip(cand[good] + 0.5, 0, 255).astype(np.uint8)
    # Telea fills what no frame has shown, using propagated pixels as its boundary too.
    out = telea(out, mask & ~good, cfg.radius)
    carried = np.where(good, weight * cfg.decay, 0.0).astype(np.float32)
    return out, _new_state(out, mask, carried, cfg)


def _new_state(out: np.ndarray, mask: np.ndarray, carried: np.ndarray, cfg: TemporalConfig) -> TemporalState:
    """Memory for the next frame: real pixels (conf 1) outside the mask, ``carried`` inside."""
    conf = np.where(mask, carried, 1.0).astype(np.float32)
    return TemporalState(out.astype(np.float32), conf, _small_luma(out, None, cfg.flow_scale))


def _small_luma(image: np.ndarray, mask: Optional[np.ndarray], scale: float) -> np.ndarray:
    """Downscaled luma for DIS; the mask is filled smoothly first, so the static OSD's strong
    edges do not pull the flow around it towards zero."""
    h, w = image.shape[:2]
    size = (max(8, int(round(w * scale))), max(8, int(round(h * scale))))
    gray = cv2.resize(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
    if mask is None:
        return gray
    m = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_AREA) > 0
    m = cv2.dilate(m.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return _blur_fill(gray, m)


def _blur_fill(gray: np.ndarray, hole: np.ndarray, sigma: float = 6.0) -> np.ndarray:
    """``gray`` with ``hole`` replaced by a normalized Gaussian average of the pixels around it."""
    w = (~hole).astype(np.float32)
    num = cv2.GaussianBlur(gray.astype(np.float32) * w, (0, 0), sigma)
    den = cv2.GaussianBlur(w, (0, 0), sigma)
    fill = num / np.maximum(den, 1e-3)
    out = gray.copy()
    out[hole] = np.clip(fill[hole] + 0.5, 0, 255).astype(np.uint8)
    return out


def _propagate(image: np.ndarray, mask: np.ndarray, state: TemporalState, flow: np.ndarray, cfg: TemporalConfig) -> tuple[np.ndarray, np.ndarray]:
    """Warped, brightness-corrected memory and its confidence, both full-frame (valid on ``mask``).

    The mask is split into groups (components of the mask grown by ``ring``); each group gets
    one affine motion fitted to the flow in its ring, since the flow inside the mask only
    sees the static OSD.
    """
    h, w = mask.shape
    cand = np.zeros((h, w, 3), np.float32)
    weight = np.zeros((h, w), np.float32)
    grown = _grow(mask, cfg.ring)
    near = _grow(mask, cfg.gap)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(grown.astype(np.uint8), connectivity=8)
    for g in range(1, n):
        x0, y0, bw, bh, _ = stats[g]
        sl = (slice(y0, y0 + bh), slice(x0, x0 + bw))
        ring = (labels[sl] == g) & ~near[sl]
        inside = (labels[sl] == g) & mask[sl]
        fit = _fit_affine(flow, ring, x0, y0, (h, w), cfg.max_samples)
        if fit is None:
            continue
        c, wt = _warp_group(image[sl], state, fit, x0, y0, ring, cfg)
        cand[sl][inside] = c[inside]
        weight[sl][inside] = wt[inside]
    return cand, weight


def _grow(mask: np.ndarray, px: int) -> np.ndarray:
    if px <= 0:
        return mask
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool)


def _fit_affine(flow: np.ndarray, ring: np.ndarray, x0: int, y0: int, frame_hw: tuple[int, int], max_samples: int) -> Optional[np.ndarray]:
    """2x3 affine ``A``: ``A @ [x, y, 1]`` is where full-frame pixel (x, y) was last frame.

    Least squares on the (downscaled, already full-scale-valued) ``flow`` sampled at the
    ``ring`` pixels of a group whose box starts at (x0, y0), then refitted without outliers
    (occlusions, independently moving objects).
    """
    ys, xs = np.nonzero(ring)
    if len(xs) < 12:
        return None
    step = max(1, len(xs) // max_samples)
    xs, ys = (xs[::step] + x0).astype(np.float64), (ys[::step] + y0).astype(np.float64)
    sh, sw = flow.shape[:2]
    iy = np.clip((ys * sh / frame_hw[0]).astype(int), 0, sh - 1)
    ix = np.clip((xs * sw / frame_hw[1]).astype(int), 0, sw - 1)
    target = np.stack([xs + flow[iy, ix, 0], ys + flow[iy, ix, 1]], 1)
    design = np.stack([xs, ys, np.ones_like(xs)], 1)
    keep = np.ones(len(xs), bool)
    for _ in range(2):
        coef = np.linalg.lstsq(design[keep], target[keep], rcond=None)[0]  # [3, 2]
        err = np.linalg.norm(design @ coef - target, axis=1)
        keep = err <= max(0.5, 2.5 * float(np.median(err)))
    return coef.T.astype(np.float64)


def _warp_group(
    image: np.ndarray, state: TemporalState, affine: np.ndarray, x0: int, y0: int, ring: np.ndarray, cfg: TemporalConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Memory warped into one group's box by ``affine``, with a brightness correction fitted
    on the ring, and a per-pixel confidence (carried confidence x how well the ring agrees)."""
    bh, bw = ring.shape
    # Box-local destination (u, v) -> full-frame source: A @ [u + x0, v + y0, 1].
    local = affine @ np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpAffine(state.memory, local, (bw, bh), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    conf = cv2.warpAffine(state.conf, local, (bw, bh), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    offset, residual = _brightness_fit(image.astype(np.float32) - warped, ring & (conf > 0.99))
    # min, not product: the group's trust must not compound over the hops a pixel is carried.
    trust = float(np.clip((cfg.max_residual - residual) / (cfg.max_residual - cfg.ok_residual), 0.0, 1.0))
    return warped + offset, np.minimum(conf, trust)


def _brightness_fit(diff: np.ndarray, ring: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-channel plane fitted to ``diff`` (image - warped, [h, w, 3]) on ``ring``, evaluated on
    the whole box, and the mean absolute residual on the ring (inf if the ring is too small).

    FINDINGS.md: propagation loses to Telea unless the carried pixels are matched to the
    brightness around the mask (exposure changes, vignetting as the camera pans).
    """
    ys, xs = np.nonzero(ring)
    if len(xs) < 12:
        return np.zeros(3, np.float32), float("inf")
    d = diff[ys, xs].astype(np.float64)  # [n, 3]
    design = np.stack([xs, ys, np.ones(len(xs))], 1).astype(np.float64)
    keep = np.ones(len(xs), bool)
    for _ in range(2):
        coef = np.linalg.lstsq(design[keep], d[keep], rcond=None)[0]  # [3 (x, y, 1), 3 channels]
        err = np.abs(design @ coef - d).mean(1)
        keep = err <= max(2.0, 2.5 * float(np.median(err)))
    residual = float(np.median(err))
    h, w = diff.shape[:2]
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    plane = gx[..., None] * coef[0].astype(np.float32) + gy[..., None] * coef[1].astype(np.float32) + coef[2].astype(np.float32)
    return plane, residual
