"""Losses and validation metrics, all on the filter's composite over the tile core.

The filter keeps input pixels outside the dilated, feathered mask and throws the tile's
context ring away, so the only pixels that reach the user are ``alpha * out + (1 - alpha)
* input`` on the core. The L1 is normalised over those pixels: a tile whose mask covers 2 %
of it weighs as much as one covering 40 %, and nothing is spent on pixels the filter discards.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-6


def composite(out: torch.Tensor, overlaid: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """What the filter writes: ``out`` inside the feathered mask, the recorded input outside."""
    return alpha * out + (1.0 - alpha) * overlaid


def masked_l1(comp: torch.Tensor, target: torch.Tensor, alpha: torch.Tensor, core: torch.Tensor,
              extra: float = 0.0, glyph: torch.Tensor | None = None) -> torch.Tensor:
    """Mean |comp - target| over the composite's weight on the tile core (``[B, T, C, H, W]`` all),
    the OSD's own pixels (``glyph``) weighing ``1 + extra``."""
    w = alpha * core if glyph is None or not extra else alpha * core * (1.0 + extra * glyph)
    return ((comp - target).abs() * w).sum() / (w.sum() * comp.shape[2] + EPS)


def core_l1(out: torch.Tensor, target: torch.Tensor, core: torch.Tensor) -> torch.Tensor:
    """Plain L1 of the raw output over the core: a weak pull towards identity outside the mask."""
    return ((out - target).abs() * core).sum() / (core.sum() * out.shape[2] + EPS)


def temporal_l1(comp: torch.Tensor, target: torch.Tensor, alpha: torch.Tensor, core: torch.Tensor) -> torch.Tensor:
    """Mean |(comp_t - comp_t-1) - (target_t - target_t-1)| over the composite's weight in both
    frames: what the output does from frame to frame that the scene does not (shimmer on a
    still scene, a ghost that comes and goes), which the per-frame L1 does not see."""
    if comp.shape[1] < 2:
        return comp.new_zeros(())
    w = torch.minimum(alpha[:, 1:], alpha[:, :-1]) * core[:, 1:]
    d = (comp[:, 1:] - comp[:, :-1]) - (target[:, 1:] - target[:, :-1])
    return (d.abs() * w).sum() / (w.sum() * comp.shape[2] + EPS)


def generator_losses(out: torch.Tensor, batch: dict[str, torch.Tensor], mask_weight: float, outside_weight: float,
                     glyph_weight: float = 0.0, temporal_weight: float = 0.0) -> dict[str, torch.Tensor]:
    """Named L1 terms and their weighted sum ``"l1"`` for one batch. ``glyph_weight``: extra
    weight of the OSD's own pixels, where a model that keeps recorded pixels leaves ghosts;
    ``temporal_weight``: of :func:`temporal_l1`."""
    comp = composite(out, batch["overlaid"], batch["alpha"])
    terms = {
        "l1_mask": masked_l1(comp, batch["target"], batch["alpha"], batch["core"], glyph_weight, batch.get("glyph")),
        "l1_outside": core_l1(out, batch["target"], batch["core"]),
        "l1_temporal": temporal_l1(comp, batch["target"], batch["alpha"], batch["core"]),
    }
    terms["l1"] = mask_weight * terms["l1_mask"] + outside_weight * terms["l1_outside"] + temporal_weight * terms["l1_temporal"]
    terms["composite"] = comp
    return terms


def to_uint8_scale(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> rounded 0..255 floats, as the filter writes 8-bit frames."""
    return torch.clamp(torch.round((x + 1.0) * 127.5), 0, 255)


def masked_sse(comp: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> tuple[float, float]:
    """(sum of squared 8-bit errors, number of weighted values) for pooled masked PSNR."""
    d = (to_uint8_scale(comp) - to_uint8_scale(target)) ** 2
    return float((d * weight).sum()), float(weight.sum() * comp.shape[2])


def psnr_from_sse(sse: float, n: float) -> float:
    mse = sse / max(n, EPS)
    return float("inf") if mse <= 0 else 10.0 * torch.log10(torch.tensor(255.0**2 / mse)).item()


def _gauss_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    g = torch.exp(-((torch.arange(size) - size // 2).float() ** 2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-pixel SSIM (Wang et al., 11x11 Gaussian window, 0..255 scale) of ``[N, C, H, W]`` images."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    C = a.shape[1]
    win = _gauss_window().to(a).expand(C, 1, 11, 11)
    blur = lambda x: F.conv2d(x, win, padding=5, groups=C)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2, blur(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))


def masked_ssim_sum(comp: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> tuple[float, float]:
    """(sum of SSIM over weighted pixels, weight sum) of ``[B, T, C, H, W]`` clips."""
    B, T, C, H, W = comp.shape
    s = ssim_map(to_uint8_scale(comp).reshape(B * T, C, H, W), to_uint8_scale(target).reshape(B * T, C, H, W))
    w = weight.reshape(B * T, 1, H, W)
    return float((s.mean(1, keepdim=True) * w).sum()), float(w.sum())


def bce_logits(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """BCE-with-logits against an all-real or all-fake patch map (the write-up's GAN loss)."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)
