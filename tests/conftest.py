"""Shared fixtures: tiny generated clips (PyAV), masks and a tiny-model checkpoint.

Media is built in code, never shipped. Builders are memoized per test session: each
distinct clip is encoded once into a session directory and only read afterwards.
"""

from __future__ import annotations

import functools
import os
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Optional

import av
import cv2
import numpy as np
import pytest
import torch

from osdfilter.model.checkpoint import save_checkpoint
from osdfilter.model.network import ModelConfig, RecurrentUNet

OSD_TEXT = ("12.6V", "ALT 35m", "00:42")


def textured_background(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture twice the frame size, to pan across (motion)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (2 * height, 2 * width, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 3.0).astype(np.float32) * 2.2 - 150.0


def osd_layer(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(alpha mask bool [H, W] of the text incl. outline, white-outlined text RGB)."""
    canvas = np.zeros((height, width, 3), np.uint8)
    scale = max(0.3, width / 640)
    for i, text in enumerate(OSD_TEXT):
        org = (4 + i * width // 3, max(12, int(18 * scale * 1.5)))
        cv2.putText(canvas, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (1, 1, 1), 3, cv2.LINE_AA)  # outline
        cv2.putText(canvas, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas.max(axis=2) > 0, canvas


def clip_frame(t: int, height: int, width: int, bg: np.ndarray, osd: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Frame ``t``: the background panned diagonally, the OSD burned in."""
    dy, dx = (3 * t) % height, (5 * t) % width
    frame = np.clip(bg[dy : dy + height, dx : dx + width], 0, 255).astype(np.uint8)
    alpha, text = osd
    frame[alpha] = text[alpha]
    return frame


@functools.lru_cache(maxsize=None)
def overlay_clip(
    frames: int, step: tuple[int, int], noise: float = 0.0, seed: int = 0, height: int = 120, width: int = 200
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(overlaid [T, H, W, 3], clean, mask [H, W]) as arrays, for the fill's tests: a textured
    image moved by ``step`` (dx, dy) px per frame (``(0, 0)``: a still camera, each frame with
    fresh sensor noise of ``noise`` levels) under a static outlined "12.6V 42" and a filled
    box. Shared: treat the arrays as read-only."""
    rng = np.random.default_rng(seed)
    dx, dy = step
    big = rng.integers(0, 256, (height + frames * abs(dy) + 8, width + frames * abs(dx) + 8, 3), dtype=np.uint8)
    bg = np.clip(cv2.GaussianBlur(big, (0, 0), 3.0).astype(np.float32) * 2.0 - 128.0, 0, 255)
    clean = []
    for t in range(frames):
        y, x = t * abs(dy), t * abs(dx)
        f = bg[y : y + height, x : x + width]
        f = f + rng.normal(0.0, noise, (height, width, 3)) if noise else f
        clean.append(np.clip(f + 0.5, 0, 255).astype(np.uint8))
    clean = np.stack(clean)
    text = np.zeros((height, width, 3), np.uint8)
    cv2.putText(text, "12.6V 42", (10, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (1, 1, 1), 6, cv2.LINE_AA)  # outline
    cv2.putText(text, "12.6V 42", (10, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2, cv2.LINE_AA)
    cv2.rectangle(text, (120, 80), (170, 100), (255, 255, 255), -1)
    mask = cv2.dilate((text.max(2) > 0).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    overlaid = clean.copy()
    overlaid[:, mask] = text[mask]
    return overlaid, clean, mask


@functools.lru_cache(maxsize=None)
def make_clip(
    directory: str,
    width: int = 128,
    height: int = 72,
    frames: int = 12,
    fps: int = 24,
    audio: Optional[str] = "aac",
    ext: str = "mp4",
    vfr: bool = False,
    pix_fmt: str = "yuv420p",
    bt709_full_range: bool = False,
    rotation: int = 0,
) -> Path:
    """Encode a tiny clip (moving texture, white outlined text, an ``audio`` track or none)."""
    tags = f"{'_vfr' if vfr else ''}_{pix_fmt}{'_709pc' if bt709_full_range else ''}_r{rotation}"
    path = Path(directory) / f"clip_{width}x{height}_{frames}f_{fps}_{audio}{tags}.{ext}"
    bg, osd = textured_background(height, width), osd_layer(height, width)
    with av.open(os.fspath(path), "w") as out:
        v = out.add_stream("libx264", rate=fps, options={"crf": "16", "preset": "ultrafast"})
        v.width, v.height, v.pix_fmt = width, height, pix_fmt
        v.codec_context.time_base = Fraction(1, fps * 100)
        if bt709_full_range:
            v.codec_context.colorspace = v.codec_context.color_primaries = v.codec_context.color_trc = 1  # BT.709
            v.codec_context.color_range = 2  # full (JPEG)
        if rotation:
            v.set_display_rotation(rotation)
        a = _add_audio(out, audio) if audio else None
        for t in range(frames):
            frame = av.VideoFrame.from_ndarray(clip_frame(t, height, width, bg, osd), format="rgb24")
            if bt709_full_range:
                frame = frame.reformat(format=pix_fmt, dst_colorspace=1, dst_color_range=2)
            frame.pts = _frame_pts(t, fps, vfr)
            frame.time_base = v.codec_context.time_base
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        if a is not None:
            _write_audio(out, a, seconds=frames / fps)
    return path


@functools.lru_cache(maxsize=None)
def make_rich_clip(directory: str, ext: str = "mkv") -> Path:
    """Every kind of stream in an unusual order, VFR video, metadata.

    Streams: #0 AAC stereo (English), #1 H.264 VFR video, #2 MP3 mono (commentary),
    #3 subtitles (SubRip in Matroska, mov_text in MP4). Title and creation_time set.
    """
    width, height, frames = 96, 64, 10
    path = Path(directory) / f"rich.{ext}"
    bg, osd = textured_background(height, width), osd_layer(height, width)
    with av.open(os.fspath(path), "w") as out:
        out.metadata.update({"title": "Rich test flight", "creation_time": "2024-05-01T12:34:56.000000Z"})
        a0 = _add_audio(out, "aac")
        a0.metadata["language"] = "eng"
        v = out.add_stream("libx264", rate=25, options={"crf": "16", "preset": "ultrafast"})
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.codec_context.time_base = Fraction(1, 1000)
        a1 = out.add_stream("mp3", rate=44100)
        a1.layout = "mono"
        a1.metadata["title"] = "commentary"
        sub = out.add_mux_stream("subrip" if ext == "mkv" else "mov_text")
        sub.time_base = Fraction(1, 1000)
        for t in range(frames):
            frame = av.VideoFrame.from_ndarray(clip_frame(t, height, width, bg, osd), format="rgb24")
            frame.pts, frame.time_base = 37 * t + (11 if t % 3 == 0 else 0), v.codec_context.time_base  # VFR, ms
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        _write_audio(out, a0, seconds=0.4)
        _write_audio(out, a1, seconds=0.4, tone=300.0)
        for i, text in enumerate((b"Arming", b"Punch out!")):
            payload = text if ext == "mkv" else len(text).to_bytes(2, "big") + text
            packet = av.Packet(payload)
            packet.stream, packet.time_base = sub, Fraction(1, 1000)
            packet.pts = packet.dts = 50 + 150 * i
            packet.duration = 100
            out.mux(packet)
    return path


def _frame_pts(t: int, fps: int, vfr: bool) -> int:
    """pts in 1/(fps*100) units; VFR alternates short and long frame durations."""
    if not vfr:
        return t * 100
    return sum(60 if i % 2 else 140 for i in range(t))


def _add_audio(out: av.container.OutputContainer, codec: str = "aac", rate: int = 48000) -> av.audio.stream.AudioStream:
    a = out.add_stream(codec, rate=rate if codec == "aac" else 8000)
    a.layout = "stereo"
    return a


def _write_audio(out: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float, tone: float = 440.0) -> None:
    """A sine tone (different per channel) for ``seconds``, in 1024-sample frames."""
    rate, n = stream.codec_context.sample_rate, 1024
    layout = stream.codec_context.layout.name
    total = int(seconds * rate)
    for start in range(0, total, n):
        t = (np.arange(start, min(start + n, total)) / rate).astype(np.float32)
        samples = np.stack([np.sin(2 * np.pi * tone * t), np.sin(2 * np.pi * 1.5 * tone * t)]) * 0.3
        samples = samples[:1] if layout == "mono" else samples
        frame = av.AudioFrame.from_ndarray(samples.astype(np.float32), format="fltp", layout=layout)
        frame.sample_rate, frame.pts = rate, start
        out.mux(stream.encode(frame))  # the encoder converts format/size as it needs
    out.mux(stream.encode(None))


@functools.lru_cache(maxsize=None)
def make_mask_png(directory: str, width: int, height: int, video_width: Optional[int] = None, video_height: Optional[int] = None) -> Path:
    """A PNG of the OSD text area at ``width x height`` (possibly not the video's size)."""
    vw, vh = video_width or width, video_height or height
    alpha, _ = osd_layer(vh, vw)
    img = cv2.resize(alpha.astype(np.uint8) * 255, (width, height), interpolation=cv2.INTER_NEAREST)
    path = Path(directory) / f"mask_{width}x{height}_for_{vw}x{vh}.png"
    cv2.imwrite(os.fspath(path), img)
    return path


def tiny_model(seed: int = 0, preset: str = "tiny") -> RecurrentUNet:
    """A small model (``preset``) whose head is nonzero, so it really changes pixels."""
    torch.manual_seed(seed)
    # Small tiles keep the tests fast on 2 shared cores.
    model = RecurrentUNet(ModelConfig.preset(preset, tile=32, context=8))
    torch.nn.init.normal_(model.head.weight, std=0.2)
    torch.nn.init.normal_(model.head.bias, std=0.05)
    return model.eval()


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """ONNX exports of checkpoints go to this session's folder (subprocesses inherit it), not
    the user's cache: every run starts with nothing exported, as on a clean machine, so a
    test cannot pass only because an earlier run or test exported its model."""
    path = tmp_path_factory.mktemp("onnx-cache")
    old = os.environ.get("OSDFILTER_CACHE")
    os.environ["OSDFILTER_CACHE"] = os.fspath(path)
    yield path
    if old is None:
        os.environ.pop("OSDFILTER_CACHE", None)
    else:
        os.environ["OSDFILTER_CACHE"] = old


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return os.fspath(tmp_path_factory.mktemp("media"))


@pytest.fixture(scope="session")
def checkpoint(media_dir: str) -> Path:
    path = Path(media_dir) / "tiny.pt"
    save_checkpoint(path, tiny_model())
    return path


@pytest.fixture(scope="session")
def clip(media_dir: str) -> Path:
    """The default test clip: 128x72, 12 frames at 24 fps, AAC stereo."""
    return make_clip(media_dir)


@pytest.fixture(scope="session")
def mask_png(media_dir: str) -> Path:
    return make_mask_png(media_dir, 128, 72)
