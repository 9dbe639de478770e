"""Settings of the automatic OSD detector (``--mask auto``); see :mod:`osdfilter.masks.auto.detector`."""

from __future__ import annotations

from dataclasses import dataclass, field

Rect = tuple[int, int, int, int]  # (x, y, w, h) in full-resolution pixels


@dataclass
class AutoMaskConfig:
    """Settings for automatic mask detection. Pixel sizes are at working resolution."""

    window_s: float = 10.0  # seconds of video the layout pass observes
    # A still window (a quad on the ground before take-off, waiting for GPS) gives the
    # static camera's weak masks: the first pass then looks on, window by
    # window, up to this many seconds into the video for one where the camera moves
    # (LayoutScan). 0: the first window only.
    scan_s: float = 120.0
    stride: int = 1  # observe every stride-th frame (cheaper first pass at high fps)
    max_work_width: int = 960  # the first pass downscales wider frames to this width
    bright: int = 150  # glyph body: max(R, G, B) at least this
    contrast: int = 90  # outline: luma at least this much darker than the body
    stroke_px: int = 7  # widest glyph stroke (+1) between two outline pixels
    outline_px: int = 2  # glyph cue is dilated by this to cover the outline
    static_frac: float = 0.6  # cue fires in this fraction of frames -> static glyph
    active_frac: float = 0.35  # ... in at least this fraction -> changing glyph (0.15: scene inside the text boxes)
    min_area: int = 6  # connected specks smaller than this are dropped
    line_gap_px: int = 6  # glyphs closer than this join one text line / cell box
    box_pad_px: int = 3  # active boxes grow by this on every side
    max_line_frac: float = 0.16  # text lines taller than this fraction of H are scene
    stable_std: float = 12.0  # the mean image holds still: temporal luma std at most this
    mean_grad: float = 30.0
    weak_grad: float = 15.0
    persist: float = 0.6
    weak_persist: float = 0.45
    mean_contrast: int = 40
    min_glyph_px: int = 2
    # static camera: glyph cue on the mean image (body level ...), as low as hv_bright so
    # semi-transparent glyphs over dark ground pass (docs/automask.md, What was tried).
    static_bright: int = 100
    static_contrast: int = 90  # ... and outline contrast)
    moving_std: float = 8.0  # median temporal luma std below this: static camera ...
    # ... unless it is at least moving_ratio times the median per-frame gradient (and at
    # least moving_ratio_std): low-contrast footage that moves (haze, overcast, sea, sky)
    # has a small std too, but both scale with the contrast. The ratio separates moving
    # clips from still cameras on benchmarks/automask.py, and either mistake loses the OSD
    # (docs/automask.md, Hard cases; docs/benchmarks.md, Automatic mask).
    moving_ratio: float = 1.5
    moving_ratio_std: float = 2.0
    box_extend: float = 1.5  # text boxes grow along the line by this many line heights
    frame_contrast: int = 60  # per-frame glyph cue inside the text boxes
    # Anchor glyphs, moving camera only (benchmarks/automask.py, 24 frames; the static
    # camera's mean-image candidates merge glyphs with the scene, measured no gain there):
    # candidate components need an *enclosed* stroke pixel (max channel >= hv_bright,
    # >= hv_contrast darker within stroke_px on all four sides; a scene edge or a pan
    # streak is open along itself) and must fill >= min_fill of their box after trimming
    # to trim_px around those pixels (a glyph with its outline fills most of its box, a
    # streak or car outline little). They drop most moving-clip false positives, the
    # tracked car's too (docs/automask.md, What was tried).
    # Components on a text line of anchors are kept too (faint digits, punctuation,
    # icons): without that, recall fell on several clips.
    min_hv: int = 1
    hv_contrast: int = 30  # higher loses faint sidebar ticks, lower lets in the car (docs/automask.md)
    hv_bright: int = 100
    min_fill: float = 0.4
    # Along a thin stroke the dark end may be up to hv_reach px away (a crosshair arm, a
    # dash): with stroke_px alone an outlined "+" with 6 px arms is lost; longer reaches
    # cost precision (docs/automask.md, What was tried).
    hv_reach: int = 10
    trim_px: int = 3
    # text-line rescue: half the component's rows on the line, at most rescue_h line
    # heights tall (icons are taller than digits; inside the line's rows +-2 px only
    # lost icons: docs/automask.md)
    rescue_h: float = 1.5
    # Moving camera: the artificial horizon's box at the screen centre (detector
    # MaskDetector._horizon_box): half width and half height in glyph heights (None: off),
    # the density of strokes that came and went in it against the ring around it, and its
    # range (docs/automask.md, Artificial horizon).
    horizon_cells: tuple[float, float] | None = (5.0, 5.5)
    horizon_ratio: float = 3.0
    horizon_density: tuple[float, float] = (0.005, 0.15)
    # Filled icon bodies wider than a stroke (cues.filled_bodies): bright, closed in by
    # the outline on at least body_ring of their border, beside a detected glyph, and no
    # bigger than body_span of the working height (one row of a 20-row HD OSD grid).
    # 0 switches them off.
    body_span: float = 0.05
    body_ring: float = 0.9
    dilate_px: int = 1  # static camera: final masks are dilated by this (full-resolution pixels)
    # Moving camera: the hysteresis region already reaches 1 px past the outline, so no
    # extra dilation: better precision and masked PSNR (docs/automask.md). Static cameras
    # lose recall without it.
    moving_dilate_px: int = 0
    # Static camera: keep only candidate pixels that the learned classifier
    # (masks/auto/classifier.py, trained on train clips + training fonts) scores >=
    # static_prob. Recall first, so a low threshold that still halves the masks (the
    # sweep: docs/automask.md, What was tried).
    static_net: bool = True
    static_prob: float = 0.15
    # ... then whole components of what it kept that the component scorer
    # (masks/auto/components.py: classifier statistics, shape, colour, position,
    # text line) scores below component_prob (None: its threshold, cross-validated on the
    # train clips: 0.11) are dropped. Needs static_net. Smaller masks and every static
    # case better end to end, at some recall (docs/benchmarks.md, Automatic mask).
    static_components: bool = True
    component_prob: float | None = None
    exclude: list[Rect] = field(default_factory=list)  # regions never masked

    def window_frames(self, fps: float) -> int:
        """Number of frames the layout pass should observe at this frame rate."""
        return max(1, int(round(self.window_s * fps)))

    def scan_frames(self, fps: float) -> int:
        """Frames the first pass may read in all, looking past still windows."""
        return max(self.window_frames(fps), int(round(self.scan_s * fps)))


# ----------------------------------------------------------------------------- cues
