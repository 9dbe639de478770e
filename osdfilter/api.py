"""The public API: :func:`process_video` (one video) and :func:`process_batch` (many).

``process_video`` ties the layers together: the files and encoder options are checked
(osdfilter.media), the model is loaded (osdfilter.model), the masks of the run are planned
(osdfilter.masks), and the :class:`~osdfilter.media.transcode.Transcoder` streams the video
through the :class:`~osdfilter.filter.core.OSDFilter`. ``process_batch`` runs it over many
files into a folder, a bad file skipped: the model is loaded once and shared; each file goes
through :func:`process_video` on its own. With ``jobs`` > 1, that many files are processed
at once, each worker process with its own model: one video's temporal fill runs frame after
frame, so on a many-core machine several videos at once are what use the cores
(benchmarks/batch_speed.py).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence, Union

import av
import cv2
import numpy as np
from tqdm import tqdm

from .errors import PIPE_CLOSED, MaskError, MediaError, OSDFilterError, PipeClosedError, name_flags, naming_flags, option
from .filter.core import FilterConfig, OSDFilter
from .filter.layout import with_layout
from .masks.auto.config import AutoMaskConfig
from .masks.elements import Numbers
from .masks.image import load_mask
from .masks.plan import MaskOptions, plan_masks
from .media.encode import EncodeOptions
from .media.files import STDIO, PathLike, atomic_output, av_message, check_paths, close_output, close_quietly, first_video_stream, open_input, open_output, partial_path
from .media.transcode import Report, Transcoder, progress_bar
from .model.network import RecurrentUNet
from .model.runners import ModelSpec, make_runner, quiet_log

MaskSpec = Union[None, str, os.PathLike, np.ndarray, Sequence[Union[str, os.PathLike, np.ndarray]]]
MAX_MASK_ASPECT_CHANGE = 1.5  # 4:3 masks on 16:9 video pass (analog OSDs stretch alike)
MIN_SIDE = 8  # pixels: smaller frames hold no OSD (the detector's kernels do not fit them)
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


def check_span(start: float, duration: Optional[float]) -> None:
    """The stretch of video a run or a preview reads (one-line errors)."""
    if duration is not None and not 0 < duration < float("inf"):
        raise OSDFilterError(f"{option('duration')} must be a positive number of seconds, got {duration}")
    if not 0 <= start < float("inf"):
        raise OSDFilterError(f"{option('start')} must be zero or a positive number of seconds, got {start}")


def process_video(
    src: PathLike,
    dst: PathLike,
    *,
    mask: MaskSpec = None,
    model: ModelSpec = None,
    config: FilterConfig = FilterConfig(),
    encode: EncodeOptions = EncodeOptions(),
    device: str = "auto",
    backend: str = "auto",
    provider: str = "auto",
    quiet: bool = False,
    overwrite: bool = False,
    auto_window: float = AutoMaskConfig.window_s,
    auto_scan: float = AutoMaskConfig.scan_s,
    save_mask: Optional[PathLike] = None,
    exclude: Sequence[Any] = (),
    start: float = 0.0,
    duration: Optional[float] = None,
    codec: Optional[str] = None,
    crf: Optional[int] = None,
    preset: Optional[str] = None,
    format: Optional[str] = None,
    elements: Numbers = None,
    keep_elements: Numbers = None,
) -> Report:
    """Remove the OSD inside ``mask`` from the video ``src`` and write ``dst``.

    ``mask``: a PNG/JPG path (white = overlay, any size, resized to the video), a bool array
    ``[H, W]``, ``None``/``"auto"`` for automatic detection (a first pass over the first
    ``auto_window`` seconds, or, while the camera is still there, over later windows up to
    ``auto_scan`` seconds in; not for stdin), or a list of these (union). ``exclude``: ``(x, y,
    w, h)`` rectangles never masked; ``elements`` (e.g. ``[2, 5]`` or ``"2,5"``): remove only
    these OSD elements of the mask, numbered top-left to bottom-right as :func:`preview_video`
    shows them; ``keep_elements``: remove all but these; ``save_mask``: write the (chosen)
    union mask PNG there, and the numbered elements as NAME.elements.png beside it.
    ``model``: a checkpoint path, a :class:`RecurrentUNet`, a :class:`Runner`, ``"fill"`` for
    the classical fill without a network (faster, slightly lower quality), or ``None`` for the
    packaged default.
    ``encode``: the output's :class:`EncodeOptions` (codec, crf, preset, container format);
    ``codec``, ``crf``, ``preset``, ``format`` given here replace its fields.
    ``src``/``dst`` may be ``"-"`` for stdin/stdout (``encode.format`` then names the output
    container). ``start``: begin that many seconds into the video (a seek to the keyframe
    before it, then frames before it are decoded and dropped); every stream of the output
    then starts at 0. ``duration``: only ``duration`` seconds of video (from the first frame
    written) and the other streams' packets up to that time are written. Together: a
    preview of the settings on a stretch of a long flight. ``dst`` is written to a
    temporary file beside it and renamed on success. Raises :class:`OSDFilterError`
    (one-line message) for anything wrong with the inputs, options or environment; nothing
    is left at ``dst`` then.
    """
    config = check_options(config, model)
    masking = MaskOptions(mask, exclude, elements, keep_elements, auto_window, auto_scan, save_mask).checked()
    encode = encode.updated(codec=codec, crf=crf, preset=preset, format=format)
    encode.validate(dst)
    check_span(start, duration)
    check_paths(src, dst, overwrite)
    limit_heap_growth()
    runner = make_runner(model, backend, device, provider, log=quiet_log if quiet else None)
    report, t0 = Report(), time.perf_counter()
    with open_input(src) as inp:
        vin = first_video_stream(inp, src)
        h, w = vin.codec_context.height, vin.codec_context.width
        if min(h, w) < MIN_SIDE:
            raise MediaError(f"{src}: {w}x{h} frames are too small to filter (at least {MIN_SIDE} pixels a side)")
        fps = float(vin.average_rate or vin.guessed_rate or 30)
        masks = plan_masks(src, masking, h, w, fps, lambda m: resolve_mask(m, h, w))
        if masks.note:
            report.warn(masks.note)
        filt = with_layout(OSDFilter(runner, masks.union, config), masks.layout)
        with atomic_output(dst) as target:
            out = open_output(target, dst, encode.format)
            job = Transcoder(inp, out, vin, filt, report, duration, start, seekable=os.fspath(src) != STDIO)
            try:
                job.add_streams(encode)
                with progress_bar(vin, quiet, duration, start) as bar:
                    job.run(bar)
            except BrokenPipeError:
                close_quietly(out)
                raise PipeClosedError(PIPE_CLOSED) from None
            except av.FFmpegError as exc:
                close_quietly(out)
                raise MediaError(f"cannot write {dst}: {av_message(exc)}") from None
            except BaseException:
                close_quietly(out)
                raise
            close_output(out, dst)
    report.seconds = time.perf_counter() - t0
    return report


def check_options(config: Any, model: Any) -> FilterConfig:
    """The checks of the filter's options that :func:`process_video` and
    :func:`~osdfilter.preview.preview_video` share, before anything is opened; returns
    ``config`` as a FilterConfig."""
    config = filter_config(config)
    check_model_spec(model)
    return config


def filter_config(config: Any) -> FilterConfig:
    """``config`` as a FilterConfig: one, or a mapping of its fields (``{"chunk": 4}``)."""
    if isinstance(config, FilterConfig):
        return config
    if isinstance(config, Mapping):
        try:
            return FilterConfig(**config)
        except TypeError:
            fields = ", ".join(f.name for f in dataclasses.fields(FilterConfig))
            raise TypeError(f"config={dict(config)!r}: FilterConfig has the fields {fields}") from None
    raise TypeError(f"config={config!r}: expected a FilterConfig or a mapping of its fields, not {type(config).__name__}")


def check_model_spec(model: Any) -> None:
    """A TypeError naming what ``model`` may be, before anything is loaded."""
    if model is None or isinstance(model, (str, os.PathLike, RecurrentUNet)) or (hasattr(model, "step") and hasattr(model, "config")):
        return
    raise TypeError(f"model={model!r}: expected a checkpoint or .onnx path (str or os.PathLike), 'fill', "
                    f"a RecurrentUNet, a Runner, or None for the packaged model; not {type(model).__name__}")


def limit_heap_growth() -> None:
    """Keep peak memory flat over long videos (glibc; a no-op elsewhere).

    Every chunk allocates and frees the same large buffers (frames, activations). glibc's
    adaptive mmap threshold moves such buffers onto fragmenting heaps, so peak RSS crept up
    over a long file; a fixed threshold keeps them mmapped (returned to the OS on free),
    and two arenas stop each pipeline thread from growing its own heap.
    """
    global _HEAP_LIMITED
    if _HEAP_LIMITED or not sys.platform.startswith("linux"):
        return
    _HEAP_LIMITED = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 4 << 20)  # M_MMAP_THRESHOLD: 4 MiB, fixed
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass  # not glibc


_HEAP_LIMITED = False


def resolve_mask(mask: MaskSpec, height: int, width: int) -> np.ndarray:
    """The overlay mask (bool ``[height, width]``) from a path or an array (``plan_masks``
    runs the automatic detection itself)."""
    if isinstance(mask, np.ndarray):
        if mask.shape != (height, width):
            raise MaskError(f"mask array has shape {mask.shape}, the video is {height}x{width} (HxW)")
        if not mask.any():
            raise MaskError("mask array is empty (no True pixels)")
        return mask.astype(bool)
    check_mask_aspect(Path(mask), height, width)
    return load_mask(mask, height, width)


def check_mask_aspect(path: Path, height: int, width: int) -> None:
    """Refuse a mask whose shape cannot belong to this video (e.g. portrait on landscape)."""
    img = cv2.imread(os.fspath(path), cv2.IMREAD_UNCHANGED) if path.is_file() else None
    if img is None or img.size == 0:
        return  # load_mask gives the precise error
    mh, mw = img.shape[:2]
    change = (mw / mh) / (width / height)
    if max(change, 1 / change) > MAX_MASK_ASPECT_CHANGE:
        raise MaskError(f"mask {path} is {mw}x{mh}, its shape does not fit the {width}x{height} video")


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
    encode: EncodeOptions = EncodeOptions(),
    **options: Any,
) -> BatchReport:
    """Process every video of ``paths`` into ``out_dir`` (created if needed).

    Problems common to all files (model, options, output folder) raise at once; a problem
    with one file is recorded in the report and the batch goes on. ``jobs`` > 1 processes
    that many files at once in worker processes (``model`` must then be a path, ``None``
    or ``"fill"``; progress bars are off; the workers are started with ``spawn``, so a
    script calling this needs the ``if __name__ == "__main__":`` guard); ``on_result`` is
    called as files finish, the report lists them in input order. ``encode`` and the other
    keywords are :func:`process_video`'s, the same for every file.
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
    encode = encode.updated(**{k: options.pop(k, None) for k in ("codec", "crf", "preset", "format")})
    encode.validate(out_dir / "x.mp4")
    options["encode"] = encode
    MaskOptions(mask, options.get("exclude", ()), options.get("elements"), options.get("keep_elements")).checked()
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
                                       initializer=_init_worker, initargs=(model, backend, device, provider, naming_flags()))
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
_WORKER_PARTIAL: Optional[Path] = None  # the partial output of the file this worker is on


def _init_worker(model: Any, backend: str, device: str, provider: str, flags: bool = False) -> None:
    global _WORKER_RUNNER
    name_flags(flags)  # a worker's one-line errors read as the parent's would (--start, not start)
    # Ctrl-C reaches the whole terminal's process group: the parent alone decides, and
    # stops a worker with SIGTERM (before this line, SIGTERM's default kills it quietly).
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # (and blocked since its start, as SIGHUP: _signals_held)
    signal.signal(signal.SIGTERM, _worker_stop)
    # tqdm's default lock is a multiprocessing one: a named semaphore, which that exit would
    # leave for the resource tracker to report ("leaked semaphore objects") at the end.
    tqdm.set_lock(threading.RLock())
    _WORKER_RUNNER = make_runner(model, backend, device, provider, log=quiet_log)  # the parent exported it (or said so)


def _worker_stop(signum: int, frame: Any) -> None:
    """SIGTERM: remove the partial output of the file in progress, if any, and exit now.

    Not an exception that unwinds the file: the handler runs between any two bytecodes of
    the main thread, and there it may land in a finalizer (the pipeline's generator joining
    its threads, a ``__del__``), where Python prints the exception as "Exception ignored"
    with a traceback and the worker goes on with its file. multiprocessing also sends a
    second SIGTERM to every worker once one has exited (its pool is then broken), which
    landed in the first one's unwinding. Nothing else of a worker needs to be undone."""
    if _WORKER_PARTIAL is not None:
        try:
            _WORKER_PARTIAL.unlink(missing_ok=True)
        except OSError:
            pass  # the parent removes it after the worker has gone (_stop)
    os._exit(128 + signum)


def _stop(pool: ProcessPoolExecutor, outputs: Sequence[Path], grace: float = 15.0) -> None:
    """Interrupted: no new files, and the ones in progress stop and remove their output.

    A worker still there after ``grace`` seconds (its SIGTERM handler runs only once the
    main thread is back from a native call) is killed, and its partial output removed
    here; else the parent's exit would wait for it forever.
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
                _partial_of(dst, proc.pid).unlink(missing_ok=True)
    # The pool's manager thread closes its wake-up pipe once the workers are gone, and the
    # interpreter's exit writes to that pipe without its lock (CPython 3.11): when the two
    # met, the exit printed "Exception ignored ... Bad file descriptor". It finishes first.
    manager = getattr(pool, "_executor_manager_thread", None)
    if manager is not None:
        manager.join(5)


def _worker_one(src: Path, dst: Path, mask: Any, options: dict) -> Union[Report, str]:
    global _WORKER_PARTIAL
    _WORKER_PARTIAL = _partial_of(dst, os.getpid())  # before the file is opened: atomic_output's name
    try:
        return _process_one(_WORKER_RUNNER, src, dst, mask, options)
    finally:
        _WORKER_PARTIAL = None


def _partial_of(dst: Path, pid: int) -> Path:
    """Where process ``pid`` writes ``dst`` (atomic_output: beside the link's target)."""
    return partial_path(Path(os.path.realpath(dst)), pid)
