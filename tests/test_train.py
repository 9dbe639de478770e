"""The trainer on tiny generated footage: data format, loss falls, exact resume, GAN, DDP, CLI.

All media is generated in code into a session folder; nothing from ../shared is needed.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from osdfilter.model.checkpoint import load_model, read_checkpoint
from osdfilter.errors import OSDFilterError
from osdfilter.filter.core import FilterConfig, OSDFilter
from osdfilter.masks.image import dilate
from osdfilter.model.network import ModelConfig
from osdfilter.filter.lookahead import fill_sequence
from osdfilter.osd import OSDStyle
from osdfilter.model.runners import IdentityRunner
from osdfilter.train import TrainConfig, build_config, lr_at, train
from osdfilter.cli.train import synth_cmd, train_cmd
from osdfilter.train.config import dump_toml, load_toml
from osdfilter.train.data import GeneratedBatches, cut_tiles, tiles_to_batch
from osdfilter.train.losses import generator_losses
from osdfilter.train.folder import ClipFolder, write_synth_folder
from osdfilter.train.sources import load_segments, parse_skips

H, W, N = 120, 160, 36  # tiny clean clips: enough for 4-frame windows and a held-out tail


@functools.cache
def clean_footage() -> Path:
    """A folder with two panning-texture videos and one frame folder (memoized per session)."""
    root = Path(os.environ.get("PYTEST_TMP", "/tmp")) / f"osdfilter-train-footage-{os.getpid()}"
    (root / "seq").mkdir(parents=True, exist_ok=True)
    for k in range(2):
        write_pan(root / f"pan{k}.mp4", seed=k)
    for i, f in enumerate(pan_frames(N // 2, seed=7)):
        cv2.imwrite(str(root / "seq" / f"{i:05d}.png"), f[..., ::-1])
    return root


def pan_frames(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.integers(0, 256, (2 * H, 2 * W, 3), dtype=np.uint8), (0, 0), 2.0)
    tex = cv2.normalize(tex, None, 0, 255, cv2.NORM_MINMAX)
    return [np.ascontiguousarray(tex[i : i + H, 2 * i : 2 * i + W]) for i in range(n)]


def write_pan(path: Path, seed: int) -> None:
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.height, s.width, s.pix_fmt = H, W, "yuv420p"
        s.options = {"crf": "10"}
        for f in pan_frames(N, seed):
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def tiny_config(tmp_path: Path, **kw) -> TrainConfig:
    base = dict(
        data=[str(clean_footage())], cache_dir=str(tmp_path / "cache"), run_dir=str(tmp_path / "run"),
        frames=3, batch=4, crop=48, context=8, steps=20, lr=3e-3, warmup=0, workers=0, threads=1,
        log_every=5, image_every=10, ckpt_every=0, val_every=0, val_clips=8, progress=False,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_sources_split_and_skip(tmp_path):
    segs = load_segments([clean_footage()], skip=["pan0.mp4:0.4-"], cache_dir=tmp_path / "c", min_len=3)
    lengths = {s.name.split("[")[0]: len(s) for s in segs}
    assert lengths == {"pan0.mp4": 10, "pan1.mp4": N, "seq": N // 2}  # 0.4 s at 25 fps
    assert parse_skips(["a.webm:1-2", "a.webm:3-"])["a.webm"] == [(1.0, 2.0), (3.0, float("inf"))]


def test_training_input_matches_the_filter(tmp_path):
    """A training tile is built exactly as OSDFilter.model_input builds the tile at that place."""
    frame = pan_frames(1, seed=3)[0]
    mask = np.zeros((H, W), bool)
    mask[50:58, 60:90] = True
    flt = OSDFilter(IdentityRunner(), mask, FilterConfig(tile=32, context=8))
    expected = flt.model_input([frame], [flt.mask])  # per region shape: [regions, 1, 4, h, w]
    for (_, idx), exp in zip(flt.plan.groups(), expected):
        tiles = cut_tiles(frame[None], frame[None], dilate(mask, 2)[None], [flt.plan.cores[i] for i in idx], 8)
        got = tiles_to_batch(tiles, "telea", 1.5, 8)["x"].numpy()
        np.testing.assert_allclose(got, exp, atol=1e-6)


def test_temporal_training_input_matches_the_filter(tmp_path):
    """With the temporal prefill, tiles are cut from whole frames filled in order, as the filter does."""
    frames = np.stack(pan_frames(4, seed=5))
    mask = np.zeros((H, W), bool)
    mask[40:60, 50:110] = True
    runner = IdentityRunner(ModelConfig(prefill="temporal", tile=32, context=8))
    flt = OSDFilter(runner, mask, FilterConfig())
    expected = flt.model_input(list(frames), [flt.mask] * 4)
    masks = np.stack([flt.mask] * 4)
    filled = fill_sequence(frames, masks)
    for (_, idx), exp in zip(flt.plan.groups(), expected):
        tiles = cut_tiles(frames, frames, masks, [flt.plan.cores[i] for i in idx], 8, filled)
        got = tiles_to_batch(tiles, "temporal", 1.5, 8)["x"].numpy()
        np.testing.assert_allclose(got, exp, atol=1e-6)
    cfg = tiny_config(tmp_path, prefill="temporal", crop=32)
    batch = GeneratedBatches(load_segments(cfg.data, cache_dir=cfg.cache_dir, min_len=3), [], cfg, cfg.tile, cfg.context)[0]
    assert batch["x"].shape == (4, 3, 4, 32, 32)


def test_batches_are_reproducible_and_shaped(tmp_path):
    cfg = tiny_config(tmp_path)
    segs = load_segments(cfg.data, cache_dir=cfg.cache_dir, min_len=3)
    ds = GeneratedBatches(segs, [], cfg, cfg.tile, cfg.context)
    a, b = ds[5], ds[5]
    assert a["x"].shape == (4, 3, 4, 48, 48) and a["target"].shape == (4, 3, 3, 48, 48)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert a["mask"].sum() > 0 and not torch.equal(ds[6]["x"], a["x"])


def test_l1_training_lowers_the_loss(tmp_path):
    """20 steps lower the L1 of the batches trained on.

    Without a prefill the untrained model returns the overlaid input, so there is a lot to
    learn quickly; from a Telea start 20 steps gain only ~2 % on these noise textures.
    """
    cfg = tiny_config(tmp_path, steps=20, crop=32, lr=1e-2, prefill="none", val_every=20, val_clips=4)
    seen: list[float] = []
    path = train(cfg, on_step=lambda s, st: seen.append(st["loss/l1"]))
    assert len(seen) == 20 and all(np.isfinite(seen))
    model = load_model(path).train()  # batch statistics, as when the losses were recorded
    segs = load_segments(cfg.data, cache_dir=cfg.cache_dir, min_len=3)
    ds = GeneratedBatches(segs, [], cfg, cfg.tile, cfg.context)
    with torch.no_grad():
        after = [generator_losses(model(ds[s]["x"])[0], ds[s], cfg.mask_weight, cfg.outside_weight)["l1"].item() for s in range(8)]
    assert np.mean(after) < 0.9 * np.mean(seen[:8])
    assert model.config.tile == 16 and model.config.extra["trained_steps"] == 20  # self-describing
    run = Path(cfg.run_dir)
    assert (run / "config.toml").exists()
    if importlib.util.find_spec("tensorboard") is not None:  # the optional [train] extra
        assert any((run / "tb").iterdir())


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    full: dict[int, float] = {}
    cfg = tiny_config(tmp_path, steps=6, crop=32, ckpt_every=3, keep_checkpoints=5, run_dir=str(tmp_path / "a"))
    train(cfg, on_step=lambda s, st: full.__setitem__(s, st["loss/l1"]))
    ckpt = tmp_path / "a" / "checkpoints" / "step_0000003.pt"
    assert read_checkpoint(ckpt)["train"]["step"] == 3
    resumed: dict[int, float] = {}
    cfg_b = tiny_config(tmp_path, steps=6, crop=32, ckpt_every=3, run_dir=str(tmp_path / "b"))
    train(cfg_b, resume=str(ckpt), on_step=lambda s, st: resumed.__setitem__(s, st["loss/l1"]))
    assert sorted(resumed) == [4, 5, 6]
    assert [resumed[s] for s in (4, 5, 6)] == [full[s] for s in (4, 5, 6)]


def test_sigterm_checkpoints_and_stops(tmp_path):
    """A background run stopped with SIGTERM loses no step: it checkpoints, then returns."""
    import signal

    cfg = tiny_config(tmp_path, steps=50, crop=32, ckpt_every=0)
    done: list[int] = []

    def hook(step: int, stats: dict) -> None:
        done.append(step)
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    train(cfg, on_step=hook)
    assert done == [1, 2]
    assert read_checkpoint(Path(cfg.run_dir) / "checkpoints" / "latest.pt")["train"]["step"] == 2


def test_crash_leaves_a_rescue_checkpoint(tmp_path):
    """An error mid-run (e.g. a data worker killed from outside) keeps the last completed step."""
    cfg = tiny_config(tmp_path, steps=50, crop=32, ckpt_every=0)

    def hook(step: int, stats: dict) -> None:
        if step == 2:
            raise RuntimeError("DataLoader worker (pid 1) is killed by signal: Terminated.")

    with pytest.raises(RuntimeError, match="killed"):
        train(cfg, on_step=hook)
    assert read_checkpoint(Path(cfg.run_dir) / "checkpoints" / "rescue.pt")["train"]["step"] == 2


def test_gan_stage_runs(tmp_path):
    seen: list[dict] = []
    cfg = tiny_config(tmp_path, steps=4, crop=32, gan_start=2, d_widths=(8, 16, 16, 16), ckpt_every=4)
    train(cfg, on_step=lambda s, st: seen.append(st))
    assert "loss/gan_d" not in seen[1] and "loss/gan_d" in seen[2]
    assert all(np.isfinite(v) for st in seen for v in st.values())
    assert "discriminator" in read_checkpoint(Path(cfg.run_dir) / "checkpoints" / "latest.pt")["train"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_cpu_processes(tmp_path):
    """torchrun with 2 gloo processes runs 2 steps through the same train() path."""
    cfg = tiny_config(tmp_path, steps=2, batch=2, frames=2, crop=32, ckpt_every=2)
    toml = tmp_path / "cfg.toml"
    dump_toml(cfg, toml)
    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(f"""
        from osdfilter.train import build_config, train
        train(build_config({str(toml)!r}))
    """))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}", str(script)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[1])
    assert res.returncode == 0, res.stderr[-3000:]
    assert "world 2" in res.stdout and (Path(cfg.run_dir) / "model.pt").exists()


def test_synth_folder_roundtrip_and_training(tmp_path):
    cfg = tiny_config(tmp_path, frames=4)
    write_synth_folder(cfg.data, tmp_path / "ds", cfg, clips=3, height=96, width=128, style=OSDStyle.exact())
    folder = ClipFolder(tmp_path / "ds", frames=4)
    overlaid, clean, mask = folder[0]
    assert overlaid.shape == clean.shape == (4, 96, 128, 3) and mask.shape == (96, 128) and mask.any()
    diff = np.abs(overlaid.astype(int) - clean.astype(int)).max(-1).max(0)
    assert diff[dilate(mask, 3)].mean() > 3 * diff[~dilate(mask, 3)].mean()  # OSD where the mask is
    (tmp_path / "ds" / "masks" / "000002.png").unlink()
    with pytest.raises(ValueError, match="same"):
        ClipFolder(tmp_path / "ds", frames=4)


def test_config_toml_roundtrip_and_cli(tmp_path):
    cfg = tiny_config(tmp_path, mask_modes={"box": 1.0})
    dump_toml(cfg, tmp_path / "c.toml")
    assert build_config(tmp_path / "c.toml").to_dict() == cfg.to_dict()
    assert load_toml(tmp_path / "c.toml")["mask_modes"] == {"box": 1.0}
    assert lr_at(0, TrainConfig(warmup=10, lr=1.0)) == pytest.approx(0.1)
    runner = CliRunner()
    res = runner.invoke(train_cmd, ["--config", str(tmp_path / "c.toml"), "--set", "nope=1"])
    assert res.exit_code == 2 and "nope=1" in res.output
    res = runner.invoke(train_cmd, ["--config", str(tmp_path / "c.toml"), "--steps", "2", "--set", "log_every=1", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "model written to" in res.output and "step 2 " in res.output
    # The same run folder again without --resume: refused (it restarted at step 0 and
    # overwrote the trained model and checkpoints).
    model_bytes = (Path(cfg.run_dir) / "model.pt").read_bytes()
    res = runner.invoke(train_cmd, ["--config", str(tmp_path / "c.toml"), "--steps", "4", "--no-progress"])
    assert isinstance(res.exception, OSDFilterError) and "already holds a training run" in str(res.exception)
    assert (Path(cfg.run_dir) / "model.pt").read_bytes() == model_bytes
    res = runner.invoke(synth_cmd, [str(clean_footage()), str(tmp_path / "s"), "--clips", "1", "--size", "99x64"])
    assert res.exit_code == 2 and "even" in res.output
    # Bad data is a one-line error (OSDFilterError: the CLI prints it), not a traceback.
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.mp4").write_bytes(os.urandom(2000))
    for folder in ("empty", "junk"):
        res = runner.invoke(synth_cmd, [str(tmp_path / folder), str(tmp_path / "s2"), "--clips", "1", "--size", "64x64"])
        assert isinstance(res.exception, OSDFilterError), res.exception
    # A folder that is not empty (clips are numbered from 0: old and new ones would mix).
    res = runner.invoke(synth_cmd, [str(clean_footage()), str(tmp_path / "junk"), "--clips", "1", "--size", "64x64"])
    assert isinstance(res.exception, OSDFilterError) and "not empty" in str(res.exception)
