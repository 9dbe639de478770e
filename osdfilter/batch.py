"""Several videos (files or folders) → one output folder, a bad file skipped, a summary.

The model is loaded once and shared; each file goes through :func:`process_video` on its
own, so one damaged file is reported and the rest are still processed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

from .errors import MaskError, MediaError, OSDFilterError
from .runners import make_runner
from .stream import PathLike, Report, process_video

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
    on_result: Optional[ResultCallback] = None,
    **options: Any,
) -> BatchReport:
    """Process every video of ``paths`` into ``out_dir`` (created if needed).

    Problems common to all files (model, options, output folder) raise at once; a problem
    with one file is recorded in the report and the batch goes on.
    """
    out_dir = Path(out_dir)
    if (out_dir.exists() and not out_dir.is_dir()) or (not out_dir.exists() and out_dir.suffix.lower() in VIDEO_EXTENSIONS):
        raise MediaError(f"with several inputs or a folder, OUTPUT must be a folder, not {out_dir}")
    inputs = collect_inputs(paths)
    for item in mask if isinstance(mask, (list, tuple)) else [mask]:
        if isinstance(item, (str, os.PathLike)) and os.fspath(item) != "auto" and not Path(item).is_file():
            raise MaskError(f"mask file not found: {item}")  # would fail every file alike
    outputs = output_paths(inputs, out_dir)
    runner = make_runner(model, backend, device, provider)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = BatchReport()
    for i, (src, dst) in enumerate(zip(inputs, outputs), start=1):
        try:
            result: Union[Report, str] = process_video(src, dst, model=runner, mask=mask, **options)
            report.done.append((src, result))
        except OSDFilterError as exc:
            result = str(exc)
            report.failed.append((src, result))
        if on_result is not None:
            on_result(i, len(inputs), src, result)
    return report
