"""CUDA kernels via CuPy: conditioning maps, pose flow, warp and frame conversion on the GPU.

Kernel sources are the `.cu` files beside this module (`pose_maps.cu`, `pose_flow.cu`,
`warp.cu`, `frames.cu`), compiled with NVRTC by `cupy.RawModule` on first use and memoized per device.
The small per-bone parameter arrays are computed on the host in numpy (float64, then float32)
and uploaded; the per-pixel work runs one thread per output pixel. The numpy references are
the oracles (`tools/gpu_kernels_check.py`, `tests/kernels/test_cupy.py`,
`tests/kernels/test_frames.py`).

For CUDA graphs the host part and the launch are also separate functions
(`pose_maps_params` + `launch_pose_maps`, `pose_flow_params` + `launch_pose_flow`; `warp_cupy`
and the frame conversions take an ``out`` buffer): a caller uploads the parameters into a
static device buffer and the launches, which neither allocate nor copy, are captured.
`torch_stream` makes CuPy launch on a stream torch owns.

CuPy is optional (extra ``gpu-cuda12`` or ``gpu-cuda13``, matching torch's CUDA): it is imported
lazily, and a missing CuPy raises `MissingDependencyError`. `cupy_available()` says yes only
after NVRTC compiled and the GPU ran a tiny kernel: a CuPy built for another CUDA than the one
here imports and counts devices fine, then fails at its first compile. Arrays are float32 CuPy arrays on the current device; the
dispatcher in `rtmotion.kernels.dispatch` also accepts numpy arrays and CUDA torch tensors.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
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
from rtmotion.lazy import GPU_EXTRAS, require
from rtmotion.pose.skeleton import get_skeleton

_SRC_DIR = Path(__file__).resolve().parent
_BLOCK = (16, 16, 1)
MAX_BONES = 64  # pose_flow.cu keeps per-bone distances in a local array of this size


def import_cupy() -> Any:
    """The cupy module, or MissingDependencyError naming the extras to install."""
    return require("cupy", extra=GPU_EXTRAS, purpose="the CuPy GPU kernels")


_PROBE_SOURCE = r"""
extern "C" __global__ void rtmotion_probe(float* x, const int n) {
    const int i = blockDim.x * blockIdx.x + threadIdx.x;
    if (i < n) x[i] = 2.0f * x[i] + 1.0f;
}
"""


@functools.cache
def cupy_status() -> tuple[bool, str]:
    """(usable, why): whether the CuPy kernels can run here, checked once per process.

    Usable means: CuPy imports, sees a CUDA device, NVRTC compiles a tiny kernel (the way the
    real kernels are built: `cupy.RawModule`) and the GPU runs it with the right result. Any
    failure gives (False, one line saying which step failed and what to do).
    """
    try:
        cupy = import_cupy()
    except Exception as e:  # noqa: BLE001 - a missing or broken CuPy: not usable
        return False, str(e).splitlines()[0] if str(e) else type(e).__name__
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as e:  # noqa: BLE001 - no driver, no device
        return False, f"CuPy sees no CUDA driver or device ({type(e).__name__}: {str(e)[:160]})"
    if count < 1:
        return False, "CuPy sees no CUDA device"
    try:
        x = cupy.arange(4, dtype=cupy.float32)
        kernel = cupy.RawModule(code=_PROBE_SOURCE).get_function("rtmotion_probe")
        kernel((1,), (32,), (x, np.int32(4)))
        got = np.asarray(cupy.asnumpy(x))
    except Exception as e:  # noqa: BLE001 - NVRTC missing or for another CUDA, a bad driver
        return False, (f"CuPy {getattr(cupy, '__version__', '?')} cannot compile or run a kernel "
                       f"here ({type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}); "
                       f"install the CuPy of torch's CUDA: pip install 'rtmotion[gpu-cuda12]' "
                       f"or 'rtmotion[gpu-cuda13]', not both")
    if not np.array_equal(got, np.array([1.0, 3.0, 5.0, 7.0], np.float32)):
        return False, f"CuPy's test kernel computed {got.tolist()}, not [1, 3, 5, 7]"
    return True, f"CuPy {getattr(cupy, '__version__', '?')}: {count} device(s), a test kernel compiled and ran"


def cupy_available() -> bool:
    """True if CuPy imports, sees a CUDA device, and compiles and runs a kernel there (see
    `cupy_status` for the reason when not)."""
    return cupy_status()[0]


@functools.cache
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


def pose_maps_params(keypoints: Any, cfg: PoseMapConfig) -> np.ndarray:
    """Per-primitive parameters the `pose_maps` kernel reads, computed on the host.

    Args:
        keypoints: (B, K, 3) numpy or CuPy array, pixels of the map.
    Returns:
        float32 (B, P, 8): ax, ay, ux, uy, len, r2, neg_k, valid per primitive (P = cfg's
        primitive count; the channel of each is `cfg.primitives.channel`).
    """
    kp = _host(keypoints).astype(np.float64)
    check_keypoints(kp, cfg, batched=True)
    prim = cfg.primitives
    a, b, valid = primitive_segments(kp, prim, cfg.min_confidence)
    params = np.empty((kp.shape[0], prim.count, 8), np.float32)
    params[..., :5] = segment_frame(a, b)                          # B x P x 5
    params[..., 5] = (cfg.cutoff * prim.sigma) ** 2
    params[..., 6] = -0.5 / prim.sigma**2
    params[..., 7] = valid
    return params


def launch_pose_maps(params: Any, channel: Any, out: Any, cfg: PoseMapConfig) -> Any:
    """Run the `pose_maps` kernel on device buffers (no allocation, no host copy: safe to
    capture in a CUDA graph once the kernel was compiled by an earlier call).

    Args:
        params: CuPy float32 (B, P, 8) from `pose_maps_params`.
        channel: CuPy int32 (P,) = `cfg.primitives.channel`.
        out: CuPy float32 (B, C, H, W), written.
    Returns:
        out.
    """
    bsz = int(out.shape[0])
    w, h = cfg.size
    if bsz:
        _kernel("pose_maps.cu", "pose_maps")(
            _grid(w, h, bsz), _BLOCK,
            (params, channel, out, np.int32(bsz), np.int32(cfg.primitives.count),
             np.int32(cfg.num_channels), np.int32(h), np.int32(w)))
    return out


def pose_maps_cupy(keypoints: Any, cfg: PoseMapConfig) -> Any:
    """Conditioning maps on the GPU (definition: `rtmotion.kernels.maps_numpy`).

    Args:
        keypoints: (B, K, 3) numpy or CuPy array, pixels of the map.
    Returns:
        CuPy float32 (B, C, H, W) in [0, 1].
    """
    cupy = import_cupy()
    params = pose_maps_params(keypoints, cfg)
    w, h = cfg.size
    out = cupy.empty((params.shape[0], cfg.num_channels, h, w), dtype=cupy.float32)
    channel = cupy.asarray(cfg.primitives.channel.astype(np.int32))
    return launch_pose_maps(cupy.asarray(params), channel, out, cfg)


@dataclass(frozen=True)
class FlowConstants:
    """The per-size scalars of the `pose_flow` kernel (centre in px, Gaussian factors)."""

    cx: float
    cy: float
    neg_k: float      # -1 / (2 s^2), s the bone weights' width in px
    radius: float     # r, px
    neg_kf: float     # -1 / (2 f^2), f the background fall-off in px


def pose_flow_params(kp_a: Any, kp_b: Any, size: tuple[int, int], cfg: PoseFlowConfig | None = None
                     ) -> tuple[np.ndarray, np.ndarray, FlowConstants]:
    """Per-bone parameters the `pose_flow` kernel reads, computed on the host.

    Args:
        kp_a, kp_b: (B, K, 3) numpy or CuPy arrays, pixels of (W, H) frames.
    Returns:
        params: float32 (B, N, 11) (pose-B segment frame, centred affine displacement);
        bg: float32 (B, 2) background shift in px;
        constants: the kernel's scalars for this size.
    """
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
    return params, bg, FlowConstants(cx, cy, -0.5 / (s * s), r, -0.5 / (f * f))


def launch_pose_flow(params: Any, bg: Any, out: Any, consts: FlowConstants) -> Any:
    """Run the `pose_flow` kernel on device buffers (no allocation, no host copy: safe to
    capture in a CUDA graph once the kernel was compiled by an earlier call).

    Args:
        params: CuPy float32 (B, N, 11), bg: CuPy float32 (B, 2), from `pose_flow_params`.
        out: CuPy float32 (B, H, W, 2), written (backward flow in px).
    Returns:
        out.
    """
    bsz, h, w = (int(v) for v in out.shape[:3])
    if bsz:
        _kernel("pose_flow.cu", "pose_flow")(
            _grid(w, h, bsz), _BLOCK,
            (params, bg, out, np.int32(bsz), np.int32(params.shape[1]), np.int32(h), np.int32(w),
             np.float32(consts.cx), np.float32(consts.cy), np.float32(consts.neg_k),
             np.float32(consts.radius), np.float32(consts.neg_kf)))
    return out


def pose_flow_cupy(kp_a: Any, kp_b: Any, size: tuple[int, int], cfg: PoseFlowConfig | None = None) -> Any:
    """Backward pose flow on the GPU (definition: `rtmotion.kernels.flow_numpy`).

    Args:
        kp_a, kp_b: (B, K, 3) numpy or CuPy arrays, pixels of (W, H) frames.
    Returns:
        CuPy float32 (B, H, W, 2).
    """
    cupy = import_cupy()
    params, bg, consts = pose_flow_params(kp_a, kp_b, size, cfg)
    w, h = check_size(size)
    out = cupy.empty((params.shape[0], h, w, 2), dtype=cupy.float32)
    return launch_pose_flow(cupy.asarray(params), cupy.asarray(bg), out, consts)


def warp_cupy(images: Any, flow: Any, out: Any = None) -> Any:
    """Backward bilinear warp on the GPU (edge clamp; same as `warp_torch`).

    Args:
        images: CuPy float (B, C, H, W).
        flow: CuPy float (B, H, W, 2), pixels.
        out: optional CuPy float32 (B, C, H, W) to write into (float32 contiguous inputs and
            `out` make the call allocation-free, so it can be captured in a CUDA graph).
    Returns:
        CuPy float32 (B, C, H, W) (``out`` when given).
    """
    cupy = import_cupy()
    images = cupy.ascontiguousarray(cupy.asarray(images, dtype=cupy.float32))
    flow = cupy.ascontiguousarray(cupy.asarray(flow, dtype=cupy.float32))
    if images.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W), got {images.shape}")
    bsz, c, h, w = images.shape
    if flow.shape != (bsz, h, w, 2):
        raise ValueError(f"flow must be (B, H, W, 2) = {(bsz, h, w, 2)}, got {flow.shape}")
    out = cupy.empty_like(images) if out is None else _check_out(out, images.shape, cupy.float32)
    if bsz == 0:
        return out
    _kernel("warp.cu", "warp_bilinear")(
        _grid(w, h, bsz), _BLOCK, (images, flow, out, np.int32(bsz), np.int32(c), np.int32(h), np.int32(w)))
    return out


def _check_out(out: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    if tuple(out.shape) != tuple(shape) or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be contiguous {dtype} {tuple(shape)}, got {out.dtype} {tuple(out.shape)}")
    return out


def frames_to_float_cupy(frames: Any, out: Any = None) -> Any:
    """uint8 RGB frames -> float NCHW in [-1, 1], one kernel (definition: `frames_numpy`).

    Args:
        frames: CuPy (or numpy) uint8 (B, H, W, 3) or (H, W, 3).
        out: optional CuPy float32 (B, 3, H, W) to write into.
    Returns:
        CuPy float32 (B, 3, H, W) (``out`` when given).
    """
    cupy = import_cupy()
    f = cupy.ascontiguousarray(cupy.asarray(frames))
    if f.dtype != cupy.uint8:
        raise ValueError(f"frames must be uint8, got {f.dtype}")
    f = f[None] if f.ndim == 3 else f
    if f.ndim != 4 or f.shape[-1] != 3:
        raise ValueError(f"frames must be (H, W, 3) or (B, H, W, 3), got {frames.shape}")
    bsz, h, w, _ = (int(v) for v in f.shape)
    shape = (bsz, 3, h, w)
    out = cupy.empty(shape, cupy.float32) if out is None else _check_out(out, shape, cupy.float32)
    if bsz:
        _kernel("frames.cu", "frames_to_float")(_grid(w, h, bsz), _BLOCK,
                                                 (f, out, np.int32(bsz), np.int32(h), np.int32(w)))
    return out


def float_to_frames_cupy(images: Any, out: Any = None) -> Any:
    """float NCHW in [-1, 1] -> uint8 RGB HWC, rounded and clamped, one kernel (definition:
    `frames_numpy`; bit for bit `rtmotion.pipeline.synthesize.to_uint8_image`).

    Args:
        images: CuPy float (B, 3, H, W) or (3, H, W); float32 contiguous input and `out` make the
            call allocation-free (capturable in a CUDA graph).
        out: optional CuPy uint8 (B, H, W, 3) to write into.
    Returns:
        CuPy uint8 (B, H, W, 3) (``out`` when given).
    """
    cupy = import_cupy()
    x = cupy.ascontiguousarray(cupy.asarray(images, dtype=cupy.float32))
    x = x[None] if x.ndim == 3 else x
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"images must be (3, H, W) or (B, 3, H, W), got {images.shape}")
    bsz, _, h, w = (int(v) for v in x.shape)
    shape = (bsz, h, w, 3)
    out = cupy.empty(shape, cupy.uint8) if out is None else _check_out(out, shape, cupy.uint8)
    if bsz:
        _kernel("frames.cu", "float_to_frames")(_grid(w, h, bsz), _BLOCK,
                                                 (x, out, np.int32(bsz), np.int32(h), np.int32(w)))
    return out


@contextlib.contextmanager
def torch_stream(device_index: int, stream_ptr: int) -> Iterator[None]:
    """Make CuPy launch on a stream torch owns (e.g. `torch.cuda.current_stream().cuda_stream`)
    and on its device, for the duration of the block. While torch captures a CUDA graph on that
    stream, the CuPy launches inside the block are captured with it."""
    cupy = import_cupy()
    with cupy.cuda.Device(device_index):
        with warnings.catch_warnings():
            # CuPy 14 deprecates ExternalStream for Stream.from_external; both still work.
            warnings.simplefilter("ignore", DeprecationWarning)
            stream = cupy.cuda.ExternalStream(stream_ptr)
        with stream:
            yield
