"""The SSIM that gates INT8 engines (`ssim_uint8`) against independent oracles: closed forms
(identical images, constant images, a constant offset), pytorch_msssim (the eval metric, another
implementation of the same Wang et al. 2004 SSIM) and a plain numpy/scipy SSIM written here; and
`to_uint8`, the frame conversion it is fed with, on known values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import correlate

from rtmotion.eval.metrics import ssim as eval_ssim
from rtmotion.export.int8 import INT8_MIN_SSIM, ssim_uint8, to_uint8
from tests.ssim_oracle import numpy_ssim

C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def _pair(rng: np.random.Generator, sigma: float, shape=(40, 48, 3)) -> tuple[np.ndarray, np.ndarray]:
    """A smooth picture and a noisy copy of it."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    base = np.stack([120 + 80 * np.sin(xx / 5.0 + k) * np.cos(yy / 7.0) for k in range(shape[2])], -1)
    a = np.clip(base, 0, 255).astype(np.uint8)
    b = np.clip(base + rng.normal(0, sigma, shape), 0, 255).astype(np.uint8)
    return a, b


def test_identical_images_score_one() -> None:
    a, _ = _pair(np.random.default_rng(0), 0.0)
    assert ssim_uint8(a, a) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("p,q", [(0, 255), (100, 140), (30, 200), (128, 128)])
def test_constant_images_follow_the_closed_form(p: int, q: int) -> None:
    """No variance anywhere: SSIM is the luminance term (2pq + C1) / (p^2 + q^2 + C1)."""
    a = np.full((24, 24, 3), p, np.uint8)
    b = np.full((24, 24, 3), q, np.uint8)
    want = (2 * p * q + C1) / (p * p + q * q + C1)
    # float32 local variances (E[x^2] - mu^2 of values near 255^2) are exact to about 1e-2
    assert ssim_uint8(a, b) == pytest.approx(want, abs=1e-3)


def test_a_constant_offset_only_costs_luminance() -> None:
    """b = a + d on a picture whose local mean is m everywhere (a checkerboard): contrast and
    structure are intact, so SSIM = (2 m (m + d) + C1) / (m^2 + (m + d)^2 + C1)."""
    yy, xx = np.mgrid[0:33, 0:33]
    a = np.where((yy + xx) % 2 == 0, 90, 110).astype(np.uint8)[..., None].repeat(3, -1)
    b = a + np.uint8(40)
    m = float(correlate(a[..., 0].astype(float), np.full((11, 11), 1 / 121))[16, 16])
    got = ssim_uint8(a, b)
    # the checkerboard's Gaussian-weighted mean is 100 within a fraction of a level
    lo = min((2 * mm * (mm + 40) + C1) / (mm**2 + (mm + 40) ** 2 + C1) for mm in (m - 1, m + 1))
    assert lo - 1e-3 < got < 1.0 - 0.05


@pytest.mark.parametrize("sigma", [3.0, 12.0, 40.0])
def test_agrees_with_two_independent_ssims(sigma: float) -> None:
    a, b = _pair(np.random.default_rng(int(sigma)), sigma)
    got = ssim_uint8(a, b)
    assert got == pytest.approx(numpy_ssim(a, b), abs=1e-4)
    assert got == pytest.approx(eval_ssim(a, b), abs=1e-4)
    assert got < 0.999


def test_falls_with_noise_and_averages_a_batch() -> None:
    rng = np.random.default_rng(5)
    pairs = [_pair(rng, s) for s in (2.0, 8.0, 30.0)]
    scores = [ssim_uint8(a, b) for a, b in pairs]
    assert scores[0] > scores[1] > scores[2] > 0
    batch_a, batch_b = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    assert ssim_uint8(batch_a, batch_b) == pytest.approx(np.mean(scores), abs=1e-6)
    # symmetric, as the formula is
    assert ssim_uint8(*pairs[1]) == pytest.approx(ssim_uint8(pairs[1][1], pairs[1][0]), abs=1e-6)


def test_the_int8_bound_is_below_one_and_noise_crosses_it() -> None:
    """INT8's gate rejects a visibly noisy frame and accepts a nearly exact one."""
    rng = np.random.default_rng(9)
    assert ssim_uint8(*_pair(rng, 1.0)) >= INT8_MIN_SSIM > ssim_uint8(*_pair(rng, 25.0))


def test_to_uint8_known_values_and_layout() -> None:
    frames = np.zeros((2, 3, 4, 5), np.float32)
    frames[0, 0] = -1.0          # black red channel
    frames[0, 1] = 1.0           # full green
    frames[0, 2] = 0.0           # mid blue: 127.5 rounds to even 128
    frames[1] = 2.0              # out of range: clipped
    frames[1, 2, 3, 4] = -3.0
    out = to_uint8(frames)
    assert out.shape == (2, 4, 5, 3) and out.dtype == np.uint8
    assert (out[0, ..., 0] == 0).all() and (out[0, ..., 1] == 255).all() and (out[0, ..., 2] == 128).all()
    assert (out[1, ..., :2] == 255).all() and out[1, 3, 4, 2] == 0 and out[1, 0, 0, 2] == 255
    assert to_uint8(np.full((1, 3, 1, 1), -0.5, np.float32))[0, 0, 0, 0] == 64    # 63.75
    assert to_uint8(np.full((1, 3, 1, 1), 0.25, np.float32))[0, 0, 0, 0] == 159    # 159.375
