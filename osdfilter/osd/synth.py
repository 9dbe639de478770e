"""OSDSynth: render a random but fixed OSD layout over frames, with exact masks.

One synth = one pilot's setup: grid, font, cell size, element subset and positions, colours,
opacity and DVR degradations are sampled at construction; element values then change with
the frame index. Glyphs are pre-rendered once to premultiplied float32 RGBA and strings are
cached, so a frame costs one alpha blend per visible element.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from . import symbols as S
from .builtin import HERSHEY_FACES, BuiltinFace, render_builtin
from .elements import DEFAULT_PROBS
from .fonts import OSDFont
from .layout import Layout, make_layout

GRIDS = ((30, 16), (30, 13), (50, 18), (53, 20), (60, 22))  # cols x rows, OSD_CONVENTIONS.md


@dataclass
class OSDStyle:
    """Sampling ranges for a synth. Probabilities are per synth (per clip), not per frame."""

    grids: tuple[tuple[int, int], ...] = GRIDS
    cell_scale: tuple[float, float] = (0.5, 1.0)  # glyph height / (frame height / rows)
    min_cell_px: int = 8
    element_probs: dict = field(default_factory=lambda: dict(DEFAULT_PROBS))
    p_crosshair: float = 0.5
    p_ahi: float = 0.2
    p_sidebars: float = 0.2
    p_builtin: float = 0.3  # chance to use the builtin renderer even when fonts are given
    outline_px: tuple[float, float] = (1.0, 2.0)
    p_transparent: float = 0.25
    alpha_range: tuple[float, float] = (0.5, 0.9)
    p_colour_icons: float = 0.3
    p_tint_text: float = 0.08
    p_red_warning: float = 0.4
    p_blur: float = 0.3  # overlay-only blur (analog chain); the mask follows the blurred alpha
    blur_sigma: tuple[float, float] = (0.4, 1.0)
    p_chroma_bleed: float = 0.15  # the rest change the whole frame (like a DVR recording)
    p_noise: float = 0.25
    noise_sigma: tuple[float, float] = (1.0, 5.0)
    p_jpeg: float = 0.25
    jpeg_quality: tuple[int, int] = (40, 90)
    mask_threshold: float = 0.04  # overlay alpha below this is dropped, so mask == drawn pixels

    @classmethod
    def exact(cls, **kw) -> "OSDStyle":
        """No degradations: the composited frame differs from the clean one only inside the mask."""
        base = dict(p_blur=0.0, p_chroma_bleed=0.0, p_noise=0.0, p_jpeg=0.0)
        return cls(**{**base, **kw})


@dataclass
class _Look:
    """Per-synth appearance sampled from the style."""

    opacity: float
    text_tint: tuple[float, float, float]
    code_tints: dict
    blur_sigma: float
    chroma_shift: int
    noise_sigma: float
    jpeg_quality: int | None
    resize_interp: int


def _sample_look(rng: np.random.Generator, st: OSDStyle) -> _Look:
    opacity = rng.uniform(*st.alpha_range) if rng.random() < st.p_transparent else 1.0
    text_tint = (1.0, 1.0, 1.0)
    if rng.random() < st.p_tint_text:
        text_tint = tuple(rng.uniform(0.6, 1.0, size=3))
    code_tints = {}
    if rng.random() < st.p_colour_icons:
        palette = [(0.2, 1.0, 0.3), (1.0, 0.75, 0.1), (1.0, 0.25, 0.2), (0.3, 0.6, 1.0), (0.4, 1.0, 1.0)]
        for group, codes in S.COLOURABLE.items():
            colour = palette[int(rng.integers(len(palette)))]
            code_tints.update({c: colour for c in codes})
    return _Look(
        opacity=opacity,
        text_tint=text_tint,
        code_tints=code_tints,
        blur_sigma=rng.uniform(*st.blur_sigma) if rng.random() < st.p_blur else 0.0,
        chroma_shift=int(rng.integers(1, 4)) if rng.random() < st.p_chroma_bleed else 0,
        noise_sigma=rng.uniform(*st.noise_sigma) if rng.random() < st.p_noise else 0.0,
        jpeg_quality=int(rng.integers(*st.jpeg_quality)) if rng.random() < st.p_jpeg else None,
        resize_interp=int(rng.choice([cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_NEAREST])),
    )


class OSDSynth:
    """A sampled OSD setup for frames of one size; renders any frame index on demand.

    ``render_clip(frames)`` -> (overlaid uint8 [T,H,W,3], masks bool [T,H,W], boxes bool [T,H,W]);
    ``render_frame(frame, t)`` does the same for one frame at index ``t`` (streaming).
    """

    def __init__(self, height: int, width: int, rng: np.random.Generator | None = None,
                 fonts: list[OSDFont] | None = None, style: OSDStyle | None = None, fps: float = 30.0):
        if height < 1 or width < 1 or fps <= 0:
            raise ValueError(f"OSDSynth: bad size/fps: height={height} width={width} fps={fps}")
        rng = rng if rng is not None else np.random.default_rng()
        self.height, self.width, self.fps = int(height), int(width), float(fps)
        self.style = style or OSDStyle()
        self.font = self._pick_font(rng, fonts)
        self.face = BuiltinFace(
            face=int(rng.choice(HERSHEY_FACES)), italic=bool(rng.random() < 0.1),
            outline_px=float(rng.uniform(*self.style.outline_px)),
            stroke_px=1.0, text_height=float(rng.uniform(0.68, 0.85)))
        self.layout = make_layout(rng, self.height, self.width, self.style)
        ch = self.layout.cell_h
        # strokes scale with the cell; small cells keep a 1 px outline or glyphs turn black
        outline = min(self.face.outline_px, max(1.0, ch / 12))
        self.face = BuiltinFace(self.face.face, max(1.0, ch * rng.uniform(0.06, 0.12)),
                                outline, self.face.text_height, self.face.italic)
        self.look = _sample_look(rng, self.style)
        self._tint_warnings(rng)
        self.seed = int(rng.integers(2**62))  # per-frame noise is seeded from (seed, t)
        self._glyphs: dict = {}
        self._patches: dict = {}
        self._noise_tile: np.ndarray | None = None

    def _pick_font(self, rng, fonts) -> OSDFont | None:
        """A font file, or None for the builtin renderer."""
        if not fonts or rng.random() < self.style.p_builtin:
            return None
        return fonts[int(rng.integers(len(fonts)))]

    def _tint_warnings(self, rng) -> None:
        """Warnings are red in some setups (and in the colour pages of HD fonts)."""
        for p in self.layout.placed:
            if p.element.name == "warning" and rng.random() < self.style.p_red_warning:
                p.element.tint = (1.0, 0.25, 0.2)

    # ---- glyphs and strings ---------------------------------------------------------------
    def _glyph(self, code: int, tint) -> tuple[np.ndarray, np.ndarray]:
        """Premultiplied RGB float32 [ch,cw,3] and alpha [ch,cw] for a code, cached."""
        key = (code, tint)
        if key not in self._glyphs:
            ch, cw = self.layout.cell_h, self.layout.cell_w
            native = self.font.glyph(code) if self.font is not None else None
            if native is None:
                rgba = render_builtin(code, ch, cw, self.face).astype(np.float32) / 255.0
            else:
                rgba = native.astype(np.float32) / 255.0
                rgba[..., :3] *= rgba[..., 3:]  # resize premultiplied so edges don't fringe
                rgba = cv2.resize(rgba, (cw, ch), interpolation=self.look.resize_interp)
                rgba[..., :3] /= np.maximum(rgba[..., 3:], 1e-6)
            colour = np.asarray(tint or self.look.code_tints.get(code, self.look.text_tint), np.float32)
            alpha = np.clip(rgba[..., 3], 0, 1) * self.look.opacity
            self._glyphs[key] = (np.clip(rgba[..., :3], 0, 1) * colour * alpha[..., None], alpha)
        return self._glyphs[key]

    def _patch(self, rows: tuple[str, ...], tint) -> tuple[np.ndarray, np.ndarray, int]:
        """Composited string block: premult RGB, alpha (thresholded) and its padding in px."""
        key = (rows, tint)
        if key in self._patches:
            return self._patches[key]
        ch, cw = self.layout.cell_h, self.layout.cell_w
        sigma = self.look.blur_sigma
        pad = int(np.ceil(3 * sigma))
        n = max(len(r) for r in rows)
        rgb = np.zeros((len(rows) * ch + 2 * pad, n * cw + 2 * pad, 3), np.float32)
        alpha = np.zeros(rgb.shape[:2], np.float32)
        for i, row in enumerate(rows):
            for j, c in enumerate(row):
                if c != " ":
                    g_rgb, g_a = self._glyph(ord(c), tint)
                    ys, xs = slice(pad + i * ch, pad + (i + 1) * ch), slice(pad + j * cw, pad + (j + 1) * cw)
                    rgb[ys, xs] = g_rgb + rgb[ys, xs] * (1 - g_a[..., None])
                    alpha[ys, xs] = g_a + alpha[ys, xs] * (1 - g_a)
        if sigma > 0:
            rgb, alpha = cv2.GaussianBlur(rgb, (0, 0), sigma), cv2.GaussianBlur(alpha, (0, 0), sigma)
        keep = alpha >= self.style.mask_threshold  # below it, nothing is drawn: mask is exact
        rgb *= keep[..., None]
        alpha *= keep
        if len(self._patches) > 2048:
            self._patches.clear()  # timers with hundredths make a new string every frame
        self._patches[key] = (rgb, alpha, pad)
        return self._patches[key]

    # ---- per frame ------------------------------------------------------------------------
    def _items(self, t: int):
        """For each visible element at frame ``t``: (premult rgb, alpha, top, left, cell box)."""
        seconds = t / self.fps
        ch, cw = self.layout.cell_h, self.layout.cell_w
        for p in self.layout.placed:
            rows = tuple(p.element.rows(seconds, t))
            if not rows or not any(r.strip() for r in rows):
                continue
            rgb, alpha, pad = self._patch(rows, p.element.tint)
            width = max(len(r) for r in rows) * cw
            left = {"left": p.x, "right": p.x - width, "centre": p.x - width / 2}[p.align]
            top, left = int(round(p.y)) - pad, int(round(left)) - pad
            yield rgb, alpha, top, left, _cell_box(rows, ch, cw, pad)

    def _draw(self, t: int, out: np.ndarray | None, mask: np.ndarray, box: np.ndarray) -> None:
        """Blend every element of frame ``t`` into ``out`` (if given) and mark mask and boxes."""
        for rgb, alpha, top, left, (by0, by1, bx0, bx1) in self._items(t):
            fy, fx, py, px = _clip(top, left, alpha.shape, mask.shape)
            if fy is None:
                continue  # element entirely off this frame (small crops)
            a = alpha[py, px]
            mask[fy, fx] |= a > 0
            bfy, bfx, _, _ = _clip(top + by0, left + bx0, (by1 - by0, bx1 - bx0), mask.shape)
            if bfy is not None:
                box[bfy, bfx] = True
            if out is not None:  # blend only the element's rectangle, in float, then round
                region = out[fy, fx].astype(np.float32)
                region = region * (1 - a[..., None]) + rgb[py, px] * 255.0
                out[fy, fx] = np.clip(region + 0.5, 0, 255).astype(np.uint8)

    def render_frame(self, frame: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Overlay frame index ``t``: (uint8 [H,W,3], mask bool [H,W], boxes bool [H,W])."""
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"OSDSynth: frame must be uint8 {(self.height, self.width, 3)}, "
                             f"got {frame.dtype} {frame.shape}")
        mask = np.zeros((self.height, self.width), bool)
        box = np.zeros_like(mask)
        out = frame.copy()
        self._draw(int(t), out, mask, box)
        return self._degrade(out, int(t)), mask, box

    def render_clip(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Overlay a clip uint8 [T,H,W,3] from frame index 0: (overlaid, masks, boxes)."""
        frames = np.asarray(frames)
        if frames.ndim != 4:
            raise ValueError(f"OSDSynth: frames must be [T,H,W,3], got shape {frames.shape}")
        out = np.empty_like(frames)
        masks = np.empty(frames.shape[:3], bool)
        boxes = np.empty_like(masks)
        for t, frame in enumerate(frames):  # written in place: stacking would copy every frame again
            out[t], masks[t], boxes[t] = self.render_frame(frame, t)
        return out, masks, boxes

    def frame_mask(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """(mask, boxes) of frame ``t`` without compositing any pixels."""
        mask = np.zeros((self.height, self.width), bool)
        box = np.zeros_like(mask)
        self._draw(int(t), None, mask, box)
        return mask, box

    def union_mask(self, T: int) -> np.ndarray:
        """Union over frames 0..T-1 of the per-frame masks: what a user would paint."""
        union = np.zeros((self.height, self.width), bool)
        for t in range(int(T)):
            union |= self.frame_mask(t)[0]
        return union

    # ---- DVR degradations of the whole frame ----------------------------------------------
    def _noise(self, t: int) -> np.ndarray:
        """Noise for frame ``t``: a window of one tile made per synth (fresh normals per frame
        are slow), moved by a (seed, t)-seeded offset so it changes every frame."""
        if self._noise_tile is None:
            rng = np.random.default_rng(self.seed)
            shape = (self.height + 32, self.width + 32, 3)
            self._noise_tile = np.round(rng.standard_normal(shape, np.float32) * self.look.noise_sigma).astype(np.int16)
        dy, dx = np.random.default_rng([self.seed, t]).integers(0, 33, size=2)
        return self._noise_tile[dy : dy + self.height, dx : dx + self.width]

    def _degrade(self, frame: np.ndarray, t: int) -> np.ndarray:
        """Chroma bleed, sensor/analog noise and JPEG, seeded by (synth seed, t)."""
        look = self.look
        if look.chroma_shift:
            ycc = cv2.cvtColor(frame, cv2.COLOR_RGB2YCrCb)
            k = 2 * look.chroma_shift + 1
            chroma = cv2.blur(ycc[..., 1:], (k, 1))  # analog chroma has less bandwidth than luma
            ycc[..., 1:] = np.roll(chroma, look.chroma_shift, axis=1)
            frame = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
        if look.noise_sigma > 0:
            frame = cv2.add(frame, self._noise(t), dtype=cv2.CV_8U)  # saturating, no temporaries
        if look.jpeg_quality is not None:
            ok, buf = cv2.imencode(".jpg", frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, look.jpeg_quality])
            frame = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()
        return frame


def _cell_box(rows: tuple[str, ...], ch: int, cw: int, pad: int) -> tuple[int, int, int, int]:
    """Pixel box (y0, y1, x0, x1) in the patch of the non-blank cells, grown by the blur pad."""
    used = [(i, j) for i, r in enumerate(rows) for j, c in enumerate(r) if c != " "]
    i0, i1 = min(u[0] for u in used), max(u[0] for u in used) + 1
    j0, j1 = min(u[1] for u in used), max(u[1] for u in used) + 1
    return i0 * ch, i1 * ch + 2 * pad, j0 * cw, j1 * cw + 2 * pad


def _clip(top: int, left: int, shape: tuple[int, ...], frame_shape: tuple[int, ...]):
    """Slices (frame y, frame x, patch y, patch x) of a patch at (top, left), or Nones if off-frame."""
    h, w = shape[:2]
    H, W = frame_shape[:2]
    y0, y1, x0, x1 = max(top, 0), min(top + h, H), max(left, 0), min(left + w, W)
    if y0 >= y1 or x0 >= x1:
        return None, None, None, None
    return (slice(y0, y1), slice(x0, x1), slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
