"""The write-up's video discriminator: a 3D-conv patch critic over ``[B, C, T, H, W]`` clips.

Four 3D convs with kernel (3, 4, 4), stride (1, 2, 2), padding 1 and LeakyReLU(0.2);
InstanceNorm3d after every layer including the first (the write-up's later form); a final
3D conv to one channel gives a map of real/fake logits, one per space-time patch.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class VideoDiscriminator(nn.Module):
    """``forward(clip[B, T, 3, H, W]) -> logits[B, 1, T', H', W']``; widths default to 64-128-256-512."""

    def __init__(self, widths: tuple[int, ...] = (64, 128, 256, 512), in_channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for w in widths:
            layers += [
                nn.Conv3d(cin, w, (3, 4, 4), stride=(1, 2, 2), padding=1),
                nn.InstanceNorm3d(w, affine=True),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            cin = w
        layers.append(nn.Conv3d(cin, 1, 3, stride=1, padding=1))  # 3x3x3 keeps any crop size valid
        self.net = nn.Sequential(*layers)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        B, T, C, H, W = clip.shape
        return self.net(clip.permute(0, 2, 1, 3, 4))  # (B, C, T, H, W): time is a conv axis
