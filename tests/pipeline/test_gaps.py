"""The no-person rule (`PersonGapPolicy`) frame by frame, against the rule written out: a
person missing for up to `hold_frames` frames keeps their last pose (HELD), a longer absence
is the empty scene (BLANK, with one reset at its start), counts add up."""

from __future__ import annotations

import numpy as np
import pytest

from rtmotion.pipeline.gaps import BLANK, HELD, HOLD_SECONDS, PERSON, GapCounts, PersonGapPolicy
from rtmotion.pipeline.session import hold_frames


def _pose(i: int) -> np.ndarray:
    kp = np.zeros((25, 3), np.float32)
    kp[:, 0], kp[:, 1], kp[:, 2] = i + np.arange(25), 2 * i, 1.0
    return kp


def _none() -> np.ndarray:
    return np.zeros((25, 3), np.float32)


def test_rule_frame_by_frame() -> None:
    """hold 2: P1 _ _ _ _ P2 _ P3: held, held, blank (reset), blank, person, held, person."""
    policy = PersonGapPolicy(2)
    frames = [_pose(1), _none(), _none(), _none(), _none(), _pose(2), _none(), _pose(3)]
    got = []
    for kp in frames:
        out, state = policy(kp)
        got.append((state, policy.needs_reset, out.copy()))
    assert [g[0] for g in got] == [PERSON, HELD, HELD, BLANK, BLANK, PERSON, HELD, PERSON]
    assert [g[1] for g in got] == [False, False, False, True, False, False, False, False]
    np.testing.assert_array_equal(got[0][2], _pose(1))
    for i in (1, 2):
        np.testing.assert_array_equal(got[i][2], _pose(1))    # the last pose again
    for i in (3, 4):
        assert got[i][2].shape == (25, 3) and not got[i][2].any()
    np.testing.assert_array_equal(got[6][2], _pose(2))
    np.testing.assert_array_equal(got[7][2], _pose(3))
    assert (policy.counts.held, policy.counts.blank, policy.counts.total) == (3, 2, 5)


def test_a_low_confidence_joint_is_a_person_and_none_is_not() -> None:
    policy = PersonGapPolicy(1)
    kp = _none()
    kp[3] = (5.0, 6.0, 0.01)
    assert policy(kp)[1] == PERSON
    kp[3, 2] = 0.0
    assert policy(kp)[1] == HELD
    kp[3, 2] = -1.0                       # not > 0: nobody
    assert policy(kp)[1] == BLANK and policy.needs_reset


def test_no_person_before_any_person_is_blank_without_reset() -> None:
    policy = PersonGapPolicy(5)
    assert policy.needs_reset is False      # a new policy asks for no reset before a frame
    for _ in range(3):
        out, state = policy(_none())
        assert state == BLANK and not policy.needs_reset and not out.any()
    assert (policy.counts.held, policy.counts.blank) == (0, 3)


@pytest.mark.parametrize("hold", [0, -3])
def test_no_hold_goes_blank_at_once(hold: int) -> None:
    policy = PersonGapPolicy(hold)
    assert policy.hold_frames == 0
    policy(_pose(1))
    out, state = policy(_none())
    assert state == BLANK and policy.needs_reset and not out.any()
    policy(_none())
    assert not policy.needs_reset
    assert GapCounts(held=0, blank=2) == policy.counts


def test_hold_frames_from_seconds() -> None:
    assert hold_frames(HOLD_SECONDS, 30) == 15
    assert hold_frames(0.5, 29.97) == 15 and hold_frames(1.0, 25) == 25
    assert hold_frames(0.0, 60) == 0 and hold_frames(0.1, 24) == 2
    assert GapCounts(3, 4).total == 7
