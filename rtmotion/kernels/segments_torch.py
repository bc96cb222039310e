"""Torch helpers shared by the map and flow kernels: primitive/bone segments and distances.

Distances are built from separable terms: with a segment's origin `a`, unit direction `u` and
length `L`, a pixel p has along-coordinate ``s = (p - a) . u`` and across-coordinate
``c = (p - a) x u``; both are sums of a per-column and a per-row term (cheap broadcasts).
The squared distance to the segment is ``c^2 + (s - clamp(s, 0, L))^2``. Unlike the expanded
``|p - a|^2 - (p - a . v)^2 / |v|^2`` this has no catastrophic cancellation in float32 (the
error of d is about 1e-5 px at 512 px).
"""

from __future__ import annotations

import numpy as np
import torch

# A segment shorter than this (px) is a point.
MIN_SEGMENT = 1e-6


def primitive_segments_torch(kp: torch.Tensor, prim, min_confidence: float
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Endpoints of the map primitives (see `rtmotion.kernels.maps_numpy.Primitives`).

    Args:
        kp: float32 (B, K, 3).
        prim: `Primitives` table (P rows).
    Returns:
        a, b: float32 (B, P, 2) endpoints in pixels; valid: bool (B, P).
    """
    dev = kp.device
    j0 = torch.as_tensor(prim.j0, device=dev)
    j1 = torch.as_tensor(prim.j1, device=dev)
    j2 = torch.as_tensor(prim.j2, device=dev)
    ext = torch.as_tensor(prim.ext, dtype=kp.dtype, device=dev).view(1, -1, 1)
    a = kp[:, j0, :2]
    p1 = kp[:, j1, :2]
    b = p1 + ext * (p1 - kp[:, j2, :2])
    conf = kp[..., 2]
    valid = (conf[:, j0] > min_confidence) & (conf[:, j1] > min_confidence) & (conf[:, j2] > min_confidence)
    return a, b, valid


def bone_segments_torch(kp: torch.Tensor, bones: np.ndarray, min_confidence: float
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bone endpoints: kp (B, K, 3), bones int (N, 2) -> a, b (B, N, 2), present bool (B, N)."""
    idx = torch.as_tensor(bones, device=kp.device)
    a = kp[:, idx[:, 0], :2]
    b = kp[:, idx[:, 1], :2]
    conf = kp[..., 2]
    valid = (conf[:, idx[:, 0]] > min_confidence) & (conf[:, idx[:, 1]] > min_confidence)
    return a, b, valid


def segment_frame_torch(a: torch.Tensor, b: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Origin, unit direction and length of segments a -> b (each (..., 2)).

    Returns ax, ay, ux, uy, length, each (...). A degenerate segment (shorter than
    MIN_SEGMENT) gets u = (1, 0) and length 0, i.e. it is the point a.
    """
    v = b - a
    length = torch.linalg.vector_norm(v, dim=-1)
    point = length < MIN_SEGMENT
    safe = torch.where(point, torch.ones_like(length), length)
    ux = torch.where(point, torch.ones_like(length), v[..., 0] / safe)
    uy = torch.where(point, torch.zeros_like(length), v[..., 1] / safe)
    length = torch.where(point, torch.zeros_like(length), length)
    return a[..., 0], a[..., 1], ux, uy, length


def segment_distance2_torch(ax: torch.Tensor, ay: torch.Tensor, ux: torch.Tensor, uy: torch.Tensor,
                            length: torch.Tensor, w: int, h: int,
                            xs: torch.Tensor | None = None, ys: torch.Tensor | None = None) -> torch.Tensor:
    """Squared distance (px^2) of every grid point to every segment.

    Args:
        ax, ay, ux, uy, length: float32 (B, N) from `segment_frame_torch`.
        w, h: grid size; pixel (x, y) is at coordinate (x, y).
        xs, ys: optional float32 (w,) and (h,) coordinates of the grid columns and rows
            (default 0..w-1, 0..h-1), e.g. a coarser grid.
    Returns:
        float32 (B, N, h, w), a fresh tensor the caller may modify in place.
    """
    dev, dt = ax.device, torch.float32
    xs = (torch.arange(w, device=dev, dtype=dt) if xs is None else xs).view(1, 1, 1, w)
    ys = (torch.arange(h, device=dev, dtype=dt) if ys is None else ys).view(1, 1, h, 1)
    dxa = xs - ax[..., None, None]                       # B x N x 1 x W
    dya = ys - ay[..., None, None]                       # B x N x H x 1
    ux4, uy4 = ux[..., None, None], uy[..., None, None]
    s = dxa * ux4 + dya * uy4                            # B x N x H x W, along the segment
    c = dxa * uy4 - dya * ux4                            # B x N x H x W, across
    lo = torch.zeros_like(length)[..., None, None]
    s.sub_(torch.clamp(s, lo, length[..., None, None]))  # excess beyond the ends (0 inside)
    return c.mul_(c).addcmul_(s, s)
