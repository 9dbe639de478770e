"""The concurrent stage runner (osdfilter.media.pipeline) and process_video on top of it.

Correctness only: the threaded pipeline gives exactly what the sequential one gives, and a
failure anywhere stops every thread and reaches the caller (no hang, no thread left).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Iterator

import av
import numpy as np
import pytest

from conftest import osd_layer
from osdfilter import process_video
from osdfilter.media import transcode as stream_module
from osdfilter.media.pipeline import pipeline
from osdfilter.model.runners import IdentityRunner, TorchRunner
from osdfilter.model.checkpoint import load_model


def stage_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("osdfilter-stage")]


def double(items: Iterator[int]) -> Iterator[int]:
    for x in items:
        yield 2 * x


def pairs(items: Iterator[int]) -> Iterator[tuple[int, int]]:
    """Buffers like the filter does (chunks of 2) and flushes a partial last chunk."""
    buf: list[int] = []
    for x in items:
        buf.append(x)
        if len(buf) == 2:
            yield tuple(buf)  # type: ignore[misc]
            buf = []
    if buf:
        yield (buf[0], -1)


@pytest.mark.parametrize("threaded", [False, True])
def test_stages_in_order_with_flush(threaded):
    assert list(pipeline(range(7), double, pairs, maxsize=1, threaded=threaded)) == [(0, 2), (4, 6), (8, 10), (12, -1)]


class Boom(RuntimeError):
    pass


def failing(after: int):
    def stage(items: Iterator[int]) -> Iterator[int]:
        for i, x in enumerate(items):
            if i == after:
                raise Boom(f"stage failed at item {i}")
            yield x

    return stage


def endless() -> Iterator[int]:
    """A source that never ends by itself: only the stop flag can end its thread."""
    i = 0
    while True:
        yield i
        i += 1


@pytest.mark.parametrize("exc", [Boom, KeyboardInterrupt])
def test_error_in_a_stage_is_raised_in_the_caller_and_stops_all_threads(exc):
    def stage(items: Iterator[int]) -> Iterator[int]:
        for i, x in enumerate(items):
            if i == 5:
                raise exc("stop")
            yield x

    with pytest.raises(exc):
        for _ in pipeline(endless(), double, stage, maxsize=2):
            pass
    time.sleep(0.01)
    assert not stage_threads()


def test_caller_stopping_early_stops_all_threads():
    results = pipeline(endless(), double, maxsize=2)
    assert next(results) == 0
    results.close()  # what `break`, an exception or Ctrl-C in the caller's loop does
    assert not stage_threads()


def test_error_in_the_source_is_raised():
    def source() -> Iterator[int]:
        yield 1
        raise Boom("bad input")

    with pytest.raises(Boom, match="bad input"):
        list(pipeline(source(), double, failing(after=100)))
    assert not stage_threads()


# --- process_video -----------------------------------------------------------------------


def decoded(path: Path) -> tuple[list[np.ndarray], list[int]]:
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
        return [f.to_ndarray(format="rgb24") for f in frames], [f.pts for f in frames]


def run(src: Path, dst: Path, model: Any, threaded: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(stream_module, "PIPELINE_THREADS", threaded)
    alpha, _ = osd_layer(72, 128)
    return process_video(src, dst, mask=alpha, model=model, device="cpu", quiet=True, preset="ultrafast")


def test_threaded_output_equals_sequential(clip, checkpoint, tmp_path, monkeypatch):
    one = run(clip, tmp_path / "seq.mp4", checkpoint, False, monkeypatch)
    many = run(clip, tmp_path / "thr.mp4", checkpoint, True, monkeypatch)
    assert one.frames == many.frames == 12
    (fa, pa), (fb, pb) = decoded(tmp_path / "seq.mp4"), decoded(tmp_path / "thr.mp4")
    assert pa == pb
    assert all(np.array_equal(a, b) for a, b in zip(fa, fb))


class FailingRunner:
    """A model that fails on its second chunk (a crash mid-video)."""

    def __init__(self, inner: TorchRunner) -> None:
        self.inner, self.config, self.name, self.calls = inner, inner.config, "failing", 0

    def step(self, frames: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        self.calls += 1
        if self.calls == 2:
            raise Boom("model failed")
        return self.inner.step(frames, state)


def test_model_error_propagates_and_leaves_no_thread(clip, checkpoint, tmp_path, monkeypatch):
    runner = FailingRunner(TorchRunner(load_model(checkpoint), "cpu"))
    with pytest.raises(Boom, match="model failed"):
        run(clip, tmp_path / "out.mp4", runner, True, monkeypatch)
    assert not stage_threads()
    assert not (tmp_path / "out.mp4").exists()


# --- the filter's tile-only composite ----------------------------------------------------


def full_frame_composite(filt: Any, frame: np.ndarray, tiles: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The former composite: tile cores pasted into a full-frame float canvas, blended everywhere."""
    from osdfilter.masks.image import feather

    c = filt.plan.context
    canvas = frame.astype(np.float32)
    for (y, x, ch, cw), tile in zip(filt.plan.cores, tiles):
        h, w = min(ch, filt.height - y), min(cw, filt.width - x)
        canvas[y : y + h, x : x + w] = (tile[:, c : c + h, c : c + w].transpose(1, 2, 0) + 1.0) * 127.5
    alpha = feather(mask, filt.config.feather)[..., None]
    return np.clip(frame.astype(np.float32) * (1.0 - alpha) + canvas * alpha + 0.5, 0, 255).astype(np.uint8)


def test_tile_composite_is_bit_identical_to_full_frame():
    from osdfilter.filter.core import OSDFilter
    from osdfilter.masks.image import dilate
    from osdfilter.model.runners import IdentityRunner

    rng = np.random.default_rng(0)
    mask = rng.random((90, 150)) > 0.995  # scattered specks: overlapping, border-clamped cores
    filt = OSDFilter(IdentityRunner(), mask)
    frame = rng.integers(0, 256, (90, 150, 3), dtype=np.uint8)
    c2 = 2 * filt.plan.context
    tiles = [rng.uniform(-1, 1, (3, h + c2, w + c2)).astype(np.float32) for _, _, h, w in filt.plan.cores]
    for m in (filt.mask, dilate(mask, 1) & filt.mask):  # the static mask (cached alpha) and a per-frame one
        assert np.array_equal(filt._composite(frame, tiles, m), full_frame_composite(filt, frame, tiles, m))


# --- the region plan --------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_region_plan_covers_the_mask_inside_the_frame(seed):
    """Every mask pixel lies in some core; cores are inside the frame with sides multiple
    of 8, and for an OSD-like layout (text lines, an icon, specks) the crops cost fewer
    pixels than the square 64 + 2x16 grid they replace."""
    from osdfilter.filter.tiles import plan_tiles

    rng = np.random.default_rng(seed)
    h, w = 270, 480
    mask = np.zeros((h, w), bool)
    for _ in range(6):  # text lines
        y, x = int(rng.integers(0, h - 16)), int(rng.integers(0, w - 120))
        mask[y : y + int(rng.integers(8, 16)), x : x + int(rng.integers(30, 120))] = True
    mask[100:150, 200:260] = True  # a big icon
    mask |= rng.random((h, w)) > 0.9995  # specks
    plan = plan_tiles(mask, 64, 16)
    covered = np.zeros_like(mask)
    for y, x, ch, cw in plan.cores:
        assert ch % 8 == 0 and cw % 8 == 0 and ch > 0 and cw > 0
        assert 0 <= y and y + ch <= h and 0 <= x and x + cw <= w
        covered[y : y + ch, x : x + cw] = True
    assert not (mask & ~covered).any()
    assert sum(len(idx) for _, idx in plan.groups()) == len(plan)

    square_cores = 0
    for y in range(0, h, 64):
        for x in range(0, w, 64):
            square_cores += bool(mask[y : y + 64, x : x + 64].any())
    assert plan.pixels < square_cores * 96 * 96


@pytest.mark.parametrize("shape, context", [((270, 480), 16), ((90, 150), 8), ((20, 30), 8), ((12, 40), 16), ((64, 64), 0)])
def test_crops_without_padding_the_frame_equal_the_padded_frame_crops(shape, context):
    """plan_crop pads only the crops that cross the frame's edge; bit-identical to cutting
    them from the padded frame (pad_for_tiles), tiny frames and crops past both edges included."""
    from osdfilter.filter.tiles import pad_for_tiles, plan_crop, plan_tiles

    rng = np.random.default_rng(context)
    h, w = shape
    mask = rng.random((h, w)) > 0.99
    mask[0, 0] = mask[-1, -1] = mask[h // 2, 0] = True  # crops past every edge
    plan = plan_tiles(mask, 64, context)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    padded = pad_for_tiles(image, plan)
    c2 = 2 * plan.context
    for y, x, ch, cw in plan.cores:
        assert np.array_equal(plan_crop(image, plan, (y, x, ch, cw)), padded[y : y + ch + c2, x : x + cw + c2])


def test_region_plan_on_a_frame_smaller_than_a_core():
    """A mask spanning a 20x30 frame gets one core rounded up to 24x32 (the crop is padded)."""
    from osdfilter.filter.core import FilterConfig, OSDFilter
    from osdfilter.model.runners import IdentityRunner

    mask = np.zeros((20, 30), bool)
    mask[1:19, 1:29] = True
    filt = OSDFilter(IdentityRunner(), mask, FilterConfig(chunk=2, dilate=0, feather=0))
    assert [c[2:] for c in filt.plan.cores] == [(24, 32)]
    frame = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    out = filt.push(frame) + filt.push(frame)
    assert len(out) == 2 and out[0].shape == frame.shape


def test_a_cut_in_prepare_equals_a_fresh_filter(clip, checkpoint):
    """``prepare(..., cut=True)`` flushes and starts the model and the temporal prefill
    afresh at that frame: the output equals two separate filters on the two shots."""
    from osdfilter.filter.core import FilterConfig, OSDFilter
    from osdfilter.model.network import ModelConfig

    frames, _ = decoded(clip)
    mask, _ = osd_layer(72, 128)
    model = load_model(checkpoint)
    model.config = ModelConfig(**{**model.config.to_dict(), "prefill": "temporal"})

    def make() -> OSDFilter:
        return OSDFilter(TorchRunner(model, "cpu"), mask, FilterConfig(chunk=4))

    whole, out = make(), []
    for t, f in enumerate(frames):
        out += whole.push_prepared(whole.prepare(f, cut=t == 5))
    out += whole.flush()
    expected = []
    for part in (frames[:5], frames[5:]):
        filt = make()
        expected += [o for f in part for o in filt.push(f)] + filt.flush()
    assert len(out) == len(expected) == len(frames)
    assert all(np.array_equal(a, b) for a, b in zip(out, expected))


def test_a_chunks_crops_reach_the_model_without_stacking():
    """prepare() writes each frame's crops into the chunk buffer the model takes: a chunk of
    consecutive slots is a view of it; anything else (a reset in between) is stacked."""
    from osdfilter.filter.core import FilterConfig, OSDFilter

    rng = np.random.default_rng(1)
    mask, _ = osd_layer(72, 128)
    filt = OSDFilter(IdentityRunner(), mask, FilterConfig(chunk=4))
    frames = [rng.integers(0, 256, (72, 128, 3), dtype=np.uint8) for _ in range(7)]
    items = [filt.prepare(f) for f in frames[:4]]
    xs = filt._stack(items)
    assert len(xs) == len(filt.plan.groups()) > 0
    for g, x in enumerate(xs):
        assert x.shape[1] == 4 and np.shares_memory(x, items[0].crops[g])
        assert np.array_equal(x, np.stack([it.crops[g] for it in items], axis=1))
    more = [filt.prepare(f) for f in frames[4:6]]
    filt.reset()
    more.append(filt.prepare(frames[6]))  # a new buffer after the reset
    for g, x in enumerate(filt._stack(more)):
        assert not np.shares_memory(x, more[0].crops[g])
        assert np.array_equal(x, np.stack([it.crops[g] for it in more], axis=1))
    # push() then flush() mid-stream: the chunks after it are whole buffers again
    filt.reset()
    for f in frames[:3]:
        filt.push(f)
    filt.flush()
    after = [filt.prepare(f) for f in frames[3:7]]
    assert all(np.shares_memory(x, after[0].crops[g]) for g, x in enumerate(filt._stack(after)))


def test_busy_counts_work_not_waiting():
    """``busy``: the slow stage's seconds are its work; its neighbours mostly waited on it."""

    def slow(items: Iterator[int]) -> Iterator[int]:
        for x in items:
            time.sleep(0.05)
            yield x

    def fast(items: Iterator[int]) -> Iterator[int]:
        yield from items

    busy: list[float] = []
    assert list(pipeline(range(6), slow, fast, maxsize=1, busy=busy)) == list(range(6))
    assert len(busy) == 3  # source, slow, fast
    assert busy[1] >= 0.25  # six sleeps of 50 ms
    assert busy[0] < 0.1 and busy[2] < 0.1  # waiting on the slow stage is not work


def test_cpu_counts_each_threads_own_cpu_time():
    """``cpu``: a stage that computes gets CPU seconds, one that sleeps (waits) gets none."""

    def compute(items: Iterator[int]) -> Iterator[int]:
        for x in items:
            t0 = time.thread_time()
            while time.thread_time() - t0 < 0.05:
                pass
            yield x

    def sleep(items: Iterator[int]) -> Iterator[int]:
        for x in items:
            time.sleep(0.05)
            yield x

    cpu: list[float] = []
    assert list(pipeline(range(4), compute, sleep, maxsize=1, cpu=cpu)) == list(range(4))
    assert len(cpu) == 3  # source, compute, sleep
    assert cpu[1] >= 0.2  # four 50 ms loops of its own CPU
    assert cpu[2] < 0.05 and cpu[0] < 0.05


def test_stream_reports_its_stages(tmp_path, clip, mask_png, checkpoint):
    report = process_video(clip, tmp_path / "o.mp4", mask=mask_png, model=checkpoint, quiet=True)
    assert list(report.stages) == ["decode", "analyse", "prepare", "model", "encode"]
    assert all(0.0 <= s <= report.seconds for s in report.stages.values())
    assert list(report.stage_cpu) == list(report.stages)
    assert all(0.0 <= s <= report.seconds for s in report.stage_cpu.values())
    assert report.stage_cpu["decode"] > 0.0 and report.stage_cpu["model"] > 0.0


@pytest.mark.parametrize("height,width,expected", [(480, 720, 8), (720, 1280, 8), (1080, 1920, 12), (712, 1920, 12), (1920, 1080, 12), (2160, 3840, 24)])
def test_context_hint_grows_with_the_frame_above_1280_px(height, width, expected):
    """An OSD's glyphs grow with the frame, and the model's context with them (by the long
    side: a 1080p frame cropped to a band of rows keeps its glyphs); an explicit
    FilterConfig.context is taken as it is."""
    from osdfilter.filter.core import FilterConfig, OSDFilter
    from osdfilter.model.network import ModelConfig

    mask = np.zeros((height, width), bool)
    mask[height // 2 : height // 2 + 20, 10:60] = True
    runner = IdentityRunner(ModelConfig(context=8))
    assert OSDFilter(runner, mask).plan.context == expected
    assert OSDFilter(runner, mask, FilterConfig(context=4)).plan.context == 4
    crops = [h % 8 == 0 and w % 8 == 0 for (h, w), _ in OSDFilter(runner, mask).plan.groups()]
    assert crops and all(crops)


@pytest.mark.parametrize("height,width,k", [(480, 720, 1), (720, 1280, 1), (1080, 1920, 2), (712, 1920, 2), (1920, 1080, 2), (1440, 2560, 2), (2160, 3840, 3)])
def test_network_factor_brings_the_long_side_to_1280_px_by_a_whole_factor(height, width, k):
    from osdfilter.filter.core import NETWORK_SIDE, network_factor

    assert network_factor(height, width) == k
    assert max(height, width) / k <= NETWORK_SIDE < max(height, width) / (k - 1 or 0.5)


class ShapeRecorder(TorchRunner):
    """A real TorchRunner that notes the shapes of what it is given and of its state."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.seen: list[tuple[int, ...]] = []

    def step(self, frames: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        self.seen.append(frames.shape)
        return super().step(frames, state)


def test_a_frame_wider_than_1280_px_is_restored_at_half_size_chunk_independently():
    """Above 1280 px on the long side the network sees the crops shrunk by the whole factor
    (2 here) and carries a state of that size; its correction comes back at full size. The
    output still does not depend on --chunk, and pixels outside the mask stay the input's."""
    import torch

    from conftest import textured_background, tiny_model
    from osdfilter.filter.core import FilterConfig, OSDFilter

    h, w = 96, 1400
    base = np.clip(textured_background(h // 2, (w + 40) // 2, seed=3), 0, 255).astype(np.uint8)
    mask = np.zeros((h, w), bool)
    mask[30:50, 600:680] = True
    frames = [np.ascontiguousarray(base[:, t * 3 : t * 3 + w]) for t in range(7)]
    for f in frames:
        f[mask] = 255
    outs = {}
    for chunk in (3, 8):
        runner = ShapeRecorder(tiny_model(), torch.device("cpu"))
        flt = OSDFilter(runner, mask, FilterConfig(chunk=chunk))
        outs[chunk] = [o for f in frames for o in flt.push(f)] + flt.flush()
        planned = [(ch, cw) for (ch, cw), _ in flt.plan.groups()]
        assert planned and all(s[-2:] == (ch // 2, cw // 2) for s in runner.seen for ch, cw in planned)
        (ch, cw), = planned  # (one region: its state is the network's bottleneck, 1/8 of what it saw)
        assert all(tuple(s.shape[-2:]) == (-(-ch // 16), -(-cw // 16)) for s in flt.state[0])
    assert len(outs[3]) == len(frames) and all(np.array_equal(a, b) for a, b in zip(outs[3], outs[8]))
    grown = np.zeros_like(mask)
    grown[24:56, 594:686] = True  # the mask + dilation + feather band
    assert all(np.array_equal(o[~grown], f[~grown]) for o, f in zip(outs[3], frames))
    assert all(np.abs(o[mask].astype(int) - 255).mean() > 20 for o in outs[3])  # the overlay is gone


def test_context_margin_is_a_multiple_of_4_and_crops_stay_multiples_of_8():
    """A model's context hint may be 4 px: cores are multiples of 8, so every crop
    (core + 2 x context) still is, as the U-Net's three poolings need."""
    from osdfilter.filter.tiles import plan_tiles
    from osdfilter.model.network import ModelConfig

    assert ModelConfig(context=4).context == 4
    for bad in (2, 6, 9):
        with pytest.raises(ValueError, match="context a multiple of 4"):
            ModelConfig(context=bad)
    mask = np.zeros((120, 200), bool)
    mask[10:22, 5:90] = mask[60:100, 150:190] = mask[110:118, 0:30] = True
    plan = plan_tiles(mask, 64, 4)
    for (ch, cw), idx in plan.groups():
        assert ch % 8 == 0 and cw % 8 == 0 and len(idx) > 0


def test_push_copies_the_frame_so_a_reused_buffer_is_safe(checkpoint):
    """Regression: push kept the caller's array until its chunk ran, so reading the next
    frame into the same buffer (cv2.VideoCapture.read(image=buf)) replaced every frame of
    a chunk by its last one, silently."""
    from osdfilter import FilterConfig, OSDFilter

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (72, 128, 3), dtype=np.uint8) for _ in range(6)]
    mask = np.zeros((72, 128), bool)
    mask[10:30, 20:60] = True

    def run(reuse: bool) -> list[np.ndarray]:
        filt = OSDFilter(TorchRunner(load_model(checkpoint)), mask, FilterConfig(chunk=4))
        buf, out = np.empty_like(frames[0]), []
        for f in frames:
            if reuse:
                buf[...] = f
            out += filt.push(buf if reuse else f.copy())
        return out + filt.flush()

    fresh, reused = run(False), run(True)
    assert len(fresh) == 6 and all(np.array_equal(a, b) for a, b in zip(fresh, reused))


@pytest.mark.parametrize("field, value", [("chunk", 2.5), ("chunk", True), ("chunk", "8"), ("context", -1),
                                          ("dilate", -1), ("feather", float("nan")), ("tile", 0)])
def test_filter_config_refuses_values_it_cannot_use(field, value):
    from osdfilter import FilterConfig

    with pytest.raises(ValueError, match=field):
        FilterConfig(**{field: value})


def test_osdfilter_reads_a_mask_array_as_process_video_does_and_takes_a_network(checkpoint):
    """Non-zero = overlay (a float mask of 0.5s was empty); a RecurrentUNet runs in PyTorch
    (it was an AttributeError), anything else without ``step`` is a TypeError."""
    from osdfilter import FilterConfig, OSDFilter

    mask = np.zeros((72, 128), np.float32)
    mask[10:30, 20:60] = 0.5
    model = load_model(checkpoint)
    filt = OSDFilter(model, mask, FilterConfig(chunk=2))
    assert not filt.is_empty and filt.mask[10:30, 20:60].all()
    with pytest.raises(TypeError, match="make_runner"):
        OSDFilter("model.pt", mask)
    with pytest.raises(ValueError, match="2-D"):
        OSDFilter(model, np.zeros((72, 128, 3)))
