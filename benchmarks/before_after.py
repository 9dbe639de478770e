"""Write docs/before_after.png: held-out-style scenes before and after, Telea / --fast / default.

    nice -n 10 python benchmarks/before_after.py [--model PATH] [--frame 12] [--frames 16]

Three scenes built as benchmarks/matrix.py builds its cells (same functions, seeds and clips as
the matrix cell of that scale / camera / background), with the font family held out of
training (walksnail) instead of the matrix's rotation:

  HD 1280x720 (24x36 glyphs), fast FPV camera over foliage, exact glyph mask
  HD 1280x720 (24x36 glyphs), slow drift over edges (buildings), element-box mask
  FHD 1920x1080 (36x54 glyphs, the rows with the OSD), still camera over flat sky, exact glyph mask

Each scene: the OSD drawn over the moving clean frames of an eval clip (never trained on),
encoded with libx264 CRF 14 and decoded; one late frame (``--frame``, so the temporal fill has
frames before and after it) is shown.

Rows: input (OSD burned in) | OpenCV Telea (the same mask grown by FilterConfig().dilate,
radius 3) | osdfilter --fast (the fill, no network) | osdfilter default (``--model``, default
the packaged model). Columns: per scene a window centred on the element holding the most glyph
pixels in that frame, 2x nearest-neighbour so single pixels show. Under each crop: masked PSNR against the
clean frame (pixels within 2 px of the glyphs, matrix.metrics) of that crop in that frame, and
in brackets of the whole scene over all frames (the matrix's cell figure). The same table goes
to stdout.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import zlib
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import matrix  # noqa: E402  (the matrix's scene builders and metrics)
from osdfilter import FilterConfig  # noqa: E402
from osdfilter.masks.image import dilate  # noqa: E402
from osdfilter.model.runners import make_runner  # noqa: E402
from osdfilter.osd import load_font_dir  # noqa: E402

FAMILY = "walksnail"  # held out of training
# (scale, camera, background, mask kind, label)
SCENES = [
    ("hd", "fast", "foliage", "exact", "HD 24x36 glyphs, fast camera, foliage, exact mask"),
    ("hd", "drift", "edges", "box", "HD 24x36 glyphs, drift, buildings, box mask"),
    ("fhd", "still", "sky", "exact", "FHD 36x54 glyphs, still camera, sky, exact mask"),
]
ROWS = ("input", "Telea", "--fast", "default")
CROP = (88, 208)  # source px (h, w) per scene; 2x on the sheet
LABEL_W, GAP, CAPTION, HEAD = 72, 8, 18, 22
FONT = cv2.FONT_HERSHEY_SIMPLEX


def build(scene, fonts, frames: int, seed: int):
    """(input, clean, glyph mask, element boxes, mask used) as the matrix builds that cell:
    [T, H, W, 3] uint8 twice, then [T, H, W] bool."""
    s, camera, bg, kind, _ = scene
    scale = matrix.SCALES[s]
    sd = seed + zlib.crc32(f"{s}/{camera}/{bg}".encode())  # the matrix cell's seed
    choices = matrix.BACKGROUNDS[bg]
    clip, region = choices[(list(matrix.SCALES).index(s) + matrix.CAMERAS.index(camera)) % len(choices)]
    synth = matrix.make_synth(scale, fonts, sd, frames)
    crop = matrix.crop_rows(scale, synth, frames)
    clean = matrix.render_background(scale, camera, clip, region, frames, crop, np.random.default_rng(sd))
    over, glyph, box = matrix.overlay(synth, scale, clean, crop[0])
    with tempfile.TemporaryDirectory(prefix="osdbefore") as tmp:
        inp = matrix.encode(over, Path(tmp) / "scene.mp4")
    return inp, clean, glyph, box, glyph if kind == "exact" else box


def busiest(glyph: np.ndarray, box: np.ndarray, h: int, w: int) -> tuple[slice, slice]:
    """An h x w window centred on the element (box mask part) holding the most glyph pixels."""
    H, W = glyph.shape
    n, lab, stats, cent = cv2.connectedComponentsWithStats(box.astype(np.uint8))
    if n < 2:
        return slice(0, h), slice(0, w)
    i = 1 + int(np.argmax([glyph[lab == k].sum() for k in range(1, n)]))
    # an element wider than the window: centre on its glyphs
    cx = cent[i][0] if stats[i, 2] <= w else np.nonzero(glyph & (lab == i))[1].mean()
    y = int(np.clip(round(stats[i, 1] + stats[i, 3] / 2 - h / 2), 0, H - h))
    x = int(np.clip(round(cx - w / 2), 0, W - w))
    return slice(y, y + h), slice(x, x + w)


def column(scene, fonts, runners, frames: int, t: int, seed: int) -> list[tuple[np.ndarray, float, float]]:
    """Per row: (2x crop of frame t, masked PSNR of that crop, masked PSNR of the scene)."""
    scale = matrix.SCALES[scene[0]]
    inp, clean, glyph, box, mask = build(scene, matrix.fonts_for(scale, {FAMILY: fonts})[0][1], frames, seed)
    d0 = FilterConfig().dilate
    region = np.stack([dilate(g, 2) for g in glyph])
    rects = matrix.rects_of(region.any(0) | mask.any(0), max(2, d0) + 5 + 8)  # as the matrix
    outs = {
        "input": inp,
        "Telea": matrix.cv_inpaint(inp, mask, rects, d0, 3, cv2.INPAINT_TELEA),
        "--fast": matrix.run_osdfilter(runners["--fast"], inp, mask),
        "default": matrix.run_osdfilter(runners["default"], inp, mask),
    }
    ch, cw = CROP
    ys, xs = busiest(glyph[t], box[t], ch, cw)
    print(f"{scene[4]}: frame {t}, {inp.shape[2]}x{inp.shape[1]}, crop x {xs.start}-{xs.stop} y {ys.start}-{ys.stop}",
          flush=True)
    at = (slice(t, t + 1), ys, xs)
    cells = []
    for name in ROWS:
        o = outs[name]
        here = matrix.metrics(o[at], clean[at], region[at], [(slice(None), slice(None))])["psnr"]
        whole = matrix.metrics(o, clean, region, rects)["psnr"]
        cells.append((cv2.resize(o[t, ys, xs], (2 * cw, 2 * ch), interpolation=cv2.INTER_NEAREST), here, whole))
    return cells


def text(img, s: str, org, scale: float = 0.42, color=(255, 255, 255)) -> None:
    cv2.putText(img, s, org, FONT, scale, color, 1, cv2.LINE_AA)


def sheet(columns: list[list], frames: int) -> np.ndarray:
    """Scenes side by side, one row per method, labels and PSNR captions; RGB uint8."""
    ch, cw = CROP
    cell_h = 2 * ch + CAPTION
    img = np.full((HEAD + len(ROWS) * cell_h, LABEL_W + len(columns) * (2 * cw + GAP), 3), 24, np.uint8)
    for j, (scene, cells) in enumerate(zip(SCENES, columns)):
        x0 = LABEL_W + j * (2 * cw + GAP)
        text(img, scene[4], (x0 + 2, 15))
        for i, (crop, here, whole) in enumerate(cells):
            y0 = HEAD + i * cell_h
            img[y0 : y0 + 2 * ch, x0 : x0 + 2 * cw] = crop
            text(img, f"{here:.2f} dB here  ({whole:.2f} dB all {frames} frames)", (x0 + 2, y0 + 2 * ch + 13),
                 0.38, (200, 200, 200))
    for i, name in enumerate(ROWS):
        text(img, name, (6, HEAD + i * cell_h + ch + 5), 0.5, (255, 255, 0))
    return img


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="checkpoint or .onnx for 'default' (default: the packaged model)")
    ap.add_argument("--frames", type=int, default=16, help="frames per scene (encoded, filtered, scored)")
    ap.add_argument("--frame", type=int, default=12, help="the frame shown (late: the fill has history)")
    ap.add_argument("--fonts", type=Path, default=matrix.FONTS)
    ap.add_argument("--seed", type=int, default=matrix.SEED, help="as the matrix's --seed (fixed: reproducible)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "before_after.png")
    args = ap.parse_args()
    if not 0 <= args.frame < args.frames:
        raise SystemExit(f"before_after: --frame must be in 0..{args.frames - 1}")
    if args.model and args.model != "fill" and not Path(args.model).is_file():
        raise SystemExit(f"before_after: no model file {args.model}")
    fonts = load_font_dir(args.fonts / FAMILY) if (args.fonts / FAMILY).is_dir() else []
    if not fonts:
        raise SystemExit(f"before_after: no {FAMILY} fonts under {args.fonts}")

    runners = {"--fast": make_runner("fill"), "default": make_runner(args.model)}
    columns = [column(sc, fonts, runners, args.frames, args.frame, args.seed) for sc in SCENES]
    img = sheet(columns, args.frames)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"\nwrote {args.out} ({img.shape[1]}x{img.shape[0]}, {args.out.stat().st_size / 1e6:.2f} MB); frame "
          f"{args.frame} of {args.frames}, font family {FAMILY}, model {args.model or 'packaged'}")
    print(f"masked PSNR (dB, within 2 px of the glyphs): crop of frame {args.frame} (whole scene, {args.frames} frames)")
    print(f"| scene | {' | '.join(ROWS)} |\n|---|" + "---|" * len(ROWS))
    for scene, cells in zip(SCENES, columns):
        print(f"| {scene[4]} | " + " | ".join(f"{here:.2f} ({whole:.2f})" for _, here, whole in cells) + " |")


if __name__ == "__main__":
    main()
