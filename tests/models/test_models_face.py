"""Face enhancer and the face box / crop / paste helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtmotion.models.config import FaceConfig
from rtmotion.models.face import FaceEnhancer, add_face_residual, crop_resize
from rtmotion.pose.boxes import face_crop_box as face_box
from rtmotion.pose.boxes import head_size
from rtmotion.pose.skeleton import BODY25_JOINTS


def _kp(**joints: tuple[float, float]) -> np.ndarray:
    kp = np.zeros((25, 3), np.float32)
    for name, (x, y) in joints.items():
        kp[BODY25_JOINTS.index(name)] = (x, y, 1.0)
    return kp


FRONT = _kp(nose=(100, 60), r_eye=(95, 55), l_eye=(105, 55), r_ear=(88, 58), l_ear=(112, 58),
            neck=(100, 90))


def test_head_size_uses_the_largest_cue() -> None:
    # ears 24 px, eyes 10 * 2.5 = 25 px, nose-neck 30 * 0.8 = 24 px
    assert head_size(FRONT) == pytest.approx(25.0)
    assert head_size(_kp(neck=(0, 0))) is None


def test_face_box_is_square_centred_and_scaled() -> None:
    box = face_box(FRONT, (200, 200), crop_size=64, scale=2.0)
    assert box is not None
    x0, y0, x1, y1 = box
    assert x1 - x0 == y1 - y0 == 50  # 2.0 x 25
    cx = np.mean([100, 95, 105, 88, 112])
    assert abs((x0 + x1) / 2 - cx) <= 1 and abs((y0 + y1) / 2 - 56.8) <= 1


def test_face_box_fixed_side_clamped_to_frame() -> None:
    kp = _kp(nose=(5, 190))  # at the frame's corner
    x0, y0, x1, y1 = face_box(kp, (320, 200), crop_size=64, side=80)
    assert (x0, y0, x1, y1) == (0, 120, 80, 200)
    # A side larger than the frame is capped, the box stays square and inside.
    x0, y0, x1, y1 = face_box(kp, (320, 200), crop_size=64, side=500)
    assert (x1 - x0, y1 - y0) == (200, 200) and x0 >= 0 and y1 <= 200


def test_face_box_none_without_face_and_minimum_side() -> None:
    assert face_box(_kp(neck=(50, 50)), (100, 100), 64) is None
    # Only the nose: no size cue -> crop_size; tiny head -> at least crop_size / 4.
    assert face_box(_kp(nose=(50, 50)), (100, 100), 64)[2:] == (82, 82)
    tiny = _kp(nose=(50, 50), r_eye=(49.5, 49.5), l_eye=(50.5, 49.5))
    x0, y0, x1, y1 = face_box(tiny, (100, 100), 64)
    assert x1 - x0 == 16


def test_crop_resize_and_paste_roundtrip() -> None:
    img = torch.linspace(-1, 1, 2 * 3 * 40 * 60).reshape(2, 3, 40, 60)
    boxes = [(0, 0, 32, 32), (10, 5, 26, 21)]
    crops = crop_resize(img, boxes, 16)
    assert crops.shape == (2, 3, 16, 16)
    assert torch.equal(crops[1], img[1, :, 5:21, 10:26])  # same size: exact slice
    out = add_face_residual(img, torch.zeros(2, 3, 16, 16), boxes)
    assert torch.equal(out, img)
    out = add_face_residual(img, torch.full((2, 3, 16, 16), 0.5), boxes)
    diff = out - img
    assert torch.allclose(diff[0, :, :32, :32], torch.full((3, 32, 32), 0.5))
    assert diff[0, :, 32:, :].abs().max() == 0 and diff[1, :, :5].abs().max() == 0
    with pytest.raises(ValueError):
        crop_resize(img, boxes[:1], 16)


def test_face_enhancer_starts_as_identity_and_trains() -> None:
    cfg = FaceConfig(crop_size=32, base_channels=8)
    torch.manual_seed(0)
    net = FaceEnhancer(cfg)
    frame = torch.rand(2, 3, 32, 32) * 2 - 1
    pose = torch.rand(2, 25, 32, 32)
    out, res = net(frame, pose)
    assert out.shape == res.shape == (2, 3, 32, 32)
    assert torch.equal(out, frame) and res.abs().max() == 0
    target = torch.zeros_like(frame)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = None
    for _ in range(10):
        loss = (net(frame, pose)[0] - target).abs().mean()
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first
