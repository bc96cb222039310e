"""CuPy kernels against the numpy oracles (needs CuPy and a CUDA GPU; skipped elsewhere)."""

from __future__ import annotations

import numpy as np
import pytest

from rtmotion.kernels.cupy_kernels import cupy_available
from rtmotion.kernels.flow_numpy import PoseFlowConfig, pose_flow
from rtmotion.kernels.maps_numpy import PoseMapConfig, pose_maps_numpy
from rtmotion.kernels.warp_numpy import warp_numpy
from rtmotion.pose.skeleton import BODY25
from rtmotion.synthetic.figures import figure_keypoints, jittered

pytestmark = [
    pytest.mark.cupy,
    pytest.mark.gpu,
    pytest.mark.skipif(not cupy_available(), reason="needs CuPy (pip install 'rtmotion[gpu-cuda12]' or '[gpu-cuda13]') and a CUDA GPU"),
]


def _poses(size, n=4, seed=0):
    rng = np.random.default_rng(seed)
    kp = np.stack([jittered(figure_keypoints(size), rng, 4.0) for _ in range(n)])
    kp[1, BODY25.index("l_elbow"), 2] = 0
    kp[2, :, 2] = 0
    return kp


@pytest.mark.parametrize("size", [(256, 256), (200, 120)])
def test_render_maps_cupy_matches_numpy(size) -> None:
    from rtmotion.kernels.cupy_kernels import pose_maps_cupy

    cfg = PoseMapConfig(size=size, hands=True)
    kp = _poses(size)
    ref = np.stack([pose_maps_numpy(k, cfg) for k in kp])
    out = pose_maps_cupy(kp, cfg).get()
    assert out.shape == ref.shape and np.abs(out - ref).max() < 1e-5


@pytest.mark.parametrize("cfg", [PoseFlowConfig(), PoseFlowConfig(transform="similarity", background="torso")])
def test_pose_flow_cupy_matches_numpy(cfg) -> None:
    from rtmotion.kernels.cupy_kernels import pose_flow_cupy

    size = (192, 160)
    a = _poses(size, seed=1)
    b = np.stack([jittered(k, np.random.default_rng(5), 4.0) for k in a])
    ref = np.stack([pose_flow(x, y, size, cfg) for x, y in zip(a, b)])
    out = pose_flow_cupy(a, b, size, cfg).get()
    assert np.abs(out - ref).max() < 1e-3
    same = pose_flow_cupy(a[:1], a[:1], size, cfg).get()
    assert not same.any()


def test_warp_cupy_matches_numpy() -> None:
    import cupy

    from rtmotion.kernels.cupy_kernels import warp_cupy

    rng = np.random.default_rng(2)
    img = rng.random((2, 3, 37, 53)).astype(np.float32)
    flow = rng.normal(0, 6, (2, 37, 53, 2)).astype(np.float32)
    ref = np.stack([warp_numpy(i.transpose(1, 2, 0), f).transpose(2, 0, 1) for i, f in zip(img, flow)])
    out = warp_cupy(cupy.asarray(img), cupy.asarray(flow)).get()
    assert np.abs(out - ref).max() < 1e-5


def test_torch_cuda_tensors_through_the_cupy_kernels() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA here")
    from rtmotion.kernels import pose_flow_batch, pose_maps_batch, warp_batch

    size = (128, 128)
    kp = _poses(size)
    cfg = PoseMapConfig(size=size)
    maps = pose_maps_batch(torch.from_numpy(kp).cuda(), cfg, kernels="cupy")
    assert maps.is_cuda and maps.shape == (4, 25, 128, 128)
    ref = np.stack([pose_maps_numpy(k, cfg) for k in kp])
    assert np.abs(maps.cpu().numpy() - ref).max() < 1e-5
    flow = pose_flow_batch(torch.from_numpy(kp[:2]).cuda(), torch.from_numpy(kp[2:]).cuda(), size, kernels="cupy")
    img = torch.rand(2, 3, 128, 128, device="cuda")
    w1 = warp_batch(img, flow, kernels="cupy")
    w2 = warp_batch(img, flow, kernels="torch")
    assert w1.is_cuda and (w1 - w2).abs().max().item() < 1e-4
