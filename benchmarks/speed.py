"""Throughput of process_video against the I/O floor, per resolution and backend.

For each size, one generated clip (panning texture, a Betaflight-like OSD layout covering a
few percent of the frame, AAC stereo; see benchmarks/memory.py) and the same encoder
settings (libx264, CRF 18, preset faster: process_video's defaults; ``--codec`` and ``--encoder-preset`` for another
encoder, e.g. h264_nvenc on a GPU machine) for every row:

  io-floor   plain PyAV decode -> encode (what any transcode costs)
  telea      decode -> OpenCV Telea on every full frame -> encode
  identity   process_video with an identity network and no fill: the pipeline's own cost
             (decode, prepare, chunk, composite, encode stages) without model work
  fill       the same with the default model's classical fill (temporal) and its input
             (with a candidates model: the candidates, 19-channel crops): the fill's cost
  fast       osdfilter --fast: the classical fill alone, no network and no candidates
  torch      process_video, PyTorch backend (--device)
  torch-fp16 the same with fp16 autocast (TorchRunner(half=True); for a GPU)
  onnx       process_video, ONNX Runtime backend (--provider, CPU by default; fp16 graph on a GPU provider)
  ffmpeg     ffmpeg's removelogo with the same mask (only when an ffmpeg binary is on PATH)

Every row runs in a fresh subprocess, which reports its own peak RSS (``VmHWM``, see
memory.peak_rss_mib: getrusage's maxrss would carry the parent's over fork and exec).
``x floor`` is the row's wall time over the floor's, measured in the same run: on a shared machine only these ratios are comparable.
``--gate``: FilterConfig.gate (default: the filter's; ``none`` = the network on every region
in every frame). ``model fps`` is runner.step alone on the clip's tile batch (chunks of 8). ``stages busy``:
the seconds each of process_video's concurrent stages worked, not waiting on its
neighbours (``Report.stages``), as a share of the row's wall time: the stage near 100 %
sets the pace; after it, the CPU time of each stage's own thread per frame (``Report.stage_cpu``:
the pipeline's own work, without the threads the codecs and ONNX Runtime start). ``CPU
ms/frame``: user + system CPU time of the row (all threads) per frame;
N cores give N x 1000 / fps of it at a given frame rate (2 cores at 10 fps: 200 ms), so it
says which rows a core count can run at a target rate (less sensitive to other load than wall time).

    python benchmarks/speed.py                             # 480p, 720p, 1080p, 5 s each
    python benchmarks/speed.py --sizes 1280x720 --seconds 10
    python benchmarks/speed.py --sizes 854x480 --rows io-floor identity --repeat 5   # medians of 5 alternating rounds
    python benchmarks/speed.py --roi                       # + tile vs full-frame at 1080p, tile 64 vs 128
    python benchmarks/speed.py --source ../shared/data/clean/eval/davis_drift-straight
    python benchmarks/speed.py --sizes 1920x1080 --device cuda --codec h264_nvenc --rows io-floor identity fill torch torch-fp16

``--source VIDEO|FRAME_FOLDER`` builds the clips from real footage (resized, played forwards then
backwards to the length, the same OSD burned in) instead of the panning noise texture.
The texture is the temporal fill's worst case: its fine, high-contrast noise never
passes the fill's brightness check, so every masked pixel falls back to the normalized
convolution; in real moving footage most masked pixels are carried from earlier frames.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from memory import osd_overlay, panning_frames, peak_rss_mib, write_clip, write_frames  # noqa: E402
from osdfilter.media.encode import DEFAULT_PRESET as PRESET  # noqa: E402

CRF = 18
DEFAULT_WEIGHTS = ROOT / "osdfilter" / "weights" / "default.pt"
CHUNK = 8


# ---------------------------------------------------------------- inputs


def clip_mask(width: int, height: int) -> np.ndarray:
    """The OSD's glyphs with a 1 px outline margin: 3-4% of the frame, as users paint it."""
    from osdfilter.masks.image import dilate

    return dilate(osd_overlay(width, height)[0], 1)


def write_source_clip(path: Path, source: Path, seconds: int, width: int, height: int, fps: int = 30) -> None:
    """The benchmark clip from real footage: ``source`` resized to ``width x height``,
    ping-ponged to ``seconds``, with :func:`memory.osd_overlay` burned in; stereo AAC."""
    from quality import read_clip  # a video file or a folder of frames (DAVIS)

    frames = [cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in read_clip(source, seconds * fps, 10**6)]
    loop = frames + frames[-2:0:-1]  # forwards then backwards: no cut at the loop point
    write_frames(path, [loop[t % len(loop)] for t in range(seconds * fps)], width, height, fps)


def prepare(workdir: Path, sizes: list[tuple[int, int]], seconds: int, preset: str, source: Path | None = None,
            onnx: bool = True, fp16: bool = False, model: Path | None = None) -> dict[str, Any]:
    """Clips, mask PNGs, the checkpoint (``model``, else default.pt, else an untrained
    ``preset``) and, if ``onnx``, its ONNX graph (``fp16``: also the fp16 graph a GPU
    provider runs)."""
    import torch

    from osdfilter import ModelConfig, RecurrentUNet, save_checkpoint
    from osdfilter.model.onnx_export import export_onnx

    workdir.mkdir(parents=True, exist_ok=True)
    model_path = model or DEFAULT_WEIGHTS
    if not model_path.exists():
        torch.manual_seed(0)
        model = RecurrentUNet(ModelConfig.preset(preset))
        torch.nn.init.normal_(model.head.weight, std=0.05)  # nonzero head: the network does real work
        model_path = workdir / f"untrained_{preset}.pt"
        save_checkpoint(model_path, model)
    onnx_path = workdir / (model_path.stem + ".onnx")
    if onnx and (not onnx_path.exists() or onnx_path.stat().st_mtime < model_path.stat().st_mtime):
        export_onnx(model_path, onnx_path, chunk=CHUNK)
    cases = {"model": str(model_path), "onnx": str(onnx_path), "clips": {}}
    if onnx and fp16:  # the graph a GPU provider runs
        cases["onnx16"] = str(onnx_path.with_name(onnx_path.stem + "_fp16.onnx"))
        if not Path(cases["onnx16"]).exists() or Path(cases["onnx16"]).stat().st_mtime < model_path.stat().st_mtime:
            export_onnx(model_path, cases["onnx16"], chunk=CHUNK, fp16=True)
    for w, h in sizes:
        clip = workdir / (f"clip_{w}x{h}_{seconds}s.mp4" if source is None else f"{source.stem}_{w}x{h}_{seconds}s.mp4")
        if not clip.exists():
            print(f"generating {clip.name} ...", file=sys.stderr)
            if source is None:
                write_clip(clip, seconds, w, h, 30)
            else:
                write_source_clip(clip, source, seconds, w, h)
        mask = workdir / f"mask_{w}x{h}.png"
        cv2.imwrite(str(mask), clip_mask(w, h).astype(np.uint8) * 255)
        cases["clips"][f"{w}x{h}"] = {"clip": str(clip), "mask": str(mask)}
    return cases


# ---------------------------------------------------------------- rows (in the child)


def transcode(src: str, dst: str, per_frame: Callable[[np.ndarray], np.ndarray] | None, codec: str = "libx264",
              preset: str = PRESET) -> int:
    """Plain PyAV decode -> (per_frame on RGB) -> encode with the same settings; audio copied."""
    from osdfilter.media.encode import encoder_options

    with av.open(src) as inp, av.open(dst, "w") as out:
        vin, ain = inp.streams.video[0], inp.streams.audio[0]
        vin.thread_type = "AUTO"
        vout = out.add_stream(codec, rate=vin.average_rate, options=encoder_options(codec, CRF, preset))
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        vout.time_base = vout.codec_context.time_base = vin.time_base  # input pts kept, as process_video does
        aout = out.add_stream_from_template(ain)
        n = 0
        for packet in inp.demux(vin, ain):
            if packet.stream is ain:
                if packet.size:
                    packet.stream = aout
                    out.mux(packet)
                continue
            for decoded in vin.decode(packet):
                frame = decoded
                if per_frame is not None:
                    frame = av.VideoFrame.from_ndarray(per_frame(decoded.to_ndarray(format="rgb24")), format="rgb24")
                # The floor encodes exactly what process_video encodes: the input's timestamps
                # (without them x264's rate control saw no frame durations and spent ~40% fewer
                # bits, and less CPU, at the same CRF), and no picture type (a decoded frame keeps
                # the input's, which libx264 obeys; ffmpeg resets it too).
                frame.pts, frame.time_base = decoded.pts, decoded.time_base
                frame.pict_type = av.video.frame.PictureType.NONE
                out.mux(vout.encode(frame))
                n += 1
        out.mux(vout.encode(None))
    return n


def telea_fn(mask_png: str, width: int, height: int) -> Callable[[np.ndarray], np.ndarray]:
    from osdfilter.masks.image import dilate, load_mask

    m = dilate(load_mask(mask_png, height, width), 2).astype(np.uint8)
    return lambda rgb: cv2.inpaint(rgb, m, 3, cv2.INPAINT_TELEA)


def model_fps(runner: Any, clip: str, mask_png: str, config: Any) -> float:
    """Frames/s of runner.step alone on this clip's regions (first frames, chunks of CHUNK;
    one call per region shape, as the filter does)."""
    from osdfilter.filter.core import OSDFilter
    from osdfilter.masks.image import load_mask

    with av.open(clip) as c:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(CHUNK), c.decode(video=0))]
    filt = OSDFilter(runner, load_mask(mask_png, *frames[0].shape[:2]), config)
    xs = filt.model_input(frames, [filt.mask] * len(frames))
    states = [runner.step(x, None)[1] for x in xs]  # warm-up
    n, t0 = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - t0 < 2.0:
        states = [runner.step(x, st)[1] for x, st in zip(xs, states)]
        n += 1
    return n * len(frames) / (time.perf_counter() - t0)


def child(row: str, case: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """One row, in its own process: wall time, frames, model fps, peak RSS."""
    import torch

    from osdfilter import FilterConfig, ModelConfig, process_video
    from osdfilter.model.checkpoint import load_model
    from osdfilter.model.runners import FILL_ONLY, IdentityRunner, TorchRunner, make_runner

    if args.get("torch_threads"):
        torch.set_num_threads(int(args["torch_threads"]))
    w, h = (int(v) for v in case["size"].split("x"))
    dst = str(Path(case["clip"]).with_suffix(f".{row}.mp4"))
    config = FilterConfig(chunk=CHUNK, tile=args.get("tile"), context=args.get("context"), gate=args["gate"])
    result: dict[str, Any] = {}
    t0, cpu0 = time.perf_counter(), cpu_seconds()
    codec, preset = args.get("codec", "libx264"), args.get("encoder_preset", PRESET)
    if row == "io-floor":
        frames = transcode(case["clip"], dst, None, codec, preset)
    elif row == "telea":
        frames = transcode(case["clip"], dst, telea_fn(case["mask"], w, h), codec, preset)
    elif row == "ffmpeg":  # removelogo with the same mask PNG and encoder settings; audio copied
        cmd = ["ffmpeg", "-v", "error", "-y", "-i", case["clip"], "-vf", f"removelogo={case['mask']}",
               "-c:v", "libx264", "-crf", str(CRF), "-preset", preset, "-c:a", "copy", dst]  # (libx264 only)
        result["peak_rss_mib"] = run_watching_peak(cmd)
        result["cpu_s"] = cpu_seconds(resource.RUSAGE_CHILDREN)
        frames = av.open(dst).streams.video[0].frames
    else:
        device, provider = args.get("device", "cpu"), args.get("provider", "cpu")
        runner = {"identity": lambda: IdentityRunner(ModelConfig(prefill="none")),
                  "fill": lambda: IdentityRunner(load_model(case["model"]).config),
                  "fast": lambda: make_runner(FILL_ONLY),
                  "torch": lambda: make_runner(case["model"], "torch", device),
                  "torch-fp16": lambda: TorchRunner(load_model(case["model"], device), device, half=True),
                  "onnx": lambda: make_runner(case["onnx16" if provider != "cpu" else "onnx"], "onnx", provider=provider)}[row]()
        import osdfilter.media.transcode as stream

        stream.PIPELINE_THREADS = not args.get("sequential")
        t0, cpu0 = time.perf_counter(), cpu_seconds()
        report = process_video(case["clip"], dst, mask=case["mask"], model=runner, config=config, codec=codec, preset=preset, crf=CRF, quiet=True, overwrite=True)
        frames, wall = report.frames, time.perf_counter() - t0
        result["cpu_s"] = cpu_seconds() - cpu0
        result["stages"] = report.stages
        result["stage_cpu"] = report.stage_cpu
        result["model_fps"] = model_fps(runner, case["clip"], case["mask"], config) if row in ("torch", "torch-fp16", "onnx") else None
        result.update(frames=frames, wall_s=wall)
    result.setdefault("frames", frames)
    result.setdefault("wall_s", time.perf_counter() - t0)
    result.setdefault("cpu_s", cpu_seconds() - cpu0)
    result.setdefault("peak_rss_mib", peak_rss_mib())
    return result


def run_watching_peak(cmd: list[str]) -> float:
    """Run ``cmd`` to the end (an error raises); its peak RSS in MiB, read from /proc while it
    runs (its high-water mark only grows, so the last reading is within 20 ms of the end)."""
    proc = subprocess.Popen(cmd)
    peak = 0.0
    while proc.poll() is None:
        try:
            peak = max(peak, peak_rss_mib(proc.pid))
        except (OSError, KeyError, ValueError):  # exited between poll() and the read
            pass
        time.sleep(0.02)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return peak


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    """User + system CPU seconds of this process (all its threads) or of its waited-for children."""
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def run_row(row: str, case: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", row, json.dumps(case), json.dumps(args)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the table


def print_table(size: str, rounds: list[dict[str, dict[str, Any]]], codec: str = "libx264", preset: str = PRESET) -> None:
    """One table per size. With several rounds (``--repeat``) each figure is the median over
    the rounds, and ``x floor`` is the median of each round's ratio to that round's floor,
    with its range: on a shared machine the rounds see different loads."""
    first = rounds[0]
    print(f"\n{size}  ({first['io-floor'].get('frames', '?')} frames, {codec} crf {CRF} {preset}"
          + (f", median of {len(rounds)} alternating rounds)" if len(rounds) > 1 else ")"))
    spread = len(rounds) > 1
    print(f"{'row':<10} {'e2e fps':>8} {'x floor':>8}" + (f" {'range':>10}" if spread else "")
          + f" {'model fps':>10} {'peak RSS MiB':>13} {'CPU ms/frame':>13}  stages busy, % of wall | their threads' CPU, ms/frame (decode analyse prepare model encode)")
    for name in first:
        runs = [(r[name], r["io-floor"]) for r in rounds if "error" not in r[name] and "skipped" not in r[name] and "wall_s" in r["io-floor"]]
        if not runs:
            print(f"{name:<10} {first[name].get('error') or first[name].get('skipped')}")
            continue
        med = lambda values: float(np.median(values))  # noqa: E731
        ratios = [r["wall_s"] / f["wall_s"] for r, f in runs]
        fps = med([r["frames"] / r["wall_s"] for r, _ in runs])
        model = [r["model_fps"] for r, _ in runs if r.get("model_fps")]
        mf = f"{med(model):.1f}" if model else "-"
        shares = [[100 * v / r["wall_s"] for v in r["stages"].values()] for r, _ in runs if r.get("stages")]
        busy = " ".join(f"{v:.0f}" for v in np.median(shares, axis=0)) if shares else ""
        own = [[1000 * v / r["frames"] for v in r["stage_cpu"].values()] for r, _ in runs if r.get("stage_cpu")]
        if own:
            busy += " | " + " ".join(f"{v:.1f}" for v in np.median(own, axis=0))
        rng = f" {min(ratios):>4.2f}-{max(ratios):<4.2f}" if spread else ""
        print(f"{name:<10} {fps:>8.1f} {med(ratios):>8.2f}{rng} {mf:>10} {max(r['peak_rss_mib'] for r, _ in runs):>13.0f} "
              f"{med([1000 * r['cpu_s'] / r['frames'] for r, _ in runs]):>13.0f}  {busy}")


def main() -> None:
    from osdfilter.filter.core import FilterConfig
    from quality import gate_arg

    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4]))))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", default=["854x480", "1280x720", "1920x1080"])
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--rows", nargs="+", default=["io-floor", "telea", "identity", "fill", "fast", "torch", "onnx", "ffmpeg"])
    p.add_argument("--source", type=Path, help="build the clips from this video instead of a noise texture")
    p.add_argument("--model", type=Path, help="checkpoint of the torch / onnx rows (default: the packaged default.pt)")
    p.add_argument("--preset", default="tiny", help="untrained model preset when default.pt is absent")
    p.add_argument("--torch-threads", type=int, default=0, help="torch.set_num_threads in the child (0 = torch's default)")
    p.add_argument("--tile", type=int, default=None)
    p.add_argument("--context", type=int, default=None)
    p.add_argument("--gate", type=gate_arg, default=FilterConfig.gate,
                   help="FilterConfig.gate ('none' = the network on every region in every frame)")
    p.add_argument("--sequential", action="store_true", help="process_video without the concurrent stages")
    p.add_argument("--roi", action="store_true", help="also: tile vs full-frame model at 1080p; tile 64 vs 128")
    p.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "_work")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="torch rows' device")
    p.add_argument("--codec", default="libx264", help="video encoder of every row (e.g. h264_nvenc)")
    p.add_argument("--encoder-preset", default=PRESET, help="encoder speed preset of every row (x264 names)")
    p.add_argument("--provider", default="cpu", choices=["cpu", "cuda", "tensorrt"], help="onnx row's provider (GPU: the fp16 graph)")
    p.add_argument("--repeat", type=int, default=1, help="rounds of all rows per size, alternating; the table gives medians")
    a = p.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in a.sizes]
    prep = prepare(a.workdir, sizes, a.seconds, a.preset, a.source, onnx="onnx" in a.rows, fp16=a.provider != "cpu", model=a.model)  # type: ignore[arg-type]
    print(f"machine: {os.cpu_count()} CPUs ({cpu_name()}), load avg {os.getloadavg()[0]:.1f}; model {Path(prep['model']).name}; "
          f"clip: {a.source.name if a.source else 'panning noise texture'}" + (f"; GPU {gpu_name()}" if a.device == "cuda" else ""))
    opts = {"torch_threads": a.torch_threads, "tile": a.tile, "context": a.context, "sequential": a.sequential, "gate": a.gate, "encoder_preset": a.encoder_preset,
            "device": a.device, "provider": a.provider, "codec": a.codec}
    for size in a.sizes:
        case = {**prep["clips"][size], "size": size, **{k: v for k, v in prep.items() if k != "clips"}}
        rounds = []
        for _ in range(max(1, a.repeat)):
            rows = {}
            for row in ["io-floor"] + [r for r in a.rows if r != "io-floor"]:  # every ratio needs the round's floor
                rows[row] = {"skipped": "no ffmpeg binary on PATH: skipped"} if row == "ffmpeg" and not shutil.which("ffmpeg") else run_row(row, case, opts)
            rounds.append(rows)
        print_table(size, rounds, a.codec, a.encoder_preset)
        sys.stdout.flush()
    if a.roi:
        roi_report(prep["model"])


# ---------------------------------------------------------------- region of interest


def synthetic_frames(width: int, height: int, n: int) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """(clean frames, frames with the OSD burned in, glyph mask), as benchmarks/memory.py pans them."""
    glyphs, text = osd_overlay(width, height)
    clean = [f.copy() for f in panning_frames(width, height, n)]
    burned = [c.copy() for c in clean]
    for b in burned:
        b[glyphs] = text[glyphs]
    return clean, burned, glyphs


def full_frame(runner: Any, filt: Any, frames: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
    """The model on whole frames (Telea prefill, reflect-padded to 8), composited like the filter;
    and the model's frames/s. One frame per step: a 1080p chunk of 8 would need gigabytes."""
    from osdfilter.filter.fill import telea

    h, w = frames[0].shape[:2]
    ph, pw = -h % 8, -w % 8
    state, out, spent = None, [], 0.0
    for f in frames:
        x = cv2.copyMakeBorder(telea(f, filt.mask), 0, ph, 0, pw, cv2.BORDER_REFLECT_101).astype(np.float32) / 127.5 - 1.0
        m = cv2.copyMakeBorder(filt.mask.astype(np.uint8), 0, ph, 0, pw, cv2.BORDER_REFLECT_101).astype(np.float32)
        inp = np.concatenate([x.transpose(2, 0, 1), m[None]])[None, None]
        t0 = time.perf_counter()
        y, state = runner.step(inp, state)
        spent += time.perf_counter() - t0
        restored = (y[0, 0, :, :h, :w].transpose(1, 2, 0) + 1.0) * 127.5
        alpha = filt._alpha[..., None]
        out.append(np.clip(f.astype(np.float32) * (1 - alpha) + restored * alpha + 0.5, 0, 255).astype(np.uint8))
    return out, len(frames) / spent


def masked_psnr(outs: list[np.ndarray], clean: list[np.ndarray], region: np.ndarray) -> float:
    err = np.mean([np.mean((o[region].astype(np.float64) - c[region]) ** 2) for o, c in zip(outs, clean)])
    return float(10 * np.log10(255.0**2 / max(err, 1e-12)))


def roi_report(model_path: str, width: int = 1920, height: int = 1080, n: int = 8) -> None:
    """Tiles vs full frame at 1080p (model fps, masked PSNR vs the clean frames); tile 64 vs 128."""
    from osdfilter import FilterConfig, OSDFilter
    from osdfilter.masks.image import dilate
    from osdfilter.model.runners import make_runner

    runner = make_runner(model_path, "torch", "cpu")
    if Path(model_path).name.startswith("untrained"):  # random head = noise; zero = the model returns its prefill
        runner.model.head.weight.data.zero_()
        runner.model.head.bias.data.zero_()
    clean, burned, glyphs = synthetic_frames(width, height, n)
    region = dilate(glyphs, 2)  # pixels within 2 px of the overlay
    print(f"\nROI at {width}x{height}, mask {clip_mask(width, height).mean():.1%} of the frame, {n} frames, model {Path(model_path).name}")
    print(f"{'variant':<22} {'tiles':>5} {'model fps':>10} {'x full':>7} {'masked PSNR dB':>15}")
    filt = OSDFilter(runner, clip_mask(width, height), FilterConfig(chunk=CHUNK))
    ff_out, ff_fps = full_frame(runner, filt, burned)
    rows = [("full frame", "-", ff_fps, masked_psnr(ff_out, clean, region))]
    for tile in (64, 96, 128):
        f = OSDFilter(runner, clip_mask(width, height), FilterConfig(chunk=CHUNK, tile=tile, context=16))
        t0 = time.perf_counter()
        xs = f.model_input(burned, [f.mask] * n)
        prep_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for x in xs:
            runner.step(x, None)
        fps = n / (time.perf_counter() - t0)
        out = [o for b in burned for o in f.push(b)] + f.flush()
        rows.append((f"tiles {tile}+2x16 (prep {n / prep_s:.0f} fps)", str(len(f.plan)), fps, masked_psnr(out, clean, region)))
    for name, tiles, fps, psnr in rows:
        print(f"{name:<22} {tiles:>5} {fps:>10.2f} {fps / ff_fps:>7.1f} {psnr:>15.2f}")


def gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else "none"


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


if __name__ == "__main__":
    main()
