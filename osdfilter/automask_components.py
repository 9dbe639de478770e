"""Second stage of the static-camera path of ``--mask auto``: keep or drop whole components.

The pixel classifier (:mod:`osdfilter.automask_net`) sees about one glyph cell around a
pixel. What it keeps still holds far more scene than OSD on a static camera (railings,
leaves, roofs: precision ~0.1, docs/automask.md). This stage looks at each 8-connected
component of what it kept as a whole, with what a pixel cannot see: the classifier's
statistics over the component, its shape, its colour, where it sits in the frame, and its
text line (other kept components on the same rows with a similar height nearby: OSD
elements are rows of equal-height cells). A 16-unit MLP scores each component; components
scored below the threshold are dropped.

Weights and threshold live in :mod:`osdfilter._automask_components` (plain numbers, a few
KB), written by this module's command from the ``clean/train`` clips and the training
fonts (never the eval clips or the held-out ``walksnail`` font)::

    python -m osdfilter.automask_components --clips ../shared/data/clean/train \\
        --fonts ../shared/data/fonts --exclude-fonts walksnail --cases 12 --jobs 2 \\
        --out osdfilter/_automask_components.py

The threshold is not tuned on the benchmark: the command cross-validates over the train
clips (two folds split by clip) and takes the highest threshold that still keeps
``--keep`` (98 %) of the held-out overlay area.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Optional

import cv2
import numpy as np

FEATURES = (
    "p_mean", "p_max", "p_hi", "log_area", "log_h", "log_w", "fill", "aspect", "std", "cue",
    "bright", "sat", "dark", "edge_x", "edge_y", "centre", "line_n", "line_p", "line_log_n",
)


def component_features(feat: np.ndarray, prob: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per 8-connected component of ``keep`` (bool [h, w]): features float32 [n, len(FEATURES)]
    and the label image int32 [h, w] (0 = background, component i is label i + 1).

    ``feat``: the pixel classifier's input (:func:`osdfilter.automask_net.features`),
    ``prob``: its output, both at the detector's working resolution.
    """
    h, w = keep.shape
    n, lab, st, cen = cv2.connectedComponentsWithStats(keep.astype(np.uint8), connectivity=8)
    n -= 1  # without the background
    if n == 0:
        return np.zeros((0, len(FEATURES)), np.float32), lab
    at = np.flatnonzero(keep.ravel())  # statistics over the kept pixels only
    ids = lab.ravel()[at] - 1
    st, cen = st[1:].astype(np.float64), cen[1:]
    area, bw, bh = st[:, cv2.CC_STAT_AREA], st[:, cv2.CC_STAT_WIDTH], st[:, cv2.CC_STAT_HEIGHT]

    def mean(values: np.ndarray) -> np.ndarray:
        return np.bincount(ids, values.astype(np.float64), minlength=n) / area

    p = prob.ravel()[at]
    p_max = np.zeros(n)
    np.maximum.at(p_max, ids, p)
    rgb = feat[:3].reshape(3, -1)[:, at].astype(np.float32)  # mean image, 0..1
    hi, lo = rgb.max(0), rgb.min(0)
    luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    p_mean = mean(p)
    cx, cy = cen[:, 0] / w, cen[:, 1] / h
    line_n, line_p = _line_context(st, p_mean)
    x = np.stack([
        p_mean, p_max, mean(p >= 0.5),
        np.log(area), np.log(bh), np.log(bw), area / (bw * bh), np.log(bw / bh),
        mean(feat[3].ravel()[at]), mean(feat[4].ravel()[at]),
        mean(hi >= 0.7), mean((hi - lo) / np.maximum(hi, 1e-3)), mean(luma <= 0.25),
        np.minimum(cx, 1 - cx), np.minimum(cy, 1 - cy), np.hypot(cx - 0.5, (cy - 0.5) * h / w),
        np.minimum(line_n, 8) / 8.0, line_p, np.log1p(line_n),
    ], 1)
    return x.astype(np.float32), lab


def _line_context(st: np.ndarray, p_mean: np.ndarray, block: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Per component (``st``: OpenCV stats rows, background dropped): how many others lie on
    its text line, i.e. share half the shorter one's rows, are at most 1.6x taller or
    shorter and at most 4 heights apart along the row; and the highest ``p_mean`` among
    them. Pairwise in blocks of ``block`` rows, so memory stays bounded on noisy frames
    with thousands of components."""
    x0, y0, bw, bh = (st[:, i] for i in range(4))
    x1, y1 = x0 + bw, y0 + bh
    n = len(st)
    count, best = np.zeros(n, np.int64), np.zeros(n)
    for a in range(0, n, block):
        i = slice(a, min(n, a + block))
        rows = np.minimum(y1[i, None], y1[None]) - np.maximum(y0[i, None], y0[None])
        line = rows >= 0.5 * np.minimum(bh[i, None], bh[None])
        line &= np.abs(np.log(bh[i, None] / bh[None])) <= np.log(1.6)
        line &= np.maximum(x0[None] - x1[i, None], x0[i, None] - x1[None]) <= 4 * np.maximum(bh[i, None], bh[None])
        line[np.arange(i.stop - a), np.arange(a, i.stop)] = False  # not itself
        count[i] = line.sum(1)
        best[i] = (line * p_mean[None]).max(1, initial=0.0)
    return count, best


def weights_of(module: Any) -> Optional[dict]:
    """The scorer (arrays and threshold) held by a weights module that :func:`export`
    wrote, or None if it was written for another feature set (unusable)."""
    if tuple(module.FEATURES) != FEATURES:
        return None
    return {k: np.asarray(getattr(module, k), np.float32) for k in ("MEAN", "STD", "W1", "B1", "W2", "B2")} | {
        "threshold": float(module.THRESHOLD)}


@lru_cache(maxsize=1)
def _weights() -> Optional[dict]:
    """The packaged scorer, or None without the weights module."""
    try:
        from . import _automask_components as W
    except ImportError:
        return None
    return weights_of(W)


def available() -> bool:
    """Whether the packaged component scorer is there."""
    return _weights() is not None


def score(x: np.ndarray, weights: Optional[dict] = None) -> np.ndarray:
    """Overlay probability per component (float32 [n]) for features ``x`` [n, len(FEATURES)]."""
    wt = weights if weights is not None else _weights()
    z = (x - wt["MEAN"]) / wt["STD"]
    hidden = np.maximum(z @ wt["W1"].T + wt["B1"], 0.0)
    logit = (hidden @ wt["W2"].T + wt["B2"])[:, 0]
    return (0.5 + 0.5 * np.tanh(0.5 * logit)).astype(np.float32)  # the sigmoid, without overflow


def filter_components(feat: np.ndarray, prob: np.ndarray, keep: np.ndarray,
                      threshold: Optional[float] = None, weights: Optional[dict] = None) -> np.ndarray:
    """``keep`` without the components scored below ``threshold`` (None: the packaged one)."""
    wt = weights if weights is not None else _weights()
    x, lab = component_features(feat, prob, keep)
    if not len(x):
        return keep
    t = wt["threshold"] if threshold is None else threshold
    return np.concatenate([[False], score(x, wt) >= t])[lab]


# ------------------------------------------------------------------------ training


def case_table(feat: np.ndarray, label: np.ndarray, static_prob: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One synthetic case as training rows: features [n, F], the fraction of each
    component within 2 px of the overlay [n], and component areas [n]."""
    from . import automask_net
    from .automask import _disk

    prob = automask_net.predict(feat)
    keep = (feat[5] > 0.5) & (prob >= static_prob)  # what the pixel stage keeps
    x, lab = component_features(feat, prob, keep)
    near = cv2.dilate(label.astype(np.uint8), _disk(2)).astype(bool)
    area = np.bincount(lab.ravel(), minlength=len(x) + 1)[1:].astype(np.float64)
    inside = np.bincount(lab.ravel(), near.ravel().astype(np.float64), minlength=len(x) + 1)[1:]
    return x, inside / np.maximum(area, 1.0), area


def _clip_tables(job: tuple) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The cases of one train clip (its own seeded generator: any ``--jobs`` gives the same data)."""
    from . import automask_net
    from .automask import AutoMaskConfig
    from .train.data import load_fonts
    from .train.sources import read_clip

    path, index, seed, cases, fonts_dir, exclude = job
    fonts = load_fonts(fonts_dir, exclude) or None  # None: builtin glyphs
    rng = np.random.default_rng([seed, index])
    clip = read_clip(path, 96, 1280)
    cfg = AutoMaskConfig()
    out = []
    for _ in range(cases):
        feat, label, moving = automask_net.make_static_case(clip, rng, fonts, p_movers=0.3)
        if moving < cfg.moving_std:  # the moving-camera path never runs this stage
            out.append(case_table(feat, label, cfg.static_prob))
    return out


def fit(x: np.ndarray, inside: np.ndarray, area: np.ndarray, hidden: int = 16, steps: int = 3000,
        seed: int = 0) -> dict:
    """Train the scorer: a component is overlay when half of it lies on the overlay;
    the loss weights each by the square root of its area (big merged scene blobs count
    more than specks, but do not drown the glyph strings)."""
    import torch

    torch.manual_seed(seed)
    mean, std = x.mean(0), np.maximum(x.std(0), 1e-3)  # a constant feature must not blow up later
    xt = torch.tensor((x - mean) / std, dtype=torch.float32)
    yt = torch.tensor(inside >= 0.5, dtype=torch.float32)
    wt = torch.tensor(np.sqrt(area) / np.sqrt(area).mean(), dtype=torch.float32)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
    opt = torch.optim.Adam(net.parameters(), 1e-2, weight_decay=1e-3)
    for _ in range(steps):  # full batch: a few ten thousand rows
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xt)[:, 0], yt, weight=wt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    p = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    return {"MEAN": mean.astype(np.float32), "STD": std.astype(np.float32), "W1": p["0.weight"],
            "B1": p["0.bias"], "W2": p["2.weight"], "B2": p["2.bias"], "threshold": 0.5}


def pick_threshold(scores: np.ndarray, inside: np.ndarray, area: np.ndarray, keep: float) -> float:
    """Highest threshold (0.01 steps) keeping at least ``keep`` of the overlay area."""
    overlay = inside * area
    for t in np.round(np.arange(0.99, 0.0, -0.01), 2):
        if overlay[scores >= t].sum() >= keep * overlay.sum():
            return float(t)
    return 0.0


def export(weights: dict, path: str, note: str) -> int:
    """Write the scorer as a Python module of plain numbers; returns its size in bytes."""
    def arr(a: np.ndarray) -> str:
        return repr(np.round(np.asarray(a, np.float64), 6).tolist())

    body = ('"""Component scorer of osdfilter.automask_components (generated by `python -m '
            'osdfilter.automask_components`; do not edit).\n\n' + note.strip() + '\n"""\n\n'
            f"FEATURES = {FEATURES!r}\n"
            f"THRESHOLD = {weights['threshold']!r}\n"
            + "".join(f"{k} = {arr(weights[k])}\n" for k in ("MEAN", "STD", "W1", "B1", "W2", "B2")))
    with open(path, "w") as fh:
        fh.write(body)
    return len(body)


def main(argv=None) -> None:
    import argparse
    import time
    from multiprocessing import get_context
    from pathlib import Path

    ap = argparse.ArgumentParser(description="Train the static-camera component scorer of --mask auto.")
    ap.add_argument("--clips", type=Path, required=True, help="folder of TRAIN clips (never eval)")
    ap.add_argument("--fonts", type=Path, default=None, help="OSD font folder (default: builtin glyphs)")
    ap.add_argument("--exclude-fonts", nargs="*", default=["walksnail"])
    ap.add_argument("--cases", type=int, default=12, help="synthetic static cases per clip")
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--keep", type=float, default=0.98,
                    help="overlay area the threshold keeps on held-out clips (cross-validated)")
    ap.add_argument("--jobs", type=int, default=1, help="clips synthesised at once")
    ap.add_argument("--out", type=Path, default=None, help="weights module to write")
    args = ap.parse_args(argv)
    clips = sorted(p for p in args.clips.iterdir() if p.suffix in (".mp4", ".webm", ".mkv", ".mov"))
    jobs = [(p, i, args.seed, args.cases, str(args.fonts) if args.fonts else None, args.exclude_fonts)
            for i, p in enumerate(clips)]
    t0 = time.time()
    if args.jobs > 1:
        with get_context("spawn").Pool(args.jobs) as pool:
            per_clip = pool.map(_clip_tables, jobs)
    else:
        per_clip = [_clip_tables(j) for j in jobs]
    print(f"{sum(map(len, per_clip))} cases from {len(clips)} clips ({time.time() - t0:.0f} s)", flush=True)

    def stack(which: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = [t for i in which for t in per_clip[i]]
        return tuple(np.concatenate([r[k] for r in rows]) for k in range(3))

    # Threshold from held-out clips: two folds, split by clip.
    folds = [list(range(k, len(clips), 2)) for k in (0, 1)]
    if not all(any(per_clip[i] for i in f) for f in folds):
        raise SystemExit("need static cases from at least two clips (one per cross-validation fold)")
    held = []
    for k in (0, 1):
        wt = fit(*stack(folds[1 - k]), hidden=args.hidden, steps=args.steps, seed=args.seed)
        x, inside, area = stack(folds[k])
        held.append((score(x, wt), inside, area))
    s, inside, area = (np.concatenate([h[i] for h in held]) for i in range(3))
    threshold = pick_threshold(s, inside, area, args.keep)
    overlay, scene = inside * area, (1 - inside) * area
    kept = s >= threshold
    cv = (f"held-out clips (2 folds): threshold {threshold:.2f} keeps {overlay[kept].sum() / overlay.sum():.3f} "
          f"of the overlay area and {scene[kept].sum() / scene.sum():.3f} of the scene area "
          f"({len(s)} components)")
    print(cv)
    weights = fit(*stack(list(range(len(clips)))), hidden=args.hidden, steps=args.steps, seed=args.seed)
    weights["threshold"] = threshold
    if args.out:
        note = (f"Trained with: python -m osdfilter.automask_components --clips {args.clips} "
                f"--fonts {args.fonts} --exclude-fonts {' '.join(args.exclude_fonts)} --cases {args.cases} "
                f"--seed {args.seed} --hidden {args.hidden} --steps {args.steps} --keep {args.keep}\n"
                f"Cross-validation, {cv}.")
        print(f"wrote {args.out} ({export(weights, str(args.out), note)} bytes)")


if __name__ == "__main__":
    main()
