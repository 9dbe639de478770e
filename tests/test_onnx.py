"""ONNX export and the ONNX Runtime backend: parity with PyTorch, metadata, one-line errors."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from conftest import tiny_model
import osdfilter.model.onnx_export
from osdfilter.errors import CheckpointError, OSDFilterError
from osdfilter.model.onnx_export import export_onnx, file_sha256, onnx_for_checkpoint, runner_for_checkpoint
from osdfilter.model.onnx_runtime import OnnxRunner
from osdfilter.model.runners import TorchRunner

CHUNKS = 3  # chunks per parity run, state carried from one to the next
FRAMES_PER_CHUNK = 2


def model_input(n: int, t: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """``[n, t, 4, height, width]``: RGB in [-1, 1] and a {0, 1} mask, like the filter's tiles."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, t, 4, height, width)).astype(np.float32)
    x[:, :, 3] = rng.uniform(0, 1, (n, t, height, width)) < 0.3
    return x


def max_diff_over_chunks(a, b, frames: np.ndarray, chunk: int) -> float:
    """Run both runners chunk by chunk, each carrying its own state; max |a - b| of outputs."""
    state_a = state_b = None
    diff = 0.0
    for t0 in range(0, frames.shape[1], chunk):
        ya, state_a = a.step(frames[:, t0:t0 + chunk], state_a)
        yb, state_b = b.step(frames[:, t0:t0 + chunk], state_b)
        assert ya.shape == yb.shape
        diff = max(diff, float(np.abs(ya - yb).max()))
    return diff


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=3)


@pytest.fixture(scope="module")
def step_onnx(model, tmp_path_factory) -> Path:
    """The default export: a one-frame step graph (T=1)."""
    return export_onnx(model, tmp_path_factory.mktemp("onnx") / "tiny_T1.onnx", chunk=1, log=lambda _: None)


@pytest.fixture(scope="module")
def t2_onnx(model, tmp_path_factory) -> Path:
    """A chunked export (T=2): the unrolled graph and the one-frame step behind an If."""
    return export_onnx(model, tmp_path_factory.mktemp("onnx") / "tiny_T2.onnx", chunk=2, log=lambda _: None)


@pytest.mark.parametrize("height,width", [(64, 64), (96, 160), (70, 90)])
def test_torch_and_onnx_match_over_chunks_with_state(model, step_onnx, height, width):
    frames = model_input(2, CHUNKS * FRAMES_PER_CHUNK, height, width)
    runner = OnnxRunner(step_onnx, provider="cpu")
    diff = max_diff_over_chunks(TorchRunner(model), runner, frames, FRAMES_PER_CHUNK)
    assert diff <= 1e-4, f"{height}x{width}: max abs diff {diff}"


@pytest.mark.parametrize("height,width", [(64, 64), (70, 90)])
def test_space_to_depth_model_matches_in_onnx_over_chunks(height, width, tmp_path_factory):
    """The fast preset (a 2x2 space-to-depth stem: pads to 16, state at 1/16): same
    output and state from ONNX Runtime as from PyTorch, from a chunked (T=2) file."""
    fast = tiny_model(seed=5, preset="fast")
    path = export_onnx(fast, tmp_path_factory.mktemp("onnx") / "fast_T2.onnx", chunk=2, log=lambda _: None)
    runner = OnnxRunner(path, provider="cpu")
    frames = model_input(2, 5, height, width, seed=2)
    assert max_diff_over_chunks(TorchRunner(fast), runner, frames, 2) <= 1e-4
    _, (h, _) = runner.step(frames[:, :1], None)
    assert h.shape == (2, 64, -(-height // 16), -(-width // 16))
    y, _ = TorchRunner(fast).step(frames, None)
    assert float(np.abs(y - frames[:, :, :3]).mean()) > 1e-3  # its nonzero head changes pixels


def test_state_shapes_and_none_means_zeros(model, step_onnx):
    runner = OnnxRunner(step_onnx, provider="cpu")
    frames = model_input(3, 2, 70, 90)
    y, (h, c) = runner.step(frames, None)
    assert y.shape == (3, 2, 3, 70, 90) and y.dtype == np.float32
    assert h.shape == c.shape == (3, model.config.widths[3], 9, 12)  # padded to 72x96, / 8
    y0, _ = runner.step(frames, runner.zero_state(3, 70, 90))
    np.testing.assert_array_equal(y, y0)


@pytest.mark.parametrize("splits", [[7], [2, 2, 2, 1], [3, 3, 1], [1] * 7, [5, 2]])
def test_chunked_export_output_does_not_depend_on_chunking(model, t2_onnx, splits):
    """A T=2 file: whole pairs run the unrolled graph, the rest the one-frame branch."""
    frames = model_input(2, sum(splits), 64, 64, seed=1)
    runner = OnnxRunner(t2_onnx, provider="cpu")
    outs, state, t0 = [], None, 0
    for n in splits:
        y, state = runner.step(frames[:, t0:t0 + n], state)
        outs.append(y)
        t0 += n
    reference, _ = TorchRunner(model).step(frames, None)
    assert float(np.abs(np.concatenate(outs, axis=1) - reference).max()) <= 1e-4


def test_fp16_export_keeps_float32_io_and_stays_close(model, tmp_path):
    path = export_onnx(model, tmp_path / "fp16.onnx", chunk=1, fp16=True, log=lambda _: None)
    runner = OnnxRunner(path, provider="cpu")
    assert runner.meta["export"]["fp16"] is True
    frames = model_input(1, 2, 48, 48)
    y, (h, c) = runner.step(frames, None)
    assert y.dtype == h.dtype == c.dtype == np.float32
    assert float(np.abs(y - TorchRunner(model).step(frames, None)[0]).max()) <= 2e-2


def test_default_model_exports_in_fp16(tmp_path):
    """The trained model's cell state grows to ~25, where fp16 resolves 2^-6: the export's
    parity check must judge the output (within 2e-2), not the state's absolute difference."""
    from osdfilter.model.checkpoint import load_model
    from osdfilter.model.runners import _default_model_path

    with _default_model_path() as default:
        path = export_onnx(default, tmp_path / "default_fp16.onnx", chunk=8, fp16=True, log=lambda _: None)
        model = load_model(default)
    frames = model_input(1, 4, 64, 64)
    extra = model.config.in_channels - frames.shape[2]  # (the candidates' channels, in range like the rest)
    frames = np.concatenate([frames, np.random.default_rng(1).uniform(-1, 1, (1, 4, extra, 64, 64)).astype(np.float32)], 2)
    y, _ = OnnxRunner(path, provider="cpu").step(frames, None)
    assert float(np.abs(y - TorchRunner(model).step(frames, None)[0]).max()) <= 2e-2


def test_torch_fp16_autocast_stays_close_and_keeps_float32_output(model):
    """``half`` (fp16 autocast, an option) runs on a CPU too: same function within fp16 rounding,
    float32 frames out, and no blow-up where the RGB sits at +-1 (the head stays float32)."""
    frames = model_input(2, 2 * FRAMES_PER_CHUNK, 40, 56, seed=5)
    frames[0, :, :3, :8] = 1.0  # saturated rows: the residual head's denominator is tiny there
    frames[1, :, :3, :8] = -1.0
    half = TorchRunner(model, half=True)
    assert half.half and not TorchRunner(model).half  # fp32 is the default
    assert max_diff_over_chunks(TorchRunner(model), half, frames, FRAMES_PER_CHUNK) <= 2e-2
    y, _ = half.step(frames, None)
    assert y.dtype == np.float32 and np.isfinite(y).all() and np.abs(y).max() <= 1.0


def test_metadata_rebuilds_config_and_checker_passes(model, step_onnx):
    proto = onnx.load(os.fspath(step_onnx))
    onnx.checker.check_model(proto, full_check=True)
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["osdfilter"])
    assert meta["format"] == "osdfilter-onnx" and meta["export"]["chunk"] == 1
    assert meta["normalisation"] == model.config.normalisation
    assert [i.name for i in proto.graph.input] == ["frames", "h0", "c0"]
    assert [o.name for o in proto.graph.output] == ["restored", "h1", "c1"]
    runner = OnnxRunner(step_onnx, provider="cpu")
    assert runner.config == model.config
    assert runner.provider_in_use == "CPUExecutionProvider"
    assert runner.note == f"onnx: {step_onnx.name} on CPUExecutionProvider"


def test_checkpoint_export_is_cached_by_hash(checkpoint, monkeypatch, tmp_path):
    monkeypatch.setenv("OSDFILTER_CACHE", os.fspath(tmp_path / "cache"))
    runner = runner_for_checkpoint(checkpoint, provider="cpu", chunk=1)
    path = runner.path
    assert path.parent == tmp_path / "cache" and "-T1-fp32-op18-" in path.name
    assert path.name.startswith(file_sha256(checkpoint)[:16])
    mtime = path.stat().st_mtime_ns
    assert onnx_for_checkpoint(checkpoint, chunk=1) == path and path.stat().st_mtime_ns == mtime  # reused
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary left


def test_failed_parity_check_writes_nothing(model, monkeypatch, tmp_path):
    """The cache trusts any file it finds, so a graph that failed its check must not exist."""
    monkeypatch.setitem(osdfilter.model.onnx_export.PARITY_LIMIT, False, -1.0)
    with pytest.raises(OSDFilterError, match="differs from PyTorch"):
        export_onnx(model, tmp_path / "m.onnx", chunk=1, log=lambda _: None)
    assert list(tmp_path.iterdir()) == []


# --- one-line errors ------------------------------------------------------------------


def wrong_inputs_onnx(path: Path) -> Path:
    """A valid ONNX model that is not an osdfilter export: input ``x``, output ``y``."""
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "identity", [x], [y])
    # An IR version every supported onnxruntime reads, so only the inputs are wrong.
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18)], ir_version=8)
    onnx.save(model, os.fspath(path))
    return path


def assert_one_line(exc: pytest.ExceptionInfo) -> None:
    assert "\n" not in str(exc.value) and len(str(exc.value)) < 300, str(exc.value)


def test_onnx_with_wrong_inputs_is_refused_in_one_line(tmp_path):
    with pytest.raises(CheckpointError, match="not an osdfilter ONNX export") as exc:
        OnnxRunner(wrong_inputs_onnx(tmp_path / "identity.onnx"))
    assert_one_line(exc)


@pytest.mark.parametrize("content", [b"not a model at all\n", b"\x00" * 64])
def test_non_onnx_file_is_refused_in_one_line(tmp_path, content):
    path = tmp_path / "fake.onnx"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"not a loadable ONNX model \(Protobuf parsing failed") as exc:
        OnnxRunner(path)
    assert_one_line(exc)


def test_checkpoint_given_as_onnx_is_refused(checkpoint):
    with pytest.raises(CheckpointError, match="not a loadable ONNX model"):
        OnnxRunner(checkpoint)


def test_missing_file_and_unknown_provider(tmp_path, step_onnx):
    with pytest.raises(CheckpointError, match="not found"):
        OnnxRunner(tmp_path / "nope.onnx")
    with pytest.raises(OSDFilterError, match="unknown provider"):
        OnnxRunner(step_onnx, provider="rocm")


def test_explicit_gpu_provider_never_falls_back_silently(step_onnx):
    """cuda/tensorrt either run on that provider or fail in one line (no quiet CPU fallback)."""
    for provider in ("cuda", "tensorrt"):
        try:
            runner = OnnxRunner(step_onnx, provider=provider)
        except OSDFilterError as exc:
            assert "\n" not in str(exc) and f"--provider {provider}" in str(exc)
        else:
            assert runner.provider_in_use.lower().startswith(provider)


# --- the command line -------------------------------------------------------------------


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def decoded(path: Path) -> list[np.ndarray]:
    import av

    with av.open(os.fspath(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def cli_invoke(args: list) -> "object":
    from osdfilter.cli.main import cli

    result = CliRunner().invoke(cli, [os.fspath(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.skipif(importlib.util.find_spec("osdfilter.api") is None, reason="needs osdfilter.api (the video CLI)")
def test_cli_export_then_both_backends_give_the_same_video(clip, mask_png, checkpoint, tmp_path):
    model_onnx = tmp_path / "m.onnx"
    assert "max abs diff" in cli_invoke(["export", checkpoint, model_onnx]).stdout
    meta = json.loads(OnnxRunner(model_onnx, provider="cpu").session.get_modelmeta().custom_metadata_map["osdfilter"])
    assert meta["source"]["checkpoint"] == checkpoint.name and len(meta["source"]["sha256"]) == 64
    common = [clip, "--mask", mask_png, "--device", "cpu", "--preset", "ultrafast", "--quiet"]
    cli_invoke([*common, tmp_path / "torch.mp4", "--model", checkpoint, "--backend", "torch"])
    cli_invoke([*common, tmp_path / "onnx.mp4", "--model", model_onnx, "--backend", "onnx", "--provider", "cpu"])
    a, b = decoded(tmp_path / "torch.mp4"), decoded(tmp_path / "onnx.mp4")
    assert len(a) == len(b) == 12
    assert min(psnr(x, y) for x, y in zip(a, b)) >= 45.0


@pytest.mark.skipif(importlib.util.find_spec("osdfilter.cli.main") is None, reason="needs osdfilter.cli.main")
def test_cli_onnx_backend_with_non_onnx_model_is_one_line_error(clip, mask_png, tmp_path):
    from osdfilter.cli.main import cli

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    args = [clip, "--mask", mask_png, "--model", bad, "--backend", "onnx", tmp_path / "o.mp4"]
    result = CliRunner().invoke(cli, [os.fspath(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("osdfilter: error: ") and "ONNX" in lines[0], result.stderr


def test_auto_backend_is_onnx_on_cpu_and_torch_for_a_network_in_memory(checkpoint, model, step_onnx, monkeypatch, tmp_path):
    from osdfilter.model.runners import make_runner

    monkeypatch.setenv("OSDFILTER_CACHE", os.fspath(tmp_path / "cache"))
    assert isinstance(make_runner(checkpoint, "auto", "cpu"), OnnxRunner)
    assert isinstance(make_runner(step_onnx, "auto", "cpu"), OnnxRunner)
    assert isinstance(make_runner(model, "auto", "cpu"), TorchRunner)
    assert make_runner(checkpoint, "auto", "cpu").provider_in_use == "CPUExecutionProvider"


def test_unwritable_cache_exports_to_a_temporary_folder(checkpoint, monkeypatch, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("OSDFILTER_CACHE", os.fspath(blocker / "cache"))  # mkdir fails
    runner = runner_for_checkpoint(checkpoint, provider="cpu")
    frames = np.zeros((1, 2, 4, 32, 32), np.float32)
    assert runner.step(frames, None)[0].shape == (1, 2, 3, 32, 32)
    assert not (blocker / "cache").exists()


def test_a_checkpoint_named_pth_or_upper_case_is_a_checkpoint(checkpoint, monkeypatch, tmp_path):
    """Regression: on a CPU anything not ending in lower-case ".pt" was opened as ONNX."""
    from osdfilter.model.runners import make_runner

    monkeypatch.setenv("OSDFILTER_CACHE", os.fspath(tmp_path / "cache"))
    for name in ("model.pth", "MODEL.PT"):
        (tmp_path / name).write_bytes(Path(checkpoint).read_bytes())
        runner = make_runner(tmp_path / name, "auto", "cpu", log=lambda _: None)
        assert isinstance(runner, OnnxRunner) and runner.path.parent == tmp_path / "cache", name


def test_export_command_errors_are_one_line_and_it_does_not_overwrite(checkpoint, tmp_path):
    """A missing folder and an opset torch lacks were tracebacks; an existing OUT was replaced silently."""
    from click.testing import CliRunner

    from osdfilter.cli.main import cli

    def run(*args: str, code: int) -> str:
        res = CliRunner().invoke(cli, ["export", os.fspath(checkpoint), *args, "-T", "1"], catch_exceptions=False)
        assert res.exit_code == code, res.output
        return res.stderr

    err = run(os.fspath(tmp_path / "no" / "m.onnx"), code=1)
    assert err.startswith("osdfilter: error: output folder does not exist") and len(err.strip().splitlines()) == 1
    assert "is the input" in run(os.fspath(checkpoint), "-y", code=1)  # (the main command's check_paths)
    assert "export failed" in run(os.fspath(tmp_path / "a.onnx"), "--opset", "99", code=1)
    out = tmp_path / "m.onnx"
    out.write_bytes(b"keep")
    assert "exists" in run(os.fspath(out), code=1) and out.read_bytes() == b"keep"
    run(os.fspath(out), "-y", code=0)
    assert out.stat().st_size > 1000
