"""Training of the component scorer of ``--mask auto`` (:mod:`osdfilter.masks.auto.components`,
which runs it). The threshold is not tuned on the benchmark: the command cross-validates
over the train clips (two folds split by clip) and takes the highest threshold that still
keeps ``--keep`` (98 %) of the held-out overlay area::

    python -m osdfilter.train.automask.components --clips ../shared/data/clean/train \\
        --fonts ../shared/data/fonts --exclude-fonts walksnail --cases 12 --jobs 2 \\
        --out osdfilter/weights/automask_components.json
"""

from __future__ import annotations

import json

import cv2
import numpy as np

from ...masks.auto import classifier
from ...masks.auto.components import FEATURES, component_features, score
from ...masks.auto.config import AutoMaskConfig
from ...masks.auto.cues import _disk
from .classifier import make_static_case


def case_table(feat: np.ndarray, label: np.ndarray, static_prob: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One synthetic case as training rows: features [n, F], the fraction of each
    component within 2 px of the overlay [n], and component areas [n]."""
    prob = classifier.predict(feat)
    keep = (feat[5] > 0.5) & (prob >= static_prob)  # what the pixel stage keeps
    x, lab = component_features(feat, prob, keep)
    near = cv2.dilate(label.astype(np.uint8), _disk(2)).astype(bool)
    area = np.bincount(lab.ravel(), minlength=len(x) + 1)[1:].astype(np.float64)
    inside = np.bincount(lab.ravel(), near.ravel().astype(np.float64), minlength=len(x) + 1)[1:]
    return x, inside / np.maximum(area, 1.0), area


def _clip_tables(job: tuple) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The cases of one train clip (its own seeded generator: any ``--jobs`` gives the same data)."""
    from ..data import load_fonts
    from ..sources import read_clip

    path, index, seed, cases, fonts_dir, exclude = job
    fonts = load_fonts(fonts_dir, exclude) or None  # None: builtin glyphs
    rng = np.random.default_rng([seed, index])
    clip = read_clip(path, 96, 1280)
    cfg = AutoMaskConfig()
    out = []
    for _ in range(cases):
        feat, label, moving = make_static_case(clip, rng, fonts, p_movers=0.3)
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
    """Write the scorer as a JSON file of plain numbers; returns its size in bytes."""
    def arr(a: np.ndarray) -> list:
        return np.round(np.asarray(a, np.float64), 6).tolist()

    data = {"note": note.strip(), "features": list(FEATURES), "threshold": weights["threshold"]}
    data |= {k: arr(weights[k]) for k in ("MEAN", "STD", "W1", "B1", "W2", "B2")}
    body = json.dumps(data, indent=1) + "\n"
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
    ap.add_argument("--out", type=Path, default=None, help="weights file to write (.json)")
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
        note = (f"Trained with: python -m osdfilter.train.automask.components --clips {args.clips} "
                f"--fonts {args.fonts} --exclude-fonts {' '.join(args.exclude_fonts)} --cases {args.cases} "
                f"--seed {args.seed} --hidden {args.hidden} --steps {args.steps} --keep {args.keep}\n"
                f"Cross-validation, {cv}.")
        print(f"wrote {args.out} ({export(weights, str(args.out), note)} bytes)")


if __name__ == "__main__":
    main()
