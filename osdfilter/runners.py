"""Model backends behind one interface: ``step(frames, state) -> (restored, state)``.

``frames`` is float32 ``[N, T, 4, H, W]`` (RGB in [-1, 1] + mask), ``restored`` float32
``[N, T, 3, H, W]``. ``state`` is opaque to the caller: ``None`` means zeros, and whatever
``step`` returns is passed back unchanged for the next chunk. The pipeline never knows
which backend it has.
"""

from __future__ import annotations

from typing import Any, Optional, Protocol, Union

import numpy as np
import torch

from .model import ModelConfig, RecurrentUNet


class Runner(Protocol):
    config: ModelConfig
    name: str

    def step(self, frames: np.ndarray, state: Any) -> tuple[np.ndarray, Any]: ...


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when available; ``cuda`` without a GPU is an error."""
    from .errors import OSDFilterError

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise OSDFilterError("--device cuda requested but no CUDA GPU is available to torch")
    if device not in ("cpu", "cuda"):
        raise OSDFilterError(f"unknown device {device!r}; use auto, cpu or cuda")
    return torch.device(device)


class TorchRunner:
    """Runs a :class:`RecurrentUNet` in inference mode; state stays a pair of device tensors."""

    name = "torch"

    def __init__(self, model: RecurrentUNet, device: Union[str, torch.device] = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.config = model.config
        if self.device.type == "cpu":
            torch.set_flush_denormal(True)  # denormals in the LSTM state cost a lot on CPU (FINDINGS)
            # channels_last measured ~1.2-1.4x faster on CPU here (small/tiny presets, 96x96 tiles).
            self.model = self.model.to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def step(self, frames: np.ndarray, state: Optional[Any]) -> tuple[np.ndarray, Any]:
        x = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).to(self.device)
        y, state = self.model(x, state)
        return y.float().cpu().numpy(), state


class IdentityRunner:
    """Returns the (pre-filled) input RGB: the pipeline's cost without a network (benchmarks)."""

    name = "identity"

    def __init__(self, config: Optional[ModelConfig] = None) -> None:
        self.config = config or ModelConfig()

    def step(self, frames: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        return np.ascontiguousarray(frames[:, :, :3], dtype=np.float32), state
