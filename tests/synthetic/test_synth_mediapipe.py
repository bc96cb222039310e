"""Real MediaPipe BlazePose must find every synthetic character, close to the ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from rtmotion.pose.skeleton import MEDIAPIPE33_TO_BODY25, remap_keypoints
from rtmotion.synthetic import CHARACTERS, Renderer, motion_angles, pose_body

pytestmark = pytest.mark.mediapipe


@pytest.fixture(scope="module")
def blazepose():  # noqa: ANN201
    mp = pytest.importorskip("mediapipe")
    pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1)
    yield pose
    pose.close()


@pytest.mark.parametrize("name", sorted(CHARACTERS))
def test_mediapipe_detects_character(blazepose, name: str) -> None:  # noqa: ANN001
    size = 256
    r = Renderer(name, (size, size))
    motion = motion_angles("dance", 16.0, 30, seed=0)
    detected, errors = 0, []
    rows = motion.values[np.linspace(0, len(motion) - 1, 10).astype(int)]
    for row in rows:
        body = pose_body(r.character, row)
        img, gt = r.render(body), r.keypoints(body)
        res = blazepose.process(img)
        if res.pose_landmarks is None:
            continue
        detected += 1
        lm = np.array([[p.x * size, p.y * size, 1.0] for p in res.pose_landmarks.landmark])
        est = remap_keypoints(lm, MEDIAPIPE33_TO_BODY25)
        ok = (gt[:, 2] > 0) & (est[:, 2] > 0)
        vis = gt[gt[:, 2] > 0]
        body_h = vis[:, 1].max() - vis[:, 1].min()
        errors.append(float(np.linalg.norm(est[ok, :2] - gt[ok, :2], axis=1).mean() / body_h))
    assert detected >= 9, f"{name}: MediaPipe found the person in {detected}/10 frames"
    # Mean joint distance / body height (measured ~0.02 for every character).
    assert np.mean(errors) < 0.05, (name, errors)
    assert np.max(errors) < 0.1, (name, errors)
