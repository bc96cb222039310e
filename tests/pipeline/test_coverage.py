"""PoseCoverage: which frames of a run drive poses the target's clip never showed, when, and the
line users read; the session's per-frame distance it is fed with."""

from __future__ import annotations

import numpy as np
import pytest

from rtmotion.pipeline.coverage import (
    JOIN_SECONDS,
    NAMED_STRETCHES,
    NEW_POSE_DISTANCE,
    PoseCoverage,
    describe,
)
from rtmotion.pipeline.session import open_session
from rtmotion.subject import load_subject


def test_counts_joins_and_names_the_stretches() -> None:
    c = PoseCoverage(fps=10.0)
    far, near = NEW_POSE_DISTANCE + 0.05, NEW_POSE_DISTANCE - 0.05
    for i in range(40):
        # new poses at frames 5-9, 12-13 (2 frames later: joined), 30; a frame with nothing
        # drawn (None) is not counted
        c.add(i, None if i == 20 else far if (5 <= i < 10 or i in (12, 13, 30)) else near)
    assert c.frames == 39 and int(c.new().sum()) == 8
    assert JOIN_SECONDS * 10 >= 3      # 9 -> 12 joins, 13 -> 30 does not
    assert c.stretches() == [(0.5, 1.4), (3.0, 3.1)]
    d = c.to_dict()
    assert d == {"level": NEW_POSE_DISTANCE, "frames": 39, "new": 8, "share": round(8 / 39, 4),
                 "median_distance": round(near, 4), "stretches_s": [[0.5, 1.4], [3.0, 3.1]]}
    line = describe(c.to_dict())
    assert line is not None and line == describe(d)
    assert line.startswith("8 of 39 frames (21 %; 0.5-1.4 s, 3.0-3.1 s) show poses the target's clip never did")
    assert "film the target doing them and train again" in line


def test_nothing_new_is_no_line_and_many_stretches_are_counted() -> None:
    c = PoseCoverage(fps=25.0)
    for i in range(10):
        c.add(i, 0.01)
    assert describe(c.to_dict()) is None and describe(None) is None and c.to_dict()["stretches_s"] == []
    empty = PoseCoverage(fps=25.0)
    assert empty.frames == 0 and empty.to_dict()["median_distance"] is None
    many = PoseCoverage(fps=1.0)
    for i in range(0, 40, 4):    # ten stretches, each far from the next
        many.add(i, 1.0)
    assert len(many.stretches()) == 10
    assert f"and {10 - NAMED_STRETCHES} more)" in (describe(many.to_dict()) or "")


def test_the_session_measures_the_keyframe_its_reference_used() -> None:
    """demo-ada's session: each drawn frame's distance is its pose's to the nearest keyframe
    (the one the picker warped); an empty scene has none."""
    subject = load_subject("demo-ada")
    pose = subject.keyframes.keypoints[3]   # a keyframe's own articulation, drawn anywhere
    with open_session(subject, hold_frames=0) as session:
        session(np.zeros((25, 3), np.float32))     # nobody, no hold: the empty scene
        assert session.last_pose_distance is None
        drawn = session.draw(session.prepare(pose))
        session.finish(drawn)
        d = session.last_pose_distance
        assert d is not None and d == drawn.keyframe_distance
        assert d == pytest.approx(float(subject.keyframes.distances(drawn.kp_np).min()))
        assert 0.0 <= d < NEW_POSE_DISTANCE
