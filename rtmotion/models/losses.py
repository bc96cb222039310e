"""Training losses: GAN (hinge or LSGAN), feature matching, L1, SSIM, optional perceptual.

Discriminator outputs come as `outs[scale][layer]` (see rtmotion.models.discriminator); a plain
list of logit tensors (one per scale) is accepted too. Images are float in [-1, 1].

The perceptual (VGG19) loss needs local weights: nothing is ever downloaded (there is no
torchvision here, so the VGG19 feature layers are defined in this file; torchvision's
`vgg19(...).features` / full `vgg19` state dicts load as they are).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from rtmotion.errors import CheckpointError

_Outs = Sequence[Sequence[torch.Tensor] | torch.Tensor]


def _logits(outs: _Outs) -> list[torch.Tensor]:
    return [o[-1] if isinstance(o, (list, tuple)) else o for o in outs]


def gan_loss_d(real_outs: _Outs, fake_outs: _Outs, mode: str = "hinge") -> torch.Tensor:
    """Discriminator loss, averaged over scales.

    hinge: mean(relu(1 - D(real))) + mean(relu(1 + D(fake)));
    lsgan: mean((D(real) - 1)^2) + mean(D(fake)^2).
    Pass fake outputs computed on detached generator images.
    """
    real, fake = _logits(real_outs), _logits(fake_outs)
    terms = []
    for r, f in zip(real, fake, strict=True):
        if mode == "hinge":
            terms.append(F.relu(1.0 - r).mean() + F.relu(1.0 + f).mean())
        elif mode == "lsgan":
            terms.append(((r - 1.0) ** 2).mean() + (f**2).mean())
        else:
            raise ValueError(f"unknown GAN mode {mode!r}")
    return torch.stack(terms).mean()


def gan_loss_g(fake_outs: _Outs, mode: str = "hinge") -> torch.Tensor:
    """Generator adversarial loss, averaged over scales.

    hinge: -mean(D(fake)); lsgan: mean((D(fake) - 1)^2).
    """
    terms = []
    for f in _logits(fake_outs):
        if mode == "hinge":
            terms.append(-f.mean())
        elif mode == "lsgan":
            terms.append(((f - 1.0) ** 2).mean())
        else:
            raise ValueError(f"unknown GAN mode {mode!r}")
    return torch.stack(terms).mean()


def feature_matching_loss(
    real_feats: Sequence[Sequence[torch.Tensor]], fake_feats: Sequence[Sequence[torch.Tensor]]
) -> torch.Tensor:
    """pix2pixHD's feature matching: L1 between D's intermediate features of real and fake.

    Mean over scales of the mean over layers (the logits, layer -1, excluded) of
    mean |D_l(fake) - D_l(real)|; the real features are detached.
    """
    terms = []
    for rs, fs in zip(real_feats, fake_feats, strict=True):
        layers = [F.l1_loss(f, r.detach()) for r, f in zip(rs[:-1], fs[:-1], strict=True)]
        terms.append(torch.stack(layers).mean())
    return torch.stack(terms).mean()


def l1_loss(x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute difference of images (N x C x H x W); with per-pixel `weights` (N x 1 x H x
    W, e.g. `rtmotion.train.person_weight.person_weights`) the weighted mean, normalized by the
    weights' mean, so uniform weights give the plain mean (and the loss keeps its scale beside
    the other terms whatever the weights)."""
    if weights is None:
        return F.l1_loss(x, y)
    return ((x - y).abs() * weights).mean() / weights.mean()


def ssim_loss(x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """1 - SSIM (11x11 Gaussian window, sigma 1.5) of images in [-1, 1], B x C x H x W.

    Without `weights` this is pytorch_msssim's SSIM over the whole image. With per-pixel
    `weights` (B x 1 x H x W, e.g. `rtmotion.train.person_weight.body_box_masks`) it is 1 minus
    the weighted mean of the SSIM map (`ssim_map`), so the loss is the score eval reports on
    that region (eval's body SSIM is the SSIM of the body box) rather than one diluted by the
    room around it. Both are mapped to [0, 1] and computed in float32 with autocast disabled,
    so it is safe to call inside a bf16/fp16 autocast region (SSIM's constants assume data
    range 1). Images must be at least 11 pixels on each side.
    """
    try:
        from pytorch_msssim import ssim as _ssim
    except ImportError:
        raise ImportError(
            "ssim_loss needs the pytorch-msssim package (pip install pytorch-msssim)"
        ) from None
    # Autocast off: SSIM's variances are E[x^2] - E[x]^2, which cancel catastrophically in
    # bf16/fp16 (the Gaussian filter is a conv2d that autocast would run in low precision);
    # training under bf16 autocast diverged from the first steps before this.
    with torch.autocast(device_type=x.device.type, enabled=False):
        a = (x.float() + 1.0) * 0.5
        b = (y.float() + 1.0) * 0.5
        if weights is None:
            return 1.0 - _ssim(a, b, data_range=1.0, size_average=True)
        m = ssim_map(a, b).mean(dim=1, keepdim=True)                # B x 1 x (H-10) x (W-10)
        p = SSIM_WIN // 2                                           # the map's lost border
        w = weights.float()[..., p:weights.shape[-2] - p, p:weights.shape[-1] - p]
        return 1.0 - (m * w).sum() / w.sum().clamp(min=1e-6)


#: SSIM's window (pytorch_msssim's defaults, eval's `rtmotion.eval.metrics`).
SSIM_WIN = 11
SSIM_SIGMA = 1.5


def ssim_map(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-pixel SSIM of images B x C x H x W (float, values in [0, data_range]).

    The map pytorch_msssim averages (it does not return it): Gaussian window SSIM_WIN x SSIM_WIN,
    sigma SSIM_SIGMA, valid positions only, so B x C x (H - 10) x (W - 10); its mean over
    H, W and C is pytorch_msssim's `ssim(a, b, data_range)`.
    """
    c = a.shape[1]
    x = torch.arange(SSIM_WIN, dtype=torch.float64) - SSIM_WIN // 2
    g = torch.exp(-x * x / (2.0 * SSIM_SIGMA ** 2))
    g = (g / g.sum()).to(a.device, a.dtype)  # normalized in float64, rounded once
    gx = g.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    gy = g.view(1, 1, -1, 1).expand(c, 1, -1, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, gx, groups=c), gy, groups=c)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a * mu_a
    var_b = blur(b * b) - mu_b * mu_b
    cov = blur(a * b) - mu_a * mu_b
    luminance = (2 * mu_a * mu_b + c1) / (mu_a * mu_a + mu_b * mu_b + c1)
    return luminance * (2 * cov + c2) / (var_a + var_b + c2)


# VGG19 "features": conv widths, "M" = 2x2 max pool. Module indices match torchvision's.
_VGG19_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
    512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)
# relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 (module indices in `features`) and pix2pixHD's
# weights for them.
_VGG_LAYERS: tuple[int, ...] = (1, 6, 11, 20, 29)
_VGG_WEIGHTS: tuple[float, ...] = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)


def vgg19_features() -> nn.Sequential:
    """Randomly initialised VGG19 feature layers, indexed as torchvision's `vgg19().features`."""
    layers: list[nn.Module] = []
    cin = 3
    for v in _VGG19_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=False)]
            cin = int(v)
    return nn.Sequential(*layers)


class PerceptualLoss(nn.Module):
    """VGG19 feature loss: sum_l w_l * mean |phi_l(x) - phi_l(y)| (pix2pixHD's VGGLoss).

    Args:
        weights_path: a local torch state dict (`torch.save(state_dict, path)`) of VGG19
            features (keys "0.weight", ...), or of a full torchvision VGG19 (keys
            "features.0.weight", ...; the classifier is ignored).
        layers / layer_weights: feature indices (after ReLU) and their weights.

    Raises:
        CheckpointError: the file is missing, unreadable, or not VGG19 feature weights.

    Inputs are images in [-1, 1]; they are mapped to [0, 1] and normalised with ImageNet's
    mean/std as VGG expects. The network is frozen and kept in eval mode.
    """

    MEAN = (0.485, 0.456, 0.406)
    STD = (0.229, 0.224, 0.225)

    def __init__(
        self,
        weights_path: str | Path,
        layers: Sequence[int] = _VGG_LAYERS,
        layer_weights: Sequence[float] = _VGG_WEIGHTS,
    ) -> None:
        super().__init__()
        path = Path(weights_path)
        hint = "give a local VGG19 state dict (torch.save(model.features.state_dict(), path))"
        if not path.is_file():
            raise CheckpointError(path, "perceptual-loss weights not found", hint)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file is one clear error
            raise CheckpointError(path, f"cannot read perceptual-loss weights: {e}", hint) from None
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise CheckpointError(path, "is not a state dict", hint)
        if any(k.startswith("features.") for k in state):
            state = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        self.features = vgg19_features()
        expected = self.features.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        bad = sorted(
            k for k in set(expected) & set(state)
            if not isinstance(state[k], torch.Tensor) or state[k].shape != expected[k].shape
        )
        if missing or unexpected or bad:
            detail = "; ".join(
                f"{what}: {keys[:4]}{'...' if len(keys) > 4 else ''}"
                for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", bad))
                if keys
            )
            raise CheckpointError(path, f"does not hold VGG19 feature weights ({detail})", hint)
        self.features.load_state_dict(state)
        self.features.requires_grad_(False)
        self.features.eval()
        if len(layers) != len(layer_weights):
            raise ValueError("layers and layer_weights differ in length")
        self.layers = tuple(int(i) for i in layers)
        self.layer_weights = tuple(float(w) for w in layer_weights)
        self.register_buffer("mean", torch.tensor(self.MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(self.STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.features.eval()  # always frozen
        return self

    def _feats(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = ((x + 1.0) * 0.5 - self.mean) / self.std  # B x 3 x H x W, ImageNet-normalised
        out = []
        last = max(self.layers)
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.layers:
                out.append(x)
            if i == last:
                break
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x: generated, y: target; both B x 3 x H x W in [-1, 1]. Returns a scalar."""
        fx, fy = self._feats(x), self._feats(y)
        return sum(
            w * F.l1_loss(a, b.detach()) for w, a, b in zip(self.layer_weights, fx, fy, strict=True)
        )  # type: ignore[return-value]
