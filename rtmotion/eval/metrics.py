"""Image similarity metrics: SSIM (via pytorch_msssim) and PSNR, on uint8 RGB images.

Both take images of the same shape, uint8 RGB (H, W, 3) (or float in [0, 255]).

- SSIM: Wang et al. 2004 with the usual Gaussian window (sigma 1.5, size 11), data range 255,
  computed per RGB channel and averaged; 1.0 for identical images. For crops smaller than the
  window the window shrinks to the largest odd size that fits (at least `MIN_SSIM_SIDE`); a
  smaller crop has no meaningful SSIM and gives None.
- PSNR: 10 log10(255^2 / MSE) in dB over all pixels and channels. Identical images would give
  infinity, which JSON cannot carry; PSNR is therefore capped at `PSNR_CAP_DB` (100 dB, an MSE of
  about 6.5e-6 grey levels squared, far below what 8-bit rounding allows between distinct images).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
from pytorch_msssim import ssim as _ssim

#: PSNR reported for identical images (and the upper bound of any PSNR), in dB.
PSNR_CAP_DB = 100.0
#: Smallest crop side (pixels) on which SSIM is computed.
MIN_SSIM_SIDE = 7
_SSIM_WIN = 11
_SSIM_SIGMA = 1.5


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.ndim == 2:  # grey: treat as one channel
        a, b = a[..., None], b[..., None]
    if a.ndim != 3:
        raise ValueError(f"expected (H, W, C) images, got shape {a.shape}")
    return a, b


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two uint8 images of the same shape, capped at PSNR_CAP_DB."""
    a, b = _check_pair(a, b)
    if a.size == 0:
        raise ValueError("empty image")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse <= 0.0:
        return PSNR_CAP_DB
    return float(min(PSNR_CAP_DB, 10.0 * math.log10(255.0**2 / mse)))


def ssim(a: np.ndarray, b: np.ndarray) -> float | None:
    """Mean SSIM between two uint8 RGB images of the same shape (H, W, 3).

    Returns None when the image is smaller than MIN_SSIM_SIDE pixels on a side.
    """
    a, b = _check_pair(a, b)
    h, w = a.shape[:2]
    side = min(h, w)
    if side < MIN_SSIM_SIDE:
        return None
    win = min(_SSIM_WIN, side if side % 2 == 1 else side - 1)

    # 1 x C x H x W, float in [0, 255]; float64 so that identical inputs give exactly 1.0.
    ta = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)).permute(2, 0, 1)[None]
    tb = torch.from_numpy(np.ascontiguousarray(b, dtype=np.float64)).permute(2, 0, 1)[None]
    with torch.no_grad():
        val = _ssim(ta, tb, data_range=255.0, win_size=win, win_sigma=_SSIM_SIGMA, size_average=True)
    return float(val)


def crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """image[y0:y1, x0:x1] for an integer box (x0, y0, x1, y1), end-exclusive."""
    x0, y0, x1, y1 = box
    return image[y0:y1, x0:x1]


def ssim_psnr(a: np.ndarray, b: np.ndarray,
              box: tuple[int, int, int, int] | None = None) -> tuple[float | None, float]:
    """(SSIM, PSNR) of two images, optionally both cropped to `box` (x0, y0, x1, y1)."""
    if box is not None:
        a, b = crop(a, box), crop(b, box)
    return ssim(a, b), psnr(a, b)


def fine_detail(image: np.ndarray) -> np.ndarray:
    """float32 (H, W): |Laplacian| (3x3) of the grey image, grey levels: the fine detail."""
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=3))


def detail_ratio(generated: np.ndarray, real: np.ndarray,
                 box: tuple[int, int, int, int] | None = None) -> float | None:
    """How much of the real image's fine detail the generated one has: mean |Laplacian| of the
    generated crop / the real crop's (1: as sharp as the camera; an enlarged blur ~0.2-0.3;
    above 1: noisier than the camera). It says nothing about whether the detail is the right
    one (SSIM does); it tells a sharp person from a blurred one, which SSIM favours when the
    two are slightly misaligned. None when the real crop has no detail at all."""
    if box is not None:
        generated, real = crop(generated, box), crop(real, box)
    r = float(fine_detail(real).mean())
    return None if r < 1e-6 else float(fine_detail(generated).mean()) / r
