"""Numpy helpers shared by the kernels: bone tables, vectorized segment parameters, trunk joints.

The per-pixel work of the numpy references lives in `rtmotion.kernels.maps_numpy` (maps) and
`rtmotion.kernels.flow_numpy` (flow); these helpers compute the small per-bone parameter
arrays (also the host-side inputs of the CuPy kernels).
"""

from __future__ import annotations

import numpy as np

from rtmotion.pose.skeleton import Skeleton

# A segment shorter than this (px) is a point (same threshold as the torch helpers).
MIN_SEGMENT = 1e-6

TRUNK_JOINTS: tuple[str, ...] = ("neck", "mid_hip", "r_shoulder", "l_shoulder", "r_hip", "l_hip")


def bone_array(skeleton: Skeleton) -> np.ndarray:
    """int64 (N, 2) (parent, child) joint indices of the skeleton's bones, in bone order."""
    return np.asarray(skeleton.bones, dtype=np.int64).reshape(-1, 2)


def trunk_indices(skeleton: Skeleton) -> np.ndarray:
    """int64 indices of the trunk joints the skeleton has."""
    return np.asarray([skeleton.index(j) for j in TRUNK_JOINTS if skeleton.has(j)], dtype=np.int64)


def primitive_segments(kp: np.ndarray, prim, min_confidence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Endpoints of the map primitives: kp (B, K, 3) -> a, b float64 (B, P, 2), valid bool (B, P)."""
    kp = np.asarray(kp, dtype=np.float64)
    a = kp[:, prim.j0, :2]
    p1 = kp[:, prim.j1, :2]
    b = p1 + prim.ext[None, :, None] * (p1 - kp[:, prim.j2, :2])
    conf = kp[..., 2]
    valid = (conf[:, prim.j0] > min_confidence) & (conf[:, prim.j1] > min_confidence) & (
        conf[:, prim.j2] > min_confidence)
    return a, b, valid


def segment_frame(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 5) float64 = ax, ay, ux, uy, length of segments a -> b (each (..., 2)).

    A degenerate segment (shorter than MIN_SEGMENT) gets u = (1, 0), length 0 (the point a).
    """
    v = b - a
    length = np.hypot(v[..., 0], v[..., 1])
    point = length < MIN_SEGMENT
    safe = np.where(point, 1.0, length)
    ux = np.where(point, 1.0, v[..., 0] / safe)
    uy = np.where(point, 0.0, v[..., 1] / safe)
    return np.stack([a[..., 0], a[..., 1], ux, uy, np.where(point, 0.0, length)], axis=-1)
