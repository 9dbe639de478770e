"""Automatic OSD mask detection on generated clips (no shared data needed)."""

import functools

import cv2
import numpy as np
import pytest

from osdfilter.masks.auto.config import AutoMaskConfig
from osdfilter.masks.auto.cues import glyph_cue, mask_recall_precision
from osdfilter.masks.auto.detector import MaskDetector, OSDLayout
from osdfilter.filter.scenecut import is_cut

H, W, T = 192, 320, 40
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _texture(h: int, w: int, seed: int, bright: bool = False) -> np.ndarray:
    """A colourful smooth-noise texture, uint8 RGB [h, w, 3]."""
    rng = np.random.default_rng(seed)
    out = np.zeros((h, w, 3), np.float32)
    for scale in (4, 16, 48):
        small = rng.uniform(0, 1, (h // scale + 2, w // scale + 2, 3)).astype(np.float32)
        out += cv2.resize(small, (w + 2 * scale, h + 2 * scale),
                          interpolation=cv2.INTER_CUBIC)[scale:scale + h, scale:scale + w]
    out = (out - out.min()) / (out.max() - out.min())
    if bright:  # overcast sky / snow: near-white, low contrast
        out = 215 + 40 * out
    else:
        out = 20 + 215 * out
    return np.clip(out, 0, 255).astype(np.uint8)


def _text(img: np.ndarray, mask: np.ndarray, s: str, org, scale=0.55, thick=1) -> None:
    """White text with a 1 px black outline into img (in place), its pixels into mask.

    The outline is a dilation of the glyph alpha, as in OSD fonts: OpenCV's own thick
    anti-aliased strokes would cover a thinner outline drawn first.
    """
    white = np.zeros(img.shape[:2], np.uint8)
    cv2.putText(white, s, org, FONT, scale, 255, thick, cv2.LINE_AA)
    a_white = white.astype(np.float32)[..., None] / 255
    a_outline = cv2.dilate(white, np.ones((3, 3), np.uint8)).astype(np.float32)[..., None] / 255
    out = img * (1 - a_outline)  # black outline
    out = out * (1 - a_white) + 255 * a_white
    img[:] = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    mask |= (a_outline[..., 0] > 0.25).astype(np.uint8)


def _osd(frame: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Static elements + a ticking timer; returns (overlaid, gt bool mask)."""
    img, mask = frame.copy(), np.zeros(frame.shape[:2], np.uint8)
    _text(img, mask, "12.6V", (10, 24))
    _text(img, mask, "RSSI 99", (220, 24))
    _text(img, mask, "ALT 35m", (10, 180))
    _text(img, mask, f"0{t // 60}:{t % 60:02d}.{(7 * t) % 10}", (215, 180))
    _text(img, mask, "+", (152, 100), scale=0.8)
    return img, mask > 0


@functools.cache
def _clip(motion: str = "pan", osd: bool = True, bright: bool = False):
    """T frames [T, H, W, 3] over a textured background, and GT masks [T, H, W]."""
    bg = _texture(H + 2 * T, W + 4 * T, seed=1, bright=bright)
    frames, masks = [], []
    for t in range(T):
        if motion == "pan":
            f = bg[T + int(12 * np.sin(t / 5)):, 3 * t:][:H, :W]
        else:
            f = bg[:H, :W]
        if osd:
            f, m = _osd(f, t)
        else:
            f, m = f.copy(), np.zeros((H, W), bool)
        frames.append(f)
        masks.append(m)
    return np.stack(frames), np.stack(masks)


def _detect(frames, **cfg) -> OSDLayout:
    det = MaskDetector(H, W, AutoMaskConfig(**cfg))
    for f in frames:
        det.observe(f)
    return det.finish()


def _score(layout: OSDLayout, frames, masks) -> tuple[float, float]:
    rp = [mask_recall_precision(layout.frame_mask(f), m) for f, m in zip(frames, masks)]
    return tuple(float(v) for v in np.mean(rp, axis=0))


def test_moving_background_static_and_changing_text():
    frames, masks = _clip("pan")
    layout = _detect(frames)
    recall, precision = _score(layout, frames, masks)
    assert recall >= 0.97, recall
    assert precision >= 0.7, precision
    assert layout.boxes, "the timer should be an active cell"
    for f in frames[:3]:
        assert not (layout.frame_mask(f) & ~layout.union).any()


def test_no_osd_gives_empty_mask():
    frames, _ = _clip("pan", osd=False)
    layout = _detect(frames)
    assert layout.union.mean() < 0.001


def test_static_background_still_finds_text():
    frames, masks = _clip("static")
    recall, _ = _score(_detect(frames), frames, masks)
    assert recall >= 0.9, recall


def test_the_layout_says_whether_the_camera_stood_still():
    """A still camera gives the detector no temporal evidence: the layout says so (the run
    then warns that the mask rests on the glyphs' look alone)."""
    assert _detect(_clip("static")[0]).still_camera
    assert not _detect(_clip("pan")[0]).still_camera


def test_low_contrast_footage_that_moves_is_not_a_still_camera():
    """Haze, overcast, sea: a panning scene at a fifth of its contrast changes each pixel
    little (median temporal std ~4, under moving_std), but that std is large against the
    scene's own gradient; a still copy of it, sensor noise included, stays still."""
    bg = _texture(H + 2 * T, W + 4 * T, seed=1).astype(np.float32)
    bg = np.clip(170 + (bg - 128) * 0.2, 0, 255).astype(np.uint8)
    frames, masks = zip(*(_osd(bg[T + int(12 * np.sin(t / 5)):, 3 * t:][:H, :W], t) for t in range(T)))
    frames, masks = np.stack(frames), np.stack(masks)
    det = MaskDetector(H, W)
    for f in frames:
        det.observe(f)
    assert det.camera_motion() < det.config.moving_std and det.camera_moves()
    layout = det.finish()
    assert not layout.still_camera
    recall, precision = _score(layout, frames, masks)
    assert recall >= 0.97 and precision >= 0.7, (recall, precision)
    noise = np.random.default_rng(0).normal(0, 3, frames.shape)
    still = np.clip(frames[:1] + noise, 0, 255).astype(np.uint8)
    assert _detect(still).still_camera


def test_bright_background_behind_white_text():
    frames, masks = _clip("pan", bright=True)
    layout = _detect(frames)
    recall, precision = _score(layout, frames, masks)
    assert recall >= 0.9, recall
    assert precision >= 0.5, precision
    assert layout.union.mean() < 0.2  # not the whole sky


def test_scene_cut_fires_on_cut_not_on_motion():
    frames, _ = _clip("pan")
    assert not any(is_cut(a, b) for a, b in zip(frames[:-1], frames[1:]))
    other = _osd(np.ascontiguousarray(_texture(H, W, seed=7)[:, ::-1, ::-1]), 5)[0]
    assert is_cut(frames[10], other)


def test_user_mask_and_exclusion():
    frames, masks = _clip("pan")
    det = MaskDetector(H, W, AutoMaskConfig())
    for f in frames:
        det.observe(f)
    user = np.zeros((H, W), bool)
    user[100:110, 100:110] = True
    layout = det.finish(user_mask=user, exclude=[(0, 0, W // 2, 40)])
    assert layout.union[100:110, 100:110].all()
    assert not layout.union[:40, :W // 2].any()
    assert not layout.frame_mask(frames[0])[:40, :W // 2].any()
    assert layout.union[:40, W // 2:].any()


def test_save_png_roundtrip(tmp_path):
    frames, _ = _clip("pan")
    layout = _detect(frames[:10])
    path = tmp_path / "mask.png"
    layout.save_png(path)
    back = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert back.shape == (H, W)
    assert ((back > 127) == layout.union).all()


def test_downscaled_working_resolution_keeps_full_size_masks():
    frames, masks = _clip("pan")
    layout = _detect(frames, max_work_width=240, stroke_px=5)
    assert layout.union.shape == (H, W)
    recall, _ = _score(layout, frames[:5], masks[:5])
    assert recall >= 0.85, recall


def test_glyph_cue_ignores_plain_bright_area():
    img = np.full((40, 40, 3), 250, np.uint8)
    assert not glyph_cue(img).any()
    img[:, 20:] = 0  # a bright/dark step edge is not an outlined stroke
    assert not glyph_cue(img, outline_px=0).any()


def test_frame_size_checked():
    det = MaskDetector(H, W)
    with pytest.raises(ValueError, match="frame size"):
        det.observe(np.zeros((10, 10, 3), np.uint8))
    assert OSDLayout.empty(H, W).is_empty


def test_enclosed_cue_closed_glyph_not_open_line():
    from osdfilter.masks.auto.cues import _enclosed_cue

    img = np.full((60, 80, 3), 40, np.uint8)
    img[10:14, 5:75] = 250  # long bright bar with dark flanks: open along its length
    img[30:40, 30:34] = 250  # short stroke closed by dark on all sides, like a glyph "1"
    img[42:60, 36:80] = (255, 0, 0)  # saturated red area: its own luma is no dark flank
    for reach in (7, 10):
        cue = _enclosed_cue(img, 100, 30, 7, reach)
        assert cue[30:40, 30:34].any()
        assert not cue[10:14, 15:65].any()
        assert not cue[49:53, 50:66].any()
    img[20:22, 40:57] = 250  # 17 px dash: closed within 10 px along it, not within 7
    assert not _enclosed_cue(img, 100, 30, 7, 7)[20:22, 40:57].any()
    assert _enclosed_cue(img, 100, 30, 7, 10)[20:22, 40:57].any()


def _horizon(frame: np.ndarray, t: int) -> np.ndarray:
    """An artificial horizon into ``frame`` (in place): 7 outlined dashes through the
    centre that tilt and rise with the craft's attitude; returns its pixels."""
    m = np.zeros(frame.shape[:2], np.uint8)
    roll = 0.35 * np.sin(t / 4)
    for k in range(-3, 4):
        x = W // 2 + 12 * k
        y = int(round(H // 2 + 10 * np.sin(t / 7) + np.tan(roll) * 12 * k))
        cv2.rectangle(m, (x - 6, y - 2), (x + 5, y + 1), 1, -1)
    frame[m > 0] = 10
    frame[cv2.erode(m, np.ones((3, 3), np.uint8)) > 0] = 255
    return m > 0


def test_artificial_horizon_is_watched_frame_by_frame():
    """Moving camera over sky: the horizon's dashes move with the attitude, on no text
    line, so they were left in (none of them masked); the centre box where strokes came and went
    is now watched frame by frame. Without a horizon nothing changes."""
    bg = _texture(H + 2 * T, W + 4 * T, seed=1, bright=True)
    frames, horizon = [], []
    for t in range(T):
        f, _ = _osd(bg[T + int(12 * np.sin(t / 5)):, 3 * t:][:H, :W], t)
        horizon.append(_horizon(f, t))
        frames.append(f)
    masked = {}
    for cells in (None, AutoMaskConfig().horizon_cells):
        layout = _detect(frames, horizon_cells=cells)
        masked[cells] = np.mean([(layout.frame_mask(f) & a).sum() / a.sum() for f, a in zip(frames, horizon)])
    assert masked[None] < 0.5 and masked[AutoMaskConfig().horizon_cells] > 0.9, masked
    plain, _ = _clip("pan")
    off, on = _detect(plain, horizon_cells=None), _detect(plain)
    for f in plain[:5]:
        assert (off.frame_mask(f) == on.frame_mask(f)).all()


def test_horizon_box_as_large_as_the_frame_is_not_compared():
    """Glyphs so large in a small frame that the horizon's box covers it all: no ring of
    scene to compare with, so no box (it warned "Mean of empty slice")."""
    import warnings

    bg = _texture(96 + 80, 96 + 160, seed=2)
    frames = []
    for t in range(30):
        f = bg[t:t + 96, 3 * t:3 * t + 96].copy()
        _text(f, np.zeros((96, 96), np.uint8), "8", (30, 70), scale=2.0, thick=4)
        frames.append(f)
    layouts = []
    for cells in (AutoMaskConfig().horizon_cells, None):
        det = MaskDetector(96, 96, AutoMaskConfig(horizon_cells=cells))
        for f in frames:
            det.observe(f)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            layouts.append(det.finish())
    assert not layouts[0].still_camera
    assert (layouts[0].active == layouts[1].active).all()


@functools.cache
def _icon_clip(motion: str, closed: bool):
    """30 frames of 360x640 with "16.4V", a filled battery icon before it (body 12x16 px,
    wider than a stroke, 1 px dark outline) and after it a bright patch of scene as big,
    framed dark on three sides (``closed``: on all four); returns (frames, body, patch)."""
    h, w, t_n = 360, 640, 30
    bg = _texture(h + 2 * t_n, w + 4 * t_n, seed=3)
    icon = np.zeros((h, w), np.uint8)
    cv2.rectangle(icon, (30, 20), (43, 37), 1, -1)
    cv2.rectangle(icon, (33, 17), (39, 20), 1, -1)  # the battery's nub
    body = cv2.erode(icon, np.ones((3, 3), np.uint8)).view(bool)
    patch = np.zeros((h, w), bool)
    patch[22:38, 156:168] = True
    frames = []
    for t in range(t_n):
        f = (bg[t_n + int(12 * np.sin(t / 5)):, 3 * t:] if motion == "pan" else bg)[:h, :w].copy()
        _text(f, np.zeros((h, w), np.uint8), "16.4V", (50, 40), scale=0.9, thick=2)
        f[icon > 0] = 20
        f[body] = (200, 240, 150)
        f[21:39, 155:169] = 20
        f[10 if not closed else 22:38, 156:168] = 235
        frames.append(f)
    return np.stack(frames), body, patch


@pytest.mark.parametrize("motion", ["static", "pan"])
def test_filled_icon_body_is_masked(motion):
    """A filled icon wider than a stroke kept only its thin parts (70 % of the body on a
    still camera, 88 % in a pan) and the fill smeared the rest back in; the body its
    outline closes in is masked now. A bright patch of scene beside the text gains
    nothing while it is open on one side (and would be taken if closed: the ring decides)."""
    span = AutoMaskConfig().body_span
    masks = {}
    for closed in (False, True):
        frames, body, patch = _icon_clip(motion, closed)
        for s in (0.0, span):
            det = MaskDetector(*body.shape, AutoMaskConfig(body_span=s))
            for f in frames:
                det.observe(f)
            layout = det.finish()
            assert layout.still_camera == (motion == "static")
            masks[closed, s] = layout.frame_mask(frames[-1])
    assert masks[False, 0.0][body].mean() < 0.9 and masks[False, span][body].mean() > 0.98
    assert (masks[False, span] & patch).sum() == (masks[False, 0.0] & patch).sum()
    assert (masks[True, span] & patch).sum() > (masks[True, 0.0] & patch).sum() + 20


def test_text_line_keeps_faint_glyph_beside_anchor():
    from osdfilter.masks.auto.cues import _on_anchor_line

    cfg = AutoMaskConfig()
    anchors = np.array([[0, 0, 0, 0, 0], [10, 20, 6, 10, 40], [18, 20, 6, 10, 40]])
    comps = np.array([[0, 0, 0, 0, 0],
                      [27, 21, 5, 8, 20],  # faint digit on the line
                      [27, 40, 5, 8, 20],  # same size, next row
                      [0, 10, 60, 25, 300],  # scene edge crossing the line
                      [1, 18, 7, 14, 60]])  # icon taller than the digits, beside them
    keep = _on_anchor_line(comps, anchors, np.array([False, True, True]), cfg)
    assert keep.tolist() == [False, True, False, False, True]


def test_screen_fixed_object_with_open_edges_is_not_text():
    """A tracked subject in a pan (same screen position every frame): bright panel with
    dark stripes 8 px apart and dividers 30 px apart. Its edges are as persistent as the
    OSD, but no bright pixel is closed on all four sides, so it is not masked (it was
    entirely, precision 0.53, before the enclosed-stroke anchors)."""
    frames, masks = _clip("pan")
    frames = frames.copy()
    for f in frames:
        f[120:142, 60:150] = 200
        for y in range(122, 142, 8):
            f[y:y + 2, 60:150] = 20
        for x in range(60, 150, 30):
            f[120:142, x:x + 2] = 20
    layout = _detect(frames)
    recall, precision = _score(layout, frames, masks)
    assert recall >= 0.97, recall
    assert precision >= 0.7, precision
    assert layout.union[120:142, 60:150].mean() < 0.1


def test_outlined_crosshair_with_long_arms_in_pan():
    """An outlined "+" whose arms reach past the stroke window (13 px long) is still an
    anchor, with no text line next to it (lost with hv_reach = stroke_px)."""
    frames, masks = _clip("pan")
    frames, masks = frames.copy(), masks.copy()
    white = np.zeros((H, W), np.uint8)
    cv2.line(white, (154, 140), (166, 140), 255, 2)
    cv2.line(white, (160, 134), (160, 146), 255, 2)
    a = white.astype(np.float32)[..., None] / 255
    outline = cv2.dilate(white, np.ones((3, 3), np.uint8)).astype(np.float32)[..., None] / 255
    for f, m in zip(frames, masks):
        f[:] = np.clip(f * (1 - outline) * (1 - a) + 255 * a + 0.5, 0, 255).astype(np.uint8)
        m |= outline[..., 0] > 0.25
    layout = _detect(frames)
    assert layout.union[131:150, 151:170][white[131:150, 151:170] > 0].mean() > 0.9
    recall, precision = _score(layout, frames, masks)
    assert recall >= 0.97, recall


def test_static_camera_text_beside_tall_structure_is_split_off():
    """Static camera: "12.6V" touches a full-height railing (bright bars, dark gaps), so
    text and railing form one component taller than a text line. It used to be dropped
    whole; the text's own outlined strokes are now kept."""
    frames, masks = _clip("static")
    frames = frames.copy()
    for f in frames:
        for x in range(62, 90, 6):
            f[:, x:x + 3] = 240
            f[:, x + 3:x + 6] = 20
        for y in range(0, H, 9):
            f[y:y + 2, 62:90] = 240
    layout = _detect(frames)
    text = masks[0][10:28, 8:60]
    assert layout.union[10:28, 8:60][text].mean() > 0.9
    recall, _ = _score(layout, frames, masks)
    assert recall >= 0.9, recall


def test_static_net_weights_small_and_shapes():
    """The packaged static-camera classifier: small weights module, probabilities of the
    input's size (sizes not a multiple of 4 are padded and cropped back)."""
    from pathlib import Path

    from osdfilter.masks.auto import classifier as automask_net

    path = Path(automask_net.__file__).parents[2] / "weights" / f"{automask_net.WEIGHTS}.npz"
    assert path.stat().st_size < 400_000  # well under 1 MB (a 66k-weight net: ~185 KB)
    assert automask_net.available()
    rng = np.random.default_rng(0)
    mean = rng.uniform(0, 255, (37, 53, 3)).astype(np.float32)
    feat = automask_net.features(mean, np.ones((37, 53), np.float32), np.zeros((37, 53), np.float32),
                                 np.zeros((37, 53), bool))
    assert feat.shape == (automask_net.N_FEATURES, 37, 53)
    prob = automask_net.predict(feat)
    assert prob.shape == (37, 53) and prob.dtype == np.float32
    assert 0.0 <= prob.min() and prob.max() <= 1.0


def test_static_net_arch_any_size():
    """The shipped net and a 4-scale one with row context at 1/8 (docs/automask.md, not
    shipped): any frame size, down to 1 px, comes back at its own size (edge-padded)."""
    from osdfilter.masks.auto import classifier as automask_net

    for net in (automask_net._build((8, 16, 24, 32), 8).eval(), automask_net._model()):
        for h, w in ((1, 1), (5, 3), (37, 53), (61, 90)):
            feat = automask_net.features(np.zeros((h, w, 3), np.float32), np.ones((h, w), np.float32),
                                         np.zeros((h, w), np.float32), np.zeros((h, w), bool))
            prob = automask_net.predict(feat, net)
            assert prob.shape == (h, w), (h, w)


def test_static_net_drops_scene_strokes_keeps_text():
    """Static camera: a railing (bright bars, dark gaps) passes the outlined-stroke cue;
    the learned classifier removes part of it and keeps the text."""
    frames, masks = _clip("static")
    frames = frames.copy()
    for f in frames:
        for x in range(62, 90, 6):
            f[40:150, x:x + 3] = 240
            f[40:150, x + 3:x + 6] = 20
    scores = {}
    for net in (True, False):
        layout = _detect(frames, static_net=net)
        scores[net] = _score(layout, frames, masks)
    assert scores[True][0] >= 0.95, scores
    assert scores[True][1] >= scores[False][1] + 0.04, scores


def test_component_scorer_packaged_features_and_scores():
    """The packaged component scorer: a small module of plain numbers for this feature
    set; one row of features per component, label image matching, scores in [0, 1]."""
    from pathlib import Path

    from osdfilter.masks.auto import components as AC

    path = Path(AC.__file__).parents[2] / "weights" / AC.WEIGHTS
    assert path.stat().st_size < 50_000
    assert AC.available()
    rng = np.random.default_rng(0)
    feat = np.concatenate([rng.uniform(0, 1, (5, 40, 60)), np.zeros((1, 40, 60))]).astype(np.float32)
    keep = np.zeros((40, 60), bool)
    keep[5:10, 5:20] = True  # a text-like row of two components
    keep[5:10, 23:30] = True
    keep[30:38, 40:42] = True  # a thin vertical bit elsewhere
    x, lab = AC.component_features(feat, rng.uniform(0, 1, (40, 60)).astype(np.float32), keep)
    assert x.shape == (3, len(AC.FEATURES)) and lab.max() == 3
    assert np.array_equal(lab > 0, keep)
    line_n = x[:, AC.FEATURES.index("line_n")]
    assert sorted((line_n > 0).tolist()) == [False, True, True]  # the two on one row see each other
    s = AC.score(x)
    assert s.shape == (3,) and (0 <= s).all() and (s <= 1).all()
    # the text-line context is computed in blocks (bounded memory): any block size, same result
    st = rng.integers(0, 50, (40, 4)).astype(np.float64) + 1
    p = rng.uniform(0, 1, 40)
    for a, b in zip(AC._line_context(st, p, block=7), AC._line_context(st, p)):
        assert np.array_equal(a, b)
    empty = AC.filter_components(feat, np.zeros((40, 60), np.float32), np.zeros((40, 60), bool))
    assert not empty.any()
    prob = rng.uniform(0, 1, (40, 60)).astype(np.float32)
    assert np.array_equal(AC.filter_components(feat, prob, keep, threshold=0.0), keep)  # keeps all
    assert not AC.filter_components(feat, prob, keep, threshold=1.01).any()  # drops all


def test_component_scorer_drops_scene_keeps_text():
    """Static camera with bright scene specks in dark surroundings (they pass the stroke
    cue): the component stage keeps all of the OSD text, drops some of the specks, and a
    higher threshold drops more."""
    frames, masks = _clip("static")
    frames = frames.copy()
    rng = np.random.default_rng(3)
    specks = [(int(rng.integers(40, 150)), int(rng.integers(60, 300)), int(rng.integers(2, 6))) for _ in range(30)]
    for f in frames:
        for y, x, a in specks:
            f[y - a - 2:y + a + 3, x - a - 2:x + a + 3] = 15
            f[y - a:y + a + 1, x - a:x + a + 1] = 235
    runs = {}
    for key, cfg in {"off": {"static_components": False}, "on": {}, "strict": {"component_prob": 0.5}}.items():
        layout = _detect(frames, **cfg)
        runs[key] = (*_score(layout, frames, masks), layout.union.sum())
    assert runs["on"][0] >= 0.95 and runs["off"][0] >= 0.95, runs
    assert runs["on"][1] >= runs["off"][1], runs
    assert runs["off"][2] > runs["on"][2] > runs["strict"][2], runs


def test_component_scorer_trains_and_exports(tmp_path):
    """The scorer's command end to end on two small generated still clips (builtin glyphs):
    cases synthesised, cross-validated threshold, a loadable weights module."""
    import json

    import av

    from osdfilter.masks.auto import components as AC
    from osdfilter.train.automask import components as ACT

    clips = tmp_path / "clips"
    clips.mkdir()
    for k in range(2):
        bg = _texture(120, 200, seed=10 + k)
        with av.open(str(clips / f"c{k}.mp4"), "w") as out:
            vs = out.add_stream("libx264", rate=25)
            vs.width, vs.height, vs.pix_fmt = 200, 120, "yuv420p"
            for t in range(30):  # a still camera: every case counts (the scorer is for those)
                out.mux(vs.encode(av.VideoFrame.from_ndarray(bg, format="rgb24")))
            out.mux(vs.encode())
    dst = tmp_path / "weights.json"
    ACT.main(["--clips", str(clips), "--cases", "2", "--steps", "30", "--out", str(dst)])
    data = json.loads(dst.read_text())
    assert tuple(data["features"]) == AC.FEATURES and 0.0 <= data["threshold"] < 1.0
    wt = AC.weights_of(data)
    assert wt is not None and wt["threshold"] == data["threshold"]
    assert wt["W1"].shape == (16, len(AC.FEATURES))
    s = AC.score(np.zeros((4, len(AC.FEATURES)), np.float32) + wt["MEAN"], wt)
    assert s.shape == (4,) and np.isfinite(s).all()
