"""Training samples: clean clips, an OSD rendered on the fly, crops laid out as the filter tiles.

A sample is what the filter feeds the model for one tile over ``T`` frames, plus what the
loss needs. It is built exactly as :meth:`osdfilter.filter.core.OSDFilter.model_input` builds
inference input: mask dilated by ``dilate`` px on the full canvas, a ``crop``-sized window
(tile core + context, reflected at the borders), classical prefill of the crop inside the
mask, RGB/127.5 - 1, and the mask channel. The loss is taken only on the tile *core*, since
the filter throws the context ring away.

Every batch is a pure function of ``(seed, step, rank)``, so resuming at a step reproduces
the data exactly and no sampler state is needed beyond the step counter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import cv2
import numpy as np
import torch

from ..filter.tiles import Region
from ..masks.image import dilate, feather
from ..osd import OSDFont, OSDStyle, OSDSynth, load_font_dir, load_font_file
from ..filter.fill import get_prefill, is_temporal
from ..filter.core import CAND_CHANNELS, RECORDED_CHANNELS, input_scaling, screen_sequence
from ..filter.lookahead import fill_sequence
from .config import TrainConfig
from .motion import camera_motion
from .sources import Segment

CANVAS_HEIGHTS = (240, 360, 480, 540)  # OSD cell size follows the canvas height, as in real DVRs
CROPS_PER_CANVAS = 4  # one OSD render feeds several tiles: rendering costs as much as a step


@dataclass
class Tile:
    """One training tile over T frames (numpy, uint8 images and bool masks, ``crop`` square)."""

    overlaid: np.ndarray  # [T, c, c, 3] what the camera recorded (OSD burned in)
    clean: np.ndarray  # [T, c, c, 3] target
    mask: np.ndarray  # [T, c, c] the dilated mask the filter would use
    filled: Optional[np.ndarray] = None  # [T, c, c, 3] a whole-frame (temporal) prefill, if used
    cand: Optional[np.ndarray] = None  # [T, c, c, 12] its candidates, for a model with inputs="candidates"
    glyph: Optional[np.ndarray] = None  # [T, c, c] bool: the OSD's own pixels (glyphs and outline), where known
    recorded: Optional[np.ndarray] = None  # [T, c, c, 3] the network's recorded channel (filter.core.OverlayScreen); None: overlaid


def load_fonts(folder: Optional[str], exclude: Sequence[str] = ()) -> list[OSDFont]:
    """Fonts under ``folder`` except its sub-folders named in ``exclude`` (held out for evaluation)."""
    if not folder:
        return []
    from pathlib import Path

    fonts: list[OSDFont] = []
    for sub in sorted(Path(folder).iterdir()):
        if sub.is_dir() and sub.name not in exclude:
            fonts += load_font_dir(sub)
        elif sub.is_file() and sub.suffix.lower() in (".mcm", ".png", ".bmp"):
            font = load_font_file(sub)
            fonts += [font] if font is not None else []
    return fonts


def pick_segment(segments: Sequence[Segment], rng: np.random.Generator) -> Segment:
    """A segment with probability ~ sqrt(length): long static clips must not dominate."""
    w = np.sqrt(np.array([len(s) for s in segments], np.float64))
    return segments[int(rng.choice(len(segments), p=w / w.sum()))]


def clean_clip(segments: Sequence[Segment], rng: np.random.Generator, cfg: TrainConfig, frames: Optional[int] = None) -> np.ndarray:
    """``[T, H, W, 3]`` consecutive frames (random start, stride, direction) or a flight over a still."""
    seg = pick_segment(segments, rng)
    T = frames or cfg.frames
    if rng.random() < cfg.still_prob or len(seg) < T:
        still = seg.frames[int(rng.integers(len(seg)))]
        h, w = still.shape[:2]
        names = sorted(cfg.camera)
        p = np.array([cfg.camera[k] for k in names], np.float64)
        # (one camera kind: no draw, so runs from before camera kinds keep their data)
        kind = names[0] if len(names) == 1 else names[int(rng.choice(len(names), p=p / p.sum()))]
        return camera_motion(np.asarray(still), T, rng, (int(h * 0.8), int(w * 0.8)), kind)
    stride = int(rng.integers(1, min(cfg.max_stride, (len(seg) - 1) // max(T - 1, 1) or 1) + 1))
    start = int(rng.integers(0, len(seg) - (T - 1) * stride))
    clip = np.asarray(seg.frames[start : start + (T - 1) * stride + 1 : stride])
    return clip[::-1] if rng.random() < 0.5 else clip  # time reversal: footage is mostly symmetric


def canvas_clip(clip: np.ndarray, rng: np.random.Generator, cfg: TrainConfig) -> np.ndarray:
    """The clip zoomed and cropped to a random canvas (the frame the OSD is drawn on), maybe mirrored."""
    T, h, w, _ = clip.shape
    zoom = rng.uniform(*cfg.scale_range)
    ch = min(int(rng.choice(CANVAS_HEIGHTS)), int(h * zoom))
    cw = min(int(ch * rng.uniform(1.33, 1.9)), int(w * zoom))
    sh, sw = min(h, round(ch / zoom)), min(w, round(cw / zoom))  # source window
    y, x = int(rng.integers(0, h - sh + 1)), int(rng.integers(0, w - sw + 1))
    interp = cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR
    out = np.stack([cv2.resize(f[y : y + sh, x : x + sw], (cw, ch), interpolation=interp) for f in clip])
    return out[:, :, ::-1].copy() if rng.random() < 0.5 else out


def model_masks(masks: np.ndarray, boxes: np.ndarray, mode: str, px: int) -> np.ndarray:
    """The per-frame mask the filter would get, dilated as it dilates: ``[T, H, W]`` bool."""
    if mode == "box":
        base = boxes
    elif mode == "union":
        base = np.broadcast_to(masks.any(axis=0), masks.shape)
    else:
        base = masks
    return np.stack([dilate(m, px) for m in base])


def core_origins(union: np.ndarray, n: int, tile: int, rng: np.random.Generator, centre_prob: float) -> list[tuple[int, int]]:
    """``n`` tile-core top-left corners: mostly with an overlay pixel somewhere inside the core."""
    h, w = union.shape
    ys, xs = np.nonzero(union)
    out = []
    for _ in range(n):
        if len(ys) and rng.random() < centre_prob:
            i = int(rng.integers(len(ys)))
            y, x = ys[i] - int(rng.integers(tile)), xs[i] - int(rng.integers(tile))
        else:
            y, x = int(rng.integers(0, max(h - tile, 0) + 1)), int(rng.integers(0, max(w - tile, 0) + 1))
        out.append((int(np.clip(y, 0, max(h - tile, 0))), int(np.clip(x, 0, max(w - tile, 0)))))
    return out


def cut_tiles(overlaid: np.ndarray, clean: np.ndarray, mask: np.ndarray, cores: Sequence[Region], context: int,
              filled: Optional[np.ndarray] = None, cand: Optional[np.ndarray] = None, glyph: Optional[np.ndarray] = None,
              recorded: Optional[np.ndarray] = None) -> list[Tile]:
    """Crops of ``(h + 2*context, w + 2*context)`` around each core ``(y, x, h, w)``, reflected
    at the borders exactly like :func:`osdfilter.filter.tiles.pad_for_tiles` (so padded
    coordinates equal core coordinates)."""
    c = context
    T, h, w, _ = overlaid.shape
    eh = max([0] + [ch - h for _, _, ch, _ in cores])
    ew = max([0] + [cw - w for _, _, _, cw in cores])

    def pad(frames: np.ndarray) -> np.ndarray:
        return np.stack([cv2.copyMakeBorder(f, c, c + eh, c, c + ew, cv2.BORDER_REFLECT_101) for f in frames])

    po, pc, pm = pad(overlaid), pad(clean), pad(mask.astype(np.uint8)).astype(bool)
    pf = pad(filled) if filled is not None else None
    pk = pad(cand) if cand is not None else None
    pg = pad(glyph.astype(np.uint8)) if glyph is not None else None
    pr = pad(recorded) if recorded is not None else None
    win = lambda a, y, x, ch, cw: None if a is None else np.ascontiguousarray(a[:, y : y + ch + 2 * c, x : x + cw + 2 * c])  # noqa: E731
    return [Tile(win(po, *r), win(pc, *r), win(pm, *r), win(pf, *r), win(pk, *r), win(pg, *r), win(pr, *r)) for r in cores]


def render_tiles(segments: Sequence[Segment], fonts: list[OSDFont], rng: np.random.Generator, cfg: TrainConfig, n: int, tile: int, context: int, mode: Optional[str] = None) -> list[Tile]:
    """``n`` tiles from one clean clip with one freshly sampled OSD setup drawn over it.

    With a temporal prefill the whole canvas is filled in frame order, as the filter fills
    whole frames, after 0..``temporal_warmup`` extra leading frames that are then dropped
    (at inference the fill's memory is usually older than the model's chunk).
    """
    warm = int(rng.integers(cfg.temporal_warmup + 1)) if is_temporal(cfg.prefill) else 0
    frames = canvas_clip(clean_clip(segments, rng, cfg, cfg.frames + warm), rng, cfg)
    T, h, w, _ = frames.shape
    style = None
    if cfg.big_osd_prob > 0 and rng.random() < cfg.big_osd_prob:  # (no draw at 0: older runs keep their data)
        style = OSDStyle(grids=tuple((max(8, c // 2), max(4, r // 2)) for c, r in OSDStyle().grids))
    synth = OSDSynth(h, w, rng=rng, fonts=fonts or None, style=style)
    overlaid, masks, boxes = synth.render_clip(frames)
    if mode is None:
        names = sorted(cfg.mask_modes)
        p = np.array([cfg.mask_modes[k] for k in names], np.float64)
        mode = names[int(rng.choice(len(names), p=p / p.sum()))]
    mask = model_masks(masks, boxes, mode, cfg.dilate)
    filled = cand = recorded = None
    if cfg.inputs == "candidates":
        filled, cand = fill_sequence(overlaid, mask, candidates=True)
        recorded = screen_sequence(overlaid, filled, mask)[warm:]
        filled, cand = filled[warm:], cand[warm:]
    elif is_temporal(cfg.prefill):
        filled = fill_sequence(overlaid, mask)[warm:]
    overlaid, frames, mask, masks = overlaid[warm:], frames[warm:], mask[warm:], masks[warm:]
    origins = core_origins(mask.any(axis=0), n, tile, rng, cfg.centre_prob)
    return cut_tiles(overlaid, frames, mask, [(y, x, tile, tile) for y, x in origins], context, filled, cand, masks, recorded)


def tiles_to_batch(tiles: Sequence[Tile], prefill_name: str, feather_px: float, context: int) -> dict[str, torch.Tensor]:
    """Stack tiles (all of one crop shape) into the tensors the trainer uses (all float32,
    ``[B, T, C, crop_h, crop_w]``).

    ``x``: the model input (prefilled RGB in [-1, 1] + mask). ``overlaid``/``target``: RGB in
    [-1, 1]. ``alpha``: the filter's feathered composite weight. ``core``: 1 on the tile core
    (the only pixels the filter keeps), 0 on the context ring.
    """
    prefill = None if is_temporal(prefill_name) else get_prefill(prefill_name)
    T, ch, cw = tiles[0].clean.shape[:3]
    B = len(tiles)
    cands = tiles[0].cand is not None
    x = np.empty((B, T, RECORDED_CHANNELS.stop if cands else 4, ch, cw), np.float32)
    alpha = np.empty((B, T, 1, ch, cw), np.float32)
    glyph = np.zeros((B, T, 1, ch, cw), np.float32)
    for b, tl in enumerate(tiles):
        for t in range(T):
            # Same op order as OSDFilter.model_input: prefill the crop (or take the whole-frame
            # fill's crop), then scale.
            img = tl.filled[t] if tl.filled is not None else prefill(tl.overlaid[t], tl.mask[t])
            if cands:  # scaled below, all channels at once
                x[b, t, :3] = img.transpose(2, 0, 1)
                x[b, t, CAND_CHANNELS] = tl.cand[t].transpose(2, 0, 1)
                x[b, t, RECORDED_CHANNELS] = (tl.overlaid if tl.recorded is None else tl.recorded)[t].transpose(2, 0, 1)
            else:
                x[b, t, :3] = img.transpose(2, 0, 1) / 127.5 - 1.0
            x[b, t, 3] = tl.mask[t]
            alpha[b, t, 0] = feather(tl.mask[t], feather_px)
        if tl.glyph is not None:
            glyph[b, :, 0] = tl.glyph
    if cands:  # as OSDFilter scales them
        scale, offset = input_scaling(x.shape[2])
        x *= scale
        x += offset
    core = np.zeros((1, 1, 1, ch, cw), np.float32)
    core[..., context : ch - context, context : cw - context] = 1.0
    to_pm1 = lambda a: np.stack(a).transpose(0, 1, 4, 2, 3).astype(np.float32) / 127.5 - 1.0  # noqa: E731
    return {
        "x": torch.from_numpy(x),
        "overlaid": torch.from_numpy(to_pm1([t.overlaid for t in tiles])),
        "target": torch.from_numpy(to_pm1([t.clean for t in tiles])),
        "alpha": torch.from_numpy(alpha),
        "mask": torch.from_numpy(x[:, :, 3:4].copy()),
        "glyph": torch.from_numpy(glyph),
        "core": torch.from_numpy(np.broadcast_to(core, (B, T, 1, ch, cw)).copy()),
    }


class GeneratedBatches(torch.utils.data.Dataset):
    """``dataset[step]`` is the batch of training step ``step`` (for this rank): a pure function
    of (seed, step, rank), so exact resume needs only the step counter."""

    def __init__(self, segments: Sequence[Segment], fonts: list[OSDFont], cfg: TrainConfig, tile: int, context: int, rank: int = 0) -> None:
        self.segments, self.fonts, self.cfg = list(segments), fonts, cfg
        self.tile, self.context, self.rank = tile, context, rank

    def __len__(self) -> int:
        return self.cfg.steps

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        rng = np.random.default_rng([cfg.seed, int(step), self.rank])
        tiles: list[Tile] = []
        while len(tiles) < cfg.batch:
            n = min(CROPS_PER_CANVAS, cfg.batch - len(tiles))
            tiles += render_tiles(self.segments, self._fonts_for(rng), rng, cfg, n, self.tile, self.context)
        return tiles_to_batch(tiles, cfg.prefill, cfg.feather, self.context)

    def _fonts_for(self, rng: np.random.Generator) -> list[OSDFont]:
        # The built-in renderer keeps its share even when many font files are given.
        return [] if rng.random() < self.cfg.builtin_font_prob else self.fonts


def validation_batches(segments: Sequence[Segment], fonts: list[OSDFont], cfg: TrainConfig, tile: int, context: int, batch: int = 8) -> dict[str, list[dict[str, torch.Tensor]]]:
    """A fixed validation set per mask mode ("exact" and "box"), ``cfg.val_clips`` tiles each.

    Drawn once from held-out frames with ``cfg.val_seed``; one tile per rendered clip so the
    set spans as many clips and OSD setups as possible.
    """
    out: dict[str, list[dict[str, torch.Tensor]]] = {}
    for k, mode in enumerate(("exact", "box")):
        rng = np.random.default_rng([cfg.val_seed, k])
        tiles: list[Tile] = []
        for _ in range(cfg.val_clips):
            f = [] if rng.random() < cfg.builtin_font_prob else fonts
            tiles += render_tiles(segments, f, rng, cfg, 1, tile, context, mode=mode)
        out[mode] = [tiles_to_batch(tiles[i : i + batch], cfg.prefill, cfg.feather, context) for i in range(0, len(tiles), batch)]
    return out
