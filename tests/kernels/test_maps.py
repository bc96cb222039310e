"""Conditioning maps: the numpy reference (definition checks) and the torch version against it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtmotion.synthetic.figures import figure_keypoints, jittered
from rtmotion.kernels.maps_torch import pose_maps_torch
from rtmotion.kernels.maps_numpy import PoseMapConfig, pose_maps_numpy
from rtmotion.pose.skeleton import BODY25, BODY25_BONES

# numpy (float64) vs torch (float32): the maps agree to float32 rounding.
TOL = 1e-5


def _segment_pose(a: tuple[float, float], b: tuple[float, float], bone: int = 0) -> np.ndarray:
    """A pose with only bone `bone`'s two joints present, at a and b."""
    kp = np.zeros((25, 3), np.float32)
    i, j = BODY25.bones[bone]
    kp[i] = (*a, 1.0)
    kp[j] = (*b, 1.0)
    return kp


def test_shape_dtype_range_and_channels() -> None:
    cfg = PoseMapConfig(size=(96, 64))
    maps = pose_maps_numpy(figure_keypoints(cfg.size), cfg)
    assert maps.shape == (25, 64, 96) and maps.dtype == np.float32
    assert cfg.num_channels == 25 == len(BODY25_BONES) + 1
    assert cfg.channel_names[0] == "neck-mid_hip" and cfg.channel_names[-1] == "face"
    assert 0.0 <= maps.min() and maps.max() <= 1.0
    # every bone of a complete figure is drawn, and reaches ~1 on its segment
    assert (maps.reshape(25, -1).max(axis=1) > 0.5).all()  # sigma is 0.8 px here
    assert PoseMapConfig(size=(8, 8), face=False, hands=True).num_channels == 25
    assert PoseMapConfig(size=(8, 8), face=False).num_channels == 24


def test_values_follow_the_closed_form() -> None:
    """A horizontal bone from (10, 20) to (40, 20): value exp(-d^2/2s^2) of the segment distance."""
    cfg = PoseMapConfig(size=(64, 200), face=False)
    s = cfg.sigma
    maps = pose_maps_numpy(_segment_pose((10, 20), (40, 20)), cfg)
    ch = maps[0]
    assert ch[20, 10] == pytest.approx(1.0) and ch[20, 25] == pytest.approx(1.0)
    assert ch[22, 25] == pytest.approx(np.exp(-4 / (2 * s * s)), rel=1e-5)       # 2 px across
    assert ch[20, 43] == pytest.approx(np.exp(-9 / (2 * s * s)), rel=1e-5)       # 3 px beyond the end
    assert ch[23, 6] == pytest.approx(np.exp(-25 / (2 * s * s)), rel=1e-5)       # 3-4-5 from the end point
    # beyond the cutoff (5 sigma) exactly zero
    far = int(np.ceil(cfg.cutoff * s)) + 1
    assert ch[20 + far, 25] == 0.0 and ch[20 + far - 2, 25] > 0.0
    # every other bone channel is empty
    assert not maps[1:].any()


def test_missing_joints_are_not_drawn() -> None:
    cfg = PoseMapConfig(size=(128, 128))
    kp = figure_keypoints(cfg.size)
    full = pose_maps_numpy(kp, cfg)
    elbow = BODY25.index("r_elbow")
    kp_missing = kp.copy()
    kp_missing[elbow, 2] = 0.0  # coordinates kept: only confidence says "missing"
    part = pose_maps_numpy(kp_missing, cfg)
    touching = [c for c, (a, b) in enumerate(BODY25.bones) if elbow in (a, b)]
    assert len(touching) == 2
    for c in range(cfg.num_channels):
        if c in touching:
            assert not part[c].any()
        else:
            np.testing.assert_array_equal(part[c], full[c])
    # min_confidence raises the bar
    low = kp.copy()
    low[elbow, 2] = 0.2
    cfg_hi = PoseMapConfig(size=(128, 128), min_confidence=0.3)
    assert not pose_maps_numpy(low, cfg_hi)[touching].any()
    # no person at all: all zeros
    assert not pose_maps_numpy(np.zeros((25, 3), np.float32), cfg).any()


def test_face_and_hands_channels() -> None:
    cfg = PoseMapConfig(size=(128, 128), hands=True)
    kp = figure_keypoints(cfg.size)
    maps = pose_maps_numpy(kp, cfg)
    face, hands = maps[-2], maps[-1]
    for name in ("nose", "r_eye", "l_eye", "r_ear", "l_ear"):
        x, y = np.rint(kp[BODY25.index(name), :2]).astype(int)
        assert face[y, x] > 0.5
    # the face channel stays around the head; its points are narrower than the bones
    ys, _ = np.nonzero(face)
    assert ys.max() < kp[BODY25.index("neck"), 1]
    # hands: continue the forearm beyond the wrist, not before the elbow
    e, w = kp[BODY25.index("r_elbow"), :2], kp[BODY25.index("r_wrist"), :2]
    tip = w + cfg.hand_length_frac * (w - e)
    assert hands[int(round(tip[1])), int(round(tip[0]))] > 0.9
    mid_forearm = (e + w) / 2
    assert hands[int(round(mid_forearm[1])), int(round(mid_forearm[0]))] < 0.01
    # a missing elbow removes that hand only
    kp2 = kp.copy()
    kp2[BODY25.index("r_elbow"), 2] = 0
    hands2 = pose_maps_numpy(kp2, cfg)[-1]
    assert hands2[int(round(tip[1])), int(round(tip[0]))] < 0.01 and hands2.max() > 0.9


def test_subpixel_shift_moves_the_map_smoothly() -> None:
    """Exact function of the keypoints: an integer shift shifts the map exactly."""
    cfg = PoseMapConfig(size=(128, 128))
    kp = figure_keypoints(cfg.size, height_frac=0.6)
    a = pose_maps_numpy(kp, cfg)
    kp2 = kp.copy()
    kp2[:, 0] += 5
    b = pose_maps_numpy(kp2, cfg)
    np.testing.assert_allclose(b[:, :, 5:], a[:, :, :-5], atol=1e-6)


def test_bad_input_raises() -> None:
    cfg = PoseMapConfig(size=(32, 32))
    with pytest.raises(ValueError, match="K=25"):
        pose_maps_numpy(np.zeros((18, 3)), cfg)
    with pytest.raises(ValueError):
        PoseMapConfig(size=(0, 32))
    with pytest.raises(ValueError):
        PoseMapConfig(sigma_frac=0)
    with pytest.raises(KeyError):
        PoseMapConfig(skeleton="coco99")


@pytest.mark.parametrize("size", [(256, 256), (160, 96)])
def test_torch_matches_numpy(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    cfg = PoseMapConfig(size=size, hands=True)
    kps = np.stack([jittered(figure_keypoints(size), rng, 4.0) for _ in range(4)])
    kps[1, BODY25.index("l_elbow"), 2] = 0          # missing joints
    kps[2, BODY25.index("nose")] = 0
    kps[3, :, 2] = 0                                 # no person
    kps[0, BODY25.index("r_wrist"), :2] = (-30, 40)  # a joint outside the frame
    ref = np.stack([pose_maps_numpy(k, cfg) for k in kps])
    for windows in (True, False):
        out = pose_maps_torch(torch.from_numpy(kps), cfg, windows=windows)
        assert out.shape == (4, cfg.num_channels, size[1], size[0]) and out.dtype == torch.float32
        assert np.abs(out.numpy() - ref).max() < TOL
    assert not ref[3].any()


def test_torch_degenerate_and_large_segments() -> None:
    """Zero-length bones (a point) and bones longer than the map (full-grid fallback)."""
    cfg = PoseMapConfig(size=(64, 64), face=False)
    kp = _segment_pose((20, 20), (20, 20))
    kp2 = _segment_pose((-50, -10), (120, 80), bone=3)
    kps = np.stack([kp, kp2])
    ref = np.stack([pose_maps_numpy(k, cfg) for k in kps])
    out = pose_maps_torch(torch.from_numpy(kps), cfg).numpy()
    assert np.abs(out - ref).max() < TOL
    assert ref[0, 0, 20, 20] == pytest.approx(1.0) and ref[1, 3].max() > 0.99
