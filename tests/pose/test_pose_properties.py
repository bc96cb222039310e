"""Laws of pose normalization and pose files, checked on generated cases (hypothesis): the EDN
transform from source to target followed by the one from target to source is the identity, a
similarity transform undone by its inverse is the identity (missing joints stay missing),
`hold_fill` keeps finite values and only fills, and a pose file or statistics file read back
is the sequence written."""

from __future__ import annotations

import math
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rtmotion.pose.normalize import EdnParams, apply_transform, hold_fill
from rtmotion.pose.posefile import PoseSequence
from rtmotion.pose.skeleton import BODY25
from rtmotion.pose.stats import SubjectPoseStats

FAST = settings(max_examples=30, deadline=None)

pixels = st.floats(10, 500)
heights = st.floats(20, 400)


@st.composite
def edn_pairs(draw: st.DrawFn) -> tuple[EdnParams, EdnParams]:
    """EDN parameters of a source and a target (far ankle above the close one), and the same
    pair with the roles swapped."""
    far_s, far_t = draw(pixels), draw(pixels)
    close_s = far_s + draw(st.floats(5, 200))
    close_t = far_t + draw(st.floats(5, 200))
    hfar_s, hclose_s, hfar_t, hclose_t = (draw(heights) for _ in range(4))
    xc_s, xc_t = draw(pixels), draw(pixels)
    fwd = EdnParams(far_s, close_s, hfar_s, hclose_s, xc_s, far_t, close_t, hfar_t, hclose_t, xc_t)
    back = EdnParams(far_t, close_t, hfar_t, hclose_t, xc_t, far_s, close_s, hfar_s, hclose_s, xc_s)
    return fwd, back


@FAST
@given(edn_pairs(), st.floats(0, 1), arrays(np.float64, (5, 25, 2), elements=st.floats(0, 600)))
def test_edn_transform_then_its_reverse_is_the_identity(pair, depth: float, xy: np.ndarray) -> None:
    fwd, back = pair
    ankle = np.full(5, fwd.far_s + depth * (fwd.close_s - fwd.far_s))   # inside the source range
    kp = np.concatenate([xy, np.ones((5, 25, 1))], -1)
    s, tx, ty = fwd.transforms(ankle)
    moved = apply_transform(kp, s, tx, ty)
    # the source ankle lands on the target's ankle at the same depth
    np.testing.assert_allclose(ankle * s + ty, fwd.far_t + depth * (fwd.close_t - fwd.far_t), rtol=1e-9)
    s2, tx2, ty2 = back.transforms(ankle * s + ty)
    np.testing.assert_allclose(s * s2, 1.0, rtol=1e-6)
    again = apply_transform(moved, s2, tx2, ty2)
    np.testing.assert_allclose(again[..., :2], kp[..., :2], atol=2e-3 * max(1.0, float(np.max(s2))))


@FAST
@given(arrays(np.float32, (3, 25, 3), elements=st.floats(-200, 800, width=32)),
       st.floats(0.2, 5), st.floats(-300, 300), st.floats(-300, 300))
def test_a_similarity_and_its_inverse_give_the_poses_back(kp: np.ndarray, s: float, tx: float,
                                                          ty: float) -> None:
    kp = kp.copy()
    kp[..., 2] = (kp[..., 2] > 0).astype(np.float32)          # confidence 0 or 1
    missing = ~(kp[..., 2] > 0)
    out = apply_transform(kp, s, tx, ty)
    assert out.dtype == np.float32 and not out[missing].any()   # missing joints stay (0, 0, 0)
    np.testing.assert_allclose(out[~missing][:, 0], kp[~missing][:, 0] * s + tx, rtol=1e-5, atol=1e-3)
    back = apply_transform(out, 1 / s, -tx / s, -ty / s)
    np.testing.assert_allclose(back[~missing], kp[~missing], atol=5e-3 * max(1.0, s, 1 / s))


@FAST
@given(arrays(np.float64, st.integers(1, 12), elements=st.one_of(st.just(np.nan), st.floats(-5, 5))))
def test_hold_fill_keeps_values_and_fills_from_the_last_one(v: np.ndarray) -> None:
    out = hold_fill(v)
    good = np.isfinite(v)
    np.testing.assert_array_equal(out[good], v[good])
    if not good.any():
        assert np.isnan(out).all()
        return
    assert np.isfinite(out).all()
    first = int(np.argmax(good))
    assert (out[:first] == v[first]).all()
    for i in range(first + 1, len(v)):
        if not good[i]:
            assert out[i] == out[i - 1]
    np.testing.assert_array_equal(hold_fill(out), out)            # idempotent


@FAST
@given(arrays(np.float32, st.tuples(st.integers(1, 6), st.just(25), st.just(3)),
              elements=st.one_of(st.just(np.nan), st.floats(-50, 300, width=32))),
       st.integers(1, 120), st.integers(1, 1001), st.integers(16, 4096), st.integers(16, 4096),
       st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12))
def test_pose_file_round_trip(kp: np.ndarray, num: int, den: int, w: int, h: int, source: str) -> None:
    fps = Fraction(num * 1000, den)
    ts = np.arange(len(kp)) / float(fps)
    seq = PoseSequence(kp, "body25", fps, (w, h), ts, source=source, extractor="test")
    # in memory already: no NaN, and a missing joint is (0, 0, 0)
    assert np.isfinite(seq.keypoints).all()
    assert not seq.keypoints[~(seq.keypoints[..., 2] > 0)].any()
    with tempfile.TemporaryDirectory() as d:
        back = PoseSequence.load(seq.save(Path(d) / "p.npz"))
    np.testing.assert_array_equal(back.keypoints, seq.keypoints)
    np.testing.assert_array_equal(back.timestamps, seq.timestamps)
    assert (back.fps, back.size, back.skeleton, back.joint_names) == (fps, (w, h), "body25", BODY25.joints)
    assert (back.source, back.extractor) == (source, "test")


@FAST
@given(st.integers(0, 10_000), st.integers(24, 80))
def test_pose_statistics_file_round_trip(seed: int, n: int) -> None:
    from rtmotion.synthetic.figures import figure_keypoints, jittered

    rng = np.random.default_rng(seed)
    size = (int(rng.integers(64, 640)), int(rng.integers(64, 640)))
    base = figure_keypoints(size)
    kps = np.stack([jittered(base, rng, 3.0) for _ in range(n)]).astype(np.float32)
    kps[..., 1] += np.linspace(0, size[1] * 0.05, n)[:, None]     # some depth travel
    stats = SubjectPoseStats.from_keypoints(kps, BODY25.joints, size, "body25")
    with tempfile.TemporaryDirectory() as d:
        back = SubjectPoseStats.load(stats.save(Path(d) / "s.json"))
    a, b = stats.to_dict(), back.to_dict()
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], float):
            assume(math.isfinite(a[k]))
            assert b[k] == a[k], k
        else:
            assert b[k] == a[k], k
