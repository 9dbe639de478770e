"""``osdfilter IN --preview SHEET.png``: a few restored frames on one contact sheet, in seconds.

The mask is planned as for a run (the given ``--mask``, or the automatic detection's first
pass), then ``PREVIEW_FRAMES`` frames spread over the video are restored. Each is reached by
a seek: the container jumps to the keyframe at or before ``WARM`` frames ahead of the pick,
decodes from there, and the ``WARM`` frames before the pick go through the filter first, so
the model's recurrent state and the fill's memory of earlier frames are those of a running
pass, not a cold start. Only these frames reach the model, and their speed gives the
estimate of the full run. The sheet shows, per pick, the input with the outline of what is
replaced in that frame and each OSD element's number (green: removed, orange: kept), beside
the restored frame; frames wider than ``PANEL_W`` are shown smaller, with 2x crops of the
removed elements below.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import av
import cv2
import numpy as np

from .api import check_options, check_span, resolve_mask
from .errors import MediaError, OSDFilterError, naming_flags, option
from .filter.core import FilterConfig, OSDFilter
from .filter.layout import with_layout
from .masks.auto.config import AutoMaskConfig
from .masks.elements import REMOVED, Elements, Numbers, draw_label, draw_numbers
from .masks.plan import MaskOptions, plan_masks
from .media.files import STDIO, PathLike, check_input_file, first_video_stream, open_input
from .media.transcode import colour_tags
from .model.runners import ModelSpec, make_runner, quiet_log

PREVIEW_FRAMES = 4  # picks spread over the video
# Frames through the filter before each pick (with it, one chunk of 8): the recurrent state and
# the fill's memory are a running pass's; more costs the preview model time (docs/benchmarks.md, Speed).
WARM = 7
PANEL_W = 640  # frames are shown at most this wide; wider ones get 2x crops of the elements
BAR, GAP = 18, 4  # caption bar height, space between panels (pixels)
MAX_CROPS = 8  # crops per pick
BG = (30, 30, 30)


@dataclass
class PreviewReport:
    """What :func:`preview_video` did, and the full run it predicts."""

    sheet: Path
    picks: list[float] = field(default_factory=list)  # seconds into the video of each restored frame
    frames: int = 0  # frames restored (the warm-ups and the picks)
    fed: int = 0  # frames fed to the filter: those and the later ones the fill looks ahead to
    filter_seconds: float = 0.0  # the filter's time on them (fill, network, composite)
    network_seconds: float = 0.0  # ... of which in the network
    total_frames: int = 0  # frames a full run restores
    mask_seconds: float = 0.0  # the automatic detection's first pass, which a full run repeats
    seconds: float = 0.0  # the whole preview
    elements: int = 0  # OSD elements in the mask
    warnings: list[str] = field(default_factory=list)

    @property
    def frame_seconds(self) -> float:
        """A run's time per frame as measured here: the network's per frame restored, the rest
        (fill, composite) per frame fed. Decoding and encoding run beside the filter in a run."""
        if not self.frames:
            return 0.0
        return self.network_seconds / self.frames + (self.filter_seconds - self.network_seconds) / max(self.fed, 1)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_seconds if self.frame_seconds > 0 else 0.0

    @property
    def estimate(self) -> float:
        """Seconds a full run would take at the speed measured here."""
        return self.mask_seconds + self.total_frames * self.frame_seconds


def check_sheet_path(sheet: PathLike) -> None:
    """Refuse a sheet name OpenCV cannot write as an image, or a folder it cannot go in (a
    probe file is created and removed there: permission bits do not tell for root or a
    read-only mount)."""
    path, flag = Path(sheet), "--preview" if naming_flags() else "sheet"
    if os.fspath(sheet) == STDIO or not path.suffix or not cv2.haveImageWriter(os.fspath(path)):
        raise OSDFilterError(f"{flag} {sheet}: not an image file name (use .png or .jpg)")
    if path.is_dir():
        raise OSDFilterError(f"{flag} {sheet}: is a directory")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OSDFilterError(f"{flag} {sheet}: the folder {folder} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".osdfilter-preview-"):
            pass
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError
    except OSError:
        raise OSDFilterError(f"{flag} {sheet}: cannot write there") from None


def preview_video(
    src: PathLike,
    sheet: PathLike,
    *,
    mask: Any = None,
    model: ModelSpec = None,
    config: FilterConfig = FilterConfig(),
    elements: Numbers = None,
    keep_elements: Numbers = None,
    frames: int = PREVIEW_FRAMES,
    device: str = "auto",
    backend: str = "auto",
    provider: str = "auto",
    quiet: bool = False,
    auto_window: float = AutoMaskConfig.window_s,
    auto_scan: float = AutoMaskConfig.scan_s,
    save_mask: Optional[PathLike] = None,
    exclude: Sequence[Any] = (),
    start: float = 0.0,
    duration: Optional[float] = None,
) -> PreviewReport:
    """Restore ``frames`` frames spread over ``src`` (from ``start``, for ``duration``
    seconds) with the settings of a run, and write the contact sheet ``sheet`` (PNG/JPG; see
    the module doc). ``mask``, ``model``, ``elements`` (remove only these element numbers),
    ``keep_elements`` (remove all but these) and the rest as for :func:`process_video`.
    Raises :class:`OSDFilterError` (one line) for bad input; nothing is written then.
    """
    t0 = time.perf_counter()
    config = check_options(config, model)
    masking = MaskOptions(mask, exclude, elements, keep_elements, auto_window, auto_scan, save_mask).checked()
    if not isinstance(frames, (int, np.integer)) or isinstance(frames, bool) or not 1 <= frames <= 64:
        raise OSDFilterError(f"preview frames must be a whole number from 1 to 64, got {frames!r}")
    if os.fspath(src) == STDIO:
        raise OSDFilterError("the preview seeks in the input: give a file, not stdin")
    check_span(start, duration)
    check_sheet_path(sheet)
    check_input_file(Path(src))
    runner = make_runner(model, backend, device, provider, log=quiet_log if quiet else None)
    report = PreviewReport(Path(sheet))
    with open_input(src) as inp:
        vin = first_video_stream(inp, src)
        h, w = vin.codec_context.height, vin.codec_context.width
        fps = float(vin.average_rate or vin.guessed_rate or 30)
        tm = time.perf_counter()
        plan = plan_masks(src, masking, h, w, fps, lambda m: resolve_mask(m, h, w))
        if plan.layout is not None:
            report.mask_seconds = time.perf_counter() - tm
        if plan.note:
            report.warnings.append(plan.note)
        report.elements = len(plan.elements)
        # Frames after the pick that a run's fill looks ahead to: the pick is restored with the
        # same later frames as in a run.
        ahead = config.lookahead
        length = video_seconds(inp, vin)
        if length <= start:
            raise MediaError(f"{option('start')} {start:g} s is at or past the end of the video")
        span = min(length - start, duration) if duration is not None else length - start
        whole = duration is None and not start and vin.frames
        report.total_frames = vin.frames if whole else max(1, round(span * fps))
        to_rgb = RGB(vin)
        timed = TimedRunner(runner)
        picks: list[Pick] = []
        for target in pick_times(start, span, frames):
            window = decode_window(inp, vin, target, WARM, ahead, to_rgb)
            if window is None or any(p.seconds == window[2] for p in picks):
                continue  # a short video: two picks landed on one frame
            rgb, index, seconds = window
            tm, network = time.perf_counter(), timed.seconds
            restored, replaced, fed = restore(timed, plan, config, rgb, index)
            report.filter_seconds += time.perf_counter() - tm
            report.network_seconds += timed.seconds - network
            report.frames += index + 1
            report.fed += fed
            picks.append(Pick(seconds, rgb[index], restored, replaced))
        if not picks:
            raise MediaError(f"no video frame could be decoded from {src}")
    report.picks = [p.seconds for p in picks]
    write_image(sheet, contact_sheet(picks, plan.elements, plan.removed))
    report.seconds = time.perf_counter() - t0
    return report


@dataclass
class Pick:
    seconds: float  # into the video
    frame: np.ndarray  # RGB input
    restored: np.ndarray  # RGB output
    mask: np.ndarray  # bool: what the filter replaced in this frame (dilated)


class TimedRunner:
    """A runner that adds up the seconds spent in the network."""

    def __init__(self, runner: Any) -> None:
        self.runner, self.config, self.seconds = runner, runner.config, 0.0

    def step(self, frames: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        t0 = time.perf_counter()
        try:
            return self.runner.step(frames, state)
        finally:
            self.seconds += time.perf_counter() - t0


class RGB:
    """Decoded frame -> RGB uint8 with the colour matrix and range of a run's decode."""

    def __init__(self, vin: Any) -> None:
        self.vin, self.colour = vin, None

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        self.colour = self.colour or colour_tags(frame, self.vin)
        return frame.to_ndarray(format="rgb24", src_colorspace=self.colour["colorspace"], src_color_range=self.colour["color_range"])


def video_seconds(inp: Any, vin: Any) -> float:
    """The video's length from the stream or the container (0 when neither says)."""
    if vin.duration and vin.time_base:
        return float(vin.duration * vin.time_base)
    return inp.duration / av.time_base if inp.duration else 0.0


def pick_times(start: float, span: float, n: int) -> list[float]:
    """``n`` times spread over ``[start, start + span]``: at 1/(n+1), 2/(n+1), ... of it."""
    return [start + span * (i + 1) / (n + 1) for i in range(n)]


def decode_window(inp: Any, vin: Any, target: float, before: int, after: int,
                  to_rgb: Callable[[av.VideoFrame], np.ndarray]) -> Optional[tuple[list[np.ndarray], int, float]]:
    """RGB of the first frame at or after ``target`` seconds (the pick) with the ``before``
    frames before it and the ``after`` frames after it, the pick's index among them and its
    time: a seek to the keyframe at or before the first, then decoding (frames are converted
    only once in the window). Past the end: the last frame is the pick."""
    rate = float(vin.average_rate or vin.guessed_rate or 30)
    first = vin.start_time or 0
    try:
        inp.seek(first + int(max(0.0, target - (before + 1) / rate) / vin.time_base), stream=vin, backward=True, any_frame=False)
    except av.FFmpegError:
        inp.seek(first, stream=vin, backward=True, any_frame=False)
    target_pts = first + round(target / vin.time_base)
    head: deque = deque(maxlen=before + 1)  # up to the pick
    tail: list = []
    for frame in _frames(inp, vin):
        if not head or head[-1].pts < target_pts:
            head.append(frame)
        elif len(tail) < after:
            tail.append(frame)
        else:
            break
    if not head:
        return None
    return [to_rgb(f) for f in (*head, *tail)], len(head) - 1, float((head[-1].pts - first) * vin.time_base)


def _frames(inp: Any, vin: Any) -> Iterator[av.VideoFrame]:
    """Decoded frames in order, as a run takes them: damaged packets and frames whose pts
    does not go forward are skipped, a read error ends the input."""
    last = None
    try:
        for packet in inp.demux(vin):
            try:
                decoded = packet.decode()
            except av.FFmpegError:
                continue
            for frame in decoded:
                if frame.pts is not None and (last is None or frame.pts > last):
                    last = frame.pts
                    yield frame
    except av.FFmpegError:
        pass


def restore(runner: Any, plan: Any, config: FilterConfig, frames: list[np.ndarray], index: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``frames[index]`` restored by a fresh filter fed ``frames`` in order, the mask it
    replaced there, and how many frames it was fed. The chunk ends at the pick (the output
    does not depend on the chunk), so the frames after it reach only the fill, never the model."""
    filt = with_layout(OSDFilter(runner, plan.union, replace(config, chunk=index + 1)), plan.layout)
    out: list[np.ndarray] = []
    for n, frame in enumerate(frames):
        item = filt.prepare(frame)
        if n == index:
            mask = item.mask
        out += filt.push_prepared(item)
        if len(out) > index:
            return out[index], mask, n + 1
    out += filt.flush()
    return out[index], mask, len(frames)


def write_image(path: PathLike, rgb: np.ndarray) -> None:
    try:
        ok = cv2.imwrite(os.fspath(path), np.ascontiguousarray(rgb[..., ::-1]))
    except cv2.error:
        ok = False
    if not ok:
        raise OSDFilterError(f"cannot write the preview {path}")


# --- the sheet -----------------------------------------------------------------------------


def sheet_size(height: int, width: int, picks: int) -> tuple[int, int]:
    """``(height, width)`` of the sheet for frames of that size without crops (frames up to
    ``PANEL_W`` wide)."""
    scale = min(1.0, PANEL_W / width)
    ph, pw = max(1, round(height * scale)), max(1, round(width * scale))
    return picks * (BAR + ph) + (picks - 1) * GAP, 2 * pw + GAP


def annotate(frame: np.ndarray, mask: np.ndarray, elements: Elements, removed: Optional[Sequence[int]], scale: float) -> np.ndarray:
    """The input at ``scale`` with the outline of ``mask`` and the elements' numbers."""
    h, w = frame.shape[:2]
    img = cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA) if scale != 1 else frame.copy()
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(img, [np.round(c * scale).astype(np.int32) for c in contours], -1, REMOVED, 1)
    draw_numbers(img, elements, removed, scale)
    return img


def _caption(width: int, text: str) -> np.ndarray:
    bar = np.full((BAR, width, 3), BG, np.uint8)
    cv2.putText(bar, text, (4, BAR - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (230, 230, 230), 1, cv2.LINE_AA)
    return bar


def _crops(pick: Pick, elements: Elements, numbers: Sequence[int], zoom: float, width: int) -> list[np.ndarray]:
    """Lines of input | restored crops around the ``numbers``' boxes at ``zoom``, ``width`` wide."""
    H, W = pick.frame.shape[:2]
    pairs = []
    for num in list(numbers)[:MAX_CROPS]:
        x, y, bw, bh = elements.boxes[num - 1]
        pad = max(6, bh // 2)
        x0, y0, x1, y1 = max(0, x - pad), max(0, y - pad), min(W, x + bw + pad), min(H, y + bh + pad)
        z = min(zoom, (width - GAP) / 2 / (x1 - x0))
        size = (max(1, round((x1 - x0) * z)), max(1, round((y1 - y0) * z)))
        interp = cv2.INTER_NEAREST if z >= 1 else cv2.INTER_AREA
        pair = np.full((size[1], 2 * size[0] + GAP, 3), BG, np.uint8)
        pair[:, : size[0]] = cv2.resize(pick.frame[y0:y1, x0:x1], size, interpolation=interp)
        pair[:, size[0] + GAP :] = cv2.resize(pick.restored[y0:y1, x0:x1], size, interpolation=interp)
        draw_label(pair, str(num), (0, size[1], 0, size[1]), REMOVED)
        pairs.append(pair)
    lines: list[list[np.ndarray]] = []
    used = 0
    for pair in pairs:  # left to right, a new line when the next does not fit
        if not lines or used + GAP + pair.shape[1] > width:
            lines.append([])
            used = -GAP
        lines[-1].append(pair)
        used += GAP + pair.shape[1]
    out = []
    for line in lines:
        strip = np.full((max(p.shape[0] for p in line) + GAP, width, 3), BG, np.uint8)
        x = 0
        for p in line:
            strip[GAP : GAP + p.shape[0], x : x + p.shape[1]] = p
            x += p.shape[1] + GAP
        out.append(strip)
    return out


def contact_sheet(picks: list[Pick], elements: Elements, removed: Optional[Sequence[int]]) -> np.ndarray:
    """Per pick: a caption, the annotated input beside the restored frame and, for frames
    shown smaller than they are, 2x crops of the removed elements."""
    H, W = picks[0].frame.shape[:2]
    scale = min(1.0, PANEL_W / W)
    pw, ph = max(1, round(W * scale)), max(1, round(H * scale))
    width = 2 * pw + GAP
    gone = list(range(1, len(elements) + 1)) if removed is None else list(removed)
    parts: list[np.ndarray] = []
    for pick in picks:
        if parts:
            parts.append(np.full((GAP, width, 3), BG, np.uint8))
        parts.append(_caption(width, f"{pick.seconds:.2f} s   input: replaced area outlined, elements numbered (orange: kept)  |  restored"))
        row = np.full((ph, width, 3), BG, np.uint8)
        row[:, :pw] = annotate(pick.frame, pick.mask, elements, removed, scale)
        row[:, pw + GAP :] = pick.restored if scale == 1 else cv2.resize(pick.restored, (pw, ph), interpolation=cv2.INTER_AREA)
        parts.append(row)
        if scale < 1 and gone:
            parts += _crops(pick, elements, gone, 2 * scale, width)
    return np.concatenate(parts)
