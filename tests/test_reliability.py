"""Twelve defects from an adversarial run (issue 29), each on real media made here.

Only the console script and the top-level API are driven, so these tests do not depend
on where inside the package the code lives.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Optional, Sequence

import av
import numpy as np
import pytest

from osdfilter import OSDFilterError, process_video

CLI = [sys.executable, "-c", "from osdfilter.console import main; main()"]
FAST = ["--fast", "--preset", "ultrafast"]


# --- small real media ------------------------------------------------------------------------


def frame_rgb(t: int, height: int, width: int) -> np.ndarray:
    """A moving gradient with a white 'OSD' bar: cheap, compressible, changes every frame."""
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([(x * 4 + 3 * t) % 256, (y * 5 + 7 * t) % 256, ((x + y) * 2 + 11 * t) % 256], axis=-1).astype(np.uint8)
    img[2:6, 4 : width // 2] = 255
    return img


def make_video(path: Path, frames: int = 10, width: int = 64, height: int = 48, fps: int = 25, codec: str = "libx264",
               pix_fmt: str = "yuv420p", pts: Optional[Sequence[int]] = None, time_base: Optional[Fraction] = None,
               title: Optional[str] = None, bframes: Optional[int] = None, fmt: Optional[str] = None,
               options: Optional[dict] = None, audio: bool = False) -> Path:
    """Encode ``frames`` frames; ``pts`` (in ``time_base``, default 1/fps) can leave gaps."""
    tb = time_base or Fraction(1, fps)
    opts = {"crf": "20", "preset": "ultrafast"} if codec == "libx264" else {}
    opts.update(options or {})
    with av.open(os.fspath(path), "w", format=fmt) as out:
        if title is not None:
            out.metadata["title"] = title
        v = out.add_stream(codec, rate=fps, options=opts)
        v.width, v.height, v.pix_fmt = width, height, pix_fmt
        v.codec_context.time_base = tb
        if bframes is not None:
            v.codec_context.max_b_frames = bframes
        a = out.add_stream("aac", rate=8000) if audio else None
        for t in range(frames):
            f = av.VideoFrame.from_ndarray(frame_rgb(t, height, width), format="rgb24").reformat(format=pix_fmt)
            f.pts = pts[t] if pts is not None else t
            f.time_base = tb
            out.mux(v.encode(f))
        out.mux(v.encode(None))
        if a is not None:  # a tone as long as the video
            samples = np.sin(np.arange(frames * 8000 // fps, dtype=np.float32) * 0.3)[None] * 0.3
            for start in range(0, samples.shape[1], 1024):
                chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start : start + 1024]), format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 8000, start
                out.mux(a.encode(chunk))
            out.mux(a.encode(None))
    return Path(path)


def mask_png(path: Path, width: int = 64, height: int = 48) -> Path:
    import cv2

    img = np.zeros((height, width), np.uint8)
    img[1:8, 2 : width // 2 + 2] = 255
    cv2.imwrite(os.fspath(path), img)
    return Path(path)


def osdfilter(*args, input=None, timeout=120, **kwargs) -> subprocess.CompletedProcess:
    """The console script in a real process (stdout bytes, stderr text)."""
    proc = subprocess.run([*CLI, *map(os.fspath, args)], input=input, capture_output=True, timeout=timeout, **kwargs)
    proc.stderr = proc.stderr.decode(errors="replace")
    return proc


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The stderr of a failed run, checked to be exactly one ``osdfilter: error:`` line."""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("osdfilter: error: "), proc.stderr
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "partial" in p.name)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rel-media")


@pytest.fixture(scope="module")
def mkv(media) -> Path:
    return make_video(media / "clip.mkv", frames=10)


@pytest.fixture(scope="module")
def mask(media) -> Path:
    return mask_png(media / "mask.png")


def frame_times(path: Path) -> list[float]:
    with av.open(os.fspath(path), metadata_errors="surrogateescape") as c:
        s = c.streams.video[0]
        return [float(f.pts * s.time_base) for f in c.decode(s)]


# 1. -y on FIFOs, devices and symlinks --------------------------------------------------


def test_fifo_output_is_written_through_not_replaced(mkv, mask, tmp_path):
    """As ffmpeg: a FIFO is opened and written (its reader gets the video), not renamed over."""
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got = tmp_path / "got.mkv"
    with open(got, "wb") as sink:
        reader = subprocess.Popen(["cat", os.fspath(fifo)], stdout=sink)
        try:
            proc = osdfilter(mkv, fifo, "--mask", mask, *FAST, "--format", "matroska", "-y")
            reader.wait(timeout=20)
        finally:
            if reader.poll() is None:
                reader.kill()  # the old code left the reader blocked on a FIFO nobody opened
                reader.wait()
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert len(frame_times(got)) == 10
    assert leftovers(tmp_path) == []


def _private_device(path: Path, minor: int) -> Path:
    """A character device node of our own (1,3 = null, 1,7 = full): never the system's."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    except PermissionError:
        pytest.skip("mknod needs root (CAP_MKNOD)")
    return path


def test_device_output_is_written_through_not_replaced(mkv, mask, tmp_path):
    null = _private_device(tmp_path / "null", 3)
    proc = osdfilter(mkv, null, "--mask", mask, *FAST, "--format", "matroska", "-y")
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISCHR(os.lstat(null).st_mode) and os.lstat(null).st_rdev == os.makedev(1, 3)
    # A full disk (the kernel's "full" device): one line, exit 1, the node still a device.
    full = _private_device(tmp_path / "full", 7)
    proc = osdfilter(mkv, full, "--mask", mask, *FAST, "--format", "matroska", "-y")
    assert proc.returncode == 1
    assert "No space left" in one_error_line(proc)
    assert stat.S_ISCHR(os.lstat(full).st_mode) and os.lstat(full).st_rdev == os.makedev(1, 7)
    assert leftovers(tmp_path) == []


def test_symlink_output_replaces_its_target_and_keeps_the_link(mkv, mask, tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "target.mkv"
    target.write_bytes(b"previous result")
    link = tmp_path / "link.mkv"
    link.symlink_to(target)
    proc = osdfilter(mkv, link, "--mask", mask, *FAST, "-y")
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and os.readlink(link) == os.fspath(target)
    assert len(frame_times(target)) == 10
    assert leftovers(tmp_path) == [] and leftovers(tmp_path / "real") == []
    # A symlink to a device: the device is written through, the link stays.
    null = _private_device(tmp_path / "null", 3)
    to_null = tmp_path / "to_null.mkv"
    to_null.symlink_to(null)
    proc = osdfilter(mkv, to_null, "--mask", mask, *FAST, "-y")
    assert proc.returncode == 0, proc.stderr
    assert to_null.is_symlink() and stat.S_ISCHR(os.stat(to_null).st_mode)


# 2. unknown video codec ------------------------------------------------------------------


def test_unknown_video_codec_is_one_line(mkv, mask, tmp_path):
    data = bytearray(mkv.read_bytes())
    at = data.find(b"V_MPEG4/ISO/AVC")
    data[at : at + 15] = b"V_MPEG4/ISO/ZZZ"
    src = tmp_path / "zzz.mkv"
    src.write_bytes(bytes(data))
    proc = osdfilter(src, tmp_path / "out.mkv", "--mask", mask, *FAST)
    assert proc.returncode == 1
    assert "no decodable video stream (codec unknown)" in one_error_line(proc)
    assert not (tmp_path / "out.mkv").exists()


# 3. one bad byte in a tag ----------------------------------------------------------------


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_a_bad_tag_byte_does_not_refuse_the_file(media, mask, tmp_path, ext):
    src = make_video(media / f"titled.{ext}", frames=10, title="Flight TITLE")
    data = bytearray(src.read_bytes())
    data[data.find(b"TITLE") + 2] = 0xFF  # not UTF-8
    bad = tmp_path / f"bad.{ext}"
    bad.write_bytes(bytes(data))
    out = tmp_path / f"out.{ext}"
    proc = osdfilter(bad, out, "--mask", mask, *FAST)
    assert proc.returncode == 0, proc.stderr
    assert len(frame_times(out)) == 10
    with av.open(os.fspath(out), metadata_errors="surrogateescape") as c:
        assert c.metadata["title"].encode("utf-8", "surrogateescape") == b"Flight TI\xffLE"  # kept as its bytes


# 4. frames lost in a damaged Matroska file -----------------------------------------------


def _simple_blocks(data: bytes) -> list[int]:
    """Offsets of the SimpleBlock elements (ID 0xA3) of a Matroska file's clusters."""

    def vint(i: int, keep_marker: bool) -> tuple[int, int]:
        n = 1
        while not data[i] & (0x80 >> (n - 1)):
            n += 1
        value = int.from_bytes(data[i : i + n], "big")
        return (value if keep_marker else value & ((1 << (7 * n)) - 1)), n

    found: list[int] = []

    def walk(i: int, end: int) -> None:
        while i < end:
            eid, n = vint(i, True)
            size, m = vint(i + n, False)
            body = i + n + m
            if eid in (0x18538067, 0x1F43B675):  # Segment, Cluster
                walk(body, min(end, body + size))
            elif eid == 0xA3:
                found.append(i)
            i = body + size

    walk(0, len(data))
    return found


def test_frames_lost_in_a_damaged_matroska_are_reported(media, mask, tmp_path):
    """A block in the middle turned into a Void element: the demuxer skips it silently."""
    src = make_video(media / "fifty.mkv", frames=50)
    data = bytearray(src.read_bytes())
    blocks = _simple_blocks(bytes(data))
    assert len(blocks) == 50
    data[blocks[25]] = 0xEC  # Void
    bad = tmp_path / "lost.mkv"
    bad.write_bytes(bytes(data))
    proc = osdfilter(bad, tmp_path / "out.mkv", "--mask", mask, *FAST)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "warning: damaged input" in line]
    assert len(warnings) == 1 and "49 of 50 frames written" in warnings[0], proc.stderr


# 5. MP4 -> AVI timestamps ----------------------------------------------------------------


def test_mp4_to_avi_keeps_frame_times(media, mask, tmp_path):
    src = make_video(media / "tb12800.mp4", frames=75, time_base=Fraction(1, 12800), pts=[512 * i for i in range(75)])
    out = tmp_path / "out.avi"
    proc = osdfilter(src, out, "--mask", mask, *FAST)
    assert proc.returncode == 0, proc.stderr
    with av.open(os.fspath(out)) as c:
        s = c.streams.video[0]
        assert s.average_rate == 25 and s.frames == 75
    times, expected = frame_times(out), frame_times(src)
    assert len(times) == 75
    # FFmpeg's AVI demuxer reads H.264 one frame late (any H.264 AVI, also one it wrote
    # itself): the times are compared from the first frame.
    assert max(abs((a - times[0]) - (b - expected[0])) for a, b in zip(times, expected)) < 0.001


# 6. 4:4:4 input --------------------------------------------------------------------------


def _planes(path: Path, pix_fmt: str) -> list[np.ndarray]:
    with av.open(os.fspath(path)) as c:
        return [f.reformat(format=pix_fmt).to_ndarray() for f in c.decode(video=0)]


def test_444_input_keeps_its_chroma(media, mask, tmp_path):
    src = make_video(media / "yuv444.mkv", frames=6, pix_fmt="yuv444p")
    out = tmp_path / "out.mkv"
    proc = osdfilter(src, out, "--mask", mask, *FAST, "--crf", "0")
    assert proc.returncode == 0, proc.stderr
    with av.open(os.fspath(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv444p"
    a, b = _planes(src, "yuv444p"), _planes(out, "yuv444p")
    assert len(a) == len(b) == 6
    outside = np.ones((3, 48, 64), bool)
    outside[:, :16, :] = False  # the mask (rows 1-7) grown by --dilate and the feather
    err = np.mean([np.mean((x.astype(float) - y)[outside] ** 2) for x, y in zip(a, b)])
    psnr = 10 * np.log10(255**2 / max(err, 1e-10))
    assert psnr > 60, psnr


# 7-8. ONNX Runtime on a machine without a GPU --------------------------------------------


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(_has_cuda(), reason="checks the no-GPU refusal")
def test_onnx_on_cuda_without_a_gpu_is_refused(mkv, mask, tmp_path):
    proc = osdfilter(mkv, tmp_path / "out.mkv", "--mask", mask, "--backend", "onnx", "--device", "cuda", "-q")
    assert proc.returncode == 1
    assert "cuda" in one_error_line(proc).lower()
    assert not (tmp_path / "out.mkv").exists()


@pytest.mark.skipif(_has_cuda(), reason="checks the no-GPU refusal")
@pytest.mark.parametrize("provider", ["cuda", "tensorrt"])
def test_onnx_provider_without_a_gpu_is_one_line(mkv, mask, tmp_path, provider):
    proc = osdfilter(mkv, tmp_path / "out.mkv", "--mask", mask, "--backend", "onnx", "--provider", provider, "-q")
    assert proc.returncode == 1
    assert f"--provider {provider}" in one_error_line(proc)
    assert proc.stdout == b""  # onnxruntime prints its fallback on stdout, where a piped video goes


# 9. the reader closes the pipe -----------------------------------------------------------


def test_reader_closing_the_pipe_is_one_line(media, mask):
    src = make_video(media / "long.mp4", frames=400, width=160, height=120)
    proc = subprocess.Popen([*CLI, os.fspath(src), "-", "--mask", os.fspath(mask), *FAST, "--format", "matroska"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert len(proc.stdout.read(1000)) == 1000
    proc.stdout.close()  # as `| head -c 1000` does
    _, err = proc.communicate(timeout=120)
    lines = err.decode().splitlines()
    assert proc.returncode == 141, err
    assert lines == ["osdfilter: error: output pipe closed by the reader"], err


# 10. pipes and MP4 -----------------------------------------------------------------------


def test_mp4_to_a_pipe_says_it_needs_a_seekable_output(mkv, mask):
    proc = osdfilter(mkv, "-", "--mask", mask, *FAST, "--format", "mp4")
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert "seekable" in line and "matroska" in line, line


def test_mp4_with_its_index_at_the_end_on_stdin(media, mask, tmp_path):
    src = make_video(media / "long.mp4", frames=400, width=160, height=120)  # more than PyAV's read buffer
    proc = osdfilter("-", tmp_path / "out.mkv", "--mask", mask, *FAST, input=src.read_bytes())  # a pipe: no seeking
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert "seekable" in line and "fragmented" in line, line
    assert not (tmp_path / "out.mkv").exists()


@pytest.mark.parametrize("kept", [0.0, 0.2, 0.5, 0.6, 0.7, 0.8])  # of the index (moov, at the end)
def test_mp4_cut_inside_its_index(media, mask, tmp_path, kept):
    data = make_video(media / "moov_last.mp4", frames=10).read_bytes()
    moov = data.rfind(b"moov") - 4
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: moov + int(kept * (len(data) - moov))])
    proc = osdfilter(cut, tmp_path / "out.mkv", "--mask", mask, *FAST)
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert "index" in line and ("missing" in line or "truncated" in line), line


# 11. an AVI that marks a skipped frame ---------------------------------------------------


def test_avi_skipped_frame_entry_is_not_damage(media, mask, tmp_path):
    """ffmpeg's AVI muxer writes an empty index entry where a frame was skipped (here
    frame 40): nothing was lost, so no warning."""
    src = make_video(media / "skip.avi", frames=75, pts=[t if t < 40 else t + 1 for t in range(75)], bframes=0)
    with av.open(os.fspath(src)) as c:
        assert c.streams.video[0].frames == 76  # the empty entry is counted there
    out = tmp_path / "out.avi"
    proc = osdfilter(src, out, "--mask", mask, *FAST)
    assert proc.returncode == 0, proc.stderr
    assert "damaged" not in proc.stderr, proc.stderr
    assert len(frame_times(out)) == 75


# 12. cosmetics: progress noise, API argument errors ----------------------------------------


@pytest.mark.parametrize("kind", ["mkv", "ts", "stdin"])
def test_captured_stderr_holds_only_message_lines(media, mkv, mask, tmp_path, kind):
    """No progress bar redraws when stderr is not a terminal (a log file, a pipe)."""
    if kind == "ts":
        src = make_video(media / "clip.ts", frames=10, fmt="mpegts")
    else:
        src = mkv
    out = tmp_path / "out.mkv"
    if kind == "stdin":
        with open(src, "rb") as stdin:
            proc = osdfilter("-", out, "--mask", mask, *FAST, stdin=stdin)
    else:
        proc = osdfilter(src, out, "--mask", mask, *FAST)
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and all(line.startswith("osdfilter: ") for line in proc.stderr.splitlines()), repr(proc.stderr)
    # An error before the first frame: its one line and nothing else.
    proc = osdfilter(src, tmp_path / "late.mkv", "--mask", mask, *FAST, "--start", "100")
    assert proc.returncode == 1
    one_error_line(proc)


def test_api_config_may_be_a_mapping(mkv, mask, tmp_path):
    report = process_video(mkv, tmp_path / "out.mkv", mask=mask, model="fill", config={"chunk": 4, "dilate": 1}, quiet=True)
    assert report.frames == 10
    with pytest.raises(TypeError, match="FilterConfig"):
        process_video(mkv, tmp_path / "o2.mkv", mask=mask, model="fill", config={"chunks": 4}, quiet=True)
    with pytest.raises(TypeError, match="FilterConfig"):
        process_video(mkv, tmp_path / "o3.mkv", mask=mask, model="fill", config=8, quiet=True)
    assert leftovers(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["out.mkv"]


@pytest.mark.parametrize("kwargs, name", [
    ({"crf": -5}, "crf"), ({"preset": "warp"}, "preset"), ({"codec": "mpeg1"}, "codec"), ({"format": "nosuch"}, "format"),
    ({"duration": -1}, "duration"), ({"start": -2}, "start"), ({"backend": "tpu", "model": None}, "backend"),
])
def test_api_errors_name_the_parameter_not_a_flag(mkv, mask, tmp_path, kwargs, name):
    kwargs = {"mask": mask, "model": "fill", **kwargs}
    with pytest.raises(OSDFilterError) as err:
        process_video(mkv, tmp_path / "out.mkv", quiet=True, **kwargs)
    assert name in str(err.value) and "--" not in str(err.value), err.value


def test_cli_errors_still_name_the_flag(mkv, mask, tmp_path):
    proc = osdfilter(mkv, tmp_path / "o.mkv", "--mask", mask, *FAST, "--crf", "60")
    assert proc.returncode == 1 and "--crf 60" in one_error_line(proc)


@pytest.mark.parametrize("kwargs, name", [({"mask": 5, "model": "fill"}, "mask"), ({"model": 42}, "model")])
def test_api_wrong_mask_or_model_type_says_what_is_accepted(mkv, mask, tmp_path, kwargs, name):
    kwargs = {"mask": mask, **kwargs}
    with pytest.raises(TypeError) as err:
        process_video(mkv, tmp_path / "out.mkv", quiet=True, **kwargs)
    message = str(err.value)
    assert message.startswith(f"{name}=") and "path" in message, message
    assert list(tmp_path.iterdir()) == []
