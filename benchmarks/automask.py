"""Benchmark automatic OSD mask detection (issue 6).

Overlays a synthetic OSD (osdfilter.osd.OSDSynth, fixed seeds, fonts from
../shared/data/fonts when present) on the clean evaluation clips, runs the detector
(first pass over the window, then a per-frame mask for every frame) and prints per-clip
overlay-pixel recall / precision at 2 px tolerance against the synth's glyph masks.
With --real, also runs on ../shared/data/real_overlays and writes the union masks to
docs/automask_<name>.png for a visual check.

    python benchmarks/automask.py [--frames 60] [--real] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import glob
import os
import time
from pathlib import Path

import av
import cv2
import numpy as np

from osdfilter.automask import AutoMaskConfig, MaskDetector, mask_recall_precision

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def read_clip(path: Path, max_frames: int) -> np.ndarray:
    """uint8 RGB [T, H, W, 3] from a JPEG folder or a video file."""
    if path.is_dir():
        files = sorted(glob.glob(str(path / "*.jpg")))[:max_frames]
        return np.stack([cv2.imread(f)[..., ::-1] for f in files])
    frames = []
    with av.open(str(path)) as box:
        for frame in box.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) >= max_frames:
                break
    return np.stack(frames)


def eval_clips() -> list[Path]:
    ev = DATA / "clean" / "eval"
    return sorted(p for p in ev.iterdir() if p.is_dir() or p.suffix == ".mp4")


def make_synth(h: int, w: int, seed: int):
    from osdfilter.osd import OSDSynth, load_font_dir

    fonts_dir = DATA / "fonts"
    fonts = load_font_dir(fonts_dir) if fonts_dir.is_dir() else None
    return OSDSynth(h, w, rng=np.random.default_rng(seed), fonts=fonts or None)


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


def bench_synthetic(n_frames: int, seeds: list[int], config: AutoMaskConfig) -> None:
    print(f"{'clip':28s} {'seed':>4s} {'size':>9s} {'T':>3s} {'recall':>7s} {'prec':>6s} "
          f"{'gt%':>5s} {'pred%':>6s} {'union%':>6s} {'pass1':>6s} {'frame':>6s}")
    rows = []
    for clip in eval_clips():
        frames = read_clip(clip, n_frames)
        t, h, w = frames.shape[:3]
        # The 1920x1080 clip is halved to keep the benchmark short on 2 CPU cores.
        for seed in seeds:
            synth = make_synth(h, w, seed)
            over, gt, _ = synth.render_clip(frames)
            layout, pred, ms1, ms2 = run_detector(over, config)
            rp = np.array([mask_recall_precision(p, g) for p, g in zip(pred, gt)])
            r, p = rp.mean(axis=0)
            rows.append((r, p))
            print(f"{clip.stem[:28]:28s} {seed:4d} {w:4d}x{h:<4d} {t:3d} {r:7.3f} {p:6.3f} "
                  f"{gt.mean() * 100:5.2f} {np.mean(pred) * 100:6.2f} "
                  f"{layout.union.mean() * 100:6.2f} {ms1:6.1f} {ms2:6.2f}", flush=True)
    r, p = np.mean(rows, axis=0)
    print(f"{'MEAN':28s} {'':4s} {'':9s} {'':3s} {r:7.3f} {p:6.3f}   (targets: recall >= 0.97, precision >= 0.7)")


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
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="OSD synth seeds")
    ap.add_argument("--real", action="store_true", help="also run on real_overlays, save PNGs")
    ap.add_argument("--no-synthetic", action="store_true", help="skip the synthetic table")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    config = AutoMaskConfig()
    if not args.no_synthetic:
        bench_synthetic(args.frames, args.seeds, config)
    if args.real:
        bench_real(args.frames, config, ROOT / "docs")


if __name__ == "__main__":
    main()
