"""SubjectPoseStats: robust statistics with known answers on synthetic figures, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_normalize_figures import BASE, UNIT_HEIGHT, affine, walking

from rtmotion.errors import InputError
from rtmotion.pose.stats import SubjectPoseStats, ankle_y, bone_key, skeleton_bones


def test_stats_of_a_walk_have_the_known_values() -> None:
    seq = walking(200, near=450, far=300, horizon=150, k=1.0)
    st = SubjectPoseStats.from_sequence(seq)
    ankles = np.linspace(300, 450, 200)
    assert st.ankle_far == pytest.approx(np.percentile(ankles, 5))
    assert st.ankle_close == pytest.approx(np.percentile(ankles, 95))
    # Height = k * (ankle - horizon): the heights near far/close match the perspective line.
    assert st.height_far == pytest.approx(st.ankle_far - 150, rel=0.01)
    assert st.height_close == pytest.approx(st.ankle_close - 150, rel=0.01)
    assert st.height_reference == "head"
    assert st.num_frames == st.frames_detected == st.frames_with_ankles == 200
    assert st.ankle_visible_fraction == st.upper_visible_fraction == 1.0
    assert st.has_ankles and st.has_upper
    x = 320 + 20 * np.sin(np.linspace(0, 3, 200))
    assert st.x_centre == pytest.approx(np.median(x), abs=0.5)
    # Upper body: shoulder width 0.24 units, shoulders at the median height's scale.
    med_h = np.median(np.linspace(300, 450, 200) - 150)
    assert st.shoulder_width == pytest.approx(0.24 / UNIT_HEIGHT * med_h, rel=1e-3)
    head = np.mean([BASE[j] for j in ("nose", "l_eye", "r_eye", "l_ear", "r_ear")], axis=0)
    assert st.head_shoulder == pytest.approx(np.hypot(*(head - BASE["neck"])) / UNIT_HEIGHT * med_h, rel=1e-3)
    # Bones: the shin (knee -> ankle) is 0.26 units long in every frame.
    shin = st.bone_lengths[bone_key("l_knee", "l_ankle")]
    assert shin == pytest.approx(0.26 / UNIT_HEIGHT * med_h, rel=1e-3)
    assert len(st.bone_lengths) == len(skeleton_bones(seq.joint_names, "body25")) == 24
    assert st.size == (640, 480)


def test_stats_scale_and_shift_with_the_sequence() -> None:
    seq = walking(120)
    a, b = SubjectPoseStats.from_sequence(seq), SubjectPoseStats.from_sequence(affine(seq, 0.5, 13, -40))
    for name, off in (("ankle_far", -40), ("ankle_close", -40), ("x_centre", 13)):
        assert getattr(b, name) == pytest.approx(0.5 * getattr(a, name) + off, abs=1e-3)
    for name in ("height_far", "height_close", "shoulder_width", "head_shoulder"):
        assert getattr(b, name) == pytest.approx(0.5 * getattr(a, name), rel=1e-5)


def test_outlier_frames_do_not_move_far_and_close() -> None:
    clean = walking(200)
    kp = clean.keypoints.copy()
    ank = [clean.joint_names.index(j) for j in ("l_ankle", "r_ankle")]
    # Four wild detections: ankles far below the frame, two far above.
    for i, y in ((10, 5000.0), (70, 4000.0), (120, -2000.0), (150, -3000.0)):
        kp[i, ank, 1] = y
    a = SubjectPoseStats.from_sequence(clean)
    b = SubjectPoseStats.from_sequence(clean.with_keypoints(kp))
    span = a.ankle_close - a.ankle_far
    assert abs(b.ankle_far - a.ankle_far) < 0.02 * span
    assert abs(b.ankle_close - a.ankle_close) < 0.02 * span
    assert b.height_far == pytest.approx(a.height_far, rel=0.02)
    assert b.height_close == pytest.approx(a.height_close, rel=0.02)
    # A plain min / max would have been thousands of pixels off.
    assert np.nanmax(ankle_y(kp, clean.joint_names)) > 3000


def test_ankle_y_takes_the_lower_visible_ankle_and_nan_without_one() -> None:
    seq = walking(3)
    kp = seq.keypoints.copy()
    li, ri = seq.joint_names.index("l_ankle"), seq.joint_names.index("r_ankle")
    kp[0, li, 1] = kp[0, ri, 1] - 20       # left foot lifted: the right one counts
    kp[1, ri] = 0                          # right ankle missing: the left one counts
    kp[2, [li, ri]] = 0                    # none visible
    ay = ankle_y(kp, seq.joint_names)
    assert ay[0] == pytest.approx(kp[0, ri, 1])
    assert ay[1] == pytest.approx(kp[1, li, 1])
    assert np.isnan(ay[2])


def test_stats_without_ankles_or_shoulders_are_none() -> None:
    seq = walking(50)
    kp = seq.keypoints.copy()
    for j in ("l_ankle", "r_ankle"):
        kp[:, seq.joint_names.index(j)] = 0
    st = SubjectPoseStats.from_sequence(seq.with_keypoints(kp))
    assert not st.has_ankles and st.ankle_far is None and st.frames_with_ankles == 0
    assert st.has_upper
    joints = ("nose", "l_ankle", "r_ankle")
    sub = kp[:, [seq.joint_names.index(j) for j in joints]]
    tiny = SubjectPoseStats.from_keypoints(sub, joints, (640, 480))
    assert not tiny.has_upper and tiny.shoulder_width is None and tiny.bone_lengths == {}


def test_empty_sequence_gives_empty_stats() -> None:
    st = SubjectPoseStats.from_keypoints(np.zeros((0, 25, 3)), tuple(BASE), (64, 48))
    assert st.num_frames == 0 and not st.has_ankles and not st.has_upper


def test_json_round_trip(tmp_path) -> None:
    st = SubjectPoseStats.from_sequence(walking(80))
    path = st.save(tmp_path / "sub" / "pose_stats.json")
    back = SubjectPoseStats.load(path)
    assert back == st
    assert SubjectPoseStats.from_dict(json.loads(json.dumps(st.to_dict()))) == st
    assert not list((tmp_path / "sub").glob(".*part*"))  # no temporary left behind


@pytest.mark.parametrize("content, words", [
    (None, "not found"),
    ("{not json", "not a readable JSON"),
    ("[1, 2]", "not an rtmotion pose statistics"),
    ('{"schema": "other"}', "not an rtmotion pose statistics"),
    ('{"schema": "rtmotion.pose_stats", "version": 99}', "version 99"),
    ('{"schema": "rtmotion.pose_stats", "version": 1, "size": [1]}', "damaged"),
])
def test_load_bad_files_raise_input_error(tmp_path, content, words) -> None:
    path = tmp_path / "stats.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=words) as e:
        SubjectPoseStats.load(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)
