"""Render a contact sheet of synthetic OSDs over generated backgrounds (docs/osd_sample.png).

    python -m osdfilter.osd.demo docs/osd_sample.png [--fonts DIR]

Each panel is a different seed: layout, grid, font, colours and opacity vary; the panel's
lower strip shows the union mask. Uses only the builtin renderer unless --fonts is given.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from . import OSDSynth, load_font_dir


def landscape(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth sky/ground picture with soft blobs: a stand-in for aerial footage."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, h)[:, None, None]
    horizon = rng.uniform(0.35, 0.65)
    sky = np.array([120, 170, 230]) * (0.7 + 0.3 * y / horizon)
    ground = np.array([rng.uniform(60, 120), rng.uniform(90, 140), rng.uniform(40, 80)]) * (1.2 - 0.4 * y)
    img = np.where(y < horizon, sky, ground) * np.ones((1, w, 1))
    blobs = cv2.GaussianBlur(rng.uniform(-40, 40, (h // 16 + 1, w // 16 + 1, 3)), (0, 0), 1.5)
    img += cv2.resize(blobs, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(img, 0, 255).astype(np.uint8)


def contact_sheet(seeds=range(4), size=(270, 480), fonts=None, frame_index: int = 45) -> np.ndarray:
    """Panels (overlaid frame above its union mask) side by side in two columns, RGB uint8."""
    h, w = size
    panels = []
    for seed in seeds:
        synth = OSDSynth(h, w, rng=np.random.default_rng(seed), fonts=fonts)
        out, _, _ = synth.render_frame(landscape(h, w, seed), frame_index)
        union = synth.union_mask(frame_index + 1)
        mask_strip = cv2.resize(union.astype(np.uint8) * 255, (w, h // 3), interpolation=cv2.INTER_AREA)
        panels.append(np.concatenate([out, np.repeat(mask_strip[..., None], 3, 2)], 0))
    rows = [np.concatenate(panels[i : i + 2], 1) for i in range(0, len(panels), 2)]
    return np.concatenate(rows, 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output", help="PNG file to write")
    ap.add_argument("--fonts", help="folder of .mcm / PNG font sheets (optional)")
    args = ap.parse_args()
    fonts = load_font_dir(args.fonts) if args.fonts else None
    sheet = contact_sheet(fonts=fonts)
    cv2.imwrite(args.output, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])


if __name__ == "__main__":
    main()
