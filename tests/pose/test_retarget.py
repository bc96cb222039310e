"""Bone retargeting: kinematic order, ratios, known answers on stick figures."""

from __future__ import annotations

import numpy as np
import pytest
from test_normalize_figures import UNIT_HEIGHT, dance, place, sequence

from rtmotion.pose.normalize import normalize_sequence
from rtmotion.pose.retarget import (
    bone_ratios,
    kinematic_order,
    mirror_name,
    retarget_keypoints,
    symmetric_lengths,
)
from rtmotion.pose.skeleton import BODY25
from rtmotion.pose.stats import SubjectPoseStats, bone_key, skeleton_bones

LEG_CHILDREN = ("r_knee", "r_ankle", "l_knee", "l_ankle", "l_big_toe", "l_small_toe", "l_heel",
                "r_big_toe", "r_small_toe", "r_heel")


def long_legs(units: np.ndarray, factor: float) -> np.ndarray:
    """Figures (T, K, 2) in body units with legs `factor` times as long (hips to ankles), the
    feet following the ankles, re-stood on y = 0."""
    out = units.copy()
    j = BODY25.index
    for side in ("r", "l"):
        hip = units[:, j(f"{side}_hip")]
        for name in (f"{side}_knee", f"{side}_ankle"):
            out[:, j(name)] = hip + factor * (units[:, j(name)] - hip)
        ank_shift = out[:, j(f"{side}_ankle")] - units[:, j(f"{side}_ankle")]
        for name in (f"{side}_big_toe", f"{side}_small_toe", f"{side}_heel"):
            out[:, j(name)] = units[:, j(name)] + ank_shift
    out[..., 1] -= out[:, [j("l_ankle"), j("r_ankle")], 1].max(axis=1, keepdims=True)
    return out


def bone_lengths(kp: np.ndarray, bones=BODY25.bones) -> np.ndarray:
    """float64 (T, B) 2D bone lengths."""
    return np.stack([np.linalg.norm(kp[:, a, :2] - kp[:, b, :2], axis=-1) for a, b in bones], axis=1)


def test_kinematic_order_walks_the_tree_from_mid_hip() -> None:
    bones = skeleton_bones(BODY25.joints, "body25")
    order = kinematic_order(BODY25.joints, bones)
    assert len(order) == 24 and order[0][0] == BODY25.index("mid_hip")
    placed = {BODY25.index("mid_hip")}
    for p, c, key in order:
        assert p in placed and c not in placed   # parents are always placed first
        placed.add(c)
        a, b = key.split(">")
        assert {BODY25.index(a), BODY25.index(b)} == {p, c}
    assert placed == set(range(25))


def test_a_target_of_the_same_build_leaves_the_source_untouched() -> None:
    n = 40
    src = sequence(place(dance(n), np.full(n, 300.0), np.full(n, 200.0), np.full(n, 150.0)))
    tgt = sequence(place(dance(n), np.full(n, 400.0), np.full(n, 330.0), np.full(n, 290.0)))
    ss, ts = SubjectPoseStats.from_sequence(src), SubjectPoseStats.from_sequence(tgt)
    bones = skeleton_bones(BODY25.joints, "body25")
    ratios = bone_ratios(ss, ts, bones)
    np.testing.assert_allclose(list(ratios.values()), 1.0, atol=1e-4)
    np.testing.assert_allclose(retarget_keypoints(src.keypoints, BODY25.joints, bones, ratios),
                               src.keypoints, atol=1e-3)


def test_retarget_gives_the_target_its_own_proportions() -> None:
    # Target: legs 1.3x as long, filmed elsewhere at another size, same motion. Retargeting the
    # source must give the target's figure exactly; plain EDN keeps the source's short legs.
    n = 120
    motion = dance(n, seed=4)
    long = long_legs(motion, 1.3)
    h_long = (long[0, BODY25.index("l_ankle"), 1] - long[0, BODY25.index("l_eye"), 1])
    tgt = sequence(place(long, np.full(n, 420.0), np.full(n, 330.0),
                         np.full(n, 300.0 * h_long / UNIT_HEIGHT)))
    src = sequence(place(motion, np.full(n, 250.0), np.full(n, 150.0), np.full(n, 160.0)), size=(320, 280))
    ts = SubjectPoseStats.from_sequence(tgt)
    ret = normalize_sequence(src, ts, "retarget")
    edn = normalize_sequence(src, ts, "edn")
    np.testing.assert_allclose(ret.keypoints, tgt.keypoints, atol=0.05)
    shin = [i for i, (a, b) in enumerate(BODY25.bones) if BODY25.joints[b] in ("l_ankle", "r_ankle")]
    err_ret = np.abs(bone_lengths(ret.keypoints) / bone_lengths(tgt.keypoints) - 1)[:, shin].max()
    err_edn = np.abs(bone_lengths(edn.keypoints) / bone_lengths(tgt.keypoints) - 1)[:, shin].max()
    assert err_ret < 1e-3 and err_edn > 0.05


def test_missing_joints_move_with_their_nearest_rebuilt_ancestor() -> None:
    n = 5
    src = sequence(place(dance(n), np.full(n, 300.0), np.full(n, 200.0), np.full(n, 150.0)))
    kp = src.keypoints.copy()
    knee, ankle, heel = BODY25.index("l_knee"), BODY25.index("l_ankle"), BODY25.index("l_heel")
    kp[:, knee] = 0                                   # the knee is missing
    bones = skeleton_bones(BODY25.joints, "body25")
    ratios = {bone_key(a, b): 1.0 for a, b in bones}
    ratios[bone_key("l_hip", "l_knee")] = 2.0         # would move the knee (and below) ...
    ratios[bone_key("mid_hip", "l_hip")] = 3.0        # ... and the hip moves everything below it
    out = retarget_keypoints(kp, BODY25.joints, bones, ratios)
    assert np.isfinite(out).all() and (out[:, knee] == 0).all()
    hip, mid = BODY25.index("l_hip"), BODY25.index("mid_hip")
    hip_move = 2.0 * (kp[:, hip, :2] - kp[:, mid, :2])
    np.testing.assert_allclose(out[:, hip, :2] - kp[:, hip, :2], hip_move, atol=1e-3)
    # Ankle and heel cannot be rebuilt from the missing knee: they follow the hip.
    for j in (ankle, heel):
        np.testing.assert_allclose(out[:, j, :2] - kp[:, j, :2], hip_move, atol=1e-3)
    # A single pose (K, 3) works too.
    np.testing.assert_allclose(retarget_keypoints(kp[0], BODY25.joints, bones, ratios), out[0])


def test_unknown_bones_get_ratio_one() -> None:
    n = 10
    seq = sequence(place(dance(n), np.full(n, 300.0), np.full(n, 200.0), np.full(n, 150.0)))
    kp = seq.keypoints.copy()
    kp[:, BODY25.index("r_ear")] = 0
    st = SubjectPoseStats.from_sequence(seq.with_keypoints(kp))
    big = SubjectPoseStats.from_sequence(seq)
    bones = skeleton_bones(BODY25.joints, "body25")
    r = bone_ratios(st, big, bones)
    assert r[bone_key("r_eye", "r_ear")] == 1.0
    empty = SubjectPoseStats.from_keypoints(np.zeros((1, 25, 3)), BODY25.joints, (10, 10))
    assert set(bone_ratios(empty, big, bones).values()) == {1.0}


def test_symmetric_lengths_average_each_left_right_pair_only() -> None:
    lengths = {"r_knee>r_ankle": 16.0, "l_knee>l_ankle": 18.0, "neck>mid_hip": 20.0,
               "r_eye>r_ear": 2.0, "r_hip>r_knee": 0.0, "l_hip>l_knee": 17.0}
    out = symmetric_lengths(lengths)
    assert out == {"r_knee>r_ankle": 17.0, "l_knee>l_ankle": 17.0, "neck>mid_hip": 20.0,
                   "r_eye>r_ear": 2.0,          # its mirror was never measured
                   "r_hip>r_knee": 0.0, "l_hip>l_knee": 17.0}   # a zero length is not averaged
    assert lengths["r_knee>r_ankle"] == 16.0    # the input is not changed
    assert [mirror_name(j) for j in ("l_knee", "r_big_toe", "neck", "nose")] == \
        ["r_knee", "l_big_toe", "neck", "nose"]


def test_a_one_sided_motion_does_not_make_one_leg_short() -> None:
    """A source who foreshortens the right shin in half its frames (a knee lifted towards the
    camera) has a shorter median right shin; its true build is symmetric, like the target's,
    so both shins get one ratio (the source's per-frame left/right balance is kept), and the
    foreshortening's bias is halved: 1.33 for one shin without the symmetry, ~1.15 for both."""
    n = 40
    src = sequence(place(dance(n), np.full(n, 300.0), np.full(n, 200.0), np.full(n, 150.0)))
    kp = src.keypoints.copy()
    j = BODY25.index
    knee, ankle = j("r_knee"), j("r_ankle")
    lifted = np.arange(n) % 2 == 0
    kp[lifted, ankle, :2] = kp[lifted, knee, :2] + 0.5 * (kp[lifted, ankle, :2] - kp[lifted, knee, :2])
    ss = SubjectPoseStats.from_sequence(src.with_keypoints(kp))
    assert ss.bone_lengths["r_knee>r_ankle"] < 0.9 * ss.bone_lengths["l_knee>l_ankle"]
    ts = SubjectPoseStats.from_sequence(src)          # the same build, seen without the lift
    ratios = bone_ratios(ss, ts, skeleton_bones(BODY25.joints, "body25"))
    assert ratios["r_knee>r_ankle"] == pytest.approx(ratios["l_knee>l_ankle"], rel=1e-9)
    unpaired = ts.bone_lengths["r_knee>r_ankle"] / ss.bone_lengths["r_knee>r_ankle"]
    assert unpaired > 1.3                     # the right shin's medians alone: stretched by a third
    assert 1.1 < ratios["r_knee>r_ankle"] < 1.2


def test_retarget_mode_needs_ankles() -> None:
    joints = ("nose", "neck", "l_shoulder", "r_shoulder")
    seq = sequence(place(dance(5, joints), np.full(5, 300.0), np.full(5, 200.0), np.full(5, 150.0)),
                   joints=joints, skeleton="bust")
    from rtmotion.errors import InputError

    with pytest.raises(InputError, match="ankle"):
        normalize_sequence(seq, SubjectPoseStats.from_sequence(seq), "retarget")


# ---- ground truth from the synthetic dancer ---------------------------------------------------

def _bone_errors(out: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """|length / true length - 1| of every bone seen (longer than 3 px) in both, flattened."""
    lo, lg = bone_lengths(out), bone_lengths(gt)
    seen = np.stack([(out[:, a, 2] > 0) & (out[:, b, 2] > 0) & (gt[:, a, 2] > 0) & (gt[:, b, 2] > 0)
                     for a, b in BODY25.bones], axis=1) & (lg > 3)
    return np.abs(lo[seen] / lg[seen] - 1)


@pytest.mark.parametrize("source_char, target_char", [
    ("mira", "long_legs"),   # short slim source, a long-legged short-armed broad target
    ("ada", "bruno"),        # two of the library's characters
])
def test_retarget_on_synthetic_ground_truth(source_char, target_char) -> None:
    """The synthetic dancer renders the target character with the source's joint angles: that
    is the right answer. Retargeting must match its bone lengths far better than plain EDN."""
    from dataclasses import replace

    from rtmotion.synthetic import get_character, motion_angles, render_sequence

    if target_char == "long_legs":
        target_char = replace(get_character("kofi"), name="long_legs", leg_length=1.25,
                              arm_length=0.85, shoulder_width=1.2)
    size = (384, 384)
    src_motion = motion_angles("dance", 8, 30, seed=1)
    _, source = render_sequence(source_char, size=size, angles=src_motion)
    _, training = render_sequence(target_char, size=size, angles=motion_angles("dance", 8, 30, seed=2))
    _, truth = render_sequence(target_char, size=size, angles=src_motion)
    ts = SubjectPoseStats.from_sequence(training)

    ret = normalize_sequence(source, ts, "retarget").keypoints
    edn = normalize_sequence(source, ts, "edn").keypoints
    err_ret = np.median(_bone_errors(ret, truth.keypoints))
    err_edn = np.median(_bone_errors(edn, truth.keypoints))
    # Body shape about the hips: joints relative to mid_hip, in pixels.
    mh = BODY25.index("mid_hip")

    def shape_err(kp: np.ndarray) -> float:
        both = (kp[..., 2] > 0) & (truth.keypoints[..., 2] > 0)
        t = truth.keypoints
        d = (kp[..., :2] - kp[:, mh:mh + 1, :2]) - (t[..., :2] - t[:, mh:mh + 1, :2])
        return float(np.linalg.norm(d, axis=-1)[both].mean())

    # Measured (median bone length error, mean shape error), retarget vs edn:
    #   mira -> long_legs: 1.0 % vs 13.9 %, 0.97 px vs 10.7 px;
    #   ada -> bruno (same proportions, other size and widths): 0.7 % vs 0.6 %, 0.79 px vs 1.61 px.
    assert err_ret < 0.02, err_ret
    assert shape_err(ret) < 0.7 * shape_err(edn), (shape_err(ret), shape_err(edn))
    if source_char == "mira":   # very different proportions: EDN is far off, retarget is not
        assert err_ret < err_edn / 5 and shape_err(ret) < shape_err(edn) / 5
    else:
        # Same proportions: both place every joint where the target dancing it would be
        # (measured mean 1.7 px edn, 0.9 px retarget in a 384 px frame).
        def abs_err(kp: np.ndarray) -> float:
            both = (kp[..., 2] > 0) & (truth.keypoints[..., 2] > 0)
            return float(np.linalg.norm(kp[..., :2] - truth.keypoints[..., :2], axis=-1)[both].mean())

        assert abs_err(edn) < 3.0 and abs_err(ret) < 2.0, (abs_err(edn), abs_err(ret))
