"""``osdfilter train`` and ``osdfilter synth``: thin click shells over the library.

Options become a :class:`TrainConfig` (defaults < ``--config`` TOML < flags < ``--set``)
and the command calls :func:`osdfilter.train.train` or
:func:`osdfilter.train.folder.write_synth_folder`. Errors in values exit 1 with one line
(the main CLI's ``OSDFilterError`` handling); usage errors exit 2 (click).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import click

from ..errors import OSDFilterError
from ..model.network import PRESETS
from ..train.config import build_config, config_fields

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]


def parse_sets(values: tuple[str, ...]) -> dict[str, Any]:
    """``("lr=3e-4", "mask_modes={exact=1.0}")`` -> typed values (each parsed as a TOML value)."""
    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or key not in config_fields():
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE with KEY a training option", param_hint="--set")
        try:
            out[key] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = raw  # a bare string
    return out


def _flags(**kw: Any) -> dict[str, Any]:
    """Click values that were given (None = not given; empty tuples = not given)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items() if v is not None and v != ()}


@click.command("train", help="Train the OSD-removal model on clean footage (OSD rendered on the fly).")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), help="TOML file with training options (a [train] table or top-level keys).")
@click.option("--data", multiple=True, type=click.Path(exists=True, file_okay=False), help="Folder of clean videos / frame folders (repeatable); with --data-kind folder, a synth folder.")
@click.option("--data-kind", type=click.Choice(["generated", "folder"]), help="generated: OSD drawn on the fly; folder: an `osdfilter synth` layout.")
@click.option("--skip", multiple=True, help="FILE:START-END seconds to leave out (END optional), e.g. bbb_0_30.webm:24.75- (repeatable).")
@click.option("--fonts", type=click.Path(exists=True, file_okay=False), help="OSD font folder (.mcm / PNG sheets); default: built-in glyphs only.")
@click.option("--exclude-fonts", multiple=True, help="Font sub-folder never trained on, e.g. walksnail (repeatable).")
@click.option("--run-dir", help="Run folder: config.toml, checkpoints/, tb/, model.pt.")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), help="Model preset: widths, and for fast a space-to-depth stem (ignored when resuming).")
@click.option("--inputs", type=click.Choice(["fill", "candidates"]), help="Model input: the fill (RGB + mask), or also the fill's candidates (needs --set prefill='\"temporal\"').")
@click.option("--steps", type=click.IntRange(0), help="Total steps (a resumed run continues to this).")
@click.option("--batch", type=click.IntRange(1), help="Tiles per step per process.")
@click.option("--frames", type=click.IntRange(1), help="Frames per clip (T).")
@click.option("--crop", type=click.IntRange(16), help="Tile crop size (core + 2 x context).")
@click.option("--lr", type=click.FloatRange(0, min_open=True), help="Peak learning rate (L1 stage).")
@click.option("--gan-start", type=int, help="Step at which the GAN stage starts (-1 = never).")
@click.option("--seed", type=int, help="Seed: data, init and every random choice.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Torch device.")
@click.option("--threads", type=click.IntRange(0), help="Torch CPU threads (0 = torch default).")
@click.option("--workers", type=click.IntRange(0), help="Data processes rendering batches ahead (0 = inline).")
@click.option("--ckpt-every", type=click.IntRange(0), help="Checkpoint every N steps.")
@click.option("--val-every", type=click.IntRange(0), help="Validate every N steps (0 = never).")
@click.option("--log-every", type=click.IntRange(1), help="Log scalars every N steps.")
@click.option("--progress/--no-progress", default=None, help="Show a progress bar.")
@click.option("--set", "sets", multiple=True, help="Any training option as KEY=VALUE (TOML value), e.g. --set mask_weight=2.0 (repeatable).")
@click.option("--resume", type=click.Path(exists=True, dir_okay=False), help="Continue from a checkpoint: exact for a training checkpoint, a warm start for shipped weights.")
def train_cmd(config_path: Optional[str], sets: tuple[str, ...], resume: Optional[str], **flags: Any) -> None:
    from ..train.trainer import resume_config, train

    overrides = {**_flags(**flags), **parse_sets(sets)}
    try:
        if resume and not config_path:
            cfg = resume_config(resume, overrides)
        else:
            cfg = build_config(config_path, **overrides)
    except (ValueError, TypeError) as exc:  # a value of the wrong kind (--set crop=abc) too
        raise OSDFilterError(str(exc)) from None
    run = Path(cfg.run_dir)
    if not resume and ((run / "model.pt").exists() or any((run / "checkpoints").glob("*.pt"))):
        # A new run here would start at step 0 and overwrite that run's model and checkpoints.
        raise OSDFilterError(f"{run} already holds a training run: pass --resume {run / 'checkpoints' / 'latest.pt'} "
                             "to continue it, or another --run-dir")
    with _data_errors():
        path = train(cfg, resume=resume)
    click.echo(f"model written to {path}")


@contextmanager
def _data_errors() -> Iterator[None]:
    """Unreadable or missing training data, an unwritable output folder: one line (exit 1),
    not a traceback; the message names the file."""
    import av

    try:
        yield
    except (ValueError, OSError, av.FFmpegError) as exc:
        raise OSDFilterError(f"{type(exc).__name__}: {exc}" if isinstance(exc, OSError) else str(exc)) from None


@click.command("synth", help="Write synthetic training clips from clean footage in SRC to DST (clips/, mask_clips/, masks/).")
@click.argument("src", type=click.Path(exists=True, file_okay=False))
@click.argument("dst", type=click.Path(file_okay=False))
@click.option("--clips", type=click.IntRange(1), default=100, show_default=True, help="Number of clips to write.")
@click.option("--frames", type=click.IntRange(1), default=8, show_default=True, help="Frames per clip.")
@click.option("--size", default="480x270", show_default=True, help="Clip size WIDTHxHEIGHT (even numbers).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed; the same seed writes the same clips.")
@click.option("--fonts", type=click.Path(exists=True, file_okay=False), help="OSD font folder; default: built-in glyphs only.")
@click.option("--exclude-fonts", multiple=True, help="Font sub-folder to leave out (repeatable).")
@click.option("--skip", multiple=True, help="FILE:START-END seconds of the sources to leave out (repeatable).")
def synth_cmd(src: str, dst: str, clips: int, frames: int, size: str, seed: int, fonts: Optional[str], exclude_fonts: tuple[str, ...], skip: tuple[str, ...]) -> None:
    from ..train.folder import write_synth_folder

    width, height = parse_size(size)
    if Path(dst).is_dir() and any(Path(dst).iterdir()):
        # Clips are numbered from 0: a second run overwrote some and left the rest, mixed.
        raise OSDFilterError(f"{dst} is not empty: write synthetic clips to a new or empty folder")
    with _data_errors():
        cfg = build_config(frames=frames, seed=seed, fonts=fonts, exclude_fonts=list(exclude_fonts), skip=list(skip))
        n = write_synth_folder([src], dst, cfg, clips, height, width)
    click.echo(f"wrote {n} clips to {dst}")


def parse_size(size: str) -> tuple[int, int]:
    """``"480x270"`` -> ``(480, 270)``; both even (yuv420p) and at least 16."""
    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{size!r}: expected WIDTHxHEIGHT, e.g. 480x270", param_hint="--size") from None
    if w < 16 or h < 16 or w % 2 or h % 2:
        raise click.BadParameter(f"{size!r}: width and height must be even and >= 16", param_hint="--size")
    return w, h
