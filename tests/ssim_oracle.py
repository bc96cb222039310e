"""An SSIM written from Wang et al. 2004's formula with numpy and scipy only: the independent
oracle of the project's two SSIMs (`rtmotion.eval.metrics.ssim`, pytorch_msssim, and
`rtmotion.export.int8.ssim_uint8`, torch convolutions)."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate

C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def numpy_ssim(a: np.ndarray, b: np.ndarray, win: int = 11, sigma: float = 1.5) -> float:
    """Mean SSIM of two (H, W, C) images in [0, 255]: `win` x `win` Gaussian (sigma) local
    statistics over the window positions fully inside the image, per channel, then the mean."""
    r = win // 2
    x1 = np.arange(win) - float(r)
    g = np.exp(-x1**2 / (2 * sigma**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    vals = []
    for c in range(a.shape[-1]):
        x, y = a[..., c].astype(np.float64), b[..., c].astype(np.float64)

        def local(img: np.ndarray) -> np.ndarray:
            out = correlate(img, w, mode="constant")
            return out[r:img.shape[0] - r, r:img.shape[1] - r]   # windows fully inside

        mx, my = local(x), local(y)
        vx, vy, cxy = local(x * x) - mx**2, local(y * y) - my**2, local(x * y) - mx * my
        vals.append(((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx**2 + my**2 + C1) * (vx + vy + C2)))
    return float(np.mean(vals))
