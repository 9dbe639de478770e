"""Benchmark matrix: osdfilter against OpenCV Telea / Navier-Stokes on a grid broad enough to fail.

Grid (81 cells at default settings): glyph scale x camera x background x mask kind.

  scale       analog  MAX7456 12x18 cells, 30x16 grid at 720x480, overlay blurred (soft) and
                      the frame noisy (analog noise, sometimes chroma bleed); .mcm fonts
              hd      24x36 cells at 1280x720 (msp-osd / OpenIPC `_hd`, Walksnail 24)
              fhd     36x54 cells at 1920x1080 (msp-osd / OpenIPC 36x54, Walksnail 36); only the
                      608+ rows at the top or bottom are kept, cut where no element is (same glyph scale)
  camera      still (one frame held), drift (1.2 px/frame), fast (FPV-like: ~15 px/frame
              swings and +-8 degree roll); a crop window moved and rotated over one frame of an
              eval clip (upscaled where it is smaller than the window; no scene motion)
  background  sky (flat water/sky), foliage (grass), edges (buildings, roads, fences): crops of
              the eval clips chosen so the whole window is that class
  mask        exact (per-frame glyph alpha incl. outline), box (per-frame element cells), auto
              (the product's own detector: the encoded cell, decoded and written losslessly,
              is read by ``plan_masks(path, MaskOptions("auto"))`` as ``process_video(mask="auto")`` does; it
              observes --auto-frames frames, the first --frames are scored)

Fonts rotate over the cells of a scale by family (betaflight, inav, msp-osd, openipc-msposd,
walksnail; native glyph size first). ``--holdout FAMILY`` leaves one out (tune on the rest),
``--only-family FAMILY`` evaluates that one alone. Digits change every frame or few frames
(a layout is redrawn until its mask changes in most frames).

Every cell: the OSD is drawn over the clean frames, encoded with libx264 CRF 14 and decoded.
Methods, all with the same per-frame mask:
  default     osdfilter, the packaged model (FilterConfig defaults, scene cuts as process_video)
  fast        osdfilter --fast (model="fill": the classical fill, no network)
  telea / ns  cv2.inpaint radius 3 on the mask grown by FilterConfig().dilate (as the product)
  best-telea  the best Telea of dilation 0/1/2 x radius 3/5 for this cell (an oracle)
Metrics over pixels within 2 px of the true glyphs (the same region for every method and mask):
masked PSNR, masked SSIM (luma), flicker = mean |d_out - d_clean| between consecutive frames
(0-255), and the gain over same-mask Telea.

    python benchmarks/matrix.py --quick                       # 9 cells (an L9 of the 4 axes)
    nice -n 10 python benchmarks/matrix.py --out benchmarks/results --tag baseline --png /tmp/mx
    python benchmarks/matrix.py --holdout walksnail           # tune without one family
    python benchmarks/matrix.py --only-family walksnail --scales hd fhd
    python benchmarks/matrix.py --quick --dilate 1            # the filter's mask grown by 1 px (Telea: 2)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from osdfilter import FilterConfig, OSDFilter  # noqa: E402
from osdfilter.filter.layout import LayoutFilter  # noqa: E402
from osdfilter.masks.image import dilate  # noqa: E402
from osdfilter.masks.plan import MaskOptions, plan_masks  # noqa: E402
from osdfilter.model.runners import make_runner  # noqa: E402
from osdfilter.osd import OSDStyle, OSDSynth, load_font_dir  # noqa: E402
from quality import psnr, ssim_map  # noqa: E402  (same metrics as the quality benchmark)

DATA = ROOT.parent / "shared" / "data" / "clean" / "eval"
FONTS = ROOT.parent / "shared" / "data" / "fonts"
FAMILIES = ("betaflight", "inav", "msp-osd", "openipc-msposd", "walksnail")
FPS = 25
SEED = 91_000  # eval layouts apart from training's small seeds (and from quality.py's 90_001)


# ---------------------------------------------------------------- the axes

@dataclass(frozen=True)
class Scale:
    name: str
    width: int
    height: int  # the frame the layout is made for
    rows: int  # rows kept (a crop from the top: same glyph scale, fewer pixels)
    grids: tuple
    cell: tuple[int, int]  # glyph cell (h, w) in px
    analog: bool = False


SCALES = {
    "analog": Scale("analog", 720, 480, 480, ((30, 16),), (18, 12), analog=True),
    "hd": Scale("hd", 1280, 720, 720, ((53, 20), (50, 18)), (36, 24)),
    "fhd": Scale("fhd", 1920, 1080, 608, ((53, 20), (50, 18)), (54, 36)),
}
CAMERAS = ("still", "drift", "fast")
# (clip, region as fractions x0, y0, x1, y1 of its first frame): the whole region is that class.
# The first frame is held and the window moves over it: the clips' own camera motion carried
# other content into a fixed region (kite-surf's shore, paragliding's hills), so the motion here
# is the synthetic camera's alone.
BACKGROUNDS = {
    "sky": [("davis_kite-surf", (0.0, 0.05, 0.30, 0.50)), ("davis_kite-surf", (0.55, 0.72, 1.0, 1.0))],
    "foliage": [("davis_paragliding-launch", (0.0, 0.60, 0.38, 1.0)),
                ("davis_paragliding-launch", (0.62, 0.78, 1.0, 1.0)),
                ("videoonmap_drone.mp4", (0.78, 0.62, 1.0, 1.0))],
    "edges": [("davis_car-roundabout", (0.0, 0.0, 0.42, 0.42)), ("videoonmap_drone.mp4", (0.30, 0.0, 1.0, 0.62)),
              ("davis_drift-straight", (0.0, 0.12, 0.62, 0.48))],
}
MASKS = ("exact", "box", "auto")
METHODS = ("telea", "ns", "best-telea", "fast", "default")
TUNED = [(d, r) for d in (0, 1, 2) for r in (3, 5)]


def font_families(root: Path, holdout: list[str], only: list[str]) -> dict[str, list]:
    fams = {}
    for fam in FAMILIES:
        if fam in holdout or (only and fam not in only):
            continue
        fonts = load_font_dir(root / fam) if (root / fam).is_dir() else []
        if fonts:
            fams[fam] = fonts
    if not fams:
        raise SystemExit(f"matrix: no font family left under {root} (holdout {holdout}, only {only})")
    return fams


def fonts_for(scale: Scale, fams: dict[str, list]) -> list[tuple[str, list]]:
    """(family, fonts) drawn at this scale: those whose glyphs are this size, else any (resized)."""
    native = [(f, [x for x in fs if x.glyphs.shape[1:3] == scale.cell]) for f, fs in fams.items()]
    native = [(f, fs) for f, fs in native if fs]
    return native or list(fams.items())


# ---------------------------------------------------------------- clips and camera

_CLIPS: dict[str, np.ndarray] = {}


def read_frames(name: str, n: int) -> np.ndarray:
    """The first ``n`` frames of an eval clip (frame folder or video), RGB uint8."""
    if name not in _CLIPS or len(_CLIPS[name]) < n:
        path = DATA / name
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".jpg", ".png"))[:n]
            frames = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in files]
        else:
            with av.open(str(path)) as c:
                frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(n), c.decode(video=0))]
        _CLIPS[name] = np.stack(frames)
    return _CLIPS[name]


def camera_path(kind: str, rng: np.random.Generator, n: int):
    """(path, largest shift): path(t) -> (dx, dy, roll degrees) of the window in output pixels
    at (fractional) frame time t."""
    if kind == "still":
        return (lambda t: (0.0, 0.0, 0.0)), 0.0
    if kind == "drift":
        a = rng.uniform(0, 2 * np.pi)
        return (lambda t: (1.2 * (t - n / 2) * np.cos(a), 1.2 * (t - n / 2) * np.sin(a), 0.0)), 1.2 * n / 2 + 2
    amp = 60.0  # FPV: swings of ~15 px/frame at the peak, roll up to 8 degrees (~2.4 deg/frame)
    p = rng.uniform(0, 2 * np.pi, 3)
    return (lambda t: (amp * np.sin(0.25 * t + p[0]), 0.6 * amp * np.sin(0.4 * t + p[1]), 8.0 * np.sin(0.3 * t + p[2]))), amp


def render_background(scale: Scale, camera: str, clip: str, region, n: int, crop: tuple[int, int],
                      rng: np.random.Generator) -> np.ndarray:
    """``n`` frames [n, rows, W, 3]: a (rotated) window moved over ``region`` of ``clip``'s first
    frame; rows ``crop = (y0, rows)`` of the scale's frame.

    A moving camera also gets scene motion (a slow non-rigid wobble of ~1.5 px, as water, grass
    in the wind or parallax give: a rigid warp of a still image is easier for a fill that carries
    pixels than real footage) and, when fast, motion blur (3 samples over half a frame's time)."""
    src = read_frames(clip, 1)[0]
    sh, sw = src.shape[:2]
    rx0, ry0, rx1, ry1 = region[0] * sw, region[1] * sh, region[2] * sw, region[3] * sh
    path, shift = camera_path(camera, rng, n)
    roll = math.radians(8.0 if camera == "fast" else 0.0)
    W, H = scale.width, scale.height
    need_w = W * math.cos(roll) + H * math.sin(roll) + 2 * shift + 8
    need_h = W * math.sin(roll) + H * math.cos(roll) + 2 * shift + 8
    s = max(need_w / (rx1 - rx0), need_h / (ry1 - ry0))  # output px per source px
    cx, cy = (rx0 + rx1) / 2, (ry0 + ry1) / 2
    y0, rows = crop
    ys, xs = np.mgrid[y0 : y0 + rows, 0:W].astype(np.float32)
    xs -= W / 2
    ys -= H / 2
    wob = rng.uniform(0, 2 * np.pi, 4)
    k = 2 * np.pi / 220.0  # wobble wavelength 220 output px, period 24 frames
    samples = (-0.25, 0.0, 0.25) if camera == "fast" else (0.0,)
    out = np.empty((n, rows, W, 3), np.uint8)
    for i in range(n):
        acc = np.zeros((rows, W, 3), np.float32)
        for dt in samples:
            t = i + dt
            dx, dy, deg = path(t)
            th = math.radians(deg)
            c, si = math.cos(th) / s, math.sin(th) / s
            px, py = xs, ys
            if camera != "still":
                w = 2 * np.pi * t / 24.0
                px = xs + 1.5 * np.sin(k * (0.8 * xs + 0.6 * ys) + w + wob[0]) + 0.7 * np.sin(k * 2.3 * ys - w + wob[1])
                py = ys + 1.5 * np.sin(k * (-0.5 * xs + 0.9 * ys) + w + wob[2]) + 0.7 * np.sin(k * 1.9 * xs + w + wob[3])
            # source = region centre + shift / s + R(roll) (p - frame centre) / s  (dst -> src map)
            mx = (cx + dx / s + c * px - si * py).astype(np.float32)
            my = (cy + dy / s + si * px + c * py).astype(np.float32)
            acc += cv2.remap(src, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        out[i] = np.clip(acc / len(samples) + 0.5, 0, 255)
    return out


def crop_rows(scale: Scale, synth: OSDSynth, n: int) -> tuple[int, int]:
    """(first row, rows) kept: at least ``scale.rows`` from the top or the bottom, whichever
    holds more of the OSD, cut at a row no element's box crosses or touches (a cut through an
    element is no OSD a camera shows)."""
    if scale.rows >= scale.height:
        return 0, scale.height
    boxes = np.zeros(scale.height, np.int64)
    for t in range(n):
        boxes += synth.frame_mask(t)[1].sum(1)
    H = scale.height
    top = next((r for r in range(scale.rows, H, 8) if not boxes[r - 2 : r + 2].any()), H)
    bottom = next((r for r in range(scale.rows, H, 8) if not boxes[H - r - 2 : H - r + 2].any()), H)
    return (0, top) if boxes[:top].sum() >= boxes[H - bottom :].sum() else (H - bottom, bottom)


# ---------------------------------------------------------------- the OSD

def make_synth(scale: Scale, fonts: list, seed: int, n: int) -> OSDSynth:
    """A layout at this glyph scale whose digits change in most frames (timer, voltage)."""
    probs = dict(OSDStyle().element_probs, battery=1.0, fly_timer=1.0)
    kw = dict(grids=scale.grids, p_builtin=0.0, element_probs=probs)
    if scale.analog:
        style = OSDStyle.exact(p_blur=1.0, blur_sigma=(0.5, 0.8), p_noise=1.0, noise_sigma=(2.0, 4.0),
                               p_chroma_bleed=0.5, **kw)
    else:
        style = OSDStyle.exact(**kw)
    best = None
    for k in range(20):
        synth = OSDSynth(scale.height, scale.width, rng=np.random.default_rng(seed + 7919 * k), fonts=fonts, style=style)
        synth.layout.cell_h, synth.layout.cell_w = scale.cell  # the scale's glyph cell exactly
        m = np.stack([synth.frame_mask(t)[0] for t in range(min(n, 16))])
        changing = float(np.mean(np.any(m[1:] != m[:-1], axis=(1, 2))))
        if best is None or changing > best[0]:
            best = (changing, synth)
        if changing >= 0.5:
            break
    return best[1]


def overlay(synth: OSDSynth, scale: Scale, clean: np.ndarray, y0: int):
    """Overlaid frames and per-frame glyph / box masks (rows ``y0:`` of a full-height frame)."""
    n, rows = clean.shape[:2]
    ys = slice(y0, y0 + rows)
    buf = np.zeros((scale.height, scale.width, 3), np.uint8)
    out = np.empty_like(clean)
    glyph = np.empty(clean.shape[:3], bool)
    box = np.empty(clean.shape[:3], bool)
    for t in range(n):
        buf[ys] = clean[t]
        f, g, b = synth.render_frame(buf, t)
        out[t], glyph[t], box[t] = f[ys], g[ys], b[ys]
    return out, glyph, box


def encode(frames: np.ndarray, path: Path, crf: int = 14) -> np.ndarray:
    """libx264 CRF ``crf`` yuv420p mp4 at ``path``; returns the decoded frames.

    The frames are encoded widened to a multiple of 64 px (the right column repeated) and
    cropped back: at 720 px wide this libx264 gave different bits for the same frames from
    run to run (up to 0.2 dB on a cell), at 768 the same ones."""
    h, w = frames.shape[1:3]
    pad = -w % 64
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = w + pad, h, "yuv420p"
        vs.options = {"crf": str(crf), "preset": "medium"}
        for f in frames:
            f = cv2.copyMakeBorder(f, 0, 0, 0, pad, cv2.BORDER_REPLICATE) if pad else f
            out.mux(vs.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(vs.encode())
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24")[:, :w] for f in c.decode(video=0)])


def write_lossless(frames: np.ndarray, path: Path) -> None:
    """``frames`` (RGB uint8) as FFV1 RGB in Matroska: decoded, exactly these pixels."""
    h, w = frames.shape[1:3]
    with av.open(str(path), "w") as out:
        vs = out.add_stream("ffv1", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = w, h, "bgr0"
        for f in frames:
            out.mux(vs.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(vs.encode())


# ---------------------------------------------------------------- methods

def rects_of(mask: np.ndarray, margin: int) -> list[tuple[slice, slice]]:
    """Bounding boxes of ``mask`` grown by ``margin`` (connected parts): the work is done there only."""
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    return [(slice(y, y + h), slice(x, x + w)) for x, y, w, h, _ in stats[1:n]]


def cv_inpaint(frames, masks, rects, px: int, radius: int, flag: int) -> np.ndarray:
    """cv2.inpaint per frame on the mask grown by ``px``, in the rectangles (exact: each holds
    its mask parts plus more than ``radius`` px of known pixels around them)."""
    out = frames.copy()
    for t, (f, m) in enumerate(zip(frames, masks)):
        m = dilate(m, px).astype(np.uint8)
        for ys, xs in rects:
            if m[ys, xs].any():
                out[t, ys, xs] = cv2.inpaint(np.ascontiguousarray(f[ys, xs]), np.ascontiguousarray(m[ys, xs]), radius, flag)
    return out


def run_osdfilter(runner, frames, masks, config: FilterConfig = FilterConfig()) -> np.ndarray:
    """The frame-level filter as process_video drives it (scene cuts on), per-frame masks."""
    filt = LayoutFilter(OSDFilter(runner, masks.any(0), config), None, True)
    out: list[np.ndarray] = []
    for f, m in zip(frames, masks):
        out += filt.push(f, m)
    out += filt.flush()
    return np.stack(out)


# ---------------------------------------------------------------- metrics

def metrics(out, clean, region, rects) -> dict[str, float]:
    ss = []
    for o, c, r in zip(out, clean, region):
        for ys, xs in rects:
            rr = r[ys, xs]
            if rr.any():
                ss.append(ssim_map(o[ys, xs], c[ys, xs])[rr])
    r2 = region[1:] & region[:-1]
    d_out = out[1:].astype(np.int16) - out[:-1]
    d_clean = clean[1:].astype(np.int16) - clean[:-1]
    dd = np.abs(d_out - d_clean)[r2]
    return {
        "psnr": round(psnr(out[region], clean[region]), 3),
        "ssim": round(float(np.mean(np.concatenate(ss))), 4) if ss else 1.0,
        "flicker": round(float(np.mean(dd)), 3) if dd.size else 0.0,
        "jump": int(dd.max()) if dd.size else 0,  # the largest frame-to-frame error (json only)
    }


# ---------------------------------------------------------------- one scene, its mask kinds

def save_png(path: Path, inp, outs: dict, clean, region, box) -> None:
    """input | Telea | fast | default | clean, last frame, around the element where the default
    errs most (at most 240 px wide), magnified to ~120 px tall."""
    t = len(inp) - 1
    err = np.abs(outs["default"][t].astype(np.int16) - clean[t]).sum(2) * region[t]
    n, lab, stats, _ = cv2.connectedComponentsWithStats(box[t].astype(np.uint8))
    if n < 2:
        return
    i = 1 + int(np.argmax([err[lab == i].sum() + stats[i, 4] * 1e-6 for i in range(1, n)]))
    x, y, w, h, _ = stats[i]
    H, W = clean.shape[1:3]
    if w > 216:  # centre on the error inside the element
        ex = np.nonzero((err * (lab == i)).sum(0))[0]
        cx = int(np.average(ex, weights=(err * (lab == i)).sum(0)[ex])) if len(ex) else x + w // 2
        x, w = max(0, cx - 108), 216
    y0, y1 = max(0, y - 12), min(H, y + h + 12)
    x0, x1 = max(0, x - 12), min(W, x + w + 12)
    crops = [p[t, y0:y1, x0:x1] for p in (inp, outs["telea"], outs["fast"], outs["default"], clean)]
    k = max(1, int(round(120 / (y1 - y0))))
    sep = np.full((crops[0].shape[0], 3, 3), 255, np.uint8)
    strip = np.concatenate(sum(([c, sep] for c in crops), [])[:-1], 1)
    strip = cv2.resize(strip, None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST)
    head = np.zeros((20, strip.shape[1], 3), np.uint8)
    step = (crops[0].shape[1] + 3) * k
    for j, name in enumerate(("input", "telea", "fast", "default", "clean")):
        cv2.putText(head, name, (j * step + 4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate([head, strip], 0), cv2.COLOR_RGB2BGR))


def run_scene(scale: Scale, camera: str, bg: str, masks: list[str], family: str, fonts: list, k_bg: int,
              args, runners, log) -> list[dict]:
    key = f"{scale.name}/{camera}/{bg}"
    seed = args.seed + zlib.crc32(key.encode())
    clip, region = BACKGROUNDS[bg][k_bg % len(BACKGROUNDS[bg])]
    T = args.frames
    n = max(T, args.auto_frames) if "auto" in masks else T
    t0 = time.perf_counter()
    synth = make_synth(scale, fonts, seed, n)
    crop = crop_rows(scale, synth, n)
    clean = render_background(scale, camera, clip, region, n, crop, np.random.default_rng(seed))
    over, glyph, box = overlay(synth, scale, clean, crop[0])
    with tempfile.TemporaryDirectory(prefix="osdmatrix") as tmp:
        mp4 = Path(tmp) / "cell.mp4"
        inp = encode(over, mp4)
        del over
        layout, note = None, None
        if "auto" in masks:
            # The detector reads the cell as decoded (``encode`` wrote a widened file), losslessly.
            write_lossless(inp, mp4.with_suffix(".mkv"))
            plan = plan_masks(mp4.with_suffix(".mkv"), MaskOptions("auto"), inp.shape[1], inp.shape[2], float(FPS), lambda m: m)
            layout, note = plan.layout, plan.note
            if layout is not None and not layout.is_empty:
                auto = np.stack([layout.frame_mask(f) for f in inp[:T]])
            else:
                auto = np.zeros((T,) + inp.shape[1:3], bool)
    prep = time.perf_counter() - t0
    clean, inp, glyph, box = clean[:T], inp[:T], glyph[:T], box[:T]
    if not glyph.any():
        log(f"{key}: no OSD in the frame (skipped)")
        return []
    region = np.stack([dilate(g, 2) for g in glyph])
    kinds = {"exact": glyph, "box": box}
    if "auto" in masks:
        kinds["auto"] = auto
    every = region.any(0)
    for k in masks:
        every |= kinds[k].any(0)
    d0 = FilterConfig().dilate
    rects = rects_of(every, max(2, d0, args.filter_config.dilate) + 5 + 8)  # dilation + radius + SSIM window
    cells = []
    for kind in masks:
        m = kinds[kind]
        t1 = time.perf_counter()
        outs = {
            "telea": cv_inpaint(inp, m, rects, d0, 3, cv2.INPAINT_TELEA),
            "ns": cv_inpaint(inp, m, rects, d0, 3, cv2.INPAINT_NS),
        }
        tuned = {}
        for d, r in TUNED:
            o = outs["telea"] if (d, r) == (d0, 3) else cv_inpaint(inp, m, rects, d, r, cv2.INPAINT_TELEA)
            tuned[(d, r)] = (psnr(o[region], clean[region]), o)
        (bd, br), (_, best) = max(tuned.items(), key=lambda kv: kv[1][0])
        outs["best-telea"] = best
        t2 = time.perf_counter()
        outs["fast"] = run_osdfilter(runners["fast"], inp, m, args.filter_config)
        t3 = time.perf_counter()
        outs["default"] = run_osdfilter(runners["default"], inp, m, args.filter_config)
        t4 = time.perf_counter()
        res = {name: metrics(outs[name], clean, region, rects) for name in METHODS}
        cover = float(m.mean())
        recall = float((dilate(m.any(0), d0)[None] & glyph).sum() / max(1, glyph.sum()))
        cell = {
            "scale": scale.name, "camera": camera, "background": bg, "mask": kind, "family": family,
            "font": synth.font.name if synth.font is not None else "builtin", "clip": clip,
            "frame": f"{inp.shape[2]}x{inp.shape[1]}",
            "mask_pct": round(100 * cover, 2), "glyph_recall": round(recall, 4),
            "best_telea": f"d{bd} r{br}", "methods": res,
            "auto_note": note if kind == "auto" else None,
            "gain_default": round(res["default"]["psnr"] - res["telea"]["psnr"], 3),
            "gain_fast": round(res["fast"]["psnr"] - res["telea"]["psnr"], 3),
            "seconds": {"prepare": round(prep, 2), "cv": round(t2 - t1, 2), "fast": round(t3 - t2, 2),
                        "default": round(t4 - t3, 2)},
        }
        cells.append(cell)
        log(f"{key}/{kind:5s} {family:14s} mask {cell['mask_pct']:5.2f}% recall {recall:.2f} | "
            + " ".join(f"{k} {v['psnr']:.2f}" for k, v in res.items())
            + f" | gain def {cell['gain_default']:+.2f} fast {cell['gain_fast']:+.2f} | flicker T {res['telea']['flicker']:.2f}"
            f" def {res['default']['flicker']:.2f} | {prep:.0f}+{t4 - t1:.0f}s")
        if args.png:
            save_png(Path(args.png) / f"{scale.name}_{camera}_{bg}_{kind}.png", inp, outs, clean, region, box)
        prep = 0.0
    return cells


# ---------------------------------------------------------------- report

def quick_cells() -> list[tuple[str, str, str, str]]:
    """An L9 orthogonal array: every pair of the four axes' levels appears once."""
    sc, cams, bgs = list(SCALES), list(CAMERAS), list(BACKGROUNDS)
    return [(sc[i], cams[j], bgs[(i + j) % 3], MASKS[(i + 2 * j) % 3]) for i in range(3) for j in range(3)]


def fmt_cell(c: dict) -> str:
    r = c["methods"]
    tri = lambda k, f: "/".join(f.format(r[m][k]) for m in ("telea", "fast", "default"))  # noqa: E731
    lose = lambda g: " **x**" if g < 0 else ""  # noqa: E731
    return (f"| {c['scale']} | {c['camera']} | {c['background']} | {c['mask']} | {c['family']} | {c['mask_pct']:.1f} | "
            f"{r['telea']['psnr']:.2f} | {r['ns']['psnr']:.2f} | {r['best-telea']['psnr']:.2f} ({c['best_telea']}) | "
            f"{r['fast']['psnr']:.2f} | {r['default']['psnr']:.2f} | {c['gain_fast']:+.2f}{lose(c['gain_fast'])} | "
            f"{c['gain_default']:+.2f}{lose(c['gain_default'])} | {tri('ssim', '{:.3f}')} | {tri('flicker', '{:.2f}')} |")


def summary(cells: list[dict]) -> str:
    n = len(cells)
    lose_d = sum(c["gain_default"] < 0 for c in cells)
    lose_f = sum(c["gain_fast"] < 0 for c in cells)
    gains = []
    for kind in MASKS:
        cs = [c for c in cells if c["mask"] == kind]
        if cs:
            gains.append(f"{kind} {np.mean([c['gain_default'] for c in cs]):+.2f} dB (fast {np.mean([c['gain_fast'] for c in cs]):+.2f})")
    moving = [c for c in cells if c["camera"] != "still"]
    fl_d = sum(c["methods"]["default"]["flicker"] > c["methods"]["telea"]["flicker"] for c in moving)
    fl_f = sum(c["methods"]["fast"]["flicker"] > c["methods"]["telea"]["flicker"] for c in moving)
    return (f"cells losing to same-mask Telea: default {lose_d}/{n}, fast {lose_f}/{n}; mean gain default "
            + ", ".join(gains) + f"; flicker above Telea in {fl_d}/{len(moving)} moving-camera cells (fast {fl_f})")


def axis_table(cells: list[dict], axis: str) -> list[str]:
    lines = [f"\n**by {axis}**\n", f"| {axis} | cells | Telea | NS | best Telea | fast | default | gain fast | gain default "
             "| lose fast | lose default | flicker T/f/d |", "|" + "---|" * 12]
    for v in dict.fromkeys(c[axis] for c in cells):
        cs = [c for c in cells if c[axis] == v]
        mp = lambda m, k="psnr": np.mean([c["methods"][m][k] for c in cs])  # noqa: E731
        lines.append(
            f"| {v} | {len(cs)} | {mp('telea'):.2f} | {mp('ns'):.2f} | {mp('best-telea'):.2f} | {mp('fast'):.2f} | "
            f"{mp('default'):.2f} | {np.mean([c['gain_fast'] for c in cs]):+.2f} | {np.mean([c['gain_default'] for c in cs]):+.2f} | "
            f"{sum(c['gain_fast'] < 0 for c in cs)} | {sum(c['gain_default'] < 0 for c in cs)} | "
            f"{mp('telea', 'flicker'):.2f}/{mp('fast', 'flicker'):.2f}/{mp('default', 'flicker'):.2f} |")
    return lines


def report(cells: list[dict], command: str, seconds: float) -> str:
    lines = ["# Benchmark matrix", "", f"`{command}` ({seconds / 60:.1f} min)", "",
             "Masked PSNR (dB) within 2 px of the glyphs; gain = method - Telea with the same mask and dilation "
             f"({FilterConfig().dilate} px, radius 3); **x** = loses to it. best Telea: best of dilation 0/1/2 x radius 3/5 "
             "in that cell. SSIM and flicker (0-255) as Telea/fast/default. mask % = mean share of the frame masked.",
             "", "**" + summary(cells) + "**", "",
             "| scale | camera | background | mask | family | mask % | Telea | NS | best Telea | fast | default "
             "| gain fast | gain default | SSIM T/f/d | flicker T/f/d |", "|" + "---|" * 15]
    lines += [fmt_cell(c) for c in cells]
    for axis in ("scale", "camera", "background", "mask", "family"):
        lines += axis_table(cells, axis)
    worst = sorted(cells, key=lambda c: c["gain_default"])[:5]
    lines += ["", "**worst cells (default)**: " + "; ".join(
        f"{c['scale']}/{c['camera']}/{c['background']}/{c['mask']} {c['gain_default']:+.2f} dB" for c in worst)]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=16, help="frames scored per cell")
    ap.add_argument("--auto-frames", type=int, default=40, help="frames the auto-mask detector observes (>= --frames)")
    ap.add_argument("--quick", action="store_true", help="9 cells (an L9 over scale, camera, background, mask)")
    ap.add_argument("--scales", nargs="*", default=list(SCALES), choices=list(SCALES))
    ap.add_argument("--cameras", nargs="*", default=list(CAMERAS), choices=list(CAMERAS))
    ap.add_argument("--backgrounds", nargs="*", default=list(BACKGROUNDS), choices=list(BACKGROUNDS))
    ap.add_argument("--masks", nargs="*", default=list(MASKS), choices=list(MASKS))
    ap.add_argument("--holdout", nargs="*", default=[], choices=FAMILIES, help="font families left out (tuning)")
    ap.add_argument("--only-family", nargs="*", default=[], choices=FAMILIES, help="evaluate these families only")
    ap.add_argument("--fonts", type=Path, default=FONTS)
    ap.add_argument("--model", help="checkpoint for 'default' (default: the packaged model)")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--out", type=Path, help="write matrix_TAG.md and .json here")
    ap.add_argument("--tag", default="latest")
    ap.add_argument("--png", type=Path, help="write side-by-side crops of every cell here")
    ap.add_argument("--dilate", type=int, help="FilterConfig.dilate for fast/default (Telea keeps the product's)")
    ap.add_argument("--feather", type=float, help="FilterConfig.feather for fast/default")
    args = ap.parse_args()
    try:
        args.filter_config = FilterConfig(**{k: v for k, v in (("dilate", args.dilate), ("feather", args.feather)) if v is not None})
    except ValueError as e:
        raise SystemExit(f"matrix: {e}")
    if args.frames < 2 or args.auto_frames < 1:
        raise SystemExit("matrix: --frames must be >= 2")

    fams = font_families(args.fonts, args.holdout, args.only_family)
    runners = {"default": make_runner(args.model), "fast": make_runner("fill")}
    if args.quick:
        plan = [c for c in quick_cells() if c[0] in args.scales and c[1] in args.cameras and c[2] in args.backgrounds
                and c[3] in args.masks]
    else:
        plan = [(s, c, b, m) for s in args.scales for c in args.cameras for b in args.backgrounds for m in args.masks]
    scenes: dict[tuple, list[str]] = {}
    for s, c, b, m in plan:
        scenes.setdefault((s, c, b), []).append(m)
    command = "python benchmarks/matrix.py " + " ".join(sys.argv[1:])
    t0 = time.perf_counter()
    cells: list[dict] = []
    per_scale: dict[str, int] = {}
    for (s, c, b), masks in scenes.items():
        scale = SCALES[s]
        k = per_scale.get(s, 0)
        per_scale[s] = k + 1
        choices = fonts_for(scale, fams)
        family, fonts = choices[k % len(choices)]  # families rotate over a scale's cells
        cells += run_scene(scale, c, b, masks, family, fonts, list(SCALES).index(s) + CAMERAS.index(c), args, runners, lambda x: print(x, flush=True))
    seconds = time.perf_counter() - t0
    text = report(cells, command, seconds)
    print("\n" + text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"matrix_{args.tag}.md").write_text(text)
        (args.out / f"matrix_{args.tag}.json").write_text(json.dumps(
            {"command": command, "seconds": round(seconds, 1), "summary": summary(cells), "cells": cells}, indent=1))


if __name__ == "__main__":
    main()
