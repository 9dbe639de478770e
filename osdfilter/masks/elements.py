"""OSD elements: the union mask split into numbered groups of glyphs that belong together.

An OSD item ("12.4V", a battery icon and its voltage, a timer) is drawn as a few glyphs on
one text line, each glyph (with its dark outline) usually one connected component of the
mask. Components side by side on one text line, with a horizontal gap of at most ``GAP``
glyph heights (the median height of the mask's components: one font per OSD), are joined
into one element.
Elements are numbered from 1, row by row from the top (a row: the elements whose vertical
centres lie within its topmost one), left to right within a row: the same mask always gives
the same numbers.

``--elements 2,5`` removes only those elements, ``--keep-elements 3`` all but those: the
union mask is cut to the chosen elements, and so is each frame's own mask (a pixel of a
frame mask belongs to the element whose pixels of the union it is).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import cv2
import numpy as np

from ..errors import MaskError, naming_flags, option

# Horizontal gap (in glyph heights) still inside one element. Items pad numbers with
# spaces (a throttle icon, two blanks, "5") and the configurator keeps one blank column
# between items at least, so no gap separates both kinds perfectly: 1.5 keeps most items
# whole with few merges (docs/benchmarks.md, OSD elements).
GAP = 1.5
REMOVED, KEPT = (60, 255, 60), (255, 170, 0)  # RGB of the numbers: elements removed / kept
Numbers = Union[None, str, int, Sequence[int]]


@dataclass(frozen=True)
class Elements:
    """A split mask: ``labels`` int32 ``[H, W]`` (0 outside the mask, the element's number
    inside) and ``boxes[n - 1]`` = ``(x, y, w, h)`` of element ``n``."""

    labels: np.ndarray
    boxes: tuple[tuple[int, int, int, int], ...]

    def __len__(self) -> int:
        return len(self.boxes)

    def region(self, numbers: Iterable[int]) -> np.ndarray:
        """bool ``[H, W]``: the pixels of the elements ``numbers``."""
        lut = np.zeros(len(self.boxes) + 1, bool)
        lut[list(numbers)] = True
        return lut[self.labels]


def split_elements(mask: np.ndarray, gap: float = GAP) -> Elements:
    """Split a mask ``[H, W]`` (non-zero = overlay) into numbered elements (module doc)."""
    m8 = (np.asarray(mask) != 0).astype(np.uint8)
    n, cc, stats, _ = cv2.connectedComponentsWithStats(m8, connectivity=8)
    if n <= 1:
        return Elements(np.zeros(m8.shape, np.int32), ())
    # Bridge gaps of up to `reach` pixels along rows only: a 1-row kernel joins glyphs that
    # share rows (one text line), never an item to the one stacked above it.
    reach = max(1, int(round(gap * float(np.median(stats[1:, cv2.CC_STAT_HEIGHT])))))
    k, joined = cv2.connectedComponents(cv2.dilate(m8, np.ones((1, reach + 1), np.uint8)), connectivity=8)
    group = np.zeros(n, np.int64)  # glyph component -> joined component (all its pixels agree)
    on = m8.view(bool)
    group[cc[on]] = joined[on]
    x, y, w, h = (stats[1:, i].astype(np.int64) for i in range(4))
    ids, inverse = np.unique(group[1:], return_inverse=True)
    x0 = np.full(len(ids), np.iinfo(np.int64).max)
    y0 = x0.copy()
    x1 = np.zeros(len(ids), np.int64)
    y1 = x1.copy()
    np.minimum.at(x0, inverse, x)
    np.minimum.at(y0, inverse, y)
    np.maximum.at(x1, inverse, x + w)
    np.maximum.at(y1, inverse, y + h)
    boxes = [(int(a), int(b), int(c - a), int(d - b)) for a, b, c, d in zip(x0, y0, x1, y1)]
    number = np.zeros(k, np.int32)  # joined component -> element number
    out = []
    for num, i in enumerate(reading_order(boxes), 1):
        number[ids[i]] = num
        out.append(boxes[i])
    return Elements(np.where(on, number[joined], 0).astype(np.int32), tuple(out))


def reading_order(boxes: Sequence[tuple[int, int, int, int]]) -> list[int]:
    """Indices of ``(x, y, w, h)`` boxes row by row from the top, left to right in a row. A
    row starts at the topmost box left and takes the boxes whose vertical centre lies in it."""
    b = np.asarray(boxes, np.int64).reshape(-1, 4)
    left = np.lexsort((b[:, 0], b[:, 1]))  # by top, then left
    order: list[int] = []
    while len(left):
        top = b[left[0]]
        row = 2 * b[left, 1] + b[left, 3] < 2 * (top[1] + top[3])  # centre above its bottom
        order += left[row][np.lexsort((b[left[row], 1], b[left[row], 0]))].tolist()
        left = left[~row]
    return order


def _shown() -> str:
    """Where the numbers are shown: the command's flag or the API's function."""
    return "--preview" if naming_flags() else "preview_video"


def parse_numbers(value: Numbers, name: str) -> Optional[tuple[int, ...]]:
    """``"2,5"``, ``5`` or ``[2, 5]`` -> ``(2, 5)``; None/empty -> None. One-line
    :class:`MaskError` for anything else."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, str):
            nums = tuple(int(p) for p in value.replace(" ", "").split(",") if p)
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            nums = (int(value),)
        else:
            nums = tuple(int(v) for v in value if not isinstance(v, bool) and float(v) == int(v))
            if len(nums) != len(value):
                raise ValueError
    except (TypeError, ValueError):
        raise MaskError(f"{option(name)} {value!r}: expected element numbers like 2,5 (see {_shown()})") from None
    if not nums or min(nums) < 1:
        raise MaskError(f"{option(name)} {value!r}: expected element numbers from 1 up, like 2,5 (see {_shown()})")
    return nums


def check_choice(only: Numbers, keep: Numbers) -> tuple[Optional[tuple[int, ...]], Optional[tuple[int, ...]]]:
    """Parsed ``--elements`` / ``--keep-elements``; both given is an error (before any work)."""
    a, b = parse_numbers(only, "elements"), parse_numbers(keep, "keep_elements")
    if a and b:
        raise MaskError(f"{option('elements')} and {option('keep_elements')} exclude each other: give one of them")
    return a, b


def choose(elements: Elements, only: Optional[Sequence[int]], keep: Optional[Sequence[int]]) -> Optional[tuple[int, ...]]:
    """The numbers of the elements to remove (None: all, no choice made). Raises a one-line
    :class:`MaskError` for a number the split does not have."""
    if not only and not keep:
        return None
    asked = only or keep
    missing = sorted({n for n in asked if not 1 <= n <= len(elements)})
    if missing:
        which = ", ".join(map(str, missing))
        name = option("elements" if only else "keep_elements")
        has = f"it has {len(elements)}, numbered 1-{len(elements)}" if len(elements) > 1 else "it has 1" if elements else "it is empty"
        raise MaskError(f"{name}: no OSD element {which} in the mask ({has}; {_shown()} shows them)")
    if only:
        return tuple(sorted(set(only)))
    return tuple(n for n in range(1, len(elements) + 1) if n not in set(keep))


class SelectedLayout:
    """An automatic layout (``OSDLayout``) cut to the chosen elements: each frame's mask
    keeps only their pixels."""

    def __init__(self, layout: Any, region: np.ndarray) -> None:
        self.layout, self.region = layout, region
        self.union = layout.union & region

    def frame_mask(self, frame: np.ndarray) -> np.ndarray:
        return self.layout.frame_mask(frame) & self.region

    def __getattr__(self, name: str) -> Any:
        return getattr(self.layout, name)


# --- drawing: the numbers, on the preview and beside --save-mask ---------------------------


def draw_label(img: np.ndarray, text: str, box: tuple[int, int, int, int], colour: tuple[int, int, int]) -> None:
    """``text`` in a filled box next to ``box`` (x0, y0, x1, y1): left of it (OSD items
    stack in columns with tight rows), else at the frame's left edge above it, else below."""
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.4
    (tw, th), _ = cv2.getTextSize(text, font, scale, 1)
    x0, y0, x1, y1 = box
    if x0 - tw - 4 >= 0:
        x, y = x0 - tw - 4, min(max(th + 3, (y0 + y1 + th) // 2 + 1), img.shape[0] - 2)
    elif y0 - th - 4 >= 0:
        x, y = x0, y0 - 2
    else:
        x, y = x0, y1 + th + 4
    x = min(max(0, x), img.shape[1] - tw - 2)
    cv2.rectangle(img, (x, y - th - 3), (x + tw + 2, y + 1), colour, -1)
    cv2.putText(img, text, (x + 1, y - 1), font, scale, (0, 0, 0), 1, cv2.LINE_AA)


def draw_numbers(img: np.ndarray, elements: Elements, removed: Optional[Sequence[int]], scale: float = 1.0) -> None:
    """Each element's number on ``img`` (RGB, the frame at ``scale``): green if it is
    removed, orange with its box outlined if it is kept. ``removed`` None: all."""
    gone = set(range(1, len(elements) + 1) if removed is None else removed)
    for num, (x, y, w, h) in enumerate(elements.boxes, 1):
        x0, y0, x1, y1 = (int(round(v * scale)) for v in (x, y, x + w, y + h))
        if num not in gone:
            cv2.rectangle(img, (x0 - 1, y0 - 1), (x1, y1), KEPT, 1)
        draw_label(img, str(num), (x0, y0, x1, y1), REMOVED if num in gone else KEPT)


def labels_path(mask_path: Any) -> Path:
    """Where ``--save-mask NAME.png`` puts its numbered picture: ``NAME.elements.png``."""
    p = Path(mask_path)
    return p.with_name(f"{p.stem}.elements.png")


def write_labels(mask_path: Any, elements: Elements, removed: Optional[Sequence[int]]) -> Path:
    """Beside the saved mask (which stays a plain mask to pass back as ``--mask``): the
    elements numbered, removed ones white, kept ones grey. Returns its path."""
    img = np.where(elements.labels[..., None] > 0, 90, 0).astype(np.uint8).repeat(3, axis=2)
    gone = np.zeros(len(elements) + 1, bool)
    gone[list(range(1, len(elements) + 1) if removed is None else removed)] = True
    img[gone[elements.labels]] = 255
    draw_numbers(img, elements, removed)
    path = labels_path(mask_path)
    try:
        ok = cv2.imwrite(os.fspath(path), img[..., ::-1])
    except cv2.error:
        ok = False
    if not ok:
        raise MaskError(f"cannot write {path}")
    return path
