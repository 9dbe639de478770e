"""How many frames a damaged input held, counted in every container.

The container's own count is not enough: Matroska and MPEG-TS keep none, and AVI's counts
the empty index entries that mark skipped frames (nothing lost there). So the frames the
input held are the most of: the container's count (not AVI's), the video packets the
demuxer delivered, and the frames decoded plus the gaps between their timestamps when the
video runs at a constant rate (a damaged Matroska block is skipped by the demuxer without
a word; only the hole in the timestamps shows it).
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from typing import Optional

FRAME_COUNT_MUXERS = ("avi",)  # timestamps are frame numbers; empty entries are skipped frames
# At most MAX_STEPS distinct steps between frames are tracked (more: a variable frame rate);
# REGULAR_STEPS of the steps must be the usual one for gaps to count as losses; a gap over
# MAX_GAP_S is a timestamp jump (a camera's clock, an MPEG-TS discontinuity), not a loss.
MAX_STEPS, REGULAR_STEPS, MAX_GAP_S = 64, 0.9, 5.0


class FrameAccount:
    """Counts, as the input is read, what :meth:`expected` compares the frames written with."""

    def __init__(self, container: str, header_frames: int, time_base: Fraction) -> None:
        self.frame_numbers = container in FRAME_COUNT_MUXERS
        self.header = 0 if self.frame_numbers else header_frames
        self.time_base = time_base
        self.packets = 0  # non-empty video packets the demuxer delivered
        self.decoded = 0  # frames the decoder returned
        self.steps: Counter[int] = Counter()  # pts steps between consecutive frames kept
        self.last: Optional[int] = None

    def packet(self, size: int) -> None:
        self.packets += size > 0

    def frame(self, pts: Optional[int]) -> None:
        """A decoded frame: its pts, or None when it is dropped (timestamps going backwards)."""
        self.decoded += 1
        if pts is None:
            return
        if self.last is not None and len(self.steps) < MAX_STEPS:
            self.steps[pts - self.last] += 1
        self.last = pts

    def expected(self) -> int:
        return max(self.header, self.packets, self.decoded + self.missing())

    def missing(self) -> int:
        """Frames missing between decoded ones: gaps of whole frame steps in a video whose
        steps are otherwise regular. A variable frame rate, or an AVI (its gaps are skipped
        frames), counts none."""
        total = sum(self.steps.values())
        if not total or self.frame_numbers or len(self.steps) >= MAX_STEPS:
            return 0
        step = self.steps.most_common(1)[0][0]
        if step <= 0:
            return 0
        tol = max(1, step // 50)  # Matroska's 1 ms rounding: 33 and 34 ms are one step at 30 fps
        if sum(n for d, n in self.steps.items() if abs(d - step) <= tol) < REGULAR_STEPS * total:
            return 0
        longest = MAX_GAP_S / float(step * self.time_base)
        missing = 0
        for d, n in self.steps.items():
            k = round(d / step)
            if 2 <= k <= longest and abs(d - k * step) <= tol * k:
                missing += (k - 1) * n
        return missing
