"""Place elements on a real OSD character grid, the way pilots do in the configurator.

Positions follow the configurator's 3x5 preset grid (top / upper / centre / lower / bottom
rows x left / centre / right columns), weighted towards corners and edges, with elements at
the same preset stacked inwards. Crosshair, horizon and sidebars sit at the screen centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .elements import Element, centre_elements, make_element

# (row position, column position) -> weight; corners are where pilots put most things.
ANCHORS = {
    ("top", "left"): 4, ("top", "right"): 4, ("bottom", "left"): 4, ("bottom", "right"): 4,
    ("top", "centre"): 2, ("bottom", "centre"): 2.5, ("upper", "left"): 1.5, ("upper", "right"): 1.5,
    ("lower", "left"): 1.5, ("lower", "right"): 1.5, ("centre", "left"): 1, ("centre", "right"): 1,
    ("upper", "centre"): 0.7, ("lower", "centre"): 1.2, ("centre", "centre"): 0.2,
}


@dataclass
class Placed:
    """An element at a pixel position: ``x`` is its left edge, right edge or centre (``align``)."""

    element: Element
    x: float
    y: float
    align: str = "left"


@dataclass
class Layout:
    """A fixed screen layout: grid, glyph cell size in pixels, placed elements."""

    cols: int
    rows: int
    cell_h: int
    cell_w: int
    placed: list[Placed]


def _cell_size(rng, height, width, cols, rows, style) -> tuple[float, float, float, float, int, int]:
    """Grid region (x0, y0, pitch_x, pitch_y) and glyph cell (h, w) for this frame size."""
    rw = width * (rng.uniform(0.8, 1.0) if rng.random() < 0.3 else 1.0)  # 4:3 OSD in 16:9 DVR
    rh = height * (rng.uniform(0.9, 1.0) if rng.random() < 0.3 else 1.0)
    px, py = rw / cols, rh / rows
    ch = max(style.min_cell_px, int(round(py * rng.uniform(*style.cell_scale))))
    cw = int(round(ch * rng.uniform(0.58, 0.72)))
    cw = max(int(round(style.min_cell_px * 0.6)), min(cw, int(px)))
    return (width - rw) / 2, (height - rh) / 2, px, py, ch, cw


def _anchor_cells(pos: tuple[str, str], el: Element, cols: int, rows: int, margin: int) -> tuple[int, int, int]:
    """Start (row, col) of a preset and the direction (+1 down / -1 up) to stack in."""
    rpos, cpos = pos
    row = {"top": margin, "upper": rows // 4, "centre": rows // 2 - el.height // 2,
           "lower": (3 * rows) // 4 - el.height + 1, "bottom": rows - margin - el.height}[rpos]
    col = {"left": margin, "centre": cols // 2 - el.width // 2, "right": cols - margin - el.width}[cpos]
    return row, col, (1 if rpos in ("top", "upper", "centre") else -1)


def _place_one(rng, el, occ, margin) -> tuple[tuple[str, str], int, int] | None:
    """Find free cells for ``el`` at a weighted-random preset, stacking up to 4 deep."""
    rows, cols = occ.shape
    keys = list(ANCHORS)
    p = np.array([ANCHORS[k] for k in keys], float)
    for _ in range(10):
        pos = keys[int(rng.choice(len(keys), p=p / p.sum()))]
        row0, col, step = _anchor_cells(pos, el, cols, rows, margin)
        for k in range(4):
            row = row0 + k * step
            if 0 <= row <= rows - el.height and 0 <= col <= cols - el.width:
                cells = occ[row : row + el.height, max(col - 1, 0) : col + el.width + 1]
                if not cells.any():  # one free column each side keeps elements apart
                    occ[row : row + el.height, col : col + el.width] = True
                    return pos, row, col
    return None


def make_layout(rng: np.random.Generator, height: int, width: int, style) -> Layout:
    """Sample grid, cell size and a random subset of elements placed on the grid."""
    cols, rows = style.grids[int(rng.integers(len(style.grids)))]
    x0, y0, px, py, ch, cw = _cell_size(rng, height, width, cols, rows, style)
    margin = int(rng.random() < 0.7)  # configurator presets keep 1 cell from the edges
    occ = np.zeros((rows, cols), bool)
    placed = _place_centre(rng, occ, (x0, y0, px, py, ch, cw), style)
    names = [n for n, p in style.element_probs.items() if rng.random() < p] or ["battery"]
    for i in rng.permutation(len(names)):
        el = make_element(names[i], rng)
        spot = _place_one(rng, el, occ, margin)
        if spot is None:
            continue  # no room on a small grid: pilots drop elements too
        (_, cpos), row, col = spot
        y = y0 + row * py + (py - ch) / 2
        x = {"left": x0 + col * px, "right": x0 + (col + el.width) * px,
             "centre": x0 + (col + el.width / 2) * px}[cpos]
        placed.append(Placed(el, x, y, cpos))
    return Layout(cols, rows, ch, cw, placed)


def _place_centre(rng, occ, geom, style) -> list[Placed]:
    """Crosshair / AHI / sidebars around the screen centre, glyphs touching (cell pitch)."""
    x0, y0, px, py, ch, cw = geom
    rows, cols = occ.shape
    cx, cy = x0 + (cols / 2) * px, y0 + (rows / 2) * py  # centre of the grid in pixels
    out = []
    for el, dc, dr in centre_elements(rng, cw / ch, style.p_crosshair, style.p_ahi, style.p_sidebars):
        c0 = int(cols / 2 + dc * cw / px)
        r0 = int(rows / 2 + dr * ch / py)
        occ[max(r0, 0) : r0 + el.height + 1, max(c0, 0) : c0 + el.width + 1] = True
        out.append(Placed(el, cx - cw / 2 + dc * cw, cy - ch / 2 + dr * ch, "left"))
    return out
