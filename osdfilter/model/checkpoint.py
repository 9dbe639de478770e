"""Self-describing checkpoints: one file holds the model config and the weights.

A checkpoint is a ``torch.save`` dict ``{"format", "version", "config", "state_dict", ...}``,
loaded with ``weights_only=True`` so a file can never run code. Training checkpoints add
optimiser/scheduler/step/RNG entries under ``"train"``; ``load_model`` ignores them.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Optional, Union

import torch

from ..errors import CheckpointError
from .network import ModelConfig, RecurrentUNet

FORMAT = "osdfilter-checkpoint"
VERSION = 1
PathLike = Union[str, os.PathLike]


def save_checkpoint(
    path: PathLike,
    model: RecurrentUNet,
    *,
    half: bool = False,
    train: Optional[dict[str, Any]] = None,
) -> None:
    """Write ``model`` (unwrapped, from before DDP/compile) and its config to ``path`` atomically.

    ``half=True`` stores float weights as fp16 (shipping size); they load back as fp32.
    """
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone() for k, v in model.state_dict().items()}
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_dict(),
        "state_dict": state,
    }
    if train is not None:
        payload["train"] = train
    path = Path(path)
    if path.is_dir() or not path.resolve().parent.is_dir():
        raise CheckpointError(f"cannot write a checkpoint to {path}: " + ("it is a folder" if path.is_dir() else "its folder does not exist"))
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # (after a failed save: no stray file)


def read_checkpoint(path: PathLike) -> dict[str, Any]:
    """Load and validate a checkpoint dict; raise CheckpointError with one line otherwise."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"model file not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"model path is not a file: {path}")
    try:
        # A foreign file can make torch warn on its way to failing ("Detected pickle protocol
        # 141"): the user gets our one line below, not a warning with its source line.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)  # plain tensors/dicts only: never runs code
    except Exception as exc:  # torch raises many types for foreign files
        raise CheckpointError(f"{path} is not an osdfilter checkpoint ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an osdfilter checkpoint (no '{FORMAT}' header)")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {payload.get('version')} is not supported (expected {VERSION})")
    return payload


def config_from_dict(d: dict[str, Any]) -> ModelConfig:
    known = set(ModelConfig.__dataclass_fields__)
    unknown = sorted(set(d) - known)
    if unknown:
        raise CheckpointError(f"checkpoint config has unknown fields {unknown}; upgrade osdfilter")
    return ModelConfig(**d)


def load_model(path: PathLike, device: Union[str, torch.device] = "cpu") -> RecurrentUNet:
    """Rebuild the model from a checkpoint file alone, in eval mode, fp32."""
    payload = read_checkpoint(path)
    config = config_from_dict(payload["config"])
    model = RecurrentUNet(config)
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in payload["state_dict"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"{path}: weights do not match the stored config ({first})") from None
    return model.to(device).eval()
