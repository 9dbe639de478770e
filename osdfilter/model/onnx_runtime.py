"""The ONNX Runtime backend: runs an exported graph (:mod:`osdfilter.model.onnx_export`)
behind the :class:`~osdfilter.model.runners.Runner` interface, with the same output as PyTorch.

The file contract (inputs, outputs, metadata) lives here: everything the runtime needs
travels in the file's ``metadata_props`` (key ``osdfilter``, JSON): the model config
(normalisation included), format version, T and precision. No side file.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np

from ..errors import CheckpointError, OSDFilterError
from .checkpoint import config_from_dict
from .network import ModelConfig

FORMAT = "osdfilter-onnx"
VERSION = 1  # the file contract (inputs, outputs, metadata): files of another version are refused
METADATA_KEY = "osdfilter"
INPUTS = ("frames", "h0", "c0")
OUTPUTS = ("restored", "h1", "c1")
PROVIDERS = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}
PathLike = Union[str, os.PathLike]


def cache_dir() -> Path:
    """``$OSDFILTER_CACHE``, else ``$XDG_CACHE_HOME/osdfilter``, else ``~/.cache/osdfilter``."""
    if os.environ.get("OSDFILTER_CACHE"):
        return Path(os.environ["OSDFILTER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "osdfilter"  # (ONNX exports, TensorRT engines)


@dataclass(frozen=True)
class OnnxOptions:
    """ONNX Runtime settings for :class:`OnnxRunner` (copied, never mutated)."""

    provider: str = "auto"  # auto | tensorrt | cuda | cpu
    threads: int = 0  # intra-op threads; 0 = ONNX Runtime's default (all cores)

    def __post_init__(self) -> None:
        if self.provider != "auto" and self.provider not in PROVIDERS:
            raise OSDFilterError(f"unknown provider {self.provider!r}; use auto, tensorrt, cuda or cpu")


def provider_chain(provider: str, available: list[str]) -> list[str]:
    """ONNX Runtime provider names to request, best first.

    ``auto`` is CUDA then CPU: TensorRT builds an engine per input shape (minutes), so it
    runs only when asked for. An explicit provider this onnxruntime lacks is an error.
    """
    wanted = {"auto": ["cuda", "cpu"], "tensorrt": ["tensorrt", "cuda", "cpu"], "cuda": ["cuda", "cpu"], "cpu": ["cpu"]}
    if provider != "auto" and PROVIDERS[provider] not in available:
        hint = "install onnxruntime-gpu" if provider != "cpu" else "reinstall onnxruntime"
        raise OSDFilterError(f"--provider {provider}: {PROVIDERS[provider]} is not in this onnxruntime "
                             f"(available: {', '.join(available)}); {hint}")
    return [PROVIDERS[p] for p in wanted[provider] if PROVIDERS[p] in available]


class OnnxRunner:
    """Runs an exported graph with ONNX Runtime behind the :class:`~osdfilter.model.runners.Runner` interface.

    ``state`` is ``(h, c)`` as float32 numpy arrays; ``None`` means zeros. ``config`` is
    rebuilt from the file's metadata. ``provider_in_use`` is the provider the session
    actually got (onnxruntime-gpu lists CUDA without a GPU and falls back silently), and
    ``note`` says so in one line.
    """

    name = "onnx"

    def __init__(self, path: PathLike, provider: str = "auto", threads: int = 0) -> None:
        self.options = OnnxOptions(provider=provider, threads=threads)
        self.path = Path(path)
        self.session = _open_session(self.path, self.options)
        self.meta = _read_metadata(self.path, self.session)
        self.config: ModelConfig = config_from_dict(self.meta["config"])
        self.chunk: int = int(self.meta["export"]["chunk"])
        self.provider_in_use: str = self.session.get_providers()[0]
        self.note = _provider_note(self.path, self.options.provider, self.provider_in_use)

    def zero_state(self, n: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        m = self.config.multiple
        h = np.zeros((n, self.config.widths[3], -(-height // m), -(-width // m)), np.float32)
        return h, h.copy()

    def step(self, frames: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        """``frames [N, T, C, H, W]`` (C: ModelConfig.in_channels) -> ``(restored [N, T, 3, H, W], (h, c))``, any T.

        Whole slices of the graph's T go through the unrolled graph, the rest frame by
        frame through the one-frame step: same result as any other split.
        """
        N, T, C, H, W = frames.shape
        frames = np.ascontiguousarray(frames, dtype=np.float32)
        h, c = self.zero_state(N, H, W) if state is None else state
        outs = []
        t0 = 0
        while t0 < T:
            t1 = t0 + self.chunk if T - t0 >= self.chunk else t0 + 1
            y, h, c = self.session.run(list(OUTPUTS), {"frames": frames[:, t0:t1], "h0": h, "c0": c})
            outs.append(y)
            t0 = t1
        return np.concatenate(outs, axis=1), (h, c)


def _open_session(path: Path, options: OnnxOptions) -> Any:
    """An InferenceSession on the best requested provider; one-line errors for bad files."""
    import onnxruntime as ort

    if not path.is_file():
        raise CheckpointError(f"ONNX model not found: {path}")
    chain = provider_chain(options.provider, ort.get_available_providers())
    so = ort.SessionOptions()
    so.intra_op_num_threads = options.threads
    # Denormals in the LSTM state are very slow on CPU; torch flushes them too.
    so.add_session_config_entry("session.set_denormal_as_zero", "1")
    # Workers that spin between runs take the cores the decode, prefill and encode threads
    # need (the pipeline runs them concurrently); see OMP_WAIT_POLICY in osdfilter/__init__.py.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # onnxruntime-gpu logs a page of errors when CUDA libraries are missing, and prints its
    # "EP Error ... Falling back" on stdout (where a piped video goes); the provider really
    # in use is reported in one line instead (_provider_note).
    ort.set_default_logger_severity(4)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return ort.InferenceSession(str(path), so, providers=[_provider_entry(p) for p in chain])
    except Exception as exc:  # onnxruntime raises several types for foreign files
        raise CheckpointError(f"{path} is not a loadable ONNX model ({_ort_reason(exc)})") from None
    finally:
        ort.set_default_logger_severity(2)  # back to onnxruntime's default (warning)


def _ort_reason(exc: Exception) -> str:
    """The useful tail of an onnxruntime load error, on one line.

    ORT prefixes its messages with an error code, the file name and a C++ source location
    and signature; the reason ("Protobuf parsing failed.", "Unsupported model IR
    version: 14, max supported IR version: 13") comes last.
    """
    msg = " ".join(str(exc).split())
    msg = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", msg)
    msg = re.sub(r"^Load model from .*? failed:", "", msg)
    if "onnxruntime_src" in msg:
        msg = msg.rsplit(") ", 1)[-1]
    return msg.strip()[:200] or type(exc).__name__


def _provider_entry(name: str) -> Any:
    """TensorRT gets an engine cache under our cache dir: engines take minutes to build.

    CUDA gets cuDNN's heuristic convolution choice instead of its default exhaustive search,
    which benchmarks every algorithm for each new input shape: the filter sends one session
    region batches of several shapes in turn, and with the default the network crawled on
    a GPU (docs/benchmarks.md, GPU). The heuristic is the documented remedy for
    changing shapes; its speed here is not yet measured.
    """
    if name == PROVIDERS["cuda"]:
        return (name, {"cudnn_conv_algo_search": "HEURISTIC"})
    if name != PROVIDERS["tensorrt"]:
        return name
    engines = cache_dir() / "tensorrt"
    return (name, {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(engines), "trt_fp16_enable": True})


def _read_metadata(path: Path, session: Any) -> dict:
    """The osdfilter metadata, after checking the graph's inputs and outputs by name."""
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    if tuple(inputs) != INPUTS or tuple(outputs) != OUTPUTS:
        raise CheckpointError(f"{path} is not an osdfilter ONNX export (inputs {inputs}, outputs {outputs}; "
                              f"expected {list(INPUTS)} -> {list(OUTPUTS)})")
    raw = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    if raw is None:
        raise CheckpointError(f"{path} has no '{METADATA_KEY}' metadata; re-export it with `osdfilter export`")
    meta = json.loads(raw)
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: ONNX metadata format {meta.get('format')} v{meta.get('version')} "
                              f"is not supported (expected {FORMAT} v{VERSION})")
    return meta


def _provider_note(path: Path, requested: str, in_use: str) -> str:
    """One line naming the provider really in use; an explicit request that fell back is an error."""
    if requested != "auto" and in_use != PROVIDERS[requested]:
        raise OSDFilterError(f"--provider {requested}: onnxruntime fell back to {in_use} "
                             "(no GPU, or CUDA/cuDNN/TensorRT libraries missing)")
    fallback = " (CUDA unavailable)" if requested == "auto" and in_use == PROVIDERS["cpu"] else ""
    return f"onnx: {path.name} on {in_use}{fallback}"
