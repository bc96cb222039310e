"""Multi-scale PatchGAN and temporal discriminator: output structure and shapes."""

from __future__ import annotations

import pytest
import torch

from rtmotion.models.config import DiscriminatorConfig
from rtmotion.models.discriminator import MultiScalePatchDiscriminator, TemporalDiscriminator


def _patch_sizes(size: int, n_layers: int) -> list[int]:
    """Spatial sizes after each block (4x4 conv, padding 2): stride 2 x n, then stride 1 x 2."""
    out = []
    for i in range(n_layers + 2):
        stride = 2 if i < n_layers else 1
        size = (size + 2 * 2 - 4) // stride + 1
        out.append(size)
    return out


@pytest.mark.parametrize("spectral", [False, True])
def test_multiscale_structure(spectral: bool) -> None:
    cfg = DiscriminatorConfig(num_scales=3, base_channels=8, n_layers=3,
                              norm="none" if spectral else "instance", spectral_norm=spectral)
    d = MultiScalePatchDiscriminator(pose_channels=5, config=cfg)
    outs = d(torch.rand(2, 5, 64, 64), torch.rand(2, 3, 64, 64) * 2 - 1)
    assert isinstance(outs, list) and len(outs) == 3
    for scale, feats in enumerate(outs):
        assert isinstance(feats, list) and len(feats) == cfg.n_layers + 2
        size = 64 // 2**scale
        assert [f.shape[-1] for f in feats] == _patch_sizes(size, 3)
        assert [f.shape[1] for f in feats] == [8, 16, 32, 64, 1]
        assert feats[-1].shape[0] == 2


def test_gradients_reach_the_frame() -> None:
    d = MultiScalePatchDiscriminator(3, DiscriminatorConfig(num_scales=2, base_channels=8))
    frame = torch.zeros(1, 3, 32, 32, requires_grad=True)
    outs = d(torch.rand(1, 3, 32, 32), frame)
    sum(o[-1].mean() for o in outs).backward()
    assert frame.grad is not None and frame.grad.abs().sum() > 0


def test_temporal_discriminator() -> None:
    cfg = DiscriminatorConfig(num_scales=2, base_channels=8, n_layers=2)
    d = TemporalDiscriminator(pose_channels=4, config=cfg, use_warped=True)
    f = [torch.rand(2, 3, 32, 32) for _ in range(3)]
    p = [torch.rand(2, 4, 32, 32) for _ in range(2)]
    outs = d(f[0], f[1], p[0], p[1], warped_prev=f[2])
    assert len(outs) == 2 and all(len(o) == 4 for o in outs)
    assert d.body.scales[0].blocks[0][0].in_channels == 3 * 3 + 2 * 4
    assert outs[1][-1].shape == (2, 1, _patch_sizes(16, 2)[-1], _patch_sizes(16, 2)[-1])
    with pytest.raises(ValueError, match="warped_prev"):
        d(f[0], f[1], p[0], p[1])
    d2 = TemporalDiscriminator(pose_channels=4, config=cfg, use_pose=False)
    assert len(d2(f[0], f[1])) == 2
