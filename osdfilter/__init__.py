"""osdfilter: remove burned-in FPV OSD overlays from video with a recurrent U-Net.

Public API::

    from osdfilter import process_video, FilterConfig
    report = process_video("in.mp4", "out.mp4", mask="mask.png", model="model.pt")

``process_video`` streams a whole file (every stream kept, audio copied as is),
``process_batch`` many files into a folder, both encoding as an :class:`EncodeOptions` says;
``preview_video`` restores a few frames onto a contact sheet (mask and OSD elements shown);
:class:`OSDFilter` is the frame-level filter
they are built on (push RGB frames, receive restored frames, flush);
:func:`load_model` rebuilds a :class:`RecurrentUNet` from a self-describing checkpoint.
"""

import os

# The network runs beside the decode, prefill and encode threads. OpenMP workers that
# spin while waiting take those threads' cores and slow the model badly on a busy machine
# (docs/benchmarks.md, Speed). Set before torch loads (a user's own setting wins).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from typing import TYPE_CHECKING

# The public names are imported on first use (PEP 562): ``import osdfilter`` stays light,
# so the console script (osdfilter.console) can load torch and PyAV, which take seconds,
# where a Ctrl-C is answered in one line instead of a traceback.
_EXPORTS = {
    "BatchReport": "api", "Report": "api", "process_batch": "api", "process_video": "api",
    "load_model": "model.checkpoint", "save_checkpoint": "model.checkpoint",
    "CheckpointError": "errors", "MaskError": "errors", "MediaError": "errors", "OSDFilterError": "errors",
    "FilterConfig": "filter.core", "OSDFilter": "filter.core",
    "ModelConfig": "model.network", "RecurrentUNet": "model.network",
    "EncodeOptions": "media.encode",
    "PreviewReport": "preview", "preview_video": "preview",
}

if TYPE_CHECKING:
    from .api import BatchReport, Report, process_batch, process_video
    from .errors import CheckpointError, MaskError, MediaError, OSDFilterError
    from .filter.core import FilterConfig, OSDFilter
    from .media.encode import EncodeOptions
    from .model.checkpoint import load_model, save_checkpoint
    from .model.network import ModelConfig, RecurrentUNet
    from .preview import PreviewReport, preview_video


def __getattr__(name: str):
    if name in _EXPORTS:
        from importlib import import_module

        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # once
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | set(_EXPORTS))


__version__ = "0.1.0"

__all__ = [
    "BatchReport",
    "CheckpointError",
    "EncodeOptions",
    "FilterConfig",
    "MaskError",
    "MediaError",
    "ModelConfig",
    "OSDFilter",
    "OSDFilterError",
    "PreviewReport",
    "RecurrentUNet",
    "Report",
    "load_model",
    "process_batch",
    "preview_video",
    "process_video",
    "save_checkpoint",
    "__version__",
]
