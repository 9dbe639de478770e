"""Bidirectional, confidence-fused fill with a bounded lookahead (issue 26).

Each masked pixel of frame t takes the best of:

* the previous *output* frame, moved with the camera (carries what earlier frames showed);
* the *input* frames t+1 .. t+K moved back with the camera, where that frame did not
  have the pixel under its own mask (the OSD is screen-fixed while the scene moves, so a
  later frame often shows what is hidden now);
* a spatial fill (Telea on thin holes, a first-order normalized convolution on thick ones,
  averaged with Telea where a hole lies on the frame's edge).

Motion is one affine per group (a component of the OSD region grown by ``ring``), fitted
to DIS flow measured on the ring around it: inside the region the flow is meaningless
(the static OSD drags it to zero, so the region is blurred over before DIS and the flow
there is the fitted affine). A candidate's score per pixel is the product of
forward-backward consistency of the group's motion, the photometric match on the ring
after a brightness plane is fitted (group), the match on a band just outside the mask
averaged into it (per pixel), and its age (``decay`` per frame of distance). Candidates
are averaged by score; where the best score is low the spatial fill takes over, and the
previous output is mixed in so that a still scene settles to a fixed picture.

Streaming: :class:`LookaheadFill` ``push(frame, mask)`` returns the frames that are
finished (``lookahead`` frames behind), ``flush()`` the rest. The output of a frame
depends only on the frames pushed, never on how the caller groups them; memory holds
``lookahead + 1`` frames.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import NamedTuple, Optional

import cv2
import numpy as np

from .fill import spatial_fill
from .fits import fit_affine, plane_fit


# Later frames searched: 4 is nearly all of 8's gain for less of the fill's time, and 12
# adds nothing over 8 (docs/benchmarks.md, Benchmark matrix).
DEFAULT_LOOKAHEAD = 4


@dataclass(frozen=True)
class LookaheadConfig:
    """Knobs of the fill (defaults measured on generated camera paths over the eval clips)."""

    lookahead: int = DEFAULT_LOOKAHEAD  # K: later frames a pixel may be taken from (latency, memory)
    flow_scale: float = 0.5  # DIS runs on luma downscaled by this
    ring: int = 16  # px around the region where motion and brightness are measured
    gap: int = 2  # px around a frame's mask that is no source either (outline remnants)
    decay: float = 0.95  # score kept per frame of distance in time (age of a carried pixel)
    fb_tol: float = 1.0  # px: forward-backward mismatch of a group's motion fully trusted (0 at 3x)
    ok_residual: float = 6.0  # ring residual (0-255) up to which a source is fully trusted
    max_residual: float = 14.0  # ... and at which not at all
    band: int = 4  # px just outside the mask where each candidate is checked per pixel
    local_sigma: float = 3.0  # px reach of that check into the mask
    local_ok: float = 8.0  # band residual fully trusted
    local_max: float = 24.0  # ... not at all
    lo: float = 0.3  # best score at and below which the spatial fill alone is used
    hi: float = 0.6  # ... at and above which the temporal value alone
    sharp: float = 4.0  # candidates are averaged with weights score ** sharp
    smooth: float = 0.6  # share of the previous output kept where the spatial fill is used
    smooth_real: float = 0.2  # ... where a temporal source is used
    smooth_still: float = 0.9  # ... where the spatial fill is used and the camera is still
    keep: float = 0.5  # a fused pixel is a source for the next frame from this temporal share
    thin: float = 4.0  # px: Telea fills holes at most this far from their edge, a plane fit thicker ones
    max_samples: int = 300  # ring samples per group for the fits
    rest: float = 0.02  # later frames are no longer searched once at most this share of a group's pixels is unsure

    def __post_init__(self) -> None:
        if isinstance(self.lookahead, bool) or not isinstance(self.lookahead, (int, np.integer)) or self.lookahead < 0:
            raise ValueError(f"lookahead must be a whole number >= 0, got {self.lookahead!r}")
        if not 0.0 < self.flow_scale <= 1.0:
            raise ValueError(f"flow_scale must be in (0, 1], got {self.flow_scale!r}")
        if not self.lo < self.hi:
            raise ValueError(f"lo must be below hi, got {self.lo!r} >= {self.hi!r}")


# The candidates' channels (``Filled.cand``): what the fill chose from, per pixel, for a
# network that fuses them (osdfilter.model). Colours are the fused fill where a candidate
# had nothing, scores 0 there.
CANDIDATES = ("past_r", "past_g", "past_b", "past_score", "future_r", "future_g", "future_b", "future_score",
              "spatial_r", "spatial_g", "spatial_b", "spatial_weight")
CAND_RGB = (0, 1, 2, 4, 5, 6, 8, 9, 10)  # the colour channels among them (the rest are 0-1 scores x 255)


class Filled(NamedTuple):
    """One finished frame: the input, its fill (input outside ``mask``), the mask, the
    confidence of each pixel as a temporal source (1 background, 0 spatial fill), when
    asked for, the candidates (uint8 ``[H, W, 12]``, :data:`CANDIDATES`; defined within
    :attr:`LookaheadFill.cover`), and the mask's groups whose motion since the previous frame
    is known: ``(box, A)`` per group that did not move (``A`` the identity) or moved
    consistently (``box`` ``(x0, y0, x1, y1)``, ``A`` 3x3 from this frame's pixel coordinates
    to the previous frame's; None where none is)."""

    frame: np.ndarray
    filled: np.ndarray
    mask: np.ndarray
    conf: np.ndarray
    cand: Optional[np.ndarray] = None
    motion: Optional[list[tuple[tuple[int, int, int, int], np.ndarray]]] = None


# ------------------------------------------------------------------ geometry (region only)


@dataclass(frozen=True)
class _Group:
    box: tuple[int, int, int, int]  # (x0, y0, x1, y1)
    ring_idx: np.ndarray  # box-local flat indices of the ring samples
    ring_design: np.ndarray  # float64 [n, 3] their (x, y) in [-0.5, 0.5) and 1: brightness plane
    ring_local: np.ndarray  # float64 [n, 2] their box-local (x, y)
    points: np.ndarray  # float64 [n, 2] full-frame (x, y) of the ring samples
    flow_idx: np.ndarray  # their flat indices at flow resolution


def _small_size(hw: tuple[int, int], s: float) -> tuple[int, int]:
    h, w = hw
    return max(8, int(round(w * s))), max(8, int(round(h * s)))


def _geometry(region: np.ndarray, cfg: LookaheadConfig) -> tuple[list[_Group], "_Hole"]:
    h, w = region.shape
    s = cfg.flow_scale
    sw, sh = _small_size(region.shape, s)
    small = cv2.resize(region.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_AREA) > 0
    hole = cv2.dilate(small.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    r = cfg.ring
    grown = cv2.dilate(region.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    dist = cv2.distanceTransform((~region).astype(np.uint8), cv2.DIST_L2, 3)
    ring = (dist > cfg.gap + 1) & (dist <= r)
    groups = []
    for k in range(1, n):
        x0, y0, bw, bh, _ = (int(v) for v in stats[k])
        x1, y1 = x0 + bw, y0 + bh
        mine = labels[y0:y1, x0:x1] == k
        flat = np.flatnonzero(ring[y0:y1, x0:x1] & mine)
        flat = flat[:: max(1, len(flat) // cfg.max_samples)]
        ys, xs = np.divmod(flat, bw)
        design = np.stack([xs / bw - 0.5, ys / bh - 0.5, np.ones(len(xs))], 1)
        px, py = xs + x0, ys + y0
        fidx = np.clip((py * s).astype(int), 0, sh - 1) * sw + np.clip((px * s).astype(int), 0, sw - 1)
        groups.append(_Group((x0, y0, x1, y1), flat, design, np.stack([xs, ys], 1).astype(np.float64),
                             np.stack([px, py], 1).astype(np.float64), fidx))
    return groups, _hole(hole)


@dataclass(frozen=True)
class _Hole:
    """Where (flow resolution) the blur fill replaces the frame before the flow, and its
    normaliser: computed once, the region does not change."""

    box: tuple[slice, slice]  # the hole's bounding box grown by the blur's reach
    hole: np.ndarray  # bool in ``box``
    keep: np.ndarray  # float32 in ``box``: 1 outside the hole
    norm: np.ndarray  # float32 [m] the blurred ``keep`` at the hole's pixels


def _hole(hole: np.ndarray) -> _Hole:
    ys, xs = np.nonzero(hole)
    reach = int(np.ceil(4 * BLUR_SIGMA))
    if not len(ys):
        return _Hole((slice(0, 0), slice(0, 0)), np.zeros((0, 0), bool), np.zeros((0, 0), np.float32), np.zeros(0, np.float32))
    box = (slice(max(0, ys.min() - reach), ys.max() + 1 + reach), slice(max(0, xs.min() - reach), xs.max() + 1 + reach))
    keep = (~hole[box]).astype(np.float32)
    norm = np.maximum(cv2.GaussianBlur(keep, (0, 0), BLUR_SIGMA), 1e-3)
    return _Hole(box, hole[box], keep, norm[hole[box]])


STILL = 0.25  # px: a group's motion moving no corner of its box farther is no motion (codec noise on a still frame fitted 0.2)
MIN_FLOW_SIDE = 32  # DIS fails (or crashed) on smaller images
BLUR_SIGMA = 6.0  # px at flow resolution: the blur fill of the hole before the flow


def _blur_fill(gray: np.ndarray, h: _Hole) -> np.ndarray:
    """``gray`` with the region's hole replaced by a normalized Gaussian average around it, so
    that the static OSD's edges do not pull the flow around it towards zero."""
    if not h.hole.size:
        return gray
    num = cv2.GaussianBlur(gray[h.box].astype(np.float32) * h.keep, (0, 0), BLUR_SIGMA)
    gray[h.box][h.hole] = np.clip(num[h.hole] / h.norm + 0.5, 0, 255).astype(np.uint8)
    return gray


# ------------------------------------------------------------------ streaming


@dataclass
class FrameMaps:
    """One frame as :meth:`LookaheadFill.analyse` saw it: its own maps, and its motion to its
    neighbours (set when the next frame is analysed)."""

    rgb: np.ndarray
    mask: np.ndarray
    clean: np.ndarray  # uint8 255 where farther than ``gap`` from the mask: a trusted source pixel
    near: np.ndarray  # uint8 255 within a pixel (3x3) of a clean one: where a bilinear read of ``clean`` can be 255
    small: np.ndarray  # blur-filled luma at flow resolution
    fwd: Optional[list] = None  # per group: 3x3 motion to the next frame (None: unknown)
    bwd: Optional[list] = None  # per group: 3x3 motion to the previous frame
    fb: Optional[list] = None  # per group: consistency (0-1) of the motion to the next frame


def box_shift(box: tuple[int, int, int, int], A: np.ndarray) -> float:
    """How far motion ``A`` (3x3) moves the farthest corner of ``box`` ``(x0, y0, x1, y1)``,
    in px along x or y."""
    x0, y0, x1, y1 = box
    corners = np.array([[x0, y0, 1.0], [x1, y0, 1.0], [x0, y1, 1.0], [x1, y1, 1.0]])
    return float(np.abs(corners @ (A - np.eye(3)).T).max())


def is_still(A: np.ndarray) -> bool:
    """Whether a group's motion is none: :meth:`LookaheadFill._motion` snaps a still camera's to
    the identity, so a carried pixel is not resampled (it neither ages nor blurs)."""
    return bool(np.abs(A - np.eye(3)).max() < 1e-3)


def _shift(x0: int, y0: int) -> np.ndarray:
    return np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])


class LookaheadFill:
    """The fill for one video of frames of one size; ``region`` (bool [H, W]) bounds every
    frame's mask (the OSD's extent). Frames in order; ``reset()`` at a cut."""

    def __init__(self, region: np.ndarray, config: LookaheadConfig = LookaheadConfig(), candidates: bool = False,
                 cover: Optional[list[tuple[int, int, int, int]]] = None) -> None:
        self.config = config
        self.candidates = candidates  # also return each frame's candidates (Filled.cand)
        # Where Filled.cand is read ((y0, y1, x0, x1) rectangles holding the region; None: the
        # whole frame): elsewhere its values are undefined, and building them cost more than
        # the rest of the candidates (the filter reads the tile crops only).
        self.cover = cover
        self.region = np.asarray(region, bool)
        self.groups, self._hole = _geometry(self.region, config)
        k = 2 * config.gap + 1
        self._gap_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        k = 2 * config.band + 1
        self._band_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        self._memo: list[list] = [[] for _ in self.groups]  # per group: the spatial fill's last Telea drift
        self._sources_of: Optional[tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]] = None  # (mask, its _sources)
        self._clear()

    def _clear(self) -> None:
        self._window: deque[FrameMaps] = deque()
        # (output, conf, frame) of the frame before the window; its motion to the next frame
        # may come after it left the window (lookahead 0).
        self._prev: Optional[tuple[np.ndarray, np.ndarray, FrameMaps]] = None
        self._last: Optional[FrameMaps] = None  # the frame analysed last: the next one's motion is measured from it

    def reset(self) -> list[Filled]:
        """Scene cut: finish the buffered frames, then forget everything."""
        out = self.flush()
        self._clear()
        return out

    def push(self, frame: np.ndarray, mask: np.ndarray) -> list[Filled]:
        """Add the next frame (uint8 RGB) and its mask (bool, within the region); returns the
        frames it finished (``lookahead`` frames late)."""
        return self.add(self.analyse(frame, mask))

    # :meth:`push` in two halves, for a pipeline that runs them in two threads: ``analyse``
    # (the frame's own maps and its motion from the frame analysed before it) may run ahead
    # of ``add`` (the fill), which reads a frame's motion to the next one only once that
    # next frame was added. Each keeps its own state; a cut resets both (``cut=True``).

    def analyse(self, frame: np.ndarray, mask: np.ndarray, cut: bool = False) -> FrameMaps:
        """:meth:`push`'s first half: the frame's flow image, clean-source maps and motion from
        the previous frame (none across a ``cut``)."""
        cfg = self.config
        mask = np.asarray(mask, bool)
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        gray = cv2.resize(gray, _small_size(gray.shape, cfg.flow_scale), interpolation=cv2.INTER_AREA)
        small = _blur_fill(gray, self._hole)
        cur = FrameMaps(frame, mask, *self._sources(mask), small)
        if self._last is not None and not cut:
            self._motion(self._last, cur)
        self._last = cur
        return cur

    def _sources(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:attr:`FrameMaps.clean` and :attr:`FrameMaps.near` of ``mask``: shared by the frames of
        an unchanging mask (read only), so the frames queued between the stream's stages do
        not each hold two more full-size maps."""
        if self._sources_of is not None and np.array_equal(mask, self._sources_of[0]):
            return self._sources_of[1]
        clean = cv2.dilate(mask.view(np.uint8), self._gap_kernel)
        np.subtract(1, clean, out=clean)
        clean *= 255
        maps = clean, cv2.dilate(clean, np.ones((3, 3), np.uint8))
        for a in maps:
            a.flags.writeable = False
        self._sources_of = (mask.copy(), maps)
        return maps

    def add(self, cur: FrameMaps, cut: bool = False) -> list[Filled]:
        """:meth:`push`'s second half, for frames from :meth:`analyse` in order: the frames it
        finished (after a ``cut``, first those before it, filled with what they had)."""
        out: list[Filled] = []
        if cut:  # nothing is carried across it
            out, self._prev = self.flush(), None
        self._window.append(cur)
        while len(self._window) > self.config.lookahead:
            out.append(self._emit())
        return out

    def flush(self) -> list[Filled]:
        out = []
        while self._window:
            out.append(self._emit())
        return out

    def _emit(self) -> Filled:
        cur = self._window[0]
        motion = self._motion_known(cur)
        filled, conf, cand = self._restore(cur, list(self._window)[1:])
        self._prev = (filled, conf, cur)
        self._window.popleft()
        return Filled(cur.rgb, filled, cur.mask, conf, cand, motion)

    def _motion_known(self, cur: FrameMaps) -> Optional[list[tuple[tuple[int, int, int, int], np.ndarray]]]:
        """:attr:`Filled.motion` of ``cur`` (before its fill replaces the previous output): the
        groups that did not move since the previous frame, and those that moved with a
        consistent motion (forward-backward score at least a half: a mismatch of at most 2 px
        at its ring)."""
        if self._prev is None or cur.bwd is None or self._prev[2].fb is None:
            return None
        known = [(g.box, A) for g, A, fb in zip(self.groups, cur.bwd, self._prev[2].fb)
                 if A is not None and (is_still(A) or fb >= 0.5)]
        return known or None

    # ---- motion of one pair of frames, once
    def _motion(self, a: FrameMaps, b: FrameMaps) -> None:
        cfg = self.config
        n = len(self.groups)
        a.fwd, a.fb, b.bwd = [None] * n, [0.0] * n, [None] * n
        if min(a.small.shape) < MIN_FLOW_SIDE or a.small.shape != b.small.shape:
            return
        s = cfg.flow_scale
        # A fresh DIS per call: a reused one carries buffers from earlier calls into its result.
        fwd = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST).calc(a.small, b.small, None).reshape(-1, 2)
        bwd = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST).calc(b.small, a.small, None).reshape(-1, 2)
        sh, sw = a.small.shape
        for i, g in enumerate(self.groups):
            if len(g.points) < 12:
                continue
            fits = []
            for there, back in ((fwd, bwd), (bwd, fwd)):
                d = np.take(there, g.flow_idx, axis=0) / s
                q = g.points + d
                qi = np.clip((q[:, 1] * s).astype(int), 0, sh - 1) * sw + np.clip((q[:, 0] * s).astype(int), 0, sw - 1)
                ok = np.abs(d + np.take(back, qi, axis=0) / s).sum(1) <= 2 * cfg.fb_tol
                fits.append(fit_affine(g.points[ok], q[ok]) if ok.sum() >= 12 else fit_affine(g.points, q))
            # A still camera: DIS noise fits a motion of a few hundredths of a pixel, and carrying
            # by it would resample (blur) the fill every frame and keep it from settling.
            fits = [np.eye(3) if box_shift(g.box, A) < STILL else A for A in fits]
            a.fwd[i], b.bwd[i] = fits
            # Forward then backward should come back: the mismatch at the ring is the group's consistency.
            p = np.concatenate([g.points, np.ones((len(g.points), 1))], 1)
            err = float(np.abs((p @ (fits[1] @ fits[0]).T)[:, :2] - g.points).sum(1).mean())
            a.fb[i] = float(np.clip((3 * cfg.fb_tol - err) / (2 * cfg.fb_tol), 0.0, 1.0))

    # ---- one frame
    def _restore(self, cur: FrameMaps, later: list[FrameMaps]) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
        out = cur.rgb.copy()
        conf = (cur.clean > 0).astype(np.float32)
        cands = []
        for i, g in enumerate(self.groups):
            x0, y0, x1, y1 = g.box
            m = cur.mask[y0:y1, x0:x1]
            idx = np.flatnonzero(m)
            if len(idx):
                crop, cc = out[y0:y1, x0:x1].copy(), conf[y0:y1, x0:x1].copy()  # contiguous: written through flat views
                c = self._fill_group(i, g, cur, later, m, idx, crop, cc)
                out[y0:y1, x0:x1] = crop
                conf[y0:y1, x0:x1] = cc
                if self.candidates:
                    ys, xs = np.divmod(idx, x1 - x0)
                    cands.append(((ys + y0) * out.shape[1] + xs + x0, c))
        if not self.candidates:
            return out, conf, None
        # Every candidate is the output where it had nothing: (r, g, b, score 0) x 3, merged by
        # OpenCV (half the time of three strided numpy copies).
        h, w = out.shape[:2]
        cand = np.empty((h, w, len(CANDIDATES)), np.uint8)
        for y0, y1, x0, x1 in [(0, h, 0, w)] if self.cover is None else self.cover:
            part = out[y0:y1, x0:x1]
            rgb0 = cv2.merge([*cv2.split(part), np.zeros(part.shape[:2], np.uint8)])
            cand[y0:y1, x0:x1] = cv2.merge([rgb0] * 3)
        for flat, c in cands:  # in group order, as ``out`` was written
            c += 0.5
            np.clip(c, 0, 255, out=c)
            cand.reshape(-1).view(f"V{len(CANDIDATES)}")[flat] = c.astype(np.uint8).view(f"V{len(CANDIDATES)}").reshape(-1)
        return out, conf, cand

    def _candidates(self, i: int, g: _Group, cur: FrameMaps, later: list[FrameMaps]):
        """(source rgb, 3x3 box-local -> source, score cap, validity source, is the previous output,
        :attr:`FrameMaps.near` of a later frame) of each candidate, nearest in time first."""
        T = _shift(g.box[0], g.box[1])
        if self._prev is not None and cur.bwd is not None and cur.bwd[i] is not None and self._prev[2].fb is not None:
            A = cur.bwd[i]
            # A still camera resamples nothing: a carried pixel does not age there.
            yield self._prev[0], A @ T, (1.0 if is_still(A) else self.config.decay) * self._prev[2].fb[i], self._prev[1], True, None
        A, fb, prev = np.eye(3), 1.0, cur
        for j, fr in enumerate(later, start=1):
            if prev.fwd is None or prev.fwd[i] is None:
                return
            A, fb = prev.fwd[i] @ A, min(fb, prev.fb[i])
            yield fr.rgb, A @ T, self.config.decay ** j * fb, fr.clean, False, fr.near
            prev = fr

    def _fill_group(self, i, g, cur, later, m, idx, crop, conf_crop) -> Optional[np.ndarray]:
        """Fill group ``g``'s ``idx`` (flat, box-local) in ``crop`` (a contiguous copy of its box,
        written in place), and its source confidence in ``conf_crop``; returns the candidates
        of those pixels (float32 ``[n, 12]``) when the fill was asked for them."""
        cfg = self.config
        bh, bw = m.shape
        m8 = m.view(np.uint8)
        band_img = cv2.dilate(m8, self._band_kernel) > m8
        pixels = crop.reshape(-1, 3)
        ring_val = np.take(pixels, g.ring_idx, axis=0).astype(np.float64)
        ring_xy = g.ring_local
        n = len(idx)
        ys, xs = np.divmod(idx, bw)
        best = np.zeros(n, np.float32)
        acc = np.zeros((n, 3), np.float32)
        wsum = np.zeros(n, np.float32)
        later_acc, later_wsum, later_best = np.zeros((n, 3), np.float32), np.zeros(n, np.float32), np.zeros(n, np.float32)
        prev_val, prev_trust, prev_score = None, 0.0, np.zeros(n, np.float32)
        reach = cfg.band + int(np.ceil(3 * cfg.local_sigma)) + 1
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        for src, M, cap, valid_src, is_prev, near in self._candidates(i, g, cur, later):
            # Only pixels this candidate can still make surer are worth its cost.
            unsure = best < min(cap, cfg.hi)
            if cap <= cfg.lo * 0.5 or np.count_nonzero(unsure) <= (0 if is_prev else cfg.rest * n):
                if is_prev:
                    continue
                break  # (later frames: for a handful of pixels the spatial fill will do)
            if near is not None and not self._lands(near, M, xs, ys):
                continue  # (a later frame with the OSD where this one has it: the common case)
            # The box of the unsure pixels, grown by the band check's reach.
            uy, ux = ys[unsure], xs[unsure]
            ry0, ry1 = max(0, int(uy.min()) - reach), min(bh, int(uy.max()) + 1 + reach)
            rx0, rx1 = max(0, int(ux.min()) - reach), min(bw, int(ux.max()) + 1 + reach)
            rh, rw = ry1 - ry0, rx1 - rx0
            Mr = (M @ _shift(rx0, ry0))[:2]
            valid = cv2.warpAffine(valid_src, Mr, (rw, rh), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0).reshape(-1)
            lo, hi = np.searchsorted(ys, (ry0, ry1))  # (idx is sorted: its rows are)
            sel = lo + np.flatnonzero((xs[lo:hi] >= rx0) & (xs[lo:hi] < rx1))
            li = (ys[sel] - ry0) * rw + (xs[sel] - rx0)
            vm = np.take(valid, li)
            vm = vm * np.float32(1.0) if is_prev else (vm >= 254).astype(np.float32)
            if not is_prev and not vm.any():
                continue  # (a later frame with the OSD where this one has it: the common case)
            # The group's trust, from the ring samples alone (cheap: a few hundred points).
            where = (ring_xy @ M[:2, :2].T + M[:2, 2]).astype(np.float32).reshape(1, -1, 2)
            rvalid = cv2.remap(valid_src, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0).reshape(-1)
            ring_ok = rvalid > 0.99 if is_prev else rvalid >= 254
            rcand = cv2.remap(src, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).reshape(-1, 3)
            coef, res = plane_fit(g.ring_design[ring_ok], ring_val[ring_ok] - rcand[ring_ok])
            trust = float(np.clip((cfg.max_residual - res) / (cfg.max_residual - cfg.ok_residual), 0.0, 1.0))
            if trust <= 0.0:
                continue
            coef = coef.astype(np.float32)
            cand = cv2.warpAffine(src, Mr, (rw, rh), flags=flags, borderMode=cv2.BORDER_REPLICATE).reshape(-1, 3)
            val = np.take(cand, li, axis=0) + self._plane(coef, xs[sel], ys[sel], bw, bh)
            band = np.flatnonzero(band_img[ry0:ry1, rx0:rx1])
            by, bx = np.divmod(band, rw)
            bval = np.take(cand, band, axis=0) + self._plane(coef, bx + rx0, by + ry0, bw, bh)
            band_ok = np.take(valid, band) > (0.99 if is_prev else 253)
            truth = crop[ry0:ry1, rx0:rx1].reshape(-1, 3)
            resid = np.abs(bval - np.take(truth, band, axis=0)).mean(1)
            local = self._local(rh, rw, ys[sel] - ry0, xs[sel] - rx0, by, bx, resid, band_ok, res)
            sc = cap * trust * vm * local
            w = sc**cfg.sharp
            if is_prev:
                prev_val, prev_trust = np.zeros((n, 3), np.float32), trust
                prev_val[sel] = val
                prev_score[sel] = sc
            else:
                later_acc[sel] += w[:, None] * val
                later_wsum[sel] += w
                later_best[sel] = np.maximum(later_best[sel], sc)
            acc[sel] += w[:, None] * val
            wsum[sel] += w
            best[sel] = np.maximum(best[sel], sc)
        # fuse with the spatial fill
        alpha = np.clip((best - cfg.lo) / (cfg.hi - cfg.lo), 0.0, 1.0)
        has = wsum > 1e-12
        value = np.zeros((n, 3), np.float32)
        value[has] = acc[has] / wsum[has, None]
        sure = alpha >= 1.0
        if sure.any():
            pixels[idx[sure]] = np.clip(value[sure] + 0.5, 0, 255).astype(np.uint8)
        rest = ~sure
        spatial = None
        if rest.any():
            hole = np.zeros((bh, bw), np.uint8)
            hole.reshape(-1)[idx[rest]] = 1
            spatial = np.take(spatial_fill(crop, hole, cfg.thin, self._memo[i]).reshape(-1, 3), idx[rest], axis=0)
            a = alpha[rest, None]
            value[rest] = a * value[rest] + (1.0 - a) * spatial
        if prev_val is not None:
            # A running average along the motion: steadies the fill, and settles a still scene
            # (there the previous output is pixel-exact, nothing resampled: kept more).
            smooth = cfg.smooth_still if is_still(cur.bwd[i]) else cfg.smooth
            mu = (alpha * cfg.smooth_real + (1.0 - alpha) * smooth) * prev_trust
            value += mu[:, None] * (prev_val - value)
        pixels[idx] = np.clip(value + 0.5, 0, 255).astype(np.uint8)
        conf_crop.reshape(-1)[idx] = np.where(alpha >= cfg.keep, best, 0.0)
        if not self.candidates:
            return None
        # The candidates (CANDIDATES), each the fused value where it had nothing.
        cand = np.empty((n, len(CANDIDATES)), np.float32)
        cand[:, 0:3] = value if prev_val is None else np.where(prev_score[:, None] > 0, prev_val, value)
        cand[:, 3] = prev_score * 255.0
        has = later_wsum > 1e-12
        cand[:, 4:7] = value
        cand[has, 4:7] = later_acc[has] / later_wsum[has, None]
        cand[:, 7] = later_best * 255.0
        cand[:, 8:11] = value
        if spatial is not None:
            cand[rest, 8:11] = spatial
        cand[:, 11] = (1.0 - alpha) * 255.0
        return cand

    @staticmethod
    def _lands(near: np.ndarray, M: np.ndarray, x: np.ndarray, y: np.ndarray) -> bool:
        """Whether any box-local pixel (x, y) moved by ``M`` lands within a pixel of a clean
        source pixel (``near``): else the bilinear warp of the source's validity is below 254
        at all of them, and the candidate's two warps would be wasted."""
        h, w = near.shape
        px = np.rint(x * M[0, 0] + y * M[0, 1] + M[0, 2])
        py = np.rint(x * M[1, 0] + y * M[1, 1] + M[1, 2])
        inside = (px >= 0) & (px < w) & (py >= 0) & (py < h)
        return bool(near[py[inside].astype(np.intp), px[inside].astype(np.intp)].any())

    @staticmethod
    def _plane(coef: np.ndarray, x: np.ndarray, y: np.ndarray, bw: int, bh: int) -> np.ndarray:
        """The brightness plane ``coef`` at box-local pixels (x, y): float32 [n, 3]."""
        design = np.empty((len(x), 3), np.float32)
        design[:, 0] = x * (1.0 / bw) - 0.5
        design[:, 1] = y * (1.0 / bh) - 0.5
        design[:, 2] = 1.0
        return design @ coef

    def _local(self, bh, bw, ys, xs, by, bx, resid, ok, res_group):
        """Per mask pixel, 0-1: how well a candidate matches the frame on the band just outside
        the mask, Gaussian-averaged into it (the group's ring residual where no band is near)."""
        cfg = self.config
        nd = np.zeros((bh, bw, 2), np.float32)  # (numerator, denominator): blurred in one call
        nd[by, bx, 0] = resid * ok
        nd[by, bx, 1] = ok
        nd = cv2.GaussianBlur(nd, (0, 0), cfg.local_sigma)[ys, xs]
        num, den = nd[:, 0], nd[:, 1]
        e = (num + 0.02 * min(res_group, 50.0)) / (den + 0.02)
        return np.clip((cfg.local_max - e) / (cfg.local_max - cfg.local_ok), 0.0, 1.0)


def fill_sequence(frames, masks, config: LookaheadConfig = LookaheadConfig(), candidates: bool = False):
    """The fill of a whole clip from a fresh state: ``[T, H, W, 3]`` uint8 for ``frames``
    (uint8 ``[T, H, W, 3]``) and ``masks`` (bool ``[T, H, W]``; their union is the region).
    With ``candidates``: ``(filled, cand)``, ``cand`` uint8 ``[T, H, W, 12]`` (:data:`CANDIDATES`)."""
    masks = [np.asarray(m, bool) for m in masks]
    fill = LookaheadFill(np.logical_or.reduce(masks), config, candidates)
    out = []
    for f, m in zip(frames, masks):
        out += fill.push(f, m)
    out += fill.flush()
    filled = np.stack([o.filled for o in out])
    return (filled, np.stack([o.cand for o in out])) if candidates else filled
