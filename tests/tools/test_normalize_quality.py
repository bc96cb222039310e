"""tools/normalize_quality.py: its three measures on known answers (the video paths it wraps are
the product's own: convert's pose path and `normalize_sequence`, tested where they live)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from tool_loader import load_tool

from rtmotion.pose.posefile import PoseSequence
from rtmotion.pose.stats import SubjectPoseStats


@pytest.fixture(scope="module")
def nq():
    mod = load_tool("normalize_quality")
    return mod


def _poses(n: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    kp = np.ones((n, 25, 3), np.float32)
    kp[..., :2] = rng.uniform(20, 100, (n, 25, 2))
    return kp


def test_pose_error_is_the_mean_distance_and_a_global_fit_removes_scale_and_shift(nq) -> None:
    truth = _poses()
    shifted = truth.copy()
    shifted[..., 0] += 3.0
    shifted[..., 1] -= 4.0
    raw, fitted = nq.pose_error(shifted, truth)
    assert raw == pytest.approx(5.0) and fitted == pytest.approx(0.0, abs=1e-6)
    scaled = truth.copy()
    scaled[..., :2] = 1.1 * truth[..., :2] + 2.0
    assert nq.pose_error(scaled, truth)[1] == pytest.approx(0.0, abs=1e-5)
    # Joints unseen in either are left out.
    hidden = shifted.copy()
    hidden[:, :5, 2] = 0.0
    hidden[:, :5, :2] = 1e4
    assert nq.pose_error(hidden, truth)[0] == pytest.approx(5.0)


def test_jitter_is_zero_on_uniform_motion_and_the_second_difference_otherwise(nq) -> None:
    kp = np.ones((5, 25, 3), np.float32)
    kp[..., 0] = np.arange(5, dtype=np.float32)[:, None] * 2.0     # constant velocity
    kp[..., 1] = 7.0
    assert nq.jitter(kp) == 0.0
    kp[2, :, 1] += 1.0                                             # one frame up by 1 px
    # second differences in y: frames 1..3 see +1, -2, +1 -> mean |.| over 3 triples = 4/3
    assert nq.jitter(kp) == pytest.approx(4.0 / 3.0)


def test_bone_error_is_the_median_relative_bone_length_error(nq) -> None:
    kp = _poses(10, seed=1)
    seq = PoseSequence(kp, "body25", Fraction(30), (128, 128), np.arange(10) / 30)
    target = SubjectPoseStats.from_sequence(seq)
    assert nq.bone_error(seq, target) == pytest.approx(0.0)
    bigger = seq.with_keypoints(np.concatenate([kp[..., :2] * 1.2, kp[..., 2:]], axis=-1))
    assert nq.bone_error(bigger, target) == pytest.approx(0.2, rel=1e-5)
