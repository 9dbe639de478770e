"""Scene cuts: a new shot resets the state; fast camera motion within a shot does not."""

from __future__ import annotations

import numpy as np

from conftest import osd_layer, textured_background
from osdfilter.filter.scenecut import SceneCutDetector, cut_scores, is_cut

H, W = 144, 256


def pan(bg: np.ndarray, step: int, n: int) -> list[np.ndarray]:
    """``n`` frames of ``bg`` panned right by ``step`` px a frame, the OSD burned in."""
    alpha, text = osd_layer(H, W)
    out = []
    for t in range(n):
        f = np.clip(bg[: H, step * t : step * t + W], 0, 255).astype(np.uint8)
        f[alpha] = text[alpha]
        out.append(f)
    return out


def blocks(seed: int, size: int = 12) -> np.ndarray:
    """Coarse, contrasty texture (random grey-brown blocks) twice the frame size."""
    cells = np.random.default_rng(seed).uniform(0, 1, (2 * H // size + 1, 4 * W // size + 1, 1))
    return np.kron(cells * np.array([220.0, 200.0, 180.0]) + 20.0, np.ones((size, size, 1)))


def test_fast_pan_is_not_a_cut():
    """A pan of 10% of the width a frame (beyond the 5% shift search: FPV, drift, handheld)
    over coarse texture leaves a large compensated difference but the same colours: no cut."""
    frames = pan(blocks(0), W // 10, 10)
    dist, diff = cut_scores(frames[0], frames[1])
    assert dist < 0.25 and diff > 2 * 14.0  # the former rule cut on the difference alone
    detector = SceneCutDetector()
    assert not any(detector(f) for f in frames)


def test_new_shot_is_a_cut():
    shot_a = pan(textured_background(H, W, seed=1), 3, 6)
    other = textured_background(H, W, seed=2)[:, ::-1, ::-1] * 0.5 + np.linspace(0, 120, 2 * W)[None, :, None]
    shot_b = pan(other, 3, 6)
    detector = SceneCutDetector()
    decisions = [detector(f) for f in shot_a + shot_b]
    assert decisions == [False] * 6 + [True] + [False] * 5
    assert is_cut(shot_a[-1], shot_b[0]) and not is_cut(shot_a[0], shot_a[1])
