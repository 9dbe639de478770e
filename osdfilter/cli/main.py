"""The ``osdfilter`` command: a thin click shell over :func:`osdfilter.process_video` and
:func:`osdfilter.process_batch`.

``osdfilter [OPTIONS] INPUT OUTPUT`` runs the filter (the default command, also reachable
as ``osdfilter run``). Other subcommands (``synth``, ``train``, ``export``) live in their
own modules and are imported only when named, so a missing optional dependency of one
never breaks the main command.

Exit codes: 0 success; 1 a user error (bad input, mask, model or option value; one line
on stderr); 2 a command-line usage error; 130 interrupted (Ctrl-C), nothing written
(143 on SIGTERM, 129 when the terminal closes, nothing written either); 141 the reader
of stdout closed the pipe (e.g. ``| head``).
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from pathlib import Path
from typing import Any, Optional, Union

import click

from ..api import Report, process_batch, process_video
from ..errors import INTERRUPTED, OSDFilterError, PipeClosedError, cli_names
from ..filter.core import FilterConfig
from ..masks.auto.config import AutoMaskConfig
from ..masks.elements import check_choice
from ..media.encode import DEFAULT_CODEC, DEFAULT_CRF, DEFAULT_PRESET, PIPE_FORMATS, PRESETS, VIDEO_CODECS, EncodeOptions
from ..media.files import check_paths
from ..model.runners import FILL_ONLY
from ..preview import preview_video

EXIT_ERROR, EXIT_INTERRUPTED = 1, 130
EXIT_PIPE = 141  # 128 + SIGPIPE, as a shell reports a writer whose reader went away

# name -> (module, attribute): commands owned by other modules, imported on demand.
LAZY_COMMANDS = {
    "synth": ("osdfilter.cli.train", "synth_cmd"),
    "train": ("osdfilter.cli.train", "train_cmd"),
    "export": ("osdfilter.cli.export", "export_cmd"),
}
DEFAULT_COMMAND = "run"


def fail(message: str, code: int = EXIT_ERROR) -> None:
    """Print ``osdfilter: error: <message>`` (one line) on stderr and exit with ``code``."""
    click.echo(f"osdfilter: error: {message}", err=True)
    raise SystemExit(code)


class OSDFilterGroup(click.Group):
    """A group whose default command is ``run``, with lazily imported subcommands.

    ``osdfilter IN OUT ...`` is routed to ``run`` whenever the first argument is not a
    subcommand name; ``osdfilter --help`` shows ``run``'s help (which lists the others).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> Optional[click.Command]:
        cmd = super().get_command(ctx, name)
        if cmd is None and name in LAZY_COMMANDS:
            cmd = _import_command(name)
        return cmd

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.list_commands(ctx) and args[0] != "--version"):
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with cli_names():
                return super().invoke(ctx)
        except PipeClosedError as exc:
            # Nothing more can reach the reader: stdout goes to /dev/null, so that Python's
            # flush at exit does not add a BrokenPipeError of its own.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            fail(str(exc), EXIT_PIPE)
        except OSDFilterError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail(INTERRUPTED, EXIT_INTERRUPTED)


def _import_command(name: str) -> click.Command:
    """The command from its module, or a stand-in that explains why it is unavailable."""
    module, attr = LAZY_COMMANDS[name]
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        reason = f"{type(exc).__name__}: {exc}"

        @click.command(name=name, help=f"(unavailable: {reason})", context_settings={"ignore_unknown_options": True})
        @click.argument("args", nargs=-1, type=click.UNPROCESSED)
        def unavailable(args: tuple[str, ...]) -> None:
            fail(f"the '{name}' command is not available in this install ({reason})")

        return unavailable


class RunCommand(click.Command):
    """``run`` shows its usage as the top-level ``osdfilter [OPTIONS] INPUT OUTPUT``."""

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        prog = ctx.find_root().info_name or "osdfilter"
        formatter.write_usage(prog, "[OPTIONS] INPUT OUTPUT")
        formatter.write_usage(prog, "[OPTIONS] INPUT... FOLDER", prefix="   or: ")
        formatter.write_usage(prog, "[OPTIONS] INPUT [OUTPUT] --preview SHEET.png", prefix="   or: ")


@click.group("osdfilter", cls=OSDFilterGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="osdfilter", prog_name="osdfilter")
def cli() -> None:
    """Remove burned-in FPV OSD overlays from video."""


@cli.command(
    DEFAULT_COMMAND,
    cls=RunCommand,
    epilog="Other commands: synth, train, export (osdfilter COMMAND --help). "
    "Exit codes: 0 ok; 1 error (in a batch: any file failed); 2 usage error; 130 interrupted; 141 output pipe closed.",
)
@click.argument("paths", nargs=-1, required=True, type=click.Path(allow_dash=True, path_type=str), metavar="INPUT OUTPUT")
@click.option("--mask", "mask", multiple=True, metavar="FILE|auto", help="Mask image (PNG/JPG, any size; white = overlay) or 'auto' (detect the OSD; the default). Repeat to combine (union), e.g. --mask osd.png --mask auto.")
@click.option("--auto-window", type=click.FloatRange(0.1, 3600), default=AutoMaskConfig.window_s, show_default=True, help="Seconds at the start the automatic detection looks at (a first pass; stdin needs --mask FILE).")
@click.option("--auto-scan", type=click.FloatRange(0, 86400), default=AutoMaskConfig.scan_s, show_default=True,
              help="If the camera is still in that window (a quad on the ground) or it shows no OSD, look on for a window with motion and an OSD, up to this many seconds into the video; 0 = the first window only.")
@click.option("--save-mask", type=click.Path(dir_okay=False), help="Write the (union, or chosen) mask used as a PNG, and NAME.elements.png beside it with the OSD elements numbered.")
@click.option("--preview", type=click.Path(dir_okay=False), metavar="SHEET.png",
              help="Restore a few frames spread over the video (seconds, not a full pass) and write a contact sheet: each input with the "
                   "replaced area outlined and the OSD elements numbered, beside the restored frame; print the full run's estimated time. "
                   "OUTPUT is then optional (given: the run follows).")
@click.option("--elements", metavar="N,N", help="Remove only these OSD elements (numbered top-left to bottom-right, as --preview shows them), e.g. 2,5 to hide GPS and home distance.")
@click.option("--keep-elements", metavar="N,N", help="Remove every OSD element but these, e.g. 1,3 to keep battery and altitude.")
@click.option("--exclude", multiple=True, metavar="x,y,w,h", callback=lambda ctx, p, v: _rects(v), help="Never mask this rectangle (pixels; repeatable).")
@click.option("--dilate", type=click.IntRange(0, 64), default=2, show_default=True, help="Grow the mask by this many pixels.")
@click.option("--chunk", type=click.IntRange(1, 256), default=8, show_default=True, help="Frames per model call (memory vs speed; output is the same).")
@click.option("--model", "model", type=click.Path(dir_okay=False), help="Model checkpoint (.pt) or an exported .onnx file. [default: the packaged model]")
@click.option("--fast", is_flag=True, help="No network: the classical fill only (background from the frames before and after, a spatial fill where none showed it). Faster on a CPU; better than the default on still footage over flat sky (README, Quality).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True, help="Torch device; auto = CUDA if available.")
@click.option("--backend", type=click.Choice(["auto", "torch", "onnx"]), default="auto", show_default=True, help="Inference backend; auto = ONNX Runtime on a CPU (the packaged or given .pt model is exported once and cached), PyTorch on CUDA.")
@click.option("--provider", type=click.Choice(["auto", "tensorrt", "cuda", "cpu"]), default="auto", show_default=True, help="ONNX Runtime execution provider (--backend onnx).")
@click.option("--codec", type=click.Choice(VIDEO_CODECS), default=DEFAULT_CODEC, show_default=True, help="Video encoder; *_nvenc = NVIDIA's GPU encoder (--crf is its constant-quality level).")
@click.option("--crf", type=click.IntRange(0, 63), default=DEFAULT_CRF, show_default=True, help="Encoder constant quality (lower = better, larger).")
@click.option("--preset", type=click.Choice(PRESETS), default=DEFAULT_PRESET, show_default=True, help="Encoder speed preset (x264 names; mapped for other codecs); medium or slower: more quality per byte for more CPU.")
@click.option("--format", "format", metavar="NAME", help=f"Output container, needed when OUTPUT is '-' (stdout): {', '.join(PIPE_FORMATS)}. [default: from OUTPUT's extension]")
@click.option("--start", type=click.FloatRange(0), default=0.0, metavar="SECONDS", help="Begin this many seconds into each video (the output starts at 0); with --duration, a quick look at the settings on a stretch of a long flight.")
@click.option("--duration", type=click.FloatRange(0, min_open=True), metavar="SECONDS", help="Write only this many seconds of each video (from --start), with the other streams up to there.")
@click.option("--jobs", type=click.IntRange(1, 256), default=1, show_default=True,
              help="With several inputs or a folder: process this many files at once, each in its own process with its own model (no progress bars). One video's fill runs frame after frame; on a many-core machine several videos at once are what use the cores.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or warnings.")
@click.option("-y", "--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
def run(paths: tuple[str, ...], dilate: int, chunk: int, quiet: bool, fast: bool, jobs: int,
        codec: str, crf: int, preset: str, format: Optional[str], **options: Any) -> None:
    """Remove the OSD inside the mask from INPUT and write OUTPUT.

    Audio, subtitle and data streams are copied unchanged; the video keeps its size,
    frame rate and timestamps. '-' reads stdin / writes stdout (with --format).
    With several INPUTs or a folder, OUTPUT is a folder: each video is written there
    under its own name, a bad file is reported and skipped.
    """
    options["mask"] = _mask_spec(options.pop("mask"))
    if fast:
        if options.get("model"):
            raise click.UsageError("--fast runs no network; it cannot be combined with --model")
        options["model"] = FILL_ONLY
    preview = options.pop("preview")
    if len(paths) < 2 and preview is None:
        raise click.UsageError("expected INPUT and OUTPUT")
    inputs, output = paths[:-1], paths[-1]
    config = FilterConfig(chunk=chunk, dilate=dilate)
    options["encode"] = EncodeOptions(codec=codec, crf=crf, preset=preset, format=format)
    if preview is not None:
        if len(paths) > 2 or Path(paths[0]).is_dir():
            raise click.UsageError("--preview takes one INPUT (and OUTPUT to run on after it)")
        return run_preview(paths[0], paths[1] if len(paths) == 2 else None, preview, config, quiet, options)
    if len(inputs) > 1 or Path(inputs[0]).is_dir():
        return run_batch(inputs, output, config, quiet, {**options, "jobs": jobs})
    report = process_video(inputs[0], output, config=config, quiet=quiet, **options)
    if not quiet:
        _done(report, output)


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        click.echo(f"osdfilter: warning: {warning}", err=True)


def _done(report: Any, output: str) -> None:
    """A run's warnings and its one-line summary."""
    _warn(report.warnings)
    click.echo(f"osdfilter: {report.frames} frames in {report.seconds:.1f}s ({report.fps:.1f} frames/s) -> {output}", err=True)


def run_preview(src: str, output: Optional[str], sheet: str, config: FilterConfig, quiet: bool, options: dict) -> None:
    """The contact sheet and the estimate; then, with OUTPUT, the run (its paths checked first)."""
    if output is not None:
        check_choice(options.get("elements"), options.get("keep_elements"))
        options["encode"].validate(output)
        check_paths(src, output, options["overwrite"])
    keys = ("mask", "model", "device", "backend", "provider", "auto_window", "auto_scan", "save_mask", "exclude",
            "start", "duration", "elements", "keep_elements")
    report = preview_video(src, sheet, config=config, quiet=quiet, **{k: options[k] for k in keys if k in options})
    if not quiet:
        _warn(report.warnings)
        picks = ", ".join(f"{s:.1f}" for s in report.picks)
        click.echo(f"osdfilter: preview of {len(report.picks)} frames ({picks} s; {report.elements} OSD elements) -> {sheet}", err=True)
        click.echo(f"osdfilter: a full run would take about {_duration(report.estimate)} ({report.total_frames} frames at "
                   f"{report.fps:.1f} frames/s, measured on the {report.frames} frames restored here)", err=True)
    if output is not None:
        report = process_video(src, output, config=config, quiet=quiet, **options)
        if not quiet:
            _done(report, output)


def _duration(seconds: float) -> str:
    """``42 s``, ``12 min 5 s``, ``1 h 02 min``."""
    s = int(round(seconds))
    if s < 90:
        return f"{max(s, 1)} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _mask_spec(masks: tuple[str, ...]) -> Any:
    """--mask values -> process_video's mask: None (auto), one spec, or a list (union)."""
    return None if not masks or masks == ("auto",) else masks[0] if len(masks) == 1 else list(masks)


def _rects(values: tuple[str, ...]) -> list[tuple[int, int, int, int]]:
    from ..masks.plan import parse_rect

    try:
        return [parse_rect(v) for v in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--exclude") from None


def run_batch(inputs: tuple[str, ...], folder: str, config: FilterConfig, quiet: bool, options: dict) -> None:
    """Several inputs → ``folder``; one line per file, a summary, exit 1 if any failed."""

    def show(i: int, total: int, src: Path, result: Union[Report, str]) -> None:
        if isinstance(result, str):
            click.echo(f"osdfilter: [{i}/{total}] {src}: error: {result}", err=True)
        elif not quiet:
            for warning in result.warnings:
                click.echo(f"osdfilter: [{i}/{total}] {src}: warning: {warning}", err=True)
            click.echo(f"osdfilter: [{i}/{total}] {src}: {result.frames} frames ({result.fps:.1f} frames/s)", err=True)

    report = process_batch(inputs, folder, config=config, quiet=quiet, on_result=show, **options)
    click.echo(f"osdfilter: {report.summary()} -> {folder}", err=True)
    raise SystemExit(report.return_code)


def main(argv: Optional[list[str]] = None) -> None:
    """Console-script entry point."""
    # SIGTERM, and SIGHUP (the terminal closed, the ssh session dropped), unwind like Ctrl-C
    # does, so the partial output is removed too. A SIGHUP that is ignored (nohup) stays so.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is signal.SIG_DFL:
        signal.signal(signal.SIGHUP, _exit_on_signal)
    cli.main(args=argv, prog_name="osdfilter")


def _exit_on_signal(signum: int, frame: Any) -> None:
    sys.exit(128 + signum)


if __name__ == "__main__":
    main()
