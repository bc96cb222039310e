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


def _dancer_pair(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two BODY25 poses per sample, float32 (B, 25, 3) in pixels of a 48x40 frame, each sample
    a different dancer frame (the synthetic renderer's exact joints, scaled)."""
    from rtmotion.synthetic.generate import render_sequence

    _, seq = render_sequence("ada", "dance", seconds=2, size=(48, 40), fps=10, seed=4)
    kp = torch.from_numpy(seq.keypoints.astype(np.float32))
    kp[:, 3, :] = 0.0  # a missing joint must stay (0, 0, 0) under a shift
    prev = torch.stack([kp[2 + 5 * i] for i in range(batch)])
    cur = torch.stack([kp[4 + 5 * i] for i in range(batch)])
    return prev, cur


def test_shift_keypoints_per_sample() -> None:
    from rtmotion.kernels.warp_torch import shift_keypoints

    kp, _ = _dancer_pair(3)
    shift = torch.tensor([[2.0, -1.0], [0.0, 4.0], [-3.5, 0.5]])
    moved = shift_keypoints(kp, shift)
    assert moved.shape == kp.shape and moved.dtype == kp.dtype
    for b in range(3):
        vis = kp[b, :, 2] > 0
        assert torch.equal(moved[b, vis, :2], kp[b, vis, :2] - shift[b])
        assert torch.equal(moved[b, ~vis], kp[b, ~vis])  # missing joints stay (0, 0, 0)
        assert torch.equal(moved[b, :, 2], kp[b, :, 2])  # confidences kept
    assert shift_keypoints(kp, None) is kp


def test_warp_previous_is_the_shifted_pose_flow_then_the_warp() -> None:
    """warp_previous = pose flow (prev pose moved by the shift, the flow config given) + shift,
    then warp and in-frame mask, sample by sample (batch 2, two shifts, a non-default config)."""
    from rtmotion.kernels.flow_numpy import PoseFlowConfig
    from rtmotion.kernels.flow_torch import pose_flow_torch
    from rtmotion.kernels.warp_torch import warp_previous

    kp_prev, kp_cur = _dancer_pair(2)
    g = torch.Generator().manual_seed(1)
    prev = torch.rand(2, 3, 40, 48, generator=g) * 2 - 1
    shift = torch.tensor([[1.5, -2.0], [-3.0, 1.0]])
    cfg = PoseFlowConfig(sigma_frac=0.12)
    assert cfg != PoseFlowConfig()
    warped, mask = warp_previous(prev, kp_prev, kp_cur, cfg, shift)
    assert warped.shape == prev.shape and mask.shape == (2, 1, 40, 48)
    assert warped.dtype == mask.dtype == prev.dtype
    for b in range(2):
        moved = kp_prev[b:b + 1].clone()
        vis = moved[..., 2] > 0
        moved[..., :2][vis] -= shift[b]
        flow = pose_flow_torch(moved, kp_cur[b:b + 1], (48, 40), cfg) + shift[b]
        assert torch.allclose(warped[b:b + 1], warp_torch(prev[b:b + 1], flow), atol=1e-6)
        assert torch.equal(mask[b:b + 1], sample_in_frame_torch(flow))
    # the default config is another flow
    other, _ = warp_previous(prev, kp_prev, kp_cur, None, shift)
    assert (other - warped).abs().max() > 1e-3


def test_in_frame_mask_is_float32_and_shape_errors_name_the_shapes() -> None:
    flow = torch.zeros(1, 4, 5, 2, dtype=torch.float64)
    mask = sample_in_frame_torch(flow)
    assert mask.dtype == torch.float32 and mask.shape == (1, 1, 4, 5) and mask.min() == 1
    with pytest.raises(ValueError, match=r"flow must be \(B, H, W, 2\) = \(1, 4, 5, 2\), got \(1, 4, 6, 2\)"):
        warp_torch(torch.zeros(1, 3, 4, 5), torch.zeros(1, 4, 6, 2))
    with pytest.raises(ValueError, match=r"images must be \(B, C, H, W\), got \(3, 4, 5\)"):
        warp_torch(torch.zeros(3, 4, 5), torch.zeros(1, 4, 5, 2))


def test_numpy_warp_keeps_the_float_dtype_and_names_the_wanted_flow() -> None:
    flow = np.zeros((4, 5, 2))
    for dt in (np.float32, np.float64):
        assert warp_numpy(np.zeros((4, 5, 3), dt), flow).dtype == dt
    assert warp_numpy(np.zeros((4, 5, 3), np.uint8), flow).dtype == np.uint8
    with pytest.raises(ValueError, match=r"flow must be \(4, 5, 2\) to match the image, got \(4, 6, 2\)"):
        warp_numpy(np.zeros((4, 5, 3)), np.zeros((4, 6, 2)))
    from rtmotion.kernels.warp_numpy import check_flow

    with pytest.raises(ValueError, match=r"flow must be \('B', 4, 5, 2\) to match the image, got \(4, 5, 2\)"):
        check_flow(np.zeros((4, 5, 2)), 4, 5, batched=True)
    check_flow(np.zeros((3, 4, 5, 2)), 4, 5, batched=True)


@pytest.mark.parametrize("h, w", [(1, 5), (2, 5), (5, 1), (5, 2)])
def test_thin_images_warp_as_the_numpy_oracle(h: int, w: int) -> None:
    """One- and two-pixel rows and columns: the grid's normalization has its edge cases there."""
    rng = np.random.default_rng(h * 10 + w)
    img = rng.uniform(-1, 1, (h, w, 3)).astype(np.float32)
    flow = rng.uniform(-1.5, 1.5, (h, w, 2)).astype(np.float32)
    want = warp_numpy(img, flow)
    got = warp_torch(torch.from_numpy(img).permute(2, 0, 1)[None], torch.from_numpy(flow)[None])
    assert np.allclose(got[0].permute(1, 2, 0).numpy(), want, atol=1e-5)
