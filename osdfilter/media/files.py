"""Input and output files: path checks, the input container, atomic output.

Every check here runs before anything is written; the output is written to a hidden
partial file beside it and renamed only when complete, so a failure or Ctrl-C never
leaves a half-written file at the destination.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any, BinaryIO, Optional, Union

import av

from ..errors import PIPE_CLOSED, MediaError, PipeClosedError

PathLike = Union[str, os.PathLike]
STDIO = "-"
SHIFTING_MUXERS = ("matroska", "webm")  # muxers whose default timestamp shift we turn off
# A tag that is not UTF-8 (one bad byte in a title) is read as its bytes (surrogates) and
# written back as the same bytes, rather than refusing a file every player reads.
METADATA_ERRORS = "surrogateescape"
MP4_BOX_HEADER = 8  # bytes: size (4) and type (4)


def check_paths(src: PathLike, dst: PathLike, overwrite: bool) -> None:
    """Refuse a missing or empty input, an output that is the input, an existing output."""
    if os.fspath(src) != STDIO:
        check_input_file(Path(src))
    if os.fspath(dst) == STDIO:
        return
    dst = Path(dst)
    if dst.is_dir():
        raise MediaError(f"output is a directory: {dst}")
    if is_stream_target(dst):  # a FIFO or a device: written in place, nothing is renamed
        if not overwrite:
            raise MediaError(f"output exists: {dst} (use -y/--overwrite to write to it)")
        return
    dst = Path(os.path.realpath(dst))  # a symlink's target is what gets replaced
    if dst.exists() or dst.is_symlink():
        if os.fspath(src) != STDIO and dst.exists() and os.path.samefile(src, dst):
            raise MediaError(f"output is the input file: {dst}")
        if not overwrite:
            raise MediaError(f"output exists: {dst} (use -y/--overwrite to replace it)")
    folder = dst.parent if str(dst.parent) else Path(".")
    if not folder.is_dir():
        raise MediaError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise MediaError(f"output folder is not writable: {folder}")


def is_stream_target(dst: Path) -> bool:
    """Whether ``dst`` (through any symlinks) is a FIFO, a socket or a device: such a file
    is opened and written in place, as ffmpeg does, never replaced by a rename."""
    try:
        mode = os.stat(dst).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode)


def check_input_file(src: Path) -> None:
    if not src.exists():
        raise MediaError(f"input not found: {src}")
    if src.is_dir():
        raise MediaError(f"input is a directory: {src}")
    if not os.access(src, os.R_OK):
        raise MediaError(f"input is not readable: {src}")
    if src.is_file() and src.stat().st_size == 0:
        raise MediaError(f"input is empty (0 bytes): {src}")


class open_input:
    """``with open_input(path) as container``: an input container (read only), closed on exit."""

    def __init__(self, src: PathLike) -> None:
        self.src = src

    def __enter__(self) -> av.container.InputContainer:
        source: Union[str, BinaryIO] = sys.stdin.buffer if os.fspath(self.src) == STDIO else os.fspath(self.src)
        try:
            self.container = av.open(source, "r", metadata_errors=METADATA_ERRORS)
        except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
            raise MediaError(mp4_index_message(self.src) or f"cannot read {self.src} as a video: {av_message(exc)}") from None
        if self.container.format.name == "image2" or self.container.format.name.endswith("_pipe"):
            self.container.close()
            raise MediaError(f"{self.src} is a still image, not a video")
        return self.container

    def __exit__(self, *exc: Any) -> None:
        self.container.close()


def partial_path(dst: Path, pid: int) -> Path:
    """Where process ``pid`` writes ``dst`` until it is complete (hidden, beside it). The
    suffix is kept: the muxer is chosen from it."""
    return dst.with_name(f".{dst.stem}.osdfilter-{pid}.partial{dst.suffix}")


class atomic_output:
    """``with atomic_output(dst) as target``: write ``target`` beside ``dst``; rename on success.

    On any exception (KeyboardInterrupt included) ``target`` is removed and ``dst`` is
    untouched. For ``dst == "-"`` the target is stdout itself; a FIFO or a device is
    written in place (there is nothing to rename); for a symlink, the temporary file goes
    beside its target, which is replaced, and the link stays.
    """

    def __init__(self, dst: PathLike) -> None:
        self.stdout = os.fspath(dst) == STDIO
        self.direct = not self.stdout and is_stream_target(Path(dst))
        self.dst = Path(dst) if self.stdout or self.direct else Path(os.path.realpath(dst))
        self.tmp = partial_path(self.dst, os.getpid())

    def __enter__(self) -> Union[Path, BinaryIO]:
        if self.stdout:
            return sys.stdout.buffer
        return self.dst if self.direct else self.tmp

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.stdout or self.direct:
            return
        if exc_type is None:
            os.replace(self.tmp, self.dst)
        else:
            self.tmp.unlink(missing_ok=True)


def open_output(target: Union[Path, BinaryIO], dst: PathLike, format: Optional[str]) -> av.container.OutputContainer:
    """The output container, its format from ``format`` or else ``dst``'s extension."""
    name = os.fspath(target) if isinstance(target, Path) else target
    try:
        out = av.open(name, "w", format=format, metadata_errors=METADATA_ERRORS)
    except ValueError:
        raise MediaError(f"unknown output container for {Path(dst).name!r}; use e.g. .mp4, .mkv or .mov") from None
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot write {dst}: {av_message(exc)}") from None
    if out.format.name in SHIFTING_MUXERS:
        # Matroska would shift every timestamp so the first (B-frame) dts is >= 0; its
        # blocks carry pts only, so negative dts is harmless and the input pts are kept.
        out.container_options["avoid_negative_ts"] = "disabled"
    return out


def close_output(out: av.container.OutputContainer, dst: PathLike) -> None:
    """Write the trailer and close; a failure here (disk full) is the user's error."""
    try:
        out.close()
    except BrokenPipeError:
        raise PipeClosedError(PIPE_CLOSED) from None
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot finish writing {dst}: {av_message(exc)}") from None


def close_quietly(out: av.container.OutputContainer) -> None:
    """Close after an error: the file is discarded anyway, so its own errors don't matter."""
    try:
        out.close()
    except Exception:
        pass


def first_video_stream(inp: av.container.InputContainer, src: PathLike) -> av.video.stream.VideoStream:
    videos = [s for s in inp.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not videos:
        raise MediaError(mp4_index_message(src) or f"no video stream in {src}")
    vin = videos[0]
    if vin.codec_context is None:  # FFmpeg has no decoder for its codec ID
        raise MediaError(mp4_index_message(src) or f"{src}: no decodable video stream (codec unknown)")
    if not vin.codec_context.width or not vin.codec_context.height:
        raise MediaError(mp4_index_message(src) or f"{src}: the video stream has no frame size (unsupported or damaged)")
    vin.thread_type = "AUTO"
    return vin


def mp4_index_message(src: PathLike) -> Optional[str]:
    """Why an MP4 that FFmpeg could not use failed, when the cause is its index: the
    ``moov`` box missing (the file was cut before it, or never finished) or running past
    the end of the file (cut inside it). None for other files and other causes."""
    if os.fspath(src) == STDIO:
        return None
    try:
        size = os.path.getsize(src)
        with open(src, "rb") as f:
            if f.read(MP4_BOX_HEADER)[4:] != b"ftyp":
                return None
            pos = 0
            while pos + MP4_BOX_HEADER <= size:  # the top-level boxes
                f.seek(pos)
                head = f.read(16)
                length, kind = int.from_bytes(head[:4], "big"), head[4:8]
                if length == 1:
                    length = int.from_bytes(head[8:16], "big")
                elif length == 0:
                    length = size - pos
                if kind == b"moov":
                    if pos + length <= size:
                        return None
                    return f"cannot read {src}: its MP4 index (moov) is truncated: the file was cut off (an interrupted copy or recording?)"
                if length < MP4_BOX_HEADER or not kind.isascii():
                    return None  # damaged structure: nothing certain to say
                pos += length
    except OSError:
        return None
    return f"cannot read {src}: its MP4 index (moov) is missing: the file was cut off or never finished (an interrupted recording?)"


def av_message(exc: BaseException) -> str:
    """One line from a PyAV/OS exception."""
    msg = getattr(exc, "strerror", None) or str(exc)
    msg = str(msg).strip()
    return msg.splitlines()[0] if msg else type(exc).__name__

