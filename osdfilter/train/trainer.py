"""The training loop: L1 stage, optional GAN stage, validation, TensorBoard, exact resume, DDP.

Top to bottom like nanoGPT's ``train.py``, but in small functions: set up the process
(DDP from torchrun's environment, world size 1 otherwise) -> build data, model and
optimisers -> restore a checkpoint if resuming -> loop over steps. One code path serves
CPU, one GPU and torchrun; ``is_main`` gates TensorBoard, validation and checkpoints.

Run folder: ``config.toml``, ``checkpoints/step_NNNNNNN.pt`` + ``latest.pt`` (everything to
resume), ``model.pt`` (the final self-describing model :func:`osdfilter.model.checkpoint.load_model`
reads) and ``tb/`` (TensorBoard).
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from ..model.checkpoint import config_from_dict, read_checkpoint, save_checkpoint
from ..model.network import ModelConfig, RecurrentUNet
from ..model.runners import resolve_device
from . import losses as L
from .config import TrainConfig, dump_toml
from .discriminator import VideoDiscriminator
from .resume import rng_state, seed_everything, set_rng_state
from .tblog import TBLogger


@dataclass
class Process:
    """This process's place in the (maybe distributed) run."""

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0


@dataclass
class Nets:
    """Everything with weights or optimiser state. ``model``/``disc`` are the unwrapped modules."""

    model: RecurrentUNet
    opt: torch.optim.Optimizer
    disc: Optional[VideoDiscriminator] = None
    d_opt: Optional[torch.optim.Optimizer] = None
    g_opt_gan: Optional[torch.optim.Optimizer] = None
    scaler: Optional[torch.amp.GradScaler] = None
    model_ddp: Any = None  # what forward/backward run through (DDP wrapper or the module)
    disc_ddp: Any = None


def setup_process(cfg: TrainConfig) -> Process:
    """Join the torchrun group when launched by torchrun (gloo on CPU, NCCL on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = resolve_device(cfg.device)
    if world > 1:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device.type == "cuda":
            device = torch.device("cuda", local)
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cpu":
        torch.set_flush_denormal(True)  # denormals in the LSTM state cost a lot on CPU
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
    return Process(rank, world, device)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine from ``lr`` down to ``lr_min`` at ``steps``."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    frac = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1.0 + math.cos(math.pi * frac))


def build_nets(model_cfg: ModelConfig, cfg: TrainConfig, proc: Process) -> Nets:
    """Model, its optimiser and (when a GAN stage is planned) the discriminator and its optimisers."""
    model = RecurrentUNet(model_cfg).to(proc.device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    nets = Nets(model, torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay))
    if cfg.gan_start >= 0:
        nets.disc = VideoDiscriminator(cfg.d_widths).to(proc.device)
        nets.d_opt = torch.optim.Adam(nets.disc.parameters(), lr=cfg.d_lr, betas=cfg.gan_betas)
        nets.g_opt_gan = torch.optim.Adam(model.parameters(), lr=cfg.gan_lr, betas=cfg.gan_betas)
    if proc.device.type == "cuda" and cfg.amp:
        nets.scaler = torch.amp.GradScaler("cuda")
    wrap = (lambda m: DDP(m, device_ids=[proc.device.index] if proc.device.type == "cuda" else None)) if proc.world > 1 else (lambda m: m)
    nets.model_ddp = wrap(model)
    nets.disc_ddp = wrap(nets.disc) if nets.disc is not None else None
    return nets


def autocast(proc: Process, cfg: TrainConfig):
    """fp16 autocast on CUDA; a no-op on CPU, where bf16 autocast is much slower."""
    enabled = proc.device.type == "cuda" and cfg.amp
    return torch.autocast(device_type=proc.device.type, dtype=torch.float16, enabled=enabled)


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def backward_step(loss: torch.Tensor, opt: torch.optim.Optimizer, params: list[torch.nn.Parameter], nets: Nets, clip: float) -> float:
    """Backward, unscale, clip, step; returns the total gradient norm before clipping."""
    opt.zero_grad(set_to_none=True)
    if nets.scaler is not None:
        nets.scaler.scale(loss).backward()
        nets.scaler.unscale_(opt)
    else:
        loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else float("inf"))
    if nets.scaler is not None:
        nets.scaler.step(opt)
        nets.scaler.update()
    else:
        opt.step()
    return float(norm)


def l1_step(nets: Nets, batch: dict[str, torch.Tensor], cfg: TrainConfig, proc: Process) -> dict[str, float]:
    """One step of the L1 stage."""
    with autocast(proc, cfg):
        out, _ = nets.model_ddp(batch["x"])
        terms = L.generator_losses(out.float(), batch, cfg.mask_weight, cfg.outside_weight, cfg.glyph_weight, cfg.temporal_weight)
    norm = backward_step(terms["l1"], nets.opt, list(nets.model.parameters()), nets, cfg.grad_clip)
    return {"loss/l1": terms["l1"].item(), "loss/l1_mask": terms["l1_mask"].item(), "loss/l1_outside": terms["l1_outside"].item(),
            "loss/l1_temporal": terms["l1_temporal"].item(), "grad_norm/total": norm}


def gan_step(nets: Nets, batch: dict[str, torch.Tensor], cfg: TrainConfig, proc: Process) -> dict[str, float]:
    """One step of the GAN stage: discriminator on (target, composite), then generator."""
    assert nets.disc is not None and nets.d_opt is not None and nets.g_opt_gan is not None
    with autocast(proc, cfg):
        out, _ = nets.model_ddp(batch["x"])
        terms = L.generator_losses(out.float(), batch, cfg.mask_weight, cfg.outside_weight, cfg.glyph_weight, cfg.temporal_weight)
        fake = terms["composite"]
        d_real = L.bce_logits(nets.disc_ddp(batch["target"]), True)
        d_fake = L.bce_logits(nets.disc_ddp(fake.detach()), False)
        d_loss = 0.5 * (d_real + d_fake)
    d_norm = backward_step(d_loss, nets.d_opt, list(nets.disc.parameters()), nets, cfg.grad_clip)
    with autocast(proc, cfg):
        adv = L.bce_logits(nets.disc_ddp(fake), True)
        g_loss = adv + cfg.gan_l1_weight * terms["l1"]
    norm = backward_step(g_loss, nets.g_opt_gan, list(nets.model.parameters()), nets, cfg.grad_clip)
    return {
        "loss/l1": terms["l1"].item(), "loss/l1_mask": terms["l1_mask"].item(), "loss/l1_outside": terms["l1_outside"].item(),
        "loss/gan_g": g_loss.item(), "loss/gan_adv": adv.item(), "loss/gan_d": d_loss.item(),
        "loss/d_real": d_real.item(), "loss/d_fake": d_fake.item(), "grad_norm/total": norm, "grad_norm/disc_total": d_norm,
    }


@torch.no_grad()
def validate(model: RecurrentUNet, val: dict[str, list[dict[str, torch.Tensor]]], device: torch.device) -> dict[str, float]:
    """Masked PSNR/SSIM (pixels of the dilated mask on tile cores) of the model and of its input fill."""
    was_training = model.training
    model.eval()
    out: dict[str, float] = {}
    for mode, batches in val.items():
        acc = np.zeros(6)
        for b in batches:
            b = to_device(b, device)
            y, _ = model(b["x"])
            w = b["mask"] * b["core"]
            comp = L.composite(y, b["overlaid"], b["alpha"])
            base = L.composite(b["x"][:, :, :3], b["overlaid"], b["alpha"])  # untrained model = fill
            acc += [*L.masked_sse(comp, b["target"], w), *L.masked_sse(base, b["target"], w)[:1], *L.masked_ssim_sum(comp, b["target"], w), L.masked_ssim_sum(base, b["target"], w)[0]]
        out[f"val/{mode}/psnr"] = L.psnr_from_sse(acc[0], acc[1])
        out[f"val/{mode}/psnr_fill"] = L.psnr_from_sse(acc[2], acc[1])
        out[f"val/{mode}/gain_db"] = out[f"val/{mode}/psnr"] - out[f"val/{mode}/psnr_fill"]
        out[f"val/{mode}/ssim"] = acc[3] / max(acc[4], 1e-9)
        out[f"val/{mode}/ssim_fill"] = acc[5] / max(acc[4], 1e-9)
    model.train(was_training)
    return out


# ---- checkpoints --------------------------------------------------------------------------


def train_payload(nets: Nets, cfg: TrainConfig, step: int, best: dict[str, float]) -> dict[str, Any]:
    """Everything besides the model weights that an exact resume needs."""
    payload: dict[str, Any] = {
        "step": step,  # steps completed; the data sampler's position is this step too
        "config": cfg.to_dict(),
        "optimizer": nets.opt.state_dict(),
        "scheduler": {"kind": "warmup_cosine", "step": step},  # lr_at(step) is stateless
        "rng": rng_state(),
        "best": dict(best),
    }
    if nets.disc is not None:
        payload["discriminator"] = {k: v.detach().cpu() for k, v in nets.disc.state_dict().items()}
        payload["d_optimizer"] = nets.d_opt.state_dict()
        payload["g_optimizer_gan"] = nets.g_opt_gan.state_dict()
    if nets.scaler is not None:
        payload["scaler"] = nets.scaler.state_dict()
    return payload


def stamp_provenance(model: RecurrentUNet, cfg: TrainConfig, step: int, wall_s: float) -> None:
    """Record in the model config (hence in every file written) how it was trained."""
    model.config.extra.update({"trained_steps": int(step), "train_wall_s": round(float(wall_s), 1), "train_preset": cfg.preset, "train_crop": cfg.crop, "train_frames": cfg.frames, "train_batch": cfg.batch})


def save_training(run: Path, nets: Nets, cfg: TrainConfig, step: int, best: dict[str, float]) -> Path:
    """``checkpoints/step_N.pt`` and ``checkpoints/latest.pt``; prunes old step files."""
    ckdir = run / "checkpoints"
    ckdir.mkdir(parents=True, exist_ok=True)
    path = ckdir / f"step_{step:07d}.pt"
    save_checkpoint(path, nets.model, train=train_payload(nets, cfg, step, best))
    save_checkpoint(ckdir / "latest.pt", nets.model, train=train_payload(nets, cfg, step, best))
    old = sorted(ckdir.glob("step_*.pt"))[: -cfg.keep_checkpoints] if cfg.keep_checkpoints > 0 else []
    for p in old:
        p.unlink()
    return path


def restore(nets: Nets, payload: dict[str, Any], proc: Process) -> tuple[int, dict[str, float]]:
    """Load weights (and, for a training checkpoint, optimisers/RNG); returns (step, best)."""
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in payload["state_dict"].items()}
    nets.model.load_state_dict(state)
    nets.model.config.extra.update(payload["config"].get("extra", {}))
    train = payload.get("train")
    if train is None:  # shipped weights: warm start, fresh optimiser
        return int(nets.model.config.extra.get("trained_steps", 0)), {}
    nets.opt.load_state_dict(train["optimizer"])
    if nets.disc is not None and "discriminator" in train:
        nets.disc.load_state_dict(train["discriminator"])
        nets.d_opt.load_state_dict(train["d_optimizer"])
        nets.g_opt_gan.load_state_dict(train["g_optimizer_gan"])
    if nets.scaler is not None and "scaler" in train:
        nets.scaler.load_state_dict(train["scaler"])
    set_rng_state(train["rng"])
    return int(train["step"]), dict(train.get("best", {}))


def resume_config(path: os.PathLike | str, overrides: dict[str, Any]) -> TrainConfig:
    """The config stored in a training checkpoint, with explicitly given values on top."""
    from .config import merge_config

    train = read_checkpoint(path).get("train")
    base = train["config"] if train else TrainConfig().to_dict()
    return TrainConfig(**merge_config(base, overrides))


def model_config_for(cfg: TrainConfig, resume: Optional[str]) -> ModelConfig:
    """Architecture from the checkpoint when resuming (never from flags), else from the preset."""
    if resume:
        return config_from_dict(read_checkpoint(resume)["config"])
    return ModelConfig.preset(cfg.preset, prefill=cfg.prefill, inputs=cfg.inputs, tile=cfg.tile, context=cfg.context)


# ---- data ---------------------------------------------------------------------------------


def build_data(cfg: TrainConfig, proc: Process, model_cfg: ModelConfig) -> tuple[torch.utils.data.Dataset, dict]:
    """The step-indexed training batches and (main process only) the fixed validation set."""
    if cfg.data_kind == "folder":
        from .folder import FolderBatches, folder_validation

        data = FolderBatches(cfg.data, cfg, model_cfg.tile, model_cfg.context, proc.rank, proc.world)
        return data, (folder_validation(data, cfg) if proc.is_main and cfg.val_every > 0 else {})
    from .data import GeneratedBatches, load_fonts, validation_batches
    from .sources import load_segments, split_train_val

    if proc.world > 1 and not proc.is_main:
        dist.barrier()  # rank 0 decodes and caches first; the others then read its cache
    segments = load_segments(cfg.data, cfg.skip, cfg.max_short, cfg.cache_dir, min_len=cfg.frames)
    if proc.world > 1 and proc.is_main:
        dist.barrier()
    train_segs, val_segs = split_train_val(segments, cfg.val_fraction, cfg.frames * cfg.max_stride)
    fonts = load_fonts(cfg.fonts, cfg.exclude_fonts)
    data = GeneratedBatches(train_segs, fonts, cfg, model_cfg.tile, model_cfg.context, proc.rank)
    val = {}
    if proc.is_main and cfg.val_every > 0:
        val = validation_batches(val_segs or train_segs, fonts, cfg, model_cfg.tile, model_cfg.context)
    return data, val


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # the trainer owns the cores; a worker only renders OSDs


def batches_from(data: torch.utils.data.Dataset, start: int, cfg: TrainConfig) -> Iterator[dict[str, torch.Tensor]]:
    """Batches for steps ``start .. cfg.steps-1``, rendered ahead by ``cfg.workers`` processes."""
    kw: dict[str, Any] = {}
    if cfg.workers > 0:
        kw = {"num_workers": cfg.workers, "worker_init_fn": _worker_init, "prefetch_factor": 2, "multiprocessing_context": "fork"}
    return iter(torch.utils.data.DataLoader(data, batch_size=None, sampler=range(start, cfg.steps), **kw))


# ---- the loop -----------------------------------------------------------------------------


@dataclass
class Clock:
    """Wall time of this session plus what earlier sessions recorded (for provenance)."""

    before_s: float = 0.0
    start: float = field(default_factory=time.time)
    last: float = field(default_factory=time.perf_counter)

    def total_s(self) -> float:
        return self.before_s + time.time() - self.start

    def lap(self) -> float:
        now = time.perf_counter()
        dt, self.last = now - self.last, now
        return dt


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr


StepHook = Callable[[int, dict[str, float]], None]


def train(cfg: TrainConfig, resume: Optional[str] = None, on_step: Optional[StepHook] = None) -> Path:
    """Train, write checkpoints and the final model; returns the final model's path.

    ``on_step(step, stats)`` is called on every process after each step (tests, notebooks).
    """
    proc = setup_process(cfg)
    try:
        return _train(cfg, resume, proc, on_step)
    finally:
        if proc.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _train(cfg: TrainConfig, resume: Optional[str], proc: Process, on_step: Optional[StepHook]) -> Path:
    run = Path(cfg.run_dir)
    seed_everything(cfg.seed, proc.rank)
    nets = build_nets(model_config_for(cfg, resume), cfg, proc)
    step, best = restore(nets, read_checkpoint(resume), proc) if resume else (0, {})
    clock = Clock(float(nets.model.config.extra.get("train_wall_s", 0.0)))
    data, val = build_data(cfg, proc, nets.model.config)
    tb = TBLogger(run / "tb" if proc.is_main else None)
    if proc.is_main:
        run.mkdir(parents=True, exist_ok=True)
        dump_toml(cfg, run / "config.toml")
        tb.text("config", "```\n" + (run / "config.toml").read_text() + "\n```", step)
        log(f"run {run} | world {proc.world} | device {proc.device} | start step {step} of {cfg.steps} | {sum(p.numel() for p in nets.model.parameters())} params", cfg)
    if proc.is_main and val and step == 0:
        report_validation(validate(nets.model, val, proc.device), step, tb, best, cfg)
    step = loop(nets, data, val, cfg, proc, run, tb, step, best, clock, on_step)
    final = run / "model.pt"
    if proc.is_main:
        stamp_provenance(nets.model, cfg, step, clock.total_s())
        save_checkpoint(final, nets.model)
        tb.close()
        log(f"done: {final}", cfg)
    return final


class Meter:
    """Means of the step statistics since the last log line (single steps are too noisy:
    every batch is a different clip and OSD)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, stats: dict[str, float]) -> None:
        for k, v in stats.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.count += 1

    def pop(self) -> dict[str, float]:
        means = {k: v / max(self.count, 1) for k, v in self.sums.items()}
        self.sums, self.count = {}, 0
        return means


class StopRequest:
    """SIGTERM/SIGINT ask the loop to finish the current step, checkpoint and return.

    So a background run can be stopped (and resumed exactly) without losing steps. Only for
    world size 1: under torchrun the launcher owns the signals.
    """

    def __init__(self, enabled: bool) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}
        if enabled and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True

    def restore(self) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def loop(nets: Nets, data: torch.utils.data.Dataset, val: dict, cfg: TrainConfig, proc: Process, run: Path, tb: TBLogger, step: int, best: dict[str, float], clock: Clock, on_step: Optional[StepHook] = None) -> int:
    """Steps ``step .. cfg.steps-1`` (fewer if stopped by a signal); returns the last step done."""
    from tqdm import tqdm

    bar = tqdm(total=cfg.steps, initial=step, disable=not (proc.is_main and cfg.progress), dynamic_ncols=True, mininterval=2.0)
    stop = StopRequest(proc.world == 1)
    meter = Meter()
    nets.model.train()
    try:
        for batch in batches_from(data, step, cfg):
            data_s = clock.lap()
            batch = to_device(batch, proc.device)
            gan = 0 <= cfg.gan_start <= step
            set_lr(nets.opt, lr_at(step, cfg))
            stats = gan_step(nets, batch, cfg, proc) if gan else l1_step(nets, batch, cfg, proc)
            step += 1
            stats.update({"lr": cfg.gan_lr if gan else nets.opt.param_groups[0]["lr"], "time/s_per_step": data_s + clock.lap(), "time/data_wait_s": data_s})
            bar.update(1)
            bar.set_postfix(l1=f"{stats['loss/l1']:.4f}", s_step=f"{stats['time/s_per_step']:.2f}", refresh=False)
            if on_step is not None:
                on_step(step, stats)
            if proc.is_main:
                meter.add(stats)
                bookkeeping(nets, batch, meter, val, cfg, proc, run, tb, step, best, clock, bar, force_ckpt=stop.requested)
            if stop.requested:
                log(f"stopped by signal after step {step}; resume with --resume {run / 'checkpoints' / 'latest.pt'}", cfg, bar)
                break
    except Exception:
        if proc.is_main and step > 0:
            rescue(run, nets, cfg, step, best, clock, bar)
        raise
    finally:
        stop.restore()
        bar.close()
    return step


def rescue(run: Path, nets: Nets, cfg: TrainConfig, step: int, best: dict[str, float], clock: Clock, bar: Any) -> None:
    """On a crash (e.g. a data worker killed from outside), keep the last completed step.

    Written as ``checkpoints/rescue.pt``, not ``latest.pt``: if the error struck inside an
    optimiser step, the state may be half-updated, so resuming from it is the user's call.
    """
    try:
        stamp_provenance(nets.model, cfg, step, clock.total_s())
        path = run / "checkpoints" / "rescue.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(path, nets.model, train=train_payload(nets, cfg, step, best))
        log(f"error after step {step}; state saved to {path} (--resume it, or the last step checkpoint)", cfg, bar)
    except Exception as exc:  # never hide the original error
        log(f"could not save a rescue checkpoint: {exc}", cfg, bar)


def bookkeeping(nets: Nets, batch: dict[str, torch.Tensor], meter: Meter, val: dict, cfg: TrainConfig, proc: Process, run: Path, tb: TBLogger, step: int, best: dict[str, float], clock: Clock, bar: Any, force_ckpt: bool = False) -> None:
    """Main process after a step: scalars, sample strips, validation, checkpoints."""
    if step % cfg.log_every == 0 or step == cfg.steps:
        stats = meter.pop()
        tb.scalars(stats, step)
        tb.layer_grad_norms(nets.model, step, histograms=cfg.hist_every > 0 and step % cfg.hist_every == 0)
        log(f"step {step} " + " ".join(f"{k.replace('loss/', '')} {v:.4g}" for k, v in stats.items()), cfg, bar)
    if cfg.image_every > 0 and step % cfg.image_every == 0:
        tb.strip(batch, infer(nets.model, batch["x"]), step)
    if val and cfg.val_every > 0 and step % cfg.val_every == 0:
        report_validation(validate(nets.model, val, proc.device), step, tb, best, cfg, bar)
    if force_ckpt or (cfg.ckpt_every > 0 and (step % cfg.ckpt_every == 0 or step == cfg.steps)):
        stamp_provenance(nets.model, cfg, step, clock.total_s())
        save_training(run, nets, cfg, step, best)
        tb.flush()


@torch.no_grad()
def infer(model: RecurrentUNet, x: torch.Tensor) -> torch.Tensor:
    """The model's output as the filter would get it (eval mode: BN running statistics untouched)."""
    was_training = model.training
    model.eval()
    y = model(x)[0]
    model.train(was_training)
    return y


def report_validation(metrics: dict[str, float], step: int, tb: TBLogger, best: dict[str, float], cfg: TrainConfig, bar: Any = None) -> None:
    """Log validation metrics and keep the best masked PSNR per mode in ``best``."""
    tb.scalars(metrics, step)
    for k, v in metrics.items():
        if k.endswith("/psnr") and v > best.get(k, -1.0):
            best[k] = v
    modes = sorted({k.split("/")[1] for k in metrics})
    parts = [f"{m}: psnr {metrics[f'val/{m}/psnr']:.3f} (fill {metrics[f'val/{m}/psnr_fill']:.3f}, {metrics[f'val/{m}/gain_db']:+.3f} dB) ssim {metrics[f'val/{m}/ssim']:.4f} (fill {metrics[f'val/{m}/ssim_fill']:.4f})" for m in modes]
    log(f"val step {step} | " + " | ".join(parts), cfg, bar)


def log(message: str, cfg: TrainConfig, bar: Any = None) -> None:
    """One line on stdout, without breaking the progress bar."""
    stamp = time.strftime("%H:%M:%S")
    if bar is not None and cfg.progress:
        bar.write(f"[{stamp}] {message}")
    else:
        print(f"[{stamp}] {message}", flush=True)


def export_model(src: os.PathLike | str, dst: os.PathLike | str, half: bool = True) -> Path:
    """Write the shipping file: the model of any checkpoint, fp16 weights, no training state."""
    from ..model.checkpoint import load_model

    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(dst, load_model(src), half=half)
    return dst
