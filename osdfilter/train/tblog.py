"""TensorBoard logging for the trainer (main process only; a no-op elsewhere).

Scalars: every loss term, the LR, the total and per-layer gradient norms, step time and
validation metrics. Images: sample strips ``recorded input | mask | output | target``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch


class TBLogger:
    """A thin wrapper that tolerates a missing tensorboard package (logs nothing then)."""

    def __init__(self, log_dir: Optional[Path]) -> None:
        self.writer = None
        if log_dir is None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is an optional extra (pip install osdfilter[train])
            return
        self.writer = SummaryWriter(str(log_dir))

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(k, v, step)

    def layer_grad_norms(self, model: torch.nn.Module, step: int, histograms: bool = False) -> None:
        """Gradient norm of every parameter tensor (the write-up's vanishing-ConvLSTM check)."""
        if self.writer is None:
            return
        for name, p in model.named_parameters():
            if p.grad is not None:
                self.writer.add_scalar(f"grad_norm_layer/{name}", p.grad.norm().item(), step)
                if histograms:
                    self.writer.add_histogram(f"grad/{name}", p.grad, step)

    def strip(self, batch: dict[str, torch.Tensor], out: torch.Tensor, step: int, n: int = 4) -> None:
        """One row per tile (last frame): recorded input | mask | output composite | target."""
        if self.writer is None:
            return
        t = out.shape[1] - 1
        comp = batch["alpha"][:n, t] * out[:n, t] + (1 - batch["alpha"][:n, t]) * batch["overlaid"][:n, t]
        cols = [batch["overlaid"][:n, t], batch["mask"][:n, t].expand(-1, 3, -1, -1) * 2 - 1, comp, batch["target"][:n, t]]
        rows = torch.cat([torch.cat(list(c), dim=-1) for c in zip(*cols)], dim=-2)  # (3, n*H, 4*W)
        self.writer.add_image("samples/input|mask|output|target", ((rows.float().cpu() + 1) / 2).clamp(0, 1), step)

    def text(self, tag: str, text: str, step: int = 0) -> None:
        if self.writer is not None:
            self.writer.add_text(tag, text, step)

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
