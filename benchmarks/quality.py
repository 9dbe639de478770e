"""Quality benchmark: osdfilter vs identity / OpenCV Telea / OpenCV Navier-Stokes.

Eval cases come from the clips ../shared/data/MANIFEST.md marks `eval` (never trained on).
Each gets an OSD from the project's synthesis with a font family training did not use
(walksnail by default) and a seed training never drew, is encoded with libx264 CRF 14 plus
an AAC track, decoded back, and every method restores the decoded frames.

`fill` is osdfilter's fill alone, no network (osdfilter/filter/lookahead.py, the default
lookahead), `causal` the same fill with ``LookaheadConfig(lookahead=0)`` (no later frames); a
model whose config says ``prefill="temporal"`` uses the fill in the osdfilter row. (`temporal`,
in the history of docs/benchmarks.md, was the causal fill of osdfilter/filter/temporal.py,
since removed.)

Metrics (per clip, then the mean):
  mPSNR   PSNR over pixels within 2 px of the overlay glyphs (the same region for both
          mask conditions), against the clean clip
  mSSIM   SSIM (luma, Gaussian window) averaged over that region
  outPSNR PSNR outside the method's (dilated, feathered) mask against the decoded input
          (what "unmasked pixels stay as they were" costs)
  flicker mean |Δout − Δclean| between consecutive frames inside the region (0-255)
  fps     frames per second of the method's restoration (osdfilter: its frame filter incl.
          prefill and compositing; end-to-end file fps is in benchmarks/speed.py)
Mask conditions: `exact` (per-frame glyph masks) and `box` (per-frame element boxes, what a
user paints or a detector returns).

    python benchmarks/quality.py                       # all eval clips, default model
    python benchmarks/quality.py --frames 24 --clips davis_kite-surf --model run.pt
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from osdfilter.filter.core import FilterConfig, OSDFilter  # noqa: E402
from osdfilter.masks.image import dilate, feather  # noqa: E402
from osdfilter.osd import OSDStyle, OSDSynth, load_font_dir  # noqa: E402
from osdfilter.filter.lookahead import LookaheadConfig, fill_sequence  # noqa: E402
from osdfilter.train.sources import read_clip  # noqa: E402,F401  (speed.py and automask.py use it from here too)

EVAL_SEED = 90_001  # training seeds are small integers; keep eval layouts apart
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "clean" / "eval"
DEFAULT_FONTS = ROOT.parent / "shared" / "data" / "fonts" / "walksnail"


# ---------------------------------------------------------------- data

def encode_decode(frames: np.ndarray, fps: int = 25, crf: int = 14) -> np.ndarray:
    """libx264 CRF ``crf`` yuv420p + an AAC track into memory, decoded back to RGB."""
    buf = io.BytesIO()
    t, h, w = frames.shape[:3]
    with av.open(buf, "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": str(crf), "preset": "medium"}
        aus = out.add_stream("aac", rate=48000)
        for i, f in enumerate(frames):
            out.mux(vs.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        samples = (0.1 * np.sin(np.arange(int(48000 * t / fps)) / 10)).astype(np.float32)
        for start in range(0, len(samples), 1024):
            af = av.AudioFrame.from_ndarray(samples[None, start : start + 1024], format="fltp", layout="mono")
            af.sample_rate, af.pts = 48000, start
            out.mux(aus.encode(af))
        out.mux(vs.encode())
        out.mux(aus.encode())
    buf.seek(0)
    with av.open(buf) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


@dataclass
class Case:
    name: str
    clean: np.ndarray  # [T, H, W, 3]
    inp: np.ndarray  # overlaid, after CRF 14
    glyph: np.ndarray  # bool [T, H, W]
    box: np.ndarray  # bool [T, H, W]


def make_case(path: Path, frames: int, max_side: int, fonts, clean: np.ndarray | None = None) -> Case:
    """The case of ``path`` (``clean``: these frames instead of the clip's, same OSD draw)."""
    clean = read_clip(path, frames, max_side) if clean is None else clean
    t, h, w = clean.shape[:3]
    # A digital HD OSD: no whole-frame DVR degradations (the CRF 14 encode is the degradation),
    # so outside the overlay the input equals the clean clip up to compression.
    style = OSDStyle(p_chroma_bleed=0.0, p_noise=0.0, p_jpeg=0.0)
    rng = np.random.default_rng(EVAL_SEED + sum(map(ord, path.name)))
    synth = OSDSynth(h, w, rng=rng, fonts=fonts, style=style)
    overlaid, glyph, box = synth.render_clip(clean)
    return Case(path.stem, clean, encode_decode(overlaid), glyph, box)


# ---------------------------------------------------------------- methods

Method = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (frames, masks) -> restored


def method_identity(frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
    return frames.copy()


def _cv_inpaint(flag: int) -> Method:
    def run(frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
        # Same 2 px dilation as osdfilter (the best Telea setting: dilation 0-2, radius 3).
        return np.stack([cv2.inpaint(f, dilate(m, 2).astype(np.uint8), 3, flag) for f, m in zip(frames, masks)])

    return run


def method_fill(config: LookaheadConfig = LookaheadConfig()) -> Method:
    """osdfilter's fill alone (no network), same 2 px dilation."""

    def run(frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
        return fill_sequence(frames, [dilate(m, 2) for m in masks], config)

    return run


def method_osdfilter(runner_factory: Callable[[], object], chunk: int = 8, context: int | None = None,
                     gate: float | None = FilterConfig.gate) -> Method:
    def run(frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
        filt = OSDFilter(runner_factory(), masks.any(0), FilterConfig(chunk=chunk, context=context, gate=gate))
        out: list[np.ndarray] = []
        for f, m in zip(frames, masks):
            out += filt.push(f, m)
        out += filt.flush()
        return np.stack(out)

    return run


# ---------------------------------------------------------------- metrics

def gate_arg(value: str) -> float | str | None:
    """``--gate`` of the benchmarks: a fraction, ``none`` (the network on every region in every
    frame) or ``model`` (the model's own setting, FilterConfig's default)."""
    return None if value == "none" else value if value == "model" else float(value)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)) if a.size else 0.0
    return 99.0 if mse <= 1e-10 else 10 * np.log10(255.0**2 / mse)


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM of two uint8 RGB frames on luma (Wang et al., 11x11 Gaussian, sigma 1.5)."""
    x = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64)
    y = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float64)
    blur = lambda z: cv2.GaussianBlur(z, (11, 11), 1.5)  # noqa: E731
    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    return ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))


def metrics(case: Case, out: np.ndarray, masks: np.ndarray) -> dict[str, float]:
    region = np.stack([dilate(g, 2) for g in case.glyph])
    touched = np.stack([feather(dilate(m, 2), 1.5) > 0 for m in masks])
    d_out = np.diff(out.astype(np.float64), axis=0)
    d_clean = np.diff(case.clean.astype(np.float64), axis=0)
    r2 = region[1:] & region[:-1]
    return {
        "mPSNR": psnr(out[region], case.clean[region]),
        "mSSIM": float(np.mean(np.concatenate([ssim_map(o, c)[r] for o, c, r in zip(out, case.clean, region)]))),
        "outPSNR": psnr(out[~touched], case.inp[~touched]),
        "flicker": float(np.mean(np.abs(d_out - d_clean)[r2])) if r2.any() else 0.0,
    }


# ---------------------------------------------------------------- main

def iter_clips(data: Path, names: list[str] | None) -> Iterator[Path]:
    for p in sorted(data.iterdir()):
        if (p.is_dir() or p.suffix in (".mp4", ".webm", ".mkv")) and (not names or p.stem in names or p.name in names):
            yield p


METHODS = ("identity", "telea", "ns", "causal", "fill", "osdfilter", "osdfilter-onnx")


def build_methods(args: argparse.Namespace) -> dict[str, Method]:
    from osdfilter.model.checkpoint import load_model
    from osdfilter.model.runners import TorchRunner

    model_path = Path(args.model) if args.model else ROOT / "osdfilter" / "weights" / "default.pt"
    methods: dict[str, Method] = {
        "identity": method_identity,
        "telea": _cv_inpaint(cv2.INPAINT_TELEA),
        "ns": _cv_inpaint(cv2.INPAINT_NS),
        "causal": method_fill(LookaheadConfig(lookahead=0)),
        "fill": method_fill(),
    }
    if model_path.exists():
        model = load_model(model_path)
        methods["osdfilter"] = method_osdfilter(lambda: TorchRunner(model), context=args.context, gate=args.gate)
        if args.onnx:
            try:
                from osdfilter.model.onnx_export import export_onnx
                from osdfilter.model.onnx_runtime import OnnxRunner

                onnx_path = Path("/tmp/osdfilter_quality_bench.onnx")
                export_onnx(model_path, onnx_path)
                methods["osdfilter-onnx"] = method_osdfilter(lambda: OnnxRunner(onnx_path, provider="cpu"))
            except ImportError as exc:
                print(f"(onnx backend skipped: {exc})", file=sys.stderr)
    else:
        print(f"(no model at {model_path}: osdfilter rows skipped)", file=sys.stderr)
    return {k: v for k, v in methods.items() if not args.methods or k in args.methods}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of eval clips")
    ap.add_argument("--fonts", type=Path, default=DEFAULT_FONTS, help="held-out OSD font folder ('' = built-in)")
    ap.add_argument("--clips", nargs="*", help="clip names to run (default: all)")
    ap.add_argument("--frames", type=int, default=32, help="frames per clip")
    ap.add_argument("--max-side", type=int, default=1280, help="downscale clips whose long side exceeds this")
    ap.add_argument("--model", help="checkpoint (default: the packaged default model)")
    ap.add_argument("--methods", nargs="*", help=f"subset of methods: {' '.join(METHODS)}")
    ap.add_argument("--onnx", action="store_true", help="also run the ONNX Runtime backend")
    ap.add_argument("--context", type=int, help="context margin around each region (default: the model's)")
    ap.add_argument("--gate", type=gate_arg, default=FilterConfig.gate,
                    help="FilterConfig.gate: skip the network where the fill carried all but this fraction "
                         "('none' = always run it)")
    ap.add_argument("--masks", nargs="*", default=["exact", "box"], help="mask conditions")
    args = ap.parse_args()
    unknown = sorted(set(args.methods or ()) - set(METHODS))
    if unknown:
        gone = " ('temporal' was the removed osdfilter/filter/temporal.py; 'causal' is its successor)" if "temporal" in unknown else ""
        ap.error(f"unknown method {', '.join(unknown)}; choose from {', '.join(METHODS)}{gone}")

    fonts = load_font_dir(args.fonts) if str(args.fonts) and args.fonts.exists() else None
    methods = build_methods(args)
    rows: list[tuple[str, str, str, dict[str, float]]] = []
    for path in iter_clips(args.data, args.clips):
        case = make_case(path, args.frames, args.max_side, fonts)
        cover = case.glyph.mean() * 100
        print(f"\n{case.name}: {case.clean.shape[2]}x{case.clean.shape[1]}, {len(case.clean)} frames, glyph mask {cover:.1f}%, box mask {case.box.mean() * 100:.1f}%")
        for cond in args.masks:
            masks = case.glyph if cond == "exact" else case.box
            for name, run in methods.items():
                t0 = time.perf_counter()
                out = run(case.inp, masks)
                m = metrics(case, out, masks)
                m["fps"] = len(out) / (time.perf_counter() - t0)
                rows.append((case.name, cond, name, m))
                print(f"  {cond:5s} {name:15s} mPSNR {m['mPSNR']:6.2f}  mSSIM {m['mSSIM']:.4f}  outPSNR {m['outPSNR']:6.2f}  flicker {m['flicker']:5.2f}  fps {m['fps']:7.1f}", flush=True)
    print_summary(rows, args.masks, list(methods))


def print_summary(rows, conds: list[str], names: list[str]) -> None:
    print("\nMean over clips")
    print("| mask | method | masked PSNR | masked SSIM | PSNR outside | flicker | fps |")
    print("|---|---|---|---|---|---|---|")
    for cond in conds:
        for name in names:
            ms = [m for _, c, n, m in rows if c == cond and n == name]
            if not ms:
                continue
            mean = {k: float(np.mean([m[k] for m in ms])) for k in ms[0]}
            print(f"| {cond} | {name} | {mean['mPSNR']:.2f} | {mean['mSSIM']:.4f} | {mean['outPSNR']:.2f} | {mean['flicker']:.2f} | {mean['fps']:.1f} |")


if __name__ == "__main__":
    main()
