"""How well the OSD element split (``osdfilter.masks.elements``) finds whole items.

Renders synthetic OSD layouts (``osdfilter.osd``: the configurator's grid, items placed by
its presets, no degradations) at 640x360 and 1280x720, takes each item's pixels over 30
frames of a 30 s flight and their union, splits the union and counts per item: whole
(exactly one element, holding no other item), split (over several elements), merged (its
element holds another item too). Chose ``GAP``.

    python benchmarks/elements.py [--setups 60] [--gap 1.0 1.5 2.0]
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from osdfilter.masks.elements import GAP, split_elements
from osdfilter.osd import OSDStyle, OSDSynth
from osdfilter.osd.synth import _clip

SIZES = ((360, 640), (720, 1280))


def item_masks(synth: OSDSynth, frames: range) -> list[tuple[str, np.ndarray]]:
    """(name, pixels over ``frames``) of each item of the synth's layout that shows."""
    out: dict[int, tuple[str, np.ndarray]] = {}
    for t in frames:
        seconds = t / synth.fps
        shown = [p for p in synth.layout.placed if any(r.strip() for r in p.element.rows(seconds, t))]
        for p, (_, alpha, top, left, _) in zip(shown, synth._items(t)):
            name, m = out.setdefault(id(p), (p.element.name, np.zeros((synth.height, synth.width), bool)))
            fy, fx, py, px = _clip(top, left, alpha.shape, m.shape)
            if fy is not None:
                m[fy, fx] |= alpha[py, px] > 0
    return [v for v in out.values() if v[1].any()]


def score(gap: float, setups: int) -> tuple[Counter, Counter]:
    totals, per_item = Counter(), Counter()
    for seed in range(setups):
        h, w = SIZES[seed % len(SIZES)]
        synth = OSDSynth(h, w, rng=np.random.default_rng(seed), style=OSDStyle.exact())
        items = item_masks(synth, range(0, 900, 30))
        union = np.logical_or.reduce([m for _, m in items])
        labels = split_elements(union, gap).labels
        for name, m in items:
            mine = set(np.unique(labels[m]).tolist()) - {0}
            merged = any(np.isin(labels[other], list(mine)).any() for n, other in items if other is not m)
            kind = "merged" if merged else "split" if len(mine) > 1 else "whole"
            totals[kind] += 1
            per_item[name, kind] += 1
    return totals, per_item


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--setups", type=int, default=60)
    ap.add_argument("--gap", type=float, nargs="+", default=[1.0, GAP, 2.0])
    ap.add_argument("--items", action="store_true", help="counts per item kind too")
    args = ap.parse_args()
    for gap in args.gap:
        totals, per_item = score(gap, args.setups)
        n = sum(totals.values())
        print(f"gap {gap:.2f} glyph heights: {n} items, whole {totals['whole']}, split {totals['split']}, merged {totals['merged']}")
        if args.items:
            for name in sorted({k[0] for k in per_item}):
                print(f"  {name:14s} " + "  ".join(f"{kind} {per_item[name, kind]:3d}" for kind in ("whole", "split", "merged")))


if __name__ == "__main__":
    main()
