"""The osdfilter command: exit codes, one-line errors, options reaching the pipeline."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import av
import pytest
from click.testing import CliRunner, Result

from osdfilter.cli.main import cli


def invoke(args: list, exit_code: int = 0, one_line_error: Optional[bool] = None) -> Result:
    """Run the CLI in-process; on an unexpected exit code, show what it printed.

    ``one_line_error``: assert stderr is exactly one ``osdfilter: error: ...`` line
    (default: whenever ``exit_code == 1``).
    """
    result = CliRunner().invoke(cli, [os.fspath(a) for a in args], catch_exceptions=False)
    assert result.exit_code == exit_code, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    if one_line_error if one_line_error is not None else exit_code == 1:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("osdfilter: error: "), result.stderr
    return result


def frame_count(path: Path) -> int:
    with av.open(os.fspath(path)) as c:
        return sum(1 for _ in c.decode(video=0))


@pytest.fixture
def base_args(clip, mask_png, checkpoint) -> list:
    return [clip, "--mask", mask_png, "--model", checkpoint, "--device", "cpu", "--preset", "ultrafast"]


def test_help_lists_every_option():
    out = invoke(["--help"]).stdout
    assert out.startswith("Usage: osdfilter [OPTIONS] INPUT OUTPUT")
    for option in ("--mask", "--dilate", "--chunk", "--model", "--fast", "--device", "--backend", "--provider", "--codec", "--crf", "--preset", "--quiet", "--overwrite"):
        assert option in out
    assert "synth" in out and "export" in out


def test_version():
    assert "osdfilter" in invoke(["--version"]).stdout


def test_run_writes_output_and_summary(base_args, tmp_path):
    out = tmp_path / "out.mp4"
    result = invoke([*base_args, out, "--chunk", "3", "--dilate", "3"])
    assert frame_count(out) == 12
    assert "12 frames" in result.stderr


def test_quiet_prints_nothing_even_when_the_model_is_first_exported(base_args, tmp_path, monkeypatch):
    """--quiet: not even the one-line note of a checkpoint's first ONNX export; without it
    that note is printed once, and not again once the export is cached."""
    monkeypatch.setenv("OSDFILTER_CACHE", os.fspath(tmp_path / "cache"))
    result = invoke([*base_args, tmp_path / "out.mkv", "--quiet"])
    assert result.stderr == "" and result.stdout == ""
    assert len(list((tmp_path / "cache").glob("*.onnx"))) == 1  # exported by this run
    monkeypatch.setenv("OSDFILTER_CACHE", os.fspath(tmp_path / "cache2"))
    first, again = (invoke([*base_args, tmp_path / name]).stderr for name in ("a.mp4", "b.mp4"))
    assert "parity vs PyTorch" in first and "parity vs PyTorch" not in again


def test_explicit_run_subcommand_works_too(base_args, tmp_path):
    invoke(["run", *base_args, tmp_path / "out.mp4", "-q"])
    assert (tmp_path / "out.mp4").exists()


def test_existing_output_needs_overwrite(base_args, tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"keep me")
    assert "--overwrite" in invoke([*base_args, out, "-q"], exit_code=1).stderr
    assert out.read_bytes() == b"keep me"
    invoke([*base_args, out, "-q", "-y"])
    assert frame_count(out) == 12


def test_missing_input(tmp_path, mask_png, checkpoint):
    invoke([tmp_path / "nope.mp4", tmp_path / "out.mp4", "--mask", mask_png, "--model", checkpoint], exit_code=1)


def test_missing_mask_means_auto(clip, checkpoint, tmp_path):
    invoke([clip, tmp_path / "out.mp4", "--model", checkpoint, "--device", "cpu", "--preset", "ultrafast"])
    assert frame_count(tmp_path / "out.mp4") == frame_count(clip)


def test_non_checkpoint_model(clip, mask_png, tmp_path):
    bogus = tmp_path / "bogus.pt"
    bogus.write_text("hello")
    assert "not an osdfilter checkpoint" in invoke([clip, tmp_path / "o.mp4", "--mask", mask_png, "--model", bogus], exit_code=1).stderr


def test_no_packaged_model_names_model_option(clip, mask_png, tmp_path, monkeypatch):
    monkeypatch.setattr("osdfilter.model.runners.DEFAULT_MODEL", "weights/does-not-exist.pt")
    assert "--model" in invoke([clip, tmp_path / "o.mp4", "--mask", mask_png], exit_code=1).stderr


def test_usage_errors_exit_2(clip, tmp_path):
    invoke([clip, tmp_path / "o.mp4", "--chunk", "0"], exit_code=2)
    invoke([clip, tmp_path / "o.mp4", "--codec", "mpeg2"], exit_code=2)
    invoke([clip], exit_code=2)


def test_unavailable_subcommand_is_one_line_error(monkeypatch):
    monkeypatch.setitem(__import__("osdfilter.cli.main").cli.main.LAZY_COMMANDS, "export", ("osdfilter.no_such_module", "export_cmd"))
    invoke(["export", "--anything"], exit_code=1)


def test_fast_is_the_fill_without_a_network(clip, mask_png, tmp_path):
    """--fast writes the temporal fill composited like the filter: inside the mask the
    pixels change (the overlay is filled), outside they are the input's; same as the API's
    model="fill"; and it refuses --model."""
    import numpy as np

    from osdfilter import process_video
    from osdfilter.masks.image import dilate, load_mask

    out = tmp_path / "fast.mp4"
    invoke([clip, out, "--mask", mask_png, "--fast", "--preset", "ultrafast", "-q"])
    api = tmp_path / "api.mp4"
    process_video(clip, api, mask=mask_png, model="fill", preset="ultrafast", quiet=True)

    def frames(path: Path) -> np.ndarray:
        with av.open(os.fspath(path)) as c:
            return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]).astype(np.int16)

    src, fast = frames(clip), frames(out)
    assert np.array_equal(fast, frames(api))
    mask = load_mask(mask_png, *src.shape[1:3])
    far = ~dilate(mask, 8)
    assert np.abs(fast - src)[:, mask].mean() > 10  # the white overlay is gone
    assert np.abs(fast - src)[:, far].mean() < 2  # codec noise only
    invoke([clip, tmp_path / "x.mp4", "--mask", mask_png, "--fast", "--model", "m.pt"], exit_code=2)
