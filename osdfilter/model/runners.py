"""Model backends behind one interface: ``step(frames, state) -> (restored, state)``.

``frames`` is float32 ``[N, T, C, H, W]`` (RGB in [-1, 1] + mask, + candidates: ModelConfig.inputs), ``restored`` float32
``[N, T, 3, H, W]``. ``state`` is opaque to the caller: ``None`` means zeros, and whatever
``step`` returns is passed back unchanged for the next chunk. The pipeline never knows
which backend it has.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Protocol, Union

import numpy as np
import torch

from ..errors import CheckpointError, OSDFilterError, option
from .network import ModelConfig, RecurrentUNet


class Runner(Protocol):
    config: ModelConfig
    name: str

    def step(self, frames: np.ndarray, state: Any) -> tuple[np.ndarray, Any]: ...


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when available; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise OSDFilterError(f"{option('device')} cuda requested but no CUDA GPU is available to torch")
    if device not in ("cpu", "cuda"):
        raise OSDFilterError(f"unknown {option('device')} {device!r}; use auto, cpu or cuda")
    return torch.device(device)


class TorchRunner:
    """Runs a :class:`RecurrentUNet` in inference mode; state stays a pair of device tensors.

    ``half`` runs the convolutions in fp16 under autocast; the head's arithmetic and the
    returned frames stay float32. Off by default, also on CUDA: the filter's tile batches
    are small, so fp16 was slower than fp32 even on a GPU, and slower still on a CPU
    (docs/benchmarks.md, GPU).
    """

    name = "torch"

    def __init__(self, model: RecurrentUNet, device: Union[str, torch.device] = "cpu", half: bool = False) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.config = model.config
        self.half = half
        if self.device.type == "cpu":
            torch.set_flush_denormal(True)  # denormals in the LSTM state cost a lot on CPU
            # channels_last is faster on CPU here (docs/benchmarks.md, Speed).
            self.model = self.model.to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def step(self, frames: np.ndarray, state: Optional[Any]) -> tuple[np.ndarray, Any]:
        x = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).to(self.device)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.half):
            y, state = self.model(x, state)
        return y.float().cpu().numpy(), state


class IdentityRunner:
    """Returns the (pre-filled) input RGB: the pipeline's cost without a network (benchmarks)."""

    name = "identity"

    def __init__(self, config: Optional[ModelConfig] = None) -> None:
        self.config = config or ModelConfig()

    def step(self, frames: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        return np.ascontiguousarray(frames[:, :, :3], dtype=np.float32), state


# A model as the API accepts it: a checkpoint path, a built network, a ready runner,
# FILL_ONLY, or None for the packaged default.
ModelSpec = Union[None, str, "os.PathLike[str]", RecurrentUNet, Runner]

DEFAULT_MODEL = "weights/default.pt"  # inside the osdfilter package
FILL_ONLY = "fill"  # no network: the default model's classical fill alone (--fast)


def fill_runner() -> IdentityRunner:
    """The classical fill the default model starts from, without the network (``--fast``):
    background carried from earlier frames, a normalized-convolution fill where no frame showed it."""
    runner = IdentityRunner(ModelConfig(prefill="temporal"))
    runner.name = "fill"
    return runner


def make_runner(model: ModelSpec = None, backend: str = "auto", device: str = "auto", provider: str = "auto",
                log: Optional[Callable[[str], None]] = None) -> Runner:
    """The backend that runs ``model``: ``torch`` (checkpoint) or ``onnx`` (exported graph).

    A ``Runner`` instance is returned as is; ``FILL_ONLY`` (``"fill"``) gives the fill
    without a network, whatever the backend. The ONNX backend is imported lazily so that
    onnxruntime stays optional. A checkpoint's first run on ONNX Runtime exports it (seconds)
    and says so in one line through ``log`` (stderr by default; :func:`quiet_log` drops it).
    """
    if hasattr(model, "step") and hasattr(model, "config"):
        return model  # type: ignore[return-value]
    if isinstance(model, str) and model == FILL_ONLY:
        return fill_runner()
    if backend == "auto":
        backend = auto_backend(model, device)
        # ONNX Runtime on the device asked for; an .onnx model on a CUDA machine keeps
        # provider auto (CUDA first).
        if backend == "onnx" and provider == "auto" and resolve_device(device).type == "cpu":
            provider = "cpu"
    if backend == "onnx":
        if device != "auto":
            # An explicit device is a promise: CUDA (or the CPU) or a one-line refusal, never
            # a silent fall-back (resolve_device refuses cuda without a GPU, as for torch).
            resolve_device(device)
            if provider == "auto":
                provider = "cuda" if device == "cuda" else "cpu"
            elif (device == "cpu") != (provider == "cpu"):
                raise OSDFilterError(f"{option('device')} {device} contradicts {option('provider')} {provider}")
        return _onnx_runner(model, provider, log)
    if backend != "torch":
        raise OSDFilterError(f"unknown {option('backend')} {backend!r}; use auto, torch or onnx")
    dev = resolve_device(device)
    if isinstance(model, RecurrentUNet):
        return TorchRunner(model, dev)
    if model is None:
        return TorchRunner(_load_default_model(dev), dev)
    from .checkpoint import load_model

    return TorchRunner(load_model(model, dev), dev)


def is_onnx_path(model: Any) -> bool:
    """Whether a model file is an exported graph (``.onnx``, any case); else a checkpoint."""
    return isinstance(model, (str, os.PathLike)) and Path(model).suffix.lower() == ".onnx"


def quiet_log(line: str) -> None:
    """A ``log`` for :func:`make_runner` that drops the line (``--quiet`` runs)."""


def auto_backend(model: ModelSpec, device: str) -> str:
    """``--backend auto``: ONNX Runtime on a CPU, PyTorch on CUDA.

    ONNX Runtime is faster than PyTorch end to end on a CPU (docs/benchmarks.md, Speed).
    On a GPU, PyTorch needs no CUDA libraries beyond its own.
    An in-memory network stays in PyTorch; an ``.onnx`` file needs ONNX Runtime.
    """
    if isinstance(model, RecurrentUNet):
        return "torch"
    if model is not None and is_onnx_path(model):
        return "onnx"
    if resolve_device(device).type == "cuda":
        return "torch"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "torch"
    return "onnx"


def _onnx_runner(model: ModelSpec, provider: str, log: Optional[Callable[[str], None]] = None) -> Runner:
    """An ``.onnx`` file runs as is; a checkpoint (or the packaged default) is exported once
    and cached (export/README.md), so ``--backend onnx`` works without a separate export."""
    if isinstance(model, RecurrentUNet):
        raise OSDFilterError(f"{option('backend')} onnx needs a model file (.onnx or .pt), not an in-memory model")
    try:
        from .onnx_export import runner_for_checkpoint
        from .onnx_runtime import OnnxRunner
    except ImportError as exc:
        raise OSDFilterError(f"the onnx backend is not available ({exc}); install onnxruntime") from None
    if model is None:
        with _default_model_path() as path:
            return runner_for_checkpoint(path, provider, log=log)
    if is_onnx_path(model):
        return OnnxRunner(model, provider)
    return runner_for_checkpoint(model, provider, log=log)  # a checkpoint (.pt, .pth, ...)


@contextmanager
def _default_model_path() -> Iterator[Path]:
    """The packaged default model, ``osdfilter/weights/default.pt``, as a file path."""
    from importlib.resources import as_file, files

    ref = files("osdfilter").joinpath(DEFAULT_MODEL)
    if not ref.is_file():
        raise CheckpointError(f"no packaged default model (osdfilter/{DEFAULT_MODEL}) in this install; pass --model PATH")
    with as_file(ref) as path:
        yield path


def _load_default_model(device: torch.device) -> RecurrentUNet:
    """The packaged default model, loaded for torch."""
    from .checkpoint import load_model

    with _default_model_path() as path:
        return load_model(path, device)
