"""Losses: GAN (hinge / LSGAN), feature matching, SSIM, perceptual from local weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rtmotion.errors import CheckpointError
from rtmotion.models.losses import (
    PerceptualLoss,
    feature_matching_loss,
    gan_loss_d,
    gan_loss_g,
    ssim_loss,
    ssim_map,
    vgg19_features,
)


def _outs(value: float, scales: int = 2) -> list[list[torch.Tensor]]:
    return [[torch.randn(1, 4, 8, 8), torch.full((1, 1, 4, 4), value)] for _ in range(scales)]


def test_hinge_losses() -> None:
    # A confident, correct D: real logits >= 1 and fake <= -1 give zero D loss.
    assert gan_loss_d(_outs(1.5), _outs(-2.0), "hinge").item() == 0.0
    assert gan_loss_d(_outs(0.0), _outs(0.0), "hinge").item() == pytest.approx(2.0)
    assert gan_loss_g(_outs(0.5), "hinge").item() == pytest.approx(-0.5)


def test_lsgan_losses_and_plain_logit_lists() -> None:
    assert gan_loss_d(_outs(1.0), _outs(0.0), "lsgan").item() == 0.0
    assert gan_loss_g(_outs(0.0), "lsgan").item() == pytest.approx(1.0)
    logits = [torch.full((1, 1, 3, 3), 1.0)]
    assert gan_loss_g(logits, "lsgan").item() == 0.0
    with pytest.raises(ValueError):
        gan_loss_g(logits, "wgan")


def test_feature_matching() -> None:
    real = [[torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4), torch.randn(2, 1, 3, 3)]
            for _ in range(2)]
    same = [[t.clone() for t in s] for s in real]
    assert feature_matching_loss(real, same).item() == 0.0
    # The logits (last entry) do not count.
    same[0][-1] += 5
    assert feature_matching_loss(real, same).item() == 0.0
    shifted = [[t + 1.0 for t in s] for s in real]
    assert feature_matching_loss(real, shifted).item() == pytest.approx(1.0)
    fake = [[t.clone().requires_grad_() for t in s] for s in real]
    (feature_matching_loss(real, [[t * 2 for t in s] for s in fake])).backward()
    assert fake[0][0].grad is not None


def test_ssim_loss() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    assert ssim_loss(x, x.clone()).item() == pytest.approx(0.0, abs=1e-6)
    y = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    assert 0.5 < ssim_loss(x, y).item() <= 2.0


def test_ssim_loss_is_one_minus_the_papers_ssim() -> None:
    """Against the numpy SSIM of tests/ssim_oracle.py: images in [-1, 1] are [0, 255] pictures
    scaled (SSIM with data range 1 on [0, 1] equals data range 255 on [0, 255]); the batch's
    loss is one minus the mean of its images' SSIMs. Constant images: the closed form."""
    from tests.ssim_oracle import C1, numpy_ssim

    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 24, 28, generator=g) * 2 - 1
    y = (x + 0.3 * torch.randn(2, 3, 24, 28, generator=g)).clamp(-1, 1)

    def pic(t: torch.Tensor) -> np.ndarray:
        return ((t.numpy().transpose(1, 2, 0) + 1.0) * 127.5).astype(np.float64)

    want = 1.0 - np.mean([numpy_ssim(pic(x[i]), pic(y[i])) for i in range(2)])
    assert ssim_loss(x, y).item() == pytest.approx(want, abs=1e-4)
    p, q = torch.full((1, 3, 16, 16), -0.6), torch.full((1, 3, 16, 16), 0.2)   # 51 and 153
    a, b = 0.2 * 255, 0.6 * 255
    assert ssim_loss(p, q).item() == pytest.approx(1 - (2 * a * b + C1) / (a * a + b * b + C1), abs=1e-4)


def test_ssim_map_is_the_papers_ssim_per_pixel() -> None:
    """`ssim_map` (the map pytorch_msssim averages without returning it): its mean is the numpy
    oracle's SSIM, on [0, 255] pictures with data range 255 and on [0, 1] with range 1."""
    from tests.ssim_oracle import numpy_ssim

    g = torch.Generator().manual_seed(5)
    a = torch.rand(1, 3, 30, 26, generator=g, dtype=torch.float64) * 255
    b = (a + 40 * torch.randn(1, 3, 30, 26, generator=g, dtype=torch.float64)).clamp(0, 255)
    m = ssim_map(a, b, data_range=255.0)
    assert m.shape == (1, 3, 20, 16)
    want = numpy_ssim(a[0].numpy().transpose(1, 2, 0), b[0].numpy().transpose(1, 2, 0))
    assert m.mean().item() == pytest.approx(want, abs=1e-9)
    assert ssim_map(a / 255, b / 255).mean().item() == pytest.approx(want, abs=1e-9)


def test_ssim_loss_on_a_region() -> None:
    """With per-pixel weights the loss is 1 minus the weighted mean of the SSIM map: uniform
    weights give the plain loss; weights on a region where the two images agree give 0 however
    much they differ farther away than the window reaches (5 pixels)."""
    g = torch.Generator().manual_seed(2)
    x = torch.rand(2, 3, 40, 60, generator=g) * 2 - 1
    y = x.clone()
    y[..., 40:] = torch.rand(2, 3, 40, 20, generator=g) * 2 - 1        # differ from column 40 on
    assert ssim_loss(x, y, torch.ones(2, 1, 40, 60)).item() == pytest.approx(ssim_loss(x, y).item(), abs=1e-6)
    left = torch.zeros(2, 1, 40, 60)
    left[..., :30] = 1.0                                                # windows reach column 34
    assert ssim_loss(x, y, left).item() == pytest.approx(0.0, abs=1e-6)
    right = 1.0 - left
    assert ssim_loss(x, y, right).item() > ssim_loss(x, y).item() > 0.1


def test_ssim_loss_is_full_precision_under_autocast() -> None:
    """Under bf16 autocast the Gaussian filter would run in bf16 and SSIM's variances would
    cancel catastrophically (training diverged); the loss must match float32."""
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(2, 3, 64, 64, generator=g) * 2 - 1).requires_grad_()
    y = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    ref = ssim_loss(x, y)
    (gref,) = torch.autograd.grad(ref, x)
    with torch.autocast("cpu", torch.bfloat16):
        val = ssim_loss(x, y)
    (gamp,) = torch.autograd.grad(val, x)
    assert val.dtype == torch.float32
    assert val.item() == pytest.approx(ref.item(), abs=1e-6)
    assert torch.allclose(gamp, gref, atol=1e-8, rtol=1e-4)


def test_perceptual_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        PerceptualLoss(tmp_path / "vgg19.pth")


def test_perceptual_mismatched_or_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "other.pth"
    torch.save({"0.weight": torch.zeros(8, 3, 3, 3)}, bad)
    with pytest.raises(CheckpointError, match="VGG19"):
        PerceptualLoss(bad)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="cannot read"):
        PerceptualLoss(junk)


def test_perceptual_with_saved_random_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    feats = vgg19_features()
    path = tmp_path / "vgg19_features.pth"
    torch.save(feats.state_dict(), path)
    loss = PerceptualLoss(path)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert loss(x, x.clone()).item() == 0.0
    y = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_()
    val = loss(y, x)
    assert val.item() > 0
    val.backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in loss.parameters())
    # A torchvision-style full-model state dict ("features." prefix + classifier) loads too.
    full = {f"features.{k}": v for k, v in feats.state_dict().items()}
    full["classifier.0.weight"] = torch.zeros(2, 2)
    torch.save(full, tmp_path / "vgg19_full.pth")
    loss2 = PerceptualLoss(tmp_path / "vgg19_full.pth")
    assert loss2(y, x).item() == pytest.approx(val.item())
