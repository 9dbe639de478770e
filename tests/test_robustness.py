"""Never lose data: atomic output, bad inputs, every stream kept, pipes, batches, fuzz."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from conftest import make_clip, make_rich_clip
from osdfilter import process_video
from osdfilter.errors import MediaError, OSDFilterError
from osdfilter.media.files import partial_path
from test_cli import invoke
from test_api import audio_packets, psnr, rgb_frames, video_times


@pytest.fixture
def args(mask_png, checkpoint) -> list:
    """Options for a quick CLI run (everything but INPUT and OUTPUT)."""
    return ["--mask", mask_png, "--model", checkpoint, "--device", "cpu", "--preset", "ultrafast", "-q"]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "partial" in p.name)


def packets_by_stream(path: Path) -> dict[int, list[tuple[bytes, Fraction]]]:
    """Non-video packets (payload, time) per stream index, for stream-by-stream comparison.

    mov_text's empty gap samples (``00 00``) are left out: the MP4 muxer writes its own.
    """
    with av.open(os.fspath(path)) as c:
        out: dict[int, list] = {s.index: [] for s in c.streams if s.type != "video"}
        for p in c.demux(*[s for s in c.streams if s.type != "video"]):
            if p.size and not (p.stream.type == "subtitle" and bytes(p) == bytes(2)):
                out[p.stream.index].append((bytes(p), Fraction(p.pts) * p.time_base))
        return out


# --- atomic output -------------------------------------------------------------------------


class FailingRunner:
    """A runner that fails on its second chunk, after output has been written."""

    def __init__(self, inner, exc: BaseException) -> None:
        self.inner, self.config, self.name, self.exc, self.calls = inner, inner.config, "failing", exc, 0

    def step(self, frames, state):
        self.calls += 1
        if self.calls == 2:
            raise self.exc
        return self.inner.step(frames, state)


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), MediaError("disk on fire")])
def test_error_midway_leaves_no_file_and_keeps_the_old_one(clip, mask_png, checkpoint, tmp_path, exc):
    from osdfilter.model.runners import make_runner

    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous result")
    with pytest.raises(type(exc)):
        process_video(clip, out, mask=mask_png, model=FailingRunner(make_runner(checkpoint, device="cpu"), exc), config=_chunk(4), quiet=True, overwrite=True)
    assert out.read_bytes() == b"previous result"
    assert leftovers(tmp_path) == []


def _chunk(n: int):
    from osdfilter import FilterConfig

    return FilterConfig(chunk=n)


def test_ctrl_c_exits_130_and_leaves_nothing(media_dir, mask_png, checkpoint, tmp_path):
    """A real SIGINT to a real process, once the partial file exists. The clip is long
    enough (~4 s of work) that the run cannot finish before the signal lands."""
    src = make_clip(media_dir, frames=480, audio=None)
    out = tmp_path / "out.mp4"
    cmd = [sys.executable, "-m", "osdfilter.cli", src, out, "--mask", mask_png, "--model", checkpoint, "--device", "cpu", "--chunk", "1", "-q"]
    proc = subprocess.Popen(list(map(os.fspath, cmd)), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not leftovers(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(tmp_path), "the partial output never appeared"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["osdfilter: error: interrupted; no output written"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif("libsvtav1" not in av.codecs_available, reason="this PyAV build has no SVT-AV1")
def test_quiet_av1_encode_prints_nothing(clip, mask_png, tmp_path):
    """SVT-AV1 prints a banner and its configuration (about 20 lines) from C, past -q."""
    env = {k: v for k, v in os.environ.items() if k != "SVT_LOG"}
    cmd = [sys.executable, "-m", "osdfilter.cli", clip, tmp_path / "out.mkv", "--mask", mask_png, "--fast", "--codec", "libsvtav1", "-q"]
    proc = subprocess.run(list(map(os.fspath, cmd)), capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == "", proc.stdout + proc.stderr


def test_ctrl_c_while_torch_loads_is_one_line_too(clip, mask_png, tmp_path):
    """The console script imports torch and PyAV (seconds) under the same Ctrl-C answer as a
    run: before, a Ctrl-C then printed an import's traceback and died of the signal."""
    cmd = [sys.executable, "-c", "from osdfilter.console import main; main()", clip, tmp_path / "out.mp4", "--mask", mask_png, "-q"]
    proc = subprocess.Popen(list(map(os.fspath, cmd)), stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # importing torch takes longer than this
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["osdfilter: error: interrupted; no output written"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_termination_and_hangup_exit_and_leave_nothing(media_dir, mask_png, checkpoint, tmp_path, sig, code):
    """SIGTERM, and SIGHUP (the terminal closed; before, the run died on the spot and left
    its partial file), unwind like Ctrl-C: their exit code, nothing written."""
    src = make_clip(media_dir, frames=480, audio=None)
    cmd = [sys.executable, "-m", "osdfilter.cli", src, tmp_path / "out.mp4", "--mask", mask_png, "--fast", "--chunk", "1", "-q"]
    proc = subprocess.Popen(list(map(os.fspath, cmd)), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not leftovers(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(tmp_path), "the partial output never appeared"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert list(tmp_path.iterdir()) == []


def test_hangup_under_nohup_is_ignored(media_dir, mask_png, tmp_path):
    """A SIGHUP that was ignored when the run started (nohup) stays ignored: the run ends."""
    src = make_clip(media_dir, frames=120, audio=None)
    out = tmp_path / "out.mp4"
    cmd = [sys.executable, "-m", "osdfilter.cli", src, out, "--mask", mask_png, "--fast", "--chunk", "1", "-q"]
    proc = subprocess.Popen(list(map(os.fspath, cmd)), stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    deadline = time.monotonic() + 90
    while not leftovers(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    assert out.is_file() and not leftovers(tmp_path)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGHUP, 129)])
def test_ctrl_c_stops_a_jobs_batch_and_leaves_nothing(media_dir, mask_png, checkpoint, tmp_path, sig, code):
    """Ctrl-C, or the terminal closing (SIGINT / SIGHUP to the terminal's process group),
    during --jobs 2 with files still queued: exit 130 / 129, the files in progress removed,
    none started after, no worker left, nothing on stderr from multiprocessing's helpers."""
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    src = make_clip(media_dir, frames=120, audio=None)
    for i in range(4):
        (folder / f"c{i}.mp4").write_bytes(src.read_bytes())
    cmd = [sys.executable, "-m", "osdfilter.cli", folder, out, "--mask", mask_png, "--model", checkpoint,
           "--device", "cpu", "--chunk", "1", "--jobs", "2", "-q"]
    proc = subprocess.Popen(list(map(os.fspath, cmd)), stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (out.is_dir() and leftovers(out)) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert out.is_dir() and leftovers(out), "no partial output appeared"
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == code, err
    assert "Traceback" not in err and "Warning" not in err, err
    assert list(out.iterdir()) == [], list(out.iterdir())  # 120 frames at --chunk 1 take longer than this test
    assert _group_gone(proc.pid, 10), "a worker outlived the batch"


def _group_gone(pgid: int, seconds: float) -> bool:
    """Whether no process of group ``pgid`` is left within ``seconds`` (exiting takes a moment)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_output_that_is_the_input_is_refused(clip, args, tmp_path):
    """Same file by another path, a hard link or a symlink: refused even with -y."""
    copy = tmp_path / "in.mp4"
    copy.write_bytes(clip.read_bytes())
    (tmp_path / "sub").mkdir()
    os.link(copy, tmp_path / "hard.mp4")
    os.symlink(copy, tmp_path / "soft.mp4")
    for other in (copy, tmp_path / "sub" / ".." / "in.mp4", tmp_path / "hard.mp4", tmp_path / "soft.mp4"):
        assert "is the input" in invoke([copy, other, *args, "-y"], exit_code=1).stderr
    assert copy.read_bytes() == clip.read_bytes()


# --- bad input: each a one-line error and exit 1 -----------------------------------------


def _bytes(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p


def _folder(p: Path) -> Path:
    p.mkdir()
    return p


def _text(p: Path) -> Path:
    p.write_text("not a video\n" * 50)
    return p


def _png(p: Path) -> Path:
    cv2.imwrite(os.fspath(p), np.full((72, 128, 3), 90, np.uint8))
    return p


def _audio_only(p: Path) -> Path:
    with av.open(os.fspath(p), "w") as out:
        from conftest import _add_audio, _write_audio

        _write_audio(out, _add_audio(out), seconds=0.3)
    return p


def _truncated_mp4(p: Path, clip: Path) -> Path:
    p.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])  # the index (moov) is at the end
    return p


BAD_INPUTS = {
    "missing": (lambda d, c: d / "nope.mp4", "not found"),
    "directory": (lambda d, c: _folder(d / "adir.mp4"), "must be a folder"),
    "text": (lambda d, c: _text(d / "notes.mp4"), "cannot read"),
    "png": (lambda d, c: _png(d / "still.png"), "still image"),
    "audio only": (lambda d, c: _audio_only(d / "sound.m4a"), "no video stream"),
    "zero length": (lambda d, c: _bytes(d / "empty.mp4", b""), "empty"),
    "truncated mp4": (lambda d, c: _truncated_mp4(d / "cut.mp4", c), "cannot read"),
}


@pytest.mark.parametrize("kind", list(BAD_INPUTS))
def test_bad_input(kind, clip, args, tmp_path):
    make, expected = BAD_INPUTS[kind]
    src = make(tmp_path, clip)
    err = invoke([src, tmp_path / "out.mp4", *args], exit_code=1).stderr
    assert expected in err, err
    assert not (tmp_path / "out.mp4").exists() and leftovers(tmp_path) == []


def test_truncated_matroska_keeps_what_decodes(media_dir, args, tmp_path):
    """Decision: a cut-off stream is salvaged, with a warning counting what was lost."""
    src = make_clip(media_dir, ext="mkv", frames=12)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(src.read_bytes()[: int(src.stat().st_size * 0.6)])
    report = process_video(cut, tmp_path / "out.mkv", mask=args[1], model=args[3], device="cpu", quiet=True, preset="ultrafast")
    assert 0 < report.frames < 12
    assert len(report.warnings) == 1 and "damaged input" in report.warnings[0]


def _write_mask(p: Path, img: np.ndarray) -> Path:
    cv2.imwrite(os.fspath(p), img)
    return p


BAD_MASKS = {
    "missing": (lambda d: d / "none.png", "not found"),
    "unreadable": (lambda d: _bytes(d / "junk.png", b"\x89PNG garbage"), "cannot read"),
    "empty": (lambda d: _write_mask(d / "black.png", np.zeros((72, 128), np.uint8)), "empty"),
    "all white": (lambda d: _write_mask(d / "white.png", np.full((72, 128), 255, np.uint8)), "covers"),
    "wrong aspect": (lambda d: _write_mask(d / "portrait.png", np.pad(np.full((20, 20), 255, np.uint8), 60)[:, 40:100]), "does not fit"),
}


@pytest.mark.parametrize("kind", list(BAD_MASKS))
def test_bad_mask(kind, clip, checkpoint, tmp_path):
    make, expected = BAD_MASKS[kind]
    err = invoke([clip, tmp_path / "out.mp4", "--mask", make(tmp_path), "--model", checkpoint, "--device", "cpu"], exit_code=1).stderr
    assert expected in err, err


def _wrong_kind_model(p: Path) -> Path:
    torch.save({"state_dict": {"w": torch.zeros(3)}}, p)  # a torch file, not our checkpoint
    return p


BAD_MODELS = {
    "missing": (lambda d: d / "none.pt", "not found"),
    "corrupt": (lambda d: _bytes(d / "bad.pt", os.urandom(3000)), "not an osdfilter checkpoint"),
    "wrong kind": (lambda d: _wrong_kind_model(d / "other.pt"), "not an osdfilter checkpoint"),
}


@pytest.mark.parametrize("kind", list(BAD_MODELS))
def test_bad_model(kind, clip, mask_png, tmp_path):
    make, expected = BAD_MODELS[kind]
    err = invoke([clip, tmp_path / "out.mp4", "--mask", mask_png, "--model", make(tmp_path), "--device", "cpu"], exit_code=1).stderr
    assert expected in err, err


def test_foreign_model_file_fails_without_torch_warnings(tmp_path):
    """Bytes that read as pickle protocol 141 make torch.load warn before it fails: the
    user must get the one-line error alone (a warning prints its source line too)."""
    import warnings

    from osdfilter.model.checkpoint import load_model

    bad = tmp_path / "foreign.pt"
    bad.write_bytes(b"\x80\x8d" + bytes(range(256)) * 8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(OSDFilterError, match="not an osdfilter checkpoint"):
            load_model(bad)
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize(
    "output, extra, expected",
    [
        ("out.xyz", [], "unknown output container"),
        ("out.webm", [], "cannot hold libx264"),
        ("missing/out.mp4", [], "folder does not exist"),
        ("afile/out.mp4", [], "folder does not exist"),
        ("out.mp4", ["--format", "nosuchformat"], "unknown --format"),
    ],
)
def test_bad_output(clip, args, tmp_path, output, extra, expected):
    (tmp_path / "afile").write_text("x")
    err = invoke([clip, tmp_path / output, *args, *extra], exit_code=1).stderr
    assert expected in err, err
    assert leftovers(tmp_path) == []


def test_unknown_codec_is_refused(clip, mask_png, checkpoint, tmp_path):
    with pytest.raises(OSDFilterError, match="unsupported codec"):
        process_video(clip, tmp_path / "o.mp4", mask=mask_png, model=checkpoint, codec="mpeg2video")
    invoke([clip, tmp_path / "o.mp4", "--codec", "mpeg2video"], exit_code=2)


def test_nvenc_maps_crf_and_preset_and_fails_in_one_line_without_a_gpu(clip, mask_png, checkpoint, tmp_path):
    from osdfilter.media.encode import encoder_options, probe_encoder

    opts = encoder_options("hevc_nvenc", 20, "medium")
    assert (opts["cq"], opts["preset"], opts["rc"]) == ("20", "p4", "vbr")
    assert encoder_options("h264_nvenc", 18, "veryslow")["preset"] == "p7"
    try:
        probe_encoder("h264_nvenc", encoder_options("h264_nvenc", 18, "medium"))
    except OSDFilterError:
        pass
    else:
        pytest.skip("this machine has an NVIDIA encoder")
    err = invoke([clip, tmp_path / "o.mp4", "--mask", mask_png, "--model", checkpoint, "--codec", "h264_nvenc"], exit_code=1).stderr
    assert "NVIDIA encoder cannot start" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_folder(clip, args, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    assert "not writable" in invoke([clip, folder / "o.mp4", *args], exit_code=1).stderr


# --- streams and metadata -----------------------------------------------------------------


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_every_stream_timestamp_and_tag_kept(media_dir, args, tmp_path, ext):
    """VFR video + two audio streams + subtitles, in a mixed order, with title/creation_time."""
    src = make_rich_clip(media_dir, ext)
    out = tmp_path / f"out.{ext}"
    invoke([src, out, *args])
    with av.open(os.fspath(src)) as a, av.open(os.fspath(out)) as b:
        assert [(s.type, s.codec_context.name) for s in b.streams] == [(s.type, s.codec_context.name) for s in a.streams]
        assert b.metadata["title"] == "Rich test flight"
        assert b.metadata["creation_time"].startswith("2024-05-01T12:34:56")
        assert b.streams[0].metadata.get("language") == "eng"
    assert video_times(out) == video_times(src)
    assert packets_by_stream(out) == packets_by_stream(src)  # audio x2 and subtitles, bit for bit


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_duration_writes_a_preview_of_every_stream(media_dir, args, tmp_path, ext):
    """--duration 0.15 on the rich clip (VFR video from 11 ms, two audio streams, subtitles
    at 50 and 200 ms): the frames of the first 0.15 s from the first frame, and of every
    other stream exactly the packets before that time, bit for bit; no damage warning."""
    src = make_rich_clip(media_dir, ext)
    out = tmp_path / f"out.{ext}"
    result = invoke([src, out, *[a for a in args if a != "-q"], "--duration", "0.15"])
    assert "damaged" not in result.stderr and "warning" not in result.stderr, result.stderr
    times = video_times(src)
    end = times[0] + Fraction(15, 100)
    assert video_times(out) == [t for t in times if t < end] and len(video_times(out)) == 5
    want = {i: [p for p in packets if p[1] < end] for i, packets in packets_by_stream(src).items()}
    assert packets_by_stream(out) == want
    assert all(want.values()) and any(len(v) < len(packets_by_stream(src)[i]) for i, v in want.items())


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_start_and_duration_cut_a_stretch_that_starts_at_zero(media_dir, args, tmp_path, ext):
    """--start 0.1 --duration 0.15 on the rich clip: the frames from 0.1 s after the video's
    start, for 0.15 s from the first of them, and of every other stream the packets in that
    stretch (same bytes); every stream moved back by the same 0.1 s (timestamps within 1 ms:
    the MP4 muxer rounds the audio's start), so the output starts at 0."""
    src = make_rich_clip(media_dir, ext)
    out = tmp_path / f"out.{ext}"
    invoke([src, out, *args, "--start", "0.1", "--duration", "0.15"])
    with av.open(os.fspath(src)) as c:
        v = c.streams.video[0]
        shift = Fraction(v.start_time) * v.time_base + Fraction(1, 10)
    times = video_times(src)
    kept = [t for t in times if t >= shift]
    kept = [t for t in kept if t < kept[0] + Fraction(15, 100)]
    assert video_times(out) == [t - shift for t in kept] and len(kept) == 5
    end = kept[0] + Fraction(15, 100)
    got, source = packets_by_stream(out), packets_by_stream(src)
    for i, packets in source.items():
        want = [(b, t - shift) for b, t in packets if shift <= t < end]
        assert [b for b, _ in got[i]] == [b for b, _ in want], i
        assert all(abs(t - u) <= Fraction(1, 1000) for (_, t), (_, u) in zip(got[i], want)), (got[i], want)


def test_start_past_the_end_is_a_clear_error(clip, args, tmp_path):
    result = invoke([clip, tmp_path / "o.mp4", *args, "--start", "5"], exit_code=1)
    assert "--start 5 s is at or past the end" in result.stderr
    assert not (tmp_path / "o.mp4").exists() and not leftovers(tmp_path)


def test_duration_longer_than_the_video_and_bad_values(clip, args, tmp_path):
    """A --duration beyond the end changes nothing; zero or less is a usage error (exit 2),
    and the API refuses it in one line."""
    full, long = tmp_path / "full.mp4", tmp_path / "long.mp4"
    invoke([clip, full, *args])
    invoke([clip, long, *args, "--duration", "60"])
    assert video_times(long) == video_times(full) and audio_packets(long) == audio_packets(full)
    a, b = rgb_frames(long), rgb_frames(full)
    assert len(a) == len(b) == 12 and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert "--duration" in invoke([clip, tmp_path / "z.mp4", *args, "--duration", "0"], exit_code=2).stderr
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(OSDFilterError, match="duration"):
            process_video(clip, tmp_path / "n.mp4", duration=bad)
        with pytest.raises(OSDFilterError, match="start"):
            process_video(clip, tmp_path / "n.mp4", start=bad)
    assert not (tmp_path / "z.mp4").exists() and not (tmp_path / "n.mp4").exists()


def test_subtitles_the_container_refuses_are_left_out_with_a_warning(media_dir, mask_png, checkpoint, tmp_path):
    src = make_rich_clip(media_dir, "mkv")  # SubRip cannot go in MP4
    report = process_video(src, tmp_path / "out.mp4", mask=mask_png, model=checkpoint, device="cpu", quiet=True, preset="ultrafast")
    assert any("subtitle stream #3" in w for w in report.warnings)
    with av.open(os.fspath(tmp_path / "out.mp4")) as c:
        assert [s.type for s in c.streams] == ["audio", "video", "audio"]


def test_rotation_and_colour_tags_kept(media_dir, mask_png, checkpoint, tmp_path):
    """BT.709 full-range input: tags kept and the YUV<->RGB round trip symmetric (PSNR)."""
    src = make_clip(media_dir, bt709_full_range=True, rotation=90)
    out = tmp_path / "out.mp4"
    process_video(src, out, mask=mask_png, model=checkpoint, device="cpu", quiet=True, preset="ultrafast")
    with av.open(os.fspath(src)) as a, av.open(os.fspath(out)) as b:
        fa, fb = next(a.decode(video=0)), next(b.decode(video=0))
        for name in ("colorspace", "color_range", "color_primaries", "color_trc", "rotation"):
            assert getattr(fb, name) == getattr(fa, name), name
    far = np.zeros((72, 128), bool)
    far[40:, :] = True  # away from the OSD text at the top
    worst = min(psnr(x[far], y[far]) for x, y in zip(rgb_frames(src), rgb_frames(out)))
    assert worst >= 40.0


def test_ten_bit_input_is_written_as_8_bit(media_dir, mask_png, checkpoint, tmp_path):
    try:
        src = make_clip(media_dir, pix_fmt="yuv420p10le")
    except av.FFmpegError:
        pytest.skip("this libx264 cannot encode 10-bit")
    report = process_video(src, tmp_path / "out.mp4", mask=mask_png, model=checkpoint, device="cpu", quiet=True, preset="ultrafast")
    assert report.frames == 12 and any("8-bit" in w for w in report.warnings)
    assert video_times(tmp_path / "out.mp4") == video_times(src)


# --- pipes -------------------------------------------------------------------------------


def test_pipe_through_real_stdin_and_stdout(media_dir, mask_png, checkpoint, tmp_path):
    """``cat in.mkv | osdfilter - - --format matroska > out.mkv``: non-seekable both ways."""
    src = make_clip(media_dir, ext="mkv")
    out = tmp_path / "out.mkv"
    cmd = f"cat {src} | {sys.executable} -m osdfilter.cli - - --format matroska --mask {mask_png} --model {checkpoint} --device cpu --preset ultrafast -q > {out}"
    result = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert len(video_times(out)) == 12
    assert audio_packets(out) == audio_packets(src)


@pytest.mark.parametrize("fmt", ["nut", "mpegts"])
def test_pipe_formats(media_dir, args, fmt):
    src = make_clip(media_dir, ext="mkv")
    from click.testing import CliRunner

    from osdfilter.cli.main import cli

    result = CliRunner().invoke(cli, ["-", "-", "--format", fmt, *map(os.fspath, args)], input=src.read_bytes())
    assert result.exit_code == 0, result.stderr
    with av.open(__import__("io").BytesIO(result.stdout_bytes), format=fmt) as c:
        assert sum(1 for _ in c.decode(video=0)) == 12


def test_stdout_needs_a_format(clip, args):
    assert "--format" in invoke([clip, "-", *args], exit_code=1).stderr


# --- batches -----------------------------------------------------------------------------


def test_folder_batch_skips_a_bad_file_and_summarises(media_dir, args, tmp_path):
    folder = tmp_path / "flights"
    folder.mkdir()
    for name, ext in (("a", "mp4"), ("c", "mkv")):
        (folder / f"{name}.{ext}").write_bytes(make_clip(media_dir, ext=ext).read_bytes())
    (folder / "b.mp4").write_text("this one is broken")
    (folder / "notes.txt").write_text("not a video, not even tried")
    result = invoke([folder, tmp_path / "clean", *args], exit_code=1, one_line_error=False)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and "b.mp4: error: cannot read" in lines[0], lines
    assert lines[-1].startswith("osdfilter: 2 done (24 frames), 1 failed")
    assert sorted(p.name for p in (tmp_path / "clean").iterdir()) == ["a.mp4", "c.mkv"]


def test_batch_jobs_process_files_at_once_with_the_same_results(media_dir, args, tmp_path):
    """--jobs 2: worker processes, each with its own model; a bad file is still one line,
    the summary counts the same, and every output is what one job writes."""
    folder = tmp_path / "flights"
    folder.mkdir()
    for name, ext in (("a", "mp4"), ("c", "mkv")):
        (folder / f"{name}.{ext}").write_bytes(make_clip(media_dir, ext=ext).read_bytes())
    (folder / "b.mp4").write_text("this one is broken")
    serial = invoke([folder, tmp_path / "one", *args], exit_code=1, one_line_error=False)
    result = invoke([folder, tmp_path / "two", *args, "--jobs", "2"], exit_code=1, one_line_error=False)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and any("b.mp4: error: cannot read" in line for line in lines), lines
    assert lines[-1] == serial.stderr.strip().splitlines()[-1].replace(str(tmp_path / "one"), str(tmp_path / "two"))
    for name in ("a.mp4", "c.mkv"):
        assert np.array_equal(np.stack(rgb_frames(tmp_path / "two" / name)), np.stack(rgb_frames(tmp_path / "one" / name)))


def test_batch_jobs_need_a_model_file_not_a_loaded_model(clip, tmp_path):
    from osdfilter import ModelConfig, RecurrentUNet, process_batch

    with pytest.raises(OSDFilterError, match="model file"):
        process_batch([clip, clip], tmp_path / "out", model=RecurrentUNet(ModelConfig.preset("tiny")), jobs=2)


def test_batch_options_and_one_folder_string(clip, tmp_path):
    """A bad option is refused once, before the output folder is made (it was recorded for
    every file); one folder given as a string is that folder (its characters were files)."""
    from osdfilter import process_batch

    with pytest.raises(OSDFilterError, match="crf 99"):
        process_batch([clip], tmp_path / "out", model="fill", crf=99, quiet=True)
    assert not (tmp_path / "out").exists()
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(clip.read_bytes())
    report = process_batch(os.fspath(folder), tmp_path / "out", model="fill", mask=np.ones((72, 128), bool) & (np.arange(128) < 40), quiet=True)
    assert [Path(src).name for src, _ in report.done] == ["a.mp4"] and not report.failed


def test_several_files_batch_all_good(media_dir, args, tmp_path):
    a, b = make_clip(media_dir), make_clip(media_dir, audio=None)
    result = invoke([a, b, tmp_path / "out", *args], exit_code=0)
    assert "2 done" in result.stderr
    assert len(list((tmp_path / "out").iterdir())) == 2


# --- properties and fuzz --------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    height=st.integers(8, 90),
    width=st.integers(8, 120),
    chunk=st.integers(1, 6),
    frames=st.integers(1, 9),
    box=st.tuples(st.integers(0, 90), st.integers(0, 90), st.integers(2, 100), st.integers(2, 100)),  # percent
)
def test_filter_keeps_frame_count_for_any_size_chunk_and_mask(height, width, chunk, frames, box):
    """The filter's chunking, tiling and compositing (identity network: fast)."""
    from osdfilter import FilterConfig, ModelConfig, OSDFilter
    from osdfilter.model.runners import IdentityRunner

    # Integers, not floats: torch's flush-to-zero (TorchRunner on CPU) upsets hypothesis floats.
    y0, x0 = box[0] * height // 100, box[1] * width // 100
    mask = np.zeros((height, width), bool)
    mask[y0 : y0 + max(1, box[2] * height // 100), x0 : x0 + max(1, box[3] * width // 100)] = True
    filt = OSDFilter(IdentityRunner(ModelConfig.preset("tiny", tile=32, context=8)), mask, FilterConfig(chunk=chunk))
    rng = np.random.default_rng(height * 1000 + width)
    inputs = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(frames)]
    outputs = [o for f in inputs for o in filt.push(f)] + filt.flush()
    assert len(outputs) == frames
    assert all(o.shape == (height, width, 3) and o.dtype == np.uint8 for o in outputs)


@pytest.fixture(scope="module")
def tiny_runner(checkpoint):
    from osdfilter.model.runners import make_runner

    return make_runner(checkpoint, device="cpu")


@pytest.fixture(scope="module")
def fuzz_seed_clip(media_dir) -> bytes:
    return make_clip(media_dir, width=64, height=48, frames=8).read_bytes()


class TimeBound:
    """Raise if the block takes longer than ``seconds`` (SIGALRM; main thread only)."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        def expired(signum, frame):
            raise TimeoutError(f"still running after {self.seconds}s: a hang")

        self.previous = signal.signal(signal.SIGALRM, expired)
        signal.alarm(self.seconds)

    def __exit__(self, *exc) -> None:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.previous)


@settings(max_examples=16, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    cut=st.one_of(st.none(), st.integers(5, 99)),  # percent kept
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=12),
)
def test_mutated_mp4_never_hangs_or_tracebacks(cut, flips, fuzz_seed_clip, tiny_runner, tmp_path_factory):
    """Truncations and byte flips: either a result or a one-line OSDFilterError, within 30 s."""
    data = bytearray(fuzz_seed_clip)
    for where, xor in flips:
        data[where * (len(data) - 1) // 10**6] ^= xor
    if cut is not None:
        data = data[: max(1, cut * len(data) // 100)]
    folder = tmp_path_factory.mktemp("fuzz")
    src = folder / "mutant.mp4"
    src.write_bytes(bytes(data))
    mask = np.zeros((48, 64), bool)
    mask[2:14, 4:40] = True
    with TimeBound(30):
        try:
            report = process_video(src, folder / "out.mp4", mask=mask, model=tiny_runner, quiet=True, preset="ultrafast")
            assert report.frames > 0
        except OSDFilterError as exc:
            assert "\n" not in str(exc)
    assert leftovers(folder) == []


def _stubborn_worker(out_dir: str) -> None:
    """A --jobs worker that cannot unwind: SIGTERM ignored, a partial file left open."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    partial_path(Path(out_dir) / "c0.mp4", os.getpid()).write_bytes(b"x")
    time.sleep(120)


def test_stop_kills_a_worker_that_does_not_unwind_and_removes_its_partial(tmp_path):
    """Ctrl-C during --jobs: a worker still alive after the grace period is killed and its
    partial output removed, so the parent can exit (it hung once under load)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from osdfilter.api import _stop

    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    pool.submit(_stubborn_worker, os.fspath(tmp_path))
    deadline = time.monotonic() + 60
    while not leftovers(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(tmp_path)
    (proc,) = pool._processes.values()
    t0 = time.monotonic()
    _stop(pool, [tmp_path / "c0.mp4", tmp_path / "c1.mp4"], grace=1.0)
    # (The pool's manager thread reaps the worker too: until it has noted the exit status,
    # is_alive() can read the reaped process as running. Give it a moment under load.)
    while proc.is_alive() and time.monotonic() - t0 < 20:
        time.sleep(0.05)
    assert not proc.is_alive()
    assert time.monotonic() - t0 < 20
    assert leftovers(tmp_path) == []
