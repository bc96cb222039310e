"""pix2pixHD's global generator ("G1"), re-implemented from the paper for one purpose: to count
its parameters and FLOPs and time it as the baseline rtmotion's generator must beat. It is never
trained or shipped.

Architecture, as described by Wang et al. (CVPR 2018, sec. 3.2 and appendix) and used by
Everybody Dance Now:
    c7s1-64, d128, d256, d512, d1024, R1024 x 9, u512, u256, u128, u64, c7s1-3
- c7s1-k: 7x7 conv, stride 1, k filters, instance norm, ReLU (reflection padding 3);
- dk: 3x3 conv, stride 2, k filters, instance norm, ReLU;
- Rk: residual block of two 3x3 convs with k filters (reflection padding, instance norm);
- uk: 3x3 fractional-strided (transposed) conv, stride 1/2, k filters, instance norm, ReLU;
- the last c7s1-3 has no norm and a tanh.
Defaults: ngf=64, 4 downsamplings, 9 residual blocks. The input is EDN's: the pose maps plus the
previous output frame (temporal smoothing), so `input_nc = pose_channels + 3` by default.
"""

from __future__ import annotations

import torch
from torch import nn


def _c7s1(cin: int, cout: int, last: bool = False) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(cin, cout, 7)]
    if last:
        return layers + [nn.Tanh()]
    return layers + [nn.InstanceNorm2d(cout), nn.ReLU(True)]


class _Res(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Pix2PixHDGlobalGenerator(nn.Module):
    """(B, input_nc, H, W) -> (B, output_nc, H, W) in [-1, 1]; H, W divisible by 2**n_down."""

    def __init__(
        self, input_nc: int = 28, output_nc: int = 3, ngf: int = 64, n_down: int = 4, n_res: int = 9
    ) -> None:
        super().__init__()
        layers = _c7s1(input_nc, ngf)
        for i in range(n_down):  # d128 .. d1024
            c = ngf * 2**i
            layers += [nn.Conv2d(c, 2 * c, 3, 2, 1), nn.InstanceNorm2d(2 * c), nn.ReLU(True)]
        c = ngf * 2**n_down
        layers += [_Res(c) for _ in range(n_res)]
        for i in range(n_down):  # u512 .. u64
            c = ngf * 2 ** (n_down - i)
            layers += [
                nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1),
                nn.InstanceNorm2d(c // 2),
                nn.ReLU(True),
            ]
        layers += _c7s1(ngf, output_nc, last=True)
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)  # B x output_nc x H x W
