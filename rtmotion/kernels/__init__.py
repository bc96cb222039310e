"""Pose-conditioning kernels: conditioning maps, pose flow and warp, in numpy, torch and CuPy.

The numpy versions are the references (oracles): straightforward float64 code that every
other implementation is tested against. torch runs batched on any device (training, CPU inference);
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
- maps: `PoseMapConfig`, `pose_maps_numpy` (`maps_numpy`, the oracle), `pose_maps_torch`
  (`maps_torch`), `pose_maps_cupy` (`cupy_kernels` + `pose_maps.cu`);
- flow: `PoseFlowConfig`, `pose_flow` (numpy), `pose_flow_torch`, `pose_flow_cupy`;
- warp: `warp_numpy`, `warp_torch`, `warp_cupy`, `sample_in_frame` / `sample_in_frame_torch`;
- dispatch (`kernels="auto" | "numpy" | "torch" | "cupy"`): `pose_maps_batch`,
  `pose_flow_batch`, `warp_batch`, `available_kernels`, `kernels_for`.

The package's face is numpy only (the references and the dispatchers), so numpy-only users do
not load torch: the torch versions are imported from their modules (`maps_torch`, `flow_torch`,
`warp_torch`), and CuPy is imported only when a CuPy kernel is first called.
"""

from __future__ import annotations

from rtmotion.kernels.cupy_kernels import cupy_available
from rtmotion.kernels.dispatch import (
    KERNELS,
    available_kernels,
    kernels_for,
    pose_flow_batch,
    pose_maps_batch,
    warp_batch,
)
from rtmotion.kernels.flow_numpy import PoseFlowConfig, pose_flow
from rtmotion.kernels.maps_numpy import PoseMapConfig, pose_maps_numpy
from rtmotion.kernels.warp_numpy import sample_in_frame, warp_numpy

__all__ = [
    "KERNELS", "PoseFlowConfig", "PoseMapConfig", "available_kernels", "cupy_available",
    "kernels_for", "pose_flow", "pose_flow_batch", "pose_maps_batch", "pose_maps_numpy",
    "sample_in_frame", "warp_batch", "warp_numpy",
]
