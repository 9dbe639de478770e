"""Frames per second, PyTorch vs ONNX Runtime (CPU), measured in one run.

Cases: full frames at 480x270 and 854x480 (N=1), and the region batches the pipeline
really runs at those sizes (the filter's plan over a synthetic OSD: one batch per region
shape, their times added). Each case runs chunks of 8 frames with the state carried, the
backends interleaved round by round (the machine is shared, so load drifts), and
reports the median fps per backend. ONNX Runtime runs two graphs: the one-frame step
(T=1, the export default) and an unrolled T=8 graph, which is how T=1 was chosen.

    python benchmarks/onnx_speed.py [--model CKPT] [--threads 2] [--rounds 3]
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Optional

import click
import numpy as np
import torch

from osdfilter.model.checkpoint import load_model
from osdfilter.filter.core import scaled_context
from osdfilter.filter.tiles import plan_tiles
from osdfilter.masks.image import dilate
from osdfilter.model.network import ModelConfig, RecurrentUNet
from osdfilter.model.onnx_export import export_onnx
from osdfilter.model.onnx_runtime import OnnxRunner
from osdfilter.osd import OSDSynth
from osdfilter.model.runners import Runner, TorchRunner

CHUNK = 8  # the pipeline's default chunk
SIZES = ((270, 480), (480, 854))


def regions_for(height: int, width: int, config: ModelConfig, seed: int = 0) -> list[tuple[int, int, int]]:
    """The filter's region batches ``(N, crop_h, crop_w)`` for a synthetic OSD at this size."""
    mask = OSDSynth(height, width, rng=np.random.default_rng(seed)).union_mask(CHUNK)
    plan = plan_tiles(dilate(mask, 2), config.tile, scaled_context(config.context, height, width))
    return [(len(idx), h, w) for (h, w), idx in plan.groups()]


def cases(config: ModelConfig) -> list[tuple[str, list[tuple[int, int, int]]]]:
    """(label, [(N, H, W) batches]): full frames, then the pipeline's region batches, per size."""
    out = [(f"full frame {w}x{h}", [(1, h, w)]) for h, w in SIZES]
    out += [(f"regions for {w}x{h}", regions_for(h, w, config)) for h, w in SIZES]
    return out


def chunk_fps(runner: Runner, frames: np.ndarray, state: object) -> tuple[float, object]:
    """Video frames per second for one chunk (all N tiles of T frames count as T frames)."""
    t0 = time.perf_counter()
    _, state = runner.step(frames, state)
    return frames.shape[1] / (time.perf_counter() - t0), state


def measure_batches(runners: dict[str, Runner], batches: list[tuple[int, int, int]], rounds: int) -> dict[str, float]:
    """Video fps when every batch runs once per chunk (times add up over the batches)."""
    per = [measure(runners, n, h, w, rounds) for n, h, w in batches]
    return {name: 1.0 / sum(1.0 / p[name] for p in per) for name in runners}


def measure(runners: dict[str, Runner], n: int, height: int, width: int, rounds: int) -> dict[str, float]:
    """Median fps per runner; one warm-up chunk each, then rounds interleaved across runners."""
    rng = np.random.default_rng(0)
    frames = rng.uniform(-1, 1, (n, CHUNK, 4, height, width)).astype(np.float32)
    frames[:, :, 3] = rng.uniform(0, 1, (n, CHUNK, height, width)) < 0.3
    states = {name: chunk_fps(r, frames, None)[1] for name, r in runners.items()}
    fps: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, r in runners.items():
            f, states[name] = chunk_fps(r, frames, states[name])
            fps[name].append(f)
    return {name: statistics.median(v) for name, v in fps.items()}


def build_runners(model: RecurrentUNet, workdir: Path, threads: int) -> dict[str, Runner]:
    quiet = lambda _: None  # noqa: E731  (export prints its parity line otherwise)
    step = export_onnx(model, workdir / "T1.onnx", chunk=1, log=quiet)
    unrolled = export_onnx(model, workdir / "T8.onnx", chunk=CHUNK, log=quiet)
    return {
        "torch": TorchRunner(model, "cpu"),
        "ort T=1": OnnxRunner(step, provider="cpu", threads=threads),
        f"ort T={CHUNK}": OnnxRunner(unrolled, provider="cpu", threads=threads),
    }


def print_table(rows: list[tuple[str, list[tuple[int, int, int]], dict[str, float]]]) -> None:
    names = list(rows[0][2])
    head = f"{'case':<22} {'N':>3} {'pixels':>9} " + " ".join(f"{n + ' fps':>12}" for n in names)
    ratios = [n for n in names if n != "torch"]
    print(head + " " + " ".join(f"{n + '/torch':>13}" for n in ratios))
    for label, batches, fps in rows:
        cells = " ".join(f"{fps[k]:>12.2f}" for k in names)
        n, px = sum(b[0] for b in batches), sum(n * h * w for n, h, w in batches)
        print(f"{label:<22} {n:>3} {px:>9} {cells} " + " ".join(f"{fps[k] / fps['torch']:>13.2f}" for k in ratios))


@click.command()
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False), help="Checkpoint [default: random 'small' preset].")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="Threads for both backends.")
@click.option("--rounds", type=click.IntRange(min=1), default=3, show_default=True, help="Timed chunks per backend and case.")
def main(model_path: Optional[str], threads: int, rounds: int) -> None:
    """Print fps of PyTorch vs ONNX Runtime on CPU for full frames and the pipeline's region batches."""
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    model = load_model(model_path) if model_path else RecurrentUNet(ModelConfig.preset("small")).eval()
    with tempfile.TemporaryDirectory() as tmp:
        runners = build_runners(model, Path(tmp), threads)
        print(f"widths {model.config.widths}, chunk {CHUNK} frames, {threads} threads, median of {rounds}, "
              f"torch {torch.__version__}, {runners['ort T=1'].note}")
        rows = [(label, batches, measure_batches(runners, batches, rounds)) for label, batches in cases(model.config)]
    print_table(rows)


if __name__ == "__main__":
    main()
