"""Video in, video out: the streaming pipeline around :class:`~osdfilter.filter.OSDFilter`.

The media lifecycle, written out in full (PyAV)::

    demux (input container, packet by packet, every kept stream interleaved)
      ├─ video packet → decode → RGB uint8 → OSDFilter.push → restored frames
      │                 → VideoFrame (input pts, input time base) → encode → mux
      ├─ audio packet (codec accepted by the output container) → mux as is
      └─ audio packet (codec not accepted) → decode → encode AAC → mux
    end of input: flush the filter (partial last chunk) → flush every encoder → close

Only ``chunk`` frames (plus the codecs' own look-ahead) are ever held in memory, whatever
the video's length. The output has the input's size, frame count, frame rate and
presentation timestamps: the output stream uses the input stream's time base and every
frame keeps its input pts.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import av
import numpy as np
from tqdm import tqdm

from .errors import MaskError, MediaError, OSDFilterError
from .filter import FilterConfig, OSDFilter
from .masks import load_mask
from .runners import ModelSpec, Runner, make_runner

PathLike = Union[str, os.PathLike]
MaskSpec = Union[None, str, os.PathLike, np.ndarray]

VIDEO_CODECS = ("libx264", "libx265", "libvpx-vp9", "libsvtav1")
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
FALLBACK_AUDIO_CODEC = "aac"
SHIFTING_MUXERS = ("matroska", "webm")  # muxers whose default timestamp shift we turn off


@dataclass
class Report:
    """What one ``process_video`` call did."""

    frames: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def rescale_ts(ts: int, from_time_base: Fraction, to_time_base: Fraction) -> int:
    """A timestamp in ``from_time_base`` units expressed in ``to_time_base`` units (rounded).

    The one place timestamps change units; exact (no float) so VFR pts survive.
    """
    return round(Fraction(ts) * from_time_base / to_time_base)


def encoder_options(codec: str, crf: int, preset: str) -> dict[str, str]:
    """libav options giving ``crf`` quality at roughly x264 ``preset`` speed for ``codec``."""
    speed = PRESETS.index(preset)  # 0 = ultrafast ... 8 = veryslow
    if codec == "libx264":
        return {"crf": str(crf), "preset": preset}
    if codec == "libx265":
        return {"crf": str(crf), "preset": preset, "x265-params": "log-level=error"}
    if codec == "libvpx-vp9":  # constant quality needs b=0; cpu-used 8 (fastest) .. 0
        return {"crf": str(crf), "b": "0", "deadline": "good", "cpu-used": str(8 - speed), "row-mt": "1"}
    if codec == "libsvtav1":  # SVT-AV1 presets run 13 (fastest) .. 0
        return {"crf": str(crf), "preset": str(12 - speed)}
    raise OSDFilterError(f"unsupported --codec {codec!r}; choose from {', '.join(VIDEO_CODECS)}")


def validate_encoding(codec: str, crf: int, preset: str) -> None:
    """Fail on encoding options before any file is opened."""
    if codec not in VIDEO_CODECS:
        raise OSDFilterError(f"unsupported --codec {codec!r}; choose from {', '.join(VIDEO_CODECS)}")
    if codec not in av.codecs_available:
        raise OSDFilterError(f"--codec {codec}: this PyAV/FFmpeg build has no such encoder")
    if preset not in PRESETS:
        raise OSDFilterError(f"unknown --preset {preset!r}; choose from {', '.join(PRESETS)}")
    top = 63 if codec in ("libvpx-vp9", "libsvtav1") else 51
    if not 0 <= crf <= top:
        raise OSDFilterError(f"--crf {crf} out of range for {codec} (0..{top})")


def resolve_mask(mask: MaskSpec, height: int, width: int) -> np.ndarray:
    """The overlay mask (bool ``[height, width]``) from a path, an array, or automatic detection."""
    if mask is None or (isinstance(mask, str) and mask == "auto"):
        return auto_mask(height, width)
    if isinstance(mask, np.ndarray):
        if mask.shape != (height, width):
            raise MaskError(f"mask array has shape {mask.shape}, the video is {height}x{width} (HxW)")
        if not mask.any():
            raise MaskError("mask array is empty (no True pixels)")
        return mask.astype(bool)
    return load_mask(mask, height, width)


def auto_mask(height: int, width: int) -> np.ndarray:
    """HOOK(automask): automatic OSD detection (``osdfilter.automask.MaskDetector``).

    Until it is wired in, a missing mask is a user error. The automask owner replaces this
    function (and lets ``process_video`` pass per-frame masks to ``OSDFilter.push``).
    """
    raise MaskError("no mask given: pass --mask PATH (a PNG/JPG, white = overlay); automatic detection is not available yet")


def process_video(
    src: PathLike,
    dst: PathLike,
    *,
    mask: MaskSpec = None,
    model: ModelSpec = None,
    config: FilterConfig = FilterConfig(),
    codec: str = "libx264",
    crf: int = 18,
    preset: str = "medium",
    device: str = "auto",
    backend: str = "torch",
    provider: str = "auto",
    quiet: bool = False,
    overwrite: bool = False,
) -> Report:
    """Remove the OSD inside ``mask`` from the video ``src`` and write ``dst``.

    ``mask``: a PNG/JPG path (white = overlay, any size, resized to the video), a bool array
    ``[H, W]``, or ``None``/``"auto"`` for automatic detection. ``model``: a checkpoint path,
    a :class:`RecurrentUNet`, a :class:`Runner`, or ``None`` for the packaged default.
    Audio is copied packet for packet. Raises :class:`OSDFilterError` (one-line message)
    for anything wrong with the inputs, options or environment.
    """
    validate_encoding(codec, crf, preset)
    src_path, dst_path = Path(src), Path(dst)
    check_paths(src_path, dst_path, overwrite)
    runner = make_runner(model, backend, device, provider)
    report = Report()
    start = time.perf_counter()
    with open_input(src_path) as inp:
        vin = first_video_stream(inp, src_path)
        filt = OSDFilter(runner, resolve_mask(mask, vin.codec_context.height, vin.codec_context.width), config)
        with atomic_output(dst_path) as tmp:
            out = open_output(tmp, dst_path)
            try:
                vout = add_video_stream(out, vin, codec, crf, preset, report)
                audio = add_audio_streams(out, inp, report)
                with progress_bar(vin, quiet) as bar:
                    report.frames = transcode(inp, out, vin, vout, audio, filt, bar)
            finally:
                out.close()
    report.seconds = time.perf_counter() - start
    return report


# --- paths and containers ------------------------------------------------------------


def check_paths(src: Path, dst: Path, overwrite: bool) -> None:
    """Refuse a missing input, an output that is the input, and an existing output."""
    if not src.exists():
        raise MediaError(f"input not found: {src}")
    if src.is_dir():
        raise MediaError(f"input is a directory: {src}")
    if dst.exists():
        if os.path.samefile(src, dst):
            raise MediaError(f"output is the input file: {dst}")
        if not overwrite:
            raise MediaError(f"output exists: {dst} (use -y/--overwrite to replace it)")
    if dst.is_dir():
        raise MediaError(f"output is a directory: {dst}")


class open_input:
    """``with open_input(path) as container``: an input container, closed on exit."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> av.container.InputContainer:
        try:
            self.container = av.open(os.fspath(self.path), "r")
        except (av.FFmpegError, UnicodeDecodeError) as exc:
            raise MediaError(f"cannot open {self.path} as a video: {_av_message(exc)}") from None
        return self.container

    def __exit__(self, *exc: Any) -> None:
        self.container.close()


class atomic_output:
    """``with atomic_output(dst) as tmp``: write ``tmp`` beside ``dst``; rename on success.

    On any exception (KeyboardInterrupt included) ``tmp`` is removed and ``dst`` untouched.
    """

    def __init__(self, dst: Path) -> None:
        self.dst = dst
        # Keep the suffix: the muxer is chosen from it.
        self.tmp = dst.with_name(f".{dst.stem}.osdfilter-{os.getpid()}.partial{dst.suffix}")

    def __enter__(self) -> Path:
        return self.tmp

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            os.replace(self.tmp, self.dst)
        else:
            self.tmp.unlink(missing_ok=True)


def open_output(tmp: Path, dst: Path) -> av.container.OutputContainer:
    """The output container for ``tmp``, its format chosen from ``dst``'s extension."""
    try:
        out = av.open(os.fspath(tmp), "w")
    except ValueError:
        raise MediaError(f"unknown output container for {dst.name!r}; use e.g. .mp4, .mkv or .mov") from None
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot write {dst}: {_av_message(exc)}") from None
    if out.format.name in SHIFTING_MUXERS:
        # Matroska would shift every timestamp so the first (B-frame) dts is >= 0; its
        # blocks carry pts only, so negative dts is harmless and the input pts are kept.
        out.container_options["avoid_negative_ts"] = "disabled"
    return out


def first_video_stream(inp: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    if not inp.streams.video:
        raise MediaError(f"no video stream in {path}")
    vin = inp.streams.video[0]
    vin.thread_type = "AUTO"
    return vin


def _av_message(exc: BaseException) -> str:
    """One line from a PyAV/OS exception (without the file name it repeats)."""
    msg = getattr(exc, "strerror", None) or str(exc)
    return str(msg).strip().splitlines()[0] if str(msg).strip() else type(exc).__name__


# --- streams -------------------------------------------------------------------------


def add_video_stream(
    out: av.container.OutputContainer,
    vin: av.video.stream.VideoStream,
    codec: str,
    crf: int,
    preset: str,
    report: Report,
) -> av.video.stream.VideoStream:
    """The encoder stream: input size, rate and time base; yuv420p (yuv444p for odd sizes)."""
    if codec not in out.supported_codecs:
        raise MediaError(f"the {out.format.name} container cannot hold {codec}; choose another --codec or extension")
    width, height = vin.codec_context.width, vin.codec_context.height
    rate = vin.average_rate or vin.guessed_rate or Fraction(30)
    vout = out.add_stream(codec, rate=rate)
    vout.width, vout.height = width, height
    vout.pix_fmt = "yuv420p"
    if width % 2 or height % 2:
        # 4:2:0 needs even sizes; keep the exact size rather than crop or pad.
        vout.pix_fmt = "yuv444p"
        report.warn(f"odd frame size {width}x{height}: encoding yuv444p instead of yuv420p")
    # Same time base as the input, so every input pts is written unchanged.
    vout.time_base = vin.time_base
    vout.codec_context.time_base = vin.time_base
    vout.options = encoder_options(codec, crf, preset)
    return vout


@dataclass
class AudioRoute:
    """One input audio stream and how it reaches the output."""

    src: Any  # input stream
    dst: Any  # output stream
    copy: bool  # True: packets as they are; False: decode → AAC


def add_audio_streams(out: av.container.OutputContainer, inp: av.container.InputContainer, report: Report) -> dict[int, AudioRoute]:
    """Output streams for every input audio stream, in input order, keyed by input index."""
    routes: dict[int, AudioRoute] = {}
    for ain in inp.streams.audio:
        name = ain.codec_context.name
        if name in out.supported_codecs:
            aout = out.add_stream_from_template(ain)
            routes[ain.index] = AudioRoute(ain, aout, copy=True)
            continue
        report.warn(f"audio stream #{ain.index} ({name}) cannot go in {out.format.name}: re-encoded to AAC")
        aout = out.add_stream(FALLBACK_AUDIO_CODEC, rate=ain.codec_context.sample_rate or 48000)
        if ain.codec_context.layout:
            aout.layout = ain.codec_context.layout
        routes[ain.index] = AudioRoute(ain, aout, copy=False)
    return routes


# --- the loop ------------------------------------------------------------------------


def transcode(
    inp: av.container.InputContainer,
    out: av.container.OutputContainer,
    vin: av.video.stream.VideoStream,
    vout: av.video.stream.VideoStream,
    audio: dict[int, AudioRoute],
    filt: OSDFilter,
    bar: tqdm,
) -> int:
    """Demux every kept stream in file order; returns the number of video frames written."""
    pts_queue: deque[int] = deque()  # pts of frames pushed into the filter, not yet out
    written = 0
    streams = [vin] + [route.src for route in audio.values()]
    for packet in demux(inp, streams):
        if packet.stream_index == vin.index:
            for frame in decode(packet):
                pts_queue.append(frame_pts(frame, pts_queue, vin))
                written += encode_frames(out, vout, filt.push(frame.to_ndarray(format="rgb24")), pts_queue, bar)
        else:
            mux_audio(out, audio[packet.stream_index], packet)
    written += encode_frames(out, vout, filt.flush(), pts_queue, bar)
    out.mux(vout.encode(None))  # encoder flush: the frames it still holds
    for route in audio.values():
        if not route.copy:
            out.mux(route.dst.encode(None))
    return written


def demux(inp: av.container.InputContainer, streams: list) -> Iterator[av.Packet]:
    try:
        yield from inp.demux(*streams)
    except av.FFmpegError as exc:
        raise MediaError(f"cannot read {inp.name}: {_av_message(exc)}") from None


def decode(packet: av.Packet) -> list[av.VideoFrame]:
    try:
        return packet.decode()
    except av.FFmpegError as exc:
        raise MediaError(f"corrupt video data at pts {packet.pts}: {_av_message(exc)}") from None


def frame_pts(frame: av.VideoFrame, queued: deque, vin: av.video.stream.VideoStream) -> int:
    """The frame's presentation time in the input stream's time base (guessed if missing)."""
    if frame.pts is not None:
        return frame.pts
    step = rescale_ts(1, 1 / (vin.average_rate or Fraction(30)), vin.time_base) or 1
    return queued[-1] + step if queued else 0


def encode_frames(out: av.container.OutputContainer, vout: Any, frames: list[np.ndarray], pts_queue: deque, bar: tqdm) -> int:
    """Encode restored RGB frames (in order) with the pts they had on input; mux the packets."""
    for rgb in frames:
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = pts_queue.popleft()
        frame.time_base = vout.codec_context.time_base
        out.mux(vout.encode(frame))
    bar.update(len(frames))
    return len(frames)


def mux_audio(out: av.container.OutputContainer, route: AudioRoute, packet: av.Packet) -> None:
    if route.copy:
        # Skip the demuxer's flush packet by size, not by `dts is None`: a real keyframe
        # may lack a DTS and must be kept (PyAV issue #1917).
        if packet.size == 0:
            return
        packet.stream = route.dst  # mux rescales from the input's time base
        out.mux(packet)
        return
    for frame in packet.decode():
        frame.pts = None  # the AAC encoder re-times from its own sample count
        out.mux(route.dst.encode(frame))


def progress_bar(vin: av.video.stream.VideoStream, quiet: bool) -> tqdm:
    """tqdm on stderr counting frames (frames/s and ETA when the length is known)."""
    total = vin.frames or None
    if not total and vin.duration and vin.average_rate:
        total = int(round(float(vin.duration * vin.time_base * vin.average_rate)))
    return tqdm(total=total, unit="frame", disable=quiet, file=sys.stderr, dynamic_ncols=True, leave=False)
