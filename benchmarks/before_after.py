"""Write docs/before_after.png: crops of the example clip before and after osdfilter.

    python benchmarks/before_after.py [--model PATH] [--frame 60]

Rows: input (OSD burned in) | OpenCV Telea | osdfilter, on regions around the OSD's
elements of one frame of examples/osd_sample.mp4, with the example's mask.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from osdfilter.filter.core import FilterConfig, OSDFilter  # noqa: E402
from osdfilter.masks.image import dilate, load_mask  # noqa: E402
from osdfilter.model.runners import make_runner  # noqa: E402


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def restored(frames: list[np.ndarray], mask: np.ndarray, model: str | None) -> list[np.ndarray]:
    filt = OSDFilter(make_runner(model, "torch", "cpu", "auto"), mask, FilterConfig())
    out: list[np.ndarray] = []
    for f in frames:
        out += filt.push(f)
    return out + filt.flush()


def crops(img: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """The boxes side by side, 2x enlarged, padded to one height with 4 px gaps."""
    parts = [cv2.resize(img[y : y + h, x : x + w], (w * 2, h * 2), interpolation=cv2.INTER_NEAREST) for x, y, w, h in boxes]
    height = max(p.shape[0] for p in parts)
    return np.concatenate([np.pad(p, ((0, height - p.shape[0]), (0, 4), (0, 0))) for p in parts], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="checkpoint (default: the packaged model)")
    ap.add_argument("--frame", type=int, default=60)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "before_after.png")
    args = ap.parse_args()

    frames = frames_of(ROOT / "examples" / "osd_sample.mp4")
    h, w = frames[0].shape[:2]
    mask = load_mask(ROOT / "examples" / "osd_sample_mask.png", h, w)
    out = restored(frames, mask, args.model)[args.frame]
    inp = frames[args.frame]
    telea = cv2.inpaint(inp, dilate(mask, 2).astype(np.uint8), 3, cv2.INPAINT_TELEA)
    # The three largest OSD elements (by area of their dilated bounding boxes), 2x enlarged.
    n, _, stats, _ = cv2.connectedComponentsWithStats(dilate(mask, 12).astype(np.uint8))
    best = sorted(stats[1:].tolist(), key=lambda s: -s[4])[:3]
    boxes = [(x, y, min(bw, 200), min(bh, 60)) for x, y, bw, bh, _ in sorted(best, key=lambda s: s[0])]
    rows = [crops(img, boxes) for img in (inp, telea, out)]
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0))) for r in rows], axis=0)
    for i, label in enumerate(("input", "OpenCV Telea", "osdfilter")):
        y = i * (rows[0].shape[0] + 4) + 14
        cv2.putText(sheet, label, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3)
        cv2.putText(sheet, label, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1)
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
