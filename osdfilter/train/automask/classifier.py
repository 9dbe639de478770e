"""Training of the static-camera overlay classifier of ``--mask auto``
(:mod:`osdfilter.masks.auto.classifier`, which runs it).

Training cases are static-camera clips synthesised from the train clips: a frame frozen
for the whole window with per-frame sensor noise and a slow brightness drift, or a
stretch of a clip whose camera does not move (median temporal luma std below the
detector's ``moving_std``), 30 % of them shrunk and tiled (dense texture), each with a
random OSD (:class:`osdfilter.osd.OSDSynth`, default look or semi-transparent + noisy)
and a libx264 round trip at CRF 14-26. The command::

    python -m osdfilter.train.automask.classifier --clips ../shared/data/clean/train \\
        --fonts ../shared/data/fonts --exclude-fonts walksnail --cases 8 --steps 1500 \\
        --out osdfilter/weights/automask_classifier.npz
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from ...masks.auto.classifier import HCTX, WIDTHS, _build, predict


def export_weights(net, path: str, note: str = "") -> int:
    """Write the weights as ``path`` (an ``.npz`` of float16 arrays) and, beside it, the
    ``.json`` with the architecture and ``note``; returns their size in bytes."""
    npz, meta = Path(path).with_suffix(".npz"), Path(path).with_suffix(".json")
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: v.detach().cpu().numpy().astype(np.float16)
                                for k, v in net.state_dict().items()})
    npz.write_bytes(buf.getvalue())
    meta.write_text(json.dumps({"arch": net.arch, "note": note.strip()}, indent=1) + "\n")
    return npz.stat().st_size + meta.stat().st_size


def _encode_decode(frames: np.ndarray, crf: int) -> np.ndarray:
    import av

    buf = io.BytesIO()
    t, h, w = frames.shape[:3]
    with av.open(buf, "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": str(crf), "preset": "veryfast"}
        for f in frames:
            out.mux(vs.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(vs.encode())
    buf.seek(0)
    with av.open(buf) as box:
        return np.stack([f.to_ndarray(format="rgb24") for f in box.decode(video=0)])


def make_static_case(clip: np.ndarray, rng: np.random.Generator, fonts, n_frames: int = 24,
                     p_movers: float = 0.0, p_noisy: float = 0.35):
    """One synthetic static-camera case -> (features [C, h, w], label bool [h, w], moving).

    ``clip``: uint8 RGB frames of a train clip (already scaled). Frozen frame + noise and
    drift, or (when the clip stretch does not move) the stretch itself."""
    import cv2

    from ...masks.auto.config import AutoMaskConfig
    from ...masks.auto.detector import MaskDetector
    from ...osd import OSDStyle, OSDSynth

    t_all, h, w = clip.shape[:3]
    # random working size: small DVR frames to 960 wide (some upscaled: small fonts)
    target_w = int(rng.choice([432, 480, 640, 854, 960]))
    s = target_w / w
    size = (int(round(w * s / 2)) * 2, int(round(h * s / 2)) * 2)
    start = int(rng.integers(0, max(1, t_all - n_frames)))
    seq = clip[start:start + n_frames]
    if len(seq) < n_frames or rng.random() < 0.8:
        frozen = seq[int(rng.integers(len(seq)))]
        seq = np.repeat(frozen[None], n_frames, axis=0)
        if p_movers > 0 and rng.random() < p_movers:  # people / cars moving in front of a still camera
            seq = _add_movers(seq, clip, rng)
        drift = rng.uniform(-6, 6) * np.linspace(0, 1, n_frames)
        sigma = rng.uniform(0.3, 3.0)
        noise = rng.normal(0, sigma, seq.shape) + drift[:, None, None, None]
        seq = np.clip(seq + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:  # dense texture (aerial city, foliage): shrunk, mirrored tiles
        k = int(rng.integers(2, 4))
        seq = np.stack([_tile(f, k) for f in seq])
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    seq = np.stack([cv2.resize(f, size, interpolation=interp) for f in seq])
    hh, ww = seq.shape[1:3]
    if rng.random() < p_noisy:  # the benchmark's "noisy" DVR look (semi-transparent)
        style = OSDStyle(p_transparent=1.0, p_noise=1.0, p_chroma_bleed=0.0, p_jpeg=0.0)
    else:
        style = OSDStyle(p_chroma_bleed=0.0, p_noise=0.2, p_jpeg=0.1)
    synth = OSDSynth(hh, ww, rng=rng, fonts=fonts, style=style)
    over, glyph, _ = synth.render_clip(seq)
    over = _encode_decode(over, int(rng.choice([14, 14, 20, 26])))
    det = MaskDetector(hh, ww, AutoMaskConfig())
    for f in over:
        det.observe(f)
    feat = det.static_features()
    label = glyph.any(axis=0)
    if det.scale < 1.0:
        label = cv2.resize(label.astype(np.float32), det.work_size, interpolation=cv2.INTER_AREA) > 0.3
    return feat, label, det.moving


def _add_movers(seq: np.ndarray, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """1-3 elliptical patches of other clip frames sliding across the frozen frames."""
    import cv2

    t, h, w = seq.shape[:3]
    seq = seq.astype(np.float32)
    for _ in range(int(rng.integers(1, 4))):
        ph = int(h * rng.uniform(0.12, 0.4))
        pw = max(8, int(ph * rng.uniform(0.3, 1.0)))
        src = clip[int(rng.integers(len(clip)))]
        sy, sx = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
        patch = src[sy:sy + ph, sx:sx + pw].astype(np.float32)
        alpha = np.zeros((ph, pw), np.float32)
        cv2.ellipse(alpha, (pw // 2, ph // 2), (max(1, pw // 2 - 1), max(1, ph // 2 - 1)), 0, 0, 360, 1.0, -1)
        alpha = cv2.GaussianBlur(alpha, (0, 0), 1.5)[..., None]
        y0, x0 = rng.uniform(0, h - ph), rng.uniform(-pw / 2, w - pw / 2)
        vy, vx = rng.normal(0, 0.5), rng.uniform(1, 5) * rng.choice([-1, 1])
        for i in range(t):
            y, x = int(round(y0 + vy * i)), int(round(x0 + vx * i))
            ya, xa = max(0, y), max(0, x)
            yb, xb = min(h, y + ph), min(w, x + pw)
            if ya >= yb or xa >= xb:
                continue
            a = alpha[ya - y:yb - y, xa - x:xb - x]
            seq[i, ya:yb, xa:xb] = a * patch[ya - y:yb - y, xa - x:xb - x] + (1 - a) * seq[i, ya:yb, xa:xb]
    return np.clip(seq, 0, 255).astype(np.uint8)


def _tile(frame: np.ndarray, k: int) -> np.ndarray:
    """The frame shrunk k times and tiled k x k (alternate tiles mirrored), same size."""
    import cv2

    h, w = frame.shape[:2]
    small = cv2.resize(frame, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
    row = np.concatenate([small if i % 2 == 0 else small[:, ::-1] for i in range(k)], axis=1)
    grid = np.concatenate([row if i % 2 == 0 else row[::-1] for i in range(k)], axis=0)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_LINEAR)


def _crops(feat, label, rng, n: int, size: int):
    c, h, w = feat.shape
    size = min(size, h, w) // 4 * 4
    ys, xs = np.nonzero(label)
    out_f, out_l = [], []
    for i in range(n):
        if i % 2 == 0 and len(ys):
            j = int(rng.integers(len(ys)))
            y0 = int(np.clip(ys[j] - rng.integers(size), 0, h - size))
            x0 = int(np.clip(xs[j] - rng.integers(size), 0, w - size))
        else:
            y0, x0 = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
        out_f.append(feat[:, y0:y0 + size, x0:x0 + size])
        out_l.append(label[y0:y0 + size, x0:x0 + size])
    return out_f, out_l


def val_scores(net, vf, vl, thresholds=(0.15, 0.3, 0.5)) -> dict:
    """Recall / precision on whole-frame validation cases, the benchmark's way: the
    candidates kept at each threshold, specks dropped, dilated 1 px (the detector), then
    overlay pixels at 2 px tolerance (:func:`osdfilter.masks.auto.cues.mask_recall_precision`)
    against the label at working resolution. {threshold: (recall, precision, fraction)};
    threshold None = the candidates alone."""
    import cv2

    from ...masks.auto.config import AutoMaskConfig
    from ...masks.auto.cues import _disk, _drop_specks, mask_recall_precision

    c = AutoMaskConfig()
    probs = [predict(np.asarray(f, np.float32), net) for f in vf]
    out = {}
    for t in (None,) + tuple(thresholds):
        rows = []
        for f, lb, p in zip(vf, vl, probs):
            k = np.asarray(f[5]) > 0.5
            if t is not None:
                k &= p >= t
            k = _drop_specks(k, c.min_area)
            k = cv2.dilate(k.view(np.uint8), _disk(1)).view(bool)
            r, pr = mask_recall_precision(k, lb)
            rows.append((r, pr, k.mean()))
        out[t] = tuple(np.mean(rows, axis=0))
    return out


def main(argv=None) -> None:
    import argparse
    import time
    from pathlib import Path

    import torch

    from ..data import load_fonts
    from ..sources import read_clip

    ap = argparse.ArgumentParser(description="Train the static-camera overlay classifier of --mask auto.")
    ap.add_argument("--clips", type=Path, required=True, help="folder of TRAIN clips (never eval)")
    ap.add_argument("--fonts", type=Path, required=True)
    ap.add_argument("--exclude-fonts", nargs="*", default=["walksnail"])
    ap.add_argument("--cases", type=int, default=8, help="synthetic cases per clip")
    ap.add_argument("--steps", type=int, default=1500, help="0: synthesise and --save-data only")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--crop", type=int, default=64, help="training crop (cut from the cached crops)")
    ap.add_argument("--cache-crop", type=int, default=96, help="crop size cached per case")
    ap.add_argument("--crops-per-case", type=int, default=16)
    ap.add_argument("--val-every", type=int, default=3,
                    help="hold out the first case of every n-th clip (whole frame, not trained on)")
    ap.add_argument("--max-val", type=int, default=8)
    ap.add_argument("--widths", type=int, nargs="+", default=list(WIDTHS), help="channels per scale")
    ap.add_argument("--hctx", type=int, default=HCTX, help="row-context kernel half width at the coarsest scale")
    ap.add_argument("--p-movers", type=float, default=0.0,
                    help="fraction of frozen-frame cases with moving patches (people, cars)")
    ap.add_argument("--p-noisy", type=float, default=0.35,
                    help="fraction of cases with the semi-transparent + noisy OSD look")
    ap.add_argument("--bg-weight", type=float, default=1.0,
                    help="loss weight of pixels that are neither candidates nor overlay")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--pos-weight", type=float, default=3.0)
    ap.add_argument("--out", type=Path, default=None, help="weights to write (.npz, and its .json beside it)")
    ap.add_argument("--save-data", type=Path, default=None, help="cache the cases (.npz)")
    ap.add_argument("--load-data", type=Path, nargs="+", default=None, help="cached cases (.npz), concatenated")
    ap.add_argument("--part", default="0/1", help="K/N: synthesise from every N-th clip starting at K")
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    crop = args.cache_crop
    if args.load_data:
        xf, xl, vf, vl = [], [], [], []
        for path in args.load_data:
            d = np.load(path)
            nv = sum(k.startswith("vf") for k in d.files)
            xf.append(d["xf"])
            xl.append(d["xl"])
            vf += [d[f"vf{i}"] for i in range(nv)]
            vl += [d[f"vl{i}"] for i in range(nv)]
        xf, xl = np.concatenate(xf), np.concatenate(xl)
    else:
        fonts = load_fonts(str(args.fonts), args.exclude_fonts)
        k0, n_parts = (int(v) for v in args.part.split("/"))
        clips = sorted(p for p in args.clips.iterdir() if p.suffix in (".mp4", ".webm"))[k0::n_parts]
        xf, xl, vf, vl = [], [], [], []
        t0 = time.time()
        for ci, path in enumerate(clips):
            clip = read_clip(path, 96, 1280)
            for k in range(args.cases):
                feat, label, moving = make_static_case(clip, rng, fonts, p_movers=args.p_movers,
                                                       p_noisy=args.p_noisy)
                if moving >= 8.0:
                    continue  # the moving-camera path never runs the net
                if k == 0 and ci % args.val_every == 0 and len(vf) < args.max_val:  # whole-frame
                    vf.append(feat)  # validation cases (not trained on)
                    vl.append(label)
                    continue
                f, l = _crops(feat, label, rng, args.crops_per_case, crop)
                xf += [np.pad(a, ((0, 0), (0, crop - a.shape[1]), (0, crop - a.shape[2])), mode="edge")
                       for a in f]
                xl += [np.pad(a, ((0, crop - a.shape[0]), (0, crop - a.shape[1])), mode="edge") for a in l]
            print(f"{path.name}: {len(xf)} crops ({time.time() - t0:.0f} s)", flush=True)
        xf, xl = np.stack(xf).astype(np.float16), np.stack(xl)
        if args.save_data:
            np.savez(args.save_data, xf=xf, xl=xl, **{f"vf{i}": f for i, f in enumerate(vf)},
                     **{f"vl{i}": lb for i, lb in enumerate(vl)})
    if args.steps == 0:
        return  # synthesis only (--save-data)
    net = _build(tuple(args.widths), args.hctx)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.steps)
    xf_t, xl_t = torch.from_numpy(xf), torch.from_numpy(xl)
    pos = float(xl.mean())
    print(f"{len(xf)} crops, positive fraction {pos:.3f}, {sum(p.numel() for p in net.parameters())} weights, "
          f"{len(vf)} validation cases")
    t0 = time.time()
    for step in range(args.steps):
        idx = torch.from_numpy(rng.integers(0, len(xf_t), args.batch))
        oy, ox = (int(v) for v in rng.integers(0, xf_t.shape[-1] - args.crop + 1, 2))
        x = xf_t[idx, :, oy:oy + args.crop, ox:ox + args.crop].float()
        y = xl_t[idx, oy:oy + args.crop, ox:ox + args.crop].float()
        if rng.random() < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        logit = net(x)
        wt = None
        if args.bg_weight != 1.0:  # pixels neither candidate nor overlay: the easy part
            wt = torch.where((x[:, 5] > 0.5) | (y > 0.5), 1.0, args.bg_weight)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, y, weight=wt,
                                                                    pos_weight=torch.tensor(args.pos_weight))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.4f} ({time.time() - t0:.0f} s)", flush=True)
    net.eval()
    for t, (r, p, m) in (val_scores(net, vf, vl, (0.15, 0.25, 0.35, 0.5)) if vf else {}).items():
        print(f"val (2 px, candidates{'' if t is None else f' & p>={t}'}): recall {r:.3f} precision {p:.3f} "
              f"mask {m * 100:.1f} %")
    if args.out:
        note = (f"Trained with: python -m osdfilter.train.automask.classifier --clips {args.clips} --fonts {args.fonts} "
                f"--exclude-fonts {' '.join(args.exclude_fonts)} --cases {args.cases} --steps {args.steps} "
                f"--seed {args.seed} --batch {args.batch} --crop {args.crop} --cache-crop {args.cache_crop} "
                f"--crops-per-case {args.crops_per_case} --widths {' '.join(map(str, args.widths))} "
                f"--hctx {args.hctx} --bg-weight {args.bg_weight}"
                + (f" --load-data {' '.join(p.name for p in args.load_data)}" if args.load_data else ""))
        print(f"wrote {args.out} ({export_weights(net, str(args.out), note)} bytes)")


if __name__ == "__main__":
    main()
