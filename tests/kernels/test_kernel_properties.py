"""Laws of the kernels, checked on generated cases (hypothesis): frame conversion round trips,
warp of a translation and composition of translations, pose flow identity, translation and
composition. Each law has a closed-form answer, so the oracle is the law itself."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rtmotion.kernels.flow_numpy import PoseFlowConfig, pose_flow
from rtmotion.kernels.flow_torch import pose_flow_torch
from rtmotion.kernels.frames_numpy import float_to_frames_numpy, frames_to_float_numpy
from rtmotion.kernels.frames_torch import float_to_frames_torch, frames_to_float_torch
from rtmotion.kernels.warp_numpy import sample_in_frame, warp_numpy
from rtmotion.kernels.warp_torch import sample_in_frame_torch, warp_torch
from rtmotion.synthetic.figures import figure_keypoints, jittered

FAST = settings(max_examples=25, deadline=None)

frames_u8 = st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9)).flatmap(
    lambda s: arrays(np.uint8, (s[0], s[1], s[2], 3)))


# ---- frame conversion ----------------------------------------------------------------------

@FAST
@given(frames_u8)
def test_uint8_to_float_and_back_is_the_identity(frames: np.ndarray) -> None:
    f = frames_to_float_numpy(frames)
    assert f.dtype == np.float32 and f.shape == (frames.shape[0], 3, *frames.shape[1:3])
    assert f.min() >= -1.0 and f.max() <= 1.0
    np.testing.assert_array_equal(f, frames.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(127.5)
                                  - np.float32(1.0))
    np.testing.assert_array_equal(float_to_frames_numpy(f), frames)
    ft = frames_to_float_torch(torch.from_numpy(frames))
    np.testing.assert_array_equal(ft.numpy(), f)  # bit for bit
    np.testing.assert_array_equal(float_to_frames_torch(ft).numpy(), frames)
    # an unbatched frame is the batch of one
    np.testing.assert_array_equal(frames_to_float_numpy(frames[0]), f[:1])


@FAST
@given(arrays(np.float32, (2, 3, 4, 5), elements=st.floats(-1.5, 1.5, width=32)))
def test_float_to_uint8_is_the_nearest_level_clamped(images: np.ndarray) -> None:
    u = float_to_frames_numpy(images)
    np.testing.assert_array_equal(float_to_frames_torch(torch.from_numpy(images)).numpy(), u)
    back = u.transpose(0, 3, 1, 2).astype(np.float64) / 127.5 - 1.0
    inside = np.abs(images) <= 1.0
    # within half a level where in range; the nearest end where not
    assert np.abs(back - images)[inside].max(initial=0) <= 0.5 / 127.5 + 1e-6
    assert (u.transpose(0, 3, 1, 2)[images > 1.0] == 255).all()
    assert (u.transpose(0, 3, 1, 2)[images < -1.0] == 0).all()


# ---- warp ------------------------------------------------------------------------------------

shift = st.integers(-5, 5)


@FAST
@given(arrays(np.uint8, (7, 9, 3)), shift, shift)
def test_warp_by_an_integer_translation_is_an_edge_clamped_shift(img: np.ndarray, dx: int, dy: int) -> None:
    h, w = img.shape[:2]
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    ys = np.clip(np.arange(h) + dy, 0, h - 1)
    xs = np.clip(np.arange(w) + dx, 0, w - 1)
    want = img[ys][:, xs]
    np.testing.assert_array_equal(warp_numpy(img, flow), want)
    t = warp_torch(torch.from_numpy(img).permute(2, 0, 1)[None].double(), torch.from_numpy(flow)[None].double())
    np.testing.assert_allclose(t[0].permute(1, 2, 0).numpy(), want, atol=1e-9)
    inside = ((np.arange(w) + dx >= 0) & (np.arange(w) + dx <= w - 1))[None, :] & \
        ((np.arange(h) + dy >= 0) & (np.arange(h) + dy <= h - 1))[:, None]
    np.testing.assert_array_equal(sample_in_frame(flow), inside)
    np.testing.assert_array_equal(sample_in_frame_torch(torch.from_numpy(flow)[None])[0, 0].numpy(), inside)


@FAST
@given(st.floats(-3, 3), st.floats(-3, 3), st.floats(-2, 2), st.floats(-2, 2))
def test_warp_of_a_linear_ramp_by_a_subpixel_translation_is_exact(dx: float, dy: float, a: float,
                                                                  b: float) -> None:
    """Bilinear sampling reproduces a linear image exactly: out = ramp(x + dx, y + dy) inside."""
    h, w = 12, 14
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    ramp = (a * xx + b * yy + 7.0)[..., None]
    flow = np.empty((h, w, 2))
    flow[..., 0], flow[..., 1] = dx, dy
    out = warp_numpy(ramp, flow)[..., 0]
    inside = sample_in_frame(flow)
    want = a * (xx + dx) + b * (yy + dy) + 7.0
    np.testing.assert_allclose(out[inside], want[inside], atol=1e-9)
    t = warp_torch(torch.from_numpy(ramp).permute(2, 0, 1)[None], torch.from_numpy(flow)[None])[0, 0].numpy()
    np.testing.assert_allclose(t, out, atol=1e-9)


@FAST
@given(arrays(np.float64, (10, 11), elements=st.floats(-1, 1)), shift, shift, shift, shift)
def test_translations_compose(img: np.ndarray, dx1: int, dy1: int, dx2: int, dy2: int) -> None:
    """warp(warp(I, t1), t2) = warp(I, t1 + t2) wherever no sample left the frame."""
    h, w = img.shape

    def const(dx: int, dy: int) -> np.ndarray:
        f = np.empty((h, w, 2))
        f[..., 0], f[..., 1] = dx, dy
        return f

    twice = warp_numpy(warp_numpy(img, const(dx1, dy1)), const(dx2, dy2))
    once = warp_numpy(img, const(dx1 + dx2, dy1 + dy2))
    # the first warp is sampled at x + t2: every sample inside when both shifts stay inside
    ok = sample_in_frame(const(dx2, dy2)) & sample_in_frame(const(dx1 + dx2, dy1 + dy2))
    np.testing.assert_allclose(twice[ok], once[ok], atol=1e-12)


# ---- pose flow ---------------------------------------------------------------------------------

SIZE = (64, 48)
CONFIGS = st.sampled_from([PoseFlowConfig(), PoseFlowConfig(transform="similarity"),
                           PoseFlowConfig(background="torso"),
                           PoseFlowConfig(transform="similarity", background="torso")])


def _pose(seed: int, jitter: float) -> np.ndarray:
    return jittered(figure_keypoints(SIZE), np.random.default_rng(seed), jitter).astype(np.float32)


@FAST
@given(st.integers(0, 10_000), st.floats(0, 3), CONFIGS)
def test_flow_from_a_pose_to_itself_is_zero(seed: int, jitter: float, cfg: PoseFlowConfig) -> None:
    kp = _pose(seed, jitter)
    assert not pose_flow(kp, kp, SIZE, cfg).any()
    t = torch.from_numpy(kp)[None]
    assert not pose_flow_torch(t, t, SIZE, cfg).any()


@FAST
@given(st.integers(0, 10_000), st.floats(-4, 4), st.floats(-4, 4), st.floats(-4, 4), st.floats(-4, 4),
       st.sampled_from(["affine", "similarity"]))
def test_flows_of_translations_are_constant_and_compose(seed: int, x1: float, y1: float, x2: float,
                                                        y2: float, transform: str) -> None:
    """Moving the whole pose by m gives the constant backward flow -m (background "torso": the
    scene moves with the body); A->B then B->C composes to A->C: the flows add."""
    cfg = PoseFlowConfig(transform=transform, background="torso")
    a = _pose(seed, 1.0)
    b, c = a.copy(), a.copy()
    b[:, :2] += np.float32([x1, y1])
    c[:, :2] += np.float32([x1 + x2, y1 + y2])
    ab, bc, ac = (pose_flow(p, q, SIZE, cfg) for p, q in ((a, b), (b, c), (a, c)))
    np.testing.assert_allclose(ab, np.broadcast_to(np.float32([-x1, -y1]), ab.shape), atol=1e-3)
    np.testing.assert_allclose(ab + bc, ac, atol=2e-3)
    t = pose_flow_torch(torch.from_numpy(a)[None], torch.from_numpy(c)[None], SIZE, cfg)[0].numpy()
    np.testing.assert_allclose(t, ac, atol=2e-3)
