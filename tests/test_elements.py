"""OSD elements (--elements / --keep-elements) and the contact sheet (--preview).

Clips are generated here: four OSD items far apart on a panned texture. Removal is
checked before encoding (the frame filter, per-frame masks included) and through the
command with a lossless encode (libx264 CRF 0): the other items' pixels must come out
bit-identical to the input, the chosen ones replaced.
"""

from __future__ import annotations

import functools
import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from conftest import textured_background
from osdfilter.api import process_video
from osdfilter.cli.main import cli
from osdfilter.errors import MaskError, OSDFilterError
from osdfilter.filter.core import FilterConfig, OSDFilter
from osdfilter.filter.layout import with_layout
from osdfilter.masks.auto.config import AutoMaskConfig
from osdfilter.masks.auto.detector import OSDLayout
from osdfilter.masks.elements import SelectedLayout, choose, labels_path, parse_numbers, split_elements
from osdfilter.masks.plan import MaskOptions, plan_masks
from osdfilter.model.runners import make_runner
from osdfilter.preview import PREVIEW_FRAMES, preview_video, sheet_size

W, H, FRAMES = 224, 112, 12
# Numbered top-left to bottom-right: 1 battery, 2 altitude, 3 coordinates, 4 home distance.
ITEMS = (("12.6V", (6, 18)), ("ALT 35m", (150, 18)), ("N47.123", (6, 98)), ("H 120m", (150, 98)))


def item_layer(frame_index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(mask bool [H, W], RGB) of the four items, white with a dark outline; the altitude's
    digits change with ``frame_index`` (a per-frame mask differs from the union)."""
    canvas = np.zeros((H, W, 3), np.uint8)
    for i, (text, org) in enumerate(ITEMS):
        if i == 1:
            text = f"ALT {35 + frame_index % 3}m"
        cv2.putText(canvas, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.4, (1, 1, 1), 3, cv2.LINE_AA)
        cv2.putText(canvas, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas.max(axis=2) > 0, canvas


def frames() -> list[np.ndarray]:
    bg = textured_background(H, W, seed=3)
    out = []
    for t in range(FRAMES):
        frame = np.clip(bg[2 * t : 2 * t + H, 3 * t : 3 * t + W], 0, 255).astype(np.uint8)
        alpha, text = item_layer(t)
        frame[alpha] = text[alpha]
        out.append(frame)
    return out


def union_mask() -> np.ndarray:
    return np.logical_or.reduce([item_layer(t)[0] for t in range(FRAMES)])


@functools.lru_cache(maxsize=None)
def items_clip(directory: str) -> tuple[Path, Path]:
    """The frames encoded losslessly (libx264 CRF 0, yuv420p), and the union mask PNG."""
    path, mask = Path(directory) / "items.mkv", Path(directory) / "items_mask.png"
    with av.open(os.fspath(path), "w") as out:
        v = out.add_stream("libx264", rate=24, options={"crf": "0", "preset": "ultrafast"})
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        v.codec_context.time_base = Fraction(1, 24)
        for t, img in enumerate(frames()):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 24)
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    cv2.imwrite(os.fspath(mask), union_mask().astype(np.uint8) * 255)
    return path, mask


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(os.fspath(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def invoke(args: list, exit_code: int = 0):
    result = CliRunner().invoke(cli, [os.fspath(a) for a in args], catch_exceptions=False)
    assert result.exit_code == exit_code, f"exit {result.exit_code}\n{result.stderr}"
    if exit_code == 1:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("osdfilter: error: "), result.stderr
    return result


# --- the split -------------------------------------------------------------------------------


def test_items_are_whole_elements_numbered_top_left_to_bottom_right():
    split = split_elements(union_mask())
    assert len(split) == 4
    for (text, (x, y)), (bx, by, bw, bh) in zip(ITEMS, split.boxes):
        assert abs(bx - x) <= 2 and by < y <= by + bh  # the item's own glyphs (baseline at y)
    assert set(np.unique(split.labels[union_mask()])) == {1, 2, 3, 4}
    assert not split.labels[~union_mask()].any()


def test_a_row_is_read_left_to_right_even_when_its_items_start_a_little_lower():
    mask = np.zeros((100, 200), bool)
    mask[12:22, 120:150] = True  # higher, but right: same row
    mask[14:24, 10:40] = True
    mask[60:70, 5:30] = True  # next row
    split = split_elements(mask)
    assert [b[0] for b in split.boxes] == [10, 120, 5]


def test_a_space_inside_an_item_joins_and_a_wide_gap_splits():
    mask = np.zeros((40, 200), bool)
    for x in (10, 18, 26, 44, 52):  # 10 px glyphs: "ABC DE"; 8 px glyph gaps, one of 12
        mask[10:20, x : x + 6] = True
    mask[10:20, 120:126] = True  # 68 px away
    assert [b[0] for b in split_elements(mask).boxes] == [10, 120]
    assert len(split_elements(np.zeros((10, 10), bool))) == 0


def test_choice_errors_are_one_line():
    split = split_elements(union_mask())
    with pytest.raises(MaskError, match=r"no OSD element 7 in the mask \(it has 4"):
        choose(split, (2, 7), None)
    with pytest.raises(MaskError, match="keep_elements: no OSD element 5"):  # the API's names
        choose(split, None, (5,))
    with pytest.raises(MaskError, match="expected element numbers"):
        parse_numbers("2,x", "elements")
    with pytest.raises(MaskError, match="from 1 up"):
        parse_numbers([0], "elements")
    assert parse_numbers("2, 5", "elements") == (2, 5) and parse_numbers(3, "elements") == (3,)
    assert choose(split, None, (1, 3)) == (2, 4) and choose(split, (4, 2), None) == (2, 4)


# --- removal before encoding: the frame filter -------------------------------------------------


def run_filter(elements=None, keep=None, per_frame: bool = False) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """(inputs, outputs, split labels) of the fill over the clip's frames with the choice;
    ``per_frame``: through an automatic layout (each frame its own mask) instead."""
    union = union_mask()
    plan = plan_masks("unused.mp4", MaskOptions(union, elements=elements, keep_elements=keep), H, W, 24.0, lambda m: m)
    layout = None
    if per_frame:  # static items 1, 3, 4; the altitude's digits (item 2) change: an active box
        active = np.zeros_like(union)
        x, y, w, h = plan.elements.boxes[1]
        active[y : y + h, x : x + w] = True
        full = OSDLayout(union & ~active, active & union, [(x, y, w, h)], AutoMaskConfig())
        removed = plan.elements.region(plan.removed or range(1, 5))
        layout = SelectedLayout(full, removed)
    filt = with_layout(OSDFilter(make_runner("fill"), plan.union, FilterConfig()), layout)
    inputs = frames()
    outputs = [o for f in inputs for o in filt.push(f)] + filt.flush()
    assert len(outputs) == len(inputs)
    return inputs, outputs, plan.elements.labels


def assert_removed_only(inputs, outputs, labels, removed: set[int]) -> None:
    gone = np.isin(labels, list(removed))
    kept = (labels > 0) & ~gone
    for t, (a, b) in enumerate(zip(inputs, outputs)):
        osd = item_layer(t)[0]
        assert np.array_equal(b[kept], a[kept]), f"frame {t}: a kept element's pixels changed"
        diff = np.abs(b.astype(int) - a.astype(int)).max(axis=2)
        assert diff[gone & osd].mean() > 40, f"frame {t}: a chosen element was not removed"


@pytest.mark.parametrize("per_frame", [False, True], ids=["mask", "per-frame-masks"])
def test_elements_removes_only_that_element(per_frame):
    assert_removed_only(*run_filter(elements=(2,), per_frame=per_frame), removed={2})


@pytest.mark.parametrize("per_frame", [False, True], ids=["mask", "per-frame-masks"])
def test_keep_elements_removes_every_other_element(per_frame):
    assert_removed_only(*run_filter(keep=(2,), per_frame=per_frame), removed={1, 3, 4})


# --- the command: lossless round trip, errors, --save-mask, --preview ---------------------------


@pytest.mark.parametrize("option, removed", [("--elements", {3}), ("--keep-elements", {1, 2, 4})])
def test_command_keeps_the_other_elements_bit_identical(media_dir, tmp_path, option, removed):
    clip, mask = items_clip(media_dir)
    out = tmp_path / "out.mkv"
    invoke([clip, out, "--mask", mask, "--fast", option, "3", "--crf", "0", "--preset", "ultrafast", "-q"])
    labels = split_elements(union_mask()).labels
    assert_removed_only(decoded(clip), decoded(out), labels, removed)


def test_process_video_takes_the_same_choice(media_dir, tmp_path):
    clip, mask = items_clip(media_dir)
    out = tmp_path / "out.mkv"
    process_video(clip, out, mask=mask, model="fill", keep_elements=[1, 4], crf=0, preset="ultrafast", quiet=True)
    assert_removed_only(decoded(clip), decoded(out), split_elements(union_mask()).labels, {2, 3})


def test_save_mask_writes_the_chosen_mask_and_numbers_beside_it(media_dir, tmp_path):
    clip, mask = items_clip(media_dir)
    saved = tmp_path / "chosen.png"
    invoke([clip, "--preview", tmp_path / "s.png", "--mask", mask, "--fast", "--elements", "1,4", "--save-mask", saved, "-q"])
    split = split_elements(union_mask())
    assert np.array_equal(cv2.imread(os.fspath(saved), 0) > 127, split.region([1, 4]))
    numbered = cv2.imread(os.fspath(labels_path(saved)))
    assert numbered.shape == (H, W, 3) and (numbered.max(axis=2) == 90).any()  # kept elements grey


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--elements", "9"], "--elements: no OSD element 9 in the mask (it has 4"),
        (["--keep-elements", "0"], "expected element numbers from 1 up"),
        (["--elements", "two"], "expected element numbers like 2,5"),
        (["--elements", "1", "--keep-elements", "2"], "exclude each other"),
    ],
)
def test_bad_element_choice_is_a_one_line_error_and_writes_nothing(media_dir, tmp_path, extra, message):
    clip, mask = items_clip(media_dir)
    err = invoke([clip, tmp_path / "out.mp4", "--mask", mask, "--fast", *extra], exit_code=1).stderr
    assert message in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "sheet, message",
    [
        ("sheet.txt", "not an image file name"),
        ("sheet", "not an image file name"),
        ("missing/sheet.png", "does not exist"),
    ],
)
def test_bad_preview_path_is_a_one_line_error(media_dir, tmp_path, sheet, message):
    clip, mask = items_clip(media_dir)
    err = invoke([clip, "--preview", tmp_path / sheet, "--mask", mask, "--fast"], exit_code=1).stderr
    assert message in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs a folder no one can write (/proc)")
def test_preview_to_an_unwritable_folder_is_a_one_line_error(media_dir):
    clip, mask = items_clip(media_dir)
    assert "cannot write there" in invoke([clip, "--preview", "/proc/sheet.png", "--mask", mask, "--fast"], exit_code=1).stderr


def test_preview_writes_the_sheet_and_the_estimate(media_dir, tmp_path):
    clip, mask = items_clip(media_dir)
    sheet = tmp_path / "sheet.png"
    err = invoke([clip, "--preview", sheet, "--mask", mask, "--fast", "--keep-elements", "1"]).stderr
    assert cv2.imread(os.fspath(sheet)).shape == (*sheet_size(H, W, PREVIEW_FRAMES), 3)
    assert os.fspath(sheet) in err and "a full run would take about" in err
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".*"))


def test_preview_api_restores_the_picked_frame_as_a_full_pass_does(media_dir, tmp_path):
    """A pick near the start has every earlier frame in its warm-up: its restored panel is
    the frame a pass over the whole clip gives (the seek found the right frames)."""
    clip, mask = items_clip(media_dir)
    report = preview_video(clip, tmp_path / "s.png", mask=mask, model="fill", frames=1, quiet=True)
    assert report.picks == [pytest.approx(6 / 24)] and report.frames == 7 and report.total_frames == FRAMES
    filt = with_layout(OSDFilter(make_runner("fill"), union_mask(), FilterConfig()))
    inputs = decoded(clip)
    full = [o for f in inputs for o in filt.push(f)] + filt.flush()
    sheet = cv2.imread(os.fspath(tmp_path / "s.png"))[..., ::-1]
    assert np.array_equal(sheet[18 : 18 + H, W + 4 :], full[6])
    assert not np.array_equal(full[6], inputs[6])


def test_preview_with_output_runs_after_the_sheet_and_checks_output_first(media_dir, tmp_path):
    clip, mask = items_clip(media_dir)
    sheet, out = tmp_path / "s.png", tmp_path / "out.mkv"
    out.write_bytes(b"keep me")
    err = invoke([clip, out, "--preview", sheet, "--mask", mask, "--fast"], exit_code=1).stderr
    assert "output exists" in err and not sheet.exists() and out.read_bytes() == b"keep me"
    invoke([clip, out, "--preview", sheet, "--mask", mask, "--fast", "--elements", "2", "-y", "-q"])
    assert sheet.exists() and len(decoded(out)) == FRAMES


def test_help_shows_the_preview_and_element_options():
    out = invoke(["--help"]).stdout
    for option in ("--preview", "--elements", "--keep-elements", "INPUT [OUTPUT] --preview SHEET.png"):
        assert option in out


def test_api_errors_name_the_parameters(media_dir, tmp_path):
    clip, mask = items_clip(media_dir)
    with pytest.raises(MaskError, match=r"^elements: no OSD element 9 .*preview_video shows them"):
        process_video(clip, tmp_path / "o.mkv", mask=mask, model="fill", elements=[9], quiet=True)
    with pytest.raises(OSDFilterError, match=r"^sheet .*s\.txt: not an image file name"):
        preview_video(clip, tmp_path / "s.txt", mask=mask, model="fill")
    # The checks process_video makes on the shared parameters, before anything is read.
    with pytest.raises(OSDFilterError, match=r"^auto_window must be > 0"):
        preview_video(clip, tmp_path / "s.png", mask=mask, model="fill", auto_window=0)
    with pytest.raises(TypeError, match=r"^mask=123: expected an image path"):
        preview_video(clip, tmp_path / "s.png", mask=123, model="fill")
    with pytest.raises(TypeError, match=r"^config=.*FilterConfig has the fields"):
        preview_video(clip, tmp_path / "s.png", mask=mask, model="fill", config={"chunks": 4})
    assert list(tmp_path.iterdir()) == []
