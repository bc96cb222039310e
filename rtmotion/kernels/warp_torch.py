"""Backward warp in torch via `torch.nn.functional.grid_sample` (any device).

Pixel flow -> normalised grid (the convention of `rtmotion.kernels`): with
``align_corners=True`` grid value -1 is the centre of pixel 0 and +1 the centre of pixel
W-1, so the sample position x + dx becomes ``2 (x + dx) / (W - 1) - 1`` (0 when W == 1).
``padding_mode="border"`` clamps the position to the frame, like the numpy reference.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from rtmotion.kernels.flow_torch import pose_flow_torch


def _check(images: torch.Tensor, flow: torch.Tensor) -> None:
    if images.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W), got {tuple(images.shape)}")
    b, _, h, w = images.shape
    if tuple(flow.shape) != (b, h, w, 2):
        raise ValueError(f"flow must be (B, H, W, 2) = {(b, h, w, 2)}, got {tuple(flow.shape)}")


def flow_to_grid(flow: torch.Tensor) -> torch.Tensor:
    """Pixel flow (B, H, W, 2) -> grid_sample grid (B, H, W, 2) in [-1, 1] (align_corners=True)."""
    _, h, w, _ = flow.shape
    dev, dt = flow.device, flow.dtype
    xs = torch.arange(w, device=dev, dtype=dt).view(1, 1, w)
    ys = torch.arange(h, device=dev, dtype=dt).view(1, h, 1)
    gx = (xs + flow[..., 0]) * (2.0 / (w - 1) if w > 1 else 0.0) - (1.0 if w > 1 else 0.0)
    gy = (ys + flow[..., 1]) * (2.0 / (h - 1) if h > 1 else 0.0) - (1.0 if h > 1 else 0.0)
    return torch.stack([gx, gy], dim=-1)


def warp_torch(images: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Warp a batch of images by backward pixel flows (differentiable w.r.t. both).

    Args:
        images: float (B, C, H, W) (any range, e.g. [-1, 1]).
        flow: float (B, H, W, 2), (dx, dy) in pixels, same device.
    Returns:
        (B, C, H, W), images' dtype: bilinear samples at (x + dx, y + dy), edge-clamped.
    """
    _check(images, flow)
    if not images.is_floating_point():
        raise ValueError(f"warp_torch needs float images, got {images.dtype} (convert uint8 first)")
    grid = flow_to_grid(flow.to(images.dtype))
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=True)


def sample_in_frame_torch(flow: torch.Tensor) -> torch.Tensor:
    """float32 (B, 1, H, W): 1 where the flow samples inside the frame, 0 where it was clamped."""
    _, h, w, _ = flow.shape
    xs = torch.arange(w, device=flow.device, dtype=flow.dtype).view(1, 1, w) + flow[..., 0]
    ys = torch.arange(h, device=flow.device, dtype=flow.dtype).view(1, h, 1) + flow[..., 1]
    inside = (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)
    return inside.to(torch.float32)[:, None]


def warp_previous(prev: torch.Tensor, kp_prev: torch.Tensor, kp_cur: torch.Tensor,
                  flow_cfg: Any = None, shift: torch.Tensor | None = None, stride: int = 1
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Warp the previous frame to the current pose with the analytic pose flow.

    The one place training and inference (`rtmotion.pipeline.synthesize`) warp, so a subject
    is always driven exactly as it was trained.

    Args:
        prev: B x 3 x H x W in [-1, 1], the previous frame (generated or real).
        kp_prev, kp_cur: B x K x 3 keypoints in pixels of this frame.
        flow_cfg: rtmotion.kernels.flow_numpy.PoseFlowConfig (None: its defaults).
        shift: B x 2 (x, y) pixels, or None (0): where the current frame's pixel u lies in
            `prev`'s frame when the two frames are boxes of one camera frame at different places
            (`rtmotion.subject.follow`: origin of the current box minus origin of prev's, model
            pixels). kp_prev is then in prev's pixels, kp_cur in the current frame's; the flow
            is computed in the current frame's pixels and shifted, so the still background maps
            to itself in the camera.
        stride: the pose flow's evaluation grid (`pose_flow_torch`): 1 (training) exact at
            every pixel; inference passes `rtmotion.pipeline.synthesize.INFERENCE_FLOW_STRIDE`.

    Returns:
        warped: B x 3 x H x W in [-1, 1] (edge-clamped where the flow leaves the frame);
        mask: B x 1 x H x W in {0, 1}, 1 where the flow sampled inside the frame.
    """
    _, _, h, w = prev.shape
    flow = pose_flow_torch(shift_keypoints(kp_prev.float(), shift), kp_cur.float(), (w, h),
                           flow_cfg, stride)                                  # B x H x W x 2, px
    if shift is not None:
        flow = flow + shift.to(flow.dtype).view(-1, 1, 1, 2)
    warped = warp_torch(prev, flow.to(prev.dtype))                            # B x 3 x H x W
    mask = sample_in_frame_torch(flow).to(prev.dtype)                         # B x 1 x H x W
    return warped, mask


def shift_keypoints(kp: torch.Tensor, shift: torch.Tensor | None) -> torch.Tensor:
    """B x K x 3 keypoints in a frame's pixels -> in the pixels of a frame whose origin is
    `shift` (B x 2) further (kp - shift; missing joints stay (0, 0, 0)). None: kp unchanged."""
    if shift is None:
        return kp
    vis = (kp[..., 2:3] > 0).to(kp.dtype)
    xy = kp[..., :2] - shift.to(kp.dtype).view(-1, 1, 2) * vis
    return torch.cat([xy, kp[..., 2:3]], dim=-1)
