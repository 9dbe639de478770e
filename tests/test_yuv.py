"""Compositing in the decoded 4:2:0 planes (osdfilter.media.yuv): untouched pixels stay the decoded
ones exactly, restored ones match the RGB route."""

from __future__ import annotations

import av
import numpy as np
import pytest

from osdfilter import FilterConfig, OSDFilter
from osdfilter.filter.core import Restored
from osdfilter.masks.image import dilate
from osdfilter.model.runners import IdentityRunner
from osdfilter.media.yuv import YUVCompositor, planes, rgb_to_yuv, supported

H, W = 90, 150
BT709, TV = 1, 1  # AVCOL_SPC_BT709, AVCOL_RANGE_MPEG
COLOUR = {"colorspace": BT709, "color_range": TV, "color_primaries": 1, "color_trc": 1}


def decoded_frame(seed: int) -> av.VideoFrame:
    """A yuv420p frame as a decoder would give it (smooth colours, so chroma is meaningful)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (H // 10, W // 10, 3), dtype=np.uint8)
    rgb = np.kron(small, np.ones((10, 10, 1), np.uint8))
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p", dst_colorspace=BT709, dst_color_range=TV)


@pytest.mark.parametrize("context", [0, 8])
def test_yuv_composite_keeps_untouched_pixels_and_matches_the_rgb_route(context):
    rng = np.random.default_rng(3)  # a layout with cores at odd positions for both contexts
    mask = rng.random((H, W)) > 0.995  # scattered specks: overlapping cores, clipped at borders
    filt = OSDFilter(IdentityRunner(), mask, FilterConfig(context=context))
    assert any(y % 2 or x % 2 for y, x, _, _ in filt.plan.cores), "the case must exercise alignment"
    frame = decoded_frame(context)
    rgb = frame.to_ndarray(format="rgb24", src_colorspace=BT709, src_color_range=TV)
    c2 = 2 * filt.plan.context
    crops = [rng.uniform(-1, 1, (3, h + c2, w + c2)).astype(np.float32) for _, _, h, w in filt.plan.cores]
    restored = Restored(filt.prepare(rgb), crops)

    out = YUVCompositor(COLOUR)(frame.to_ndarray(), H, W, filt.cores(crops, filt.mask, align=2, planar=True))
    assert out.format.name == "yuv420p" and (out.colorspace, out.color_range) == (BT709, TV)
    y_out, u_out, v_out = planes(out.to_ndarray(), H, W)
    y_in, u_in, v_in = planes(frame.to_ndarray(), H, W)

    # Outside every (2-aligned) core the planes are the decoded ones, bit for bit.
    covered = np.zeros((H, W), bool)
    for y, x, _, a in filt.cores(crops, filt.mask, align=2):
        covered[y : y + a.shape[0], x : x + a.shape[1]] = True
    assert covered.any() and not covered.all()
    assert np.array_equal(y_out[~covered], y_in[~covered])
    half = covered.reshape(H // 2, 2, W // 2, 2).any(axis=(1, 3))
    assert np.array_equal(u_out[~half], u_in[~half]) and np.array_equal(v_out[~half], v_in[~half])

    # Where the alpha is 1 the luma is the RGB route's (its composite converted by swscale).
    rgb_route = av.VideoFrame.from_ndarray(filt.composite(restored), format="rgb24")
    y_rgb = planes(rgb_route.reformat(format="yuv420p", dst_colorspace=BT709, dst_color_range=TV).to_ndarray(), H, W)[0]
    # (Compared where the same core wins in both routes: overlapping cores hold different
    # random values here, and an aligned core reaches up to a pixel further.)
    owner, owner_aligned = np.full((H, W), -1), np.full((H, W), -1)
    for i, ((y, x, _, a), (ay, ax, _, aa)) in enumerate(zip(filt.cores(crops, filt.mask), filt.cores(crops, filt.mask, align=2))):
        owner[y : y + a.shape[0], x : x + a.shape[1]] = i
        owner_aligned[ay : ay + aa.shape[0], ax : ax + aa.shape[1]] = i
    solid = (filt._alpha >= 1.0) & (owner == owner_aligned)
    assert solid.sum() > 0.5 * (filt._alpha >= 1.0).sum()
    assert np.abs(y_out[solid].astype(int) - y_rgb[solid]).max() <= 2
    # ... and the restored pixels really changed.
    assert np.abs(y_out[solid].astype(int) - y_in[solid]).mean() > 10


@pytest.mark.parametrize("colorspace,color_range", [(1, 1), (1, 2), (5, 1), (9, 1), (2, 0)])
def test_rgb_to_yuv_is_swscales_conversion(colorspace, color_range):
    """The measured map reproduces swscale's RGB -> YUV (4:4:4) on colours it was not fitted on."""
    rgb = np.random.default_rng(7).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    ref = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format="yuv444p", dst_colorspace=colorspace, dst_color_range=color_range
    ).to_ndarray().astype(int)
    m = rgb_to_yuv(colorspace, color_range)
    mine = np.rint(np.einsum("kc,hwc->khw", m[:, :3], rgb.astype(np.float64)) + m[:, 3, None, None])
    assert np.abs(mine - ref).max() <= 1
    assert np.abs(mine - ref).mean() < 0.2
    if (colorspace, color_range) == (1, 2):  # full range: black and white at the ends of the code values
        assert np.allclose(m @ [0, 0, 0, 1], [0, 128, 128], atol=0.6) and np.allclose(m @ [255, 255, 255, 1], [255, 128, 128], atol=0.6)


def test_yuv_composite_chroma_matches_the_rgb_route_on_smooth_colour():
    """Chroma (2x2 means of the converted core) is the RGB route's where the colour is smooth."""
    mask = np.zeros((H, W), bool)
    mask[30:60, 50:100] = True
    filt = OSDFilter(IdentityRunner(), mask, FilterConfig(context=8))
    frame = decoded_frame(5)
    rgb = frame.to_ndarray(format="rgb24", src_colorspace=BT709, src_color_range=TV)
    c2 = 2 * filt.plan.context
    colour = np.array([-0.6, 0.2, 0.7], np.float32)[:, None, None]  # one colour in every region
    crops = [np.broadcast_to(colour, (3, h + c2, w + c2)).copy() for _, _, h, w in filt.plan.cores]
    restored = Restored(filt.prepare(rgb), crops)
    out = YUVCompositor(COLOUR)(frame.to_ndarray(), H, W, filt.cores(crops, filt.mask, align=2, planar=True))
    rgb_route = av.VideoFrame.from_ndarray(filt.composite(restored), format="rgb24")
    ref = planes(rgb_route.reformat(format="yuv420p", dst_colorspace=BT709, dst_color_range=TV).to_ndarray(), H, W)
    got = planes(out.to_ndarray(), H, W)
    inner = np.zeros((H // 2, W // 2), bool)
    inner[17:28, 27:48] = True  # inside the mask, two chroma samples from its edge
    for p_got, p_ref in zip(got[1:], ref[1:]):
        assert np.abs(p_got[inner].astype(int) - p_ref[inner]).max() <= 1
    assert np.abs(got[0][34:56, 54:96].astype(int) - ref[0][34:56, 54:96]).max() <= 1


def test_only_8bit_420_with_even_sizes_is_supported():
    assert supported(decoded_frame(0))
    assert not supported(av.VideoFrame(W, H, "yuv444p"))
    assert not supported(av.VideoFrame(W - 1, H, "yuv420p"))
    assert not supported(av.VideoFrame(W, H, "yuv420p10le"))


def test_unaligned_cores_are_refused():
    compositor = YUVCompositor(COLOUR)
    core = (1, 0, np.zeros((3, 4, 4), np.float32), np.ones((4, 4, 1), np.float32))
    with pytest.raises(ValueError, match="aligned"):
        compositor(decoded_frame(1).to_ndarray(), H, W, [core])


def test_cores_in_the_wrong_layout_are_refused():
    """RGB cores [h, w, 3] (the RGB composite's layout) are not taken for planes."""
    core = (0, 0, np.zeros((4, 4, 3), np.float32), np.ones((4, 4, 1), np.float32))
    with pytest.raises(ValueError, match="planar=True"):
        YUVCompositor(COLOUR)(decoded_frame(1).to_ndarray(), H, W, [core])


def test_planar_cores_are_the_rgb_cores_unscaled():
    rng = np.random.default_rng(4)
    mask = rng.random((H, W)) > 0.995
    filt = OSDFilter(IdentityRunner(), mask, FilterConfig(context=8))
    c2 = 2 * filt.plan.context
    crops = [rng.uniform(-1, 1, (3, h + c2, w + c2)).astype(np.float32) for _, _, h, w in filt.plan.cores]
    for align in (1, 2):
        for (y, x, rgb, a), (py, px, planes, pa) in zip(filt.cores(crops, filt.mask, align), filt.cores(crops, filt.mask, align, planar=True)):
            assert (y, x) == (py, px) and planes.shape == (3, *rgb.shape[:2]) and np.array_equal(a, pa)
            assert np.allclose((planes.transpose(1, 2, 0) + 1.0) * 127.5, rgb)


def test_aligned_cores_stay_inside_the_frame_and_cover_the_plain_cores():
    mask = dilate(np.eye(H, W, k=3, dtype=bool), 1)
    mask[-1, -1] = True  # a core clipped by the bottom-right corner
    filt = OSDFilter(IdentityRunner(), mask, FilterConfig(context=8))
    crops = [np.zeros((3, h + 16, w + 16), np.float32) for _, _, h, w in filt.plan.cores]
    plain = list(filt.cores(crops, filt.mask))
    aligned = list(filt.cores(crops, filt.mask, align=2))
    for (y, x, _, a), (ay, ax, argb, aa) in zip(plain, aligned):
        h, w = a.shape[:2]
        ah, aw = aa.shape[:2]
        assert ay % 2 == ax % 2 == ah % 2 == aw % 2 == 0
        assert ay <= y and ax <= x and ay + ah >= y + h and ax + aw >= x + w
        assert ay + ah <= H and ax + aw <= W and argb.shape[:2] == (ah, aw)


@pytest.mark.parametrize("height", [88, 90])  # the frame wraps the planes (height % 4 == 0) or copies them
def test_output_frame_carries_the_composited_planes(height):
    rng = np.random.default_rng(height)
    packed = rng.integers(0, 256, (height * 3 // 2, W), dtype=np.uint8)
    core = (2, 4, rng.uniform(-1, 1, (3, 6, 8)).astype(np.float32), np.ones((6, 8, 1), np.float32))
    out = YUVCompositor(COLOUR)(packed, height, W, [core])
    assert (out.height, out.width) == (height, W)
    y_out = planes(out.to_ndarray(), height, W)[0]
    y_in = planes(packed, height, W)[0]
    assert not np.array_equal(y_out[2:8, 4:12], y_in[2:8, 4:12])  # the core was blended in
    untouched = np.ones((height, W), bool)
    untouched[2:8, 4:12] = False
    assert np.array_equal(y_out[untouched], y_in[untouched])
    half = np.ones((height // 2, W // 2), bool)
    half[1:4, 2:6] = False
    for p_out, p_in in zip(planes(out.to_ndarray(), height, W)[1:], planes(packed, height, W)[1:]):
        assert np.array_equal(p_out[half], p_in[half])
