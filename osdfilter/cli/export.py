"""``osdfilter export``: a checkpoint to an ONNX graph, checked against PyTorch."""

from __future__ import annotations

import click

from ..errors import OSDFilterError
from ..media.files import check_paths
from ..model.onnx_export import EXPORTERS, export_onnx


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
    check_paths(model, out, overwrite)  # the main command's: exists, is the input, no folder, unwritable
    try:
        export_onnx(model, out, chunk=chunk, fp16=fp16, opset=opset, exporter=exporter, log=click.echo)
    except RuntimeError as exc:  # torch.onnx: e.g. an opset this exporter does not have
        raise OSDFilterError(f"export failed: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from None
