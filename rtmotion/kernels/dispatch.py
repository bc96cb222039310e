"""Pick the kernels (the implementation of maps, flow and warp): numpy (reference), torch (any
device) or cupy (CUDA). "Kernels" everywhere here; "backend" names the generator's runtime.

``kernels="auto"`` follows the input's array type, so a caller keeps its data where it is:
a CuPy array -> cupy; a torch tensor -> torch on its device; a numpy array -> numpy.
An explicit choice converts the input and returns the result in the input's type and place
(numpy in -> numpy out; a CUDA torch tensor given to "cupy" goes through DLPack without a copy
and comes back as a CUDA torch tensor, computed on torch's current stream).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from rtmotion.kernels.cupy_kernels import (
    cupy_available,
    import_cupy,
    pose_flow_cupy,
    pose_maps_cupy,
    warp_cupy,
)
from rtmotion.kernels.flow_numpy import PoseFlowConfig, pose_flow
from rtmotion.kernels.maps_numpy import PoseMapConfig, pose_maps_numpy
from rtmotion.kernels.warp_numpy import warp_numpy

# torch and the torch kernels are imported inside the functions that use them, on purpose: this
# module is the face of `rtmotion.kernels`, which numpy-only users import without loading torch
# (tests/kernels/test_dispatch.py keeps that true). CuPy itself loads on a CuPy kernel's first call.

KERNELS = ("numpy", "torch", "cupy")


def _kind(x: Any) -> str:
    mod = type(x).__module__ or ""
    if mod.startswith("cupy"):
        return "cupy"
    if mod.startswith("torch"):
        return "torch"
    return "numpy"


def available_kernels() -> tuple[str, ...]:
    """The kernels that work here (cupy only with a CUDA device)."""
    out = ["numpy"]
    try:
        import torch  # noqa: F401

        out.append("torch")
    except ImportError:
        pass
    if cupy_available():
        out.append("cupy")
    return tuple(out)


def kernels_for(x: Any, kernels: str = "auto") -> str:
    """The kernels `kernels` means for input `x` (ValueError for an unknown name)."""
    if kernels == "auto":
        return _kind(x)
    if kernels not in KERNELS:
        raise ValueError(f"unknown kernels {kernels!r} (choose auto, {', '.join(KERNELS)})")
    return kernels


def _to_numpy(x: Any) -> np.ndarray:
    k = _kind(x)
    if k == "torch":
        return x.detach().cpu().numpy()
    if k == "cupy":
        return x.get()
    return np.asarray(x)


def _to_torch(x: Any, device: Any = None) -> Any:
    import torch

    k = _kind(x)
    if k == "torch":
        return x if device is None else x.to(device)
    if k == "cupy":
        return torch.from_dlpack(x)
    return torch.from_numpy(np.ascontiguousarray(x)).to(device or "cpu")


def _to_cupy(x: Any) -> Any:
    cupy = import_cupy()
    k = _kind(x)
    if k == "cupy":
        return x
    if k == "torch":
        if x.is_cuda:
            return cupy.from_dlpack(x.detach().contiguous())
        return cupy.asarray(x.detach().numpy())
    return cupy.asarray(x)


def _like(result: Any, ref: Any) -> Any:
    """`result` (any kernels') in the array type and device of `ref`."""
    k = _kind(ref)
    if k == "numpy":
        return _to_numpy(result)
    if k == "cupy":
        return _to_cupy(result)
    return _to_torch(result, ref.device)


def _run_cupy(fn, ref: Any, *args: Any) -> Any:
    """Run a CuPy function; with CUDA torch input, on torch's current stream."""
    if _kind(ref) == "torch" and ref.is_cuda:
        import torch

        cupy = import_cupy()
        ptr = torch.cuda.current_stream(ref.device).cuda_stream
        with cupy.cuda.Device(ref.device.index):  # a tensor's device has its index
            with warnings.catch_warnings():
                # CuPy 14 deprecates ExternalStream for Stream.from_external; it still works
                # (checked on CuPy 14.2 + torch 2.11 CUDA) and older CuPy has only this one.
                warnings.simplefilter("ignore", DeprecationWarning)
                stream = cupy.cuda.ExternalStream(ptr)
            with stream:
                return fn(*args)
    return fn(*args)


def pose_maps_batch(keypoints: Any, cfg: PoseMapConfig, kernels: str = "auto") -> Any:
    """Conditioning maps of a batch: keypoints (B, K, 3) -> float32 (B, C, H, W), input's type."""
    be = kernels_for(keypoints, kernels)
    if be == "numpy":
        kp = _to_numpy(keypoints)
        out = np.stack([pose_maps_numpy(k, cfg) for k in kp]) if len(kp) else \
            np.zeros((0, cfg.num_channels, cfg.height, cfg.width), np.float32)
    elif be == "torch":
        from rtmotion.kernels.maps_torch import pose_maps_torch

        out = pose_maps_torch(_to_torch(keypoints), cfg)
    else:
        out = _run_cupy(pose_maps_cupy, keypoints, _to_numpy(keypoints), cfg)
    return _like(out, keypoints)


def pose_flow_batch(kp_a: Any, kp_b: Any, size: tuple[int, int], cfg: PoseFlowConfig | None = None,
                    kernels: str = "auto") -> Any:
    """Backward pose flow of a batch: (B, K, 3) x 2 -> float32 (B, H, W, 2), kp_a's type."""
    be = kernels_for(kp_a, kernels)
    if be == "numpy":
        a, b = _to_numpy(kp_a), _to_numpy(kp_b)
        out = np.stack([pose_flow(x, y, size, cfg) for x, y in zip(a, b)]) if len(a) else \
            np.zeros((0, int(size[1]), int(size[0]), 2), np.float32)
    elif be == "torch":
        from rtmotion.kernels.flow_torch import pose_flow_torch

        ta = _to_torch(kp_a)
        out = pose_flow_torch(ta, _to_torch(kp_b, ta.device), size, cfg)
    else:
        out = _run_cupy(pose_flow_cupy, kp_a, _to_numpy(kp_a), _to_numpy(kp_b), size, cfg)
    return _like(out, kp_a)


def warp_batch(images: Any, flow: Any, kernels: str = "auto") -> Any:
    """Backward warp of a batch: images float (B, C, H, W), flow (B, H, W, 2) -> (B, C, H, W)."""
    be = kernels_for(images, kernels)
    if be == "numpy":
        im, fl = _to_numpy(images), _to_numpy(flow)
        if im.ndim != 4:
            raise ValueError(f"images must be (B, C, H, W), got {im.shape}")
        out = np.stack([warp_numpy(i.transpose(1, 2, 0), f).transpose(2, 0, 1) for i, f in zip(im, fl)]) \
            if len(im) else im.astype(np.float32)
    elif be == "torch":
        from rtmotion.kernels.warp_torch import warp_torch

        ti = _to_torch(images)
        out = warp_torch(ti, _to_torch(flow, ti.device))
    else:
        out = _run_cupy(warp_cupy, images, _to_cupy(images), _to_cupy(flow))
    return _like(out, images)
