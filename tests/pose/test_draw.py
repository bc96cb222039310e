"""Skeleton overlay drawing."""

from __future__ import annotations

import numpy as np
import pytest

from rtmotion.pose.draw import bone_colors, draw_skeleton
from rtmotion.pose.skeleton import BODY25


def _pose() -> np.ndarray:
    """A standing figure in a 200x200 image (float32 (25, 3))."""
    kp = np.zeros((25, 3), np.float32)
    pts = {"nose": (100, 30), "neck": (100, 50), "r_shoulder": (80, 50), "r_elbow": (70, 80),
           "r_wrist": (65, 110), "l_shoulder": (120, 50), "l_elbow": (130, 80), "l_wrist": (135, 110),
           "mid_hip": (100, 110), "r_hip": (90, 110), "r_knee": (88, 145), "r_ankle": (86, 180),
           "l_hip": (110, 110), "l_knee": (112, 145), "l_ankle": (114, 180)}
    for name, (x, y) in pts.items():
        kp[BODY25.index(name)] = (x, y, 0.9)
    return kp


def test_limbs_drawn_missing_not_drawn() -> None:
    img = np.zeros((200, 200, 3), np.uint8)
    kp = _pose()
    kp[BODY25.index("l_wrist")] = 0.0                         # missing: no forearm
    out = draw_skeleton(img, kp)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert (img == 0).all()                                   # copy by default
    # Midpoints of drawn limbs are coloured.
    for a, b in [("neck", "mid_hip"), ("r_elbow", "r_wrist"), ("l_hip", "l_knee")]:
        pa, pb = kp[BODY25.index(a), :2], kp[BODY25.index(b), :2]
        x, y = ((pa + pb) / 2).round().astype(int)
        assert out[y, x].max() > 100, (a, b)
    # The left forearm (elbow 130,80 -> missing wrist) is not drawn, nor a line to (0, 0).
    assert out[95:105, 130:136].max() == 0
    assert out[0:20, 0:20].max() == 0
    # Left and right limbs get different colours.
    r_mid = ((kp[BODY25.index("r_elbow"), :2] + kp[BODY25.index("r_wrist"), :2]) / 2).round().astype(int)
    l_mid = ((kp[BODY25.index("l_shoulder"), :2] + kp[BODY25.index("l_elbow"), :2]) / 2).round().astype(int)
    assert tuple(out[r_mid[1], r_mid[0]]) != tuple(out[l_mid[1], l_mid[0]])


def test_empty_pose_draws_nothing_and_in_place() -> None:
    img = np.full((64, 64, 3), 7, np.uint8)
    out = draw_skeleton(img, np.zeros((25, 3), np.float32))
    assert (out == 7).all()
    kp = _pose() * np.array([0.3, 0.3, 1], np.float32)
    res = draw_skeleton(img, kp, copy=False)
    assert res is not None and (img != 7).any()               # drew into img itself


def test_min_conf_and_sides() -> None:
    img = np.zeros((200, 200, 3), np.uint8)
    kp = _pose()
    kp[:, 2] = 0.2
    assert (draw_skeleton(img, kp, min_conf=0.3) == 0).all()
    assert (draw_skeleton(img, kp, min_conf=0.1) > 0).any()
    colors = bone_colors(BODY25)
    names = [(BODY25.joints[a], BODY25.joints[b]) for a, b in BODY25.bones]
    left = {colors[i] for i, (_, b) in enumerate(names) if b.startswith("l_")}
    right = {colors[i] for i, (_, b) in enumerate(names) if b.startswith("r_")}
    assert left and right and not (left & right)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError):
        draw_skeleton(np.zeros((10, 10), np.uint8), _pose())
    with pytest.raises(ValueError):
        draw_skeleton(np.zeros((10, 10, 3), np.uint8), np.zeros((18, 3)))
    # Absurd or NaN coordinates do not crash.
    kp = _pose()
    kp[0, :2] = (1e12, -1e12)
    kp[1, 0] = np.nan
    draw_skeleton(np.zeros((50, 50, 3), np.uint8), kp)
