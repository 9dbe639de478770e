"""Temporal fill (osdfilter/prefill.py) alone: ms per frame against the number of threads
that fill the mask's groups at once (``TemporalConfig.workers``), on one clip and mask.

The fill is the pipeline's serial stage on a many-core GPU machine (decode, model and
encode have cores or the GPU to themselves), so its scaling with threads bounds the
end-to-end speed there. Outputs are checked to be identical across thread counts.

    python benchmarks/fill_speed.py                      # speed.py's 1080p noise clip and mask
    python benchmarks/fill_speed.py --clip benchmarks/_work/davis_drift-straight_1920x1080_4s.mp4 --workers 1 2 4 8
    python benchmarks/fill_speed.py --clip benchmarks/_work/clip_1280x720_4s.mp4 --workers 1 --fallbacks telea normalized --rounds 3

``--fallbacks`` times the fill with each ``TemporalConfig.fallback`` (what fills the pixels no
frame has shown); ``--rounds`` repeats the whole set, alternating, for a shared machine whose
speed drifts (compare the best of each).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from osdfilter.masks.image import load_mask  # noqa: E402
from osdfilter.filter.temporal import TemporalConfig, TemporalPrefill  # noqa: E402

WORK = ROOT / "benchmarks" / "_work"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clip", type=Path, default=WORK / "clip_1920x1080_4s.mp4", help="made by benchmarks/speed.py")
    p.add_argument("--mask", type=Path, help="default: speed.py's mask_<W>x<H>.png beside the clip")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--fallbacks", nargs="+", default=[TemporalConfig.fallback], choices=["normalized", "telea"])
    p.add_argument("--rounds", type=int, default=1)
    a = p.parse_args()
    with av.open(str(a.clip)) as c:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(a.frames), c.decode(video=0))]
    h, w = frames[0].shape[:2]
    mask = load_mask(str(a.mask or a.clip.parent / f"mask_{w}x{h}.png"), h, w)
    print(f"{a.clip.name}: {len(frames)} frames {w}x{h}, mask {mask.mean():.1%}, {os.cpu_count()} CPUs")
    print(f"{'fallback':>10} {'workers':>7} {'ms/frame':>9} {'x first':>8}")
    best: dict[tuple[str, int], float] = {}
    for _ in range(a.rounds):
        for fallback in a.fallbacks:
            reference, base = None, None
            for n in a.workers:
                fill = TemporalPrefill(TemporalConfig(workers=n, fallback=fallback))
                fill(frames[0], mask)  # first frame: the fallback and the mask geometry, not timed
                t0 = time.perf_counter()
                out = [fill(f, mask) for f in frames[1:]]
                ms = (time.perf_counter() - t0) / (len(frames) - 1) * 1e3
                base = base or ms
                if reference is None:
                    reference = out
                same = all(np.array_equal(x, y) for x, y in zip(out, reference))
                best[fallback, n] = min(ms, best.get((fallback, n), ms))
                print(f"{fallback:>10} {n:>7} {ms:>9.1f} {base / ms:>8.2f}" + ("" if same else "  OUTPUT DIFFERS"))
    if a.rounds > 1:
        print("best of", a.rounds, "rounds: " + ", ".join(f"{fb} x{n} {ms:.1f} ms" for (fb, n), ms in best.items()))


if __name__ == "__main__":
    main()
