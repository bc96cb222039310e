"""The kernels dispatcher: results in the input's type, explicit kernels agree, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtmotion.errors import MissingDependencyError
from rtmotion.kernels import (
    PoseFlowConfig,
    PoseMapConfig,
    available_kernels,
    kernels_for,
    pose_flow_batch,
    pose_maps_batch,
    warp_batch,
)
from rtmotion.kernels.cupy_kernels import cupy_available
from rtmotion.synthetic.figures import figure_keypoints, jittered


def _poses(n: int, size) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.stack([jittered(figure_keypoints(size), rng, 3.0) for _ in range(n)])


def test_auto_follows_the_input_type() -> None:
    size = (96, 80)
    cfg = PoseMapConfig(size=size)
    kp = _poses(2, size)
    a = pose_maps_batch(kp, cfg)
    b = pose_maps_batch(torch.from_numpy(kp), cfg)
    c = pose_maps_batch(kp, cfg, kernels="torch")
    assert isinstance(a, np.ndarray) and isinstance(b, torch.Tensor) and isinstance(c, np.ndarray)
    assert a.shape == (2, 25, 80, 96)
    assert np.abs(a - b.numpy()).max() < 1e-5 and np.abs(a - c).max() < 1e-5
    assert kernels_for(kp) == "numpy" and kernels_for(torch.zeros(1)) == "torch"
    with pytest.raises(ValueError, match="unknown kernels"):
        kernels_for(kp, "opencl")


def test_flow_and_warp_dispatch() -> None:
    size = (64, 48)
    kp = _poses(3, size)
    fa = pose_flow_batch(kp[:2], kp[1:], size, PoseFlowConfig())
    fb = pose_flow_batch(kp[:2], kp[1:], size, PoseFlowConfig(), kernels="torch")
    assert fa.shape == (2, 48, 64, 2) and np.abs(fa - fb).max() < 1e-3
    img = np.random.default_rng(1).random((2, 3, 48, 64)).astype(np.float32)
    wa = warp_batch(img, fa)
    wb = warp_batch(torch.from_numpy(img), torch.from_numpy(fa))
    assert isinstance(wb, torch.Tensor) and np.abs(wa - wb.numpy()).max() < 1e-5
    # empty batches are fine
    assert pose_maps_batch(np.zeros((0, 25, 3), np.float32), PoseMapConfig(size=size)).shape == (0, 25, 48, 64)


@pytest.mark.skipif(cupy_available(), reason="CuPy with a CUDA GPU is present: nothing is missing")
def test_cupy_kernels_without_cupy_is_a_clear_error() -> None:
    assert "cupy" not in available_kernels()
    if not _cupy_importable():
        with pytest.raises(MissingDependencyError, match=r"rtmotion\[gpu-cuda12\]. or .rtmotion\[gpu-cuda13\]"):
            pose_maps_batch(_poses(1, (32, 32)), PoseMapConfig(size=(32, 32)), kernels="cupy")
        return
    # CuPy imports but has no working GPU: CuPy's own error (no device, no NVRTC), not a bug of ours
    with pytest.raises(Exception) as ei:  # noqa: PT011 - CuPy's error classes differ by version
        pose_maps_batch(_poses(1, (32, 32)), PoseMapConfig(size=(32, 32)), kernels="cupy")
    assert type(ei.value).__module__.split(".")[0] in ("cupy", "cupy_backends"), repr(ei.value)


def _cupy_importable() -> bool:
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False
    return True


def test_kernels_package_imports_no_torch() -> None:
    """`import rtmotion.kernels` stays light: torch and CuPy load on first use of their names."""
    import subprocess
    import sys

    code = ("import sys, rtmotion.kernels, rtmotion.kernels.maps_numpy; "
            "print('torch' in sys.modules, 'cupy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
