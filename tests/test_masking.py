"""`--mask auto` in the pipeline: default detection, --save-mask, union, --exclude, no OSD,
pipes, per-frame masks and scene-cut resets (small generated clips)."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from conftest import make_clip, osd_layer, textured_background
from osdfilter import process_video
from osdfilter.masks.auto.config import AutoMaskConfig
from osdfilter.masks.auto.cues import mask_recall_precision
from osdfilter.masks.auto.detector import MaskDetector
from osdfilter.cli.main import cli
from osdfilter.errors import MaskError
from osdfilter.filter.layout import LayoutFilter
from osdfilter.masks.plan import parse_rect

W, H = 320, 180


def _run(args: list, code: int = 0):
    result = CliRunner().invoke(cli, [os.fspath(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.stderr
    return result


def _write(path: Path, frames: list[np.ndarray], fps: int = 24) -> Path:
    with av.open(os.fspath(path), "w") as out:
        v = out.add_stream("libx264", rate=fps, options={"crf": "16", "preset": "ultrafast"})
        v.height, v.width = frames[0].shape[:2]
        v.pix_fmt = "yuv420p"
        v.codec_context.time_base = Fraction(1, fps)
        for t, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24")
            frame.pts = t
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(os.fspath(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


@pytest.fixture(scope="module")
def osd_clip(media_dir) -> Path:
    return make_clip(media_dir, width=W, height=H, frames=24, audio=None)


@pytest.fixture(scope="module")
def plain_clip(media_dir) -> Path:
    """A panning texture without any OSD."""
    bg = textured_background(H, W, seed=3)
    frames = [np.clip(bg[2 * t:2 * t + H, 3 * t:3 * t + W], 0, 255).astype(np.uint8) for t in range(24)]
    return _write(Path(media_dir) / "plain.mp4", frames)


def base(checkpoint) -> list:
    return ["--model", checkpoint, "--device", "cpu", "--preset", "ultrafast", "-y"]


def test_auto_is_the_default_and_saves_the_mask(osd_clip, checkpoint, tmp_path):
    out, png = tmp_path / "out.mp4", tmp_path / "mask.png"
    _run([osd_clip, out, "--save-mask", png, *base(checkpoint)])
    mask = cv2.imread(os.fspath(png), cv2.IMREAD_GRAYSCALE) > 127
    gt, _ = osd_layer(H, W)
    recall, precision = mask_recall_precision(mask, gt)
    assert recall >= 0.97 and precision >= 0.7, (recall, precision)
    assert len(_frames(out)) == 24


def test_user_mask_and_auto_combine(osd_clip, checkpoint, tmp_path, media_dir):
    user = np.zeros((H, W), np.uint8)
    user[120:160, 100:180] = 255
    upng, auto_png, both_png = tmp_path / "user.png", tmp_path / "auto.png", tmp_path / "both.png"
    cv2.imwrite(os.fspath(upng), user)
    _run([osd_clip, tmp_path / "a.mp4", "--mask", "auto", "--save-mask", auto_png, *base(checkpoint)])
    _run([osd_clip, tmp_path / "b.mp4", "--mask", upng, "--mask", "auto", "--save-mask", both_png, *base(checkpoint)])
    auto = cv2.imread(os.fspath(auto_png), 0) > 127
    both = cv2.imread(os.fspath(both_png), 0) > 127
    assert np.array_equal(both, auto | (user > 0))
    # In the API, None in a list is "auto" as it is alone (it was refused as "automatic
    # detection is not available yet").
    none_png = tmp_path / "none.png"
    process_video(osd_clip, tmp_path / "c.mp4", mask=[None, upng], model="fill", save_mask=none_png, quiet=True)
    assert np.array_equal(cv2.imread(os.fspath(none_png), 0) > 127, both)


def test_exclude_removes_a_region(osd_clip, checkpoint, tmp_path):
    png = tmp_path / "mask.png"
    _run([osd_clip, tmp_path / "o.mp4", "--exclude", "0,0,110,180", "--save-mask", png, *base(checkpoint)])
    mask = cv2.imread(os.fspath(png), 0) > 127
    assert not mask[:, :110].any() and mask[:, 110:].any()
    _run([osd_clip, tmp_path / "p.mp4", "--exclude", "1,2,3", *base(checkpoint)], code=2)
    assert parse_rect("4, 5, 6, 7") == (4, 5, 6, 7)


def test_no_osd_gives_the_input_reencoded_with_a_note(plain_clip, checkpoint, tmp_path):
    out = tmp_path / "out.mp4"
    result = _run([plain_clip, out, "--crf", "0", *base(checkpoint)])
    notes = [line for line in result.stderr.replace("\r", "\n").splitlines() if "warning" in line]
    assert len(notes) == 1 and "no OSD found" in notes[0], result.stderr
    a, b = _frames(plain_clip), _frames(out)
    assert len(a) == len(b)
    assert max(np.abs(x.astype(int) - y).mean() for x, y in zip(a, b)) < 1.5


def test_stdin_needs_an_explicit_mask(osd_clip, checkpoint, tmp_path, mask_png):
    data = Path(osd_clip).read_bytes()
    result = CliRunner().invoke(cli, ["-", os.fspath(tmp_path / "o.mp4"), *map(os.fspath, base(checkpoint))], input=data)
    assert result.exit_code == 1 and "pipe" in result.stderr and "--mask" in result.stderr
    with pytest.raises(MaskError):
        process_video(osd_clip, tmp_path / "x.mp4", model=checkpoint, device="cpu", exclude=[(0, 0, 0, 5)])


class _Recorder:
    """A stand-in OSDFilter that records masks and scene cuts."""

    is_empty = False

    def __init__(self):
        self.masks, self.resets = [], 0

    def analyse(self, frame, frame_mask=None, cut=False):
        self.masks.append(frame_mask)
        self.resets += cut
        return frame

    def prepare_analysed(self, item):
        return item

    def push_prepared(self, item):
        return [item]

    def flush(self):
        return []


def test_per_frame_masks_and_scene_cut_reset():
    gt, text = osd_layer(H, W)
    bg = textured_background(H, W, seed=1)
    shots = [bg, 0.4 * bg[..., ::-1] + np.linspace(0, 150, 2 * W)[None, :, None]]  # a different shot
    frames = []
    for t in range(30):
        bg = shots[t // 15]
        f = np.clip(bg[2 * t:2 * t + H, 3 * t:3 * t + W], 0, 255).astype(np.uint8)
        d = np.zeros((H, W), np.uint8)  # a ticking digit beside the static text
        cv2.putText(d, str(t % 10), (W // 3 + 80, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 255, 1, cv2.LINE_AA)
        f[cv2.dilate(d, np.ones((3, 3), np.uint8)) > 0] = 0
        f[d > 0] = 255
        f[gt] = text[gt]
        frames.append(f)
    det = MaskDetector(H, W, AutoMaskConfig())
    for f in frames:
        det.observe(f)
    layout = det.finish()
    rec = _Recorder()
    lf = LayoutFilter(rec, layout)
    for f in frames:
        lf.push(f)
    assert rec.resets == 1 and lf.cuts == 1
    assert all(m is not None and not (m & ~layout.union).any() for m in rec.masks)
    assert any(not np.array_equal(rec.masks[0], m) for m in rec.masks[1:])  # the digit changes


def test_a_mask_covering_much_of_the_frame_gets_a_warning(checkpoint, tmp_path):
    """A still scene full of outlined white text (a sign board, a scoreboard) looks like one
    big OSD: the run goes on, with one warning that names --save-mask and --mask."""
    bg = textured_background(H, W, seed=5)[:H, :W]
    frame = np.clip(0.5 * bg, 0, 255).astype(np.uint8)
    for row in range(10):
        for col in range(5):
            org = (4 + 64 * col, 16 + 17 * row)
            cv2.putText(frame, "88:8", org, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(frame, "88:8", org, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    clip = _write(tmp_path / "board.mp4", [frame] * 12)
    result = _run([clip, tmp_path / "out.mp4", "--save-mask", tmp_path / "m.png", *base(checkpoint)])
    cover = (cv2.imread(os.fspath(tmp_path / "m.png"), cv2.IMREAD_GRAYSCALE) > 127).mean()
    notes = [line for line in result.stderr.replace("\r", "\n").splitlines() if "warning" in line]
    assert cover > 0.15
    assert len(notes) == 1 and f"covers {cover:.1%}" in notes[0] and "--save-mask" in notes[0], result.stderr


def test_a_still_camera_gets_a_warning_however_small_the_mask(checkpoint, tmp_path):
    """With a still camera the layout rests on the glyphs' look alone: one warning, even
    for a mask of a few %, that says why and names --save-mask."""
    frame = np.clip(0.5 * textured_background(H, W, seed=9)[:H, :W], 0, 255).astype(np.uint8)
    cv2.putText(frame, "12.6V", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(frame, "12.6V", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    clip = _write(tmp_path / "still.mp4", [frame] * 12)
    result = _run([clip, tmp_path / "out.mp4", "--save-mask", tmp_path / "m.png", *base(checkpoint)])
    cover = (cv2.imread(os.fspath(tmp_path / "m.png"), cv2.IMREAD_GRAYSCALE) > 127).mean()
    notes = [line for line in result.stderr.replace("\r", "\n").splitlines() if "warning" in line]
    assert 0 < cover < 0.15
    assert len(notes) == 1 and "picture hardly changes" in notes[0] and "--save-mask" in notes[0], result.stderr


def _still_then_flying(directory: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """12 frames of a quad on the ground (sensor noise only), then 12 panning: a scene with
    outlined white lettering of its own (a sign) behind the OSD. Returns the clip, the OSD
    mask and the sign's pixels in the still frames."""
    gt, text = osd_layer(H, W)
    bg = np.clip(textured_background(H, W, seed=4), 0, 255).astype(np.uint8)
    sign = np.zeros(bg.shape[:2], np.uint8)
    for row, word in enumerate(("GATE 7", "EXIT 24")):
        org = (40, 110 + 22 * row)
        cv2.putText(bg, word, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 4, cv2.LINE_AA)
        cv2.putText(bg, word, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
        cv2.putText(sign, word, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 255, 1, cv2.LINE_AA)
    rng = np.random.default_rng(0)
    frames = []
    for t in range(24):
        dy, dx = (0, 0) if t < 12 else (2 * (t - 11), 3 * (t - 11))
        f = np.clip(bg[dy:dy + H, dx:dx + W].astype(np.float32) + rng.normal(0, 1.0, (H, W, 3)), 0, 255).astype(np.uint8)
        f[gt] = text[gt]
        frames.append(f)
    return _write(directory / "still_then_flying.mp4", frames), gt, (sign[:H, :W] > 0) & ~dilate_px(gt, 3)


def dilate_px(mask: np.ndarray, px: int) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)) > 0


def test_a_still_start_is_skipped_for_a_window_with_motion(checkpoint, tmp_path):
    """A DVR that opens on the ground: the first window (0.5 s) is still, so its layout
    rests on the glyphs' look and takes the scene's lettering too; the scan's next window
    (in flight) finds the OSD by its temporal evidence, without the sign and without the
    still-camera warning. --auto-scan 0 keeps the first window (the old behaviour)."""
    clip, gt, sign = _still_then_flying(tmp_path)
    masks, notes = {}, {}
    for scan in ("0", "120"):
        png = tmp_path / f"m{scan}.png"
        result = _run([clip, tmp_path / f"o{scan}.mp4", "--auto-window", "0.5", "--auto-scan", scan,
                       "--save-mask", png, *base(checkpoint)])
        masks[scan] = cv2.imread(os.fspath(png), cv2.IMREAD_GRAYSCALE) > 127
        notes[scan] = [line for line in result.stderr.replace("\r", "\n").splitlines() if "warning" in line]
    assert masks["0"][sign].mean() > 0.3 and any("hardly changes" in n for n in notes["0"]), notes["0"]
    recall, precision = mask_recall_precision(masks["120"], gt)
    assert recall >= 0.97 and precision >= 0.7, (recall, precision)
    assert masks["120"][sign].mean() < 0.05 and not notes["120"], notes["120"]


def test_snow_before_the_quad_powers_up_does_not_end_the_scan(checkpoint, tmp_path):
    """An analog receiver shows snow until the quad powers up: that window moves but holds
    no OSD, so the scan goes on to the flight (and does not report 'no OSD found')."""
    gt, text = osd_layer(H, W)
    bg = np.clip(textured_background(H, W, seed=6), 0, 255).astype(np.uint8)
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(24)]
    for t in range(24):
        f = bg[2 * t:2 * t + H, 3 * t:3 * t + W].copy()
        f[gt] = text[gt]
        frames.append(f)
    clip = _write(tmp_path / "snow_then_flying.mp4", frames)
    png = tmp_path / "m.png"
    result = _run([clip, tmp_path / "o.mp4", "--auto-window", "1", "--save-mask", png, *base(checkpoint)])
    notes = [line for line in result.stderr.replace("\r", "\n").splitlines() if "warning" in line]
    recall, precision = mask_recall_precision(cv2.imread(os.fspath(png), cv2.IMREAD_GRAYSCALE) > 127, gt)
    assert recall >= 0.97 and precision >= 0.7 and not notes, (recall, precision, notes)


def test_save_mask_needs_an_image_name_it_is_refused_before_the_run(osd_clip, checkpoint, tmp_path):
    """Regression: a --save-mask name without an image extension failed with OpenCV's
    traceback after the first pass; now one line before anything is read or written."""
    out = tmp_path / "out.mp4"
    result = _run([osd_clip, out, "--save-mask", tmp_path / "maskfile", *base(checkpoint)], code=1)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("osdfilter: error: --save-mask") and ".png" in lines[0], result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_mask_painted_on_a_transparent_layer_is_its_opaque_white(tmp_path):
    """An editor may keep any colour under transparent pixels (white here): the mask is
    what is white *and* opaque; alpha alone where the colour is black."""
    from osdfilter.masks.image import load_mask

    img = np.full((72, 128, 4), 255, np.uint8)
    img[..., 3] = 0
    img[10:20, 10:50, 3] = 255
    cv2.imwrite(os.fspath(tmp_path / "white_under.png"), img)
    img[..., :3] = 0
    cv2.imwrite(os.fspath(tmp_path / "alpha_only.png"), img)
    for name in ("white_under.png", "alpha_only.png"):
        mask = load_mask(tmp_path / name, 72, 128)
        assert mask.sum() == 400 and mask[10:20, 10:50].all(), name
