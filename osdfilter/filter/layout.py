"""Per-frame masks and scene cuts around the :class:`~osdfilter.filter.core.OSDFilter`.

With an automatic layout (:class:`~osdfilter.masks.auto.detector.OSDLayout`) each frame
gets its own mask (changing digits); at a scene cut the recurrent state and the prefill's
memory are reset (:mod:`osdfilter.filter.scenecut`).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .scenecut import SceneCutDetector


def with_layout(filt: Any, layout: Any = None, scene_cuts: bool = True) -> Any:
    """The object the pipeline pushes frames into (same ``push``/``flush`` API as ``filt``):
    ``filt`` itself, or a :class:`LayoutFilter` around it for a layout or scene cuts."""
    if layout is None and not scene_cuts:
        return filt
    return LayoutFilter(filt, layout, scene_cuts)


class LayoutFilter:
    """Wraps an :class:`~osdfilter.filter.core.OSDFilter`: per-frame masks from the automatic
    layout, and a state reset (filter and prefill) at each scene cut. The same interface as
    the filter, spelled out (no attribute forwarding)."""

    def __init__(self, filt: Any, layout: Any, scene_cuts: bool = True) -> None:
        self.filt, self.layout, self.scene_cuts = filt, layout, scene_cuts
        self._cut = SceneCutDetector()
        self.cuts = 0

    # The rest of the filter's interface that the pipeline (media/transcode.py) uses, as is.
    @property
    def config(self) -> Any:
        return self.filt.config

    @property
    def height(self) -> int:
        return self.filt.height

    @property
    def width(self) -> int:
        return self.filt.width

    @property
    def is_empty(self) -> bool:
        return self.filt.is_empty

    def restore_prepared(self, item: Any) -> list[Any]:
        return self.filt.restore_prepared(item)

    def flush_restored(self) -> list[Any]:
        return self.filt.flush_restored()

    def composite(self, restored: Any) -> np.ndarray:
        return self.filt.composite(restored)

    def cores(self, *args: Any, **kwargs: Any) -> Any:
        return self.filt.cores(*args, **kwargs)

    def push(self, frame: np.ndarray, frame_mask: Optional[np.ndarray] = None) -> list[np.ndarray]:
        return self.push_prepared(self.prepare(frame, frame_mask))

    def prepare(self, frame: np.ndarray, frame_mask: Optional[np.ndarray] = None) -> Any:
        """:meth:`OSDFilter.prepare` with this frame's own mask and the scene-cut flag."""
        return self.prepare_analysed(self.analyse(frame, frame_mask))

    def analyse(self, frame: np.ndarray, frame_mask: Optional[np.ndarray] = None) -> Any:
        """:meth:`OSDFilter.analyse` with this frame's own mask and the scene-cut flag."""
        cut = self.scene_cuts and not self.filt.is_empty and self._cut(frame)
        self.cuts += cut
        if frame_mask is None and self.layout is not None and not self.filt.is_empty:
            frame_mask = self.layout.frame_mask(frame)  # user mask is in layout.static
        return self.filt.analyse(frame, frame_mask, cut=cut)

    def prepare_analysed(self, item: Any) -> Any:
        return self.filt.prepare_analysed(item)

    def push_prepared(self, item: Any) -> list[np.ndarray]:
        return self.filt.push_prepared(item)

    def reset(self) -> list[np.ndarray]:
        """Flush, then forget the recurrent state and the prefill's memory."""
        return self.filt.reset()

    def flush(self) -> list[np.ndarray]:
        return self.filt.flush()
