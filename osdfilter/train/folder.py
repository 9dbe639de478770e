"""The write-up's on-disk dataset: ``clips/*.mp4``, ``mask_clips/*.mp4``, ``masks/*.png``.

``clips/`` holds clean clips, ``mask_clips/`` the same clips with the OSD burned in, and
``masks/`` one union mask per clip (white = overlay: what a user would paint). Files are
matched by sorted name; different counts are an error. :func:`write_synth_folder` writes
the layout from clean footage (``osdfilter synth``); :class:`ClipFolder` reads it back and
:class:`FolderBatches` serves it to the trainer in the same tile format as generated data.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence, Union

import av
import cv2
import numpy as np
import torch

from ..masks.image import dilate
from ..osd import OSDStyle, OSDSynth
from .config import TrainConfig
from .data import Tile, clean_clip, core_origins, cut_tiles, load_fonts, tiles_to_batch
from .sources import load_segments

PathLike = Union[str, os.PathLike]
LAYOUT = ("clips", "mask_clips", "masks")


def write_video(path: Path, frames: np.ndarray, fps: float = 25.0, crf: int = 12) -> None:
    """Encode uint8 RGB ``[T, H, W, 3]`` (even H, W) as H.264 (near-lossless by default)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=int(round(fps)))
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():  # flush the encoder's delayed frames
            container.mux(packet)


def read_video(path: Path, frames: Optional[int] = None) -> np.ndarray:
    """The first ``frames`` frames (all if None) as uint8 RGB ``[T, H, W, 3]``."""
    out = []
    with av.open(str(path)) as container:
        for f in container.decode(video=0):
            out.append(f.to_ndarray(format="rgb24"))
            if frames is not None and len(out) >= frames:
                break
    if not out:
        raise ValueError(f"no frames decoded from {path}")
    return np.stack(out)


def fit_size(clip: np.ndarray, height: int, width: int) -> np.ndarray:
    """Scale to cover ``height x width`` and centre-crop (no letterbox)."""
    T, h, w, _ = clip.shape
    s = max(height / h, width / w)
    nh, nw = max(height, round(h * s)), max(width, round(w * s))
    y, x = (nh - height) // 2, (nw - width) // 2
    return np.stack([cv2.resize(f, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)[y : y + height, x : x + width] for f in clip])


def write_synth_folder(src: Sequence[PathLike], dst: PathLike, cfg: TrainConfig, clips: int, height: int = 270, width: int = 480, style: Optional[OSDStyle] = None) -> int:
    """Write ``clips`` synthetic clips of ``cfg.frames`` frames into the write-up's layout at ``dst``.

    ``style`` defaults to the renderer's (with DVR degradations); ``OSDStyle.exact()`` leaves
    every pixel outside the mask untouched.
    """
    dst = Path(dst)
    for sub in LAYOUT:
        (dst / sub).mkdir(parents=True, exist_ok=True)
    segments = load_segments(src, cfg.skip, cfg.max_short, cfg.cache_dir, min_len=cfg.frames)
    fonts = load_fonts(cfg.fonts, cfg.exclude_fonts)
    for i in range(clips):
        rng = np.random.default_rng([cfg.seed, i])
        clean = fit_size(clean_clip(segments, rng, cfg), height, width)
        synth = OSDSynth(height, width, rng=rng, fonts=fonts or None, style=style)
        overlaid, masks, _ = synth.render_clip(clean)
        write_video(dst / "clips" / f"{i:06d}.mp4", clean)
        write_video(dst / "mask_clips" / f"{i:06d}.mp4", overlaid)
        cv2.imwrite(str(dst / "masks" / f"{i:06d}.png"), masks.any(axis=0).astype(np.uint8) * 255)
    return clips


class ClipFolder(torch.utils.data.Dataset):
    """The layout read back: ``(overlaid, clean, mask)`` per clip, uint8/bool numpy, first T frames."""

    def __init__(self, root: PathLike, frames: int) -> None:
        root = Path(root)
        lists = [sorted((root / sub).glob("*.png" if sub == "masks" else "*.mp4")) for sub in LAYOUT]
        counts = {sub: len(files) for sub, files in zip(LAYOUT, lists)}
        if len(set(counts.values())) != 1 or not lists[0]:
            raise ValueError(f"{root}: clips, mask_clips and masks must hold the same (non-zero) number of files, got {counts}")
        self.clips, self.mask_clips, self.masks = lists
        self.frames = frames

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        clean = read_video(self.clips[i], self.frames)
        overlaid = read_video(self.mask_clips[i], self.frames)
        gray = cv2.imread(str(self.masks[i]), cv2.IMREAD_GRAYSCALE)
        if gray is None or gray.shape != clean.shape[1:3] or len(clean) != len(overlaid):
            raise ValueError(f"clip {self.clips[i].name}: mask, clip and mask clip do not match in size or length")
        return overlaid, clean, gray >= 128


def folder_tiles(item: tuple[np.ndarray, np.ndarray, np.ndarray], rng: np.random.Generator, cfg: TrainConfig, n: int, tile: int, context: int) -> list[Tile]:
    """``n`` tiles from one stored clip; its single mask applies to every frame, dilated as the filter does."""
    overlaid, clean, mask = item
    if rng.random() < 0.5:  # the mask is static, so a mirrored clip is just as valid
        overlaid, clean, mask = overlaid[:, :, ::-1], clean[:, :, ::-1], mask[:, ::-1]
    m = np.broadcast_to(dilate(np.ascontiguousarray(mask), cfg.dilate), overlaid.shape[:3])
    origins = core_origins(m[0], n, tile, rng, cfg.centre_prob)
    return cut_tiles(np.ascontiguousarray(overlaid), np.ascontiguousarray(clean), m, [(y, x, tile, tile) for y, x in origins], context)


class FolderBatches(torch.utils.data.Dataset):
    """``dataset[step]``: batch of step ``step`` from a synth folder, epoch-shuffled by (seed, epoch).

    Clip ``i`` with ``i % 10 == 9`` is held out for validation once there are 10 or more.
    """

    def __init__(self, roots: Sequence[PathLike], cfg: TrainConfig, tile: int, context: int, rank: int = 0, world: int = 1) -> None:
        if len(roots) != 1:
            raise ValueError(f"data_kind 'folder' takes exactly one folder, got {list(roots)}")
        self.folder = ClipFolder(roots[0], cfg.frames)
        n = len(self.folder)
        self.train_ids = [i for i in range(n) if n < 10 or i % 10 != 9]
        self.val_ids = [i for i in range(n) if n >= 10 and i % 10 == 9]
        self.cfg, self.tile, self.context, self.rank, self.world = cfg, tile, context, rank, world

    def __len__(self) -> int:
        return self.cfg.steps

    def clip_at(self, position: int) -> int:
        """The clip at a global sample position: a fresh permutation every epoch."""
        n = len(self.train_ids)
        perm = np.random.default_rng([self.cfg.seed, position // n]).permutation(n)
        return self.train_ids[int(perm[position % n])]

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        rng = np.random.default_rng([cfg.seed, int(step), self.rank, 1])
        first = (int(step) * self.world + self.rank) * cfg.batch
        tiles = [folder_tiles(self.folder[self.clip_at(first + b)], rng, cfg, 1, self.tile, self.context)[0] for b in range(cfg.batch)]
        return tiles_to_batch(tiles, cfg.prefill, cfg.feather, self.context)


def folder_validation(data: FolderBatches, cfg: TrainConfig, batch: int = 8) -> dict[str, list[dict[str, torch.Tensor]]]:
    """Fixed tiles of the held-out clips (the training clips if none are held out), union mask."""
    ids = data.val_ids or data.train_ids
    rng = np.random.default_rng(cfg.val_seed)
    tiles = [folder_tiles(data.folder[ids[k % len(ids)]], rng, cfg, 1, data.tile, data.context)[0] for k in range(cfg.val_clips)]
    return {"union": [tiles_to_batch(tiles[i : i + batch], cfg.prefill, cfg.feather, data.context) for i in range(0, len(tiles), batch)]}
