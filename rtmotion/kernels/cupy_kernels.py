"""CUDA kernels via CuPy: conditioning maps, pose flow and warp on the GPU.

Kernel sources are the `.cu` files beside this module (`pose_maps.cu`, `pose_flow.cu`,
`warp.cu`), compiled with NVRTC by `cupy.RawModule` on first use and memoized per device.
The small per-bone parameter arrays are computed on the host in numpy (float64, then float32)
and uploaded; the per-pixel work runs one thread per output pixel. The numpy references are
the oracles (`tools/gpu_kernels_check.py`, `tests/kernels/test_cupy.py`).

CuPy is optional (extra ``gpu``): it is imported lazily, and a missing CuPy raises
`MissingDependencyError`. Arrays are float32 CuPy arrays on the current device; the
dispatcher in `rtmotion.kernels.backend` also accepts numpy arrays and CUDA torch tensors.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import numpy as np

from rtmotion.kernels.flow_numpy import (
    PoseFlowConfig,
    background_shifts,
    bone_coefficients,
    check_pose_pair,
    check_size,
)
from rtmotion.kernels.maps_numpy import PoseMapConfig, check_keypoints
from rtmotion.kernels.segments import primitive_segments, segment_frame
from rtmotion.lazy import require
from rtmotion.pose.skeleton import get_skeleton

_SRC_DIR = Path(__file__).resolve().parent
_BLOCK = (16, 16, 1)
MAX_BONES = 64  # pose_flow.cu keeps per-bone distances in a local array of this size


def import_cupy() -> Any:
    """The cupy module, or MissingDependencyError naming the extra to install."""
    return require("cupy", extra="gpu", purpose="the CuPy GPU kernels")


def cupy_available() -> bool:
    """True if CuPy imports and sees at least one CUDA device."""
    try:
        cupy = import_cupy()
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no CuPy, no driver, no device: all mean "not available"
        return False


@functools.lru_cache(maxsize=None)
def _module(source: str, device_id: int) -> Any:
    """Compiled RawModule of `source` (a .cu file name) for one device (memoized)."""
    cupy = import_cupy()
    code = (_SRC_DIR / source).read_text(encoding="utf-8")
    with cupy.cuda.Device(device_id):
        return cupy.RawModule(code=code)  # NVRTC compiles on the first get_function


def _kernel(source: str, name: str) -> Any:
    cupy = import_cupy()
    return _module(source, cupy.cuda.Device().id).get_function(name)


def _host(x: Any) -> np.ndarray:
    """numpy copy of a numpy/CuPy array (keypoints: tiny)."""
    return x.get() if hasattr(x, "get") and not isinstance(x, np.ndarray) else np.asarray(x)


def _grid(w: int, h: int, b: int) -> tuple[int, int, int]:
    return (math.ceil(w / _BLOCK[0]), math.ceil(h / _BLOCK[1]), b)


def pose_maps_cupy(keypoints: Any, cfg: PoseMapConfig) -> Any:
    """Conditioning maps on the GPU (definition: `rtmotion.kernels.maps_numpy`).

    Args:
        keypoints: (B, K, 3) numpy or CuPy array, pixels of the map.
    Returns:
        CuPy float32 (B, C, H, W) in [0, 1].
    """
    cupy = import_cupy()
    kp = _host(keypoints).astype(np.float64)
    check_keypoints(kp, cfg, batched=True)
    prim = cfg.primitives
    bsz = kp.shape[0]
    w, h = cfg.size
    a, b, valid = primitive_segments(kp, prim, cfg.min_confidence)
    seg = segment_frame(a, b)                                       # B x P x 5
    params = np.empty((bsz, prim.count, 8), np.float32)
    params[..., :5] = seg
    params[..., 5] = (cfg.cutoff * prim.sigma) ** 2
    params[..., 6] = -0.5 / prim.sigma**2
    params[..., 7] = valid
    out = cupy.empty((bsz, cfg.num_channels, h, w), dtype=cupy.float32)
    if bsz == 0:
        return out
    _kernel("pose_maps.cu", "pose_maps")(
        _grid(w, h, bsz), _BLOCK,
        (cupy.asarray(params), cupy.asarray(prim.channel.astype(np.int32)), out,
         np.int32(bsz), np.int32(prim.count), np.int32(cfg.num_channels), np.int32(h), np.int32(w)))
    return out


def pose_flow_cupy(kp_a: Any, kp_b: Any, size: tuple[int, int], cfg: PoseFlowConfig | None = None) -> Any:
    """Backward pose flow on the GPU (definition: `rtmotion.kernels.flow_numpy`).

    Args:
        kp_a, kp_b: (B, K, 3) numpy or CuPy arrays, pixels of (W, H) frames.
    Returns:
        CuPy float32 (B, H, W, 2).
    """
    cupy = import_cupy()
    cfg = cfg or PoseFlowConfig()
    ka = _host(kp_a).astype(np.float64)
    kb = _host(kp_b).astype(np.float64)
    check_pose_pair(ka, kb, get_skeleton(cfg.skeleton).num_joints, batched=True)
    w, h = check_size(size)
    s, r, f = cfg.pixels(h)
    bsz = ka.shape[0]
    coef, seg_b, valid = bone_coefficients(ka, kb, cfg)            # B x N x 6, B x N x 2 x 2
    nb = coef.shape[1]
    if nb > MAX_BONES:
        raise ValueError(f"pose_flow_cupy supports at most {MAX_BONES} bones, skeleton has {nb}")
    cx, cy = (w - 1) / 2, (h - 1) / 2
    # Missing bones: far away (weight 0 next to any present bone) with zero displacement.
    seg_b = np.where(valid[..., None, None], seg_b, -1.0e5)
    params = np.empty((bsz, nb, 11), np.float32)
    params[..., :5] = segment_frame(seg_b[:, :, 0], seg_b[:, :, 1])
    params[..., 5] = coef[..., 0]
    params[..., 6] = coef[..., 1]
    params[..., 7] = coef[..., 2] + coef[..., 0] * cx + coef[..., 1] * cy   # centred coordinates
    params[..., 8] = coef[..., 3]
    params[..., 9] = coef[..., 4]
    params[..., 10] = coef[..., 5] + coef[..., 3] * cx + coef[..., 4] * cy
    bg = background_shifts(ka, kb, cfg).astype(np.float32).reshape(bsz, 2)
    out = cupy.empty((bsz, h, w, 2), dtype=cupy.float32)
    if bsz == 0:
        return out
    _kernel("pose_flow.cu", "pose_flow")(
        _grid(w, h, bsz), _BLOCK,
        (cupy.asarray(params), cupy.asarray(bg), out, np.int32(bsz), np.int32(nb), np.int32(h), np.int32(w),
         np.float32(cx), np.float32(cy), np.float32(-0.5 / (s * s)), np.float32(r), np.float32(-0.5 / (f * f))))
    return out


def warp_cupy(images: Any, flow: Any) -> Any:
    """Backward bilinear warp on the GPU (edge clamp; same as `warp_torch`).

    Args:
        images: CuPy float (B, C, H, W).
        flow: CuPy float (B, H, W, 2), pixels.
    Returns:
        CuPy float32 (B, C, H, W).
    """
    cupy = import_cupy()
    images = cupy.ascontiguousarray(cupy.asarray(images, dtype=cupy.float32))
    flow = cupy.ascontiguousarray(cupy.asarray(flow, dtype=cupy.float32))
    if images.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W), got {images.shape}")
    bsz, c, h, w = images.shape
    if flow.shape != (bsz, h, w, 2):
        raise ValueError(f"flow must be (B, H, W, 2) = {(bsz, h, w, 2)}, got {flow.shape}")
    out = cupy.empty_like(images)
    if bsz == 0:
        return out
    _kernel("warp.cu", "warp_bilinear")(
        _grid(w, h, bsz), _BLOCK, (images, flow, out, np.int32(bsz), np.int32(c), np.int32(h), np.int32(w)))
    return out
