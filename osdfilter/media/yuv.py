"""Compositing into the decoded 4:2:0 planes: only the restored regions change colour space.

The RGB route converts every pixel twice (decoded YUV → RGB for the filter, the whole
composited RGB frame → YUV for the encoder): a large share of the I/O floor's time, and
a rounding change to pixels the filter never touched. Here the output
starts as a copy of the decoded planes, so outside the regions' feather band the encoder
gets the decoded pixels exactly; each region core's restored RGB is converted with the
stream's matrix and range and blended in: luma per pixel, chroma per 2x2 block (its mean)
with the block's mean alpha. A blend in YUV equals the blend in RGB up to rounding, since
YUV is an affine map of RGB.

The map is swscale's own (the one the RGB route applies to whole frames), measured once per
stream (:func:`rgb_to_yuv`), with the model's [-1, 1] → 0-255 scale folded in, and applied
to each core's planes as they come out of the model (three weighted sums), instead of a
conversion to 8-bit RGB and a swscale call per core (a call has a fixed cost that small
cores do not amortise; docs/benchmarks.md, Speed). Luma is swscale's
within 1 level; chroma is the 2x2 block mean, where swscale's own 4:2:0 downsampling filter
reaches a little wider (the same on smooth colour, apart on pixel noise).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable

import av
import cv2
import numpy as np

YUV420 = ("yuv420p", "yuvj420p")  # 8-bit 4:2:0, full or limited range: the same plane layout
YUV444 = ("yuv444p", "yuvj444p")  # 8-bit 4:4:4: three full planes, chroma per pixel


def supported(frame: av.VideoFrame) -> bool:
    """Whether ``frame`` can take the 4:2:0 composite (the encoder then gets yuv420p too)."""
    return frame.format.name in YUV420 and frame.width % 2 == 0 and frame.height % 2 == 0


def input_chroma(frame: av.VideoFrame) -> str:
    """The 8-bit planar YUV format with ``frame``'s chroma resolution: yuv444p (RGB input
    too), yuv422p, else yuv420p."""
    parts = frame.format.components
    if len(parts) < 3:
        return "yuv420p"
    if (parts[1].width, parts[1].height) == (frame.width, frame.height):
        return "yuv444p"
    return "yuv422p" if parts[1].height == frame.height else "yuv420p"


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

    def __init__(self, colour: dict[str, int], pix_fmt: str = "yuv420p") -> None:
        self.colour = colour
        self.pix_fmt = pix_fmt  # yuv420p, or yuv444p: chroma per pixel (4:4:4 input kept as such)
        self.full = pix_fmt == "yuv444p"
        m = rgb_to_yuv(colour["colorspace"], colour["color_range"])
        # Cores come as the model's planes in [-1, 1]: RGB = 127.5 * (p + 1), folded in.
        self.matrix = np.c_[m[:, :3] * 127.5, m[:, 3] + 127.5 * m[:, :3].sum(axis=1)].astype(np.float32)

    def takes(self, frame: av.VideoFrame) -> bool:
        """Whether ``frame``'s planes can be composited into for this compositor's output."""
        if self.full:  # even sizes: the cores are aligned to 2 as for 4:2:0
            return frame.format.name in YUV444 and frame.width % 2 == 0 and frame.height % 2 == 0
        return supported(frame)

    def __call__(self, decoded: np.ndarray, height: int, width: int, cores: Iterable[tuple[int, int, np.ndarray, np.ndarray]]) -> av.VideoFrame:
        """The output frame: ``decoded`` (packed yuv420p, as :func:`planes` reads it) with
        each ``(y, x, planes, alpha)`` core (``OSDFilter.cores(..., align=2, planar=True)``:
        RGB ``[3, h, w]`` in [-1, 1], alpha ``[h, w, 1]``) blended in."""
        out = decoded.copy()
        if self.full:
            return self._composite_444(decoded, out, cores)
        src, dst = planes(decoded, height, width), planes(out, height, width)
        for y, x, rgb, alpha in cores:
            h, w = alpha.shape[:2]
            if rgb.shape != (3, h, w):
                raise ValueError(f"core planes of shape {rgb.shape}, expected {(3, h, w)} (OSDFilter.cores(planar=True))")
            if h % 2 or w % 2 or y % 2 or x % 2:
                raise ValueError(f"core {(y, x, h, w)} is not aligned to 4:2:0 chroma (OSDFilter.cores(align=2))")
            a = np.ascontiguousarray(alpha[..., 0])
            a2 = cv2.resize(a, (w // 2, h // 2), interpolation=cv2.INTER_AREA)  # 2x2 means
            for p, (core, weight) in enumerate(zip(self._to_yuv(rgb), (a, a2, a2))):
                sl = (slice(y, y + h), slice(x, x + w)) if p == 0 else (slice(y // 2, (y + h) // 2), slice(x // 2, (x + w) // 2))
                dst[p][sl] = cv2.blendLinear(src[p][sl], core, 1.0 - weight, weight)
        # Wrapped without a copy where PyAV can (from_ndarray copies every plane);
        # the encoder copies or references the planes it keeps, and ``out`` is this frame's
        # alone. PyAV 18 takes the luma height as rows // 6 * 4: right when height % 4 == 0.
        if height % 4 == 0:
            frame = av.VideoFrame.from_numpy_buffer(out, format="yuv420p")
        else:
            frame = av.VideoFrame.from_ndarray(out, format="yuv420p")
        for name, value in self.colour.items():
            setattr(frame, name, value)
        return frame

    def _composite_444(self, decoded: np.ndarray, out: np.ndarray, cores: Iterable[tuple[int, int, np.ndarray, np.ndarray]]) -> av.VideoFrame:
        """4:4:4 (``decoded`` is ``[3, H, W]``): every plane blended per pixel."""
        for y, x, rgb, alpha in cores:
            h, w = alpha.shape[:2]
            a = np.ascontiguousarray(alpha[..., 0])
            for p, core in enumerate(self._to_yuv(rgb, subsample=False)):
                sl = (p, slice(y, y + h), slice(x, x + w))
                out[sl] = cv2.blendLinear(decoded[sl], core, 1.0 - a, a)
        frame = av.VideoFrame.from_ndarray(out, format="yuv444p")
        for name, value in self.colour.items():
            setattr(frame, name, value)
        return frame

    def _to_yuv(self, rgb: np.ndarray, subsample: bool = True) -> list[np.ndarray]:
        """Restored RGB planes ``[3, h, w]`` in [-1, 1] as uint8 Y ``[h, w]``, U and V ``[h/2, w/2]``."""
        h, w = rgb.shape[1:]
        r, g, b = rgb  # views into the model's crop, rows contiguous (OpenCV takes them as they are)
        out = []
        for k, (mr, mg, mb, offset) in enumerate(self.matrix):
            p = cv2.addWeighted(r, float(mr), g, float(mg), float(offset))
            cv2.scaleAdd(b, float(mb), p, dst=p)
            if k and subsample:  # chroma: 2x2 means (of the sums: the map is linear)
                p = cv2.resize(p, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
            out.append(cv2.add(p, 0.0, dtype=cv2.CV_8U))  # rounded, saturated
        return out


@lru_cache(maxsize=None)
def rgb_to_yuv(colorspace: int, color_range: int) -> np.ndarray:
    """The affine map (float ``[3, 4]``: rows Y, U, V; columns R, G, B, offset) from RGB
    (0-255) to 8-bit YUV code values that swscale applies for this colour space and range
    (FFmpeg's AVColorSpace / AVColorRange numbers, as the frames carry them).

    Measured rather than tabulated, so that it is swscale's (matrix, range, and its default
    for unspecified tags): a least-squares fit to swscale's conversion of random colours,
    whose residual is its rounding (within 0.6 levels, checked here).
    """
    rgb = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    yuv = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format="yuv444p", dst_colorspace=colorspace, dst_color_range=color_range
    ).to_ndarray()
    design = np.c_[rgb.reshape(-1, 3), np.ones(rgb.shape[0] * rgb.shape[1])].astype(np.float64)
    target = yuv.reshape(3, -1).T.astype(np.float64)
    matrix = np.linalg.lstsq(design, target, rcond=None)[0].T
    residual = np.abs(design @ matrix.T - target).max()
    if residual > 0.6:
        raise RuntimeError(f"swscale's RGB -> YUV for colour space {colorspace}, range {color_range} is not affine (residual {residual:.2f})")
    return matrix.astype(np.float32)
