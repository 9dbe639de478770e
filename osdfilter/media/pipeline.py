"""Run a chain of generator stages concurrently, joined by bounded queues.

``pipeline(source, stage1, stage2, ...)`` returns an iterator over the last stage's output,
consumed in the caller's thread. ``source`` is any iterable; each stage is a function
``Iterator[In] -> Iterator[Out]`` (a generator), so a stage that buffers (the filter's
chunks) flushes naturally when its input ends. With ``threaded=True`` the source and every
stage run in their own thread, so wall time approaches the slowest stage rather than the
sum (PyAV, torch, ONNX Runtime and OpenCV release the GIL while they work). With
``threaded=False`` the same generators are chained in the caller's thread: identical
output, used by tests and as the sequential baseline.

Errors: the first exception in any thread stops every thread (each checks a shared stop
flag at every queue operation) and is re-raised in the caller. If the caller stops early
(an exception, KeyboardInterrupt, ``close()``), the threads are stopped and joined too.
Queues are bounded, so memory stays bounded by ``maxsize`` items per link.

``busy`` (a list, threaded runs): filled with the seconds the source and each stage spent
working, i.e. not blocked on a full or empty link; the stage near the wall time is the
one that sets the pace (benchmarks/speed.py prints them). ``cpu`` (a list): the CPU seconds
of each one's thread (``time.thread_time``; threads the libraries start are not counted).
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Optional

Stage = Callable[[Iterator[Any]], Iterable[Any]]

POLL_S = 0.05  # how often a blocked queue operation looks at the stop flag
JOIN_S = 10.0  # a stage stuck in one long native call is abandoned (daemon) after this

_DONE = object()  # end of a link's items


class _Stopped(Exception):
    """Raised inside a worker whose pipeline was stopped; not an error of its own."""


class _Run:
    """Shared state of one threaded run: the stop flag and the first error."""

    def __init__(self, links: int) -> None:
        self.stop = threading.Event()
        self.error: Optional[BaseException] = None
        self.lock = threading.Lock()
        self.blocked = [0.0] * links  # per worker: seconds waiting on its links ...
        self.running = [0.0] * links  # ... of the seconds it ran
        self.cpu = [0.0] * links  # CPU seconds of each worker's thread

    def fail(self, exc: BaseException) -> None:
        with self.lock:
            if self.error is None:
                self.error = exc
        self.stop.set()

    def put(self, q: "queue.Queue[Any]", item: Any, worker: int = -1) -> None:
        t0 = time.perf_counter()
        while True:
            if self.stop.is_set():
                raise _Stopped
            try:
                q.put(item, timeout=POLL_S)
                break
            except queue.Full:
                continue
        if worker >= 0:
            self.blocked[worker] += time.perf_counter() - t0

    def items(self, q: "queue.Queue[Any]", worker: int = -1) -> Iterator[Any]:
        """The items of link ``q`` until its end; raises ``_Stopped`` if the run stops."""
        while True:
            t0 = time.perf_counter()
            while True:
                if self.stop.is_set():
                    raise _Stopped
                try:
                    item = q.get(timeout=POLL_S)
                    break
                except queue.Empty:
                    continue
            if worker >= 0:
                self.blocked[worker] += time.perf_counter() - t0
            if item is _DONE:
                return
            yield item


def pipeline(
    source: Iterable[Any], *stages: Stage, maxsize: int = 8, threaded: bool = True, busy: Optional[list[float]] = None,
    cpu: Optional[list[float]] = None,
) -> Iterator[Any]:
    """Items of ``stages[-1](... stages[0](iter(source)))``, computed concurrently if ``threaded``."""
    if maxsize < 1:
        raise ValueError(f"maxsize must be >= 1, got {maxsize}")
    if not threaded:
        items: Iterable[Any] = source
        for stage in stages:
            items = stage(iter(items))
        return iter(items)
    return _threaded(source, stages, maxsize, busy, cpu)


def _threaded(
    source: Iterable[Any], stages: tuple[Stage, ...], maxsize: int, busy: Optional[list[float]], cpu: Optional[list[float]]
) -> Iterator[Any]:
    run = _Run(len(stages) + 1)
    links: list[queue.Queue[Any]] = [queue.Queue(maxsize) for _ in range(len(stages) + 1)]
    bodies = [lambda: source] + [_stage_input(run, stage, links[i], i + 1) for i, stage in enumerate(stages)]
    threads = [
        threading.Thread(target=_work, args=(run, i, body, links[i]), name=f"osdfilter-stage{i}", daemon=True)
        for i, body in enumerate(bodies)
    ]
    for t in threads:
        t.start()
    try:
        yield from _results(run, links[-1])
    finally:
        run.stop.set()  # a no-op after a clean end; stops every thread after an error or interrupt
        for t in threads:
            t.join(JOIN_S)
        if busy is not None:
            busy[:] = [r - b for r, b in zip(run.running, run.blocked)]
        if cpu is not None:
            cpu[:] = run.cpu


def _stage_input(run: _Run, stage: Stage, upstream: "queue.Queue[Any]", worker: int) -> Callable[[], Iterable[Any]]:
    return lambda: stage(run.items(upstream, worker))


def _work(run: _Run, worker: int, body: Callable[[], Iterable[Any]], out: "queue.Queue[Any]") -> None:
    """Thread body: put every item ``body()`` yields into ``out``, then the end marker."""
    t0, c0 = time.perf_counter(), time.thread_time()
    try:
        for item in body():
            run.put(out, item, worker)
        run.put(out, _DONE, worker)
    except _Stopped:
        pass
    except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
        run.fail(exc)
    finally:
        run.running[worker] = time.perf_counter() - t0
        run.cpu[worker] = time.thread_time() - c0


def _results(run: _Run, last: "queue.Queue[Any]") -> Iterator[Any]:
    """The last link's items in the caller's thread; a worker's error is raised here."""
    try:
        yield from run.items(last)
    except _Stopped:
        pass
    if run.error is not None:
        raise run.error
