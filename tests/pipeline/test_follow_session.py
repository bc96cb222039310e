"""A follow-crop subject through a Session: each frame drawn in its own box, placed back into the
model frame, the full frame, and the same step whether prepared ahead or inline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rtmotion.pipeline.session import open_session
from rtmotion.pipeline.synthesize import SubjectSynthesizer
from rtmotion.subject import load_subject
from rtmotion.synthetic import motion_angles, render_sequence


@pytest.fixture(scope="module")
def follow_subject(follow_subject_path: Path):
    return load_subject(follow_subject_path)


@pytest.fixture(scope="module")
def driving(follow_subject) -> np.ndarray:
    """12 poses of the dancer in the subject's fixed-crop model pixels, a gap of 3 in them."""
    s = follow_subject
    _, seq = render_sequence("ada", angles=motion_angles("dance", 1.0, 12, seed=5),
                             size=s.crop.frame_size)
    kp = s.crop.keypoints_to_crop(seq.keypoints, s.resolution)
    kp[5:8] = 0.0
    return kp


def test_frames_are_drawn_in_their_own_box_and_placed_back(follow_subject, driving) -> None:
    s = follow_subject
    with open_session(s) as model, open_session(s, full_frame=True) as full:
        for t, kp in enumerate(driving):
            a, b = model(kp), full(kp)
            assert a.shape == (s.resolution[1], s.resolution[0], 3)
            assert b.shape == (s.crop.frame_size[1], s.crop.frame_size[0], 3)
            placement = full.synth.last_placement
            assert placement is not None and placement.box.width == s.follow_crop.size[0]
            if t == 0:
                first_box = placement.box
            np.testing.assert_array_equal(full.last_camera_frame(), b)
    assert placement.box != first_box                     # the box moved with the dancer
    # Outside the boxes the output frame is the scene plate itself.
    far = (slice(0, 4), slice(0, 4))
    np.testing.assert_array_equal(b[far], s.scene_plate[far])


def test_an_empty_scene_is_the_plate(follow_subject) -> None:
    s = follow_subject
    with open_session(s, full_frame=True, hold_frames=0) as session:
        frame = session(np.zeros((25, 3), np.float32))
    np.testing.assert_array_equal(frame, s.scene_plate)


def test_prepared_ahead_equals_inline(follow_subject, driving) -> None:
    """The preparer's shifted flow (computed a frame ahead) gives the synthesizer's own step."""
    with open_session(follow_subject) as session, SubjectSynthesizer(follow_subject) as inline:
        for kp in driving:
            ahead = session.generate(session.prepare(kp))
            drawn = session._last_drawn
            np.testing.assert_array_equal(drawn, inline(kp))
            assert ahead.shape[:2] == drawn.shape[:2]
