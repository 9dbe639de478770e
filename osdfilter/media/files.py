"""Input and output files: path checks, the input container, atomic output.

Every check here runs before anything is written; the output is written to a hidden
partial file beside it and renamed only when complete, so a failure or Ctrl-C never
leaves a half-written file at the destination.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, BinaryIO, Optional, Union

import av

from ..errors import MediaError

PathLike = Union[str, os.PathLike]
STDIO = "-"
SHIFTING_MUXERS = ("matroska", "webm")  # muxers whose default timestamp shift we turn off


def check_paths(src: PathLike, dst: PathLike, overwrite: bool) -> None:
    """Refuse a missing or empty input, an output that is the input, an existing output."""
    if os.fspath(src) != STDIO:
        check_input_file(Path(src))
    if os.fspath(dst) == STDIO:
        return
    dst = Path(dst)
    if dst.is_dir():
        raise MediaError(f"output is a directory: {dst}")
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
            self.container = av.open(source, "r")
        except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
            raise MediaError(f"cannot read {self.src} as a video: {av_message(exc)}") from None
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
    untouched. For ``dst == "-"`` the target is stdout itself.
    """

    def __init__(self, dst: PathLike) -> None:
        self.dst = Path(dst)
        self.stdout = os.fspath(dst) == STDIO
        self.tmp = partial_path(self.dst, os.getpid())

    def __enter__(self) -> Union[Path, BinaryIO]:
        return sys.stdout.buffer if self.stdout else self.tmp

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.stdout:
            return
        if exc_type is None:
            os.replace(self.tmp, self.dst)
        else:
            self.tmp.unlink(missing_ok=True)


def open_output(target: Union[Path, BinaryIO], dst: PathLike, format: Optional[str]) -> av.container.OutputContainer:
    """The output container, its format from ``format`` or else ``dst``'s extension."""
    name = os.fspath(target) if isinstance(target, Path) else target
    try:
        out = av.open(name, "w", format=format)
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
        raise MediaError(f"no video stream in {src}")
    vin = videos[0]
    if not vin.codec_context.width or not vin.codec_context.height:
        raise MediaError(f"{src}: the video stream has no frame size (unsupported or damaged)")
    vin.thread_type = "AUTO"
    return vin


def av_message(exc: BaseException) -> str:
    """One line from a PyAV/OS exception."""
    msg = getattr(exc, "strerror", None) or str(exc)
    msg = str(msg).strip()
    return msg.splitlines()[0] if msg else type(exc).__name__

