"""The host side of the CuPy kernels, on the CPU: `bone_coefficients` and `background_shifts`
(flow) against the per-bone / per-pair numpy reference they vectorize, `primitive_segments` and
`segment_frame` (maps) against their definitions row by row, and maps_torch's `window_fraction`
against its closed form. The CuPy kernels themselves run only on a GPU (test_cupy.py); these
inputs are what they are fed with."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rtmotion.kernels.flow_numpy import (
    PoseFlowConfig,
    background_shift,
    background_shifts,
    bone_coefficients,
    bone_transform,
)
from rtmotion.kernels.maps_numpy import PoseMapConfig
from rtmotion.kernels.maps_torch import window_fraction
from rtmotion.kernels.segments import MIN_SEGMENT, bone_array, primitive_segments, segment_frame
from rtmotion.pose.skeleton import BODY25
from rtmotion.synthetic.figures import figure_keypoints, jittered

SIZE = (192, 160)
J = BODY25.index


def _pairs() -> tuple[np.ndarray, np.ndarray]:
    """Three (A, B) pose pairs, float32 (3, 25, 3), covering every branch of a bone:
    0: random poses and confidences (some under 0.3, the neck float32(0.3) in both, which is
       above 0.3 in float64 and so present);
    1: B = A moved by a constant (same bone vectors: M = I exactly), the right forearm of zero
       length in A only, the left forearm of zero length in B only, the right shin of 5e-7 px
       in both;
    2: B = A but the right wrist moved in y only (the forearm's vectors share their x), the
       left shin 0.5 px long in B only."""
    rng = np.random.default_rng(7)
    base = figure_keypoints(SIZE)
    a0, b0 = jittered(base, rng, 6.0), jittered(base, rng, 6.0)
    a0[:, 2] = rng.uniform(0.0, 1.0, 25)
    b0[:, 2] = rng.uniform(0.0, 1.0, 25)
    a0[J("neck"), 2], b0[J("neck"), 2] = 0.3, 0.3           # float32(0.3): present in float64
    b0[J("mid_hip"), 2] = 0.9
    a1 = jittered(base, rng, 3.0)
    b1 = a1.copy()
    b1[:, :2] += np.array([4.25, -1.5], np.float32)
    a1[J("r_wrist"), :2] = a1[J("r_elbow"), :2]
    b1[J("l_wrist"), :2] = b1[J("l_elbow"), :2]
    a1[J("r_ankle"), :2] = a1[J("r_knee"), :2] + np.float32(5e-7)
    b1[J("r_ankle"), :2] = b1[J("r_knee"), :2]
    a2 = jittered(base, rng, 3.0)
    b2 = a2.copy()
    b2[J("r_wrist"), 1] += 9.0
    b2[J("l_ankle"), :2] = b2[J("l_knee"), :2] + np.float32(0.5)   # a shin 0.5 px long in B only
    return np.stack([a0, a1, a2]), np.stack([b0, b1, b2])


@pytest.mark.parametrize("max_along", [None, 2.0])
@pytest.mark.parametrize("transform", ["affine", "similarity"])
def test_bone_coefficients_are_each_bones_transform(transform: str, max_along: float | None) -> None:
    """coef[b, i] = (M00 - 1, M01, t0, M10, M11 - 1, t1) of bone_transform's T_i for a present
    bone (all four joints above min_confidence), zeros for a missing one; seg_b is pose B's
    bone endpoints (every bone, present or not), float64. Every bone on its own (head "bones";
    the rigid head's shared map: tests/kernels/test_flow.py); with and without the clamp of
    foreshortened bones (pair 2's left shin, 0.5 px in B)."""
    cfg = PoseFlowConfig(transform=transform, min_confidence=0.3, head="bones", max_along=max_along)
    kp_a, kp_b = _pairs()
    coef, seg_b, valid = bone_coefficients(kp_a, kp_b, cfg)
    bones = bone_array(BODY25)
    n = len(bones)
    assert coef.shape == (3, n, 6) and seg_b.shape == (3, n, 2, 2) and valid.shape == (3, n)
    assert coef.dtype == np.float64 and seg_b.dtype == np.float64 and valid.dtype == bool
    a64, b64 = kp_a.astype(np.float64), kp_b.astype(np.float64)
    for bi in range(3):
        for i, (p, c) in enumerate(bones):
            present = min(a64[bi, p, 2], a64[bi, c, 2], b64[bi, p, 2], b64[bi, c, 2]) > 0.3
            assert valid[bi, i] == present, (bi, i)
            np.testing.assert_array_equal(seg_b[bi, i], [b64[bi, p, :2], b64[bi, c, :2]])
            if not present:
                assert not coef[bi, i].any()
                continue
            m, t = bone_transform(a64[bi, p, :2], a64[bi, c, :2], b64[bi, p, :2], b64[bi, c, :2], transform,
                                  max_along)
            want = [m[0, 0] - 1, m[0, 1], t[0], m[1, 0], m[1, 1] - 1, t[1]]
            np.testing.assert_allclose(coef[bi, i], want, rtol=0, atol=1e-9, err_msg=f"pair {bi} bone {i}")
    assert not valid[0].all() and valid[0].any() and valid[1:].all()
    # a bone with the same vector in both poses moves by exactly its translation (M = I)
    for bi in (1, 2):
        for i, (p, c) in enumerate(bones):
            if np.array_equal(a64[bi, c, :2] - a64[bi, p, :2], b64[bi, c, :2] - b64[bi, p, :2]):
                t = a64[bi, p, :2] - b64[bi, p, :2]
                np.testing.assert_array_equal(coef[bi, i], [0, 0, t[0], 0, 0, t[1]])
    # the branches were reached: a translated bone moves exactly, degenerate bones by midpoints
    fore_r = next(i for i, (p, c) in enumerate(bones) if (p, c) == (J("r_elbow"), J("r_wrist")))
    np.testing.assert_array_equal(coef[1, 0], [0, 0, -4.25, 0, 0, 1.5])
    mid = (a64[1, J("r_elbow"), :2] + a64[1, J("r_wrist"), :2]) / 2 - \
        (b64[1, J("r_elbow"), :2] + b64[1, J("r_wrist"), :2]) / 2
    np.testing.assert_allclose(coef[1, fore_r], [0, 0, mid[0], 0, 0, mid[1]], atol=1e-12)
    assert np.abs(coef[2, fore_r][[0, 1, 3, 4]]).max() > 1e-3     # a real, non-identity M


def test_bone_coefficients_of_a_flow_equal_pose_flow() -> None:
    """What the CuPy kernel does with them, done in numpy: the softmax over bone distances,
    the weighted displacement, the body weight and the background, against pose_flow."""
    from rtmotion.kernels.flow_numpy import pose_flow
    from rtmotion.kernels.maps_numpy import segment_distance2

    cfg = PoseFlowConfig(transform="similarity", background="torso", min_confidence=0.3)
    kp_a, kp_b = _pairs()
    coef, seg_b, valid = bone_coefficients(kp_a, kp_b, cfg)
    bg = background_shifts(kp_a, kp_b, cfg)
    w, h = SIZE
    s, r, f = cfg.pixels(h)
    px = np.arange(w, dtype=np.float64)[None, :]
    py = np.arange(h, dtype=np.float64)[:, None]
    for bi in range(3):
        use = np.flatnonzero(valid[bi])
        d2 = np.stack([segment_distance2(px, py, seg_b[bi, i, 0], seg_b[bi, i, 1]) for i in use])
        d2min = d2.min(0)
        wts = np.exp(-(d2 - d2min) / (2 * s * s))
        cf = coef[bi, use]
        fx = np.einsum("nhw,n->hw", wts, cf[:, 0])[...] * px + np.einsum("nhw,n->hw", wts, cf[:, 1]) * py \
            + np.einsum("nhw,n->hw", wts, cf[:, 2])
        fy = np.einsum("nhw,n->hw", wts, cf[:, 3]) * px + np.einsum("nhw,n->hw", wts, cf[:, 4]) * py \
            + np.einsum("nhw,n->hw", wts, cf[:, 5])
        alpha = np.exp(-np.maximum(np.sqrt(d2min) - r, 0) ** 2 / (2 * f * f))
        flow = np.stack([fx, fy], -1) / wts.sum(0)[..., None]
        flow = alpha[..., None] * flow + (1 - alpha[..., None]) * bg[bi]
        np.testing.assert_allclose(flow, pose_flow(kp_a[bi], kp_b[bi], SIZE, cfg), atol=2e-4)


@pytest.mark.parametrize("background", ["zero", "torso"])
def test_background_shifts_are_each_pairs_background_shift(background: str) -> None:
    cfg = PoseFlowConfig(background=background, min_confidence=0.3)
    kp_a, kp_b = _pairs()
    got = background_shifts(kp_a, kp_b, cfg)
    assert got.shape == (3, 2) and got.dtype == np.float64
    want = np.stack([background_shift(kp_a[i].astype(np.float64), kp_b[i].astype(np.float64), cfg)
                     for i in range(3)])
    np.testing.assert_array_equal(got, want)
    if background == "torso":   # the shift of pair 1 is its translation, in float64
        np.testing.assert_allclose(got[1], [-4.25, 1.5], atol=1e-5)
        assert np.abs(got[0]).max() > 0.1
    else:
        assert not got.any()
    empty = background_shifts(np.zeros((0, 25, 3)), np.zeros((0, 25, 3)), cfg)
    assert empty.shape == (0, 2) and empty.dtype == np.float64


def _map_cfg() -> PoseMapConfig:
    return PoseMapConfig(size=SIZE, face=True, hands=True, min_confidence=0.3)


def test_primitive_segments_follow_their_definition() -> None:
    """a = kp[j0], b = kp[j1] + ext (kp[j1] - kp[j2]), present when j0, j1, j2 all are above
    min_confidence; bones, face points and extended hands, float64."""
    cfg = _map_cfg()
    prim = cfg.primitives
    kp_a, kp_b = _pairs()
    kp = np.concatenate([kp_a, kp_b])
    a, b, valid = primitive_segments(kp, prim, cfg.min_confidence)
    assert a.shape == b.shape == (6, prim.count, 2) and valid.shape == (6, prim.count)
    assert a.dtype == b.dtype == np.float64 and valid.dtype == bool
    k64 = kp.astype(np.float64)
    for n in range(6):
        for p in range(prim.count):
            j0, j1, j2, ext = prim.j0[p], prim.j1[p], prim.j2[p], prim.ext[p]
            np.testing.assert_array_equal(a[n, p], k64[n, j0, :2])
            np.testing.assert_allclose(b[n, p], k64[n, j1, :2] + ext * (k64[n, j1, :2] - k64[n, j2, :2]),
                                       rtol=0, atol=1e-12)
            assert valid[n, p] == (min(k64[n, j0, 2], k64[n, j1, 2], k64[n, j2, 2]) > 0.3), (n, p)
    assert (prim.ext > 0).any() and (prim.j2 != prim.j1).any()    # hands are in the table
    assert not valid[0].all() and valid[0].any()


def test_segment_frame_follows_its_definition() -> None:
    """(ax, ay, ux, uy, length): the unit direction and length of a -> b; a segment shorter
    than MIN_SEGMENT is the point a (u = (1, 0), length 0)."""
    a = np.array([[0.0, 0.0], [1.0, 2.0], [-3.0, 5.0], [7.0, 7.0], [2.0, 2.0], [10.0, -4.0],
                  [1.0, 1.0], [5.0, 6.0]])
    b = np.array([[3.0, 4.0], [1.0, -1.0], [-3.0, 5.0], [7.0 + 0.6e-6, 7.0], [2.0, 2.0 + 3e-6], [4.0, 4.0],
                  [1.0, 1.0 + 0.7e-6], [5.0 - 0.5e-6, 6.0 - 0.5e-6]])
    got = segment_frame(a.reshape(2, 4, 2), b.reshape(2, 4, 2)).reshape(8, 5)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got[6], [1, 1, 1, 0, 0])          # 0.7e-6 px up: a point
    np.testing.assert_array_equal(got[7], [5, 6, 1, 0, 0])
    for i in range(8):
        v = b[i] - a[i]
        length = math.hypot(*v)
        if length < MIN_SEGMENT:
            want = [a[i, 0], a[i, 1], 1.0, 0.0, 0.0]
        else:
            want = [a[i, 0], a[i, 1], v[0] / length, v[1] / length, length]
        np.testing.assert_allclose(got[i], want, rtol=1e-12, atol=0, err_msg=str(i))
    np.testing.assert_array_equal(got[0], [0, 0, 0.6, 0.8, 5.0])
    np.testing.assert_array_equal(got[2], [-3, 5, 1, 0, 0])
    np.testing.assert_array_equal(got[3], [7, 7, 1, 0, 0])          # 0.6e-6 px: a point
    assert got[4, 4] == pytest.approx(3e-6, rel=1e-6) and got[4, 3] == 1.0


def test_window_fraction_is_the_largest_window_over_the_map() -> None:
    """One present bone from (20, 30) to (50, 34) on a 192 x 160 map: its window is the box
    plus 2 cutoff * sigma + 1 px each way, rounded up; a face point's smaller sigma does not
    matter (the largest sigma sizes every window); nothing present gives 0; a window larger
    than the map is capped at 1."""
    cfg = PoseMapConfig(size=SIZE, face=True, min_confidence=0.0)
    sigma = float(cfg.primitives.sigma.max())
    r = cfg.cutoff * sigma
    kp = np.zeros((1, 25, 3), np.float32)
    p, c = BODY25.bones[3]
    kp[0, p], kp[0, c] = (20.0, 30.0, 1.0), (50.0, 34.0, 1.0)
    want = math.ceil(30 + 2 * r + 1) * math.ceil(4 + 2 * r + 1) / (192 * 160)
    assert window_fraction(torch.from_numpy(kp), cfg) == pytest.approx(want, rel=1e-6)
    two = np.concatenate([kp, kp])            # the larger window of a batch decides
    two[1, c] = (50.0, 120.0, 1.0)
    wide = math.ceil(30 + 2 * r + 1) * math.ceil(90 + 2 * r + 1) / (192 * 160)
    assert window_fraction(torch.from_numpy(two), cfg) == pytest.approx(wide, rel=1e-6)
    kp[0, c, 2] = 0.0                          # the bone's child is missing: no window at all
    assert window_fraction(torch.from_numpy(kp), cfg) == 0.0
    big = np.zeros((1, 25, 3), np.float32)
    big[0, p], big[0, c] = (-500.0, -400.0, 1.0), (700.0, 600.0, 1.0)
    assert window_fraction(torch.from_numpy(big), cfg) == 1.0
    tall = np.zeros((1, 25, 3), np.float32)    # the span is capped at max(W, H) = 192 per axis
    tall[0, p], tall[0, c] = (10.0, -500.0, 1.0), (10.0, 700.0, 1.0)
    assert window_fraction(torch.from_numpy(tall), cfg) == pytest.approx(
        min(math.ceil(2 * r + 1) * 192 / (192 * 160), 1.0), rel=1e-6)


def test_torch_primitive_segments_equal_the_numpy_ones() -> None:
    """The torch helper against the numpy definition, with confidences exactly at
    min_confidence on every joint of some poses (a joint at the threshold is missing). The
    threshold is 0.5, exact in float32: at 0.3 the float64 reference reads float32(0.3) as
    0.30000001 > 0.3 while torch compares in float32 (equal, missing)."""
    from rtmotion.kernels.segments_torch import primitive_segments_torch

    cfg = _map_cfg()
    kp_a, kp_b = _pairs()
    kp_a[:, :, 2] = np.where(kp_a[:, :, 2] == np.float32(0.3), 0.5, kp_a[:, :, 2])
    at = kp_b.copy()
    at[:, ::2, 2] = 0.5                       # every other joint exactly at the threshold
    kp = np.concatenate([kp_a, kp_b, at]).astype(np.float32)
    a, b, valid = primitive_segments(kp, cfg.primitives, 0.5)
    ta, tb, tv = primitive_segments_torch(torch.from_numpy(kp), cfg.primitives, 0.5)
    np.testing.assert_array_equal(tv.numpy(), valid)
    assert valid.any() and not valid.all()
    np.testing.assert_allclose(ta.numpy(), a, rtol=0, atol=1e-4)
    np.testing.assert_allclose(tb.numpy(), b, rtol=0, atol=1e-4)
    prim = cfg.primitives
    for p in range(prim.count):              # each of j0, j1, j2 alone at the threshold
        for j in {prim.j0[p], prim.j1[p], prim.j2[p]}:
            one = kp_b[1:2].copy()
            one[0, :, 2] = 1.0
            one[0, j, 2] = 0.5
            _, _, v = primitive_segments_torch(torch.from_numpy(one), prim, 0.5)
            assert not v[0, p], (p, j)


def test_the_torso_background_is_the_mean_shift_of_the_trunk_joints() -> None:
    """background="torso": the mean displacement (A - B) of the trunk joints present in both
    poses (neck, mid hip, shoulders, hips), else of every joint present in both, else 0; the
    limbs' own motion does not enter while a trunk joint is there."""
    cfg = PoseFlowConfig(background="torso", min_confidence=0.3)
    base = figure_keypoints(SIZE).astype(np.float64)
    b = base.copy()
    trunk = [J(n) for n in ("neck", "mid_hip", "r_shoulder", "l_shoulder", "r_hip", "l_hip")]
    shifts = np.arange(12, dtype=np.float64).reshape(6, 2) - 5.0
    a = base.copy()
    a[trunk, :2] += shifts
    a[J("r_wrist"), :2] += (40.0, -30.0)    # a limb moving a lot
    np.testing.assert_allclose(background_shift(a, b, cfg), shifts.mean(0), atol=1e-12)
    a[J("neck"), 2] = 0.3                     # a trunk joint missing in A: the other five
    np.testing.assert_allclose(background_shift(a, b, cfg), shifts[1:].mean(0), atol=1e-12)
    a2, b2 = a.copy(), b.copy()
    a2[trunk, 2] = 0.0                        # no trunk joint: every joint present in both
    common = [i for i in range(25) if i not in trunk]
    np.testing.assert_allclose(background_shift(a2, b2, cfg), (a2[common, :2] - b2[common, :2]).mean(0),
                               atol=1e-12)
    b2[:, 2] = 0.0                            # nothing in common
    assert not background_shift(a2, b2, cfg).any()
