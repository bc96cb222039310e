"""The crop that follows the person (`rtmotion.subject.follow`)."""

from __future__ import annotations

import numpy as np
import pytest

from rtmotion.subject.crop import CropBox, compute_crop_box
from rtmotion.subject.follow import FollowCrop, compute_follow_crop, fixed_to_follow, origin_model
from rtmotion.synthetic import motion_angles, render_sequence


@pytest.fixture(scope="module")
def walking() -> tuple[np.ndarray, tuple[int, int]]:
    """A dancer's poses (T, K, 3) in a wide 320x160 frame, moved across it over time."""
    _, seq = render_sequence("ada", angles=motion_angles("dance", 2.0, 15, seed=1), size=(160, 160))
    kp = seq.keypoints.copy()
    vis = kp[..., 2] > 0
    kp[..., 0] = np.where(vis, kp[..., 0] + np.linspace(0, 160, len(kp))[:, None], 0)
    return kp, (320, 160)


def test_follow_box_is_smaller_than_the_fixed_crop_and_holds_every_joint(walking) -> None:
    kp, size = walking
    fixed = compute_crop_box(kp, size)
    follow = compute_follow_crop(kp, fixed, percentile=0.0)
    assert follow is not None and follow.frame_size == size
    assert follow.size[0] == follow.size[1] < 0.9 * fixed.width     # square model, aspect 1
    for box, k in zip(follow.boxes(kp), kp):
        v = k[:, 2] > 0
        assert (box.width, box.height) == follow.size
        assert (k[v, 0] >= box.x0).all() and (k[v, 0] < box.x1).all()
        assert (k[v, 1] >= box.y0).all() and (k[v, 1] < box.y1).all()


def test_a_person_who_fills_the_fixed_crop_keeps_it(walking) -> None:
    kp, _ = walking
    still = kp[:1].repeat(10, axis=0)
    wide = compute_crop_box(still, (160, 160))              # margins of 12 % of the person
    assert compute_follow_crop(still, wide).size[1] < wide.height   # tighter margins: smaller
    tight = CropBox(wide.x0 + 12, wide.y0 + 12, wide.x1 - 12, wide.y1 - 12, (160, 160))
    assert compute_follow_crop(still, tight) is None


def test_a_frame_without_a_person_keeps_the_last_box() -> None:
    follow = FollowCrop((40, 40), (200, 100))
    kp = np.zeros((3, 25, 3), np.float32)
    kp[1, :2] = [[150, 50, 1], [152, 60, 1]]
    boxes = follow.boxes(kp)
    assert (boxes[0].x0, boxes[0].y0) == (80, 30)                  # none yet: the frame's centre
    assert boxes[2] == boxes[1] and boxes[1].x0 == 131 and boxes[1].width == 40


def test_keypoints_and_origins_between_boxes() -> None:
    fixed = CropBox(-20, -20, 220, 220, (200, 200))
    box = CropBox(50, 30, 170, 150, (200, 200))
    kp = np.array([[[64.0, 64.0, 1.0], [0.0, 0.0, 0.0]]], np.float32)   # fixed-crop model px
    cam = fixed.keypoints_from_crop(kp, (128, 128))
    out = fixed_to_follow(kp, fixed, box, (128, 128))
    np.testing.assert_allclose(out, box.keypoints_to_crop(cam, (128, 128)), atol=1e-5)
    assert out[0, 1].tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(origin_model(box, (128, 128)), [50 * 128 / 120, 30 * 128 / 120],
                               rtol=1e-6)
    assert FollowCrop.from_dict(FollowCrop((96, 120), (200, 200)).to_dict()) == \
        FollowCrop((96, 120), (200, 200))
