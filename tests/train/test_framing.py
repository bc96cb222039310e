"""The model frame's shape and crops for a training video (`rtmotion.train.framing`), on the
synthetic dancer's poses (no training)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from rtmotion.pose.posefile import PoseSequence
from rtmotion.subject.crop import usable_frames
from rtmotion.synthetic import motion_angles, render_sequence
from rtmotion.train.config import TrainConfig
from rtmotion.train.framing import choose_crops, shape_model_frame


@pytest.fixture(scope="module")
def dancer() -> PoseSequence:
    """ada dancing in place, in a 320x320 frame."""
    _, seq = render_sequence("ada", angles=motion_angles("dance", 2.0, 15, seed=1), size=(320, 320))
    return seq


def test_a_standing_person_gets_a_portrait_frame_of_the_budgets_pixels(dancer, caplog) -> None:
    cfg = TrainConfig(resolution=(128, 128), shape_frame=True)
    ok = usable_frames(dancer.keypoints)
    with caplog.at_level(logging.INFO, logger="rtmotion.train.framing"):
        shaped = shape_model_frame(cfg, dancer, ok)
    w, h = shaped.resolution
    assert w < h and w % 16 == 0 and h % 16 == 0
    assert 0.9 * 128 * 128 <= w * h <= 1.05 * 128 * 128
    assert not shaped.shape_frame and shape_model_frame(shaped, dancer, ok) is shaped
    assert "the person drawn" in caplog.text
    # The person is drawn larger: the follow box's height in model pixels.
    _, square = choose_crops(cfg, dancer, ok)
    _, tall = choose_crops(shaped, dancer, ok)
    assert square is not None and tall is not None
    assert h / tall.size[1] > 1.2 * 128 / square.size[1]


def test_a_resolution_given_is_kept(dancer) -> None:
    cfg = TrainConfig(resolution=(128, 128))
    assert shape_model_frame(cfg, dancer, usable_frames(dancer.keypoints)) is cfg


def test_without_the_follow_crop_the_frame_fits_the_area_the_person_moves_in(dancer) -> None:
    # The dancer walks across a wide frame: the fixed crop holds all of it, a landscape box.
    kp = dancer.keypoints.copy()
    vis = kp[..., 2] > 0
    kp[..., 0] = np.where(vis, kp[..., 0] + np.linspace(0, 640, len(kp))[:, None], 0)
    wide = dancer.with_keypoints(kp, size=(960, 320))
    ok = usable_frames(kp)
    fixed = shape_model_frame(TrainConfig(resolution=(128, 128), shape_frame=True,
                                          follow_crop=False), wide, ok)
    assert fixed.resolution[0] > fixed.resolution[1]
    follow = shape_model_frame(TrainConfig(resolution=(128, 128), shape_frame=True), wide, ok)
    assert follow.resolution[0] < follow.resolution[1]


def test_train_refuses_a_resolution_the_generator_cannot_take_before_any_work(tmp_path) -> None:
    from rtmotion.errors import InputError
    from rtmotion.train.trainer import train

    out = tmp_path / "S"
    cfg = TrainConfig(video=str(tmp_path / "none.mp4"), output=str(out), preset="tiny",
                      resolution=(100, 100), device="cpu")
    with pytest.raises(InputError, match=r"multiples of 8, e\.g\. 96x96"):
        train(cfg)
    assert not out.exists()
    with pytest.raises(InputError, match="unknown generator preset"):
        train(TrainConfig(video="v.mp4", output=str(out), preset="huge", device="cpu"))
