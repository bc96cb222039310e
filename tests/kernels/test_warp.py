"""Warp: identity, shifts, border clamp, numpy vs grid_sample, the in-frame mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtmotion.kernels.warp_numpy import sample_in_frame, warp_numpy
from rtmotion.kernels.warp_torch import flow_to_grid, sample_in_frame_torch, warp_torch

# numpy (float64) vs grid_sample (float32): max abs difference on values in [0, 1].
TOL = 1e-5


def _image(h: int = 37, w: int = 53, c: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, c)).astype(np.float32)


def _warp_t(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    out = warp_torch(torch.from_numpy(img).permute(2, 0, 1)[None], torch.from_numpy(flow)[None])
    return out[0].permute(1, 2, 0).numpy()


def test_identity_flow_returns_the_input() -> None:
    img = _image()
    zero = np.zeros(img.shape[:2] + (2,), np.float32)
    np.testing.assert_array_equal(warp_numpy(img, zero), img)
    u8 = (img * 255).astype(np.uint8)
    out = warp_numpy(u8, zero)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, u8)
    np.testing.assert_allclose(_warp_t(img, zero), img, atol=TOL)
    gray = img[..., 0]
    np.testing.assert_array_equal(warp_numpy(gray, zero), gray)


def test_integer_shift_and_border_clamp() -> None:
    img = _image()
    flow = np.zeros(img.shape[:2] + (2,), np.float32)
    flow[..., 0] = 3.0   # output (x, y) takes input (x + 3, y)
    flow[..., 1] = -2.0  # ... and (y - 2)
    out = warp_numpy(img, flow)
    np.testing.assert_allclose(out[2:, :-3], img[:-2, 3:])
    # beyond the right edge: the last column repeats; above the top: the first row
    np.testing.assert_allclose(out[2:, -1], img[:-2, -1])
    np.testing.assert_allclose(out[0, :-3], img[0, 3:])
    inside = sample_in_frame(flow)
    assert inside[2:, :-3].all() and not inside[:2].any() and not inside[:, -3:].any()
    np.testing.assert_array_equal(sample_in_frame_torch(torch.from_numpy(flow)[None])[0, 0].numpy(), inside)


def test_half_pixel_shift_is_bilinear() -> None:
    img = _image(c=1)
    flow = np.zeros(img.shape[:2] + (2,), np.float32)
    flow[..., 0] = 0.5
    out = warp_numpy(img, flow)
    np.testing.assert_allclose(out[:, :-1], (img[:, :-1] + img[:, 1:]) / 2, atol=1e-6)


@pytest.mark.parametrize("shape", [(37, 53, 3), (64, 64, 4), (1, 9, 2), (9, 1, 1)])
def test_numpy_matches_grid_sample(shape: tuple[int, int, int]) -> None:
    img = _image(*shape)
    flow = np.random.default_rng(1).normal(0, 6, shape[:2] + (2,)).astype(np.float32)
    assert np.abs(warp_numpy(img, flow) - _warp_t(img, flow)).max() < TOL


def test_grid_convention() -> None:
    """align_corners=True: pixel 0 -> -1, pixel W-1 -> +1."""
    flow = torch.zeros(1, 3, 5, 2)
    grid = flow_to_grid(flow)
    assert grid[0, 0, 0].tolist() == [-1.0, -1.0]
    assert grid[0, -1, -1].tolist() == [1.0, 1.0]
    assert grid[0, 1, 2].tolist() == [0.0, 0.0]


def test_warp_torch_is_differentiable_and_checks_shapes() -> None:
    img = torch.rand(2, 3, 8, 8, requires_grad=True)
    flow = torch.zeros(2, 8, 8, 2, requires_grad=True)
    warp_torch(img, flow).sum().backward()
    assert img.grad is not None and flow.grad is not None
    with pytest.raises(ValueError, match="flow must be"):
        warp_torch(img, torch.zeros(2, 8, 7, 2))
    with pytest.raises(ValueError, match="float"):
        warp_torch(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), torch.zeros(1, 8, 8, 2))
    with pytest.raises(ValueError, match="flow must be"):
        warp_numpy(np.zeros((8, 8, 3)), np.zeros((8, 9, 2)))


def test_warp_previous_shift_follows_the_camera_not_the_box() -> None:
    """Two boxes of one still scene: with the boxes' shift, the previous box warped to the current
    one is the current box (the follow crop's rule: the warp is done in camera coordinates), and
    the person's joints move with the box too."""
    from rtmotion.kernels.flow_numpy import PoseFlowConfig
    from rtmotion.kernels.warp_torch import shift_keypoints, warp_previous

    g = torch.Generator().manual_seed(0)
    scene = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1
    prev = scene[:, :, 10:42, 10:42]               # box at (10, 10)
    cur = scene[:, :, 13:45, 12:44]                # box at (12, 13): origin shift (2, 3)
    shift = torch.tensor([[2.0, 3.0]])
    nobody = torch.zeros(1, 25, 3)                 # no joint: only the background moves
    warped, mask = warp_previous(prev, nobody, nobody, PoseFlowConfig(), shift)
    inner = (slice(None), slice(None), slice(0, 28), slice(0, 29))   # sampled inside prev
    assert torch.allclose(warped[inner], cur[inner], atol=1e-5)
    assert mask[:, :, :29, :30].min() == 1 and mask[:, :, -1, :].max() == 0
    # Without the shift the background would be taken from the wrong place.
    unshifted, _ = warp_previous(prev, nobody, nobody, PoseFlowConfig())
    assert (unshifted[inner] - cur[inner]).abs().mean() > 0.1
    kp = torch.tensor([[[5.0, 6.0, 1.0], [0.0, 0.0, 0.0]]])
    moved = shift_keypoints(kp, shift)
    assert moved.tolist() == [[[3.0, 3.0, 1.0], [0.0, 0.0, 0.0]]]
