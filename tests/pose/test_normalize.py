"""normalize_sequence: EDN, upper body, auto, missing joints, custom skeletons, with known answers."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pytest
from test_normalize_figures import affine, dance, heights, place, sequence, walking

from rtmotion.errors import InputError
from rtmotion.pose.normalize import (
    MODES,
    EdnParams,
    apply_transform,
    choose_mode,
    hold_fill,
    make_plan,
    normalize_keypoints,
    normalize_sequence,
    plausible_heights,
    upper_transform,
)
from rtmotion.pose.retarget import bone_ratios, retarget_keypoints
from rtmotion.pose.skeleton import BODY25
from rtmotion.pose.stats import (
    SubjectPoseStats,
    ankle_y,
    drop_outside,
    skeleton_bones,
    top_y,
)
from rtmotion.synthetic import motion_angles, render_sequence

LEGS = ("mid_hip", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "l_big_toe",
        "l_small_toe", "l_heel", "r_big_toe", "r_small_toe", "r_heel")


def _hide(seq, joints, frames=slice(None)):
    kp = seq.keypoints.copy()
    for j in joints:
        kp[frames, seq.joint_names.index(j)] = 0
    return seq.with_keypoints(kp)


@pytest.fixture(scope="module")
def target():
    return walking(200, near=450, far=300, horizon=150, k=1.0, size=(640, 480))


@pytest.fixture(scope="module")
def tstats(target):
    return SubjectPoseStats.from_sequence(target)


@pytest.mark.parametrize("mode", ["edn", "retarget", "upper", "auto"])
def test_scaled_shifted_copy_maps_back_onto_the_target(target, tstats, mode) -> None:
    src = affine(target, 0.6, 31, -52, size=(320, 240))
    out = normalize_sequence(src, tstats, mode)
    np.testing.assert_allclose(out.keypoints, target.keypoints, atol=1e-3)
    assert out.size == target.size and out.fps == src.fps
    np.testing.assert_array_equal(out.timestamps, src.timestamps)
    assert out.skeleton == src.skeleton and out.joint_names == src.joint_names
    assert out.extractor.endswith("normalize:" + ("retarget" if mode == "auto" else mode))


def test_walk_toward_the_camera_follows_the_targets_perspective(target, tstats) -> None:
    # Source: a smaller person, farther, walking a shorter way; target: height = ankle - 150.
    src = walking(150, near=260, far=200, horizon=100, k=1.0, x0=100, size=(320, 300), seed=3)
    sst = SubjectPoseStats.from_sequence(src)
    out = normalize_sequence(src, tstats, "edn", match_depth_range=False)
    a_out = out.keypoints[:, BODY25.index("l_ankle"), 1].astype(np.float64)
    h_out = heights(out.keypoints)
    # Every frame stands where the target would at that size.
    np.testing.assert_allclose(h_out, a_out - 150, rtol=0.01)
    # Relative depth is kept: the source's far/close land on the target's far/close; beyond
    # them (the first and last 5 % of the walk) the ankle keeps its scaled offset.
    a_src = src.keypoints[:, BODY25.index("l_ankle"), 1].astype(np.float64)
    s = h_out / heights(src.keypoints)
    t = np.clip((a_src - sst.ankle_far) / (sst.ankle_close - sst.ankle_far), 0, 1)
    beyond = a_src - np.clip(a_src, sst.ankle_far, sst.ankle_close)
    assert (beyond != 0).sum() > 10
    np.testing.assert_allclose(a_out, tstats.ankle_far + t * (tstats.ankle_close - tstats.ankle_far)
                               + s * beyond, atol=1e-2)
    # Horizontal: the source's offset from its centre, scaled, around the target's centre.
    x_src = src.keypoints[:, BODY25.index("neck"), 0]
    x_out = out.keypoints[:, BODY25.index("neck"), 0]
    np.testing.assert_allclose(x_out, tstats.x_centre + s * (x_src - sst.x_centre), atol=0.5)


def test_depth_range_matching_keeps_the_sources_relative_depth(target, tstats) -> None:
    # The source moves 0.2 body heights in depth, the target about 0.6: by default the target's
    # range is narrowed, so the output also moves about 0.2 body heights (EDN would stretch it).
    src = walking(150, near=230, far=210, horizon=110, k=1.0, size=(640, 480))
    out = normalize_sequence(src, tstats, "edn")
    a = out.keypoints[:, BODY25.index("l_ankle"), 1].astype(np.float64)
    h = heights(out.keypoints)
    np.testing.assert_allclose(h, a - 150, rtol=0.01)   # still on the target's perspective line
    rel_src = 20 / np.mean(np.linspace(210, 230, 150) - 110)
    assert (a.max() - a.min()) / h.mean() == pytest.approx(rel_src, rel=0.1)
    stretched = normalize_sequence(src, tstats, "edn", match_depth_range=False)
    a2 = stretched.keypoints[:, BODY25.index("l_ankle"), 1]
    assert a2.max() - a2.min() > 2 * (a.max() - a.min())


def test_a_jump_stays_a_jump(tstats) -> None:
    n = 100
    ankle = np.full(n, 400.0)
    ankle[50:54] -= np.array([10.0, 30.0, 30.0, 10.0])    # 4 % of the frames in the air
    src = sequence(place(dance(n), ankle, np.full(n, 300.0), np.full(n, 200.0)))
    out = normalize_sequence(src, tstats, "edn")
    a = out.keypoints[:, BODY25.index("l_ankle"), 1]
    s = heights(out.keypoints)[0] / 200.0
    np.testing.assert_allclose(a[50:54] - a[0], s * (ankle[50:54] - 400.0), atol=1e-3)


def test_outliers_leave_the_other_frames_in_place(target, tstats) -> None:
    src = affine(target, 0.5, 10, 20)
    kp = src.keypoints.copy()
    ank = [BODY25.index("l_ankle"), BODY25.index("r_ankle")]
    wild = [10, 90, 150]
    for i, y in zip(wild, (4000.0, -1500.0, 3000.0)):
        kp[i, ank, 1] = y
    out = normalize_sequence(src.with_keypoints(kp), tstats, "edn")
    keep = np.setdiff1d(np.arange(len(src)), wild)
    # Percentiles move by a frame's worth: within a pixel or two on a 150 px walk.
    np.testing.assert_allclose(out.keypoints[keep], target.keypoints[keep], atol=2.5)


def test_missing_ankles_hold_the_last_good_transform(tstats) -> None:
    src = walking(100, near=260, far=200, horizon=100, size=(640, 480))
    hidden = _hide(_hide(src, ("l_ankle", "r_ankle"), slice(50, 60)), ("l_ankle", "r_ankle"), slice(0, 5))
    out = normalize_sequence(hidden, tstats, "edn")
    assert np.isfinite(out.keypoints).all()
    plan = make_plan(hidden.keypoints, hidden.joint_names, tstats, "edn")
    s, tx, ty = plan.transforms(hidden.keypoints)
    assert np.isnan(s[50:60]).all() and np.isnan(s[:5]).all() and np.isfinite(s[5:50]).all()
    kp = hidden.keypoints
    for frames, ref in ((range(50, 60), 49), (range(5), 5)):
        for i in frames:
            seen = kp[i, :, 2] > 0
            np.testing.assert_allclose(out.keypoints[i, :, 0], np.where(seen, kp[i, :, 0] * s[ref] + tx[ref], 0),
                                       atol=1e-3)
            np.testing.assert_allclose(out.keypoints[i, :, 1], np.where(seen, kp[i, :, 1] * s[ref] + ty[ref], 0),
                                       atol=1e-3)
    # The hidden joints stay hidden.
    for j in ("l_ankle", "r_ankle"):
        assert (out.keypoints[50:60, BODY25.index(j)] == 0).all()


def test_missing_joints_stay_missing_and_nothing_is_nan(target, tstats) -> None:
    rng = np.random.default_rng(1)
    src = affine(target, 0.7, 5, 5)
    kp = src.keypoints.copy()
    drop = rng.random(kp.shape[:2]) < 0.2
    kp[drop] = 0
    kp[7] = 0                                              # a frame without a person
    out = normalize_sequence(src.with_keypoints(kp), tstats, "edn")
    assert np.isfinite(out.keypoints).all()
    assert (out.keypoints[drop] == 0).all() and (out.keypoints[7] == 0).all()
    assert (out.keypoints[~drop & (kp[..., 2] > 0)][:, 2] > 0).all()


def test_hold_fill() -> None:
    nan = np.nan
    np.testing.assert_array_equal(hold_fill(np.array([nan, nan, 1, nan, 3, nan])), [1, 1, 1, 1, 3, 3])
    assert np.isnan(hold_fill(np.array([nan, nan]))).all()


def test_a_custom_skeleton_with_another_joint_order_works(tstats, target) -> None:
    joints = ("r_ankle", "nose", "l_shoulder", "mid_hip", "l_ankle", "r_shoulder", "neck", "l_eye")
    tgt = sequence(place(dance(200, joints), np.linspace(300, 450, 200),
                         320 + 20 * np.sin(np.linspace(0, 3, 200)), np.linspace(150, 300, 200)),
                   joints=joints, skeleton="tiny")
    st = SubjectPoseStats.from_sequence(tgt)
    assert st.height_reference == "head" and st.has_ankles and st.has_upper
    assert set(st.bone_lengths) == {"neck>mid_hip", "neck>r_shoulder", "neck>l_shoulder", "neck>nose",
                                    "nose>l_eye"}
    for mode in ("edn", "retarget", "upper"):
        out = normalize_sequence(affine(tgt, 1.7, -40, 12, size=(1200, 900)), st, mode)
        np.testing.assert_allclose(out.keypoints, tgt.keypoints, atol=2e-3)
        assert out.joint_names == joints
    # A tiny source against the full BODY25 target statistics: joints are matched by name.
    out = normalize_sequence(affine(tgt, 0.5, 0, 0), tstats, "edn")
    assert out.keypoints.shape == (200, len(joints), 3)


def test_missing_needed_joints_raise_input_error(tstats, target) -> None:
    joints = ("nose", "neck", "l_shoulder", "r_shoulder")
    still = (np.full(30, 400.0), np.full(30, 300.0), np.full(30, 200.0))
    upper_only = sequence(place(dance(30, joints), *still), joints=joints, skeleton="bust")
    with pytest.raises(InputError, match="no ankle joint"):
        normalize_sequence(upper_only, tstats, "edn")
    with pytest.raises(InputError, match="no ankle joint"):
        normalize_sequence(upper_only, tstats, "retarget")
    assert normalize_sequence(upper_only, tstats, "auto").extractor.endswith("upper")
    no_ankles = _hide(target, ("l_ankle", "r_ankle"))
    with pytest.raises(InputError, match="no ankle is visible"):
        normalize_sequence(no_ankles, tstats, "edn")
    legs = ("nose", "l_ankle", "r_ankle")
    leg_seq = sequence(place(dance(30, legs), *still), joints=legs, skeleton="legs")
    with pytest.raises(InputError, match="lacks a shoulder"):
        normalize_sequence(leg_seq, tstats, "upper")
    # Target statistics without ankles cannot drive edn.
    tst_no_ankles = SubjectPoseStats.from_sequence(no_ankles)
    with pytest.raises(InputError, match="target statistics have no ankle"):
        normalize_sequence(target, tst_no_ankles, "edn")
    with pytest.raises(ValueError, match="unknown normalization mode"):
        normalize_sequence(target, tstats, "sideways")
    # Nothing in common: neither mode can work.
    shoulders_hidden = _hide(leg_seq, ("l_ankle", "r_ankle"))
    with pytest.raises(InputError, match="cannot normalize"):
        normalize_sequence(shoulders_hidden, tstats, "auto")


def test_make_plan_checks_only_resolved_modes(target, tstats, monkeypatch) -> None:
    """`_require` checks edn, retarget and upper and knows no other mode (its ValueError branch
    was unreachable and is gone): every mode `make_plan` accepts reaches it resolved, and an
    unknown one is refused before (a spy on `_require`)."""
    from rtmotion.pose import normalize

    checked: list[str] = []
    require = normalize._require

    def spy(mode: str, *a: SubjectPoseStats) -> None:
        checked.append(mode)
        require(mode, *a)

    monkeypatch.setattr(normalize, "_require", spy)
    joints = ("nose", "neck", "l_shoulder", "r_shoulder")
    still = (np.full(30, 400.0), np.full(30, 300.0), np.full(30, 200.0))
    bust = sequence(place(dance(30, joints), *still), joints=joints, skeleton="bust")
    for seq in (target, bust):
        for mode in MODES:
            try:
                make_plan(seq.keypoints, seq.joint_names, tstats, mode, size=seq.size,
                          skeleton=seq.skeleton)
            except InputError:
                pass  # the bust has no ankles: edn and retarget refuse it, by `_require`
    assert set(checked) == {"edn", "retarget", "upper"}
    checked.clear()
    with pytest.raises(ValueError, match="unknown normalization mode 'sideways'"):
        make_plan(target.keypoints, target.joint_names, tstats, "sideways", size=target.size)
    assert checked == []


def test_upper_mode_places_a_webcam_bust(target, tstats) -> None:
    # Webcam framing: a large close-up whose legs are out of view; an exact scaled copy of the
    # target's upper body, so the upper joints must land on the target's.
    src = _hide(affine(target, 2.5, -300, 100, size=(1280, 960)), LEGS)
    out = normalize_sequence(src, tstats, "upper")
    upper = [i for i, j in enumerate(BODY25.joints) if j not in LEGS]
    np.testing.assert_allclose(out.keypoints[:, upper], target.keypoints[:, upper], atol=1e-3)
    legs = [BODY25.index(j) for j in LEGS]
    assert (out.keypoints[:, legs] == 0).all()
    # Auto sees no ankles and picks upper.
    assert normalize_sequence(src, tstats, "auto").extractor.endswith("normalize:upper")


def test_joints_guessed_outside_the_frame_count_as_missing(target, tstats) -> None:
    # MediaPipe extrapolates landmarks it cannot see: legs below a webcam's frame come with
    # coordinates outside it (and some confidence). They must not make auto pick edn.
    src = affine(target, 2.5, -300, 100, size=(1280, 960))
    kp = src.keypoints.copy()
    legs = [BODY25.index(j) for j in LEGS]
    kp[:, legs, 1] = 960 + 40 + np.arange(len(legs))
    kp[:, legs, 2] = 0.4
    guessed = src.with_keypoints(kp)
    st = SubjectPoseStats.from_sequence(guessed)
    assert st.frames_with_ankles == 0 and st.ankle_visible_fraction == 0
    out = normalize_sequence(guessed, tstats, "auto")
    assert out.extractor.endswith("normalize:upper")
    assert (out.keypoints[:, legs] == 0).all()
    upper = [i for i in range(25) if i not in legs]
    np.testing.assert_allclose(out.keypoints[:, upper], target.keypoints[:, upper], atol=1e-3)


@pytest.mark.parametrize("visible, expected", [(1.0, "retarget"), (0.7, "retarget"), (0.6, "retarget"),
                                               (0.5, "upper"),
                                               (0.0, "upper")])
def test_auto_picks_retarget_only_when_ankles_are_mostly_visible(target, tstats, visible, expected) -> None:
    src = affine(target, 0.8, 0, 0)
    n_hidden = int(round((1 - visible) * len(src)))
    src = _hide(src, ("l_ankle", "r_ankle"), slice(0, n_hidden))
    sst = SubjectPoseStats.from_sequence(src)
    assert sst.ankle_visible_fraction == pytest.approx(visible)
    assert choose_mode(sst, tstats) == expected
    assert normalize_sequence(src, tstats, "auto").extractor.endswith(expected)


def test_auto_falls_back_to_upper_when_target_has_no_ankles(target) -> None:
    tst = SubjectPoseStats.from_sequence(_hide(target, LEGS))
    assert choose_mode(SubjectPoseStats.from_sequence(target), tst) == "upper"


def test_given_source_stats_are_used(target, tstats) -> None:
    src = affine(target, 0.5, 0, 0)
    # Statistics of a different (twice as large) recording of the same person: everything
    # comes out twice as small relative to the statistics' own view.
    other = SubjectPoseStats.from_sequence(affine(target, 1.0, 0, 0))
    out = normalize_sequence(src, tstats, "edn", source_stats=other)
    assert np.median(heights(out.keypoints) / heights(target.keypoints)) == pytest.approx(0.5, rel=0.05)


def _message(fn, *args) -> str:
    with pytest.raises((InputError, ValueError)) as e:
        fn(*args)
    return str(e.value)


def test_what_is_missing_is_said_in_full(tstats, target) -> None:
    """Each refusal names the skeleton, the joint, the mode and what to use instead (the line a
    user reads), for every mode and every missing part."""
    joints = ("nose", "neck", "l_shoulder", "r_shoulder")
    still = (np.full(30, 400.0), np.full(30, 300.0), np.full(30, 200.0))
    bust = sequence(place(dance(30, joints), *still), joints=joints, skeleton="bust")
    legs = ("nose", "l_ankle", "r_ankle")
    leg_seq = sequence(place(dance(30, legs), *still), joints=legs, skeleton="legs")
    no_ankles = _hide(target, ("l_ankle", "r_ankle"))
    no_shoulders = _hide(target, ("l_shoulder", "r_shoulder"))
    got = {
        "bust edn": _message(normalize_sequence, bust, tstats, "edn"),
        "bust retarget": _message(normalize_sequence, bust, tstats, "retarget"),
        "hidden ankles": _message(normalize_sequence, no_ankles, tstats, "retarget"),
        "target ankles": _message(normalize_sequence, target,
                                  SubjectPoseStats.from_sequence(no_ankles), "edn"),
        "legs upper": _message(normalize_sequence, leg_seq, tstats, "upper"),
        "hidden shoulders": _message(normalize_sequence, no_shoulders, tstats, "upper"),
        "target shoulders": _message(normalize_sequence, target,
                                     SubjectPoseStats.from_sequence(no_shoulders), "upper"),
        "mode": _message(normalize_sequence, target, tstats, "sideways"),
    }
    assert got == {
        "bust edn": "the source skeleton 'bust' has no ankle joint (l_ankle/r_ankle); mode edn "
                    "needs one (use --mode upper)",
        "bust retarget": "the source skeleton 'bust' has no ankle joint (l_ankle/r_ankle); mode "
                         "retarget needs one (use --mode upper)",
        "hidden ankles": "no ankle is visible in any source frame; mode retarget needs them (use "
                         "--mode upper (or auto) for upper-body footage)",
        "target ankles": "the target statistics have no ankle positions; mode edn needs a target "
                         "filmed with its feet in view (use --mode upper)",
        "legs upper": "the source skeleton 'legs' lacks a shoulder joint (l_shoulder, r_shoulder); "
                      "mode upper needs both (use --mode edn)",
        "hidden shoulders": "both shoulders are never visible together in the source; mode upper "
                            "needs them (use --mode edn)",
        "target shoulders": "the target statistics have no shoulder positions; mode upper needs "
                            "them (use --mode edn)",
        "mode": "unknown normalization mode 'sideways' (known: auto, edn, retarget, upper)",
    }


# ---- laws found unchecked by the mutation run (docs/MUTATION.md, pose group) ------------------

ANKLE_IDX = [BODY25.index("l_ankle"), BODY25.index("r_ankle")]


def test_defaults_are_auto_mode_and_the_sources_own_statistics(tstats) -> None:
    """Without options, make_plan / normalize_keypoints / normalize_sequence resolve mode "auto"
    and measure the source themselves (no size, skeleton or confidence threshold), the plan keeps
    the target statistics it was given, and EdnParams narrows the depth range unless told not to."""
    src = walking(150, near=260, far=200, horizon=100, x0=100, size=(320, 300), seed=3)
    kp, names = src.keypoints, src.joint_names
    plan = make_plan(kp, names, tstats)
    assert plan.mode == "retarget" and plan.target is tstats
    assert plan.source == SubjectPoseStats.from_keypoints(kp, names, (0, 0))
    out, plan2 = normalize_keypoints(kp, names, tstats)
    assert plan2.mode == "retarget"
    np.testing.assert_array_equal(out, make_plan(kp, names, tstats, "auto").apply(kp))
    seq = normalize_sequence(src, tstats)
    assert seq.extractor == "test+normalize:retarget"
    np.testing.assert_array_equal(seq.keypoints, normalize_sequence(src, tstats, "auto").keypoints)
    # This source travels less in depth (relative to its height) than the target: narrowed.
    narrowed = EdnParams.from_stats(plan.source, tstats, True)
    assert EdnParams.from_stats(plan.source, tstats) == narrowed
    assert narrowed != EdnParams.from_stats(plan.source, tstats, False)


def test_the_extractor_names_the_chain_of_steps(target, tstats) -> None:
    """The output's `extractor` is the source's extractor + "+normalize:MODE", or
    "normalize:MODE" alone when the source names none."""
    src = affine(target, 0.6, 31, -52, size=(320, 240))
    assert normalize_sequence(src, tstats, "edn").extractor == "test+normalize:edn"
    assert normalize_sequence(src.with_keypoints(src.keypoints, extractor=""), tstats,
                              "upper").extractor == "normalize:upper"


def test_auto_falls_back_to_retarget_when_ankles_are_seldom_seen_and_there_are_no_shoulders(
        tstats) -> None:
    """Ankles seen in under 60 % of the frames and no shoulders in the skeleton: auto still picks
    retarget (an ankle mode, the only kind that can work) rather than refusing."""
    legs = ("nose", "l_ankle", "r_ankle")
    n = 30
    seq = sequence(place(dance(n, legs), np.linspace(380, 420, n), np.full(n, 300.0), np.full(n, 200.0)),
                   joints=legs, skeleton="legs")
    kp = seq.keypoints.copy()
    kp[: n // 2, 1:] = 0                                   # ankles seen in half of the frames
    seq = seq.with_keypoints(kp)
    sst = SubjectPoseStats.from_sequence(seq)
    assert sst.ankle_visible_fraction == pytest.approx(0.5) and not sst.has_upper
    assert choose_mode(sst, tstats) == "retarget"
    assert normalize_sequence(seq, tstats, "auto").extractor == "test+normalize:retarget"


def test_the_remaining_refusals_are_said_in_full(target, tstats) -> None:
    """Nothing in common (auto) and a zero shoulder width without head joints (upper) each raise
    an InputError with its whole message and hint."""
    legs = ("nose", "l_ankle", "r_ankle")
    still = (np.full(30, 400.0), np.full(30, 300.0), np.full(30, 200.0))
    leg_seq = sequence(place(dance(30, legs), *still), joints=legs, skeleton="legs")
    nothing = _hide(leg_seq, ("l_ankle", "r_ankle"))
    with pytest.raises(InputError) as e:
        normalize_sequence(nothing, tstats, "auto")
    assert e.value.path is None and str(e.value) == (
        "cannot normalize: neither the ankles (edn) nor both shoulders (upper) are visible in both "
        "the source and the target (check that the pose files show a person)")
    edge_on = replace(tstats, shoulder_width=0.0, head_shoulder=None)   # seen from the side
    with pytest.raises(InputError) as e:
        normalize_sequence(target, tstats, "upper", source_stats=edge_on)
    assert e.value.path is None
    assert str(e.value) == "shoulder width is zero in the source or target statistics"


def test_upper_scale_uses_only_the_measures_both_people_have(target, tstats) -> None:
    """upper_transform's scale is the geometric mean of the ratios both sides have: without the
    target's head joints it is the shoulder-width ratio alone, with the target's shoulders
    edge-on (width 0) the head-shoulder ratio alone; the median shoulder centres then coincide."""
    sst = SubjectPoseStats.from_sequence(affine(target, 0.5, 10, 20))
    odd_head = replace(sst, head_shoulder=3.0 * sst.head_shoulder)   # would pull the mean off
    s, tx, ty = upper_transform(odd_head, replace(tstats, head_shoulder=None))
    assert s == pytest.approx(tstats.shoulder_width / sst.shoulder_width, rel=1e-12)
    (sx, sy), (gx, gy) = sst.shoulder_centre, tstats.shoulder_centre
    assert (tx, ty) == pytest.approx((gx - s * sx, gy - s * sy), rel=1e-12)
    s2, _, _ = upper_transform(sst, replace(tstats, shoulder_width=0.0))
    assert s2 == pytest.approx(tstats.head_shoulder / sst.head_shoulder, rel=1e-12)


def test_statistics_without_a_centre_use_the_middle_of_their_frame(target, tstats) -> None:
    """EdnParams.from_stats: a side whose statistics have no x centre is centred on the middle
    of its own frame's width; every other number is unchanged."""
    sst = SubjectPoseStats.from_sequence(affine(target, 0.5, 10, 20, size=(320, 240)))
    ref = EdnParams.from_stats(sst, tstats)
    got = EdnParams.from_stats(replace(sst, x_centre=None), replace(tstats, x_centre=None))
    assert (got.xc_s, got.xc_t) == (160.0, 320.0)
    assert replace(got, xc_s=ref.xc_s, xc_t=ref.xc_t) == ref


def test_a_source_that_travels_further_in_depth_leaves_the_targets_range_alone(tstats) -> None:
    """Depth range matching only narrows: a source that moves more in depth (in body heights)
    than the target keeps the target's whole far..close range, as without matching."""
    src = walking(150, near=460, far=200, horizon=100, size=(640, 480))
    sst = SubjectPoseStats.from_sequence(src)
    rel_s = (sst.ankle_close - sst.ankle_far) / (0.5 * (sst.height_far + sst.height_close))
    rel_t = (tstats.ankle_close - tstats.ankle_far) / (0.5 * (tstats.height_far + tstats.height_close))
    assert rel_s > rel_t
    assert EdnParams.from_stats(sst, tstats, True) == EdnParams.from_stats(sst, tstats, False)


@pytest.mark.parametrize("match", [True, False])
def test_normalization_does_not_depend_on_the_unit_of_the_coordinates(target, tstats, match) -> None:
    """The EDN transform is a similarity between two people's statistics: the same poses and
    statistics in another unit (here 512 px, so a body is under one unit tall and the ankle
    travels a fraction of one) give the same result in that unit."""
    src = walking(150, near=260, far=200, horizon=100, x0=100, size=(320, 300), seed=3)
    unit = 1.0 / 512.0                                      # exact in binary: no rounding
    small_src = src.keypoints.copy()
    small_src[..., :2] *= unit
    small_tgt = target.keypoints.copy()
    small_tgt[..., :2] *= unit
    small_stats = SubjectPoseStats.from_keypoints(small_tgt, target.joint_names, target.size)
    assert small_stats.height_close < 1.0 and small_stats.height_far < 1.0
    out, _ = normalize_keypoints(src.keypoints, src.joint_names, tstats, "edn", size=src.size,
                                 match_depth_range=match)
    small, _ = normalize_keypoints(small_src, src.joint_names, small_stats, "edn", size=src.size,
                                   match_depth_range=match)
    np.testing.assert_allclose(small[..., :2] / unit, out[..., :2], rtol=1e-6, atol=1e-3)


def test_a_source_standing_still_is_placed_at_the_targets_mid_depth(tstats) -> None:
    """A source whose ankle never moves has no depth range: without range matching every frame
    stands at the target's mid depth (ankle y half-way between far and close) at the target's
    mid height, and frames without an ankle hold that transform."""
    n = 40
    src = _hide(sequence(place(dance(n), np.full(n, 400.0), np.full(n, 300.0), np.full(n, 200.0))),
                ("l_ankle", "r_ankle"), slice(10, 15))
    out = normalize_sequence(src, tstats, "edn", match_depth_range=False).keypoints
    seen = np.r_[0:10, 15:n]
    ankle = out[seen][:, ANKLE_IDX, 1].max(axis=1)
    np.testing.assert_allclose(ankle, 0.5 * (tstats.ankle_far + tstats.ankle_close), atol=1e-3)
    np.testing.assert_allclose(heights(out[seen]), 0.5 * (tstats.height_far + tstats.height_close),
                               rtol=1e-4)
    neck = BODY25.index("neck")
    np.testing.assert_allclose(out[10:15, neck], np.repeat(out[9:10, neck], 5, axis=0), atol=1e-3)


def test_no_ankle_in_any_frame_places_the_source_at_mid_depth(tstats) -> None:
    """With source statistics from a longer recording, a sequence that never shows an ankle is
    mapped in every frame by the mid-depth transform `EdnParams.default()`: the transform of a
    frame whose ankle stands half-way between the source's far and close positions."""
    full = walking(100, near=260, far=200, horizon=100, size=(640, 480))
    sst = SubjectPoseStats.from_sequence(full)
    bust = _hide(full, LEGS)
    out = normalize_sequence(bust, tstats, "edn", source_stats=sst)
    edn = EdnParams.from_stats(sst, tstats)
    d = edn.default()
    mid = edn.transforms(np.array([0.5 * (edn.far_s + edn.close_s)]))
    assert d == pytest.approx(tuple(float(v[0]) for v in mid), rel=1e-12)
    assert edn.hfar_s != edn.hclose_s and edn.far_t != edn.close_t and edn.xc_s != 0
    np.testing.assert_allclose(out.keypoints, apply_transform(bust.keypoints, *d), atol=1e-4)
    assert np.isfinite(out.keypoints).all() and (out.keypoints[:, ANKLE_IDX] == 0).all()


def test_min_confidence_makes_weak_ankles_missing_for_statistics_and_placement(tstats) -> None:
    """Ankles at or under `min_confidence` count as missing: the statistics ignore them and their
    frames hold the last good transform, exactly as if those ankles were not there, while the
    weak joints themselves are still transformed."""
    src = walking(150, near=260, far=200, horizon=100, x0=100, size=(320, 300))
    weak = slice(130, 140)
    kp = src.keypoints.copy()
    for j in ANKLE_IDX:
        kp[weak, j, 1] += 30.0                               # a glitch the estimator was unsure of
        kp[weak, j, 2] = 0.3
    glitchy = src.with_keypoints(kp)
    out = normalize_sequence(glitchy, tstats, "edn", min_confidence=0.5)
    plan = make_plan(kp, src.joint_names, tstats, "edn", size=src.size, min_confidence=0.5)
    assert plan.source == SubjectPoseStats.from_keypoints(kp, src.joint_names, src.size,
                                                          min_confidence=0.5)
    hidden = kp.copy()
    for j in ANKLE_IDX:
        hidden[weak, j, 2] = 0.0
    ref = make_plan(hidden, src.joint_names, tstats, "edn", size=src.size)
    assert plan.source.ankle_close == ref.source.ankle_close
    s, tx, ty = (hold_fill(v) for v in ref.transforms(hidden))
    assert np.isnan(ref.transforms(hidden)[0][weak]).all()
    np.testing.assert_allclose(out.keypoints, apply_transform(kp, s, tx, ty), atol=1e-3)


def test_retarget_gives_the_targets_proportions_even_past_the_frame_edge() -> None:
    """Retarget mode on two synthetic dancers doing the same motion: ada's poses on kofi's
    statistics get kofi's shoulder width relative to the trunk (edn keeps ada's). EDN then places
    them with statistics of the retargeted poses, weak joints excluded and joints counted even
    where the wider shoulders now reach past the frame's left edge (ada stands at it)."""
    angles = motion_angles("dance", 2, 30, seed=1)
    _, ada = render_sequence("ada", angles=angles, size=(256, 256), supersample=1)
    _, kofi = render_sequence("kofi", angles=angles, size=(256, 256), supersample=1)
    names = ada.joint_names
    kp = ada.keypoints.copy()
    seen = kp[..., 2] > 0
    kp[..., 0] = np.where(seen, kp[..., 0] - (kp[..., 0][seen].min() - 1.0), 0.0)
    kp[::3, BODY25.index("l_wrist"), 2] = 0.3                 # weak: missing at 0.5
    src = ada.with_keypoints(kp)
    kst = SubjectPoseStats.from_sequence(kofi)

    def shoulders_per_trunk(k: np.ndarray) -> float:
        j = BODY25.index
        w = np.linalg.norm(k[:, j("l_shoulder"), :2] - k[:, j("r_shoulder"), :2], axis=-1)
        return float(np.median(w / np.linalg.norm(k[:, j("neck"), :2] - k[:, j("mid_hip"), :2], axis=-1)))

    ret = normalize_sequence(src, kst, "retarget", min_confidence=0.5).keypoints
    edn = normalize_sequence(src, kst, "edn", min_confidence=0.5).keypoints
    assert shoulders_per_trunk(ret) == pytest.approx(shoulders_per_trunk(kofi.keypoints), rel=0.01)
    assert shoulders_per_trunk(edn) == pytest.approx(shoulders_per_trunk(ada.keypoints), rel=0.01)
    assert shoulders_per_trunk(kofi.keypoints) > 1.15 * shoulders_per_trunk(ada.keypoints)
    # The placement statistics, built again from retarget's own pieces.
    sst = SubjectPoseStats.from_keypoints(kp, names, src.size, "body25", min_confidence=0.5)
    bones = skeleton_bones(names, "body25")
    moved = retarget_keypoints(kp, names, bones, bone_ratios(sst, kst, bones), 0.5)
    assert (moved[..., 0][moved[..., 2] > 0] < 0).any()      # past the left edge
    plan = make_plan(drop_outside(kp, src.size), names, kst, "retarget", size=src.size,
                     skeleton="body25", min_confidence=0.5)
    placed = SubjectPoseStats.from_keypoints(moved, names, src.size, "body25", min_confidence=0.5,
                                             inside_only=False)
    # Ankle positions, centre and bones are the retargeted poses'; the heights are the source's
    # own times the median per-frame height ratio retargeted / source (`_retargeted_heights`).
    inside = drop_outside(kp, src.size)
    own = SubjectPoseStats.from_keypoints(inside, names, src.size, "body25", min_confidence=0.5)

    def body_heights(k: np.ndarray) -> np.ndarray:
        return ankle_y(k, names, 0.5) - top_y(k, names, 0.5)[0]

    retargeted = retarget_keypoints(inside, names, bones, bone_ratios(own, kst, bones), 0.5)
    ratio = body_heights(retargeted) / body_heights(inside)
    k = float(np.median(ratio[np.isfinite(ratio)]))
    assert plan.placed == replace(placed, height_far=own.height_far * k,
                                 height_close=own.height_close * k)
    assert k == pytest.approx(placed.height_far / own.height_far, rel=0.02)   # kofi's legs: the same


def test_apply_transform_returns_float32_whatever_it_is_given() -> None:
    """apply_transform maps float64 keypoints too, and returns float32 (T, K, 3) as documented."""
    kp = np.concatenate([np.random.default_rng(0).uniform(0, 100, (3, 4, 2)), np.ones((3, 4, 1))], -1)
    out = apply_transform(kp, np.array([1.0, 2.0, 0.5]), 3.0, np.array([0.0, -1.0, 4.0]))
    assert out.dtype == np.float32 and out.shape == (3, 4, 3)
    np.testing.assert_allclose(out[1, :, 0], kp[1, :, 0] * 2 + 3, rtol=1e-6)


def test_normalize_sequence_logs_its_mode(target, tstats, caplog) -> None:
    """One debug line per sequence: how many frames and the mode used."""
    caplog.set_level(logging.DEBUG, logger="rtmotion.pose.normalize")
    normalize_sequence(affine(target, 0.6, 31, -52), tstats, "auto")
    assert [r.getMessage() for r in caplog.records if r.name == "rtmotion.pose.normalize"] == [
        "normalized 200 frames with mode retarget"]


def test_a_person_smaller_when_closer_gets_one_height_for_every_depth(tstats) -> None:
    """Heights near far/close that shrink towards the camera are pose noise, never the camera
    (`plausible_heights`): the pair's mean stands for both, so the scale stops following depth."""
    assert plausible_heights(100.0, 90.0) == (95.0, 95.0)
    assert plausible_heights(90.0, 100.0) == (90.0, 100.0)
    assert plausible_heights(90.0, 90.0) == (90.0, 90.0)
    bent = replace(tstats, height_far=tstats.height_close * 1.2)          # inverted on purpose
    p = EdnParams.from_stats(bent, tstats, match_depth_range=False)
    assert p.hfar_s == p.hclose_s == pytest.approx(0.5 * (bent.height_far + bent.height_close))
    s, _, _ = p.transforms(np.array([bent.ankle_far, bent.ankle_close]))
    # Only the target's depth changes the scale now: its heights' ratio, nothing of the source's.
    assert s[1] / s[0] == pytest.approx(tstats.height_close / tstats.height_far)
