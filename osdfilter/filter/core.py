"""The frame-level filter: push RGB frames, receive restored frames, flush at the end.

Per frame, with a temporal prefill: the fill (:mod:`osdfilter.filter.lookahead`) finishes a
frame once ``lookahead`` later frames have arrived (they show what the OSD hides now).
Per chunk of ``chunk`` finished frames:
    regions around the mask (fixed positions) → classical prefill inside the mask →
    model on the regions, batched by shape (each region carries its own (h, c) across
    chunks; with a temporal prefill only in the frames where the fill needs it) →
    region cores pasted back → composited over the original frame with a feathered alpha.
Outside the dilated, feathered mask the output pixels are the input pixels, exactly.
Memory is bounded by ``chunk + lookahead`` frames, whatever the video's length.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..masks.image import dilate, feather
from ..model.network import RecurrentUNet, is_gate
from ..model.runners import IdentityRunner, Runner, TorchRunner
from .fill import get_prefill, is_temporal
from .lookahead import CAND_RGB, CANDIDATES, DEFAULT_LOOKAHEAD, Filled, FrameMaps, LookaheadConfig, LookaheadFill
from .steady import CropMotion, crop_motion, steady_chunk
from .tiles import TilePlan, crop_sources, plan_crop, plan_tiles

# A candidates model's input channels (ModelConfig.inputs): after the fill's RGB and the
# mask, the fill's candidates, then the frame as recorded.
CAND_CHANNELS = slice(4, 4 + len(CANDIDATES))
RECORDED_CHANNELS = slice(CAND_CHANNELS.stop, CAND_CHANNELS.stop + 3)


def input_scaling(channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(scale, offset)`` (float32 ``[channels, 1, 1]``) taking a candidates
    model's input, built from uint8 images and the mask, to the model's range: colours to
    [-1, 1], scores to [0, 1], the mask as is. The filter and the trainer both use it."""
    scale, offset = np.ones((channels, 1, 1), np.float32), np.zeros((channels, 1, 1), np.float32)
    cands = np.arange(CAND_CHANNELS.start, CAND_CHANNELS.stop)
    colours = np.r_[0:3, cands[list(CAND_RGB)], RECORDED_CHANNELS.start:RECORDED_CHANNELS.stop]
    scale[np.setdiff1d(cands, colours)] = 1.0 / 255.0
    scale[colours], offset[colours] = 1.0 / 127.5, -1.0
    return scale, offset


# A model's hints (tile, context) are for frames up to this long side. The network was
# trained on frames of at most 540 rows: at 1080p the glyphs' strokes and outlines, and the
# scene's texture, are twice the size it learned them at, and it restores them better at
# half size (network_factor; docs/benchmarks.md).
NETWORK_SIDE = 1280


def network_factor(height: int, width: int) -> int:
    """How many times smaller than a ``height`` x ``width`` frame the network sees it: the
    smallest whole factor that brings the long side to :data:`NETWORK_SIDE` or below (2 at
    1080p). A whole factor: a block mean going in, no resampling phase coming back."""
    return max(1, -(-max(height, width) // NETWORK_SIDE))


def scaled_context(hint: int, height: int, width: int) -> int:
    """A model's context hint (px, for frames up to :data:`NETWORK_SIDE` on their long side)
    for a frame of ``height`` x ``width``: grown with the long side above (a 1080p frame's OSD
    glyphs are 1.5x a 720p frame's), rounded up to a multiple of 4. On 1080p glyphs an 8 px
    context left more of their outlines as ghosts than 12 or 16."""
    side = max(height, width)
    return hint if side <= NETWORK_SIDE else 4 * -(-hint * side // (NETWORK_SIDE * 4))


class OverlayScreen:
    """Where the camera moves, the masked pixels that stay put on the screen are overlay, not
    background: the network's recorded channel shows the fill there instead. (It read held-out
    glyphs' outlines as background and kept them as ghosts.) A running mean and mean square of
    each pixel's luma say which stay put; the camera moves where the pixels just around the
    mask do not. Reset at a cut."""

    WEIGHT = 0.25  # of the newest frame in the running means
    SETTLE = 4  # frames after a cut before anything is screened
    STILL = 3.0  # luma std (0-255) below which a masked pixel stays put
    MOVING = 3.0  # median luma std around the mask above which the camera moves
    DIFFER = 20  # ... and which differs from the fill by more than this (max of RGB)
    BAND = 7  # px around the mask where the camera's motion is read

    def __init__(self, region: np.ndarray) -> None:
        k = np.ones((2 * self.BAND + 1, 2 * self.BAND + 1), np.uint8)
        self._kernel = k
        self._idx = np.flatnonzero(cv2.dilate(region.view(np.uint8), k))  # the only pixels followed
        self.reset()

    def reset(self) -> None:
        self._m1: Optional[np.ndarray] = None
        self._m2: Optional[np.ndarray] = None
        self._n = 0

    def __call__(self, frame: np.ndarray, filled: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``frame`` with its screened pixels (in ``mask``) replaced by ``filled``'s."""
        idx = self._idx
        g = np.take(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).reshape(-1), idx).astype(np.float32)
        if self._m1 is None:
            self._m1, self._m2, self._n = g, g * g, 1
            return frame
        self._m1 += self.WEIGHT * (g - self._m1)
        self._m2 += self.WEIGHT * (g * g - self._m2)
        self._n += 1
        if self._n < self.SETTLE:
            return frame
        std = np.sqrt(np.maximum(self._m2 - self._m1 * self._m1, 0.0))
        m8 = mask.view(np.uint8)
        inside = np.take(m8.reshape(-1), idx) > 0
        band = (np.take(cv2.dilate(m8, self._kernel).reshape(-1), idx) > 0) & ~inside
        if not band.any() or float(np.median(std[band])) <= self.MOVING:
            return frame
        cand = idx[inside & (std < self.STILL)]
        differ = np.abs(np.take(frame.reshape(-1, 3), cand, axis=0).astype(np.int16) - np.take(filled.reshape(-1, 3), cand, axis=0)).max(1) > self.DIFFER
        if not differ.any():
            return frame
        out = frame.copy()
        out.reshape(-1, 3)[cand[differ]] = filled.reshape(-1, 3)[cand[differ]]
        return out


def screen_sequence(frames: np.ndarray, filled: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """:class:`OverlayScreen` over a clip from a fresh state, as the filter applies it (the
    trainer builds the network's recorded channel with it)."""
    screen = OverlayScreen(np.logical_or.reduce(np.asarray(masks, bool)))
    return np.stack([screen(f, fl, np.asarray(m, bool)) for f, fl, m in zip(frames, filled, masks)])


@dataclass(frozen=True)
class FilterConfig:
    """How frames are chunked, masks grown and tiles laid out (model-independent)."""

    chunk: int = 8  # frames per model call; the output does not depend on it
    dilate: int = 2  # px the mask is grown by (outline, codec ringing)
    feather: float = 1.5  # px of soft blend outside the dilated mask
    tile: Optional[int] = None  # tile core size; None = the model's hint
    context: Optional[int] = None  # context margin; None = the model's hint (scaled_context)
    # With a temporal prefill: a region skips the network in a frame where at most this
    # fraction of its masked pixels fell back to the fill's fallback (the rest was carried from
    # other frames). None = always run it; "model" = the model's own measured hint
    # (ModelConfig.gate).
    gate: Union[float, None, str] = "model"
    # With a temporal prefill: later frames the fill may take background from (latency and
    # memory of this many frames; 0 = only earlier frames).
    lookahead: int = DEFAULT_LOOKAHEAD
    # With a temporal prefill, where the camera is still: from one frame to the next a
    # restored pixel moves at most this many times as far as the fill under it did. A still
    # scene then settles as the fill does, instead of shimmering where codec noise on a
    # glyph's edge tips the network between the recorded pixel and the fill. None = off.
    steady: Optional[float] = 1.0
    # ... and where it moves by at most this many px a frame (a group's box, at any corner):
    # the same, along the motion (the previous frame's restored pixels and fill moved with
    # it). Faster motion is left alone: there the fitted motion misplaces texture by more
    # than the network's step. None = still cameras only.
    steady_motion: Optional[float] = 3.0

    def __post_init__(self) -> None:
        def whole(name: str, low: int, optional: bool = False) -> None:
            value = getattr(self, name)
            if optional and value is None:
                return
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be a whole number >= {low}{' or None' if optional else ''}, got {value!r}")

        whole("chunk", 1)
        whole("lookahead", 0)
        whole("dilate", 0)
        whole("tile", 1, optional=True)
        whole("context", 0, optional=True)  # (a negative one cropped the restored regions wrongly)
        if not (isinstance(self.feather, (int, float)) and 0 <= self.feather < float("inf")):
            raise ValueError(f"feather must be a number >= 0, got {self.feather!r}")
        for name in ("steady", "steady_motion"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not (isinstance(value, (int, float)) and 0 <= value < float("inf"))):
                raise ValueError(f"{name} must be a number >= 0 or None, got {value!r}")
        if self.gate != "model" and not is_gate(self.gate):
            raise ValueError(f"gate must be in [0, 1), None or 'model', got {self.gate!r}")


@dataclass
class Analysed:
    """One frame after :meth:`OSDFilter.analyse`, for :meth:`OSDFilter.prepare_analysed`."""

    frame: np.ndarray  # uint8 [H, W, 3] as decoded
    mask: np.ndarray  # bool [H, W] this frame's (dilated) mask
    cut: bool = False  # a scene cut before this frame
    maps: Optional[FrameMaps] = None  # the temporal fill's analysis of it (None: no temporal fill)


@dataclass
class Prepared:
    """One frame ready for the model (:meth:`OSDFilter.prepare`)."""

    frame: np.ndarray  # uint8 [H, W, 3] as decoded
    mask: np.ndarray  # bool [H, W] this frame's (dilated) mask
    crops: list[np.ndarray]  # per region shape: float32 [regions, C, crop_h, crop_w] (C: the model's in_channels)
    cut: bool = False  # a scene cut before this frame: reset the recurrent state here
    needs: Optional[np.ndarray] = None  # bool [regions] in plan order: the network must run (FilterConfig.gate; None: always)
    # The chunk buffers (per region shape ``[regions, chunk, C, crop_h, crop_w]``) whose
    # ``slot`` the crops are views of: a chunk of consecutive slots needs no stacking.
    chunk: Optional[list[np.ndarray]] = None
    slot: int = 0
    # With a lookahead fill, :meth:`OSDFilter.prepare` returns the pushed frame (no crops) and
    # here the earlier frames that this one finished, ready for the model (None: itself is).
    ready: Optional[list["Prepared"]] = None
    # Per region shape, per region: where the camera was still or moved slowly
    # (FilterConfig.steady, steady_motion), rectangles of the crop and their maps to the
    # previous frame's crop (steady.CropMotion).
    motion: Optional[list[list[CropMotion]]] = None


@dataclass
class Restored:
    """One frame out of the model, not yet composited (:meth:`OSDFilter.restore_prepared`)."""

    item: Prepared
    crops: list[np.ndarray]  # per region, in plan order: float32 [3, crop_h, crop_w] in [-1, 1]


class OSDFilter:
    """Streaming OSD removal for frames of one size.

    ``mask`` (bool ``[H, W]``) is the overlay's extent over the whole video (the union, if
    masks change per frame); tiles are planned on it once. ``push(frame, frame_mask)`` may
    pass a per-frame mask that must lie within ``mask``.
    """

    def __init__(self, runner: Runner, mask: np.ndarray, config: FilterConfig = FilterConfig()) -> None:
        if isinstance(runner, RecurrentUNet):  # a built network runs in PyTorch where it is
            runner = TorchRunner(runner, next(runner.parameters()).device)
        if not (hasattr(runner, "step") and hasattr(runner, "config")):
            raise TypeError(f"runner must be a Runner (osdfilter.model.runners.make_runner(model)), got {type(runner).__name__}")
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise ValueError(f"mask must be a 2-D array [H, W] (non-zero = overlay), got shape {mask.shape}")
        mask = mask != 0  # as process_video reads an array (a float mask of 0.5s was empty)
        self.runner = runner
        self.config = config
        mc = runner.config
        self.height, self.width = mask.shape
        self.mask = dilate(mask, config.dilate)
        self._alpha_pad = int(np.ceil(2 * config.feather))
        # Tiles must cover everything the composite can touch (mask + feather band).
        self.plan: TilePlan = plan_tiles(
            dilate(self.mask, self._alpha_pad) if self._alpha_pad else self.mask,
            config.tile or mc.tile,
            config.context if config.context is not None else scaled_context(mc.context, self.height, self.width),
        )
        # A temporal prefill fills whole frames in order (its memory spans tiles and chunks,
        # ``lookahead`` frames ahead); a stateless one fills each tile crop.
        self._cand = mc.inputs == "candidates"  # the model also takes the fill's candidates
        self.gate = mc.gate if config.gate == "model" else config.gate
        self._temporal = (LookaheadFill(self.mask, LookaheadConfig(lookahead=config.lookahead), self._cand, crop_sources(self.plan))
                          if is_temporal(mc.prefill) else None)
        self._scale, self._offset = input_scaling(mc.in_channels) if self._cand else (None, None)
        self._screen = OverlayScreen(self.mask) if self._cand and self._temporal is not None else None
        # (Without a network nothing is corrected: the shrinking would only cost time.)
        self._factor = 1 if isinstance(runner, IdentityRunner) else network_factor(self.height, self.width)
        # FilterConfig.steady holds a network's output to the fill's steps: without a network the
        # output is the fill (nothing to hold, and moving the held frames would cost time).
        self._steady_on = config.steady is not None and self._temporal is not None and not isinstance(runner, IdentityRunner)
        self._prefill = None if self._temporal else get_prefill(mc.prefill)
        self._cuts: deque[bool] = deque()  # the cut flags of the frames inside the fill
        self._groups = self.plan.groups()
        self._alpha = feather(self.mask, config.feather)  # the static mask's alpha, computed once
        self._items: list[Prepared] = []
        self.state: Any = None
        # FilterConfig.steady's memory, per region shape: the last frame's fill (model scale)
        # and restored crops (reset with the recurrent state).
        self._held: Optional[list] = None
        # Where _crops writes the next frame's crops: slot ``_slot`` of ``_chunk`` (new
        # buffers at a cut and after ``chunk`` frames, where restore_prepared starts a chunk).
        self._chunk: Optional[list[np.ndarray]] = None
        self._slot = 0

    @property
    def is_empty(self) -> bool:
        return len(self.plan) == 0

    def reset(self) -> list[np.ndarray]:
        """Scene cut or new clip: flush buffered frames, then start from a zero state."""
        out = self.flush()
        self.state = self._held = None
        if self._temporal is not None:
            self._temporal.reset()  # (flushed above: returns nothing)
        if self._screen is not None:
            self._screen.reset()
        return out

    def push(self, frame: np.ndarray, frame_mask: Optional[np.ndarray] = None) -> list[np.ndarray]:
        """Add one uint8 RGB frame ``[H, W, 3]``; returns the frames completed by it (maybe none).

        The frame is copied: a caller may read the next one into the same buffer (the filter
        keeps frames until their chunk is done)."""
        if isinstance(frame, np.ndarray) and frame.shape == (self.height, self.width, 3) and frame.dtype == np.uint8:
            frame = frame.copy()  # (anything else: prepare's one-line error)
        return self.push_prepared(self.prepare(frame, frame_mask))

    def prepare(self, frame: np.ndarray, frame_mask: Optional[np.ndarray] = None, cut: bool = False) -> Prepared:
        """The per-frame half of :meth:`push`: mask, prefill and the model's crops.

        Keeps a reference to ``frame`` until its chunk is restored (:meth:`push` copies it).
        Call in frame order (a temporal prefill carries memory from frame to frame); ``cut``
        marks a scene cut before this frame (the prefill forgets its memory here, the
        recurrent state is reset when the frame reaches :meth:`push_prepared`). Separate from
        the model so that a pipeline can prepare frame t+1 while the model runs on frame t;
        itself :meth:`analyse` then :meth:`prepare_analysed`, which a pipeline may run in two
        threads as well.
        """
        return self.prepare_analysed(self.analyse(frame, frame_mask, cut))

    def analyse(self, frame: np.ndarray, frame_mask: Optional[np.ndarray] = None, cut: bool = False) -> Analysed:
        """:meth:`prepare`'s first half: the frame's mask and, with a temporal prefill, its
        motion from the frame analysed before it. Call in frame order; it may run ahead of
        :meth:`prepare_analysed`."""
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"expected uint8 frame of shape {(self.height, self.width, 3)}, got {frame.dtype} {frame.shape}")
        mask = self.mask if frame_mask is None else dilate(frame_mask, self.config.dilate) & self.mask
        return self._analyse(frame, mask, cut)

    def _analyse(self, frame: np.ndarray, mask: np.ndarray, cut: bool = False) -> Analysed:
        """:meth:`analyse` with the final (dilated) mask of this frame."""
        maps = None if self.is_empty or self._temporal is None else self._temporal.analyse(frame, mask, cut)
        return Analysed(frame, mask, cut, maps)

    def prepare_analysed(self, a: Analysed) -> Prepared:
        """:meth:`prepare`'s second half, for the frames from :meth:`analyse` in order: the
        fill and the model's crops."""
        if self.is_empty:
            return Prepared(a.frame, a.mask, [], a.cut)
        if self._temporal is None:
            return self._crops(a.frame, a.frame, a.mask, a.cut)
        # A cut finishes the frames before it with what they have; the fill starts afresh.
        ready = self._temporal.add(a.maps, a.cut)
        self._cuts.append(a.cut)
        return Prepared(a.frame, a.mask, [], a.cut, ready=[self._finished(f) for f in ready])

    def _finished(self, f: Filled) -> Prepared:
        """A frame the temporal fill finished, with the model's crops (in frame order)."""
        cut = self._cuts.popleft()
        needs = self._needs(f.mask, f.conf) if self.gate is not None else None
        item = self._crops(f.frame, f.filled, f.mask, cut, needs, f.cand)
        if f.motion is not None and self._steady_on:
            item.motion = crop_motion(f.motion, self.config.steady_motion, self.plan, self._groups)
        return item

    def _crops(self, frame: np.ndarray, filled: np.ndarray, mask: np.ndarray, cut: bool,
               needs: Optional[np.ndarray] = None, cand: Optional[np.ndarray] = None) -> Prepared:
        """The model's crops of ``filled`` (the stateless prefill per crop) into the chunk buffers."""
        plan = self.plan
        mask8 = mask.view(np.uint8)
        # The crops go straight into the chunk the model will take (restore_prepared starts
        # one at a cut and after ``chunk`` frames): stacking a chunk's frames copied them all
        # again.
        if cut or self._chunk is None or self._slot == self.config.chunk:
            c = self.runner.config.in_channels
            self._chunk = [np.empty((len(idx), self.config.chunk, c, ch, cw), np.float32) for (ch, cw), idx in self._groups]
            self._slot = 0
        chunk, slot = self._chunk, self._slot
        self._slot += 1
        recorded = frame
        if self._screen is not None:  # (a candidates model on the temporal fill: cand is set)
            if cut:
                self._screen.reset()
            recorded = self._screen(frame, filled, mask)
        crops = []
        for g, ((ch, cw), idx) in enumerate(self._groups):
            x = chunk[g][:, slot]
            for k, i in enumerate(idx):
                # Crops one by one: padding the whole frame (and mask) first cost a full copy.
                img, m = plan_crop(filled, plan, plan.cores[i]), plan_crop(mask8, plan, plan.cores[i])
                img = img if self._prefill is None else self._prefill(img, m.astype(bool))
                x[k, :3] = img.transpose(2, 0, 1)
                x[k, 3] = m
                if cand is not None:
                    x[k, CAND_CHANNELS] = plan_crop(cand, plan, plan.cores[i]).transpose(2, 0, 1)
                    x[k, RECORDED_CHANNELS] = plan_crop(recorded, plan, plan.cores[i]).transpose(2, 0, 1)
            if cand is None:
                x[:, :3] *= 1.0 / 127.5  # one vectorised scale per group instead of one per crop
                x[:, :3] -= 1.0
            else:
                x *= self._scale
                x += self._offset
            crops.append(x)
        return Prepared(frame, mask, crops, cut, needs, chunk, slot)

    def _needs(self, mask: np.ndarray, conf: np.ndarray) -> np.ndarray:
        """Per region: whether more than ``self.gate`` of its masked pixels in this frame
        were filled by the spatial fill rather than from other frames (the temporal fill's
        confidence ``conf`` is 0 there)."""
        out = np.zeros(len(self.plan), bool)
        for i, (y, x, h, w) in enumerate(self.plan.cores):  # the cores only, not the whole frame
            m = mask[y : y + h, x : x + w]
            n = np.count_nonzero(m)
            out[i] = n > 0 and np.count_nonzero(m & (conf[y : y + h, x : x + w] == 0.0)) > self.gate * n
        return out

    def push_prepared(self, item: Prepared) -> list[np.ndarray]:
        """The model half of :meth:`push`, for a frame from :meth:`prepare` (in order)."""
        return [self.composite(r) for r in self.restore_prepared(item)]

    def flush(self) -> list[np.ndarray]:
        """Process whatever is buffered (the fill's lookahead, a partial last chunk) and return it."""
        self._chunk = None  # the next frame starts a chunk: prepare's buffers start one too
        out = [self.composite(r) for r in self.flush_restored()]
        self._chunk = None
        return out

    def restore_prepared(self, item: Prepared) -> list[Restored]:
        """:meth:`push_prepared` without the composite: the model's regions for each frame
        completed, for a caller that composites into its own pixel format (the stream
        composites into the decoded YUV planes). Frames come out in order, one per frame
        pushed, ``lookahead`` frames late with a temporal prefill."""
        out: list[Restored] = []
        for it in item.ready if item.ready is not None else [item]:
            out += self._take(it)
        return out

    def _take(self, item: Prepared) -> list[Restored]:
        out: list[Restored] = []
        if item.cut:
            out = self._run_items()
            self.state = self._held = None
        self._items.append(item)
        if len(self._items) >= self.config.chunk:
            out += self._run_items()
        return out

    def flush_restored(self) -> list[Restored]:
        """:meth:`flush` without the composite. Called after the last :meth:`prepare` (the
        frames still inside the temporal fill are finished here)."""
        out: list[Restored] = []
        if self._temporal is not None and not self.is_empty:
            for f in self._temporal.flush():
                out += self._take(self._finished(f))
        return out + self._run_items()

    def _run_items(self) -> list[Restored]:
        """The model on the frames collected so far (a full or partial chunk)."""
        items, self._items = self._items, []
        if not items:
            return []
        if self.is_empty:
            return [Restored(it, []) for it in items]
        needs = None if any(it.needs is None for it in items) else np.stack([it.needs for it in items])
        motion = [it.motion for it in items] if any(it.motion is not None for it in items) else None
        restored = self._run_tiles(self._stack(items), needs, motion)
        return [Restored(it, r) for it, r in zip(items, restored)]

    def composite(self, restored: Restored) -> np.ndarray:
        """The output RGB frame: the input outside the feathered mask, the restored region
        cores blended in inside it."""
        return self._composite(restored.item.frame, restored.crops, restored.item.mask)

    def cores(self, crops: list[np.ndarray], mask: np.ndarray, align: int = 1,
              planar: bool = False) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
        """Per region core of a :class:`Restored` frame's ``crops`` and (dilated) ``mask``, in
        plan order: ``(y, x, rgb, alpha)`` with the restored RGB (float32 ``[h, w, 3]``,
        0-255) and the blend weight (float32 ``[h, w, 1]``) of the frame's
        ``[y : y + h, x : x + w]``. Cores cover the mask and its feather band (alpha is 0
        elsewhere); where they overlap, later ones win.

        ``align`` > 1 grows each core outwards to multiples of ``align`` (within the frame),
        with the model's output from the crop's context margin, e.g. 2 for 4:2:0 chroma.
        ``planar``: ``rgb`` is the model's output as it is, a view ``[3, h, w]`` in [-1, 1]
        (no conversion: the 4:2:0 composite folds the scale into its colour matrix).
        """
        alpha = self._alpha if mask is self.mask else feather(mask, self.config.feather)
        c = self.plan.context
        for (y, x, ch, cw), crop in zip(self.plan.cores, crops):
            y1, x1 = min(y + ch, self.height), min(x + cw, self.width)
            if align > 1:
                y0, x0 = y - y % align, x - x % align
                y1, x1 = min(-(-y1 // align) * align, self.height), min(-(-x1 // align) * align, self.width)
                grow = max(y - y0, x - x0, y1 - y - ch, x1 - x - cw, 0)
                if grow > c:  # no context margin to grow into: repeat the crop's edge
                    crop = np.pad(crop, ((0, 0), (grow - c, grow - c), (grow - c, grow - c)), mode="edge")
                    cy, cx = grow - (y - y0), grow - (x - x0)
                else:
                    cy, cx = c - (y - y0), c - (x - x0)
                y, x = y0, x0
            else:
                cy = cx = c
            h, w = y1 - y, x1 - x
            region = crop[:, cy : cy + h, cx : cx + w]
            yield y, x, region if planar else (region.transpose(1, 2, 0) + 1.0) * 127.5, alpha[y:y1, x:x1, None]

    def model_input(self, frames: list[np.ndarray], masks: list[np.ndarray]) -> list[np.ndarray]:
        """The model's input for a chunk, one array per region shape (``self.plan.groups()``):
        ``[regions, T, C, crop_h, crop_w]``, prefilled RGB in [-1, 1] + mask (+ candidates). ``masks`` are
        final (already dilated) per-frame masks. Advances a temporal prefill's memory."""
        items = [self.prepare_analysed(self._analyse(f, m)) for f, m in zip(frames, masks)]
        ready = [r for it in items for r in (it.ready if it.ready is not None else [it])]
        if self._temporal is not None and not self.is_empty:
            ready += [self._finished(f) for f in self._temporal.flush()]
        return self._stack(ready)

    @staticmethod
    def _stack(items: list[Prepared]) -> list[np.ndarray]:
        """Per region shape, the chunk's crops stacked along time: ``[regions, T, C, h, w]``
        (a view of their chunk buffers when they are its consecutive slots, else a copy)."""
        first = items[0]
        if first.chunk is not None and all(it.chunk is first.chunk and it.slot == first.slot + t for t, it in enumerate(items)):
            return [buf[:, first.slot : first.slot + len(items)] for buf in first.chunk]
        return [np.stack([it.crops[g] for it in items], axis=1) for g in range(len(first.crops))]

    def _run_tiles(self, xs: list[np.ndarray], needs: Optional[np.ndarray] = None,
                   motion: Optional[list[Optional[list[list[CropMotion]]]]] = None) -> list[list[np.ndarray]]:
        """Model over all regions of the chunk, one call per region shape (each group keeps
        its own state); returns per frame the restored crops ``[3, crop_h, crop_w]`` in
        plan order.

        ``needs`` (bool ``[T, regions]``, :attr:`FilterConfig.gate`): a group passes its
        prefilled crops through in the frames where none of its regions needs the network,
        and the run after such frames starts from a zero state (the old one describes the
        tile as it was frames ago). Decided per frame, so the output still does not depend
        on the chunk size. ``motion`` (per frame, :attr:`Prepared.motion` or None): where
        :attr:`FilterConfig.steady` applies (along the motion where the camera moved).
        """
        if self.state is None:
            self.state = [None] * len(self._groups)
        if self._held is None:
            self._held = [None] * len(self._groups)
        T = xs[0].shape[1]
        out: list[list[np.ndarray]] = [[None] * len(self.plan) for _ in range(T)]  # type: ignore[list-item]
        for g, ((_, idx), x) in enumerate(zip(self._groups, xs)):
            y = self._run_group(g, x, None if needs is None else needs[:, idx].any(axis=1))
            if self._steady_on:
                self._held[g] = steady_chunk(self._held[g], x, y, self.config.steady,
                                             None if motion is None else [None if m is None else m[g] for m in motion])
            for t in range(T):
                for k, i in enumerate(idx):
                    out[t][i] = y[k, t]
        return out

    def _run_group(self, g: int, x: np.ndarray, run: Optional[np.ndarray]) -> np.ndarray:
        """Group ``g``'s chunk ``x`` (``[regions, T, C, h, w]``) through the model in the
        frames where ``run`` (bool ``[T]``; None = all) is set, passed through elsewhere."""
        if run is None or run.all():
            return self._step(g, x)
        y = np.empty((*x.shape[:2], 3, *x.shape[3:]), np.float32)
        edges = [0, *(np.flatnonzero(run[1:] != run[:-1]) + 1).tolist(), len(run)]
        for t0, t1 in zip(edges[:-1], edges[1:]):  # runs of frames with the same decision
            if run[t0]:
                y[:, t0:t1] = self._step(g, x[:, t0:t1])
            else:
                y[:, t0:t1], self.state[g] = x[:, t0:t1, :3], None
        return y

    def _step(self, g: int, x: np.ndarray) -> np.ndarray:
        """The model on group ``g``'s crops ``x`` (``[regions, T, C, h, w]``), carrying its
        state. On a frame larger than the network's (:func:`network_factor` k > 1) it sees
        them k times smaller (block means; masked where any of a block is), and its correction
        of the fill comes back enlarged (bilinear) onto the full-size fill."""
        k = self._factor
        if k == 1:
            y, self.state[g] = self.runner.step(x, self.state[g])
            return y
        n, t, c, h, w = x.shape
        full = torch.from_numpy(np.ascontiguousarray(x)).reshape(n * t, c, h, w)
        small = F.interpolate(full, size=(-(-h // k), -(-w // k)), mode="area")
        small[:, 3] = (small[:, 3] > 0).float()
        small = small.reshape(n, t, c, *small.shape[2:]).numpy()
        y, self.state[g] = self.runner.step(small, self.state[g])
        fix = torch.from_numpy(np.ascontiguousarray(y - small[:, :, :3])).reshape(n * t, 3, *small.shape[3:])
        fix = F.interpolate(fix, size=(h, w), mode="bilinear", align_corners=False)
        return x[:, :, :3] + fix.reshape(n, t, 3, h, w).numpy()

    def _composite(self, frame: np.ndarray, crops: list[np.ndarray], mask: np.ndarray) -> np.ndarray:
        """Input outside the feathered mask, the region cores (in [-1, 1]) inside it.

        Only the cores are touched: they cover the mask and its feather band (alpha is 0
        elsewhere, where the output is the input exactly). Later cores overwrite earlier ones
        where they overlap, as a full-frame paste would; the result is bit-identical to
        compositing a full-frame canvas, at a fraction of the per-frame cost (speed issue).
        """
        out = frame.copy()
        for y, x, core, a in self.cores(crops, mask):
            h, w = a.shape[:2]
            blend = frame[y : y + h, x : x + w].astype(np.float32) * (1.0 - a) + core * a
            out[y : y + h, x : x + w] = np.clip(blend + 0.5, 0, 255).astype(np.uint8)
        return out
