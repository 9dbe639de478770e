"""Seeded mutation fuzz of the command on small MP4, Matroska and MPEG-TS files made here.

Truncations, byte flips in the middle and in the header (each container's stream
description), 14 cases per container. Every case must end within its time limit in exit
0 or 1 without a traceback; an error leaves no file; a success writes every frame a plain
PyAV decode loop gets from the mutant, except those the warning reports dropped.

The cases run one after another in one worker process (the command's own ``main``, in
process: a fresh interpreter per case would cost seconds each), which reports each case
as it ends; a case that hangs is named by the worker's silence.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from test_reliability import make_video, mask_png

SEED = 3  # this seed found an audio stream of unknown codec crashing the set-up (AttributeError)
CASES_PER_CONTAINER = 14  # one intact control, 4 truncations, 5 middle flips, 4 header flips
CASE_LIMIT_S = 30  # one small file: a few seconds at most, even on a loaded 2-core machine
WORKER = r"""
import contextlib, io, json, signal, sys, time, traceback
from osdfilter.console import main

def expired(signum, frame):
    raise TimeoutError("case still running: a hang")

signal.signal(signal.SIGALRM, expired)
for line in sys.stdin:
    case = json.loads(line)
    err, code, trace, t0 = io.StringIO(), None, None, time.perf_counter()
    signal.alarm(case["limit"])
    try:
        with contextlib.redirect_stderr(err):
            main(case["argv"])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        trace = traceback.format_exc()
    finally:
        signal.alarm(0)
    print(json.dumps({"id": case["id"], "code": code, "stderr": err.getvalue(), "traceback": trace,
                      "seconds": time.perf_counter() - t0}), flush=True)
"""


def mutants(name: str, data: bytes, header_end: int, rng: random.Random) -> list[tuple[str, bytes]]:
    """``(label, bytes)``: the file itself, then its seeded mutations."""
    out = [(f"{name} intact", data)]
    for _ in range(4):
        keep = rng.randint(len(data) // 10, len(data) * 19 // 20)
        out.append((f"{name} cut at {keep}/{len(data)}", data[:keep]))
    for _ in range(5):
        buf = bytearray(data)
        spots = sorted(rng.randrange(len(data) // 4, len(data) * 3 // 4) for _ in range(rng.randint(1, 6)))
        for at in spots:
            buf[at] ^= rng.randint(1, 255)
        out.append((f"{name} middle flips at {spots}", bytes(buf)))
    for _ in range(4):
        buf = bytearray(data)
        lo, hi = header_end
        spots = sorted(rng.randrange(lo, hi) for _ in range(rng.randint(1, 3)))
        for at in spots:
            buf[at] ^= rng.randint(1, 255)
        out.append((f"{name} header flips at {spots}", bytes(buf)))
    return out


def header_span(ext: str, data: bytes) -> tuple[int, int]:
    """Where each container describes its streams: MP4's index (moov, here at the end),
    Matroska's EBML header and Tracks, MPEG-TS's first packets (PAT, PMT)."""
    if ext == "mp4":
        return data.rfind(b"moov") - 4, len(data)
    if ext == "mkv":
        return 0, data.find(b"\x1f\x43\xb6\x75")  # up to the first Cluster
    return 0, 4 * 188


def plain_decode_count(path: Path) -> int:
    """Frames of the first video stream through a plain PyAV loop, bad packets skipped."""
    n = 0
    with av.open(os.fspath(path), metadata_errors="surrogateescape") as c:
        stream = [s for s in c.streams.video if not s.disposition & av.stream.Disposition.attached_pic][0]
        try:
            for packet in c.demux(stream):
                try:
                    n += len(stream.decode(packet))
                except av.FFmpegError:
                    continue
        except av.FFmpegError:  # a read error ends the input
            try:
                n += len(stream.decode(None))
            except (av.FFmpegError, EOFError):
                pass
    return n


def written_frames(path: Path) -> int:
    with av.open(os.fspath(path), metadata_errors="surrogateescape") as c:
        return sum(1 for _ in c.decode(video=0))


def dropped(stderr: str) -> int:
    """Frames the warning reports decoded but not written (timestamps going backwards)."""
    m = re.search(r"(\d+) frames with out-of-order timestamps dropped", stderr)
    return int(m.group(1)) if m else 0


def test_mutated_files_end_cleanly_and_account_for_every_frame(tmp_path):
    rng = random.Random(SEED)
    mask = mask_png(tmp_path / "mask.png")
    cases = []
    for ext, fmt in (("mp4", None), ("mkv", None), ("ts", "mpegts")):
        seed_clip = make_video(tmp_path / f"seed.{ext}", frames=24, fmt=fmt, audio=ext != "ts")
        data = seed_clip.read_bytes()
        for label, blob in mutants(ext, data, header_span(ext, data), rng):
            folder = tmp_path / f"case{len(cases)}"
            folder.mkdir()
            src = folder / f"in.{ext}"
            src.write_bytes(blob)
            out = folder / "out.mkv"
            argv = [os.fspath(src), os.fspath(out), "--mask", os.fspath(mask), "--fast", "--preset", "ultrafast", "--chunk", "4"]
            cases.append({"id": len(cases), "label": label, "argv": argv, "limit": CASE_LIMIT_S, "src": src, "out": out})
    assert len(cases) == 3 * CASES_PER_CONTAINER

    jobs = "".join(json.dumps({k: c[k] for k in ("id", "argv", "limit")}) + "\n" for c in cases)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", WORKER], input=jobs, capture_output=True, text=True,
                              timeout=CASE_LIMIT_S * 4 + 60)
    except subprocess.TimeoutExpired as exc:
        done = [json.loads(line)["id"] for line in (exc.stdout or b"").decode().splitlines() if line.startswith("{")]
        hung = cases[len(done)]["label"] if len(done) < len(cases) else "?"
        pytest.fail(f"the worker hung on case {len(done)} ({hung})")
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(cases), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]

    outcomes = {0: 0, 1: 0}
    for case, res in zip(cases, results):
        what = f"case {case['id']} ({case['label']}): {res['stderr'][-600:]}"
        assert res["traceback"] is None, f"{what}\n{res['traceback']}"
        assert res["code"] in (0, 1), what
        assert res["seconds"] < CASE_LIMIT_S, what
        assert "Traceback" not in res["stderr"], what
        outcomes[res["code"]] += 1
        if res["code"] == 1:
            errors = [line for line in res["stderr"].splitlines() if line.startswith("osdfilter: error: ")]
            assert len(errors) == 1, what
            assert sorted(p.name for p in case["out"].parent.iterdir()) == [case["src"].name], what  # nothing left
        else:
            assert case["out"].is_file(), what
            written = written_frames(case["out"])
            assert f"osdfilter: {written} frames in" in res["stderr"], what
            assert written + dropped(res["stderr"]) == plain_decode_count(case["src"]), what
    # The intact files, and most truncations and flips, still give a video.
    assert results[0]["code"] == results[CASES_PER_CONTAINER]["code"] == results[2 * CASES_PER_CONTAINER]["code"] == 0
    assert outcomes[0] >= len(cases) // 2, outcomes
    print(f"fuzz: {len(cases)} cases, {outcomes[0]} written, {outcomes[1]} refused, {time.perf_counter() - t0:.1f} s")
