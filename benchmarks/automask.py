"""Benchmark automatic OSD mask detection (issue 6).

Builds the quality benchmark's cases (``quality.make_case``: held-out walksnail font, a
per-clip seed and style, CRF 14 round trip) and, per clip, a second "noisy" look
(semi-transparent OSD, sensor noise, another seed); runs the detector (first pass over
the window, then a per-frame mask for every frame) and prints per-clip overlay-pixel
recall / precision at 2 px tolerance against the synth's glyph masks. ``--psnr`` adds
the end-to-end check: masked PSNR of osdfilter with the automatic masks vs the same run
with the ground-truth box masks, and what each mask costs the rest of the picture ("scene":
PSNR against the input outside the overlay, where the ideal output is the input) (packaged default model, else an untrained tiny model
= prefill only). With --real, also runs on ../shared/data/real_overlays and writes the
union masks to docs/automask_<name>.png for a visual check.

    python benchmarks/automask.py [--frames 40] [--looks quality noisy hazy] [--psnr] [--real]
    python benchmarks/automask.py --still-start 24 --frames 24   # a still start, then flight
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from osdfilter.masks.auto.config import AutoMaskConfig
from osdfilter.masks.auto.cues import mask_recall_precision
from osdfilter.masks.auto.detector import LayoutScan, MaskDetector
from osdfilter.masks.image import dilate
from osdfilter.train.sources import read_clip

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))


def eval_clips() -> list[Path]:
    ev = DATA / "clean" / "eval"
    return sorted(p for p in ev.iterdir() if p.is_dir() or p.suffix == ".mp4")


def make_bench_case(path: Path, frames: int, max_side: int, fonts, look: str, still: int = 0):
    """The quality benchmark's case (held-out walksnail font, per-clip seed, CRF 14).

    ``look``: ``"quality"`` = exactly ``quality.make_case`` (its own random style per clip:
    transparent, blurred, coloured icons ...); ``"noisy"`` = the same clip with another seed
    and a forced semi-transparent OSD plus sensor noise over the whole frame (DVR look).
    ``"hazy"`` = the quality look over the clip seen through haze (``HAZE``: a quarter of its
    contrast left, lifted towards a bright grey; overcast, fog, sea and sky give such
    low-contrast flights), the OSD at full contrast on top.
    ``still`` > 0: that many frames of the clip's first frame come first (a quad on the
    ground before take-off: sensor noise only), the OSD drawn over all of them.
    """
    import quality as Q

    clean = Q.read_clip(path, frames, max_side)
    if look == "hazy":
        t, airlight = HAZE
        clean = np.clip(clean * t + airlight * (1 - t) + 0.5, 0, 255).astype(np.uint8)
    if still:
        rng = np.random.default_rng(Q.EVAL_SEED + 11 + sum(map(ord, path.name)))
        noise = rng.normal(0.0, 1.5, (still, *clean.shape[1:]))
        clean = np.concatenate([np.clip(clean[0] + noise + 0.5, 0, 255).astype(np.uint8), clean])
    if look in ("quality", "hazy"):
        return Q.make_case(path, frames, max_side, fonts, clean=clean)
    from osdfilter.osd import OSDStyle, OSDSynth

    t, h, w = clean.shape[:3]
    style = OSDStyle(p_transparent=1.0, p_noise=1.0, p_chroma_bleed=0.0, p_jpeg=0.0)
    rng = np.random.default_rng(Q.EVAL_SEED + 7 + 31 * sum(map(ord, path.name)))
    overlaid, glyph, box = OSDSynth(h, w, rng=rng, fonts=fonts, style=style).render_clip(clean)
    return Q.Case(path.stem, clean, Q.encode_decode(overlaid), glyph, box)


HAZE = [0.25, 190.0]  # the hazy look's (transmission, airlight): I = J t + A (1 - t); --haze


def run_detector(frames: np.ndarray, config: AutoMaskConfig):
    """Layout from all frames as the window; per-frame masks; timings in ms/frame."""
    t, h, w = frames.shape[:3]
    det = MaskDetector(h, w, config)
    t0 = time.perf_counter()
    for f in frames:
        det.observe(f)
    layout = det.finish()
    t1 = time.perf_counter()
    masks = [layout.frame_mask(f) for f in frames]
    t2 = time.perf_counter()
    return layout, masks, (t1 - t0) / t * 1e3, (t2 - t1) / t * 1e3


def run_scan(frames: np.ndarray, config: AutoMaskConfig, window: int, scan: bool = True):
    """As the CLI's first pass (LayoutScan, windows of ``window`` frames, as far as the clip
    goes; ``scan=False``: the first window only), then per-frame masks for every frame."""
    t, h, w = frames.shape[:3]
    cfg = replace(config, window_s=float(window), scan_s=float(t if scan else 0))
    first_pass = LayoutScan(h, w, cfg, fps=1.0)
    for f in frames:
        if first_pass.observe(f):
            break
    layout = first_pass.finish()
    return layout, [layout.frame_mask(f) for f in frames]


def bench_still_start(n_frames: int, still: int, looks: list[str], config: AutoMaskConfig,
                      max_side: int, clips: list[str] | None = None) -> None:
    """Clips that open with ``still`` frozen frames (``still`` = the window): recall /
    precision over all frames with the first window's layout vs LayoutScan's."""
    import quality as Q
    from osdfilter.osd import load_font_dir

    fonts = load_font_dir(Q.DEFAULT_FONTS) if Q.DEFAULT_FONTS.exists() else None
    print(f"{still} still frames, then {n_frames} of the clip; window = {still} frames")
    print(f"{'clip':26s} {'look':8s} {'first window: recall':>20s} {'prec':>6s}   {'scan: recall':>12s} {'prec':>6s}  window used")
    rows = []
    for clip in Q.iter_clips(Q.DEFAULT_DATA, clips):
        for look in looks:
            case = make_bench_case(clip, n_frames, max_side, fonts, look, still=still)
            row = []
            for scan in (False, True):
                layout, pred = run_scan(case.inp, config, still, scan)
                row += list(np.mean([mask_recall_precision(p, g) for p, g in zip(pred, case.glyph)], axis=0))
            rows.append(row)
            print(f"{case.name[:26]:26s} {look:8s} {row[0]:20.3f} {row[1]:6.3f}   {row[2]:12.3f} {row[3]:6.3f}  "
                  f"{layout.window[0]}-{layout.window[1]}{' (still)' if layout.still_camera else ''}", flush=True)
    m = np.mean(rows, axis=0)
    print(f"{'MEAN':26s} {'':8s} {m[0]:20.3f} {m[1]:6.3f}   {m[2]:12.3f} {m[3]:6.3f}")


def bench_synthetic(n_frames: int, looks: list[str], config: AutoMaskConfig, max_side: int,
                    psnr: bool, clips: list[str] | None = None) -> None:
    import quality as Q
    from osdfilter.osd import load_font_dir

    fonts = load_font_dir(Q.DEFAULT_FONTS) if Q.DEFAULT_FONTS.exists() else None
    method = _osdfilter_method() if psnr else None
    print(f"{'clip':26s} {'look':8s} {'size':>9s} {'T':>3s} {'recall':>7s} {'prec':>6s} "
          f"{'gt%':>5s} {'pred%':>6s} {'pass1':>6s} {'frame':>6s}"
          + ("  mPSNR auto   box  diff  scene auto   box" if psnr else ""))
    rows, diffs = [], []
    for clip in Q.iter_clips(Q.DEFAULT_DATA, clips):
        for look in looks:
            case = make_bench_case(clip, n_frames, max_side, fonts, look)
            t, h, w = case.inp.shape[:3]
            layout, pred, ms1, ms2 = run_detector(case.inp, config)
            rp = np.array([mask_recall_precision(p, g) for p, g in zip(pred, case.glyph)])
            r, p = rp.mean(axis=0)
            rows.append((r, p))
            line = (f"{case.name[:26]:26s} {look:8s} {w:4d}x{h:<4d} {t:3d} {r:7.3f} {p:6.3f} "
                    f"{case.glyph.mean() * 100:5.2f} {np.mean(pred) * 100:6.2f} {ms1:6.1f} {ms2:6.2f}")
            if method is not None:
                out_auto, out_box = method(case.inp, np.stack(pred)), method(case.inp, case.box)
                auto = Q.metrics(case, out_auto, np.stack(pred))["mPSNR"]
                box = Q.metrics(case, out_box, case.box)["mPSNR"]
                diffs.append(auto - box)
                # What a mask costs the scene: PSNR against the input outside the overlay
                # (GT glyphs + 2 px), where the ideal output is the input itself.
                scene = ~np.stack([dilate(g, 2) for g in case.glyph])
                s_auto, s_box = Q.psnr(out_auto[scene], case.inp[scene]), Q.psnr(out_box[scene], case.inp[scene])
                line += f"  {auto:10.2f} {box:5.2f} {auto - box:+5.2f}  {s_auto:10.2f} {s_box:5.2f}"
            print(line, flush=True)
    r, p = np.mean(rows, axis=0)
    print(f"{'MEAN':26s} {'':8s} {'':9s} {'':3s} {r:7.3f} {p:6.3f}   (targets: recall >= 0.97, precision >= 0.7)")
    if diffs:
        print(f"auto - box mPSNR: mean {np.mean(diffs):+.2f} dB, worst {np.min(diffs):+.2f} dB (target: >= -1 dB)")


def _osdfilter_method():
    """quality.method_osdfilter with the packaged default model, or (none trained yet)
    an untrained tiny model, whose zero-initialised residual head = the prefill alone."""
    import quality as Q
    from osdfilter.model.checkpoint import load_model
    from osdfilter.model.network import ModelConfig, RecurrentUNet
    from osdfilter.model.runners import TorchRunner

    path = ROOT / "osdfilter" / "weights" / "default.pt"
    model = load_model(path) if path.exists() else RecurrentUNet(ModelConfig.preset("tiny")).eval()
    print(f"(end-to-end model: {path.name if path.exists() else 'untrained tiny = prefill only'})")
    return Q.method_osdfilter(lambda: TorchRunner(model))


def bench_real(n_frames: int, config: AutoMaskConfig, out_dir: Path) -> None:
    out_dir.mkdir(exist_ok=True)
    for path in sorted((DATA / "real_overlays").iterdir()):
        if path.suffix == ".png":
            frames = cv2.imread(str(path))[None, ..., ::-1]
        elif path.suffix == ".mp4":
            frames = read_clip(path, n_frames)
        else:
            continue
        layout, _, ms1, _ = run_detector(np.ascontiguousarray(frames), config)
        name = path.stem
        vis = _overlay_visual(frames[len(frames) // 2], layout.union)
        dst = out_dir / f"automask_{name}.png"
        scale = min(1.0, 640 / vis.shape[1])
        vis = cv2.resize(vis, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(dst), vis[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
        print(f"{name:32s} {frames.shape[2]}x{frames.shape[1]} T={len(frames):3d} "
              f"union {layout.union.mean() * 100:5.2f}% boxes {len(layout.boxes):2d} "
              f"pass1 {ms1:5.1f} ms/frame -> {dst.relative_to(ROOT)} ({os.path.getsize(dst) // 1024} KB)")


def _overlay_visual(frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Left: the frame with the mask tinted red; right: the mask (white = overlay)."""
    tinted = frame.copy()
    tinted[mask] = (0.4 * tinted[mask] + 0.6 * np.array([255, 0, 0])).astype(np.uint8)
    return np.hstack([tinted, np.repeat(mask[..., None] * 255, 3, axis=2).astype(np.uint8)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60, help="frames per clip (the window)")
    ap.add_argument("--looks", nargs="+", default=["quality", "noisy"], choices=["quality", "noisy", "hazy"],
                    help="OSD looks per clip (quality = quality.make_case's per-clip style; hazy = the "
                         "same over a low-contrast copy of the clip)")
    ap.add_argument("--max-side", type=int, default=960, help="downscale longer clips to this")
    ap.add_argument("--clips", nargs="*", help="clip names (default: all eval clips)")
    ap.add_argument("--psnr", action="store_true", help="end-to-end masked PSNR, auto vs GT box mask")
    ap.add_argument("--real", action="store_true", help="also run on real_overlays, save PNGs")
    ap.add_argument("--no-synthetic", action="store_true", help="skip the synthetic table")
    ap.add_argument("--still-start", type=int, default=0, metavar="K",
                    help="instead: clips opening with K frozen frames (window = K), first window vs scan")
    ap.add_argument("--no-static-net", action="store_true",
                    help="static camera without the learned classifier (osdfilter/masks/auto/classifier.py)")
    ap.add_argument("--no-static-components", action="store_true",
                    help="static camera without the component scorer (osdfilter/masks/auto/components.py)")
    ap.add_argument("--component-prob", type=float, default=None,
                    help="component scorer threshold (default: its cross-validated one)")
    ap.add_argument("--haze", nargs=2, type=float, default=HAZE, metavar=("T", "A"),
                    help="the hazy look's transmission and airlight (I = J T + A (1 - T)); "
                         "e.g. 0.25 10: dark footage")
    args = ap.parse_args()
    HAZE[:] = args.haze
    cv2.setNumThreads(1)
    config = AutoMaskConfig(static_net=not args.no_static_net, static_components=not args.no_static_components,
                            component_prob=args.component_prob)
    if args.still_start:
        bench_still_start(args.frames, args.still_start, args.looks, config, args.max_side, args.clips)
    elif not args.no_synthetic:
        bench_synthetic(args.frames, args.looks, config, args.max_side, args.psnr, args.clips)
    if args.real:
        bench_real(args.frames, config, ROOT / "docs")


if __name__ == "__main__":
    main()
