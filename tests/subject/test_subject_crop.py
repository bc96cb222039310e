"""The fixed per-video crop box: covers the person in every frame, one box for all frames."""

from __future__ import annotations

import numpy as np
import pytest

from rtmotion.errors import InputError
from rtmotion.subject.crop import CropBox, compute_crop_box, usable_frames


def _walk(t: int = 40, k: int = 25) -> np.ndarray:
    """A stick person (height 100 px) walking right across a 400x300 frame, one joint missing."""
    rng = np.random.default_rng(0)
    kp = np.zeros((t, k, 3), np.float32)
    base_y = np.linspace(100, 200, k)
    for i in range(t):
        kp[i, :, 0] = 80 + i * 5 + rng.uniform(-15, 15, k)
        kp[i, :, 1] = base_y + rng.uniform(-3, 3, k)
        kp[i, :, 2] = 0.9
    kp[:, 3] = 0  # a never-seen joint must not pull the box to (0, 0)
    return kp


def test_box_covers_every_frame_with_margin_and_aspect() -> None:
    kp = _walk()
    box = compute_crop_box(kp, (400, 300), aspect=1.0, margin=0.1, percentile=0.0)
    vis = kp[..., 2] > 0
    xs, ys = kp[..., 0][vis], kp[..., 1][vis]
    assert box.width == box.height  # square, the model's aspect
    h = ys.max() - ys.min()
    # Every visible joint of every frame inside, with at least the margin on each side.
    assert box.x0 <= xs.min() - 0.1 * 0.99 * (xs.max() - xs.min()) or box.x0 == 0
    assert box.x1 >= xs.max() and box.y1 >= ys.max() + 0.1 * h * 0.99
    assert box.y0 <= ys.min() - 0.15 * h * 0.99
    assert 0 <= box.x0 and box.x1 <= 400 and 0 <= box.y0 and box.y1 <= 300  # fits: no padding


def test_box_aspect_and_padding_when_larger_than_frame() -> None:
    kp = _walk()
    box = compute_crop_box(kp, (400, 300), aspect=0.5, margin=0.1)  # portrait model
    assert abs(box.width / box.height - 0.5) < 0.02
    assert box.height > 300 and box.y0 < 0 and box.y1 > 300  # taller than the frame: padded
    img = np.full((300, 400, 3), 77, np.uint8)
    out = box.crop_image(img, (64, 128))
    assert out.shape == (128, 64, 3) and out.dtype == np.uint8
    assert (out == 77).all()  # edge replication, no black border


def test_keypoints_follow_the_image() -> None:
    """A bright pixel at a keypoint lands where keypoints_to_crop puts the keypoint."""
    box = CropBox(50, 20, 250, 220, (320, 240))
    img = np.zeros((240, 320, 3), np.uint8)
    img[120, 170] = 255  # x=170, y=120
    out = box.crop_image(img, (100, 100)).astype(np.float64)[..., 0]
    cy, cx = np.unravel_index(np.argmax(out), out.shape)
    kp = box.keypoints_to_crop(np.array([[[170, 120, 1.0], [0, 0, 0]]], np.float32), (100, 100))
    assert abs(kp[0, 0, 0] - cx) <= 0.5 and abs(kp[0, 0, 1] - cy) <= 0.5
    assert (kp[0, 1] == 0).all()  # missing stays missing
    back = box.keypoints_from_crop(kp, (100, 100))
    np.testing.assert_allclose(back[0, 0], [170, 120, 1.0], atol=1e-4)


def test_robust_to_one_spurious_detection() -> None:
    kp = _walk(t=200)
    clean = compute_crop_box(kp, (400, 300), margin=0.1)
    kp[17, 5, :2] = (395, 5)  # one wild joint in one frame
    noisy = compute_crop_box(kp, (400, 300), margin=0.1)
    assert abs(noisy.y0 - clean.y0) <= 3 and abs(noisy.x1 - clean.x1) <= 3


def test_no_person_is_an_error_and_usable_frames() -> None:
    kp = np.zeros((10, 25, 3), np.float32)
    with pytest.raises(InputError, match="no frame has a visible person"):
        compute_crop_box(kp, (100, 100))
    kp[2, :9, 2] = 1
    kp[3, :7, 2] = 1
    assert usable_frames(kp, 8).tolist() == [i == 2 for i in range(10)]


def test_dict_roundtrip() -> None:
    box = CropBox(-3, 4, 100, 107, (90, 120))
    assert CropBox.from_dict(box.to_dict()) == box
