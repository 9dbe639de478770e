"""End-to-end speed and peak memory of ``process_video`` on generated 720p clips.

Generates clips of each length (moving texture, a realistic OSD covering a few percent of
the frame, AAC stereo), a tiny-preset checkpoint and the OSD's mask, then processes each
clip in a fresh subprocess and reports frames/s and that process's peak RSS. Memory is
bounded by ``--chunk`` rather than the clip's length, so the longest clip's peak RSS should
be within 10% of the shortest's.

    python benchmarks/memory.py                       # 10 s and 60 s at 1280x720, 30 fps
    python benchmarks/memory.py --seconds 2 4 --width 640 --height 360   # quick look

Measured (2 shared CPU cores, load average 5-14 from other jobs, so fps is pessimistic;
1280x720 30 fps with stereo AAC, OSD mask 3.6%, chunk 8, libx264 medium):

    runner    clip   frames   fps    peak RSS
    tiny      10 s     300    0.88   1036 MiB
    tiny      60 s    >450*     -    1049 MiB after 540 s (+1.3%), flat from the first minute
    identity  10 s     300    2.32    606 MiB   (whole pipeline except the network)
    identity  60 s    1800    3.11    597 MiB   (-1.5%)

    * stopped after 540 s: the full run needs about 35 min on this shared machine.
Before the fixed glibc mmap threshold (``stream.limit_heap_growth``) the tiny 10 s run's
peak crept from 1010 to 1335 MiB over the clip.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Iterable, Iterator
from pathlib import Path

import av
import cv2
import numpy as np

OSD = [  # (text, x, y as fractions of the frame): a typical Betaflight layout
    ("16.4V", 0.03, 0.07), ("12:42", 0.80, 0.07), ("RSSI 87", 0.40, 0.07),
    ("ALT 123m", 0.03, 0.93), ("SPD 87km/h", 0.68, 0.93), ("3.92V", 0.40, 0.93),
    ("HOME 342m", 0.03, 0.50), ("CRSF", 0.84, 0.50), ("+", 0.49, 0.52),
]


def osd_overlay(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(mask bool [H, W] incl. outline, white outlined text RGB) of the OSD."""
    canvas = np.zeros((height, width, 3), np.uint8)
    scale, thick = height / 400, max(1, round(height / 360))
    for text, fx, fy in OSD:
        org = (int(fx * width), int(fy * height))
        cv2.putText(canvas, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (1, 1, 1), thick + 4, cv2.LINE_AA)
        cv2.putText(canvas, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return canvas.max(axis=2) > 0, canvas


def write_clip(path: Path, seconds: int, width: int, height: int, fps: int) -> None:
    """Encode the test clip (x264 ultrafast): panning texture + OSD, and a stereo AAC tone."""
    write_frames(path, panning_frames(width, height, seconds * fps), width, height, fps)


def panning_frames(width: int, height: int, n: int) -> Iterator[np.ndarray]:
    """``n`` clean RGB frames: a smooth noise texture panned right and bobbing up and down."""
    rng = np.random.default_rng(0)
    texture = cv2.resize(rng.integers(0, 256, (height // 4, width // 2, 3), dtype=np.uint8), (2 * width, height + 64), interpolation=cv2.INTER_CUBIC)
    for t in range(n):
        x, y = (7 * t) % width, int(32 + 30 * np.sin(t / 20))
        yield texture[y : y + height, x : x + width]


def write_frames(path: Path, frames: Iterable[np.ndarray], width: int, height: int, fps: int) -> None:
    """Encode ``frames`` (RGB) with the OSD of :func:`osd_overlay` burned in (x264 ultrafast),
    and a stereo AAC tone as long as the video."""
    mask, text = osd_overlay(width, height)
    n = 0
    with av.open(os.fspath(path), "w") as out:
        video = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "20"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "stereo"
        for frame in frames:
            frame = frame.copy()
            frame[mask] = text[mask]
            out.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            n += 1
        out.mux(video.encode(None))
        for start in range(0, n * 48000 // fps, 1024):
            tt = np.arange(start, start + 1024, dtype=np.float32) / 48000
            samples = (0.2 * np.stack([np.sin(2 * np.pi * 440 * tt), np.sin(2 * np.pi * 660 * tt)])).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 48000, start
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))


def prepare(workdir: Path, args: argparse.Namespace) -> tuple[Path, Path, dict[int, Path]]:
    """Mask PNG, tiny checkpoint and one clip per length (reused when already there)."""
    import torch

    from osdfilter import ModelConfig, RecurrentUNet, save_checkpoint

    mask_path, model_path = workdir / "mask.png", workdir / "tiny.pt"
    mask, _ = osd_overlay(args.width, args.height)
    cv2.imwrite(os.fspath(mask_path), mask.astype(np.uint8) * 255)
    torch.manual_seed(0)
    model = RecurrentUNet(ModelConfig.preset("tiny"))
    torch.nn.init.normal_(model.head.weight, std=0.05)  # nonzero head: the model does real work
    save_checkpoint(model_path, model)
    if args.device == "cpu":
        from osdfilter.model.onnx_export import onnx_for_checkpoint

        # --backend auto runs ONNX Runtime on a CPU: export (or find) the graph here, so that
        # no measured child pays the export's memory (it did: 677.8 vs 611.2 MiB at 480p).
        onnx_for_checkpoint(model_path)
    clips = {}
    for seconds in args.seconds:
        clips[seconds] = workdir / f"clip_{args.width}x{args.height}_{seconds}s.mp4"
        if not clips[seconds].exists():
            print(f"generating {clips[seconds].name} ...", file=sys.stderr)
            write_clip(clips[seconds], seconds, args.width, args.height, args.fps)
    print(f"mask covers {mask.mean():.1%} of the frame", file=sys.stderr)
    return mask_path, model_path, clips


def proc_status_mib(pid: int | str = "self") -> dict[str, float]:
    """The memory fields (``Vm*``, kB) of /proc/PID/status in MiB (Linux)."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: int(v.split()[0]) / 1024 for k, v in (line.split(":", 1) for line in lines if line.startswith("Vm"))}


def memory_mib() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB, from /proc (Linux)."""
    fields = proc_status_mib()
    return fields["VmRSS"], fields["VmHWM"]


def peak_rss_mib(pid: int | str = "self") -> float:
    """Peak RSS of a process in MiB: ``VmHWM``, the high-water mark of its own address space
    (Linux). Not ``getrusage``'s ``ru_maxrss``: Linux carries that across fork and exec, so
    a child started by a large parent reports the parent's peak (a benchmark's parent that
    had read a source video: every row's "peak" read 1695 MiB)."""
    if Path(f"/proc/{pid}/status").exists():
        return proc_status_mib(pid)["VmHWM"]
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 1024**2)


def log_memory(every_s: float = 10.0) -> None:
    """Print (seconds, RSS, peak RSS) to stderr every ``every_s`` s: memory over time."""
    import threading

    start = time.perf_counter()

    def loop() -> None:
        while True:
            time.sleep(every_s)
            rss, peak = memory_mib()
            print(f"  t={time.perf_counter() - start:6.0f}s rss={rss:7.1f} MiB peak={peak:7.1f} MiB", file=sys.stderr, flush=True)

    threading.Thread(target=loop, daemon=True).start()


def child(src: str, dst: str, mask: str, model: str, chunk: int, device: str) -> None:
    """Runs in the measured subprocess: process one clip, print JSON with peak RSS."""
    from osdfilter import FilterConfig, ModelConfig, process_video
    from osdfilter.model.runners import IdentityRunner

    log_memory()
    if model == "identity":  # the whole pipeline but the network (same tile plan)
        model = IdentityRunner(ModelConfig.preset("tiny"))
    report = process_video(src, dst, mask=mask, model=model, config=FilterConfig(chunk=chunk), device=device, quiet=True, overwrite=True)
    print(json.dumps({"frames": report.frames, "seconds": report.seconds, "fps": report.fps, "peak_rss_mib": peak_rss_mib()}))


def measure(clip: Path, mask: Path, model: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", os.fspath(clip), os.fspath(clip.with_suffix(".out.mp4")), os.fspath(mask), os.fspath(model), str(args.chunk), args.device]
    t0 = time.perf_counter()
    print(f"processing {clip.name} ...", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)  # stderr: memory log
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - t0
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        src, dst, mask, model, chunk, device = sys.argv[2:8]
        return child(src, dst, mask, model, int(chunk), device)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, nargs="+", default=[10, 60])
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--chunk", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runner", choices=["tiny", "identity"], default="tiny", help="tiny checkpoint, or no network (pipeline only)")
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/_work"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    mask, model, clips = prepare(args.workdir, args)
    if args.runner == "identity":
        model = "identity"
    print(f"runner: {args.runner}, {args.width}x{args.height}, chunk {args.chunk}")
    print(f"{'clip':>6} {'frames':>7} {'fps':>7} {'peak RSS MiB':>13}", flush=True)
    rows = {}
    for s, clip in clips.items():
        rows[s] = r = measure(clip, mask, model, args)
        print(f"{s:>5}s {r['frames']:>7} {r['fps']:>7.2f} {r['peak_rss_mib']:>13.1f}", flush=True)
    first, last = rows[min(rows)], rows[max(rows)]
    growth = last["peak_rss_mib"] / first["peak_rss_mib"] - 1
    print(f"peak RSS {max(rows)}s vs {min(rows)}s: {growth:+.1%} ({'OK' if abs(growth) <= 0.10 else 'OVER 10%'})")


if __name__ == "__main__":
    main()
