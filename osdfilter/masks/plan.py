"""The masks of one run: user masks, automatic detection, exclusions, per-frame masks.

:func:`plan_masks` turns the :class:`MaskOptions` of a run (:func:`osdfilter.process_video`'s
mask options) into a :class:`MaskPlan`. Its ``mask``:

* ``None`` or ``"auto"`` (the default): a streaming first pass over the first
  ``auto_window`` seconds (:class:`osdfilter.masks.auto.detector.MaskDetector`, a few full-frame
  accumulators, never the frames) estimates the OSD layout; if the camera hardly moves
  there, later windows are tried, up to ``auto_scan`` seconds in
  (:class:`osdfilter.masks.auto.detector.LayoutScan`). The input is then re-opened for the main
  pass. stdin cannot be re-opened, so a pipe needs an explicit mask.
* a path / bool array: that mask only.
* a list of the above, e.g. ``["osd.png", "auto"]``: their union.

``exclude`` rectangles ``(x, y, w, h)`` are removed from every mask. The union is split
into numbered OSD elements (:mod:`osdfilter.masks.elements`); ``elements`` (only these) or
``keep_elements`` (all but these) cut the union and every frame's mask to the chosen ones.
``save_mask`` writes the (chosen) union as a PNG, and the numbered elements beside it. The
plan's layout then gives each frame its own mask in the main pass
(:func:`osdfilter.filter.layout.with_layout`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional, Sequence

import av
import cv2
import numpy as np

from ..errors import MaskError, MediaError, OSDFilterError, option
from .auto.config import AutoMaskConfig
from .auto.detector import LayoutScan, OSDLayout
from .elements import Elements, Numbers, SelectedLayout, check_choice, choose, split_elements, write_labels

Rect = tuple[int, int, int, int]
AUTO = "auto"
# Above this fraction of the frame an automatic mask is probably mostly scene: an OSD covers
# a few %, still-camera false positives far more (docs/automask.md, Hard cases): warn.
LARGE_AUTO_MASK = 0.15
STDIO = "-"


@dataclass
class MaskPlan:
    """The union mask for the tile plan, the automatic layout (or None) and a note; the
    whole mask's elements and the numbers of those removed (None: all)."""

    union: np.ndarray  # bool [H, W]
    layout: Optional[OSDLayout] = None
    note: Optional[str] = None
    elements: Optional[Elements] = None
    removed: Optional[tuple[int, ...]] = None


def _specs(mask: Any) -> list[Any]:
    if mask is None:
        return [AUTO]
    if isinstance(mask, (list, tuple)):
        return [AUTO if m is None else m for m in mask] or [AUTO]  # (None in a list: "auto" too)
    return [mask]


def wants_auto(mask: Any) -> bool:
    return any(isinstance(m, str) and m == AUTO for m in _specs(mask))


@dataclass(frozen=True)
class MaskOptions:
    """The mask options of one run, as :func:`osdfilter.process_video` takes them (see there):
    what to mask, what never to mask, which OSD elements to remove, how far the automatic
    detection's first pass reads, and where to write the union."""

    mask: Any = None  # a path, a bool array, None / "auto", or a list of these (union)
    exclude: Sequence[Any] = ()  # (x, y, w, h) rectangles or "x,y,w,h"
    elements: Numbers = None  # remove only these elements
    keep_elements: Numbers = None  # remove all but these
    auto_window: float = AutoMaskConfig.window_s
    auto_scan: float = AutoMaskConfig.scan_s
    save_mask: Any = None

    def checked(self) -> MaskOptions:
        """The checks that need no video, before anything is opened: a one-line
        :class:`OSDFilterError` (a TypeError for a mask of the wrong kind); the element
        numbers parsed."""
        for item in self.mask if isinstance(self.mask, (list, tuple)) and self.mask else [self.mask]:
            if not (item is None or isinstance(item, (str, os.PathLike, np.ndarray))):
                raise TypeError(f"mask={self.mask!r}: expected an image path (str or os.PathLike), 'auto' or None, "
                                f"a bool array [H, W], or a list of these; not {type(item).__name__}")
        if not (0 < self.auto_window < float("inf") and 0 <= self.auto_scan < float("inf")):
            raise OSDFilterError(f"auto_window must be > 0 and auto_scan >= 0 seconds, got {self.auto_window} and {self.auto_scan}")
        if self.save_mask is not None and not cv2.haveImageWriter(os.fspath(self.save_mask)):
            raise MaskError(f"{option('save_mask')} {self.save_mask}: not an image file name OpenCV can write (use .png)")
        elements, keep = check_choice(self.elements, self.keep_elements)
        return replace(self, elements=elements, keep_elements=keep)


def plan_masks(
    src: Any,
    options: MaskOptions,
    height: int,
    width: int,
    fps: float,
    load_user: Callable[[Any], np.ndarray],
) -> MaskPlan:
    """Resolve ``options`` (see the module doc) for a ``width x height`` video at ``fps``.

    ``load_user(spec)`` turns a path or array into a bool mask (validated). Raises
    :class:`MaskError` for a pipe with automatic detection, a bad rectangle or an element
    number the mask does not have.
    """
    mask, exclude = options.mask, options.exclude
    if isinstance(exclude, str) or (len(exclude) == 4 and all(isinstance(v, (int, np.integer)) for v in exclude)):
        exclude = [exclude]  # one rectangle ("x,y,w,h" or (x, y, w, h)), not four
    exclude = [validate_rect(r, height, width) for r in exclude]
    user = np.zeros((height, width), bool)
    for spec in _specs(mask):
        if not (isinstance(spec, str) and spec == AUTO):
            user |= load_user(spec)
    layout, note = None, None
    if wants_auto(mask):
        if os.fspath(src) == STDIO:
            raise MaskError("automatic mask detection reads the start of the video twice, which a pipe cannot do: "
                            "pass --mask FILE (white = overlay) when reading stdin")
        cfg = AutoMaskConfig(window_s=options.auto_window, scan_s=options.auto_scan)
        layout = detect_layout(src, height, width, fps, cfg, user, exclude)
        union = layout.union.copy()
        cover = layout.coverage
        read = layout.scanned / max(fps, 1e-6)  # seconds the first pass read
        if layout.is_empty:
            note = f"no OSD found in the first {read:.3g} s: the output is the input re-encoded"
        elif layout.still_camera or cover > LARGE_AUTO_MASK:
            # A still camera gives no temporal evidence: bright outlined scene detail passes
            # for text and is inpainted away, even in a small mask (docs/benchmarks.md,
            # Automatic mask).
            why = (f"the picture hardly changes in the first {read:.3g} s, so the OSD was found by its look alone "
                   "and scene detail may pass for text") if layout.still_camera else "an OSD is usually a few %"
            note = (f"the automatic mask covers {cover:.1%} of the frame ({why}): check it with --save-mask, "
                    "then pass --mask FILE or --exclude x,y,w,h")
    else:
        union = user.copy()
        for x, y, w, h in exclude:
            union[y:y + h, x:x + w] = False
        if not union.any():
            note = "the mask is empty after --exclude: the output is the input re-encoded"
    split = split_elements(union)
    removed = choose(split, *check_choice(options.elements, options.keep_elements))
    if removed is not None:
        region = split.region(removed)
        union &= region
        if layout is not None:
            layout = SelectedLayout(layout, region)
        if not union.any():
            note = "--keep-elements keeps every OSD element: the output is the input re-encoded"
    if options.save_mask is not None:
        try:
            written = cv2.imwrite(os.fspath(options.save_mask), union.astype(np.uint8) * 255)
        except cv2.error:  # e.g. no writer for the file's extension
            written = False
        if not written:
            raise MaskError(f"cannot write the mask PNG {options.save_mask}")
        if len(split):
            write_labels(options.save_mask, split, removed)
    plan = MaskPlan(union, layout, note, split, removed)
    return plan


def detect_layout(src: Any, height: int, width: int, fps: float, config: AutoMaskConfig,
                  user_mask: Optional[np.ndarray] = None, exclude: Sequence[Rect] = ()) -> OSDLayout:
    """First pass: observe ``src``'s first video stream (decoded one frame at a time) over
    the first ``config.window_s`` seconds, or later windows while the camera is still
    (:class:`LayoutScan`), then the layout (user mask unioned in)."""
    det = LayoutScan(height, width, config, fps=fps)
    try:
        with av.open(os.fspath(src), metadata_errors="surrogateescape") as box:  # a tag that is not UTF-8 is no reason to fail
            stream = box.streams.video[0]
            for frame in _frames(box, stream):
                if frame.width != width or frame.height != height:
                    continue
                if det.observe(frame.to_ndarray(format="rgb24")):
                    break
    except av.FFmpegError as exc:
        if det.n_seen == 0:
            raise MediaError(f"cannot read {src} for automatic mask detection: {exc}") from None
    return det.finish(user_mask=user_mask, exclude=list(exclude))


def _frames(box: Any, stream: Any):
    """Decoded frames; damaged packets are skipped, a read error ends the window."""
    for packet in box.demux(stream):
        try:
            yield from packet.decode()
        except av.FFmpegError:
            continue


def parse_rect(text: str) -> Rect:
    """``"x,y,w,h"`` -> (x, y, w, h) ints; raises ValueError."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise ValueError(f"expected x,y,w,h, got {text!r}")
    x, y, w, h = (int(p) for p in parts)
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise ValueError(f"x,y must be >= 0 and w,h > 0, got {text!r}")
    return x, y, w, h


def validate_rect(rect: Any, height: int, width: int) -> Rect:
    r = parse_rect(rect) if isinstance(rect, str) else tuple(int(v) for v in rect)
    if len(r) != 4 or r[2] <= 0 or r[3] <= 0 or r[0] < 0 or r[1] < 0:
        raise MaskError(f"--exclude {rect}: expected x,y,w,h with x,y >= 0 and w,h > 0")
    if r[0] >= width or r[1] >= height:
        raise MaskError(f"--exclude {rect}: outside the {width}x{height} frame")
    return r  # type: ignore[return-value]
