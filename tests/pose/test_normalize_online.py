"""OnlineNormalizer: warm-up, convergence to the offline result, refine(), auto mode, holds."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from test_normalize_figures import affine, walking

from rtmotion.pose.normalize import OnlineNormalizer, apply_transform, make_plan
from rtmotion.pose.skeleton import BODY25
from rtmotion.pose.stats import SubjectPoseStats

LEGS = ("mid_hip", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "l_big_toe",
        "l_small_toe", "l_heel", "r_big_toe", "r_small_toe", "r_heel")


@pytest.fixture(scope="module")
def target():
    return walking(200, near=450, far=300, horizon=150, k=1.0)


@pytest.fixture(scope="module")
def tstats(target):
    return SubjectPoseStats.from_sequence(target)


@pytest.mark.parametrize("mode", ["edn", "retarget", "upper", "auto"])
def test_after_warm_up_online_equals_offline_on_the_warm_up_statistics(target, tstats, mode) -> None:
    src = walking(150, near=260, far=200, horizon=100, size=(320, 240), seed=5)
    norm = OnlineNormalizer(tstats, BODY25.joints, mode=mode, fps=30, warmup_seconds=2.0)
    assert norm.warmup_frames == 60 and norm.warming_up and norm.mode is None
    outs = [norm(kp) for kp in src.keypoints]
    assert not norm.warming_up and not norm.refining
    # Frozen statistics are exactly those of the warm-up window.
    window = src.keypoints[:60]
    assert norm.source_stats == SubjectPoseStats.from_keypoints(window, BODY25.joints, (0, 0))
    plan = make_plan(window, BODY25.joints, tstats, mode)
    assert norm.mode == plan.mode == ("retarget" if mode == "auto" else mode)
    # From the last warm-up frame on, each output is the offline plan's (no ankle is missing).
    np.testing.assert_allclose(np.stack(outs[59:]), plan.apply(src.keypoints[59:]), atol=1e-3)
    assert all(np.isfinite(o).all() and o.dtype == np.float32 for o in outs)


def test_warm_up_outputs_follow_the_poses_so_far(tstats) -> None:
    src = affine(walking(90), 0.5, 0, 0)
    norm = OnlineNormalizer(tstats, BODY25.joints, mode="edn", fps=30, warmup_seconds=1.0)
    first = norm(src.keypoints[0])
    # One pose is its own statistics: it stands at the target's mid depth, at that height,
    # centred on the target's centre.
    mid = 0.5 * (tstats.ankle_far + tstats.ankle_close)
    h_mid = 0.5 * (tstats.height_far + tstats.height_close)
    a = max(first[BODY25.index("l_ankle"), 1], first[BODY25.index("r_ankle"), 1])
    assert a == pytest.approx(mid, abs=1e-3)
    assert a - first[BODY25.index("l_eye"), 1] == pytest.approx(h_mid, rel=1e-4)
    outs = [norm(kp) for kp in src.keypoints[1:]]
    assert len(outs) == 89 and not norm.warming_up


def test_refine_restarts_accumulation_and_swaps_when_full(tstats) -> None:
    a = walking(60, near=260, far=200, horizon=100, size=(320, 240))
    b = affine(a, 2.0, 0, 0)   # the same dancer, now twice as large (walked to the camera)
    norm = OnlineNormalizer(tstats, BODY25.joints, mode="edn", fps=30, warmup_seconds=1.0)
    for kp in a.keypoints:
        norm(kp)
    old = norm.plan
    first_b = norm(b.keypoints[0])
    # Without refine the old statistics make the larger person larger.
    assert np.ptp(first_b[:, 1]) > 1.5 * np.ptp(old.apply(a.keypoints[:1])[0][:, 1])
    norm.refine()
    assert norm.refining and not norm.warming_up
    for kp in b.keypoints[:29]:
        out = norm(kp)
        assert norm.plan is old   # still the old plan while the new window fills
    np.testing.assert_allclose(out, old.apply(b.keypoints[28:29])[0], atol=1e-3)
    for kp in b.keypoints[29:]:
        out = norm(kp)
    assert norm.plan is not old and not norm.refining
    assert norm.source_stats == SubjectPoseStats.from_keypoints(b.keypoints[:30], BODY25.joints, (0, 0))
    # The refined statistics undo the size change: b maps where a did.
    np.testing.assert_allclose(out, old.apply(a.keypoints[-1:])[0], atol=0.5)


def test_live_auto_decides_from_visibility_after_warm_up(tstats) -> None:
    src = affine(walking(60), 2.0, -300, 100)
    kp = src.keypoints.copy()
    for j in LEGS:
        kp[:, BODY25.index(j)] = 0       # webcam framing: no legs
    norm = OnlineNormalizer(tstats, BODY25.joints, mode="auto", fps=30, warmup_seconds=1.0)
    outs = [norm(p) for p in kp]
    assert norm.mode == "upper"
    assert all((o[[BODY25.index(j) for j in LEGS]] == 0).all() for o in outs)


def test_frames_without_person_or_ankles(tstats) -> None:
    src = walking(60, near=260, far=200, horizon=100, size=(320, 240))
    norm = OnlineNormalizer(tstats, BODY25.joints, mode="edn", fps=30, warmup_seconds=1.0)
    empty = np.zeros((25, 3), np.float32)
    assert (norm(empty) == 0).all()                      # nobody: nothing, and no plan yet
    assert norm.warming_up and len(norm._buffer) == 0    # empty frames do not count
    for kp in src.keypoints[:40]:
        last = norm(kp)
    no_ankle = src.keypoints[40].copy()
    no_ankle[[BODY25.index("l_ankle"), BODY25.index("r_ankle")]] = 0
    out = norm(no_ankle)
    # Held: the neck moves as if the previous frame's transform applied.
    plan = norm.plan
    s, tx, ty = (float(v[0]) for v in plan.transforms(src.keypoints[39:40]))
    neck = BODY25.index("neck")
    assert out[neck, 0] == pytest.approx(no_ankle[neck, 0] * s + tx, abs=1e-3)
    assert out[neck, 1] == pytest.approx(no_ankle[neck, 1] * s + ty, abs=1e-3)
    assert np.isfinite(out).all() and (out[BODY25.index("l_ankle")] == 0).all()
    assert np.isfinite(last).all()


def test_edn_without_any_ankle_yet_outputs_nothing(tstats) -> None:
    src = walking(10)
    kp = src.keypoints.copy()
    kp[:, [BODY25.index("l_ankle"), BODY25.index("r_ankle")]] = 0
    norm = OnlineNormalizer(tstats, BODY25.joints, mode="edn", fps=10, warmup_seconds=0.5)
    assert all((norm(p) == 0).all() for p in kp)
    assert norm.warming_up
    # Once ankles appear the plan forms.
    for p in src.keypoints:
        out = norm(p)
    assert not norm.warming_up and (out[:, 2] > 0).all()


def test_online_cost_per_frame(tstats) -> None:
    import time

    src = walking(300)
    norm = OnlineNormalizer(tstats, BODY25.joints, mode="edn", fps=30, warmup_seconds=2.0)
    for kp in src.keypoints[:60]:
        norm(kp)
    t0 = time.perf_counter()
    for kp in src.keypoints[60:]:
        norm(kp)
    per_frame_ms = (time.perf_counter() - t0) / 240 * 1e3
    assert per_frame_ms < 5.0   # generous; measured ~0.05 ms on the 2-core dev machine


# ---- laws found unchecked by the mutation run (docs/MUTATION.md, pose group) ------------------

ANKLES = [BODY25.index("l_ankle"), BODY25.index("r_ankle")]


def test_defaults_warm_up_for_two_seconds_at_30_fps_in_auto_mode(tstats) -> None:
    """OnlineNormalizer(target, joints) alone: nothing (zeros (K, 3) float32) for an empty pose,
    then 60 poses of warm-up (2 s at 30 fps), mode auto resolved from them."""
    src = walking(61, near=260, far=200, horizon=100, x0=100, size=(320, 300))
    norm = OnlineNormalizer(tstats, BODY25.joints)
    empty = norm(np.zeros((25, 3), np.float32))
    assert empty.shape == (25, 3) and empty.dtype == np.float32 and not empty.any()
    for kp in src.keypoints[:59]:
        norm(kp)
    assert norm.warming_up
    norm(src.keypoints[59])
    assert not norm.warming_up and norm.mode == "retarget"
    assert norm.source_stats == SubjectPoseStats.from_keypoints(src.keypoints[:60], BODY25.joints, (0, 0))


def test_an_unknown_mode_is_refused_with_the_known_ones() -> None:
    """The live normalizer names the bad mode and lists the known ones."""
    with pytest.raises(ValueError) as e:
        OnlineNormalizer(SubjectPoseStats.from_sequence(walking(10)), BODY25.joints, mode="sideways")
    assert str(e.value) == "unknown normalization mode 'sideways' (known: auto, edn, retarget, upper)"


@pytest.mark.parametrize("update_every", [None, 1])
def test_the_warm_up_plan_is_remade_every_few_poses(tstats, update_every) -> None:
    """During the first warm-up, pose n (1-based) is placed by the plan of the first m poses,
    m = 1 + k * floor((n - 1) / k), k = `update_every` (default 4; 1 = remade at every pose)."""
    src = walking(30, near=260, far=200, horizon=100, x0=100, size=(320, 300))
    kw = {} if update_every is None else {"update_every": update_every}
    norm = OnlineNormalizer(tstats, BODY25.joints, mode="edn", fps=30, warmup_seconds=1.0, **kw)
    k = update_every or 4
    for n, kp in enumerate(src.keypoints[:29], start=1):
        out = norm(kp)
        m = 1 + k * ((n - 1) // k)
        want = make_plan(src.keypoints[:m], BODY25.joints, tstats, "edn").apply(kp[None])[0]
        np.testing.assert_allclose(out, want, atol=1e-4, err_msg=f"pose {n}")
    assert norm.warming_up


def test_a_warm_up_shorter_than_a_frame_freezes_the_plan_at_the_first_pose(tstats) -> None:
    """A warm-up under one frame still takes one pose: the plan is frozen right after it."""
    src = walking(3)
    norm = OnlineNormalizer(tstats, BODY25.joints, mode="edn", fps=30, warmup_seconds=0.01)
    assert norm.warming_up
    norm(src.keypoints[0])
    assert not norm.warming_up and not norm.refining
    assert norm.source_stats == SubjectPoseStats.from_keypoints(src.keypoints[:1], BODY25.joints, (0, 0))


def test_a_switch_to_retarget_on_a_frame_without_ankles_starts_at_mid_depth(tstats) -> None:
    """Auto during warm-up: the first pose shows no ankle (upper); when the plan is remade with
    ankles mostly seen it becomes retarget, and if that very frame has no ankle it is placed by
    the plan's EDN mid-depth transform, not by a transform held over from upper mode."""
    src = walking(10, near=260, far=200, horizon=100, x0=100, size=(320, 300))
    kp = src.keypoints.copy()
    kp[0, ANKLES] = 0
    kp[8, ANKLES] = 0
    norm = OnlineNormalizer(tstats, BODY25.joints, mode="auto", fps=30, warmup_seconds=1.0, update_every=8)
    modes = []
    for p in kp[:8]:
        norm(p)
        modes.append(norm.mode)
    assert modes == ["upper"] * 8
    out = norm(kp[8])
    plan = make_plan(kp[:9], BODY25.joints, tstats, "auto")
    assert plan.mode == norm.mode == "retarget"
    np.testing.assert_allclose(out, apply_transform(plan.prepare(kp[8:9]), *plan.edn.default())[0],
                               atol=1e-4)


def test_a_full_window_without_a_plan_outputs_nothing(tstats) -> None:
    """When the full warm-up window cannot give a plan (here the shoulders turn edge-on, width 0,
    and no head is seen) the output is nothing, not the provisional plan of the first poses."""
    src = walking(5, near=260, far=200, horizon=100, x0=100, size=(320, 300))
    kp = src.keypoints.copy()
    for j in ("nose", "l_eye", "r_eye", "l_ear", "r_ear"):
        kp[:, BODY25.index(j)] = 0
    kp[1:, BODY25.index("r_shoulder")] = kp[1:, BODY25.index("l_shoulder")]
    norm = OnlineNormalizer(tstats, BODY25.joints, mode="upper", fps=10, warmup_seconds=0.5)
    outs = [norm(p) for p in kp]
    assert all(o[:, 2].any() for o in outs[:4])          # the provisional plan of pose 1
    assert not outs[4].any() and norm.warming_up


def test_the_plan_comes_from_the_last_window_of_poses(tstats) -> None:
    """Poses without an ankle fill the edn warm-up window without giving a plan; the window slides,
    so the plan, once possible, comes from the last `warmup_frames` poses only."""
    src = walking(20, near=260, far=200, horizon=100, x0=100, size=(320, 300))
    kp = src.keypoints.copy()
    kp[:10, ANKLES] = 0
    norm = OnlineNormalizer(tstats, BODY25.joints, mode="edn", fps=10, warmup_seconds=0.5)
    for p in kp[:11]:
        norm(p)
    assert not norm.warming_up
    assert norm.source_stats == SubjectPoseStats.from_keypoints(kp[6:11], BODY25.joints, (0, 0))


def test_every_option_reaches_the_live_plan(tstats) -> None:
    """size, skeleton, min_confidence and match_depth_range given to OnlineNormalizer make the same
    plan as make_plan with them on the warm-up window, and the same output afterwards."""
    src = walking(40, near=260, far=200, horizon=100, x0=100, size=(320, 300))
    kp = src.keypoints.copy()
    kp[::3, BODY25.index("l_wrist"), 2] = 0.3             # weak: missing at 0.5
    opts = {"size": (320, 300), "skeleton": "body25", "min_confidence": 0.5, "match_depth_range": False}
    norm = OnlineNormalizer(tstats, BODY25.joints, mode="edn", fps=30, warmup_seconds=1.0, **opts)
    outs = [norm(p) for p in kp]
    ref = make_plan(kp[:30], BODY25.joints, tstats, "edn", **opts)
    assert norm.plan.source == ref.source and norm.plan.edn == ref.edn
    matched = make_plan(kp[:30], BODY25.joints, tstats, "edn", **{**opts, "match_depth_range": True})
    assert ref.edn != matched.edn
    np.testing.assert_allclose(np.stack(outs[29:]), ref.apply(kp[29:]), atol=1e-4)


def test_the_live_plan_is_logged(tstats, caplog) -> None:
    """A failed provisional plan is a debug line with the reason; the frozen plan an info line
    with the window's length and the mode."""
    caplog.set_level(logging.DEBUG, logger="rtmotion.pose.normalize")
    kp = walking(6).keypoints.copy()
    kp[0, ANKLES] = 0
    norm = OnlineNormalizer(tstats, BODY25.joints, mode="edn", fps=10, warmup_seconds=0.5)
    for p in kp:
        norm(p)
    got = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "rtmotion.pose.normalize"]
    assert got == [
        (logging.DEBUG, ("no normalization plan yet: no ankle is visible in any source frame; mode edn "
                         "needs them (use --mode upper (or auto) for upper-body footage)")),
        (logging.INFO, "pose normalization: source statistics from 5 frames, mode edn"),
    ]
