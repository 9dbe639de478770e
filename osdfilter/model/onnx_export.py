"""ONNX export of the recurrent U-Net (run by :mod:`osdfilter.model.onnx_runtime`), and its cache.

The graph has the model's own stateless signature, with the state as named tensors::

    frames [N, T, C, H, W] float32 (C = ModelConfig.in_channels), h0 [N, C, ceil(H/8), ceil(W/8)], c0 (same)
      -> restored [N, T, 3, H, W] float32, h1, c1

N, H and W are dynamic; T is fixed at export (the model's loop over T unrolls when
traced; a dynamic T would silently run the traced length). A file exported with T=K > 1
holds the unrolled K-frame graph and a one-frame step behind an ``If`` on the input's T;
:class:`OnnxRunner` sends whole K-frame slices to the first and any rest frame by frame
to the second, so the output never depends on chunking. The default K=8 (the pipeline's
chunk) is faster than per-frame calls on a CPU (docs/benchmarks.md, ONNX).

Everything the runtime needs travels in the file's ``metadata_props`` (the contract:
:mod:`osdfilter.model.onnx_runtime`). No side file.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import sys
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

from ..errors import OSDFilterError
from .network import ModelConfig
from .onnx_runtime import FORMAT, INPUTS, METADATA_KEY, OUTPUTS, VERSION, OnnxRunner, cache_dir

GRAPH = 3  # the exported graph for the same weights: bump when export changes it (re-exports caches)
EXPORTERS = ("torchscript", "dynamo")
# Parity limits for the export check: fp32 must match PyTorch to float rounding.
PARITY_LIMIT = {False: 1e-4, True: 2e-2}
PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class ExportConfig:
    """How a model becomes an ONNX graph; stored in the file's metadata."""

    chunk: int = 8  # frames per unrolled graph call (T); 1 = one-frame step only
    fp16: bool = False  # fp16 weights and compute inside; inputs and outputs stay float32
    opset: int = 18
    exporter: str = "torchscript"  # or "dynamo" (needs onnxscript; much slower to export: export/README.md)

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
    from .network import RecurrentUNet

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
    """The TorchScript exporter: quick, no extra packages; deprecated upstream but in torch 2.3-2.13."""
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
    32), so its difference says little of the output's (docs/benchmarks.md, Output fidelity).
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


def runner_for_checkpoint(checkpoint: PathLike, provider: str = "auto", threads: int = 0, chunk: int = 8,
                      log: Optional[Callable[[str], None]] = None) -> OnnxRunner:
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
            return OnnxRunner(path, provider=provider, threads=threads)
    return OnnxRunner(path, provider=provider, threads=threads)
