"""Training-only discriminators (torch only): multi-scale PatchGAN and temporal PatchGAN.

Both return, per scale, the list of every block's output (the last one is the patch logits):
`outs[scale][layer]`, which is what `losses.gan_loss_*` and `losses.feature_matching_loss` take.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

from rtmotion.models.blocks import make_norm
from rtmotion.models.config import DiscriminatorConfig

Features = list[list[torch.Tensor]]  # [scale][layer], layer -1 = logits B x 1 x h x w


class PatchDiscriminator(nn.Module):
    """pix2pix's PatchGAN: 4x4 convs, `n_layers` of stride 2, then two of stride 1.

    Channels: base, 2*base, ... capped at 512; LeakyReLU(0.2); no norm on the first block
    and no norm/activation on the logits. With n_layers=3 each logit sees a 70x70 patch.
    """

    def __init__(self, cin: int, config: DiscriminatorConfig) -> None:
        super().__init__()

        def conv(a: int, b: int, stride: int) -> nn.Module:
            c = nn.Conv2d(a, b, 4, stride, 2)
            return _sn(c) if config.spectral_norm else c

        nf = config.base_channels
        blocks: list[nn.Module] = [nn.Sequential(conv(cin, nf, 2), nn.LeakyReLU(0.2, True))]
        for i in range(1, config.n_layers + 1):
            prev, nf = nf, min(nf * 2, 512)
            stride = 2 if i < config.n_layers else 1
            blocks.append(
                nn.Sequential(conv(prev, nf, stride), make_norm(config.norm, nf), nn.LeakyReLU(0.2, True))
            )
        blocks.append(conv(nf, 1, 1))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats  # n_layers + 2 tensors; the last is B x 1 x h x w logits


class MultiScalePatchDiscriminator(nn.Module):
    """`num_scales` PatchGANs on concat(pose maps, frame), each on a 2x smaller input.

    Downsampling between scales: 3x3 average pooling, stride 2, padding 1 (padding not counted),
    as in pix2pixHD. Scale 0 is the full resolution.
    """

    def __init__(self, pose_channels: int = 25, config: DiscriminatorConfig | None = None,
                 image_channels: int = 3) -> None:
        super().__init__()
        self.config = config = config or DiscriminatorConfig()
        self.pose_channels = pose_channels
        cin = pose_channels + image_channels
        self.scales = nn.ModuleList(PatchDiscriminator(cin, config) for _ in range(config.num_scales))

    def forward_input(self, x: torch.Tensor) -> Features:
        """Run on an already concatenated input (B x cin x H x W)."""
        outs: Features = []
        for i, d in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
            outs.append(d(x))
        return outs

    def forward(self, pose_maps: torch.Tensor, frame: torch.Tensor) -> Features:
        """pose_maps: B x Cp x H x W in [0, 1]; frame: B x 3 x H x W in [-1, 1]."""
        return self.forward_input(torch.cat([pose_maps * 2.0 - 1.0, frame], dim=1))


class TemporalDiscriminator(nn.Module):
    """EDN's temporal discriminator on consecutive pairs.

    Input: concat(frame t-1, frame t [, pose maps t-1, pose maps t] [, warped frame t-1]) ->
    a multi-scale PatchGAN. Real pairs are two consecutive ground-truth frames; fake pairs are the
    generator's two consecutive outputs, each with the same poses, so D judges whether the change
    between frames is plausible (flicker, popping). With `use_warped`, the previous frame warped
    to the current pose by the pose flow is added, so D can check that the motion follows it.
    """

    def __init__(
        self,
        pose_channels: int = 25,
        config: DiscriminatorConfig | None = None,
        use_pose: bool = True,
        use_warped: bool = False,
    ) -> None:
        super().__init__()
        self.config = config = config or DiscriminatorConfig()
        self.use_pose = use_pose
        self.use_warped = use_warped
        extra = 2 * pose_channels if use_pose else 0
        image = 6 + (3 if use_warped else 0)
        self.body = MultiScalePatchDiscriminator(extra, config, image_channels=image)

    def forward(
        self,
        prev_frame: torch.Tensor,
        frame: torch.Tensor,
        prev_pose: torch.Tensor | None = None,
        pose: torch.Tensor | None = None,
        warped_prev: torch.Tensor | None = None,
    ) -> Features:
        """Frames B x 3 x H x W in [-1, 1]; poses B x Cp x H x W in [0, 1] (when use_pose);
        warped_prev B x 3 x H x W in [-1, 1] (when use_warped)."""
        parts = [prev_frame, frame]
        if self.use_pose:
            if prev_pose is None or pose is None:
                raise ValueError("this TemporalDiscriminator needs prev_pose and pose")
            parts += [prev_pose * 2.0 - 1.0, pose * 2.0 - 1.0]
        if self.use_warped:
            if warped_prev is None:
                raise ValueError("this TemporalDiscriminator needs warped_prev")
            parts.append(warped_prev)
        return self.body.forward_input(torch.cat(parts, dim=1))
