"""The fill (osdfilter/filter/lookahead.py) alone: ms per frame by OpenCV threads and lookahead.

One clip and mask; ``--workers``: the threads OpenCV may use, ``--lookahead``: the frames the
fill looks ahead.

The fill is the pipeline's serial stage on a many-core GPU machine (decode, model and
encode have cores or the GPU to themselves), so its speed and its scaling with threads bound
the end-to-end speed there. Outputs are checked to be identical across thread counts and rounds.

    python benchmarks/fill_speed.py                      # speed.py's 1080p noise clip and mask
    python benchmarks/fill_speed.py --clip benchmarks/_work/davis_drift-straight_1920x1080_4s.mp4 --workers 1 2 4 8
    python benchmarks/fill_speed.py --clip benchmarks/_work/clip_1280x720_5s.mp4 --workers 1 --lookahead 0 4 8 --rounds 3

``--workers`` sets ``cv2.setNumThreads`` (the fill's blurs, flow and warps); for the former
causal fill (osdfilter/filter/temporal.py, removed) it set that fill's group thread pool, and
``--fallbacks`` (gone with it) its spatial fill. ``--rounds`` repeats the whole set, alternating, for
a shared machine whose speed drifts (compare the best of each).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from osdfilter.filter.lookahead import DEFAULT_LOOKAHEAD, LookaheadConfig, LookaheadFill  # noqa: E402
from osdfilter.masks.image import load_mask  # noqa: E402

WORK = ROOT / "benchmarks" / "_work"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clip", type=Path, default=WORK / "clip_1920x1080_4s.mp4", help="made by benchmarks/speed.py")
    p.add_argument("--mask", type=Path, help="default: speed.py's mask_<W>x<H>.png beside the clip")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8], help="cv2.setNumThreads values")
    p.add_argument("--lookahead", type=int, nargs="+", default=[0, DEFAULT_LOOKAHEAD], help="LookaheadConfig.lookahead values")
    p.add_argument("--rounds", type=int, default=1)
    a = p.parse_args()
    if not a.clip.is_file():
        p.error(f"no clip {a.clip} (benchmarks/speed.py makes it; or pass --clip)")
    with av.open(str(a.clip)) as c:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(a.frames), c.decode(video=0))]
    h, w = frames[0].shape[:2]
    mask_path = a.mask or a.clip.parent / f"mask_{w}x{h}.png"
    if not mask_path.is_file():
        p.error(f"no mask {mask_path} (pass --mask)")
    mask = load_mask(str(mask_path), h, w)
    print(f"{a.clip.name}: {len(frames)} frames {w}x{h}, mask {mask.mean():.1%}, {os.cpu_count()} CPUs")
    print(f"{'lookahead':>9} {'workers':>7} {'ms/frame':>9} {'x first':>8}")
    best: dict[tuple[int, int], float] = {}
    reference: dict[int, list[np.ndarray]] = {}  # per lookahead: the first run's output
    for _ in range(a.rounds):
        for k in a.lookahead:
            base = None
            for n in a.workers:
                cv2.setNumThreads(n)
                fill = LookaheadFill(mask, LookaheadConfig(lookahead=k))  # the mask's geometry: not timed
                t0 = time.perf_counter()
                out = [o.filled for f in frames for o in fill.push(f, mask)]
                out += [o.filled for o in fill.flush()]
                ms = (time.perf_counter() - t0) / len(frames) * 1e3
                base = base or ms
                same = all(np.array_equal(x, y) for x, y in zip(out, reference.setdefault(k, out)))
                best[k, n] = min(ms, best.get((k, n), ms))
                print(f"{k:>9} {n:>7} {ms:>9.1f} {base / ms:>8.2f}" + ("" if same else "  OUTPUT DIFFERS"), flush=True)
    if a.rounds > 1:
        print("best of", a.rounds, "rounds: " + ", ".join(f"lookahead {k} x{n} {ms:.1f} ms" for (k, n), ms in best.items()))


if __name__ == "__main__":
    main()
