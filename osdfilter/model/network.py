"""The recurrent U-Net: the one model definition used by training, inference and export.

Architecture (where it sits in the flow: docs/architecture.md):
residual conv blocks, 4 encoder levels with 3 max-pools (bottleneck at 1/8),
a ConvLSTM bottleneck with a skip around it (decoder sees ``h + x``), a
transposed-conv decoder with skip concatenation, and a 1x1 conv + tanh head.

The model holds no recurrent state: ``forward(x, state) -> (y, state)``; the caller
(stream loop or trainer) owns ``state``. Nothing per-call is stored on ``self``.

Input ``x`` is ``(B, T, C, H, W)``: RGB in [-1, 1] plus a {0, 1} mask channel, and with
``inputs="candidates"`` the fill's 12 candidate channels (colours in [-1, 1], scores in [0, 1])
and the recorded frame (RGB in [-1, 1], the OSD still in it).
With ``residual=True`` the RGB inside the mask is expected to be a classical fill
(see :mod:`osdfilter.filter.fill`) and the head predicts a correction in tanh's
pre-activation space, initialised to zero, so an untrained model returns its
input fill exactly, which is what makes CPU-scale training useful.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

State = Tuple[torch.Tensor, torch.Tensor]

PRESETS: dict[str, tuple[int, int, int, int]] = {
    "large": (64, 128, 256, 512),  # the write-up, exactly
    "small": (16, 32, 64, 128),
    "tiny": (8, 16, 32, 64),  # the shipped default's widths
    # Space-to-depth stem (STEMS): the U-Net runs at half resolution on 2x2 pixel blocks,
    # skipping tiny's memory-bound full-resolution layers (docs/benchmarks.md, Training).
    "fast": (16, 32, 48, 64),
}
STEMS: dict[str, int] = {"fast": 2}  # presets with a space-to-depth stem (block size)
INPUT_CHANNELS: dict[str, int] = {"fill": 4, "candidates": 19}  # ModelConfig.inputs


def is_gate(value: Any) -> bool:
    """Whether ``value`` is a region gate: None (the network on every region) or a share in [0, 1)."""
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value < 1.0)


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model; saved in checkpoints and ONNX metadata."""

    widths: tuple[int, int, int, int] = PRESETS["small"]
    # "fill": the fill's RGB + mask. "candidates": also what the fill chose from, per pixel
    # (colours and scores of the past, future and spatial candidates, 12 channels:
    # osdfilter.filter.lookahead.CANDIDATES), so that the network can fuse them, and the frame
    # as recorded (3): inside a grown or box mask most pixels are no OSD and can be kept.
    inputs: str = "fill"
    in_channels: int = 0  # 0 = from ``inputs`` (4 or 19)
    # Space-to-depth block: the input is folded into stem x stem blocks (pixel_unshuffle)
    # before the first layer and the head's output unfolded, so no layer runs at full
    # resolution. 1 = none (every model before it).
    stem: int = 1
    out_channels: int = 3
    lstm_kernel: int = 3
    residual: bool = True  # head corrects the (pre-filled) input instead of drawing from nothing
    prefill: str = "telea"  # classical fill the filter puts inside the mask before the model
    # Inference hints: the model runs on full-resolution tiles around the mask.
    tile: int = 64  # tile core size in pixels (multiple of 8)
    # Inference hint, measured for each model on the benchmark matrix: a region skips the
    # network in a frame where at most this share of its masked pixels fell back to the
    # spatial fill (what the fill carried from other frames a network may not improve); None =
    # the network runs on every region in every frame (FilterConfig.gate overrides it).
    gate: Optional[float] = 0.6
    # Context margin around each tile core (multiple of 4: cores are multiples of 8, crops core
    # + 2 x context). At inference: for frames up to 1280 px on the long side, grown with it
    # above (filter.core.scaled_context).
    context: int = 16
    normalisation: str = "rgb_pm1"  # RGB uint8 -> [-1, 1]: x / 127.5 - 1
    extra: dict = field(default_factory=dict)  # free-form provenance (training run, etc.)

    def __post_init__(self) -> None:
        self.widths = tuple(int(w) for w in self.widths)  # type: ignore[assignment]
        if len(self.widths) != 4:
            raise ValueError(f"widths must have 4 entries, got {self.widths}")
        # Crops (core + 2 x context) stay multiples of 8, the U-Net's three poolings.
        if self.tile % 8 or self.context % 4:
            raise ValueError("tile must be a multiple of 8 and context a multiple of 4")
        if self.stem not in (1, 2, 4):
            raise ValueError(f"stem must be 1, 2 or 4, got {self.stem}")
        if not is_gate(self.gate):
            raise ValueError(f"gate must be in [0, 1) or None, got {self.gate!r}")
        if self.inputs not in INPUT_CHANNELS:
            raise ValueError(f"inputs must be one of {sorted(INPUT_CHANNELS)}, got {self.inputs!r}")
        self.in_channels = self.in_channels or INPUT_CHANNELS[self.inputs]
        if self.in_channels != INPUT_CHANNELS[self.inputs]:
            raise ValueError(f"inputs {self.inputs!r} has {INPUT_CHANNELS[self.inputs]} channels, got in_channels={self.in_channels}")
        if self.inputs == "candidates" and self.prefill != "temporal":
            raise ValueError("inputs 'candidates' come from the temporal fill: prefill must be 'temporal'")

    @classmethod
    def preset(cls, name: str, **overrides) -> "ModelConfig":
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
        return cls(**{"widths": PRESETS[name], "stem": STEMS.get(name, 1), **overrides})

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @property
    def multiple(self) -> int:
        """Spatial sizes are padded to this multiple (the stem, then 3 max-pools)."""
        return 8 * self.stem


class ResBlock(nn.Module):
    """Two 3x3 conv+BN+LeakyReLU(0.2) with a (1x1 conv + BN) projection shortcut."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.shortcut = (
            nn.Identity()
            if cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        )
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class ConvLSTMCell(nn.Module):
    """One conv over concat(x, h) gives the i, f, o, g gates. Forget bias starts at 1.0."""

    def __init__(self, channels: int, kernel: int = 3) -> None:
        super().__init__()
        self.channels = channels
        self.gates = nn.Conv2d(2 * channels, 4 * channels, kernel, padding=kernel // 2)
        with torch.no_grad():
            self.gates.bias.zero_()
            self.gates.bias[channels : 2 * channels].fill_(1.0)  # forget gate

    def forward(self, x: torch.Tensor, state: State) -> State:
        h, c = state
        i, f, o, g = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class RecurrentUNet(nn.Module):
    """Recurrent U-Net. ``forward(x[B,T,4,H,W], state) -> (y[B,T,3,H,W], (h, c))``."""

    def __init__(self, config: Optional[ModelConfig] = None) -> None:
        super().__init__()
        self.config = config = config or ModelConfig()
        w1, w2, w3, w4 = config.widths
        self.enc = nn.ModuleList(
            [
                ResBlock(config.in_channels * config.stem**2, w1),
                ResBlock(w1, w2),
                ResBlock(w2, w3),
                ResBlock(w3, w4),
            ]
        )
        self.lstm = ConvLSTMCell(w4, config.lstm_kernel)
        self.up = nn.ModuleList(
            [nn.ConvTranspose2d(w4, w3, 2, stride=2), nn.ConvTranspose2d(w3, w2, 2, stride=2), nn.ConvTranspose2d(w2, w1, 2, stride=2)]
        )
        self.dec = nn.ModuleList([ResBlock(2 * w3, w3), ResBlock(2 * w2, w2), ResBlock(2 * w1, w1)])
        self.head = nn.Conv2d(w1, config.out_channels * config.stem**2, 1)
        if config.residual:
            # Zero correction at init: an untrained model returns its input fill.
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def initial_state(self, batch: int, height: int, width: int, like: torch.Tensor) -> State:
        """Zero (h, c) for a (height, width) input (any size; padded as forward pads)."""
        m = self.config.multiple
        hp, wp = -(-height // m), -(-width // m)
        z = like.new_zeros(batch, self.config.widths[3], hp, wp)
        return z, z.clone()

    def forward(self, x: torch.Tensor, state: Optional[State] = None) -> tuple[torch.Tensor, State]:
        B, T, C, H, W = x.shape
        if state is None:
            state = self.initial_state(B, H, W, x)
        m = self.config.multiple
        ph, pw = (-H) % m, (-W) % m
        frames = x.reshape(B * T, C, H, W)
        if ph or pw:
            # Pad (replicate) to the pooling multiple and crop back: no interpolation.
            frames = F.pad(frames, (0, pw, 0, ph), mode="replicate")

        # Encoder runs on all B*T frames at once; only the ConvLSTM is sequential.
        skips = []
        f = F.pixel_unshuffle(frames, self.config.stem) if self.config.stem > 1 else frames
        for i, block in enumerate(self.enc):
            if i:
                f = F.max_pool2d(f, 2)
            f = block(f)
            skips.append(f)
        bott = skips.pop()  # (B*T, w4, H/8, W/8)
        bt = bott.reshape(B, T, *bott.shape[1:])
        hs = []
        for t in range(T):
            state = self.lstm(bt[:, t], state)
            hs.append(state[0] + bt[:, t])  # skip around the ConvLSTM (vanishing grads)
        f = torch.stack(hs, dim=1).reshape(B * T, *bott.shape[1:])

        for up, block in zip(self.up, self.dec):
            f = block(torch.cat([up(f), skips.pop()], dim=1))
        # The head's arithmetic in float32 also under fp16 (autocast, fp16 export): near
        # rgb = +-1 the denominator below is ~1e-3, fp16's resolution there. No-op in fp32.
        f = self.head(f)
        if self.config.stem > 1:
            f = F.pixel_shuffle(f, self.config.stem)
        y = torch.tanh(f[..., :H, :W].float())
        if self.config.residual:
            # tanh(head + atanh(rgb)) by the addition formula, without atanh: ONNX Runtime's
            # Atanh is scalar code, a noticeable share of the CPU model time; tanh is vectorised.
            rgb = x.reshape(B * T, C, H, W)[:, :3].float().clamp(-0.999, 0.999)
            y = (y + rgb) / (1.0 + y * rgb)
        return y.reshape(B, T, self.config.out_channels, H, W), state


def build_model(config: Optional[ModelConfig] = None) -> RecurrentUNet:
    return RecurrentUNet(config or ModelConfig())
