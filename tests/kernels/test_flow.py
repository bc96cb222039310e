"""Pose flow: known answers (zero, translation, one rotated limb) and torch vs numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtmotion.kernels.flow_numpy import PoseFlowConfig, pose_flow
from rtmotion.kernels.flow_torch import pose_flow_torch
from rtmotion.kernels.maps_numpy import segment_distance2
from rtmotion.pose.skeleton import BODY25
from rtmotion.synthetic.figures import figure_keypoints, jittered, rotate_limb

SIZE = (192, 160)
# numpy (float64) vs torch (float32): max abs difference in pixels.
TOL_PX = 1e-3


def _torch(kp_a: np.ndarray, kp_b: np.ndarray, size=SIZE, cfg=None, stride: int = 1) -> np.ndarray:
    return pose_flow_torch(torch.from_numpy(kp_a[None]), torch.from_numpy(kp_b[None]), size, cfg, stride)[0].numpy()


def _dist_to_bones(kp: np.ndarray, bones: list[tuple[str, str]], size) -> np.ndarray:
    w, h = size
    px = np.arange(w, dtype=np.float64)[None, :]
    py = np.arange(h, dtype=np.float64)[:, None]
    d2 = [segment_distance2(px, py, kp[BODY25.index(a), :2], kp[BODY25.index(b), :2]) for a, b in bones]
    return np.sqrt(np.min(d2, axis=0))


def _body_dist(kp: np.ndarray, size) -> np.ndarray:
    names = BODY25.joints
    return _dist_to_bones(kp, [(names[a], names[b]) for a, b in BODY25.bones], size)


@pytest.mark.parametrize("cfg", [PoseFlowConfig(), PoseFlowConfig(transform="similarity", background="torso")])
def test_same_pose_gives_exactly_zero(cfg: PoseFlowConfig) -> None:
    kp = jittered(figure_keypoints(SIZE), np.random.default_rng(0), 2.0)
    kp[BODY25.index("l_knee"), 2] = 0
    f = pose_flow(kp, kp, SIZE, cfg)
    assert f.shape == (SIZE[1], SIZE[0], 2) and f.dtype == np.float32
    assert not f.any()
    assert not _torch(kp, kp, cfg=cfg).any()


def test_pure_translation_gives_a_constant_field() -> None:
    kp_a = figure_keypoints(SIZE)
    move = np.array([3.5, -2.25], np.float32)
    kp_b = kp_a.copy()
    kp_b[:, :2] += move
    expected = -move  # backward flow: B's pixel samples A where the body was
    body = _body_dist(kp_b, SIZE) <= PoseFlowConfig().body_radius_frac * SIZE[1]
    for fn in (pose_flow, lambda a, b, s, c: _torch(a, b, s, c)):
        f = fn(kp_a, kp_b, SIZE, PoseFlowConfig())  # background "zero": constant on the body
        assert np.abs(f[body] - expected).max() < 1e-4
        far = _body_dist(kp_b, SIZE) > 0.3 * SIZE[1]
        assert np.abs(f[far]).max() < 1e-3  # the scene behind does not move
        g = fn(kp_a, kp_b, SIZE, PoseFlowConfig(background="torso"))  # constant everywhere
        assert np.abs(g - expected).max() < 1e-4


def test_one_rotated_limb_moves_only_its_region() -> None:
    kp_a = figure_keypoints(SIZE)
    kp_b = rotate_limb(kp_a, ("r_wrist",), pivot="r_elbow", degrees=40)
    cfg = PoseFlowConfig()
    s = cfg.sigma_frac * SIZE[1]
    f = pose_flow(kp_a, kp_b, SIZE, cfg)
    mag = np.hypot(f[..., 0], f[..., 1])
    # "Its region" in the output frame (pose B): pixels the forearm is the nearest bone of.
    # Elsewhere, i.e. where another bone is clearly nearer (weight ratio < e^-12.5) or outside
    # the body (alpha < e^-12.5), nothing moves.
    names = BODY25.joints
    others = [(names[a], names[b]) for a, b in BODY25.bones if (names[a], names[b]) != ("r_elbow", "r_wrist")]
    d_fore = _dist_to_bones(kp_b, [("r_elbow", "r_wrist")], SIZE)
    d_other = _dist_to_bones(kp_b, others, SIZE)
    r, fall = cfg.body_radius_frac * SIZE[1], cfg.falloff_frac * SIZE[1]
    outside = (d_fore**2 - d_other**2 > 25 * s * s) | (np.minimum(d_fore, d_other) > r + 5 * fall)
    assert outside.mean() > 0.8  # the frame minus the forearm's neighbourhood
    assert mag[outside].max() < 0.05
    assert mag[~outside].max() > 5
    # on the forearm of pose B: the rotation back to pose A
    wb = kp_b[BODY25.index("r_wrist"), :2]
    eb = kp_b[BODY25.index("r_elbow"), :2]
    for t in (0.6, 0.9):
        p = eb + t * (wb - eb)
        xi, yi = int(round(p[0])), int(round(p[1]))
        th = np.deg2rad(-40)
        rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
        ea = kp_a[BODY25.index("r_elbow"), :2]
        want = rot @ (np.array([xi, yi]) - ea) + ea - np.array([xi, yi])
        np.testing.assert_allclose(f[yi, xi], want, atol=0.3)
    assert mag.max() > 5
    np.testing.assert_allclose(_torch(kp_a, kp_b, cfg=cfg), f, atol=TOL_PX)


def test_joints_map_onto_their_previous_positions() -> None:
    """At a (pixel-centred) joint of pose B that only its own bones are near, flow = A - B."""
    size = (256, 256)
    kp_b = figure_keypoints(size)
    kp_b[:, :2] = np.rint(kp_b[:, :2])
    kp_a = jittered(kp_b, np.random.default_rng(3), 3.0)
    f = pose_flow(kp_a, kp_b, size)
    for name in ("r_wrist", "l_wrist", "r_knee", "l_knee", "r_elbow"):
        j = BODY25.index(name)
        x, y = kp_b[j, :2].astype(int)
        np.testing.assert_allclose(f[y, x], kp_a[j, :2] - kp_b[j, :2], atol=0.05, err_msg=name)


@pytest.mark.parametrize("cfg", [PoseFlowConfig(), PoseFlowConfig(max_along=None),
                                 PoseFlowConfig(transform="similarity", background="torso")])
def test_torch_matches_numpy(cfg: PoseFlowConfig) -> None:
    rng = np.random.default_rng(7)
    base = figure_keypoints(SIZE)
    kp_a = np.stack([jittered(base, rng, 4.0) for _ in range(4)])
    kp_b = np.stack([jittered(k, rng, 5.0) for k in kp_a])
    kp_a[1, BODY25.index("r_elbow"), 2] = 0   # missing in A only
    kp_b[2, BODY25.index("l_ankle"), 2] = 0   # missing in B only
    kp_b[3, :, 2] = 0                         # nobody in B
    kp_b[0, BODY25.index("r_heel"), :2] = kp_b[0, BODY25.index("r_ankle"), :2]  # zero-length bone
    kp_b[1] = _foreshortened(kp_b[1], 1.0)                      # 1 px against ~22: translation
    kp_b[2] = _foreshortened(kp_b[2], 8.0, "l_knee", "l_hip")   # a thigh partly faded
    ref = np.stack([pose_flow(a, b, SIZE, cfg) for a, b in zip(kp_a, kp_b)])
    out = pose_flow_torch(torch.from_numpy(kp_a), torch.from_numpy(kp_b), SIZE, cfg).numpy()
    assert out.shape == ref.shape == (4, SIZE[1], SIZE[0], 2)
    assert np.abs(out - ref).max() < TOL_PX
    assert np.abs(ref[0]).max() > 1.0


def _foreshortened(kp_a: np.ndarray, length: float, joint: str = "r_wrist", parent: str = "r_elbow",
                   angle: float = 2.5) -> np.ndarray:
    """Pose A with one bone turned towards the camera: `joint` `length` px from `parent`, in a
    direction `angle` radians off (the direction of a few pixels is noise)."""
    kp_b = kp_a.copy()
    e = kp_a[BODY25.index(parent), :2]
    kp_b[BODY25.index(joint), :2] = e + length * np.array([np.cos(angle), np.sin(angle)], np.float32)
    return kp_b


def test_a_foreshortened_bone_samples_its_own_limb() -> None:
    """A forearm 0.4 px long in pose B (22 px in A): unclamped, the pixels around it sampled
    pose A dozens of forearms away (the swirls of a profile's warped keyframe); with
    `max_along` they sample near A's forearm, and the flow agrees between numpy and torch."""
    kp_a = figure_keypoints(SIZE)
    kp_b = _foreshortened(kp_a, 0.4)
    ea, wa = kp_a[BODY25.index("r_elbow"), :2], kp_a[BODY25.index("r_wrist"), :2]
    assert np.hypot(*(wa - ea)) > 20
    near = _dist_to_bones(kp_b, [("r_elbow", "r_wrist")], SIZE) <= 4.0
    ys, xs = np.nonzero(near)

    def farthest_sample(cfg: PoseFlowConfig) -> float:
        f = pose_flow(kp_a, kp_b, SIZE, cfg)
        sampled = np.stack([xs + f[ys, xs, 0], ys + f[ys, xs, 1]], -1)
        return float(np.hypot(*(sampled - ea).T).max())

    unclamped = PoseFlowConfig(max_along=None)
    assert farthest_sample(unclamped) > 100          # across the frame
    cfg = PoseFlowConfig()
    assert cfg.max_along == 1.5
    # within the elbow's neighbourhood in A: 4 px around the bone, the flow's soft seams
    assert farthest_sample(cfg) < 4.0 + 2 * cfg.body_radius_frac * SIZE[1]
    np.testing.assert_allclose(_torch(kp_a, kp_b, cfg=cfg), pose_flow(kp_a, kp_b, SIZE, cfg), atol=TOL_PX)


def test_the_clamp_fades_continuously_to_a_translation() -> None:
    """bone_transform as the bone shortens in B: the plain map up to a scale of max_along,
    then a continuous fade, a pure translation taking a' to a from 2 x max_along on."""
    from rtmotion.kernels.flow_numpy import bone_transform

    a, b = np.array([10.0, 20.0]), np.array([10.0, 40.0])       # 20 px in A
    a2 = np.array([50.0, 60.0])
    direction = np.array([np.cos(2.0), np.sin(2.0)])

    def m_at(scale: float) -> tuple[np.ndarray, np.ndarray]:
        return bone_transform(a, b, a2, a2 + direction * 20.0 / scale, "affine", 2.0)

    plain, _ = bone_transform(a, b, a2, a2 + direction * 20.0 / 1.5, "affine", None)
    np.testing.assert_allclose(m_at(1.5)[0], plain, atol=1e-12)   # under the clamp: unchanged
    for s in (2.0, 3.0, 4.0 - 1e-9):                                # continuous at the knees
        np.testing.assert_allclose(m_at(s - 1e-7)[0], m_at(s + 1e-7)[0], atol=1e-5)
    for s in (4.0, 40.0, 4000.0):
        m, t = m_at(s)
        np.testing.assert_allclose(m, np.eye(2), atol=1e-12)
        np.testing.assert_allclose(t, a - a2, atol=1e-9)
    for s in (1.5, 2.5, 3.5, 10.0):
        m, t = m_at(s)
        np.testing.assert_allclose(m @ a2 + t, a, atol=1e-9)        # a' -> a always
    with pytest.raises(ValueError, match="max_along"):
        PoseFlowConfig(max_along=0.5)


def test_missing_bones_are_skipped() -> None:
    kp_a = figure_keypoints(SIZE)
    kp_b = rotate_limb(kp_a, ("l_wrist",), "l_elbow", 50)
    kp_b_missing = kp_b.copy()
    kp_b_missing[BODY25.index("l_wrist"), 2] = 0  # the moved forearm is gone in B
    f = pose_flow(kp_a, kp_b_missing, SIZE)
    # without the forearm nothing moves (every remaining bone is where it was)
    assert not f.any()
    # nobody in either pose: the background flow (zero), no NaN
    empty = np.zeros_like(kp_a)
    assert not pose_flow(empty, empty, SIZE).any()
    assert np.isfinite(_torch(empty, kp_a)).all() and not _torch(empty, kp_a).any()


def test_coarse_grid_is_close() -> None:
    rng = np.random.default_rng(2)
    size = (256, 256)
    kp_a = jittered(figure_keypoints(size), rng, 3.0)
    kp_b = jittered(kp_a, rng, 3.0)
    exact = pose_flow(kp_a, kp_b, size)
    for stride, mean_tol, p99_tol in ((2, 0.02, 0.4), (4, 0.06, 1.0)):
        err = np.abs(_torch(kp_a, kp_b, size, None, stride) - exact)
        # small on average; the largest errors sit on the seams between limbs
        assert err.mean() < mean_tol and np.percentile(err, 99) < p99_tol


def test_bad_input_raises() -> None:
    kp = figure_keypoints(SIZE)
    with pytest.raises(ValueError, match="shape"):
        pose_flow(kp, kp[:18], SIZE)
    with pytest.raises(ValueError):
        pose_flow(kp, kp, (0, 10))
    with pytest.raises(ValueError, match="transform"):
        PoseFlowConfig(transform="tps")
    with pytest.raises(ValueError, match="background"):
        PoseFlowConfig(background="mean")


def test_shape_and_size_refusals_in_full() -> None:
    """The pose pair's and the frame size's refusals say which shape / size was wanted and what
    came; a one-pixel frame is a frame; a pose of the wrong rank is refused even when its last
    two dimensions fit."""
    from rtmotion.kernels.flow_numpy import check_pose_pair, check_size

    kp = np.zeros((25, 3), np.float32)
    with pytest.raises(ValueError) as ei:
        check_pose_pair(kp, kp[:18], 25, batched=False)
    assert str(ei.value) == ("pose flow needs two keypoint arrays of shape (K, 3) with K=25, "
                             "got (25, 3) and (18, 3)")
    with pytest.raises(ValueError) as ei:
        check_pose_pair(kp, kp, 25, batched=True)   # (K, 3) where (B, K, 3) is wanted
    assert str(ei.value) == ("pose flow needs two keypoint arrays of shape (B, K, 3) with K=25, "
                             "got (25, 3) and (25, 3)")
    check_pose_pair(kp[None], kp[None], 25, batched=True)
    assert check_size((1, 1)) == (1, 1) and check_size((64.0, 48)) == (64, 48)
    for bad in ((0, 5), (5, 0), (-1, 3)):
        with pytest.raises(ValueError) as ei:
            check_size(bad)
        assert str(ei.value) == f"size must be positive (W, H), got {bad}"


def test_config_refusals_and_bounds_in_full() -> None:
    for name in ("sigma_frac", "falloff_frac"):
        for bad in (0.0, -0.5):
            with pytest.raises(ValueError) as ei:
                PoseFlowConfig(**{name: bad})
            assert str(ei.value) == f"PoseFlowConfig.{name} must be > 0, got {bad}"
    with pytest.raises(ValueError) as ei:
        PoseFlowConfig(body_radius_frac=-0.01)
    assert str(ei.value) == "PoseFlowConfig.body_radius_frac must be >= 0, got -0.01"
    assert PoseFlowConfig(body_radius_frac=0.0).pixels(100) == (1.5, 0.0, 4.0)
    with pytest.raises(ValueError) as ei:
        PoseFlowConfig(transform="tps")
    assert str(ei.value) == "PoseFlowConfig.transform='tps' is not one of ('affine', 'similarity')"
    with pytest.raises(ValueError) as ei:
        PoseFlowConfig(background="mean")
    assert str(ei.value) == "PoseFlowConfig.background='mean' is not one of ('zero', 'torso')"


def _torch_pairs() -> tuple[np.ndarray, np.ndarray]:
    """Float32 pose pairs whose values and thresholds are exact in float32 (min_confidence 0.5):
    0: random poses, confidences 0.25 / 0.5 (missing: at the threshold) / 0.75 / 1;
    1: a translation (every bone the same vector in both poses);
    2: one forearm moved, the other forearm 0.5 px long in A and 10 px in B."""
    rng = np.random.default_rng(11)
    base = figure_keypoints(SIZE)
    a0, b0 = jittered(base, rng, 6.0), jittered(base, rng, 6.0)
    a0[:, 2] = rng.choice([0.25, 0.5, 0.75, 1.0], 25)
    b0[:, 2] = rng.choice([0.25, 0.5, 0.75, 1.0], 25)
    # four bones with exactly one of their four joints at the threshold (A parent, A child,
    # B parent, B child), the other three above it
    for k, (parent, child) in enumerate((("r_shoulder", "r_elbow"), ("l_shoulder", "l_elbow"),
                                         ("r_hip", "r_knee"), ("l_hip", "l_knee"))):
        conf = [1.0, 1.0, 1.0, 1.0]
        conf[k] = 0.5
        a0[BODY25.index(parent), 2], a0[BODY25.index(child), 2] = conf[0], conf[1]
        b0[BODY25.index(parent), 2], b0[BODY25.index(child), 2] = conf[2], conf[3]
    a1 = jittered(base, rng, 3.0)
    b1 = a1.copy()
    b1[:, :2] += np.array([3.25, -1.5], np.float32)
    a2 = jittered(base, rng, 3.0)
    b2 = a2.copy()
    b2[BODY25.index("r_wrist"), :2] += (6.0, 9.0)
    a2[BODY25.index("l_wrist"), :2] = a2[BODY25.index("l_elbow"), :2] + np.float32(0.5)
    b2[BODY25.index("l_wrist"), :2] = b2[BODY25.index("l_elbow"), :2] + np.float32(10.0)
    return np.stack([a0, a1, a2]), np.stack([b0, b1, b2])


@pytest.mark.parametrize("transform", ["affine", "similarity"])
def test_torch_bone_coefficients_equal_the_numpy_ones(transform: str) -> None:
    """Per bone, float32 against the float64 reference; a bone with the same vector in both
    poses moves by exactly its translation (M = I with no rounding)."""
    from rtmotion.kernels.flow_numpy import bone_coefficients
    from rtmotion.kernels.flow_torch import bone_coefficients_torch

    cfg = PoseFlowConfig(transform=transform, min_confidence=0.5, head="bones")
    kp_a, kp_b = _torch_pairs()
    coef, seg_b, valid = bone_coefficients(kp_a, kp_b, cfg)
    tc, ts, tv = bone_coefficients_torch(torch.from_numpy(kp_a), torch.from_numpy(kp_b), cfg)
    np.testing.assert_array_equal(tv.numpy(), valid)
    assert valid[0].any() and not valid[0].all() and valid[1:].all()
    np.testing.assert_allclose(tc.numpy(), coef, rtol=0, atol=2e-4)
    np.testing.assert_array_equal(ts.numpy()[valid], seg_b[valid].astype(np.float32))
    assert (np.abs(ts.numpy()[~valid]) >= 1e5).all()        # missing bones moved far away
    bones = np.asarray(BODY25.bones)
    for bi in (1, 2):
        for i, (p, c) in enumerate(bones):
            if np.array_equal(kp_a[bi, c, :2] - kp_a[bi, p, :2], kp_b[bi, c, :2] - kp_b[bi, p, :2]):
                t = kp_a[bi, p, :2] - kp_b[bi, p, :2]
                np.testing.assert_array_equal(tc[bi, i].numpy(), [0, 0, t[0], 0, 0, t[1]])
    fore = next(i for i, (p, c) in enumerate(bones) if (p, c) == (BODY25.index("l_elbow"), BODY25.index("l_wrist")))
    assert np.abs(tc[2, fore, [0, 1, 3, 4]].numpy()).max() > 0.4  # 0.5 px in A: scaled, not moved


def test_torch_background_shift_equals_the_numpy_one() -> None:
    """Per pair of a batch: the trunk (one trunk joint alone in one pair), all common joints
    when no trunk joint is common, nothing in common; confidences exactly at the threshold."""
    from rtmotion.kernels.flow_numpy import background_shift
    from rtmotion.kernels.flow_torch import background_shift_torch

    cfg = PoseFlowConfig(background="torso", min_confidence=0.5)
    rng = np.random.default_rng(5)
    base = figure_keypoints(SIZE)
    kp_a = np.stack([jittered(base, rng, 5.0) for _ in range(5)])
    kp_b = np.stack([jittered(base, rng, 5.0) for _ in range(5)])
    trunk = [BODY25.index(n) for n in ("neck", "mid_hip", "r_shoulder", "l_shoulder", "r_hip", "l_hip")]
    kp_a[1, trunk[1:], 2] = 0.5          # one trunk joint left (the neck): the mean of one
    kp_a[2, trunk, 2] = 0.5              # no trunk joint: every common joint
    kp_b[2, ::3, 2] = 0.5
    kp_b[3, :, 2] = 0.0                  # nothing in common
    kp_a[4, trunk[:3], 2] = 0.5          # at the threshold in A only
    got = background_shift_torch(torch.from_numpy(kp_a), torch.from_numpy(kp_b), cfg).numpy()
    want = np.stack([background_shift(a.astype(np.float64), b.astype(np.float64), cfg) for a, b in zip(kp_a, kp_b)])
    assert got.shape == (5, 2) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    np.testing.assert_allclose(want[1], kp_a[1, trunk[0], :2] - kp_b[1, trunk[0], :2], atol=1e-6)
    assert not want[3].any() and np.abs(want[[0, 1, 2, 4]]).min(axis=1).max() > 0.1
    zero = background_shift_torch(torch.from_numpy(kp_a), torch.from_numpy(kp_b), PoseFlowConfig())
    assert zero.dtype == torch.float32 and zero.shape == (5, 2) and not zero.any()


def test_float64_keypoints_give_the_float32_keypoints_flow() -> None:
    """pose_flow_torch works in float32 whatever it is given (float64 keypoints, A and B in
    different types)."""
    rng = np.random.default_rng(9)
    kp_a = jittered(figure_keypoints(SIZE), rng, 4.0)[None]
    kp_b = jittered(kp_a[0], rng, 4.0)[None]
    ref = pose_flow_torch(torch.from_numpy(kp_a), torch.from_numpy(kp_b), SIZE)
    for a, b in ((kp_a.astype(np.float64), kp_b.astype(np.float64)), (kp_a, kp_b.astype(np.float64)),
                 (kp_a.astype(np.float64), kp_b)):
        out = pose_flow_torch(torch.from_numpy(a), torch.from_numpy(b), SIZE)
        assert out.dtype == torch.float32 and torch.equal(out, ref)


@pytest.mark.parametrize("transform", ["affine", "similarity"])
def test_bone_transform_maps_each_end_onto_its_old_position(transform: str) -> None:
    """T(a') = a and T(b') = b for bones of any length and direction (0.5 px in A or in B
    included); across the bone the affine map keeps the unit scale, the similarity scales as
    along; a bone under 1e-6 px in either pose moves by its midpoint's translation, M = I."""
    from rtmotion.kernels.flow_numpy import bone_transform

    rng = np.random.default_rng(13)
    cases = [(rng.uniform(0, 100, 2), rng.uniform(0, 100, 2), rng.uniform(0, 100, 2), rng.uniform(0, 100, 2))
             for _ in range(20)]
    a, a2 = np.array([10.0, 20.0]), np.array([40.0, 5.0])
    cases += [(a, a + (0.3, 0.4), a2, a2 + (6.0, -8.0)),       # 0.5 px in A, 10 px in B
              (a, a + (6.0, 8.0), a2, a2 + (0.4, -0.3))]       # 10 px in A, 0.5 px in B
    for pa, pb, qa, qb in cases:
        m, t = bone_transform(pa, pb, qa, qb, transform)
        assert m.shape == (2, 2) and t.shape == (2,)
        np.testing.assert_allclose(m @ qa + t, pa, atol=1e-9)
        np.testing.assert_allclose(m @ qb + t, pb, atol=1e-9)
        va, vb = pb - pa, qb - qa
        na, nb = np.array([-va[1], va[0]]) / np.hypot(*va), np.array([-vb[1], vb[0]]) / np.hypot(*vb)
        scale = 1.0 if transform == "affine" else np.hypot(*va) / np.hypot(*vb)
        np.testing.assert_allclose(m @ nb, scale * na, atol=1e-9)
    for pa, pb, qa, qb in [(a, a + (5e-7, 0.0), a2, a2 + (3.0, 4.0)), (a, a + (3.0, 4.0), a2, a2)]:
        m, t = bone_transform(pa, pb, qa, qb, transform)
        assert m.shape == (2, 2)
        np.testing.assert_array_equal(m, np.eye(2))
        np.testing.assert_allclose(t, (pa + pb) / 2 - (qa + qb) / 2, atol=1e-12)
    m, t = bone_transform(a, a + (3.0, 4.0), a2, a2 + (3.0, 4.0), transform)   # the same vector
    assert m.shape == (2, 2)
    np.testing.assert_array_equal(m, np.eye(2))
    np.testing.assert_array_equal(t, a - a2)


def test_the_flow_without_any_bone_is_float32_background() -> None:
    empty = np.zeros((25, 3), np.float32)
    for cfg in (PoseFlowConfig(), PoseFlowConfig(background="torso")):
        f = pose_flow(empty, figure_keypoints(SIZE), SIZE, cfg)
        assert f.dtype == np.float32 and f.shape == (SIZE[1], SIZE[0], 2) and not f.any()


HEAD = ("nose", "r_eye", "l_eye", "r_ear", "l_ear")


def _turned_head(size=SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(A, B): a figure whose face turns from one side to the other between A and B (eyes and
    ears mirrored about the nose's vertical), as the face joints of a head turning do."""
    kp_a = figure_keypoints(size)
    kp_b = kp_a.copy()
    nose_x = kp_a[BODY25.index("nose"), 0]
    for name in HEAD[1:]:
        j = BODY25.index(name)
        kp_b[j, 0] = 2 * nose_x - kp_a[j, 0] + 1.5      # mirrored, and a little off
    return kp_a, kp_b


def test_a_turned_head_moves_as_one_part() -> None:
    """Bone by bone, the face bones of a turning head turn half a turn about different points,
    and the pixels around them are fetched from far away (the face became a ring several times
    its size); as one rigid part (the default) the head's pixels move by at most the head's
    own size, and every head bone moves them by the same map."""
    from rtmotion.kernels.flow_numpy import head_similarities

    kp_a, kp_b = _turned_head()
    names = BODY25.joints
    head_bones = [(names[a], names[b]) for a, b in BODY25.bones if names[a] in HEAD and names[b] in HEAD]
    near_head = _dist_to_bones(kp_b, head_bones, SIZE) <= PoseFlowConfig().body_radius_frac * SIZE[1]
    size = np.ptp(kp_a[[BODY25.index(n) for n in HEAD], :2], axis=0).max()
    rigid = pose_flow(kp_a, kp_b, SIZE, PoseFlowConfig())
    bones = pose_flow(kp_a, kp_b, SIZE, PoseFlowConfig(head="bones"))
    reach = lambda f: np.hypot(f[..., 0], f[..., 1])[near_head].max()  # noqa: E731
    assert reach(rigid) <= size < 0.5 * reach(bones)
    m, t, ok = head_similarities(kp_a[None], kp_b[None], PoseFlowConfig())
    assert ok[0]
    eye = kp_b[BODY25.index("r_eye"), :2].round().astype(int)  # only head bones are near
    want = m[0] @ eye + t[0] - eye
    np.testing.assert_allclose(rigid[eye[1], eye[0]], want, atol=1e-3)
    np.testing.assert_allclose(_torch(kp_a, kp_b), rigid, atol=TOL_PX)


def test_head_similarity_recovers_a_moved_head_and_bounds_its_scale() -> None:
    """The least-squares similarity of the head joints: exactly the identity for the same pose;
    a head rotated, scaled within bounds and moved is recovered; a scale
    past HEAD_MAX_SCALE is clamped; fewer than two joints in common: not ok (the bones keep
    their own maps)."""
    from rtmotion.kernels.flow_numpy import HEAD_MAX_SCALE, head_similarities

    cfg = PoseFlowConfig()
    kp = figure_keypoints(SIZE)
    heads = [BODY25.index(n) for n in ("neck", *HEAD)]

    def moved(scale: float, deg: float, shift: tuple[float, float]) -> np.ndarray:
        out = kp.copy()
        th = np.deg2rad(deg)
        rot = scale * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
        out[heads, :2] = (kp[heads, :2] @ rot.T + shift).astype(np.float32)
        return out

    m, t, ok = head_similarities(kp[None], kp[None], cfg)
    assert ok[0] and np.array_equal(m[0], np.eye(2)) and not t.any()
    kp_b = np.stack([moved(1.1, 30, (4.0, -3.0)), moved(2.0, 0, (0.0, 0.0)), kp])
    kp_b[2, heads[1:], 2] = 0.0                     # only the neck in common
    m, t, ok = head_similarities(np.stack([kp] * 3), kp_b, cfg)
    assert ok.tolist() == [True, True, False]
    # T maps B's head joints onto A's: the inverse of the move
    np.testing.assert_allclose((kp_b[0, heads, :2] @ m[0].T) + t[0], kp[heads, :2], atol=1e-3)
    assert np.sqrt(abs(np.linalg.det(m[1]))) == pytest.approx(1 / HEAD_MAX_SCALE)


def test_rigid_head_coefficients_torch_equal_numpy() -> None:
    """The batched coefficients (the CuPy kernel's host side) and torch's agree with the rigid
    head too, and its bones share one map where the head fit is ok."""
    from rtmotion.kernels.flow_numpy import bone_coefficients, head_indices
    from rtmotion.kernels.flow_torch import bone_coefficients_torch

    kp_a, kp_b = _turned_head()
    rng = np.random.default_rng(4)
    kp_a = np.stack([kp_a, jittered(kp_a, rng, 3.0)])
    kp_b = np.stack([kp_b, jittered(kp_b, rng, 3.0)])
    cfg = PoseFlowConfig()
    coef, _, valid = bone_coefficients(kp_a, kp_b, cfg)
    tc, _, tv = bone_coefficients_torch(torch.from_numpy(kp_a), torch.from_numpy(kp_b), cfg)
    np.testing.assert_array_equal(tv.numpy(), valid)
    np.testing.assert_allclose(tc.numpy(), coef, rtol=0, atol=2e-4)
    hb = head_indices(BODY25)[1]
    assert len(hb) == 5 and (coef[:, hb] == coef[:, hb[:1]]).all()


def test_body_weight_is_one_on_the_bones_and_falls_off_beyond_r() -> None:
    """`body_weight_torch`: the pose flow's weight of the body for one pose, in numbers: 1
    within r of the nearest bone, exp(-(d - r)^2 / 2f^2) beyond, 0 for a pose with no bone."""
    from rtmotion.kernels.flow_torch import body_weight_torch

    cfg = PoseFlowConfig()
    kp = figure_keypoints(SIZE)
    got = body_weight_torch(torch.from_numpy(kp[None]), SIZE, cfg)[0].numpy()
    _, r, f = cfg.pixels(SIZE[1])
    d = _body_dist(kp, SIZE)
    want = np.exp(-np.maximum(d - r, 0.0) ** 2 / (2 * f * f))
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert got.max() == 1.0 and got.min() < 1e-6
    none = np.zeros_like(kp)
    assert float(body_weight_torch(torch.from_numpy(none[None]), SIZE, cfg).max()) < 1e-30
