"""Pose flow: known answers (zero, translation, one rotated limb) and torch vs numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtmotion.synthetic.figures import figure_keypoints, jittered, rotate_limb
from rtmotion.kernels.flow_numpy import PoseFlowConfig, pose_flow
from rtmotion.kernels.flow_torch import pose_flow_torch
from rtmotion.kernels.maps_numpy import segment_distance2
from rtmotion.pose.skeleton import BODY25

SIZE = (192, 160)
# numpy (float64) vs torch (float32): max abs difference in pixels.
TOL_PX = 1e-3


def _torch(kp_a: np.ndarray, kp_b: np.ndarray, size=SIZE, cfg=None, stride: int = 1) -> np.ndarray:
    return pose_flow_torch(torch.from_numpy(kp_a[None]), torch.from_numpy(kp_b[None]), size, cfg, stride)[0].numpy()


def _dist_to_bones(kp: np.ndarray, bones: list[tuple[str, str]], size) -> np.ndarray:
    w, h = size
    px = np.arange(w, dtype=np.float64)[None, :]
    py = np.arange(h, dtype=np.float64)[:, None]
    d2 = [segment_distance2(px, py, kp[BODY25.index(a), :2], kp[BODY25.index(b), :2]) for a, b in bones]
    return np.sqrt(np.min(d2, axis=0))


def _body_dist(kp: np.ndarray, size) -> np.ndarray:
    names = BODY25.joints
    return _dist_to_bones(kp, [(names[a], names[b]) for a, b in BODY25.bones], size)


@pytest.mark.parametrize("cfg", [PoseFlowConfig(), PoseFlowConfig(transform="similarity", background="torso")])
def test_same_pose_gives_exactly_zero(cfg: PoseFlowConfig) -> None:
    kp = jittered(figure_keypoints(SIZE), np.random.default_rng(0), 2.0)
    kp[BODY25.index("l_knee"), 2] = 0
    f = pose_flow(kp, kp, SIZE, cfg)
    assert f.shape == (SIZE[1], SIZE[0], 2) and f.dtype == np.float32
    assert not f.any()
    assert not _torch(kp, kp, cfg=cfg).any()


def test_pure_translation_gives_a_constant_field() -> None:
    kp_a = figure_keypoints(SIZE)
    move = np.array([3.5, -2.25], np.float32)
    kp_b = kp_a.copy()
    kp_b[:, :2] += move
    expected = -move  # backward flow: B's pixel samples A where the body was
    body = _body_dist(kp_b, SIZE) <= PoseFlowConfig().body_radius_frac * SIZE[1]
    for fn in (pose_flow, lambda a, b, s, c: _torch(a, b, s, c)):
        f = fn(kp_a, kp_b, SIZE, PoseFlowConfig())  # background "zero": constant on the body
        assert np.abs(f[body] - expected).max() < 1e-4
        far = _body_dist(kp_b, SIZE) > 0.3 * SIZE[1]
        assert np.abs(f[far]).max() < 1e-3  # the scene behind does not move
        g = fn(kp_a, kp_b, SIZE, PoseFlowConfig(background="torso"))  # constant everywhere
        assert np.abs(g - expected).max() < 1e-4


def test_one_rotated_limb_moves_only_its_region() -> None:
    kp_a = figure_keypoints(SIZE)
    kp_b = rotate_limb(kp_a, ("r_wrist",), pivot="r_elbow", degrees=40)
    cfg = PoseFlowConfig()
    s = cfg.sigma_frac * SIZE[1]
    f = pose_flow(kp_a, kp_b, SIZE, cfg)
    mag = np.hypot(f[..., 0], f[..., 1])
    # "Its region" in the output frame (pose B): pixels the forearm is the nearest bone of.
    # Elsewhere, i.e. where another bone is clearly nearer (weight ratio < e^-12.5) or outside
    # the body (alpha < e^-12.5), nothing moves.
    names = BODY25.joints
    others = [(names[a], names[b]) for a, b in BODY25.bones if (names[a], names[b]) != ("r_elbow", "r_wrist")]
    d_fore = _dist_to_bones(kp_b, [("r_elbow", "r_wrist")], SIZE)
    d_other = _dist_to_bones(kp_b, others, SIZE)
    r, fall = cfg.body_radius_frac * SIZE[1], cfg.falloff_frac * SIZE[1]
    outside = (d_fore**2 - d_other**2 > 25 * s * s) | (np.minimum(d_fore, d_other) > r + 5 * fall)
    assert outside.mean() > 0.8  # the frame minus the forearm's neighbourhood
    assert mag[outside].max() < 0.05
    assert mag[~outside].max() > 5
    # on the forearm of pose B: the rotation back to pose A
    wb = kp_b[BODY25.index("r_wrist"), :2]
    eb = kp_b[BODY25.index("r_elbow"), :2]
    for t in (0.6, 0.9):
        p = eb + t * (wb - eb)
        xi, yi = int(round(p[0])), int(round(p[1]))
        th = np.deg2rad(-40)
        rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
        ea = kp_a[BODY25.index("r_elbow"), :2]
        want = rot @ (np.array([xi, yi]) - ea) + ea - np.array([xi, yi])
        np.testing.assert_allclose(f[yi, xi], want, atol=0.3)
    assert mag.max() > 5
    np.testing.assert_allclose(_torch(kp_a, kp_b, cfg=cfg), f, atol=TOL_PX)


def test_joints_map_onto_their_previous_positions() -> None:
    """At a (pixel-centred) joint of pose B that only its own bones are near, flow = A - B."""
    size = (256, 256)
    kp_b = figure_keypoints(size)
    kp_b[:, :2] = np.rint(kp_b[:, :2])
    kp_a = jittered(kp_b, np.random.default_rng(3), 3.0)
    f = pose_flow(kp_a, kp_b, size)
    for name in ("r_wrist", "l_wrist", "r_knee", "l_knee", "r_elbow"):
        j = BODY25.index(name)
        x, y = kp_b[j, :2].astype(int)
        np.testing.assert_allclose(f[y, x], kp_a[j, :2] - kp_b[j, :2], atol=0.05, err_msg=name)


@pytest.mark.parametrize("cfg", [PoseFlowConfig(), PoseFlowConfig(transform="similarity", background="torso")])
def test_torch_matches_numpy(cfg: PoseFlowConfig) -> None:
    rng = np.random.default_rng(7)
    base = figure_keypoints(SIZE)
    kp_a = np.stack([jittered(base, rng, 4.0) for _ in range(4)])
    kp_b = np.stack([jittered(k, rng, 5.0) for k in kp_a])
    kp_a[1, BODY25.index("r_elbow"), 2] = 0   # missing in A only
    kp_b[2, BODY25.index("l_ankle"), 2] = 0   # missing in B only
    kp_b[3, :, 2] = 0                         # nobody in B
    kp_b[0, BODY25.index("r_heel"), :2] = kp_b[0, BODY25.index("r_ankle"), :2]  # zero-length bone
    ref = np.stack([pose_flow(a, b, SIZE, cfg) for a, b in zip(kp_a, kp_b)])
    out = pose_flow_torch(torch.from_numpy(kp_a), torch.from_numpy(kp_b), SIZE, cfg).numpy()
    assert out.shape == ref.shape == (4, SIZE[1], SIZE[0], 2)
    assert np.abs(out - ref).max() < TOL_PX
    assert np.abs(ref[0]).max() > 1.0


def test_missing_bones_are_skipped() -> None:
    kp_a = figure_keypoints(SIZE)
    kp_b = rotate_limb(kp_a, ("l_wrist",), "l_elbow", 50)
    kp_b_missing = kp_b.copy()
    kp_b_missing[BODY25.index("l_wrist"), 2] = 0  # the moved forearm is gone in B
    f = pose_flow(kp_a, kp_b_missing, SIZE)
    # without the forearm nothing moves (every remaining bone is where it was)
    assert not f.any()
    # nobody in either pose: the background flow (zero), no NaN
    empty = np.zeros_like(kp_a)
    assert not pose_flow(empty, empty, SIZE).any()
    assert np.isfinite(_torch(empty, kp_a)).all() and not _torch(empty, kp_a).any()


def test_coarse_grid_is_close() -> None:
    rng = np.random.default_rng(2)
    size = (256, 256)
    kp_a = jittered(figure_keypoints(size), rng, 3.0)
    kp_b = jittered(kp_a, rng, 3.0)
    exact = pose_flow(kp_a, kp_b, size)
    for stride, mean_tol, p99_tol in ((2, 0.02, 0.4), (4, 0.06, 1.0)):
        err = np.abs(_torch(kp_a, kp_b, size, None, stride) - exact)
        # small on average; the largest errors sit on the seams between limbs
        assert err.mean() < mean_tol and np.percentile(err, 99) < p99_tol


def test_bad_input_raises() -> None:
    kp = figure_keypoints(SIZE)
    with pytest.raises(ValueError, match="shape"):
        pose_flow(kp, kp[:18], SIZE)
    with pytest.raises(ValueError):
        pose_flow(kp, kp, (0, 10))
    with pytest.raises(ValueError, match="transform"):
        PoseFlowConfig(transform="tps")
    with pytest.raises(ValueError, match="background"):
        PoseFlowConfig(background="mean")
