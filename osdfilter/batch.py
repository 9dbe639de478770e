"""Several videos (files or folders) → one output folder, a bad file skipped, a summary.

The model is loaded once and shared; each file goes through :func:`process_video` on its
own, so one damaged file is reported and the rest are still processed. With ``jobs`` > 1,
that many files are processed at once, each worker process with its own model: one video's
temporal fill runs frame after frame, so on a many-core machine several videos at once are
what use the cores (benchmarks/batch_speed.py).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence, Union

from .errors import MaskError, MediaError, OSDFilterError
from .runners import make_runner, quiet_log
from .stream import DEFAULT_CODEC, DEFAULT_CRF, DEFAULT_PRESET, PathLike, Report, partial_path, process_video, validate_encoding

VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".mpg", ".mpeg", ".flv", ".3gp", ".nut"}

# on_result(position from 1, total, source, Report or the error message)
ResultCallback = Callable[[int, int, Path, Union[Report, str]], None]


@dataclass
class BatchReport:
    """Outcome of a batch: which files were written and which failed, and why."""

    done: list[tuple[Path, Report]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def return_code(self) -> int:
        return 1 if self.failed or not self.done else 0

    def summary(self) -> str:
        frames = sum(r.frames for _, r in self.done)
        return f"{len(self.done)} done ({frames} frames), {len(self.failed)} failed"


def collect_inputs(paths: Sequence[PathLike]) -> list[Path]:
    """Files as given; folders expanded to their video files (by extension, sorted, not recursive)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS and not f.name.startswith(".")))
        else:
            found.append(p)  # missing or bad files are reported when their turn comes
    if not found:
        raise MediaError(f"no video files in {', '.join(map(os.fspath, paths))}")
    return found


def output_paths(inputs: list[Path], out_dir: Path) -> list[Path]:
    """``out_dir / name`` for each input; two inputs with one name would collide."""
    outputs = [out_dir / src.name for src in inputs]
    seen: dict[Path, Path] = {}
    for src, dst in zip(inputs, outputs):
        if dst in seen:
            raise MediaError(f"{seen[dst]} and {src} would both be written to {dst}")
        seen[dst] = src
    return outputs


def process_batch(
    paths: Sequence[PathLike],
    out_dir: PathLike,
    *,
    model: Any = None,
    backend: str = "auto",
    device: str = "auto",
    provider: str = "auto",
    mask: Any = None,
    jobs: int = 1,
    on_result: Optional[ResultCallback] = None,
    **options: Any,
) -> BatchReport:
    """Process every video of ``paths`` into ``out_dir`` (created if needed).

    Problems common to all files (model, options, output folder) raise at once; a problem
    with one file is recorded in the report and the batch goes on. ``jobs`` > 1 processes
    that many files at once in worker processes (``model`` must then be a path, ``None``
    or ``"fill"``; progress bars are off; the workers are started with ``spawn``, so a
    script calling this needs the ``if __name__ == "__main__":`` guard); ``on_result`` is
    called as files finish, the report lists them in input order.
    """
    out_dir = Path(out_dir)
    if (out_dir.exists() and not out_dir.is_dir()) or (not out_dir.exists() and out_dir.suffix.lower() in VIDEO_EXTENSIONS):
        raise MediaError(f"with several inputs or a folder, OUTPUT must be a folder, not {out_dir}")
    if jobs < 1:
        raise OSDFilterError(f"--jobs must be at least 1, got {jobs}")
    if jobs > 1 and not (model is None or isinstance(model, (str, os.PathLike))):
        raise OSDFilterError("jobs > 1 loads the model in each worker: pass a model file (or none), not a loaded model")
    if isinstance(paths, (str, os.PathLike)):  # one folder or file, not its characters
        paths = [paths]
    # The same for every file: refused once, before anything is read or the folder made.
    validate_encoding(options.get("codec", DEFAULT_CODEC), options.get("crf", DEFAULT_CRF), options.get("preset", DEFAULT_PRESET),
                      options.get("format"), out_dir / "x.mp4")
    inputs = collect_inputs(paths)
    for item in mask if isinstance(mask, (list, tuple)) else [mask]:
        if isinstance(item, (str, os.PathLike)) and os.fspath(item) != "auto" and not Path(item).is_file():
            raise MaskError(f"mask file not found: {item}")  # would fail every file alike
    outputs = output_paths(inputs, out_dir)
    # Built here also with jobs > 1: a bad model fails once, and the ONNX export is cached
    # before the workers look for it.
    runner = make_runner(model, backend, device, provider, log=quiet_log if options.get("quiet") else None)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[int, Union[Report, str]] = {}

    def record(i: int, result: Union[Report, str]) -> None:
        results[i] = result
        if on_result is not None:
            on_result(i, len(inputs), inputs[i - 1], result)

    if jobs == 1 or len(inputs) == 1:
        for i, (src, dst) in enumerate(zip(inputs, outputs), start=1):
            record(i, _process_one(runner, src, dst, mask, options))
    else:
        del runner
        # spawn, not fork: the parent's torch / ONNX Runtime / fill thread pools do not
        # survive a fork, and each worker loads the model once (initializer).
        with _signals_held():  # inherited by the workers and multiprocessing's resource tracker
            pool = ProcessPoolExecutor(min(jobs, len(inputs)), mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_init_worker, initargs=(model, backend, device, provider))
        try:
            with _signals_held():
                futures = {pool.submit(_worker_one, src, dst, mask, {**options, "quiet": True}): i
                           for i, (src, dst) in enumerate(zip(inputs, outputs), start=1)}
            for future in as_completed(futures):
                record(futures[future], future.result())
        except BrokenProcessPool:
            _stop(pool, outputs)
            raise OSDFilterError(f"a --jobs worker process died (out of memory?): try fewer than {jobs} jobs") from None
        except BaseException:
            _stop(pool, outputs)
            raise
        pool.shutdown()
    report = BatchReport()
    for i, src in enumerate(inputs, start=1):
        result = results[i]
        (report.done if isinstance(result, Report) else report.failed).append((src, result))  # type: ignore[arg-type]
    return report


def _process_one(runner: Any, src: Path, dst: Path, mask: Any, options: dict) -> Union[Report, str]:
    """One file: its report, or the one-line message of what was wrong with it."""
    try:
        return process_video(src, dst, model=runner, mask=mask, **options)
    except OSDFilterError as exc:
        return str(exc)


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGHUP blocked in this thread while worker processes start. A Ctrl-C or a
    closing terminal reaches the whole process group, and the parent alone decides (it stops
    its workers as on Ctrl-C): the workers and multiprocessing's resource tracker inherit
    the blocked mask across exec, so neither signal interrupts one while it starts (that
    printed half a traceback), and the tracker, which ignores only SIGINT and SIGTERM, no
    longer died of a hangup with a page of warnings. The parent still gets them: another
    thread takes the signal, and Python runs the handler here."""
    held = {getattr(signal, name) for name in ("SIGINT", "SIGHUP") if hasattr(signal, name)}
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


_WORKER_RUNNER: Any = None  # the model of this worker process (jobs > 1)
_WORKER_STOPPING = False  # set by SIGTERM: files already queued to this worker are skipped


def _init_worker(model: Any, backend: str, device: str, provider: str) -> None:
    global _WORKER_RUNNER
    # Ctrl-C reaches the whole terminal's process group: the parent alone decides, and
    # stops a worker with SIGTERM, which unwinds its file like Ctrl-C does (no partial output).
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # (and blocked since its start, as SIGHUP: _signals_held)
    signal.signal(signal.SIGTERM, _worker_stop)
    _WORKER_RUNNER = make_runner(model, backend, device, provider, log=quiet_log)  # the parent exported it (or said so)


def _worker_stop(signum: int, frame: Any) -> None:
    global _WORKER_STOPPING
    _WORKER_STOPPING = True
    if _WORKER_RUNNER is None:  # still loading the model: no file to unwind, and an exception
        os._exit(128 + signum)  # there is printed as the pool initializer's, with a traceback
    sys.exit(128 + signum)


def _stop(pool: ProcessPoolExecutor, outputs: Sequence[Path], grace: float = 15.0) -> None:
    """Interrupted: no new files, and the ones in progress stop and remove their output.

    A worker that has not unwound within ``grace`` seconds (seen once under heavy load: its
    SIGTERM landed where the file's pipeline could not stop) is killed, and its partial
    output removed here; else the parent's exit would wait for it forever.
    """
    workers = list((getattr(pool, "_processes", None) or {}).values())  # the only handle on them
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in workers:
        if proc.is_alive():
            proc.terminate()
    deadline = time.monotonic() + grace
    for proc in workers:
        proc.join(max(0.0, deadline - time.monotonic()))
    for proc in workers:
        if proc.is_alive():
            proc.kill()
            proc.join(5)
            for dst in outputs:
                partial_path(dst, proc.pid).unlink(missing_ok=True)


def _worker_one(src: Path, dst: Path, mask: Any, options: dict) -> Union[Report, str]:
    if _WORKER_STOPPING:
        return "interrupted"
    return _process_one(_WORKER_RUNNER, src, dst, mask, options)
