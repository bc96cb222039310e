"""Building blocks shared by the generator and the face enhancer (torch only).

Everything here exports to ONNX opset 17 with static shapes and maps to native TensorRT layers:
Conv, ConvTranspose, InstanceNormalization / BatchNormalization (folded), Relu, Resize(nearest),
Add, Concat, Sigmoid, Tanh. No custom ops, no data-dependent shapes.
"""

from __future__ import annotations

import torch
from torch import nn

from rtmotion.models.config import FULL_RES


def make_norm(kind: str, channels: int) -> nn.Module:
    """Normalization layer by name: "instance" (affine, no running stats), "batch", "none"."""
    if kind == "instance":
        # affine=True: a learnt scale/shift per channel costs nothing and helps small nets.
        return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}")


class ConvNormAct(nn.Sequential):
    """conv k x k (stride s, 'same' zero padding) -> norm -> ReLU (optional)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        k: int = 3,
        stride: int = 1,
        norm: str = "instance",
        act: bool = True,
        groups: int = 1,
    ) -> None:
        # A bias before a normalization is redundant (the norm removes the mean).
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=norm == "none"),
            make_norm(norm, cout),
        ]
        if act:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class SeparableConv(nn.Sequential):
    """A 3x3 conv cin -> cout in two cheap steps, each conv -> norm -> ReLU.

    order "pointwise_first": 1x1 cin -> cout, then depthwise 3x3 (for a wide input, e.g. the
    stem's stacked inputs); "depthwise_first": depthwise 3x3 on cin, then 1x1 cin -> cout.
    About cin * cout + 9 * channels MACs per pixel against 9 * cin * cout for a dense 3x3.
    """

    def __init__(self, cin: int, cout: int, norm: str = "instance",
                 order: str = "pointwise_first") -> None:
        if order == "pointwise_first":
            layers = [ConvNormAct(cin, cout, 1, norm=norm),
                      ConvNormAct(cout, cout, 3, norm=norm, groups=cout)]
        elif order == "depthwise_first":
            layers = [ConvNormAct(cin, cin, 3, norm=norm, groups=cin),
                      ConvNormAct(cin, cout, 1, norm=norm)]
        else:
            raise ValueError(f"unknown order {order!r}")
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Plain residual block: x + norm(conv3x3(relu(norm(conv3x3(x)))))."""

    def __init__(self, channels: int, norm: str = "instance") -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvNormAct(channels, channels, 3, norm=norm),
            ConvNormAct(channels, channels, 3, norm=norm, act=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)  # B x C x h x w


class InvertedResidual(nn.Module):
    """MobileNetV2-style depthwise-separable residual block.

    x + [1x1 expand -> norm -> ReLU -> depthwise 3x3 -> norm -> ReLU -> 1x1 project -> norm](x).
    About 2 * expand * C^2 MACs per pixel against 18 * C^2 for a plain block.
    """

    def __init__(self, channels: int, expand: int = 2, norm: str = "instance") -> None:
        super().__init__()
        hidden = channels * expand
        self.body = nn.Sequential(
            ConvNormAct(channels, hidden, 1, norm=norm),
            ConvNormAct(hidden, hidden, 3, norm=norm, groups=hidden),
            ConvNormAct(hidden, channels, 1, norm=norm, act=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)  # B x C x h x w


class UpBlock(nn.Module):
    """x2 upsampling from `cin` to `cout` channels, then a skip merge and refinement.

    "nearest_conv": 1x1 conv cin -> cout at the low resolution (cheap), nearest x2, add/concat
    the skip, then a 3x3 conv at the high resolution (the conv after nearest upsampling avoids the
    checkerboard of transposed convs; doing the channel reduction before the upsampling costs a
    quarter of the MACs of a 3x3 cin -> cout conv at the high resolution).
    "transposed": a 4x4 stride-2 transposed conv cin -> cout, then the same merge + 3x3 conv.
    """

    def __init__(
        self, cin: int, cout: int, skip: str, norm: str, upsample: str, extra_blocks: int = 0,
        separable: bool = False,
    ) -> None:
        super().__init__()
        self.skip = skip
        self.upsample = upsample
        if upsample == "nearest_conv":
            self.reduce = ConvNormAct(cin, cout, 1, norm=norm)
            self.up: nn.Module = nn.Upsample(scale_factor=2, mode="nearest")
        elif upsample == "transposed":
            self.reduce = nn.Identity()
            self.up = nn.Sequential(
                nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=norm == "none"),
                make_norm(norm, cout),
                nn.ReLU(inplace=True),
            )
        else:
            raise ValueError(f"unknown upsample {upsample!r}")
        self.fuse = ConvNormAct(2 * cout, cout, 1, norm=norm) if skip == "concat" else nn.Identity()
        self.refine: nn.Module = (SeparableConv(cout, cout, norm, order="depthwise_first")
                                  if separable else ConvNormAct(cout, cout, 3, norm=norm))
        self.blocks = nn.Sequential(*[ResBlock(cout, norm) for _ in range(extra_blocks)])

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        x = self.up(self.reduce(x))  # B x cout x 2h x 2w
        if skip is not None and self.skip == "add":
            x = x + skip
        elif skip is not None and self.skip == "concat":
            x = self.fuse(torch.cat([x, skip], dim=1))
        return self.blocks(self.refine(x))  # B x cout x 2h x 2w


class UNetBody(nn.Module):
    """Encoder-decoder with skips: (B, cin, H, W) -> (B, channels[0], H, W) features.

    Encoder: 3x3 stem, then `len(channels) - 1` stride-2 3x3 convs. Bottleneck: `n_res` residual
    blocks ("plain" or "dwsep"). Decoder: one UpBlock per downsampling, merging the encoder
    feature of the same resolution (U-Net skip: pose edges and the warped previous frame reach
    the output at full resolution, which small models need for sharp results).
    `full_res="separable"`: the stem and the last decoder refinement (the two convs at full
    resolution) are `SeparableConv`s instead of dense 3x3 convs.
    """

    def __init__(
        self,
        cin: int,
        channels: list[int],
        n_res: int,
        res_block: str = "dwsep",
        expand: int = 2,
        norm: str = "instance",
        skip: str = "add",
        upsample: str = "nearest_conv",
        dec_blocks: int = 0,
        full_res: str = "dense",
    ) -> None:
        super().__init__()
        if full_res not in FULL_RES:
            raise ValueError(f"unknown full_res {full_res!r} (choose from {FULL_RES})")
        separable = full_res == "separable"
        self.stem: nn.Module = (SeparableConv(cin, channels[0], norm, order="pointwise_first")
                                if separable else ConvNormAct(cin, channels[0], 3, norm=norm))
        self.downs = nn.ModuleList(
            ConvNormAct(channels[i], channels[i + 1], 3, stride=2, norm=norm)
            for i in range(len(channels) - 1)
        )
        if res_block == "plain":
            res: list[nn.Module] = [ResBlock(channels[-1], norm) for _ in range(n_res)]
        elif res_block == "dwsep":
            res = [InvertedResidual(channels[-1], expand, norm) for _ in range(n_res)]
        else:
            raise ValueError(f"unknown res_block {res_block!r}")
        self.bottleneck = nn.Sequential(*res)
        self.ups = nn.ModuleList(
            UpBlock(channels[i + 1], channels[i], skip, norm, upsample, dec_blocks,
                    separable=separable and i == 0)
            for i in reversed(range(len(channels) - 1))
        )
        self.use_skips = skip != "none"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # B x c0 x H x W
        feats = [x]
        for down in self.downs:
            x = down(x)  # B x c_{i+1} x H/2^(i+1) x W/2^(i+1)
            feats.append(x)
        x = self.bottleneck(x)
        # feats[-1] is the bottleneck input itself; decoder skips use the levels above it.
        for up, skip in zip(self.ups, reversed(feats[:-1])):
            x = up(x, skip if self.use_skips else None)
        return x  # B x c0 x H x W
