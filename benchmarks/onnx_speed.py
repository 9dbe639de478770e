"""Frames per second, PyTorch vs ONNX Runtime (CPU), measured in one run.

Cases: full frames at 480x270 and 854x480 (N=1), and the tile batch the pipeline really
runs at those sizes (N tiles of tile+2*context pixels; N from the filter's tile plan over
a synthetic OSD). Each case runs chunks of 8 frames with the state carried, the
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

from osdfilter.checkpoint import load_model
from osdfilter.masks import dilate, plan_tiles
from osdfilter.model import ModelConfig, RecurrentUNet
from osdfilter.onnx import OnnxRunner, export_onnx
from osdfilter.osd import OSDSynth
from osdfilter.runners import Runner, TorchRunner

CHUNK = 8  # the pipeline's default chunk
SIZES = ((270, 480), (480, 854))


def tiles_for(height: int, width: int, config: ModelConfig, seed: int = 0) -> int:
    """How many tiles the filter runs for a synthetic OSD at this video size."""
    mask = OSDSynth(height, width, rng=np.random.default_rng(seed)).union_mask(CHUNK)
    return len(plan_tiles(dilate(mask, 2), config.tile, config.context))


def cases(config: ModelConfig) -> list[tuple[str, int, int, int]]:
    """(label, N, H, W): full frames, then the pipeline's tile batch, per video size."""
    crop = config.tile + 2 * config.context
    out = [(f"full frame {w}x{h}", 1, h, w) for h, w in SIZES]
    out += [(f"tiles for {w}x{h}", tiles_for(h, w, config), crop, crop) for h, w in SIZES]
    return out


def chunk_fps(runner: Runner, frames: np.ndarray, state: object) -> tuple[float, object]:
    """Video frames per second for one chunk (all N tiles of T frames count as T frames)."""
    t0 = time.perf_counter()
    _, state = runner.step(frames, state)
    return frames.shape[1] / (time.perf_counter() - t0), state


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


def print_table(rows: list[tuple[str, int, int, int, dict[str, float]]]) -> None:
    names = list(rows[0][4])
    head = f"{'case':<22} {'N':>3} {'input':>9} " + " ".join(f"{n + ' fps':>12}" for n in names)
    ratios = [n for n in names if n != "torch"]
    print(head + " " + " ".join(f"{n + '/torch':>13}" for n in ratios))
    for label, n, h, w, fps in rows:
        cells = " ".join(f"{fps[k]:>12.2f}" for k in names)
        print(f"{label:<22} {n:>3} {f'{w}x{h}':>9} {cells} " + " ".join(f"{fps[k] / fps['torch']:>13.2f}" for k in ratios))


@click.command()
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False), help="Checkpoint [default: random 'small' preset].")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="Threads for both backends.")
@click.option("--rounds", type=click.IntRange(min=1), default=3, show_default=True, help="Timed chunks per backend and case.")
def main(model_path: Optional[str], threads: int, rounds: int) -> None:
    """Print fps of PyTorch vs ONNX Runtime on CPU for full frames and the pipeline's tile batch."""
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    model = load_model(model_path) if model_path else RecurrentUNet(ModelConfig.preset("small")).eval()
    with tempfile.TemporaryDirectory() as tmp:
        runners = build_runners(model, Path(tmp), threads)
        print(f"widths {model.config.widths}, chunk {CHUNK} frames, {threads} threads, median of {rounds}, "
              f"torch {torch.__version__}, {runners['ort T=1'].note}")
        rows = [(label, n, h, w, measure(runners, n, h, w, rounds)) for label, n, h, w in cases(model.config)]
    print_table(rows)


if __name__ == "__main__":
    main()
