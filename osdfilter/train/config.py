"""Training configuration: one flat dataclass, filled from defaults < TOML file < flags.

The whole config is saved as ``config.toml`` in the run folder and inside every training
checkpoint, so a run can be resumed or reproduced from either.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional, Union

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

PathLike = Union[str, os.PathLike]


@dataclass
class TrainConfig:
    """Everything a training run depends on. Field comments say why a default was chosen."""

    # --- data ---------------------------------------------------------------------------
    data: list[str] = field(default_factory=list)  # folders of clean videos / frame folders
    data_kind: str = "generated"  # "generated" (overlay on the fly) or "folder" (synth layout)
    # "file.webm:20.3-23.0" drops seconds 20.3-23.0 of file.webm; "file.webm:24.75-" to the end.
    skip: list[str] = field(default_factory=list)
    fonts: Optional[str] = None  # OSD font folder; None = the built-in renderer only
    exclude_fonts: list[str] = field(default_factory=list)  # font sub-folders never trained on
    builtin_font_prob: float = 0.3  # share of clips drawn with the built-in renderer
    max_short: int = 480  # frames are cached with at most this short side (854x480 for 16:9)
    cache_dir: str = "/tmp/osdfilter-cache"  # decoded frames (.npy, memory-mapped)
    val_fraction: float = 0.15  # tail of every source segment held out for validation
    frames: int = 5  # T: frames per training clip (the ConvLSTM unrolls over them)
    batch: int = 8  # B per process
    crop: int = 96  # the filter's tile crop (tile 64 + 2 x context 16): train as we infer
    context: int = 16  # tile context margin; the tile core is crop - 2 x context (saved in the model)
    max_stride: int = 2  # temporal stride drawn from 1..max_stride
    scale_range: tuple[float, float] = (0.6, 1.4)  # random zoom of the source before cropping
    still_prob: float = 0.3  # share of clips made by synthetic camera motion over one frame
    # Share of clips whose OSD grid has half the rows and columns: glyphs twice as tall, as a
    # 1080p HD OSD's (36x54 cells, thick strokes and solid icons) is next to a 540-row canvas's.
    big_osd_prob: float = 0.0
    camera: dict[str, float] = field(default_factory=lambda: {"fast": 1.0})  # those clips' camera kinds and weights (train.motion.CAMERA_SPEED)
    mask_modes: dict[str, float] = field(default_factory=lambda: {"exact": 0.4, "box": 0.4, "union": 0.2})
    centre_prob: float = 0.9  # share of crops centred on an overlay pixel (loss lives there)
    dilate: int = 2  # must equal FilterConfig.dilate: the model sees the inference mask
    feather: float = 1.5  # must equal FilterConfig.feather: the composite the loss is taken on

    # --- model --------------------------------------------------------------------------
    preset: str = "tiny"  # widths preset (osdfilter.model.network.PRESETS)
    prefill: str = "telea"  # classical fill inside the mask (osdfilter.filter.fill; "temporal" fills whole frames)
    temporal_warmup: int = 4  # temporal prefill: up to this many frames of fill history before a clip
    inputs: str = "fill"  # model input: "fill" (RGB + mask) or "candidates" (+ the fill's candidates; needs prefill "temporal")

    # --- optimisation -------------------------------------------------------------------
    steps: int = 10_000
    lr: float = 1e-3
    lr_min: float = 1e-5  # cosine schedule floor
    warmup: int = 200  # linear warm-up steps
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    mask_weight: float = 1.0  # L1 on the composite, normalised over mask pixels
    outside_weight: float = 0.05  # L1 on the raw output everywhere (keeps it near identity)
    glyph_weight: float = 0.0  # extra L1 weight on the OSD's own pixels (a model keeping recorded pixels leaves ghosts there)
    temporal_weight: float = 0.0  # L1 of the composite's frame-to-frame change against the clean one's (flicker)

    # --- GAN stage (the write-up's 3D-conv patch discriminator) --------------------------
    gan_start: int = -1  # step at which the adversarial stage starts; -1 = never
    gan_l1_weight: float = 100.0  # generator loss = adversarial + 100 x L1 (write-up)
    d_lr: float = 2e-4
    gan_lr: float = 2e-4
    gan_betas: tuple[float, float] = (0.5, 0.999)
    d_widths: tuple[int, int, int, int] = (64, 128, 256, 512)  # the write-up's widths

    # --- bookkeeping --------------------------------------------------------------------
    run_dir: str = "runs/default"
    seed: int = 0
    device: str = "auto"  # auto / cpu / cuda
    amp: bool = True  # mixed precision on CUDA only (bf16 autocast is much slower on a CPU)
    threads: int = 0  # torch CPU threads; 0 = leave torch's default
    workers: int = 1  # DataLoader processes rendering batches while the model trains (0 = inline)
    channels_last: bool = False  # not faster for training here (docs/benchmarks.md, Training)
    log_every: int = 10
    image_every: int = 500
    hist_every: int = 0  # gradient histograms (0 = off; they are slow)
    ckpt_every: int = 500
    keep_checkpoints: int = 3  # older step checkpoints are deleted
    val_every: int = 500
    val_clips: int = 48
    val_seed: int = 12345
    progress: bool = True

    def __post_init__(self) -> None:
        self.scale_range = tuple(float(v) for v in self.scale_range)  # type: ignore[assignment]
        self.gan_betas = tuple(float(v) for v in self.gan_betas)  # type: ignore[assignment]
        self.d_widths = tuple(int(v) for v in self.d_widths)  # type: ignore[assignment]
        checks = {
            "frames": self.frames >= 1,
            "batch": self.batch >= 1,
            "crop": self.crop >= 16 and self.crop % 8 == 0,
            "context": self.context >= 0 and self.context % 8 == 0 and self.crop - 2 * self.context >= 8,
            "steps": self.steps >= 0,
            "data_kind": self.data_kind in ("generated", "folder"),
            "max_stride": self.max_stride >= 1,
            "mask_modes": bool(self.mask_modes) and set(self.mask_modes) <= {"exact", "box", "union"},
            "camera": bool(self.camera) and set(self.camera) <= {"still", "drift", "fast"},
            "inputs": self.inputs == "fill" or (self.inputs == "candidates" and self.prefill == "temporal"),
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid training config value(s): " + ", ".join(f"{k}={getattr(self, k)!r}" for k in bad))

    @property
    def tile(self) -> int:
        """Tile core size: the only pixels of a crop the filter keeps."""
        return self.crop - 2 * self.context

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d


def config_fields() -> set[str]:
    return {f.name for f in fields(TrainConfig)}


def merge_config(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated with the non-None ``overrides``; unknown keys are an error naming them."""
    unknown = sorted(set(overrides) - config_fields())
    if unknown:
        raise ValueError(f"unknown training option(s): {unknown}")
    out = dict(base)
    out.update({k: v for k, v in overrides.items() if v is not None})
    return out


def load_toml(path: PathLike) -> dict[str, Any]:
    """Read a TOML config; keys may sit at the top level or under a ``[train]`` table."""
    with open(path, "rb") as fh:
        d = tomllib.load(fh)
    d = d.get("train", d)
    unknown = sorted(set(d) - config_fields())
    if unknown:
        raise ValueError(f"{path}: unknown training option(s) {unknown}")
    return d


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def dump_toml(config: TrainConfig, path: PathLike) -> None:
    """Write ``config`` as a ``[train]`` table that :func:`load_toml` reads back unchanged."""
    lines = ["# osdfilter training config (written by the trainer; edit and pass with --config)", "[train]"]
    for k, v in config.to_dict().items():
        if v is None:
            lines.append(f"# {k} = (unset)")
        else:
            lines.append(f"{k} = {_toml_value(v)}")
    Path(path).write_text("\n".join(lines) + "\n")


def build_config(toml_path: Optional[PathLike] = None, **overrides: Any) -> TrainConfig:
    """Defaults < TOML file < explicit overrides (None means "not given")."""
    d = TrainConfig().to_dict()
    if toml_path is not None:
        d = merge_config(d, load_toml(toml_path))
    return TrainConfig(**merge_config(d, overrides))
