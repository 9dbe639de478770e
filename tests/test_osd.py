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


@pytest.mark.parametrize("seed,style", [
    *[(s, OSDStyle.exact()) for s in range(4)],
    (4, OSDStyle.exact(p_blur=1.0, p_transparent=1.0, p_colour_icons=1.0, p_ahi=1.0, p_sidebars=1.0)),
])
def test_pixels_change_only_inside_mask(seed, style):
    frames = background(3, 240, 426, seed)
    synth = OSDSynth(240, 426, rng=np.random.default_rng(seed), style=style)
    out, masks, boxes = synth.render_clip(frames)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert masks.shape == boxes.shape == frames.shape[:3] and masks.dtype == bool
    changed = (out != frames).any(-1)
    assert masks.any()
    assert not (changed & ~masks).any(), "overlay drew outside its mask"
    assert changed[masks].mean() > 0.9  # masked pixels really were drawn over
    assert not (masks & ~boxes).any(), "mask pixel outside every element box"


def test_timer_mask_changes_only_where_digits_change():
    """Within a second the mask is constant; across one, only the changed digit cells differ."""
    fps = 10.0
    synth = OSDSynth(270, 480, rng=np.random.default_rng(3), style=only("fly_timer"), fps=fps)
    (el,) = [p.element for p in synth.layout.placed]
    s0, s1 = el.rows(0.0, 0)[0], el.rows(1.0, int(fps))[0]
    m0, b0 = synth.frame_mask(0)
    m1, _ = synth.frame_mask(int(fps))
    assert (m0 != m1).any()
    x0, cw = np.nonzero(b0.any(0))[0].min(), synth.layout.cell_w
    changed_cells = {int((x - x0) // cw) for x in np.nonzero((m0 != m1).any(0))[0]}
    expected = {i for i, (a, b) in enumerate(zip(s0, s1)) if a != b}
    assert changed_cells <= expected
    if "." not in s0:  # whole-second timer: no change inside the second
        assert (synth.frame_mask(int(fps) - 1)[0] == m0).all()


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


def write_mcm(path: Path, glyphs: np.ndarray) -> None:
    """Encode 2-bit pixel codes [N, 18, 12] as a MAX7456 .mcm text file (64 bytes/glyph)."""
    lines = ["MAX7456"]
    for g in glyphs:
        flat = g.reshape(-1)
        data = [int(flat[i] << 6 | flat[i + 1] << 4 | flat[i + 2] << 2 | flat[i + 3]) for i in range(0, 216, 4)]
        data += [0x55] * 10  # unused tail bytes (transparent)
        lines += [f"{b:08b}" for b in data]
    path.write_text("\n".join(lines) + "\n")


def test_mcm_decodes_known_pixels(tmp_path):
    codes = np.random.default_rng(0).integers(0, 4, size=(3, 18, 12)).astype(np.uint8)
    codes[1, 0, 0], codes[1, 0, 1], codes[1, 0, 2], codes[1, 0, 3] = 0, 1, 2, 3
    write_mcm(tmp_path / "t.mcm", codes)
    glyphs = parse_mcm((tmp_path / "t.mcm").read_text())
    assert glyphs.shape == (3, 18, 12, 4) and glyphs.dtype == np.uint8
    alpha, white = glyphs[..., 3] == 255, glyphs[..., 0] == 255
    assert (alpha == ((codes == 0) | (codes == 2))).all()  # 00 black and 10 white are opaque
    assert (white == (codes == 2)).all()
    assert list(glyphs[1, 0, :4, 3]) == [255, 0, 255, 0] and list(glyphs[1, 0, :4, 0]) == [0, 0, 255, 0]


def test_mcm_rejects_other_text():
    with pytest.raises(ValueError, match="MAX7456"):
        parse_mcm("hello\n00000000\n")


def test_png_sheet_pages_and_codes(tmp_path):
    gh, gw, pages = 36, 24, 2
    sheet = np.zeros((256 * gh, pages * gw, 4), np.uint8)
    for page in range(pages):
        for row in (0, 5, 255):
            sheet[row * gh : (row + 1) * gh, page * gw : (page + 1) * gw] = (row, page, 7, 255)
    glyphs = parse_png_sheet(sheet, (gh, gw))
    assert glyphs.shape == (512, gh, gw, 4)
    assert (glyphs[5, ..., 0] == 5).all() and (glyphs[256 + 255, ..., 1] == 1).all()
    # written to disk with an _hd name, the folder loader finds it and sizes it from the name
    cv2.imwrite(str(tmp_path / "font_btfl_hd.png"), cv2.cvtColor(sheet, cv2.COLOR_RGBA2BGRA))
    (font,) = load_font_dir(tmp_path)
    assert font.size == (gh, gw) and font.family == "betaflight" and (font.glyphs == glyphs).all()


def test_synth_with_generated_font_files(tmp_path):
    """Glyphs from a font folder are drawn, and the mask stays exact."""
    codes = np.full((256, 18, 12), 1, np.uint8)
    codes[:, 4:14, 3:9] = 0  # black box with a white core: every glyph is a solid block
    codes[:, 6:12, 5:7] = 2
    write_mcm(tmp_path / "box.mcm", codes)
    fonts = load_font_dir(tmp_path)
    synth = OSDSynth(144, 256, rng=np.random.default_rng(2), fonts=fonts, style=only("callsign", p_builtin=0.0))
    assert synth.font is fonts[0]
    frames = background(2, 144, 256)
    out, masks, _ = synth.render_clip(frames)
    assert masks.any() and not (((out != frames).any(-1)) & ~masks).any()


@pytest.mark.skipif(not SHARED_FONTS.is_dir(), reason="needs ../shared/data/fonts (not shipped)")
def test_real_font_folder():
    fonts = load_font_dir(SHARED_FONTS)
    families = {f.family for f in fonts}
    assert {"betaflight", "inav"} <= families
    mcm = [f for f in fonts if f.size == (18, 12)]
    assert mcm and all(f.glyph(ord("0")) is not None for f in mcm)
    frames = background(2, 270, 480)
    for seed in range(3):
        synth = OSDSynth(270, 480, rng=np.random.default_rng(seed), fonts=fonts, style=OSDStyle.exact(p_builtin=0.0))
        out, masks, _ = synth.render_clip(frames)
        assert masks.any() and not (((out != frames).any(-1)) & ~masks).any()
