"""process_video end to end on generated clips: streams, timestamps, pixels, containers."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import make_clip, make_mask_png, osd_layer, textured_background, tiny_model
from osdfilter import FilterConfig, OSDFilter, load_model, process_video, save_checkpoint
from osdfilter.errors import CheckpointError, MaskError, MediaError, OSDFilterError
from osdfilter.masks.image import dilate, feather, load_mask
from osdfilter.model.runners import TorchRunner
from osdfilter.media.transcode import rescale_ts


# --- reading outputs back -------------------------------------------------------------


def video_times(path: Path) -> list[Fraction]:
    """Presentation time of every decoded video frame, in seconds (exact)."""
    with av.open(os.fspath(path)) as c:
        v = c.streams.video[0]
        return [Fraction(f.pts) * v.time_base for f in c.decode(v)]


def rgb_frames(path: Path) -> list[np.ndarray]:
    with av.open(os.fspath(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def audio_packets(path: Path) -> list[list[tuple[bytes, Fraction]]]:
    """Per audio stream: (payload, pts in seconds) of every real packet."""
    with av.open(os.fspath(path)) as c:
        streams = list(c.streams.audio)
        out: list[list[tuple[bytes, Fraction]]] = [[] for _ in streams]
        for p in c.demux(*streams):
            if p.size:
                out[streams.index(p.stream)].append((bytes(p), Fraction(p.pts) * p.time_base))
        return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def run(src: Path, dst: Path, mask: Path, checkpoint: Path, **kw) -> "object":
    return process_video(src, dst, mask=mask, model=checkpoint, device="cpu", quiet=True, preset="ultrafast", **kw)


class RecordingRunner:
    """Wraps a runner and keeps every model output (to compare chunkings before encoding)."""

    def __init__(self, inner: TorchRunner) -> None:
        self.inner, self.config, self.name = inner, inner.config, "recording"
        self.outputs: list[np.ndarray] = []

    def step(self, frames: np.ndarray, state):
        y, state = self.inner.step(frames, state)
        self.outputs.append(y)
        return y, state


# --- streams and timestamps -------------------------------------------------------------


def test_audio_copied_bit_for_bit_and_video_timestamps_kept(clip, mask_png, checkpoint, tmp_path):
    out = tmp_path / "out.mp4"
    report = run(clip, out, mask_png, checkpoint)
    assert report.frames == 12 and report.warnings == []
    assert video_times(out) == video_times(clip)
    src_audio, out_audio = audio_packets(clip), audio_packets(out)
    assert len(out_audio) == 1 and len(out_audio[0]) == len(src_audio[0]) > 0
    assert out_audio == src_audio  # same bytes, same count, same times
    assert not list(tmp_path.glob(".*partial*")), "temporary file left behind"


def test_pixels_outside_mask_kept_and_inside_changed(clip, mask_png, checkpoint, tmp_path):
    out = tmp_path / "out.mp4"
    run(clip, out, mask_png, checkpoint, crf=18)
    mask = load_mask(mask_png, 72, 128)
    touched = feather(dilate(mask, 2), 1.5) > 0
    src, dst = rgb_frames(clip), rgb_frames(out)
    assert len(src) == len(dst) == 12
    outside = [psnr(a[~touched], b[~touched]) for a, b in zip(src, dst)]
    assert min(outside) >= 40.0, outside
    inside = np.mean([np.abs(a[mask].astype(int) - b[mask].astype(int)).mean() for a, b in zip(src, dst)])
    assert inside > 5.0, "the model did not change the masked pixels"


def test_untouched_pixels_are_the_decoded_ones_bit_for_bit(clip, mask_png, checkpoint, tmp_path):
    """The output is composited in the decoded yuv420p planes: with a lossless encode, every
    pixel away from the restored regions is the input's decoded pixel (no RGB round trip)."""
    out = tmp_path / "out.mkv"
    run(clip, out, mask_png, checkpoint, crf=0)
    far = ~dilate(load_mask(mask_png, 72, 128), 2 + 3 + 2)  # mask dilation, feather band, chroma alignment
    with av.open(os.fspath(clip)) as a, av.open(os.fspath(out)) as b:
        pairs = list(zip((f.to_ndarray() for f in a.decode(video=0)), (f.to_ndarray() for f in b.decode(video=0))))
    assert len(pairs) == 12
    for src, dst in pairs:
        assert np.array_equal(src[:72][far], dst[:72][far])  # luma
        assert not np.array_equal(src[:72], dst[:72])  # ... and the OSD was restored


def test_chunk_size_does_not_change_model_output(clip, mask_png, checkpoint):
    frames = rgb_frames(clip)
    mask = load_mask(mask_png, 72, 128)
    model = load_model(checkpoint)
    results = {}
    for chunk in (1, 3, 8):
        runner = RecordingRunner(TorchRunner(model, "cpu"))
        filt = OSDFilter(runner, mask, FilterConfig(chunk=chunk))
        composites = [out for f in frames for out in filt.push(f)] + filt.flush()
        assert len(composites) == len(frames)
        results[chunk] = np.concatenate(runner.outputs, axis=1)  # (tiles, T, 3, h, w)
    assert results[1].shape[1] == len(frames)
    for chunk in (3, 8):
        assert np.abs(results[chunk] - results[1]).max() <= 1e-5


def test_odd_sizes_and_mask_of_another_size(media_dir, checkpoint, tmp_path):
    src = make_clip(media_dir, width=322, height=182, frames=6)
    mask = make_mask_png(media_dir, 321, 241, 322, 182)
    out = tmp_path / "odd.mp4"
    report = run(src, out, mask, checkpoint)
    assert report.frames == 6
    with av.open(os.fspath(out)) as c:
        v = c.streams.video[0]
        assert (v.codec_context.width, v.codec_context.height) == (322, 182)
    assert video_times(out) == video_times(src)


@pytest.mark.parametrize("width, height", [(640, 48), (22, 22)])
def test_flat_and_tiny_frames_go_through_the_temporal_fill(media_dir, tmp_path, width, height):
    """Regression: OpenCV's optical flow raised on a 22x22 frame and crashed the process
    (segfault) on a 640x48 one; below 64 px a side the fill now carries nothing."""
    src = make_clip(media_dir, width=width, height=height, frames=6, audio=None)
    mask = np.zeros((height, width), bool)
    mask[2 : height // 2, 2 : width // 3] = True
    report = process_video(src, tmp_path / "out.mp4", mask=mask, model="fill", quiet=True, preset="ultrafast")
    assert report.frames == 6


def test_frames_too_small_to_hold_an_osd_are_refused_in_one_line(media_dir, tmp_path):
    src = make_clip(media_dir, width=6, height=6, frames=3, audio=None, pix_fmt="yuv444p")
    with pytest.raises(MediaError, match="6x6 frames are too small"):
        process_video(src, tmp_path / "out.mp4", model="fill", quiet=True)
    assert list(tmp_path.iterdir()) == []


def test_video_without_audio(media_dir, mask_png, checkpoint, tmp_path):
    src = make_clip(media_dir, audio=None)
    out = tmp_path / "noaudio.mp4"
    assert run(src, out, mask_png, checkpoint).frames == 12
    with av.open(os.fspath(out)) as c:
        assert [s.type for s in c.streams] == ["video"]


@pytest.mark.parametrize("ext", ["mkv", "mov"])
def test_mkv_and_mov_containers(media_dir, mask_png, checkpoint, tmp_path, ext):
    src = make_clip(media_dir, ext=ext)
    out = tmp_path / f"out.{ext}"
    run(src, out, mask_png, checkpoint)
    assert video_times(out) == video_times(src)
    assert audio_packets(out) == audio_packets(src)


def test_audio_the_container_refuses_is_reencoded_to_aac(media_dir, mask_png, checkpoint, tmp_path):
    src = make_clip(media_dir, audio="pcm_mulaw", ext="mov")  # mp4 cannot hold mu-law
    out = tmp_path / "out.mp4"
    report = run(src, out, mask_png, checkpoint)
    assert len(report.warnings) == 1 and "re-encoded to aac" in report.warnings[0]
    with av.open(os.fspath(out)) as c:
        assert [s.codec_context.name for s in c.streams.audio] == ["aac"]
        assert c.streams.audio[0].codec_context.sample_rate == 8000


def test_webm_takes_neither_aac_nor_mp3_so_audio_becomes_opus(clip, mask_png, checkpoint, tmp_path):
    """Regression: the re-encode was always AAC, which WebM refuses (a traceback)."""
    out = tmp_path / "out.webm"
    report = run(clip, out, mask_png, checkpoint, codec="libvpx-vp9")
    assert report.warnings == ["audio stream #1 (aac) cannot go in webm: re-encoded to opus"]
    with av.open(os.fspath(out)) as c:
        assert [s.codec_context.name for s in c.streams] == ["vp9", "opus"]
        assert c.streams.audio[0].codec_context.sample_rate == 48000
    # WebM stores milliseconds: exact up to its rounding
    assert max(abs(a - b) for a, b in zip(video_times(out), video_times(clip))) <= Fraction(1, 2000)


def test_a_declared_audio_stream_without_samples_is_left_out(media_dir, mask_png, checkpoint, tmp_path):
    """An audio stream with no packets has no sample rate, which every muxer refused with
    "Invalid argument" on the output: now it is left out with a warning."""
    src = tmp_path / "empty_audio.ts"
    with av.open(os.fspath(src), "w") as out:
        v = out.add_stream("libx264", rate=24, options={"preset": "ultrafast"})
        v.width, v.height, v.pix_fmt = 128, 72, "yuv420p"
        out.add_stream("mp2", rate=48000)  # declared, never written
        for t in range(12):
            frame = av.VideoFrame.from_ndarray(np.full((72, 128, 3), 20 * t, np.uint8), format="rgb24")
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    dst = tmp_path / "out.mkv"
    report = run(src, dst, mask_png, checkpoint)
    assert len(report.warnings) == 1 and "no sample rate" in report.warnings[0], report.warnings
    with av.open(os.fspath(dst)) as c:
        assert [s.type for s in c.streams] == ["video"]
    assert len(video_times(dst)) == 12


@pytest.mark.parametrize("ext", ["avi", "wmv"])
def test_avi_and_asf_outputs_keep_the_frame_order(mask_png, checkpoint, tmp_path, ext):
    """Regression: with x264's B-frames the timestamps read back from AVI / ASF went back
    and forth (those containers store no display order). Now they rise at the clip's rate;
    FFmpeg reads H.264 there one frame late and gives the last frame its own decode time
    (a plain PyAV transcode reads back the same), hence the last step is not checked."""
    src = tmp_path / "still.mp4"  # a still scene and a small mover: x264 picks B-frames for it
    bg = np.clip(textured_background(72, 128)[:72, :128], 0, 255).astype(np.uint8)
    with av.open(os.fspath(src), "w") as c:
        v = c.add_stream("libx264", rate=24, options={"preset": "ultrafast"})
        v.width, v.height, v.pix_fmt = 128, 72, "yuv420p"
        for t in range(24):
            frame = bg.copy()
            frame[20:40, 10 + t : 30 + t] = 255
            c.mux(v.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        c.mux(v.encode(None))
    out = tmp_path / f"out.{ext}"
    # The default preset (x264 "ultrafast" has no B-frames)
    process_video(src, out, mask=mask_png, model=checkpoint, device="cpu", quiet=True)
    times = [float(t) for t in video_times(out)]
    assert len(times) == 24 and times == sorted(times), times
    assert np.allclose(np.diff(times)[:-1], 1 / 24, atol=2e-3), times


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_a_video_starting_before_zero_is_moved_to_start_at_zero(mask_png, checkpoint, tmp_path, ext):
    """Regression: a video whose timestamps start below 0 (here an MPEG-TS PTS that wraps,
    read as -0.5 s) lost its first half second in MP4 (hidden before 0) and every timestamp
    in Matroska, with a false "damaged input" warning. Now it is moved to start at 0."""
    src = tmp_path / "wrapped.ts"
    tb = Fraction(1, 90000)
    with av.open(os.fspath(src), "w") as c:
        v = c.add_stream("libx264", rate=30, options={"preset": "ultrafast"})
        v.width, v.height, v.pix_fmt = 128, 72, "yuv420p"
        v.time_base = v.codec_context.time_base = tb
        for t in range(30):
            frame = av.VideoFrame.from_ndarray(np.full((72, 128, 3), 8 * t, np.uint8), format="rgb24")
            frame.pts, frame.time_base = 2**33 - 45000 + 3000 * t, tb
            c.mux(v.encode(frame))
        c.mux(v.encode(None))
    times = video_times(src)
    assert times[0] == Fraction(-1, 2)
    out = tmp_path / f"out.{ext}"
    report = run(src, out, mask_png, checkpoint)
    assert report.warnings == []
    got = video_times(out)
    assert len(got) == 30 and max(abs(a - (b + Fraction(1, 2))) for a, b in zip(got, times)) <= Fraction(1, 2000)


@pytest.mark.parametrize("ext", ["mp4", "mov", "mkv"])
def test_vfr_timestamps_kept(media_dir, mask_png, checkpoint, tmp_path, ext):
    """Regression: Matroska shifted all timestamps by the B-frame delay (21 ms) by default."""
    src = make_clip(media_dir, vfr=True)
    out = tmp_path / f"vfr.{ext}"
    run(src, out, mask_png, checkpoint)
    times, got = video_times(src), video_times(out)
    assert len(set(np.diff([float(t) for t in times]).round(6))) == 2  # really variable
    if ext == "mkv":  # Matroska stores milliseconds: exact up to its rounding
        assert max(abs(a - b) for a, b in zip(got, times)) <= Fraction(1, 2000) and len(got) == len(times)
    else:
        assert got == times
    assert audio_packets(out) == audio_packets(src) if ext != "mkv" else len(audio_packets(out)[0]) == len(audio_packets(src)[0])


# --- masks and models -------------------------------------------------------------------


def test_mask_array_is_used_as_is(clip, checkpoint, tmp_path):
    alpha, _ = osd_layer(72, 128)
    out = tmp_path / "out.mp4"
    assert run(clip, out, alpha, checkpoint).frames == 12
    with pytest.raises(MaskError, match="shape"):
        run(clip, tmp_path / "x.mp4", alpha[:10], checkpoint)


def test_one_exclude_rectangle_and_bad_window_values(clip, checkpoint, tmp_path):
    """exclude=(x, y, w, h) or "x,y,w,h" is one rectangle (a TypeError / four bad ones before);
    auto_window <= 0 was accepted silently."""
    for one in ((0, 0, 10, 10), "0,0,10,10"):
        report = process_video(clip, tmp_path / "o.mp4", mask=np.ones((72, 128), bool) & (np.arange(128) < 60), model="fill",
                               exclude=one, quiet=True, overwrite=True, preset="ultrafast")
        assert report.frames == 12
    with pytest.raises(OSDFilterError, match="auto_window"):
        process_video(clip, tmp_path / "o2.mp4", model="fill", auto_window=0, quiet=True)


def test_bad_exclude_is_a_clear_error(clip, checkpoint, tmp_path):
    with pytest.raises(MaskError, match="--exclude"):
        process_video(clip, tmp_path / "x.mp4", model=checkpoint, device="cpu", exclude=[(500, 0, 5, 5)])
    assert not (tmp_path / "x.mp4").exists()


def test_checkpoint_round_trip_reproduces_outputs(tmp_path):
    model = tiny_model(seed=3)
    save_checkpoint(tmp_path / "m.pt", model)
    loaded = load_model(tmp_path / "m.pt")
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 4, 40, 56)).astype(np.float32)
    x[:, :, 3] = x[:, :, 3] > 0
    y0, s0 = TorchRunner(model, "cpu").step(x, None)
    y1, s1 = TorchRunner(loaded, "cpu").step(x, None)
    np.testing.assert_allclose(y0, y1, atol=1e-6)


def test_save_checkpoint_to_a_folder_or_a_missing_folder_is_one_line_and_leaves_nothing(tmp_path):
    model = tiny_model()
    for bad in (tmp_path, tmp_path / "no" / "m.pt"):
        with pytest.raises(CheckpointError, match="cannot write a checkpoint"):
            save_checkpoint(bad, model)
    assert list(tmp_path.iterdir()) == [] and not (tmp_path.parent / f"{tmp_path.name}.tmp").exists()


def test_non_checkpoint_file_is_refused_in_one_line(tmp_path, clip, mask_png):
    bogus = tmp_path / "model.pt"
    bogus.write_bytes(b"this is not a checkpoint\n" * 10)
    with pytest.raises(CheckpointError) as info:
        process_video(clip, tmp_path / "o.mp4", mask=mask_png, model=bogus, quiet=True)
    assert "not an osdfilter checkpoint" in str(info.value) and "\n" not in str(info.value)


def test_rescale_ts_is_exact():
    assert rescale_ts(1001, Fraction(1, 30000), Fraction(1, 90000)) == 3003
    assert rescale_ts(3, Fraction(1, 25), Fraction(1, 1000)) == 120
