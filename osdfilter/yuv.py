"""Compositing into the decoded 4:2:0 planes: only the restored regions change colour space.

The RGB route converts every pixel twice (decoded YUV → RGB for the filter, the whole
composited RGB frame → YUV for the encoder): ~5 ms a frame at 854x480, a fifth of the
I/O floor, and a rounding change to pixels the filter never touched. Here the output
starts as a copy of the decoded planes, so outside the regions' feather band the encoder
gets the decoded pixels exactly; each region core's restored RGB is converted by swscale
(PyAV, with the stream's matrix and range, as the RGB route converts whole frames) and
blended in: luma per pixel, chroma per 2x2 block with the block's mean alpha. A blend in
YUV equals the blend in RGB up to rounding, since YUV is an affine map of RGB.
"""

from __future__ import annotations

from typing import Iterable

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

YUV420 = ("yuv420p", "yuvj420p")  # 8-bit 4:2:0, full or limited range: the same plane layout


def supported(frame: av.VideoFrame) -> bool:
    """Whether ``frame`` can take the 4:2:0 composite (the encoder then gets yuv420p too)."""
    return frame.format.name in YUV420 and frame.width % 2 == 0 and frame.height % 2 == 0


def planes(packed: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views ``(Y [H, W], U [H/2, W/2], V [H/2, W/2])`` of PyAV's packed yuv420p array
    (``VideoFrame.to_ndarray()``: the three planes one after another)."""
    flat = packed.reshape(-1)
    n, q = height * width, height * width // 4
    return (
        flat[:n].reshape(height, width),
        flat[n : n + q].reshape(height // 2, width // 2),
        flat[n + q : n + 2 * q].reshape(height // 2, width // 2),
    )


class YUVCompositor:
    """Blends restored RGB region cores into decoded yuv420p frames of one stream.

    ``colour`` holds the stream's ``colorspace``, ``color_range``, ``color_primaries`` and
    ``color_trc`` (the tags the output copies); cores are converted with that matrix and
    range, and the output frames carry the tags.
    """

    def __init__(self, colour: dict[str, int]) -> None:
        self.colour = colour
        self._reformatters: dict[tuple[int, int], VideoReformatter] = {}  # one swscale context per core size

    def __call__(self, decoded: np.ndarray, height: int, width: int, cores: Iterable[tuple[int, int, np.ndarray, np.ndarray]]) -> av.VideoFrame:
        """The output frame: ``decoded`` (packed yuv420p, as :func:`planes` reads it) with
        each ``(y, x, rgb, alpha)`` core (``OSDFilter.cores(..., align=2)``) blended in."""
        out = decoded.copy()
        src, dst = planes(decoded, height, width), planes(out, height, width)
        for y, x, rgb, alpha in cores:
            h, w = alpha.shape[:2]
            if h % 2 or w % 2 or y % 2 or x % 2:
                raise ValueError(f"core {(y, x, h, w)} is not aligned to 4:2:0 chroma (OSDFilter.cores(align=2))")
            a = np.ascontiguousarray(alpha[..., 0])
            a2 = cv2.resize(a, (w // 2, h // 2), interpolation=cv2.INTER_AREA)  # 2x2 means
            for p, (core, weight) in enumerate(zip(self._to_yuv(rgb), (a, a2, a2))):
                sl = (slice(y, y + h), slice(x, x + w)) if p == 0 else (slice(y // 2, (y + h) // 2), slice(x // 2, (x + w) // 2))
                dst[p][sl] = cv2.blendLinear(src[p][sl], core, 1.0 - weight, weight)
        # Wrapped without a copy where PyAV can (from_ndarray copies: 0.26 ms a 720p frame);
        # the encoder copies or references the planes it keeps, and ``out`` is this frame's
        # alone. PyAV 18 takes the luma height as rows // 6 * 4: right when height % 4 == 0.
        if height % 4 == 0:
            frame = av.VideoFrame.from_numpy_buffer(out, format="yuv420p")
        else:
            frame = av.VideoFrame.from_ndarray(out, format="yuv420p")
        for name, value in self.colour.items():
            setattr(frame, name, value)
        return frame

    def _to_yuv(self, rgb: np.ndarray) -> list[np.ndarray]:
        """Restored float RGB (0-255) ``[h, w, 3]`` as yuv420p planes in the stream's colour space."""
        h, w = rgb.shape[:2]
        # C order: ``rgb`` is a transposed view of the model's planar crop, and a strided
        # array costs from_ndarray a per-pixel copy (~0.25 ms a core at 720p).
        pixels = np.clip(rgb + 0.5, 0, 255).astype(np.uint8, order="C")
        frame = av.VideoFrame.from_numpy_buffer(pixels, format="rgb24")
        reformatter = self._reformatters.setdefault((h, w), VideoReformatter())
        yuv = reformatter.reformat(
            frame, format="yuv420p", dst_colorspace=self.colour["colorspace"], dst_color_range=self.colour["color_range"], threads=1
        )
        # Views of the planes (rows padded to line_size), copied: the frame is freed on return.
        return [
            np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:ph, :pw].copy()
            for plane, (ph, pw) in zip(yuv.planes, ((h, w), (h // 2, w // 2), (h // 2, w // 2)))
        ]
