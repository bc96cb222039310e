"""Motions: deterministic, smooth, plausible joint ranges, walk moves toward/away."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from rtmotion.synthetic import DOFS, MOTIONS, MotionAngles, angles_from_dict, motion_angles
from rtmotion.synthetic.motion import DOF_INDEX

DEG = np.pi / 180


@pytest.mark.parametrize("motion", MOTIONS)
def test_motion_shape_determinism_and_smoothness(motion: str) -> None:
    a = motion_angles(motion, 6.0, 30, seed=3)
    b = motion_angles(motion, 6.0, 30, seed=3)
    assert isinstance(a, MotionAngles)
    assert a.values.shape == (180, len(DOFS))
    np.testing.assert_array_equal(a.values, b.values)
    assert np.isfinite(a.values).all()
    ang = [i for n, i in DOF_INDEX.items() if not n.startswith("root_")]
    step = np.abs(np.diff(a.values[:, ang], axis=0))
    # Smooth: no joint turns more than 18 degrees between two frames at 30 fps.
    assert step.max() < 18 * DEG, (motion, float(step.max() / DEG))
    # Plausible anatomy: knees and elbows bend one way only, within human range.
    for j in ("r_knee", "l_knee", "r_elbow", "l_elbow"):
        v = a.dof(j)
        assert v.min() > -5 * DEG and v.max() < 150 * DEG, (motion, j)
    for j in ("r_hip_flex", "l_hip_flex"):
        assert a.dof(j).max() < 120 * DEG and a.dof(j).min() > -40 * DEG
    assert a.dof("root_lift").min() >= 0.0


def test_seed_changes_motion_and_fps_sampling() -> None:
    a = motion_angles("dance", 4.0, 30, seed=0)
    b = motion_angles("dance", 4.0, 30, seed=1)
    assert np.abs(a.values - b.values).max() > 0.1
    c = motion_angles("dance", 4.0, Fraction(30000, 1001), seed=0)
    assert len(c) == round(4.0 * 30000 / 1001)
    assert c.fps == Fraction(30000, 1001)
    # Same seed at another frame rate samples the same underlying motion.
    d = motion_angles("steps", 2.0, 60, seed=0)
    e = motion_angles("steps", 2.0, 30, seed=0)
    np.testing.assert_allclose(d.values[::2], e.values, atol=1e-9)


def test_every_motion_moves() -> None:
    for m in MOTIONS:
        a = motion_angles(m, 4.0, 30, seed=0)
        assert np.ptp(a.values, axis=0).max() > 10 * DEG, m


def test_walk_goes_toward_and_away_and_turns() -> None:
    a = motion_angles("walk", 10.0, 30, seed=0)
    z = a.dof("root_z")
    assert np.ptp(z) > 1.0  # leg lengths
    yaw = a.dof("root_yaw")
    assert np.ptp(yaw) > 3.0  # turns around (pi) at least once


def test_beats_and_bad_input() -> None:
    a = motion_angles("jump", 3.0, 30, seed=0)
    assert 100 <= a.tempo_bpm <= 124
    beats = a.beat_times()
    np.testing.assert_allclose(np.diff(beats), 60 / a.tempo_bpm)
    with pytest.raises(ValueError, match="dance"):
        motion_angles("moonwalk")
    with pytest.raises(ValueError):
        motion_angles("idle", seconds=0)
    with pytest.raises(KeyError, match="unknown DOF"):
        angles_from_dict({"tail": 3})
