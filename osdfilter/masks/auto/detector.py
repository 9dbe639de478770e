"""Automatic OSD mask detection: find the burned-in overlay in the video itself.

An FPV OSD is fixed to the screen and high contrast: white glyphs with a 1-2 px black
outline (some icons coloured), while the scene behind it moves. Detection runs in two
stages, both streaming and memory bounded (a handful of full-frame accumulators, never
the frames themselves):

1. **Layout** (``MaskDetector.observe`` over the first ``window_s`` seconds, then
   ``finish``). Per observed frame, at a working resolution of at most
   ``max_work_width`` pixels wide:

   - *glyph cue*: a bright pixel (max channel >= ``bright``) with a pixel at least
     ``contrast`` darker within ``stroke_px`` on both sides, horizontally or
     vertically, i.e. an outlined stroke (relative, so semi-transparent OSDs pass); dilated by ``outline_px`` so the outline is included.
     Colour is not required, so coloured icons with a dark outline pass too.
     Per pixel we count the frames where it fires.
   - *directional gradients*: running sums of the per-frame 1x3 and 3x1 morphological
     gradients of luma. ``finish`` compares them with the same gradients of the *mean*
     image: a screen-fixed glyph edge keeps its contrast in the mean (persistence
     ``grad(mean) / mean(grad)`` near 1), a moving scene blurs out.

   ``finish`` turns these into an :class:`OSDLayout`:

   - camera motion is the median pixel's temporal luma std (``moving_std``), or, in
     low-contrast footage, that std against the median pixel's gradient (``moving_ratio``).
   - moving camera: ``static`` = pixels with mean-image gradient >= ``mean_grad`` and
     persistence >= ``persist`` that have persistent edges in *both* directions within
     5 px (a horizontal pan leaves horizontal scene edges persistent, glyphs have both),
     grown by hysteresis into weaker persistent pixels (``weak_grad``/``weak_persist``,
     small blurred fonts); components kept only when they hold outlined-stroke pixels
     of the mean image (or are both-direction strong), are no taller than
     ``max_line_frac`` of the frame and are not long thin lines. Of those, only
     *anchors* and what lies on their text lines survive: an anchor is the part of a
     component within ``trim_px`` of *enclosed* stroke pixels (bright, with a darker
     pixel within ``stroke_px`` on both sides across the stroke and within
     ``hv_reach`` along it: an outlined glyph body is closed, a scene edge that a pan
     or a tracked subject keeps persistent is open along itself) that fills >= ``min_fill`` of its box; components sharing half
     their rows with a line of anchors (icons up to ``rescue_h`` line heights) are
     kept too, so faint digits and punctuation beside a clear glyph stay. No extra
     dilation (``moving_dilate_px``): the gradient region already covers the outline.
   - static camera: ``static`` = outlined strokes of the mean image with the same
     component shape filter (weak: textured static scenes give false positives); a
     component too big for text (a glyph merged with the scene) is not dropped whole:
     its undilated strokes are retried as enclosed-stroke anchors. Then a small learned
     classifier (:mod:`osdfilter.masks.auto.classifier`: a ~12k-weight U-Net on the mean image,
     the temporal std, the per-frame cue fraction and the candidates, trained on static
     cases synthesised from train clips with the training fonts) scores every pixel;
     candidates scored below ``static_prob`` are dropped (about half of the scene false
     positives at little recall cost; ``static_net=False`` switches it off). Then whole
     components of what is left that :mod:`osdfilter.masks.auto.components` scores below
     its threshold are dropped (statistics of the classifier over the component, shape,
     colour, position, text line; ``static_components=False`` switches it off).
   - both cameras: *filled icon bodies* (:func:`osdfilter.masks.auto.cues.filled_bodies`):
     a bright region beside a kept glyph, no bigger than ``body_span`` of the height, that
     a dark outline closes in on ``body_ring`` of its border (a battery or coloured symbol
     wider than ``stroke_px``, of which the cues keep only the thin parts); with a moving
     camera only where the mean image holds still.
   - ``active`` (moving camera only): text-line boxes around the static layout, grown
     along the line by ``box_extend`` line heights, restricted to pixels where the
     per-frame glyph cue fired in >= ``active_frac`` of the frames (changing digits); and
     the artificial horizon's box at the screen centre when strokes came and went there
     (:meth:`MaskDetector._horizon_box`).
   - ``union = static | active``.

2. **Per-frame refinement** (``OSDLayout.frame_mask``): inside the active boxes the
   glyph cue of *that* frame is computed (cropped, so it costs well under a millisecond
   per box), outside them the static layout is used. So each frame gets its own mask,
   always a subset of ``union``.

Hard cases
----------
- **Static camera**: temporal evidence is useless (everything is persistent), so the
  layout rests on the glyph cue alone (bright strokes with a dark outline on both sides,
  stroke width <= ``stroke_px``) filtered by the learned classifier. Bright,
  dark-flanked thin structures in a static scene (white railings with dark gaps, dense
  city texture) can still be false positives; use ``exclude``.
- **Bright sky / snow behind white text**: brightness alone would select the sky; the
  cue needs dark pixels on *both* sides of a bright run, which the glyph's own outline
  provides and open sky does not.
- **Scene cuts** (:mod:`osdfilter.filter.scenecut`: a colour change and a shift-compensated
  thumbnail difference): the stream resets its recurrent state and the fill there. The
  OSD survives cuts, so the layout needs no reset (cuts in the window actually help).
- **No OSD**: the layout is empty (``is_empty``); the caller re-encodes the input
  unchanged with a one-line note.
- **Limitations**: a glyph that first changes after the window (a minutes digit) is
  masked with the static pixels of its old shape; overlays without an outline in a
  static-camera video are not found; an artificial horizon only in its box at the screen
  centre and where it stands out from the scene around it, other moving elements away from
  text lines (scrolling sidebar ticks) not at all (docs/automask.md, Next steps).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .config import AutoMaskConfig, Rect
from .cues import (_K3, _KX, _KY, _boxes_of, _disk, _drop_specks, _enclosed_cue, _exclusion, _glyph_components,
                   _luma, _touching, filled_bodies, glyph_cue)

# -------------------------------------------------------------------------- layout


@dataclass
class OSDLayout:
    """Where the OSD is. All masks are bool [H, W] at the video's full resolution.

    ``static``: glyphs present in (nearly) every frame. ``active``: boxes around cells
    whose content changes; ``boxes`` lists them as (x, y, w, h). ``union``: every pixel
    any frame mask can contain. Build per-frame masks with :meth:`frame_mask`.
    """

    static: np.ndarray
    active: np.ndarray
    boxes: list[Rect]
    config: AutoMaskConfig
    scale: float = 1.0  # working / full resolution, for the per-frame cue sizes
    still_camera: bool = False  # found from the glyphs' look alone (no temporal evidence)
    window: tuple[int, int] = (0, 0)  # frames [first, end) of the video the layout came from
    scanned: int = 0  # frames the first pass read (LayoutScan: past still windows)
    union: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.union = self.static | self.active

    @classmethod
    def empty(cls, height: int, width: int, config: AutoMaskConfig | None = None):
        z = np.zeros((height, width), bool)
        return cls(z, z.copy(), [], config or AutoMaskConfig())

    @property
    def is_empty(self) -> bool:
        return not self.union.any()

    @property
    def coverage(self) -> float:
        """Fraction of the frame in the union mask."""
        return float(self.union.mean())

    def frame_mask(self, frame: np.ndarray) -> np.ndarray:
        """This frame's overlay mask, bool [H, W]: static glyphs plus the glyph cue of
        ``frame`` (uint8 RGB [H, W, 3]) inside the active boxes."""
        out = self.static.copy()
        c = self.config
        stroke = max(2, int(round(c.stroke_px / self.scale)))
        outline = int(round(c.outline_px / self.scale)) + c.moving_dilate_px  # boxes: moving only
        hh, ww = out.shape
        m = stroke + 1
        for x, y, w, h in self.boxes:
            x0, y0 = max(0, x - m), max(0, y - m)
            x1, y1 = min(ww, x + w + m), min(hh, y + h + m)
            cue = glyph_cue(frame[y0:y1, x0:x1], c.bright, c.frame_contrast, stroke, outline).view(bool)
            out[y0:y1, x0:x1] |= cue & self.active[y0:y1, x0:x1]
        return out

    def save_png(self, path) -> None:
        """Write the union mask as an 8-bit PNG (white = overlay)."""
        if not cv2.imwrite(str(path), self.union.astype(np.uint8) * 255):
            raise OSError(f"automask: cannot write mask PNG {path}")


# ------------------------------------------------------------------------ detector


class MaskDetector:
    """Streaming first pass: ``observe`` frames of the window, then ``finish``.

    Memory: a uint16 counter at working resolution and three float32 gradient sums at
    half of it.
    """

    def __init__(self, height: int, width: int, config: AutoMaskConfig | None = None,
                 fps: float | None = None):
        self.height, self.width = height, width
        self.config = c = config or AutoMaskConfig()
        self.scale = min(1.0, c.max_work_width / width)
        self.work_size = (max(1, round(width * self.scale)), max(1, round(height * self.scale)))
        ww, wh = self.work_size
        self.max_frames = c.window_frames(fps) if fps else None
        self.n_seen = 0  # frames passed to observe
        self.n_used = 0  # frames accumulated (after stride)
        self.moving = 0.0  # camera motion (median temporal luma std), set by finish
        self.still = True  # static-camera path (see camera_moves), set by finish
        self._cue_count = np.zeros((wh, ww), np.uint16)
        self._sum_rgb = np.zeros((wh, ww, 3), np.float32)  # for the mean image
        self._sum_sq = np.zeros((wh, ww), np.float32)  # luma^2, for the temporal std
        self._sum_mgx = np.zeros((wh, ww), np.float32)  # per-frame 1x3 morphological gradient
        self._sum_mgy = np.zeros((wh, ww), np.float32)  # per-frame 3x1 morphological gradient
        self._feat: np.ndarray | None = None  # static-camera classifier input (training)
        self.prob: np.ndarray | None = None  # its output (static camera, working res)
        # (n_used, (static_w, active_w)): finish is called again on the same frames when
        # LayoutScan has judged a window by its layout (the detection is not redone).
        self._detected: tuple[int, tuple[np.ndarray, np.ndarray]] | None = None

    @property
    def full(self) -> bool:
        """True once the window (``window_s`` at the given fps) has been observed."""
        return self.max_frames is not None and self.n_seen >= self.max_frames

    def observe(self, frame: np.ndarray) -> None:
        """Accumulate one uint8 RGB frame [H, W, 3]."""
        if frame.shape[:2] != (self.height, self.width):
            raise ValueError(f"automask: frame size {frame.shape[1]}x{frame.shape[0]} "
                             f"!= detector size {self.width}x{self.height}")
        self.n_seen += 1
        if (self.n_seen - 1) % max(1, self.config.stride):
            return
        if self.scale < 1.0:
            frame = cv2.resize(frame, self.work_size, interpolation=cv2.INTER_AREA)
        c = self.config
        # Undilated strokes: a moving background feature then covers a pixel for fewer
        # frames, while a screen-fixed glyph hits the same pixels every frame.
        cue = glyph_cue(frame, c.bright, c.contrast, c.stroke_px, outline_px=0)
        np.add(self._cue_count, cue, out=self._cue_count, casting="unsafe")
        luma = _luma(frame)
        cv2.accumulate(frame, self._sum_rgb)
        cv2.accumulateSquare(luma, self._sum_sq)
        cv2.accumulate(cv2.morphologyEx(luma, cv2.MORPH_GRADIENT, _KX), self._sum_mgx)
        cv2.accumulate(cv2.morphologyEx(luma, cv2.MORPH_GRADIENT, _KY), self._sum_mgy)
        self.n_used += 1

    def finish(self, user_mask: np.ndarray | None = None,
               exclude: list[Rect] | None = None) -> OSDLayout:
        """Layout from the observed frames, unioned with ``user_mask`` (bool [H, W],
        always masked) and with ``exclude`` + ``config.exclude`` rectangles removed."""
        c = self.config
        if self.n_used == 0:
            static_w = np.zeros(self._cue_count.shape, bool)
            active_w = static_w.copy()
        else:
            if self._detected is None or self._detected[0] != self.n_used:
                self._detected = (self.n_used, self._layout_w())
            static_w, active_w = self._detected[1]
        static, active = self._to_full(static_w), self._to_full(active_w)
        still = self.still  # no temporal evidence
        d = c.dilate_px if still else c.moving_dilate_px
        if d > 0:
            static = cv2.dilate(static.view(np.uint8), _disk(d)).view(bool)
        if user_mask is not None:
            static |= user_mask.astype(bool)
        ex = _exclusion(self.height, self.width, list(c.exclude) + list(exclude or []))
        static &= ~ex
        active &= ~ex
        boxes = _boxes_of(cv2.dilate(active.view(np.uint8), np.ones((9, 9), np.uint8)).view(bool))
        return OSDLayout(static, active, boxes, c, self.scale, still_camera=still and self.n_used > 0)

    def camera_motion(self) -> float:
        """Camera motion of the frames observed so far: the median pixel's temporal luma
        std (a static camera leaves most pixels at noise level even when people move in
        the scene)."""
        return self._motion()[0] if self.n_used else 0.0

    def camera_moves(self) -> bool:
        """Whether the frames observed so far come from a moving camera (else the layout
        takes the static-camera path): the median pixel's temporal luma std is at least
        ``config.moving_std``, or, in low-contrast footage, at least ``moving_ratio`` times
        the median pixel's gradient (medians: the OSD's few percent of pixels do not count)."""
        return self._motion()[1] if self.n_used else False

    def _motion(self, std_map: np.ndarray | None = None) -> tuple[float, bool]:
        """(median temporal luma std, camera moves) of the frames observed so far
        (``std_map``: their per-pixel temporal std, when the caller has it)."""
        c, n = self.config, float(self.n_used)
        if std_map is None:
            std_map = self._temporal_std(cv2.cvtColor(self._sum_rgb / n, cv2.COLOR_RGB2GRAY))
        std = float(np.median(std_map[::2, ::2]))
        grad = float(np.median(np.maximum(self._sum_mgx[::2, ::2], self._sum_mgy[::2, ::2]))) / n
        # The gradient has a floor of 1 level: a flat frame's ratio is its std.
        moves = std >= c.moving_std or (std >= c.moving_ratio_std and std >= c.moving_ratio * max(grad, 1.0))
        return std, moves

    def _temporal_std(self, luma_mean: np.ndarray) -> np.ndarray:
        return np.sqrt(np.maximum(self._sum_sq / float(self.n_used) - luma_mean * luma_mean, 0))

    def static_features(self) -> np.ndarray:
        """The static-camera classifier's input (:func:`osdfilter.masks.auto.classifier.features`)
        for the frames observed so far, whatever the camera motion (training data)."""
        self._layout_w(force_static=True)
        return self._feat

    def _layout_w(self, force_static: bool = False) -> tuple[np.ndarray, np.ndarray]:
        c = self.config
        n = float(self.n_used)
        mean = self._sum_rgb / n
        luma_mean = cv2.cvtColor(mean, cv2.COLOR_RGB2GRAY)
        gx = cv2.morphologyEx(luma_mean, cv2.MORPH_GRADIENT, _KX)
        gy = cv2.morphologyEx(luma_mean, cv2.MORPH_GRADIENT, _KY)
        px = gx / np.maximum(self._sum_mgx / n, 1.0)
        py = gy / np.maximum(self._sum_mgy / n, 1.0)
        g = np.maximum(gx, gy)
        persist = np.maximum(np.where(gx >= gy, px, py), 0)
        k5 = np.ones((5, 5), np.uint8)
        both = (cv2.dilate(((gx >= c.weak_grad) & (px >= c.persist)).view(np.uint8), k5)
                & cv2.dilate(((gy >= c.weak_grad) & (py >= c.persist)).view(np.uint8), k5)).view(bool)
        strong = (g >= c.mean_grad) & (persist >= c.persist) & both
        weak = (g >= c.weak_grad) & (persist >= c.weak_persist)
        std = self._temporal_std(luma_mean)
        self.moving, moves = self._motion(std)
        self.still = not moves
        static_cam = force_static or self.still
        if not static_cam:
            cand = _touching(weak, strong)
        else:  # static camera: every textured pixel is persistent; appearance only
            cand = glyph_cue(np.clip(mean + 0.5, 0, 255).astype(np.uint8), c.static_bright, c.static_contrast,
                             c.stroke_px, outline_px=1).view(bool)
        mean_u8 = np.clip(mean + 0.5, 0, 255).astype(np.uint8)
        glyph = glyph_cue(mean_u8, c.bright, c.mean_contrast, c.stroke_px, outline_px=0).view(bool)
        small = (strong & both)
        hv = _enclosed_cue(mean_u8, c.hv_bright, c.hv_contrast, c.stroke_px, c.hv_reach)
        # Enclosed-stroke anchors only with a moving camera: on the mean image of a static
        # one, glyphs merge with the scene and the test costs recall (docs/automask.md).
        if not static_cam:
            cand = _glyph_components(cand, glyph | small, c, hv)
        else:
            kept = _glyph_components(cand, glyph | small, c)
            # A glyph merged with the scene into a too-big component used to be dropped
            # whole (lost recall, and a cliff in the outline contrast); retry the rejected
            # components' undilated strokes, which the outline keeps apart, as enclosed-stroke
            # anchors (less scene than a plain shape filter; docs/automask.md, What was
            # tried), with their 1 px outline back.
            rest = cand & ~_touching(cand, kept)
            body = glyph_cue(mean_u8, c.static_bright, c.static_contrast, c.stroke_px, outline_px=0).view(bool)
            parts = _glyph_components(body & rest, glyph | small, c, hv)  # anchors + their lines
            cand = kept | (cv2.dilate(parts.view(np.uint8), _K3).view(bool) & rest)
            from . import classifier, components

            frac = self._cue_count.astype(np.float32) / n
            feat = classifier.features(mean, std, frac, cand)
            if force_static:
                self._feat = feat  # kept only for static_features (training data)
            if c.static_net and classifier.available():
                self.prob = classifier.predict(feat)
                cand = self._net_filter(cand, self.prob)
                if c.static_components and components.available():
                    cand = components.filter_components(feat, self.prob, cand, c.component_prob)
        # Filled icons wider than a stroke: the body a glyph's outline closes in; with a
        # moving camera only where the mean image holds still, and then also a body the
        # glyph closes in alone (a still camera's glyph counters are scene).
        allowed = np.ones_like(cand) if static_cam else std <= c.stable_std
        span = int(round(c.body_span * cand.shape[0]))
        cand = cand | filled_bodies(mean_u8, cand, allowed, c.static_bright, c.static_contrast, span,
                                    c.body_ring, c.min_area, holes=not static_cam)
        self.cand = cand
        static_w = _drop_specks(cand, c.min_area)
        static_w = cv2.dilate(static_w.view(np.uint8), _disk(1)).view(bool)
        if static_cam:  # no per-frame evidence to trust without motion
            return static_w, np.zeros_like(static_w)
        boxes = self._text_boxes(static_w)
        frac = self._cue_count.astype(np.float32) / n
        ever = cv2.dilate((frac >= c.active_frac).view(np.uint8), _disk(c.outline_px)).view(bool)
        return static_w, ((boxes & ever) | self._horizon_box(static_w, frac)) & ~static_w

    def _horizon_box(self, static_w: np.ndarray, frac: np.ndarray) -> np.ndarray:
        """The box at the screen centre where an artificial horizon moves (bool, working
        res; all False when the first pass saw none).

        The horizon's segments move with the craft's attitude, so the static layout cannot
        hold them, and they lie on no text line; Betaflight and INAV draw them within a few
        cells of the screen centre. The box (``horizon_cells`` glyph heights either side of
        the centre, the glyph height being the static layout's median) is watched frame by
        frame like a changing cell when an outlined stroke came and went there (in fewer
        than ``active_frac`` of the frames, away from the static glyphs) ``horizon_ratio``
        times as densely as in the ring around it, on at least the first and at most the
        second of ``horizon_density`` of the box: a subject the camera follows at the centre
        fires far more densely, a plain scene not at all.
        """
        c = self.config
        out = np.zeros(static_w.shape, bool)
        n, _, stats, _ = cv2.connectedComponentsWithStats(static_w.view(np.uint8), 8)
        if not c.horizon_cells or n < 2:
            return out
        g = float(np.median(stats[1:, cv2.CC_STAT_HEIGHT]))
        a, b = (k * g for k in c.horizon_cells)
        h, w = static_w.shape
        yy, xx = np.ogrid[:h, :w]
        dx, dy = np.abs(xx - w / 2), np.abs(yy - h / 2)
        box = (dx <= a) & (dy <= b)
        ring = (dx <= 2 * a) & (dy <= 2 * b) & ~box
        if not ring.any():  # glyphs so large that the box is the frame: no scene to compare with
            return out
        glyphs = cv2.dilate(static_w.view(np.uint8), np.ones((9, 9), np.uint8)).view(bool)
        came_and_went = (frac > 0) & (frac < c.active_frac) & ~glyphs
        inside, around = came_and_went[box].mean(), came_and_went[ring].mean()
        lo, hi = c.horizon_density
        if lo <= inside <= hi and inside >= c.horizon_ratio * around:
            out |= box
        return out

    def _net_filter(self, cand: np.ndarray, prob: np.ndarray) -> np.ndarray:
        """Candidate pixels the classifier scores as overlay (static camera)."""
        c = self.config
        return cand & (prob >= c.static_prob)

    def _text_boxes(self, static_w: np.ndarray) -> np.ndarray:
        """Boxes around text lines of the static layout, grown along the line by about
        one and a half glyph cells: changing digits sit next to static glyphs."""
        c = self.config
        g = c.line_gap_px
        lines = cv2.dilate(static_w.view(np.uint8), np.ones((1, 2 * g + 1), np.uint8))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(lines, 8)
        out = np.zeros(static_w.shape, bool)
        hh, ww = static_w.shape
        p = c.box_pad_px
        for i in range(1, n):
            x, y, w, h = stats[i, :4]
            if h > c.max_line_frac * hh or w > 0.5 * ww:
                continue
            e = int(round(c.box_extend * h)) + p
            out[max(0, y - p):min(hh, y + h + p), max(0, x - e):min(ww, x + w + e)] = True
        return out

    def _to_full(self, mask_w: np.ndarray) -> np.ndarray:
        if self.scale >= 1.0:
            return mask_w.copy()
        up = cv2.resize(mask_w.view(np.uint8), (self.width, self.height),
                        interpolation=cv2.INTER_NEAREST)
        return up.view(bool)


class LayoutScan:
    """The first pass over successive windows: the layout of the first window in which the
    camera moves and an OSD is found, looking at most ``config.scan_s`` seconds in.

    A DVR often starts with the quad on the ground (armed, waiting for GPS): a still first
    window leaves only the glyphs' look to go by, which also takes bright scene detail
    (static-camera precision ~0.1, docs/automask.md), while a window in flight separates
    the screen-fixed OSD from the scene. An analog receiver's snow before the quad powers
    up moves but holds no OSD, so a moving window without one does not end the scan
    either. In the end: a moving window with an OSD, else a moving one without (the
    video has none), else the first window (it never moves). Each window is a fresh
    :class:`MaskDetector`; memory stays at three detectors' accumulators (the first, the
    first moving one without an OSD, the current one), whatever the scan length.

    ``observe`` frames in order until it returns True (or the video ends), then ``finish``.
    """

    def __init__(self, height: int, width: int, config: AutoMaskConfig | None = None,
                 fps: float | None = None):
        self.height, self.width, self.fps = height, width, fps
        self.config = config or AutoMaskConfig()
        self.first = self.current = MaskDetector(height, width, self.config, fps=fps)
        self.limit = self.config.scan_frames(fps) if fps else None
        self.n_seen = 0
        self.start = 0  # first frame of ``current``
        self.chosen: tuple[MaskDetector, int] | None = None  # moving, with an OSD: done
        self.no_osd: tuple[MaskDetector, int] | None = None  # the first moving window without one

    def observe(self, frame: np.ndarray) -> bool:
        """Feed the next frame; True once the layout is decided (stop reading)."""
        if self.chosen is not None:
            return True
        self.current.observe(frame)
        self.n_seen += 1
        if not self.current.full:
            return False
        self._judge(self.current)
        if self.chosen is not None or self.limit is None or self.n_seen >= self.limit:
            return True
        self.current = MaskDetector(self.height, self.width, self.config, fps=self.fps)
        self.start = self.n_seen
        return False

    def _judge(self, det: MaskDetector) -> None:
        if not det.camera_moves():
            return
        if det.finish().is_empty:
            if self.no_osd is None:
                self.no_osd = (det, self.start)
        else:
            self.chosen = (det, self.start)

    def finish(self, user_mask: np.ndarray | None = None,
               exclude: list[Rect] | None = None) -> OSDLayout:
        """:meth:`MaskDetector.finish` of the chosen window (class doc). A later window cut
        short by the end of the video counts if it holds at least half a window of frames
        (fewer leave the scene's edges persistent in the mean)."""
        cur = self.current
        if self.chosen is None and cur is not self.first and cur.max_frames and 2 * cur.n_seen >= cur.max_frames:
            self._judge(cur)
        det, start = self.chosen or self.no_osd or (self.first, 0)
        layout = det.finish(user_mask=user_mask, exclude=exclude)
        layout.window, layout.scanned = (start, start + det.n_seen), self.n_seen
        return layout
