"""ONNX export of the recurrent U-Net, and the ONNX Runtime backend that matches PyTorch.

The graph has the model's own stateless signature, with the state as named tensors::

    frames [N, T, 4, H, W] float32, h0 [N, C, ceil(H/8), ceil(W/8)], c0 (same)
      -> restored [N, T, 3, H, W] float32, h1, c1

N, H and W are dynamic; T is fixed at export (the model's loop over T unrolls when
traced; a dynamic T would silently run the traced length). A file exported with T=K > 1
holds the unrolled K-frame graph and a one-frame step behind an ``If`` on the input's T;
:class:`OnnxRunner` sends whole K-frame slices to the first and any rest frame by frame
to the second, so the output never depends on chunking. The default K=8 (the pipeline's
chunk) measured 1.04-1.4x faster than per-frame calls with 2 CPU threads; figures in
export/README.md.

Everything the runtime needs travels in the file's ``metadata_props`` (key
``osdfilter``, JSON): the model config (normalisation included), format version, T and
precision. No side file.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import sys
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

import click
import numpy as np

from .checkpoint import config_from_dict
from .errors import CheckpointError, OSDFilterError
from .model import ModelConfig

FORMAT = "osdfilter-onnx"
VERSION = 1  # the file contract (inputs, outputs, metadata): files of another version are refused
GRAPH = 3  # the exported graph for the same weights: bump when export changes it (re-exports caches)
METADATA_KEY = "osdfilter"
INPUTS = ("frames", "h0", "c0")
OUTPUTS = ("restored", "h1", "c1")
EXPORTERS = ("torchscript", "dynamo")
PROVIDERS = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}
# Parity limits for the export check: fp32 must match PyTorch to float rounding.
PARITY_LIMIT = {False: 1e-4, True: 2e-2}
PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class ExportConfig:
    """How a model becomes an ONNX graph; stored in the file's metadata."""

    chunk: int = 8  # frames per unrolled graph call (T); 1 = one-frame step only
    fp16: bool = False  # fp16 weights and compute inside; inputs and outputs stay float32
    opset: int = 18
    exporter: str = "torchscript"  # or "dynamo" (needs onnxscript; ~50x slower to export here)

    def __post_init__(self) -> None:
        if self.chunk < 1:
            raise OSDFilterError(f"chunk must be >= 1, got {self.chunk}")
        if self.opset < 18:
            raise OSDFilterError(f"opset must be >= 18, got {self.opset}")
        if self.exporter not in EXPORTERS:
            raise OSDFilterError(f"exporter must be one of {EXPORTERS}, got {self.exporter!r}")


# --------------------------------------------------------------------------- export


def export_onnx(
    model_or_path: Any,
    out_path: PathLike,
    chunk: int = 8,
    fp16: bool = False,
    opset: int = 18,
    *,
    exporter: str = "torchscript",
    log: Optional[Callable[[str], None]] = None,
) -> Path:
    """Export a :class:`RecurrentUNet` (or a checkpoint path) to ``out_path``; returns the path.

    Writes the metadata, runs ``onnx.checker``, then a parity run against PyTorch
    (printed through ``log``, stderr by default); a parity failure is an error.
    """
    cfg = ExportConfig(chunk=chunk, fp16=fp16, opset=opset, exporter=exporter)
    log = log or (lambda line: print(line, file=sys.stderr))
    model, source = _load_source(model_or_path)
    out_path = Path(out_path)
    # Unique per process: two first uses of the cache may export the same file at once.
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    limit = PARITY_LIMIT[cfg.fp16]
    try:
        _trace(model, tmp, cfg)
        _finish(tmp, _metadata(model.config, cfg, source))
        diff = parity_max_abs_diff(model, tmp)
        log(f"onnx: {out_path} (T={cfg.chunk}, {'fp16' if fp16 else 'fp32'}, opset {opset}); "
            f"parity vs PyTorch over 3 calls with state carried: max abs diff {diff:.3g} (limit {limit:g})")
        if not diff <= limit:
            raise OSDFilterError(f"{out_path}: ONNX output differs from PyTorch by {diff:.3g} (> {limit:g}); not written")
        # Only a checked graph gets the real name (the cache trusts any file it finds).
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return out_path


def _load_source(model_or_path: Any) -> tuple[Any, dict]:
    """An eval-mode copy of the model (export toggles train mode) and where it came from."""
    from .checkpoint import load_model
    from .model import RecurrentUNet

    if isinstance(model_or_path, RecurrentUNet):
        return copy.deepcopy(model_or_path).cpu().float().eval(), {}
    path = Path(model_or_path)
    model = load_model(path)
    return model, {"checkpoint": path.name, "sha256": file_sha256(path)}


def file_sha256(path: PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _step_module(model: Any, fp16: bool) -> Any:
    """The graph's body: pad H, W to the model's multiple, run the model, crop back.

    Padding here, with sizes read from the input's shape, keeps H and W dynamic: the
    model's own ``if ph or pw`` is a Python branch that tracing would freeze to the
    example's size. Replicate padding is the model's, so the result is identical.
    """
    import torch
    import torch.nn.functional as F

    class OnnxStep(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = copy.deepcopy(model).half() if fp16 else model

        def forward(self, frames: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor):
            N, T, C, H, W = frames.shape
            m = self.model.config.multiple
            ph, pw = (m - H % m) % m, (m - W % m) % m
            x = F.pad(frames.reshape(N * T, C, H, W), (0, pw, 0, ph), mode="replicate")
            x = x.reshape(N, T, C, H + ph, W + pw)
            dtype = torch.float16 if fp16 else torch.float32
            y, (h1, c1) = self.model(x.to(dtype), (h0.to(dtype), c0.to(dtype)))
            return y[..., :H, :W].float(), h1.float(), c1.float()

    return OnnxStep().eval()


def _example_inputs(config: ModelConfig, chunk: int, size: int = 96, n: int = 2, seed: int = 0) -> list[np.ndarray]:
    """Plausible model input: RGB in [-1, 1], a {0, 1} mask, zero state."""
    rng = np.random.default_rng(seed)
    frames = rng.uniform(-1, 1, (n, chunk, config.in_channels, size, size)).astype(np.float32)
    frames[:, :, 3] = rng.uniform(0, 1, (n, chunk, size, size)) < 0.3
    h0 = np.zeros((n, config.widths[3], size // config.multiple, size // config.multiple), np.float32)
    return [frames, h0, h0.copy()]


def _trace(model: Any, out_path: Path, cfg: ExportConfig) -> None:
    """Write the graph for ``cfg.chunk``: the one-frame step, or for T=K > 1 both graphs.

    A T=K file holds the unrolled K-frame graph and the one-frame step behind an ``If`` on
    the input's T, so a chunk of any length runs as K-frame calls plus one-frame calls for
    the rest: the output never depends on how frames were chunked.
    """
    import onnx

    if cfg.chunk == 1:
        _trace_fixed_t(model, out_path, cfg, 1)
        return
    parts = [out_path.with_name(f"{out_path.name}.T{t}") for t in (1, cfg.chunk)]
    try:
        for part, t in zip(parts, (1, cfg.chunk)):
            _trace_fixed_t(model, part, cfg, t)
        merged = _select_by_length(onnx.load(str(parts[0])), onnx.load(str(parts[1])))
        onnx.save(merged, str(out_path))
    finally:
        for part in parts:
            part.unlink(missing_ok=True)


def _trace_fixed_t(model: Any, out_path: Path, cfg: ExportConfig, chunk: int) -> None:
    import torch

    step = _step_module(model, cfg.fp16)
    args = tuple(torch.from_numpy(a) for a in _example_inputs(model.config, chunk))
    with warnings.catch_warnings():
        # TracerWarnings about the model's pad branch are expected: _step_module pads first.
        warnings.simplefilter("ignore")
        if cfg.exporter == "dynamo":
            _export_dynamo(step, args, out_path, cfg.opset)
        else:
            _export_torchscript(step, args, out_path, cfg.opset)


def _select_by_length(step: Any, unrolled: Any) -> Any:
    """One model: ``If(T == 1)`` runs the one-frame ``step`` graph, else the ``unrolled`` one."""
    import onnx
    from onnx import helper

    g = unrolled.graph
    nodes = [
        helper.make_node("Shape", ["frames"], ["osd/shape"]),
        helper.make_node("Gather", ["osd/shape", "osd/t_axis"], ["osd/t"], axis=0),
        helper.make_node("Equal", ["osd/t", "osd/one"], ["osd/is_step"]),
        helper.make_node("If", ["osd/is_step"], list(OUTPUTS), then_branch=_as_branch(step.graph, "step/"),
                         else_branch=_as_branch(g, "unrolled/")),
    ]
    consts = [helper.make_tensor("osd/t_axis", onnx.TensorProto.INT64, [], [1]),
              helper.make_tensor("osd/one", onnx.TensorProto.INT64, [], [1])]
    inputs, outputs = [copy.deepcopy(v) for v in g.input], [copy.deepcopy(v) for v in g.output]
    for v in (inputs[0], outputs[0]):  # frames / restored: T is 1 or K now
        v.type.tensor_type.shape.dim[1].dim_param = "T"
    graph = helper.make_graph(nodes, "osdfilter", inputs, outputs, initializer=consts)
    merged = helper.make_model(graph, opset_imports=list(unrolled.opset_import), ir_version=unrolled.ir_version)
    merged.functions.extend(unrolled.functions)
    merged.functions.extend(f for f in step.functions if (f.domain, f.name) not in {(u.domain, u.name) for u in unrolled.functions})
    return merged


def _as_branch(graph: Any, prefix: str) -> Any:
    """``graph`` as an If branch: no inputs (it reads frames/h0/c0 from the outer scope),
    every other name prefixed so the two branches cannot collide."""
    from onnx import helper

    def rename(name: str) -> str:
        return name if name in INPUTS or not name else prefix + name

    nodes = []
    for node in graph.node:
        node = copy.deepcopy(node)
        node.input[:] = [rename(n) for n in node.input]
        node.output[:] = [rename(n) for n in node.output]
        node.name = prefix + node.name
        nodes.append(node)
    inits = [copy.deepcopy(t) for t in graph.initializer]
    for t in inits:
        t.name = rename(t.name)
    outputs = [helper.make_tensor_value_info(rename(o.name), o.type.tensor_type.elem_type, None) for o in graph.output]
    return helper.make_graph(nodes, prefix.strip("/"), [], outputs, initializer=inits)


def _export_torchscript(step: Any, args: tuple, out_path: Path, opset: int) -> None:
    """The TorchScript exporter: ~1 s, no extra packages; deprecated upstream but in torch 2.3-2.13."""
    import torch

    dims = {"frames": {0: "N", 3: "H", 4: "W"}, "restored": {0: "N", 3: "H", 4: "W"}}
    dims.update({k: {0: "N", 2: "H8", 3: "W8"} for k in ("h0", "c0", "h1", "c1")})
    torch.onnx.export(step, args, str(out_path), dynamo=False, opset_version=opset,
                      input_names=list(INPUTS), output_names=list(OUTPUTS), dynamic_axes=dims)


def _export_dynamo(step: Any, args: tuple, out_path: Path, opset: int) -> None:
    """The torch.export-based exporter (needs ``onnxscript``); same graph contract."""
    import importlib.util

    import torch
    from torch.export import Dim

    if importlib.util.find_spec("onnxscript") is None:
        raise OSDFilterError("exporter 'dynamo' needs onnxscript: pip install onnxscript")
    n = Dim("N", min=1, max=65536)
    state = {0: n, 2: Dim.DYNAMIC, 3: Dim.DYNAMIC}
    program = torch.onnx.export(step, args, dynamo=True, opset_version=opset, verbose=False,
                                input_names=list(INPUTS), output_names=list(OUTPUTS),
                                dynamic_shapes=({0: n, 3: Dim.DYNAMIC, 4: Dim.DYNAMIC}, state, state))
    program.save(str(out_path), external_data=False)


def _metadata(config: ModelConfig, cfg: ExportConfig, source: dict) -> dict:
    import torch

    return {
        "format": FORMAT,
        "version": VERSION,
        "config": config.to_dict(),
        "normalisation": config.normalisation,
        "export": asdict(cfg),
        "state_channels": config.widths[3],
        "multiple": config.multiple,
        "torch": torch.__version__,
        "source": source,
    }


def _finish(path: Path, meta: dict) -> None:
    """Store the metadata in the file, then validate it with onnx.checker."""
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta, sort_keys=True)
    proto.producer_name = "osdfilter"
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))


def parity_max_abs_diff(model: Any, onnx_path: PathLike, size: int = 96, calls: int = 3) -> float:
    """Max |torch - ORT| of the output over ``calls`` graph calls with the state carried
    (CPU; ``model`` in eval mode; with T > 1 a last one-frame call too): a state the graph
    passes on wrong shows in the next call's output.

    The state itself is not compared: the LSTM cell state is unbounded (up to ~25 in the
    default model), and an fp16 graph holds it at fp16's resolution (2^-6 between 16 and
    32), so its difference says little of the output's (the default model's fp16 export:
    output 4e-4, c 0.029, h 0.018).
    """
    import torch

    runner = OnnxRunner(onnx_path, provider="cpu")
    T = runner.chunk
    # calls of T frames, and with T > 1 a short last call too, to run the one-frame branch.
    frames = _example_inputs(model.config, calls * T + (T > 1), size=size, seed=1)[0]
    with torch.inference_mode():
        ref, _ = model(torch.from_numpy(frames))
    state = None
    diff = 0.0
    for t0 in range(0, frames.shape[1], T):
        y, state = runner.step(frames[:, t0:t0 + T], state)
        diff = max(diff, float(np.abs(y - ref[:, t0:t0 + T].numpy()).max()))
    return diff


# --------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    """``$OSDFILTER_CACHE``, else ``$XDG_CACHE_HOME/osdfilter``, else ``~/.cache/osdfilter``."""
    if os.environ.get("OSDFILTER_CACHE"):
        return Path(os.environ["OSDFILTER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "osdfilter"


def cached_onnx_path(checkpoint: PathLike, chunk: int = 8, fp16: bool = False, opset: int = 18) -> Path:
    """Where the export of ``checkpoint`` with these settings is cached.

    The name holds everything that makes a cached graph stale: the weights' hash, T,
    precision, opset, this module's format version and the exporting torch version.
    """
    import torch

    digest = file_sha256(checkpoint)[:16]
    torch_version = torch.__version__.split("+")[0]
    name = f"{digest}-T{chunk}-{'fp16' if fp16 else 'fp32'}-op{opset}-v{VERSION}g{GRAPH}-torch{torch_version}.onnx"
    return cache_dir() / name


def onnx_for_checkpoint(checkpoint: PathLike, chunk: int = 8, fp16: bool = False, opset: int = 18,
                        log: Optional[Callable[[str], None]] = None) -> Path:
    """The ONNX graph for ``checkpoint``, exported on first use and cached (see export/README.md);
    the export's one-line note goes to ``log`` (stderr by default)."""
    path = cached_onnx_path(checkpoint, chunk, fp16, opset)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        # export_onnx is atomic (per-process temporary file, renamed after its parity check).
        export_onnx(checkpoint, path, chunk=chunk, fp16=fp16, opset=opset, log=log)
    return path


# --------------------------------------------------------------------------- runtime


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
    """Runs an exported graph with ONNX Runtime behind the :class:`~osdfilter.runners.Runner` interface.

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

    @classmethod
    def from_checkpoint(cls, checkpoint: PathLike, provider: str = "auto", threads: int = 0, chunk: int = 8,
                        log: Optional[Callable[[str], None]] = None) -> "OnnxRunner":
        """Runner for a ``.pt`` checkpoint: its export, made on first use and cached
        (export/README.md); with no writable cache, exported to a temporary folder (the
        session holds the graph once created). An export's one-line note goes to ``log``
        (stderr by default)."""
        try:
            path = onnx_for_checkpoint(checkpoint, chunk=chunk, log=log)
        except OSError:
            with tempfile.TemporaryDirectory(prefix="osdfilter-onnx-") as tmp:
                path = Path(tmp) / "model.onnx"
                export_onnx(checkpoint, path, chunk=chunk, log=log)
                return cls(path, provider=provider, threads=threads)
        return cls(path, provider=provider, threads=threads)

    def zero_state(self, n: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        m = self.config.multiple
        h = np.zeros((n, self.config.widths[3], -(-height // m), -(-width // m)), np.float32)
        return h, h.copy()

    def step(self, frames: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        """``frames [N, T, 4, H, W]`` -> ``(restored [N, T, 3, H, W], (h, c))``, any T.

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
    # Denormals in the LSTM state are very slow on CPU (FINDINGS.md); torch flushes them too.
    so.add_session_config_entry("session.set_denormal_as_zero", "1")
    # Workers that spin between runs take the cores the decode, prefill and encode threads
    # need (the pipeline runs them concurrently); see OMP_WAIT_POLICY in osdfilter/__init__.py.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if options.provider == "auto":
        # onnxruntime-gpu logs a page of errors when CUDA libraries are missing; we report in one line.
        ort.set_default_logger_severity(4)
    try:
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
    region batches of several shapes in turn, and with the default the network ran at 1.3
    frames/s at 1080p on an H200 (ONNX Runtime 1.31.1, fp16 graph; PyTorch 216;
    benchmarks/gpu_check.sh, 2026-11-26). The heuristic is the documented remedy for
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


# --------------------------------------------------------------------------- CLI


@click.command("export")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False, writable=True))
@click.option("--chunk", "-T", type=click.IntRange(min=1), default=8, show_default=True,
              help="Frames per unrolled graph call (T). Shorter chunks run a one-frame step in the same file.")
@click.option("--fp16", is_flag=True, help="fp16 weights and compute inside the graph (inputs/outputs stay fp32).")
@click.option("--opset", type=click.IntRange(min=18), default=18, show_default=True, help="ONNX opset.")
@click.option("--exporter", type=click.Choice(EXPORTERS), default="torchscript", show_default=True,
              help="torch.onnx exporter; dynamo needs onnxscript.")
@click.option("-y", "--overwrite", is_flag=True, help="Replace OUT if it exists.")
def export_cmd(model: str, out: str, chunk: int, fp16: bool, opset: int, exporter: str, overwrite: bool) -> None:
    """Export checkpoint MODEL to OUT (ONNX with h0/c0 state inputs), then check parity with PyTorch."""
    from .stream import check_paths

    check_paths(model, out, overwrite)  # the main command's: exists, is the input, no folder, unwritable
    try:
        export_onnx(model, out, chunk=chunk, fp16=fp16, opset=opset, exporter=exporter, log=click.echo)
    except RuntimeError as exc:  # torch.onnx: e.g. an opset this exporter does not have
        raise OSDFilterError(f"export failed: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from None
