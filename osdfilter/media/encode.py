"""How the output video is encoded: :class:`EncodeOptions` and its checks.

One ``EncodeOptions`` travels from the command line through :func:`osdfilter.process_batch`
to :func:`osdfilter.process_video` and the :class:`~osdfilter.media.transcode.Transcoder`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Optional

import av

from ..errors import OSDFilterError, option
from .files import STDIO, PathLike, av_message

NVENC_CODECS = ("h264_nvenc", "hevc_nvenc", "av1_nvenc")  # NVIDIA's encoder chip: the CPU stays free for the fill
VIDEO_CODECS = ("libx264", "libx265", "libvpx-vp9", "libsvtav1", *NVENC_CODECS)
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
# x264 `faster`, not ffmpeg's `medium`: `medium` alone took half a frame's CPU on a small
# machine, and `faster` costs far less for a little PSNR (docs/benchmarks.md, Encoder preset).
DEFAULT_PRESET = "faster"
DEFAULT_CODEC, DEFAULT_CRF = "libx264", 18  # process_video's, the CLI's and process_batch's defaults
NVENC_PRESETS = ("p1", "p1", "p2", "p3", "p3", "p4", "p5", "p6", "p7")  # x264 name -> NVENC p1 (fastest) .. p7
PIPE_FORMATS = ("matroska", "nut", "mpegts")
SEEKING_MUXERS = ("mp4", "mov", "ipod", "3gp", "3g2", "psp", "f4v", "ismv")  # write the index last, then seek back


@dataclass(frozen=True)
class EncodeOptions:
    """The output's encoder and container: ``codec``, constant quality ``crf``, speed
    ``preset`` (x264 names, mapped for other codecs) and ``format`` (the container; None:
    from the output's extension, needed for stdout)."""

    codec: str = DEFAULT_CODEC
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET
    format: Optional[str] = None

    def updated(self, **fields: Any) -> "EncodeOptions":
        """A copy with the fields given (not None) replaced: the loose keywords of the API."""
        given = {k: v for k, v in fields.items() if v is not None}
        return replace(self, **given) if given else self

    def validate(self, dst: PathLike) -> None:
        """Fail on these options for ``dst`` before any file is opened."""
        validate_encoding(self.codec, self.crf, self.preset, self.format, dst)

    def encoder_options(self) -> dict[str, str]:
        """The libav options of the video encoder."""
        return encoder_options(self.codec, self.crf, self.preset)


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
    if codec in NVENC_CODECS:  # constant quality: VBR with no bitrate target, CQ on CRF's scale
        return {"rc": "vbr", "cq": str(crf), "b": "0", "preset": NVENC_PRESETS[speed], "tune": "hq"}
    raise OSDFilterError(f"unsupported {option('codec')} {codec!r}; choose from {', '.join(VIDEO_CODECS)}")


def validate_encoding(codec: str, crf: int, preset: str, format: Optional[str], dst: PathLike) -> None:
    """Fail on encoding and container options before any file is opened."""
    if codec not in VIDEO_CODECS:
        raise OSDFilterError(f"unsupported {option('codec')} {codec!r}; choose from {', '.join(VIDEO_CODECS)}")
    if codec not in av.codecs_available:
        raise OSDFilterError(f"{option('codec')} {codec}: this PyAV/FFmpeg build has no such encoder")
    if preset not in PRESETS:
        raise OSDFilterError(f"unknown {option('preset')} {preset!r}; choose from {', '.join(PRESETS)}")
    top = 63 if codec in ("libvpx-vp9", "libsvtav1") else 51
    if not 0 <= crf <= top:
        raise OSDFilterError(f"{option('crf')} {crf} out of range for {codec} (0..{top})")
    if codec in NVENC_CODECS:
        probe_encoder(codec, encoder_options(codec, crf, preset))
    if format is not None and format not in av.formats_available:
        raise OSDFilterError(f"unknown {option('format')} {format!r}; for pipes use {', '.join(PIPE_FORMATS)}")
    if os.fspath(dst) == STDIO and format is None:
        raise OSDFilterError(f"writing to stdout needs {option('format')} ({', '.join(PIPE_FORMATS)})")
    if os.fspath(dst) == STDIO and format in SEEKING_MUXERS and not stdout_seekable():
        raise OSDFilterError(f"{format} needs a seekable output, not a pipe; for stdout use {', '.join(PIPE_FORMATS)}")


def stdout_seekable() -> bool:
    """Whether stdout is a file (the MP4 muxer seeks back to write its index), not a pipe."""
    try:
        return sys.stdout.buffer.seekable()
    except (AttributeError, ValueError, OSError):
        return False


def probe_encoder(codec: str, options: dict[str, str]) -> None:
    """Open a small instance of a hardware encoder, so that a machine without one fails
    here in one line rather than after the output was started (FFmpeg's own error for a
    missing NVIDIA driver is a bare "Operation not permitted")."""
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = 256, 256, "yuv420p", Fraction(1, 30)
    ctx.options = options
    try:
        ctx.open()
    except (av.FFmpegError, OSError) as exc:
        raise OSDFilterError(f"{option('codec')} {codec}: the NVIDIA encoder cannot start here (no NVIDIA GPU or driver?): {av_message(exc)}") from None
    # The session is released with ``ctx`` on return (reference counting).

