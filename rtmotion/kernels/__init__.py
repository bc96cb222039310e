"""Pose-conditioning kernels: conditioning maps, pose flow and warp, in numpy, torch and CuPy.

The numpy versions are the references (oracles): straightforward float64 code that every
other backend is tested against. torch runs batched on any device (training, CPU inference);
CuPy runs hand-written CUDA kernels (`*.cu` beside this file) on the GPU.

Conventions (stated once, here)
-------------------------------
Pixel coordinates: pixel (x, y) (column x, row y) has its centre at coordinate (x, y); the
frame spans [0, W-1] x [0, H-1] between the centres of its corner pixels. Keypoints given to
these kernels are in those coordinates of the map/frame they are drawn on.

Flow: **backward**, in pixels, float32 (H, W, 2) (batched: (B, H, W, 2)):
``flow[y, x] = (dx, dy)`` means output pixel (x, y) (the frame of the *new* pose B) takes its
value from the input frame (pose A) at (x + dx, y + dy). A backward flow is what a warp needs
(every output pixel gets exactly one value, no holes). Sampling is bilinear; a position outside
the frame is clamped to the border (edge pixels repeat).

torch: ``torch.nn.functional.grid_sample(image, grid, mode="bilinear",
padding_mode="border", align_corners=True)`` with
``grid[..., 0] = 2 (x + dx) / (W - 1) - 1`` and ``grid[..., 1] = 2 (y + dy) / (H - 1) - 1``
(`warp_torch.flow_to_grid`): with align_corners=True, -1 and +1 are the centres of the first
and last pixel, which matches the pixel-centre coordinates above exactly.

Contents
--------
- maps: `PoseMapConfig`, `render_pose_maps` (numpy, in `rtmotion.pose.render`),
  `render_pose_maps_torch`, `render_pose_maps_cupy`;
- flow: `PoseFlowConfig`, `pose_flow` (numpy), `pose_flow_torch`, `pose_flow_cupy`;
- warp: `warp_numpy`, `warp_torch`, `warp_cupy`, `sample_in_frame` / `sample_in_frame_torch`;
- dispatch: `render_pose_maps_batch`, `pose_flow_batch`, `warp_batch`, `available_backends`.

torch and CuPy are imported only when a name that needs them is first used.
"""

from __future__ import annotations

import importlib
from typing import Any

from rtmotion.kernels.backend import (
    BACKENDS,
    available_backends,
    choose_backend,
    pose_flow_batch,
    render_pose_maps_batch,
    warp_batch,
)
from rtmotion.kernels.flow_numpy import PoseFlowConfig, pose_flow
from rtmotion.kernels.warp_numpy import sample_in_frame, warp_numpy
from rtmotion.pose.render import PoseMapConfig, render_pose_maps

# Lazily imported names (torch / CuPy): name -> module.
_LAZY = {
    "render_pose_maps_torch": "rtmotion.kernels.render_torch",
    "pose_flow_torch": "rtmotion.kernels.flow_torch",
    "warp_torch": "rtmotion.kernels.warp_torch",
    "flow_to_grid": "rtmotion.kernels.warp_torch",
    "sample_in_frame_torch": "rtmotion.kernels.warp_torch",
    "render_pose_maps_cupy": "rtmotion.kernels.cupy_kernels",
    "pose_flow_cupy": "rtmotion.kernels.cupy_kernels",
    "warp_cupy": "rtmotion.kernels.cupy_kernels",
    "cupy_available": "rtmotion.kernels.cupy_kernels",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rtmotion.kernels' has no attribute '{name}'")


__all__ = [
    "BACKENDS", "PoseFlowConfig", "PoseMapConfig", "available_backends", "choose_backend",
    "pose_flow", "pose_flow_batch", "render_pose_maps", "render_pose_maps_batch", "sample_in_frame",
    "warp_batch", "warp_numpy", *_LAZY,
]
