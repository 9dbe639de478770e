"""Batch throughput against ``--jobs``: N copies of one clip through ``process_batch``.

One video's temporal fill runs frame after frame, so a single video leaves most cores of
a many-core machine idle; several videos at once (``--jobs``) use them. Prints, per jobs
value, the batch's wall time, its frames/s over all files and the speed-up over jobs=1,
measured in the same run.

    python benchmarks/batch_speed.py --clip benchmarks/_work/davis_drift-straight_854x480_4s.mp4 --copies 4 --jobs 1 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from osdfilter import process_batch  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clip", type=Path, required=True, help="e.g. one made by benchmarks/speed.py")
    p.add_argument("--mask", type=Path, help="default: speed.py's mask_<W>x<H>.png beside the clip")
    p.add_argument("--copies", type=int, default=4)
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--device", default="auto")
    a = p.parse_args()
    import av

    with av.open(str(a.clip)) as c:
        v = c.streams.video[0]
        w, h = v.codec_context.width, v.codec_context.height
    mask = a.mask or a.clip.parent / f"mask_{w}x{h}.png"
    print(f"{a.copies} x {a.clip.name} ({w}x{h}), {os.cpu_count()} CPUs, device {a.device}")
    print(f"{'jobs':>4} {'wall s':>7} {'frames/s':>9} {'x jobs=1':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        for i in range(a.copies):
            shutil.copy(a.clip, src / f"clip{i}{a.clip.suffix}")
        base = None
        for jobs in a.jobs:
            out = Path(tmp) / f"out{jobs}"
            t0 = time.perf_counter()
            report = process_batch([src], out, mask=str(mask), device=a.device, jobs=jobs, quiet=True)
            wall = time.perf_counter() - t0
            frames = sum(r.frames for _, r in report.done)
            base = base or wall
            print(f"{jobs:>4} {wall:>7.1f} {frames / wall:>9.1f} {base / wall:>9.2f}" + (f"  ({len(report.failed)} failed)" if report.failed else ""))


if __name__ == "__main__":
    main()
