"""Scene-cut detection on real clips: annotated cuts found, false cuts, per clip.

    python benchmarks/scenecut.py                     # ../shared/data/clean (train + eval)
    python benchmarks/scenecut.py --root DIR --tolerance 0.35

Ground truth: the ``Shot cuts:`` lines of ``clean/train/SOURCES.md`` (approximate times,
matched within ``--tolerance`` seconds; the ranges it gives, a dissolve and muzzle flashes
that look like cuts, count neither way); clips it lists without cuts and the eval clips
(single shots) have none. Two rules are scored on the same scores: ``osdfilter`` (osdfilter.filter.scenecut: colour
change and shift-compensated difference) and ``diff-alone`` (the former rule, which also
cut on a compensated difference above twice its threshold, without a colour change).
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import sys
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from osdfilter.filter.scenecut import DIFF_THRESH, HIST_THRESH, colour_histogram, shifted_difference, thumbnail  # noqa: E402

def annotated_cuts(sources_md: Path) -> dict[str, tuple[list[float], list[tuple[float, float]]]]:
    """Clip name -> (cut times, ambiguous windows) from the ``### N. `name``` sections'
    ``Shot cuts:`` lines; a range ``a–b`` (a dissolve, muzzle flashes) is a window where a
    detection counts neither way."""
    cuts, name = {}, None
    for line in sources_md.read_text().splitlines():
        m = re.match(r"###\s+\d+\.\s+`([^`]+)`", line)
        if m:
            name = os.path.basename(m.group(1))
        elif name and line.startswith("- Shot cuts:"):
            text = line.split(":", 1)[1]
            windows = [(float(a), float(b)) for a, b in re.findall(r"(\d+\.\d+)\s*[–-]\s*(\d+\.\d+)", text)]
            text = re.sub(r"\d+\.\d+\s*[–-]\s*\d+\.\d+", "", text).split("(")[0]
            cuts[name] = ([float(x) for x in re.findall(r"\d+\.\d+", text)], windows)
    return cuts


def frames(path: str) -> Iterator[tuple[float, np.ndarray]]:
    """(seconds, RGB) of a video file or a folder of JPEG frames (times then 0)."""
    if os.path.isdir(path):
        for f in sorted(glob.glob(os.path.join(path, "*.jpg"))):
            yield 0.0, cv2.cvtColor(cv2.imread(f), cv2.COLOR_BGR2RGB)
        return
    with av.open(path) as c:
        for frame in c.decode(video=0):
            yield float(frame.time or 0.0), frame.to_ndarray(format="rgb24")


def scores(path: str) -> list[tuple[float, float, float]]:
    """Per consecutive pair: (time of the second frame, histogram distance, compensated difference)."""
    out, prev = [], None
    for t, frame in frames(path):
        thumb = thumbnail(frame)
        hist = colour_histogram(thumb)
        if prev is not None:
            dist = cv2.compareHist(prev[1], hist, cv2.HISTCMP_BHATTACHARYYA)
            raw = float(np.abs(prev[0].astype(np.float32) - thumb).mean())
            diff = shifted_difference(prev[0], thumb) if raw > DIFF_THRESH else raw  # the shift search never raises it
            out.append((t, float(dist), diff))
        prev = (thumb, hist)
    return out


RULES = {
    "osdfilter": lambda dist, diff: diff > DIFF_THRESH and dist > HIST_THRESH,
    "diff-alone": lambda dist, diff: diff > DIFF_THRESH and (dist > HIST_THRESH or diff > 2 * DIFF_THRESH),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared/data/clean"))
    p.add_argument("--tolerance", type=float, default=0.35, help="seconds between a detection and an annotated cut")
    args = p.parse_args()
    truth = annotated_cuts(Path(args.root) / "train/SOURCES.md")
    clips = [c for c in sorted(glob.glob(os.path.join(args.root, "train", "*"))) + sorted(glob.glob(os.path.join(args.root, "eval", "*"))) if not c.endswith(".md")]
    totals = {r: [0, 0] for r in RULES}
    print(f"{'clip':40s} {'pairs':>6s} {'cuts':>5s}   " + "   ".join(f"{r + ' found/false':>22s}" for r in RULES))
    for clip in clips:
        name = os.path.basename(clip)
        gt, windows = truth.get(name, ([], []))
        rows = scores(clip)
        cells = []
        for rule, decide in RULES.items():
            found, false = set(), 0
            for t, dist, diff in rows:
                if not decide(dist, diff):
                    continue
                near = [i for i, c in enumerate(gt) if abs(c - t) <= args.tolerance]
                if near:
                    found.add(near[0])
                elif not any(lo - args.tolerance <= t <= hi + args.tolerance for lo, hi in windows):
                    false += 1
            totals[rule][0] += len(found)
            totals[rule][1] += false
            cells.append(f"{len(found):>12d}/{false:<9d}")
        print(f"{name:40s} {len(rows):6d} {len(gt):5d}   " + "   ".join(cells))
    n = sum(len(truth.get(os.path.basename(c), ([], []))[0]) for c in clips)
    print(f"{'total':40s} {'':6s} {n:5d}   " + "   ".join(f"{f:>12d}/{x:<9d}" for f, x in totals.values()))


if __name__ == "__main__":
    main()
