"""The fill's candidates as model input (ModelConfig.inputs = "candidates"): what the fill
hands over, that training builds it as the filter does, and a candidates model end to end
(trained for a few steps, exported to ONNX, run by the filter)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from test_onnx import max_diff_over_chunks
from test_train import H, W, pan_frames, tiny_config
from osdfilter.filter.core import FilterConfig, OSDFilter, OverlayScreen, screen_sequence
from osdfilter.filter.lookahead import CAND_RGB, CANDIDATES, fill_sequence
from osdfilter.model.checkpoint import config_from_dict, load_model
from osdfilter.model.network import ModelConfig, RecurrentUNet
from osdfilter.model.onnx_export import export_onnx
from osdfilter.model.onnx_runtime import OnnxRunner
from osdfilter.model.runners import IdentityRunner, TorchRunner
from osdfilter.train import TrainConfig, train
from osdfilter.train.data import cut_tiles, tiles_to_batch

SCORES = [k for k in range(len(CANDIDATES)) if k not in CAND_RGB]


def overlaid(frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """White glyph-like bars burned in where ``mask`` is (the same place in every frame)."""
    out = frames.copy()
    out[:, mask] = 255
    return out


def bar_mask() -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[50:56, 40:110] = True
    return mask


def test_candidates_leave_the_fill_unchanged_and_say_where_it_came_from():
    mask = bar_mask()
    tex = np.stack(pan_frames(1, seed=1) * 2, 0).reshape(2 * H, W, 3)  # a tall texture
    pan = overlaid(np.stack([tex[4 * t : 4 * t + H] for t in range(8)]), mask)  # 4 px/frame down: later frames show the bar's background
    still = overlaid(np.stack([pan_frames(1, seed=1)[0]] * 8), mask)  # no frame ever shows it
    masks = np.stack([mask] * 8)
    for clip in (pan, still):
        filled, cand = fill_sequence(clip, masks, candidates=True)
        assert np.array_equal(filled, fill_sequence(clip, masks))  # asking for them changes nothing
        assert cand.shape == (8, H, W, len(CANDIDATES)) and cand.dtype == np.uint8
        outside = cand[:, ~mask]
        for k in range(3):  # outside the mask: the frame itself, no score
            assert np.array_equal(outside[..., 4 * k : 4 * k + 3], filled[:, ~mask])
        assert not outside[..., SCORES].any()
    _, cand = fill_sequence(pan, masks, candidates=True)
    first = cand[0][mask]
    assert np.median(first[:, 7]) > 128  # frame 0 takes the bar's background from later frames
    assert not first[:, 3].any()  # and has no past
    assert np.median(cand[5][mask][:, 3]) > 0  # later frames have one
    _, cand = fill_sequence(still, masks, candidates=True)
    assert (cand[:, mask][..., 7] == 0).all()  # a still scene: no later frame shows anything
    assert (cand[0][mask][:, 11] == 255).all()  # the spatial fill has it all


def test_candidates_training_input_matches_the_filter():
    """Training tiles carry the candidates and the screened recorded frame exactly as
    OSDFilter hands them to the model."""
    frames = overlaid(np.stack(pan_frames(6, seed=5)), bar_mask())
    config = ModelConfig(prefill="temporal", inputs="candidates", tile=32, context=8)
    flt = OSDFilter(IdentityRunner(config), bar_mask(), FilterConfig())
    expected = flt.model_input(list(frames), [flt.mask] * 6)
    masks = np.stack([flt.mask] * 6)
    filled, cand = fill_sequence(frames, masks, candidates=True)
    recorded = screen_sequence(frames, filled, masks)
    assert not np.array_equal(recorded, frames)  # (the bar stays put while the scene pans: screened)
    for (_, idx), exp in zip(flt.plan.groups(), expected):
        assert exp.shape[2] == 19
        tiles = cut_tiles(frames, frames, masks, [flt.plan.cores[i] for i in idx], 8, filled, cand, recorded=recorded)
        got = tiles_to_batch(tiles, "temporal", 1.5, 8)["x"].numpy()
        np.testing.assert_allclose(got, exp, atol=1e-6)
        assert exp[:, :, 4:].min() >= -1.0 and exp[:, :, 4:].max() <= 1.0


def test_config_checks_and_old_checkpoints():
    assert ModelConfig().in_channels == 4  # old checkpoints: no "inputs" key, in_channels 4
    assert config_from_dict({**ModelConfig().to_dict(), "inputs": "fill", "in_channels": 4}).inputs == "fill"
    assert ModelConfig(prefill="temporal", inputs="candidates").in_channels == 19
    with pytest.raises(ValueError, match="prefill must be 'temporal'"):
        ModelConfig(inputs="candidates")  # the stateless fills have no candidates
    with pytest.raises(ValueError, match="inputs"):
        ModelConfig(inputs="everything")
    with pytest.raises(ValueError, match="in_channels"):
        ModelConfig(prefill="temporal", inputs="candidates", in_channels=4)
    with pytest.raises(ValueError, match="inputs"):
        TrainConfig(inputs="candidates")  # (prefill telea)
    with pytest.raises(ValueError, match="camera"):
        TrainConfig(camera={"hover": 1.0})


def test_a_candidates_model_trains_exports_and_filters(tmp_path):
    """A few real training steps on generated clips (still and moving cameras), then the
    checkpoint through ONNX (parity with PyTorch over chunks) and through the filter
    (the output does not depend on the chunk size; pixels away from the mask are the input)."""
    cfg = tiny_config(tmp_path, prefill="temporal", inputs="candidates", preset="fast", crop=48, steps=6,
                      still_prob=1.0, camera={"still": 1.0, "fast": 1.0})
    train(cfg)
    model = load_model(tmp_path / "run" / "model.pt")
    assert model.config.inputs == "candidates" and model.enc[0].body[0].in_channels == 19 * 4  # (2x2 stem)
    torch.nn.init.normal_(model.head.weight, std=0.2)  # a head that changes pixels: the checks below can fail
    path = export_onnx(model, tmp_path / "cand.onnx", chunk=2, log=lambda _: None)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 5, 19, 48, 48)).astype(np.float32)
    assert max_diff_over_chunks(TorchRunner(model), OnnxRunner(path, provider="cpu"), x, 2) <= 1e-4

    mask = bar_mask()
    frames = overlaid(np.stack(pan_frames(9, seed=2)), mask)
    outs = []
    for chunk in (2, 5):
        flt = OSDFilter(model, mask, FilterConfig(chunk=chunk, gate=None))
        got = [o for f in frames for o in flt.push(f)] + flt.flush()
        outs.append(np.stack(got))
    assert outs[0].shape == frames.shape
    np.testing.assert_array_equal(outs[0], outs[1])
    grown = np.zeros_like(mask)
    grown[40:66, 30:120] = True
    np.testing.assert_array_equal(outs[0][:, ~grown], frames[:, ~grown])
    assert np.abs(outs[0][:, mask].astype(int) - 255).mean() > 50  # the bars are gone


def test_camera_kinds_of_synthetic_motion():
    """A still camera holds the frame (nothing is ever revealed), a drift moves a little, fast a lot."""
    from osdfilter.train.motion import camera_motion

    image = np.stack(pan_frames(1, seed=4) * 2, 0).reshape(2 * H, W, 3)
    moved = {}
    for kind in ("still", "drift", "fast"):
        clip = camera_motion(image, 6, np.random.default_rng(3), (H, W - 40), kind)
        moved[kind] = float(np.abs(clip[1:].astype(int) - clip[:-1]).mean())
    assert moved["still"] == 0.0
    assert 0.0 < moved["drift"] < moved["fast"]


def test_the_gate_is_the_models_hint_unless_the_filter_says():
    """FilterConfig.gate "model" (the default) takes ModelConfig.gate; an explicit value wins."""
    mask = bar_mask()
    always = ModelConfig(prefill="temporal", inputs="candidates", gate=None, tile=32, context=8)
    gated = ModelConfig(prefill="temporal", tile=32, context=8)  # (older models: 0.6)
    assert OSDFilter(IdentityRunner(always), mask).gate is None
    assert OSDFilter(IdentityRunner(gated), mask).gate == 0.6
    assert OSDFilter(IdentityRunner(always), mask, FilterConfig(gate=0.3)).gate == 0.3
    assert OSDFilter(IdentityRunner(gated), mask, FilterConfig(gate=None)).gate is None
    with pytest.raises(ValueError, match="gate"):
        ModelConfig(gate=1.5)
    with pytest.raises(ValueError, match="gate"):
        FilterConfig(gate="sometimes")


def test_glyph_weight_makes_kept_osd_pixels_cost_more(tmp_path):
    """Training batches mark the OSD's own pixels; glyph_weight raises the loss of an output
    that keeps them (a ghost) and not of one that errs elsewhere by as much."""
    from osdfilter.train.data import GeneratedBatches
    from osdfilter.train.losses import generator_losses
    from osdfilter.train.sources import load_segments

    cfg = tiny_config(tmp_path, prefill="temporal", inputs="candidates")
    batch = GeneratedBatches(load_segments(cfg.data, cache_dir=cfg.cache_dir, min_len=3), [], cfg, cfg.tile, cfg.context)[0]
    glyph = batch["glyph"]
    assert glyph.sum() > 0 and bool(((glyph > 0) <= (batch["mask"] > 0)).all())  # inside the (dilated) mask
    ghost = torch.where(glyph > 0, batch["overlaid"], batch["target"])  # keeps the OSD, right elsewhere
    plain = generator_losses(ghost, batch, 1.0, 0.0)["l1_mask"]
    weighted = generator_losses(ghost, batch, 1.0, 0.0, glyph_weight=4.0)["l1_mask"]
    assert weighted > 1.5 * plain


def test_temporal_weight_charges_flicker_not_a_steady_error(tmp_path):
    """Two outputs equally wrong in every frame: one by the same amount throughout, one
    alternating in sign (shimmer). Only the second pays the temporal term."""
    from osdfilter.train.data import GeneratedBatches
    from osdfilter.train.losses import generator_losses
    from osdfilter.train.sources import load_segments

    cfg = tiny_config(tmp_path, prefill="temporal", inputs="candidates")
    batch = GeneratedBatches(load_segments(cfg.data, cache_dir=cfg.cache_dir, min_len=3), [], cfg, cfg.tile, cfg.context)[0]
    target = batch["target"]
    sign = torch.tensor([(-1.0) ** t for t in range(target.shape[1])]).view(1, -1, 1, 1, 1)
    steady = generator_losses(target + 0.1, batch, 1.0, 0.0, temporal_weight=1.0)
    shimmer = generator_losses(target + 0.1 * sign, batch, 1.0, 0.0, temporal_weight=1.0)
    assert torch.isclose(steady["l1_mask"], shimmer["l1_mask"], rtol=0.01)  # (the feather band mixes in the input)
    assert steady["l1_temporal"] < 0.01 and shimmer["l1_temporal"] > 0.1  # (steady: what the feather band mixes in)
    assert shimmer["l1"] > steady["l1"] + 0.1


def test_candidates_are_built_only_where_the_tiles_read_them():
    """The filter asks the fill for its candidates over the tile crops alone
    (``LookaheadFill.cover``): the output is the same as with them built over the frame."""
    from osdfilter.filter.tiles import crop_sources

    torch.manual_seed(0)
    model = RecurrentUNet(ModelConfig.preset("fast", prefill="temporal", inputs="candidates", tile=32, context=8))
    torch.nn.init.normal_(model.head.weight, std=0.2)
    mask = bar_mask()
    frames = overlaid(np.stack(pan_frames(6, seed=3)), mask)

    def run(whole_frame: bool) -> np.ndarray:
        flt = OSDFilter(TorchRunner(model.eval()), mask, FilterConfig(chunk=4, gate=None))
        assert flt._temporal.cover == crop_sources(flt.plan) and flt._temporal.cover
        if whole_frame:
            flt._temporal.cover = None
        return np.stack([o for f in frames for o in flt.push(f)] + flt.flush())

    covered = run(False)
    assert np.array_equal(covered, run(True))
    assert np.abs(covered[:, mask].astype(int) - 255).mean() > 50  # (the network did change them)


def test_overlay_screen_takes_what_stays_put_while_the_camera_moves():
    """Inside the mask, pixels that stay put on the screen while the scene around moves are
    overlay: the network's recorded channel gets the fill there. Pixels that move with the
    scene (background inside a box mask) keep what was recorded, and a still camera screens
    nothing (it cannot tell the two apart)."""
    tex = np.stack(pan_frames(1, seed=1) * 2, 0).reshape(2 * H, W, 3)  # a tall texture, as above
    box = np.zeros((H, W), bool)
    box[20:44, 20:90] = True
    glyph = np.zeros_like(box)
    glyph[26:38, 30:40] = glyph[26:38, 60:70] = True
    fill = np.full((H, W, 3), 128, np.uint8)
    for moving in (True, False):
        screen, out = OverlayScreen(box), []
        for t in range(8):
            f = tex[(6 * t if moving else 0) : (6 * t if moving else 0) + H].copy()
            f[glyph] = 255
            out.append(screen(f, fill, box))
        last = out[-1]
        if moving:
            assert (last[glyph] == 128).all()  # the glyph: the fill
            moved = box & ~glyph
            assert np.mean(last[moved] == 128) < 0.2  # the background in the box: mostly as recorded
            assert np.array_equal(out[0][glyph], np.full((glyph.sum(), 3), 255, np.uint8))  # not before it settles
        else:
            assert (last[glyph] == 255).all()
