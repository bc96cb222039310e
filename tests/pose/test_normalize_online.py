"""OnlineNormalizer: warm-up, convergence to the offline result, refine(), auto mode, holds."""

from __future__ import annotations

import numpy as np
import pytest
from test_normalize_figures import affine, walking

from rtmotion.pose.normalize import OnlineNormalizer, make_plan
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
    assert norm.mode == plan.mode == ("edn" if mode == "auto" else mode)
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
