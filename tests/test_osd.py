"""OSD synthesis: real rendering, exact masks, font parsing, reproducibility, odd sizes."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from osdfilter.osd import OSDStyle, OSDSynth, load_font_dir, parse_mcm, parse_png_sheet
from osdfilter.osd.elements import DEFAULT_PROBS

SHARED_FONTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "fonts"


def background(T: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """A textured clip so any overlay pixel changes the picture (flat grey would hide black)."""
    rng = np.random.default_rng(seed)
    return rng.integers(40, 215, size=(T, h, w, 3), dtype=np.uint8)


def only(*names: str, **kw) -> OSDStyle:
    """An exact (undegraded) style that shows exactly the named elements."""
    probs = {n: (1.0 if n in names else 0.0) for n in DEFAULT_PROBS}
    base = dict(element_probs=probs, p_crosshair=0.0, p_ahi=0.0, p_sidebars=0.0)
    return OSDStyle.exact(**{**base, **kw})


@pytest.mark.parametrize("seed", range(4))
def test_pixels_change_only_inside_mask(seed):
    frames = background(3, 240, 426, seed)
    synth = OSDSynth(240, 426, rng=np.random.default_rng(seed), style=OSDStyle.exact())
    out, masks, boxes = synth.render_clip(frames)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert masks.shape == boxes.shape == frames.shape[:3] and masks.dtype == bool
    changed = (out != frames).any(-1)
    assert masks.any()
    assert not (changed & ~masks).any(), "overlay drew outside its mask"
    assert changed[masks].mean() > 0.9  # masked pixels really were drawn over
    assert not (masks & ~boxes).any(), "mask pixel outside every element box"


def test_timer_mask_changes_only_where_digits_change():
    fps = 10.0
    synth = OSDSynth(270, 480, rng=np.random.default_rng(3), style=only("fly_timer"), fps=fps)
    (el,) = [p.element for p in synth.layout.placed]
    # frames 0 and 1 s apart: the seconds digit changes, the icon and the colon do not
    m0, _ = synth.frame_mask(0)
    m1, _ = synth.frame_mask(int(fps))
    diff = m0 != m1
    assert diff.any()
    s0, s1 = el.rows(0.0, 0)[0], el.rows(1.0, 10)[0]
    same_cells = [i for i, (a, b) in enumerate(zip(s0, s1)) if a == b]
    ys, xs = np.nonzero(m0 | m1)
    x0, cw = xs.min(), synth.layout.cell_w
    changed_cols = {int((x - x0) // cw) for x in np.nonzero(diff)[1]}
    assert changed_cols.isdisjoint(same_cells[:-1]) or len(changed_cols) <= 2
    # within one second (no hundredths), nothing changes
    if ":" in s0 and "." not in s0:
        assert (synth.frame_mask(1)[0] == m0).all()


def test_timer_changes_confined_to_digit_cells():
    synth = OSDSynth(270, 480, rng=np.random.default_rng(3), style=only("fly_timer"), fps=10.0)
    m0, b0 = synth.frame_mask(0)
    m1, b1 = synth.frame_mask(10)
    assert (b0 == b1).all()  # the element box stays fixed to the screen
    cols = np.nonzero((m0 != m1).any(0))[0]
    box_cols = np.nonzero(b0.any(0))[0]
    # the change is in the right part of the box (the seconds digits), not at the icon
    assert cols.min() > box_cols.min() + synth.layout.cell_w


def test_union_mask_covers_every_frame():
    synth = OSDSynth(180, 320, rng=np.random.default_rng(5), style=OSDStyle.exact())
    union = synth.union_mask(12)
    _, masks, _ = synth.render_clip(background(12, 180, 320))
    assert (union == masks.any(0)).all()


def test_reproducible_by_seed():
    frames = background(4, 120, 160)
    a = OSDSynth(120, 160, rng=np.random.default_rng(11)).render_clip(frames)
    b = OSDSynth(120, 160, rng=np.random.default_rng(11)).render_clip(frames)
    for x, y in zip(a, b):
        assert (x == y).all()
    synth = OSDSynth(120, 160, rng=np.random.default_rng(11))
    streamed = synth.render_frame(frames[2], 2)  # random access equals the clip's frame 2
    assert all((s == c[2]).all() for s, c in zip(streamed, a))


@pytest.mark.parametrize("h,w", [(61, 97), (182, 322), (1080, 1920)])
def test_odd_and_large_sizes(h, w):
    frames = background(2, h, w)
    for seed in range(3):
        out, masks, boxes = OSDSynth(h, w, rng=np.random.default_rng(seed)).render_clip(frames)
        assert out.shape == (2, h, w, 3) and masks.shape == (2, h, w)


def test_rejects_wrong_frame_shape():
    with pytest.raises(ValueError, match="frame must be"):
        OSDSynth(64, 64, rng=np.random.default_rng(0)).render_frame(np.zeros((32, 64, 3), np.uint8), 0)
