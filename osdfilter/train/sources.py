"""Clean footage for training: find videos and frame folders, decode once, cache, split.

Every source is decoded once (PyAV for videos, OpenCV for frame folders), scaled so its
short side is at most ``max_short`` pixels, cut into *segments* (no shot cut and no
skipped seconds inside one), and cached as a ``.npy`` under ``cache_dir``. Later runs
memory-map the cache, so the trainer never decodes video again and RAM is shared with the
page cache instead of duplicated per process.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence, Union

import av
import cv2
import numpy as np

from ..filter.scenecut import is_cut

PathLike = Union[str, os.PathLike]
VIDEO_EXTS = {".mp4", ".webm", ".mkv", ".mov", ".avi", ".m4v", ".mpg", ".ts"}
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
FOLDER_FPS = 25.0  # frame folders carry no timing; only used to apply --skip seconds
CACHE_VERSION = 1  # bump when decoding or splitting changes, so stale caches are ignored


@dataclass(frozen=True)
class Segment:
    """Consecutive frames of one shot: ``frames`` is uint8 ``[N, H, W, 3]`` RGB."""

    name: str
    frames: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)


def parse_skips(specs: Iterable[str]) -> dict[str, list[tuple[float, float]]]:
    """``["a.webm:20.3-23.0", "a.webm:24.75-"]`` -> ``{"a.webm": [(20.3, 23.0), (24.75, inf)]}``."""
    out: dict[str, list[tuple[float, float]]] = {}
    for spec in specs:
        try:
            name, rng = spec.rsplit(":", 1)
            lo, hi = rng.split("-", 1)
            out.setdefault(name, []).append((float(lo or 0.0), float(hi) if hi else float("inf")))
        except ValueError:
            raise ValueError(f"bad skip spec {spec!r}; expected FILE:START-END (seconds, END optional)") from None
    return out


def find_sources(folders: Sequence[PathLike]) -> list[Path]:
    """Video files and frame folders (directories holding >= 2 images) under ``folders``, sorted."""
    found: list[Path] = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise FileNotFoundError(f"training data folder not found: {folder}")
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix.lower() in VIDEO_EXTS:
                found.append(path)
            elif path.is_dir() and len(_images_in(path)) >= 2:
                found.append(path)
    return found


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS)


def _shrink(rgb: np.ndarray, max_short: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = max_short / min(h, w)
    if s >= 1.0:
        return np.ascontiguousarray(rgb)
    return cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


def read_clip(path: PathLike, max_frames: int, max_side: int = 1 << 30) -> np.ndarray:
    """The first ``max_frames`` frames of a video or a frame folder, uint8 RGB ``[T, H, W, 3]``,
    shrunk (even sides) so that the longer side is at most ``max_side``. For evaluation and
    the auto-mask classifier's cases; training reads whole sources with :func:`decode_source`."""
    path = Path(path)
    if path.is_dir():
        frames = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in _images_in(path)[:max_frames]]
    else:
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(max_frames), container.decode(video=0))]
    h, w = frames[0].shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        size = (int(round(w * scale / 2)) * 2, int(round(h * scale / 2)) * 2)
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    return np.stack(frames)


def decode_source(path: Path, max_short: int) -> tuple[list[np.ndarray], list[float]]:
    """All frames of a video or frame folder (RGB uint8, shrunk) and their times in seconds."""
    if path.is_dir():
        frames = [_shrink(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB), max_short) for p in _images_in(path)]
        return frames, [i / FOLDER_FPS for i in range(len(frames))]
    frames, times = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            frames.append(_shrink(frame.to_ndarray(format="rgb24"), max_short))
            # Streams without timestamps (rare) fall back to the frame index at the stream rate.
            times.append(float(frame.time) if frame.time is not None else i / float(stream.average_rate or FOLDER_FPS))
    return frames, times


def segment_bounds(frames: Sequence[np.ndarray], times: Sequence[float], skips: list[tuple[float, float]], min_len: int) -> list[tuple[int, int]]:
    """``[start, end)`` index ranges without shot cuts or skipped seconds, each >= ``min_len`` long."""
    bounds, start = [], None
    for i, t in enumerate(times):
        skipped = any(lo <= t < hi for lo, hi in skips)
        cut = start is not None and is_cut(frames[i - 1], frames[i])
        if start is not None and (skipped or cut):
            bounds.append((start, i))
            start = None
        if start is None and not skipped:
            start = i
    if start is not None:
        bounds.append((start, len(times)))
    return [(a, b) for a, b in bounds if b - a >= min_len]


def _cache_key(path: Path, max_short: int, skips: list[tuple[float, float]]) -> str:
    st = path.stat()
    ident = json.dumps([CACHE_VERSION, str(path.resolve()), st.st_mtime_ns, st.st_size, max_short, skips])
    return hashlib.sha1(ident.encode()).hexdigest()[:16]


def load_source(path: Path, max_short: int, skips: list[tuple[float, float]], cache_dir: PathLike, min_len: int = 8) -> list[Segment]:
    """Segments of one source, from the cache when it is there (decoding and caching otherwise)."""
    cache = Path(cache_dir)
    stem = f"{path.name}-{_cache_key(path, max_short, skips)}"
    npy, meta = cache / f"{stem}.npy", cache / f"{stem}.json"
    if not (npy.exists() and meta.exists()):
        frames, times = decode_source(path, max_short)
        bounds = segment_bounds(frames, times, skips, min_len)
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cache / f"{stem}.{os.getpid()}.tmp.npy"  # atomic: DDP ranks may race here
        np.save(tmp, np.stack(frames) if frames else np.zeros((0, 1, 1, 3), np.uint8))
        os.replace(tmp, npy)
        meta.write_text(json.dumps({"bounds": bounds, "source": str(path)}))
    all_frames = np.load(npy, mmap_mode="r")
    bounds = json.loads(meta.read_text())["bounds"]
    return [Segment(f"{path.name}[{a}:{b}]", all_frames[a:b]) for a, b in bounds]


def load_segments(folders: Sequence[PathLike], skip: Iterable[str] = (), max_short: int = 480, cache_dir: PathLike = "/tmp/osdfilter-cache", min_len: int = 8) -> list[Segment]:
    """Every segment of every source under ``folders`` (see module docstring)."""
    skips = parse_skips(skip)
    segments: list[Segment] = []
    for path in find_sources(folders):
        segments += load_source(path, max_short, skips.get(path.name, []), cache_dir, min_len)
    if not segments:
        raise ValueError(f"no usable video or frame folder found under {list(map(str, folders))}")
    return segments


def split_train_val(segments: Sequence[Segment], val_fraction: float, min_len: int) -> tuple[list[Segment], list[Segment]]:
    """Hold out the tail of each segment for validation (a gap of ``min_len`` frames between)."""
    train, val = [], []
    for seg in segments:
        n_val = int(len(seg) * val_fraction)
        if val_fraction <= 0 or n_val < min_len or len(seg) - n_val - min_len < min_len:
            train.append(seg)
            continue
        cut = len(seg) - n_val
        train.append(Segment(seg.name + ":train", seg.frames[: cut - min_len]))
        val.append(Segment(seg.name + ":val", seg.frames[cut:]))
    return train, val
