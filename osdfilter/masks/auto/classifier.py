"""A small learned overlay classifier for the static-camera path of ``--mask auto``.

With a static camera every textured pixel is temporally persistent, so the layout pass
(:mod:`osdfilter.masks.auto.detector`) can only use the look of the *mean image*: its
outlined-stroke candidates also take railings, leaves, text on clothes (a large share of
the frame on the benchmark's static clips; docs/automask.md). This module scores every
working-resolution pixel with a tiny U-Net (11.8k weights, three scales, receptive
field ~40 px, i.e. about one glyph cell plus its neighbours) and the detector keeps the
candidate pixels it scores as overlay.

Input features (:func:`features`, all at the detector's working resolution): the mean
image (RGB / 255), the temporal luma std (/ 16, clipped at 2), the fraction of frames
where the per-frame outlined-stroke cue fired, and the static candidate mask itself.
Output: the probability that a pixel is within the glyph mask (glyph + outline).

Weights are data files of the package, ``weights/automask_classifier.npz`` (float16
arrays) and ``weights/automask_classifier.json`` (architecture, how they were trained),
made by :mod:`osdfilter.train.automask.classifier` from the clips that
``../shared/data/MANIFEST.md`` marks ``train`` and the OSD fonts *except* the held-out
``walksnail`` folder (the eval clips and the held-out font are never seen)::

    python -m osdfilter.train.automask.classifier --clips ../shared/data/clean/train \\
        --fonts ../shared/data/fonts --exclude-fonts walksnail --cases 8 --steps 1500 \\
        --out osdfilter/weights/automask_classifier.npz

Training cases are static-camera clips synthesised from the train clips: a frame frozen
for the whole window with per-frame sensor noise and a slow brightness drift, or a
stretch of a clip whose camera does not move (median temporal luma std below the
detector's ``moving_std``), 30 % of them shrunk and tiled (dense texture), each with a
random OSD (:class:`osdfilter.osd.OSDSynth`, default look or semi-transparent + noisy)
and a libx264 round trip at CRF 14-26. See
``docs/automask.md`` for the measured effect.

Inference uses PyTorch (already a dependency of the filter) on the CPU; without the
weights the detector falls back to the plain candidates.
"""

from __future__ import annotations

import io
import json
from functools import lru_cache
from importlib.resources import files

import numpy as np

N_FEATURES = 6
WIDTHS = (8, 12, 16)  # channels per scale: full, 1/2 and 1/4 working resolution
HCTX = 0  # row-context kernel half width at the coarsest scale (0: none)
LEGACY = {"widths": WIDTHS, "hctx": HCTX}  # weights saved without their architecture (the first ones)
WEIGHTS = "automask_classifier"  # weights/<name>.npz and .json in the package


def features(mean_rgb: np.ndarray, std: np.ndarray, cue_frac: np.ndarray,
             cand: np.ndarray) -> np.ndarray:
    """float32 [N_FEATURES, H, W] from the detector's accumulators (working resolution):
    mean RGB (float, 0..255) [H, W, 3], temporal luma std [H, W], cue fraction [H, W]
    (0..1), static candidate mask (bool) [H, W]."""
    f = np.empty((N_FEATURES,) + std.shape, np.float32)
    f[:3] = np.moveaxis(mean_rgb, 2, 0) / 255.0
    f[3] = np.minimum(std / 16.0, 2.0)
    f[4] = cue_frac
    f[5] = cand
    return f


def _build(widths=WIDTHS, hctx: int = HCTX):
    """U-Net with ``len(widths)`` scales (2 convs per scale, max-pool down, nearest up +
    skip). ``hctx`` > 0 adds a residual 1 x (2 hctx + 1) convolution at the coarsest scale:
    context along text rows (OSD glyphs come in rows of equal-height cells)."""
    import torch
    from torch import nn

    def conv(cin, cout, k=3):
        return nn.Conv2d(cin, cout, k, padding=(k // 2) if isinstance(k, int) else (k[0] // 2, k[1] // 2),
                         padding_mode="reflect")

    def block(cin, cout):
        return nn.Sequential(conv(cin, cout), nn.ReLU(), conv(cout, cout), nn.ReLU())

    levels = len(widths)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            cin = N_FEATURES
            for i, w in enumerate(widths):  # names e1.., d1.. (the first weights' layout)
                setattr(self, f"e{i + 1}", block(cin, w))
                cin = w
            for i in range(levels - 1):
                setattr(self, f"d{i + 1}", nn.Sequential(conv(widths[i] + widths[i + 1], widths[i]), nn.ReLU()))
            if hctx:
                self.hctx = nn.Sequential(conv(widths[-1], widths[-1], (1, 2 * hctx + 1)), nn.ReLU())
            self.head = nn.Conv2d(widths[0], 1, 1)

        def forward(self, x):
            f = torch.nn.functional
            skips = []
            for i in range(levels):
                x = getattr(self, f"e{i + 1}")(x if i == 0 else f.max_pool2d(x, 2))
                skips.append(x)
            y = skips[-1]
            if hctx:
                y = y + self.hctx(y)
            for i in range(levels - 2, -1, -1):
                up = f.interpolate(y, size=skips[i].shape[-2:], mode="nearest")
                y = getattr(self, f"d{i + 1}")(torch.cat([skips[i], up], 1))
            return self.head(y)[:, 0]

    net = Net()
    net.arch = {"widths": list(widths), "hctx": hctx}
    net.multiple = 2 ** (levels - 1)
    # reflect padding needs the coarsest scale larger than its kernels' reach
    net.min_size = (2 * net.multiple, max(2, hctx + 1) * net.multiple)  # (h, w)
    return net


@lru_cache(maxsize=1)
def _model():
    """The packaged model, or None without torch or the weights files."""
    try:
        import torch

        folder = files("osdfilter") / "weights"
        raw = (folder / f"{WEIGHTS}.npz").read_bytes()
        meta = json.loads((folder / f"{WEIGHTS}.json").read_text())
    except (ImportError, FileNotFoundError):
        return None
    return load_net(raw, meta.get("arch", LEGACY), torch)


def load_net(npz: bytes, arch: dict, torch):
    """The network of ``arch`` with the weights of an ``.npz`` file's bytes (float32)."""
    net = _build(tuple(arch["widths"]), int(arch["hctx"]))
    arrays = np.load(io.BytesIO(npz))
    state = {k: torch.from_numpy(arrays[k].astype(np.float32)) for k in arrays.files}
    net.load_state_dict(state)
    return net.eval()


def available() -> bool:
    return _model() is not None


def predict(feat: np.ndarray, net=None) -> np.ndarray | None:
    """Overlay probability float32 [H, W] for features [N_FEATURES, H, W], or None when
    there are no weights. Sizes are padded (edge) to a multiple of 2^(scales - 1), and small
    frames to the size the coarsest scale's kernels need."""
    import torch

    net = net if net is not None else _model()
    if net is None:
        return None
    _, h, w = feat.shape
    m = net.multiple
    min_h, min_w = net.min_size
    ph, pw = max((-h) % m, min_h - h), max((-w) % m, min_w - w)
    x = torch.from_numpy(np.ascontiguousarray(feat))[None]
    if ph or pw:
        x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="replicate")
    with torch.no_grad():
        y = torch.sigmoid(net(x))[0, :h, :w]
    return y.numpy()
