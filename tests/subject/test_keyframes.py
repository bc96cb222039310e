"""Keyframes of the appearance reference: coverage sampling, nearest lookup, the training
exclusion rule, and the bundle file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rtmotion.errors import CheckpointError
from rtmotion.pose.skeleton import BODY25
from rtmotion.subject.keyframes import (
    KeyframeSet,
    keyframes_from_video,
    pose_descriptors,
    pose_distances,
    select_keyframes,
)
from rtmotion.synthetic import motion_angles, render_sequence


@pytest.fixture(scope="module")
def dance() -> tuple[np.ndarray, np.ndarray]:
    """(frames (T, 48, 48, 3) uint8, keypoints (T, K, 3)) of the synthetic dancer."""
    frames, seq = render_sequence("ada", angles=motion_angles("dance", 3.0, 30, seed=1), size=(48, 48))
    return np.stack(list(frames)), seq.keypoints.astype(np.float32)


def test_descriptor_ignores_where_and_how_big(dance) -> None:
    _, kps = dance
    kp = kps[10]
    moved = kp.copy()
    moved[:, :2] = moved[:, :2] * 2.0 + np.array([30.0, -7.0])  # scaled and shifted
    rel_a, pos_a, vis_a = pose_descriptors(kp)
    rel_b, pos_b, vis_b = pose_descriptors(moved)
    np.testing.assert_allclose(rel_a, rel_b, atol=1e-5)
    assert (vis_a == vis_b).all()
    # The articulation part of the distance is 0; only the mid-hip position term remains.
    d = pose_distances(kp, moved[None])[0]
    assert d == pytest.approx(0.25 * np.linalg.norm(pos_b - pos_a), rel=1e-6)
    assert pose_distances(kp, kp[None])[0] == 0.0


def test_farthest_point_sampling_covers_distinct_poses() -> None:
    # Two poses, A repeated 40 times and B 3 times: two keyframes must be one of each.
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.uniform(10, 40, (BODY25.num_joints, 2)), np.ones((BODY25.num_joints, 1))], 1)
    b = a.copy()
    b[BODY25.index("r_wrist"), :2] += 15.0
    b[BODY25.index("l_wrist"), :2] -= 15.0
    kps = np.stack([a] * 40 + [b] * 3).astype(np.float32)
    idx = select_keyframes(kps, np.arange(43), 2)
    assert sorted(idx >= 40) == [False, True]
    # Asking for more than the distinct poses stops once every candidate repeats a chosen one.
    assert len(select_keyframes(kps, np.arange(43), 10)) == 2
    # Only candidates are ever chosen (the held-out block is not one).
    assert set(select_keyframes(kps, np.arange(0, 20), 5).tolist()) <= set(range(20))


def test_nearest_and_the_training_exclusion_rule(dance) -> None:
    frames, kps = dance
    kf = keyframes_from_video(frames, kps, np.arange(len(kps)), 12)
    assert len(kf) == 12 and kf.size == (48, 48)
    assert (np.diff(kf.frames) > 0).all()
    for i, t in enumerate(kf.frames):
        np.testing.assert_array_equal(kf.images[i], frames[t])   # the frame itself, not a copy of another
        assert kf.nearest(kps[t]) == i                           # its own pose is nearest
        j = kf.nearest(kps[t], exclude_near=5, frame=int(t))     # but never for its own frame
        assert j != i and abs(int(kf.frames[j]) - int(t)) > 5
        d = pose_distances(kps[t], kf.keypoints)
        allowed = np.abs(kf.frames - t) > 5
        assert d[j] == d[allowed].min()


def test_save_load_round_trip_and_damage(dance, tmp_path: Path) -> None:
    frames, kps = dance
    kf = keyframes_from_video(frames, kps, np.arange(len(kps)), 4)
    path = kf.save(tmp_path / "keyframes.npz")
    back = KeyframeSet.load(path)
    np.testing.assert_array_equal(back.images, kf.images)
    np.testing.assert_array_equal(back.keypoints, kf.keypoints)
    np.testing.assert_array_equal(back.frames, kf.frames)
    path.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="damaged keyframes"):
        KeyframeSet.load(path)
    with pytest.raises(ValueError, match="inconsistent"):
        KeyframeSet(kf.images, kf.keypoints[:2], kf.frames)


def test_without_near_applies_trainings_rule_to_whole_blocks() -> None:
    """Keyframes within `near` frames of any frame of a block go (both ends inclusive, as
    `nearest`'s rule); none left is None, none near the same set."""
    n = 10
    images = np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 3), np.uint8)
    kps = np.ones((n, 25, 3), np.float32)
    frames = np.arange(0, 100, 10)                                   # 0, 10, ..., 90
    ks = KeyframeSet(images, kps, frames, np.arange(2 * n, dtype=np.float32).reshape(n, 2))
    kept = ks.without_near([(25, 35), (60, 61)], near=5)             # 20..39 and 55..65 go
    assert kept.frames.tolist() == [0, 10, 40, 50, 70, 80, 90]
    assert kept.images[:, 0, 0, 0].tolist() == [0, 1, 4, 5, 7, 8, 9]
    assert kept.origins[:, 0].tolist() == [0, 2, 8, 10, 14, 16, 18]
    assert ks.without_near([(40, 41)], near=0) is not ks             # 40 itself goes
    assert ks.without_near([(41, 49)], near=0) is ks                 # nothing that near
    assert ks.without_near([(0, 100)], near=0) is None
