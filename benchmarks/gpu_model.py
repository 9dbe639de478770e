"""The network alone on a CUDA GPU: frames/s on the region batches the pipeline runs at
1080p, in float32 and fp16, measured in one run (needs a CUDA device).

Variants, each on the default model's regions for a synthetic OSD (``onnx_speed.regions_for``;
one batch per region shape, their times added per chunk of 8 frames, the state carried):

  fp32            TorchRunner as the pipeline uses it (float32)
  fp32 benchmark  the same with ``torch.backends.cudnn.benchmark`` (fixed shapes per video)
  autocast fp16   TorchRunner(half=True): fp16 convolutions under autocast
  half            weights and input in fp16 (``model.half()``), channels_last
  onnx cuda       ONNX Runtime's CUDA provider on the exported graph (T=8), fp32 and fp16
                  (only when the installed onnxruntime has CUDAExecutionProvider)

Rounds alternate across the variants (the median is printed; ``--seconds`` caps the run), timed with
``torch.cuda.synchronize`` around each chunk, host-device copies included (as in the
pipeline). ``x fp32`` is each variant's fps over the fp32 row's.

    python benchmarks/gpu_model.py [--model CKPT] [--size 1920x1080] [--rounds 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from onnx_speed import CHUNK, regions_for  # noqa: E402
from osdfilter.model.checkpoint import load_model  # noqa: E402
from osdfilter.model.runners import TorchRunner  # noqa: E402

Step = Callable[[np.ndarray, Any], tuple[np.ndarray, Any]]


def half_step(model: torch.nn.Module, device: str) -> Step:
    """fp16 weights and activations, channels_last; float32 numpy in and out like a runner."""
    net = model.half().to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def step(frames: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        x = torch.from_numpy(frames).to(device).half()
        y, state = net(x, state)
        return y.float().cpu().numpy(), state

    return step


def onnx_steps(model: Path) -> dict[str, tuple[Step, bool]]:
    """ONNX Runtime on CUDA, fp32 and fp16 graphs, when this onnxruntime has the provider."""
    try:
        import onnxruntime as ort
    except ImportError:
        return {}
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        print(f"onnxruntime {ort.__version__}: no CUDA provider ({ort.get_available_providers()})")
        return {}
    from osdfilter.model.onnx_export import onnx_for_checkpoint
    from osdfilter.model.onnx_runtime import OnnxRunner

    out: dict[str, tuple[Step, bool]] = {}
    for fp16 in (False, True):
        runner = OnnxRunner(onnx_for_checkpoint(model, chunk=CHUNK, fp16=fp16), provider="cuda")
        print(f"onnxruntime {ort.__version__}: {runner.note}")
        out[f"onnx cuda {'fp16' if fp16 else 'fp32'}"] = (runner.step, False)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=ROOT / "osdfilter" / "weights" / "default.pt")
    p.add_argument("--size", default="1920x1080")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--seconds", type=float, default=45.0,
                   help="stop after the round that passes this (at least 3 timed rounds): a slow variant "
                        "(ONNX Runtime's CUDA provider ran at 1.3 frames/s) must not eat a device call")
    p.add_argument("--device", default="cuda", help="cpu: only to try the script without a GPU")
    a = p.parse_args()
    dev = a.device
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    w, h = (int(v) for v in a.size.split("x"))
    config = load_model(a.model).config
    batches = regions_for(h, w, config)
    rng = np.random.default_rng(0)
    inputs = []
    for n, bh, bw in batches:
        x = rng.uniform(-1, 1, (n, CHUNK, 4, bh, bw)).astype(np.float32)
        x[:, :, 3] = rng.uniform(0, 1, (n, CHUNK, bh, bw)) < 0.3
        inputs.append(x)
    steps: dict[str, tuple[Step, bool]] = {
        "fp32": (TorchRunner(load_model(a.model, dev), dev).step, False),
        "fp32 benchmark": (TorchRunner(load_model(a.model, dev), dev).step, True),
        "autocast fp16": (TorchRunner(load_model(a.model, dev), dev, half=True).step, False),
        "half": (half_step(load_model(a.model, dev), dev), False),
    }
    steps.update(onnx_steps(a.model) if dev == "cuda" else {})
    states: dict[str, list[Any]] = {name: [None] * len(inputs) for name in steps}
    fps: dict[str, list[float]] = {name: [] for name in steps}
    start = time.perf_counter()
    for r in range(a.rounds + 2):  # two warm-up rounds (cuDNN's autotuning, allocator)
        if r >= 5 and time.perf_counter() - start > a.seconds:
            break
        for name, (step, bench) in steps.items():
            torch.backends.cudnn.benchmark = bench
            sync()
            t0 = time.perf_counter()
            for i, x in enumerate(inputs):
                _, states[name][i] = step(x, states[name][i])
            sync()
            if r >= 2:
                fps[name].append(CHUNK / (time.perf_counter() - t0))
    print(f"{torch.cuda.get_device_name() if dev == 'cuda' else 'cpu'}, torch {torch.__version__}, {a.size} regions "
          f"{[(n, bh, bw) for n, bh, bw in batches]}, chunk {CHUNK}, median of {len(fps['fp32'])} rounds")
    base = statistics.median(fps["fp32"])
    print(f"{'variant':<16} {'model fps':>10} {'x fp32':>7}")
    for name, v in fps.items():
        print(f"{name:<16} {statistics.median(v):>10.1f} {statistics.median(v) / base:>7.2f}")


if __name__ == "__main__":
    main()
