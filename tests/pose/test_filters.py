"""Temporal filters: One-Euro, median, gap filling (pure numpy, fast)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from rtmotion.pose.filters import (
    FilterParams,
    KeypointFilter,
    OneEuroFilter,
    fill_gaps,
    smooth_keypoints,
    smooth_sequence,
)
from rtmotion.pose.posefile import PoseSequence

FPS = 30.0
H = 256.0


def _track(x: np.ndarray, y: np.ndarray | float = 100.0, k: int = 1) -> np.ndarray:
    """(T, k, 3) keypoints with all joints following x, y."""
    t = len(x)
    kp = np.zeros((t, k, 3), np.float32)
    kp[..., 0] = np.asarray(x, np.float32)[:, None]
    kp[..., 1] = np.broadcast_to(np.asarray(y, np.float32), (t,))[:, None]
    kp[..., 2] = 0.9
    return kp


def _lag_frames(ref: np.ndarray, sig: np.ndarray, max_lag: int = 10) -> int:
    """Delay (frames) of `sig` behind `ref` maximizing their correlation."""
    ref = ref - ref.mean()
    sig = sig - sig.mean()
    scores = [np.dot(ref[: len(ref) - k], sig[k:]) for k in range(max_lag + 1)]
    return int(np.argmax(scores))


def test_one_euro_reduces_jitter_with_small_lag() -> None:
    t = np.arange(300) / FPS
    clean = 128 + 40 * np.sin(2 * np.pi * 0.4 * t)      # a slow sway, 40 px amplitude
    noisy = clean + np.random.default_rng(0).normal(0, 2.0, len(t))  # 2 px jitter
    out, _ = smooth_keypoints(_track(noisy), t, H, FilterParams())
    x = out[:, 0, 0].astype(np.float64)
    raw_jitter = np.std(np.diff(noisy - clean))
    jitter = np.std(np.diff(x - clean))
    assert jitter < 0.5 * raw_jitter, (jitter, raw_jitter)
    assert _lag_frames(clean, x) <= 2
    # The price of the smoothing stays small: the track stays within a few px of the truth.
    assert np.sqrt(np.mean((x[30:] - clean[30:]) ** 2)) < 4.0


def test_one_euro_beta_trades_lag_for_smoothness() -> None:
    t = np.arange(200) / FPS
    clean = 128 + 60 * np.sin(2 * np.pi * 1.0 * t)  # fast: 1 Hz, ~1.5 frame heights/s
    kp = _track(clean)
    slow, _ = smooth_keypoints(kp, t, H, FilterParams(min_cutoff=0.5, beta=0.0))
    fast, _ = smooth_keypoints(kp, t, H, FilterParams(min_cutoff=0.5, beta=20.0))
    err_slow = np.abs(slow[20:, 0, 0] - clean[20:]).mean()
    err_fast = np.abs(fast[20:, 0, 0] - clean[20:]).mean()
    assert err_fast < 0.5 * err_slow


def test_one_euro_is_timestamp_aware() -> None:
    # The same motion sampled at 30 and 60 fps is smoothed to the same curve (cutoffs in Hz).
    def run(fps: float) -> tuple[np.ndarray, np.ndarray]:
        t = np.arange(int(4 * fps)) / fps
        x = 128 + 40 * np.sin(2 * np.pi * 0.5 * t)
        out, _ = smooth_keypoints(_track(x), t, H, FilterParams(min_cutoff=1.0, beta=0.0))
        return t, out[:, 0, 0]

    t30, a = run(30.0)
    t60, b = run(60.0)
    assert np.max(np.abs(a[30:] - b[::2][30:])) < 1.0


def test_median_removes_spike() -> None:
    x = np.full(40, 100.0)
    x[20] = 180.0
    t = np.arange(40) / FPS
    out, _ = smooth_keypoints(_track(x), t, H, FilterParams(method="median", median_window=5))
    assert np.allclose(out[:, 0, 0], 100.0)
    # One-Euro (causal) only attenuates it; the median is the tool for spikes.
    oe, _ = smooth_keypoints(_track(x), t, H, FilterParams())
    assert oe[20, 0, 0] > 101.0


def test_none_keeps_values() -> None:
    x = np.random.default_rng(1).normal(100, 5, 30)
    t = np.arange(30) / FPS
    out, filled = smooth_keypoints(_track(x), t, H, FilterParams(method="none"))
    assert filled == 0
    np.testing.assert_allclose(out[:, 0, 0], x.astype(np.float32))


def test_short_gap_interpolated_long_gap_left_missing() -> None:
    t = np.arange(40) / FPS
    x = np.linspace(0, 390, 40)
    kp = _track(x, k=2)
    kp[5:8, 0] = 0.0            # 3-frame gap in joint 0: filled
    kp[20:30, 1] = 0.0          # 10-frame gap in joint 1: left missing
    kp[0:2, 1] = 0.0            # leading gap: nothing to interpolate from
    out, filled = fill_gaps(kp, t, max_gap=5, fill_factor=0.5)
    assert filled == 3
    np.testing.assert_allclose(out[5:8, 0, 0], x[5:8], atol=1e-3)
    np.testing.assert_allclose(out[5:8, 0, 2], 0.45)      # 0.5 * min(0.9, 0.9)
    assert (out[20:30, 1] == 0).all() and (out[0:2, 1] == 0).all()
    assert (out[8:20, 1, 2] > 0).all()
    # Interpolation follows time, not frame counts: a frame shown later sits further along.
    ts = t.copy()
    ts[6] += 0.5 / FPS
    out2, _ = fill_gaps(kp, ts, max_gap=5)
    assert out2[6, 0, 0] == pytest.approx(out[6, 0, 0] + 5.0, abs=1e-3)  # 10 px/frame * 0.5


def test_filter_does_not_smear_across_long_gap() -> None:
    # A joint jumps 200 px across a long gap; after the gap the filter restarts there at once.
    t = np.arange(60) / FPS
    x = np.where(np.arange(60) < 20, 50.0, 250.0)
    kp = _track(x)
    kp[20:35] = 0.0
    out, _ = smooth_keypoints(kp, t, H, FilterParams(max_gap=5))
    assert (out[20:35] == 0).all()
    assert out[35, 0, 0] == pytest.approx(250.0)
    # With a short gap it is filled and the filter runs through it (smoothing the jump).
    kp2 = _track(x)
    kp2[20:23] = 0.0
    out2, filled = smooth_keypoints(kp2, t, H, FilterParams(max_gap=5))
    assert filled == 3 and (out2[20:23, 0, 2] > 0).all()


def test_no_nan_and_missing_stays_zero() -> None:
    rng = np.random.default_rng(2)
    kp = rng.uniform(0, 256, (50, 25, 3)).astype(np.float32)
    kp[..., 2] = rng.uniform(0, 1, (50, 25)) * (rng.uniform(0, 1, (50, 25)) > 0.3)
    kp[kp[..., 2] == 0] = 0.0
    kp[10, 3, 0] = np.nan
    kp[10, 3, 2] = 0.0
    t = np.arange(50) / FPS
    t[25] = t[24]  # a repeated timestamp must not produce inf/NaN
    for method in ("one-euro", "median", "none"):
        out, _ = smooth_keypoints(kp, t, H, FilterParams(method=method, max_gap=2))
        assert np.isfinite(out).all()
        missing = out[..., 2] == 0
        assert (out[missing] == 0).all()
        assert out.dtype == np.float32 and out.shape == kp.shape


def test_smooth_sequence_keeps_metadata() -> None:
    t = np.arange(20) / FPS
    seq = PoseSequence(keypoints=np.repeat(_track(np.linspace(10, 50, 20)), 25, axis=1),
                       skeleton="body25", fps=Fraction(30), size=(320, 240), timestamps=t,
                       source="x.mp4", extractor="mediapipe")
    out = smooth_sequence(seq, "median", median_window=3)
    assert out.size == (320, 240) and out.fps == 30 and out.source == "x.mp4"
    assert out.keypoints.shape == seq.keypoints.shape
    with pytest.raises(ValueError, match="unknown filter"):
        smooth_sequence(seq, "kalman")
    with pytest.raises(ValueError):
        FilterParams(min_cutoff=0)


def test_streaming_filters() -> None:
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    y0 = f(np.array([0.0, 10.0]), 0.0)
    np.testing.assert_allclose(y0, [0.0, 10.0])       # first sample passes through
    y1 = f(np.array([1.0, 10.0]), 1 / 30)
    assert 0.0 < y1[0] < 1.0 and y1[1] == pytest.approx(10.0)
    f.reset(np.array([True, False]))
    y2 = f(np.array([5.0, 10.0]), 2 / 30)
    assert y2[0] == pytest.approx(5.0)                 # restarted element passes through

    kf = KeypointFilter(frame_height=H, max_gap=2)
    kp = np.zeros((25, 3), np.float32)
    kp[:, :2], kp[:, 2] = 100.0, 1.0
    kf(kp, 0.0)
    moved = kp.copy()
    moved[:, 0] = 110.0
    a = kf(moved, 1 / 30)
    assert (a[:, 0] > 100.0).all() and (a[:, 0] < 110.0).all()
    gone = moved.copy()
    gone[0] = 0.0
    b = kf(gone, 2 / 30)
    assert (b[0] == 0).all()                           # missing stays missing
    for i in range(3, 7):                              # > max_gap missing: state dropped
        kf(gone, i / 30)
    back = kf(moved, 7 / 30)
    assert back[0, 0] == pytest.approx(110.0)


@pytest.mark.parametrize("field, bad, ok, message", [
    ("method", "kalman", "median", "unknown filter 'kalman' (choose from "),
    ("min_cutoff", 0.0, 1e-3, "min_cutoff and d_cutoff must be > 0 Hz"),
    ("d_cutoff", 0.0, 1e-3, "min_cutoff and d_cutoff must be > 0 Hz"),
    ("beta", -1e-3, 0.0, "beta must be >= 0"),
    ("median_window", 0, 1, "median_window must be >= 1 frame"),
    ("max_gap", -1, 0, "max_gap must be >= 0 frames"),
    ("sg_window", 0, 1, "sg_window must be >= 1 frame and sg_order >= 0"),
    ("sg_order", -1, 0, "sg_window must be >= 1 frame and sg_order >= 0"),
    ("fill_factor", 0.0, 1.0, "fill_factor must be in (0, 1]"),
    ("fill_factor", 1.001, 1e-3, "fill_factor must be in (0, 1]"),
])
def test_filter_parameters_are_checked_at_their_bounds(field: str, bad, ok, message: str) -> None:
    """Each bound refuses the first bad value with its own message and takes the last good one."""
    import re

    with pytest.raises(ValueError, match="^" + re.escape(message)):
        FilterParams(**{field: bad})
    assert getattr(FilterParams(**{field: ok}), field) == ok


def _fill_gaps_oracle(kp: np.ndarray, ts: np.ndarray, max_gap: int, factor: float
                      ) -> tuple[np.ndarray, int]:
    """fill_gaps written again, frame by frame: a run of missing frames with a present frame
    on both sides and at most `max_gap` long is interpolated in time (in frames when the two
    ends share a timestamp); its confidence is `factor` x the smaller end's."""
    out = kp.astype(np.float64).copy()
    filled = 0
    if max_gap < 1 or len(kp) < 3:
        return out, 0
    for j in range(kp.shape[1]):
        t = 0
        while t < len(kp):
            if kp[t, j, 2] > 0:
                t += 1
                continue
            start = t
            while t < len(kp) and kp[t, j, 2] <= 0:
                t += 1
            a, b = start - 1, t                      # the present frames around the run
            if a < 0 or b >= len(kp) or b - a - 1 > max_gap:
                continue
            for m in range(a + 1, b):
                span = ts[b] - ts[a]
                w = (ts[m] - ts[a]) / span if span > 0 else (m - a) / (b - a)
                out[m, j, :2] = (1 - w) * kp[a, j, :2] + w * kp[b, j, :2]
                out[m, j, 2] = factor * min(kp[a, j, 2], kp[b, j, 2])
            filled += b - a - 1
    return out, filled


@pytest.mark.parametrize("seed", range(6))
def test_fill_gaps_equals_a_frame_by_frame_oracle(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t_len, joints = int(rng.integers(3, 40)), 6
    kp = np.concatenate([rng.uniform(0, 500, (t_len, joints, 2)),
                         rng.uniform(0.2, 1.0, (t_len, joints, 1))], axis=-1)
    kp[rng.random((t_len, joints)) < 0.35] = 0.0          # missing joints: (0, 0, 0)
    kp[:, 0] = 0.0                                        # a joint never seen
    kp[:, 1] = 0.0
    kp[[0, t_len - 1], 1] = (10.0, 20.0, 0.8)             # seen only at both ends
    ts = np.cumsum(rng.choice([0.0, 1 / 30, 1 / 15], t_len))  # irregular, some equal
    for max_gap in (0, 1, 2, 3, 7):
        for factor in (0.5, 1.0):
            original = kp.copy()
            got, n = fill_gaps(kp, ts, max_gap, factor)
            want, n_want = _fill_gaps_oracle(kp, ts, max_gap, factor)
            assert got.dtype == np.float32 and np.array_equal(kp, original)  # a copy
            assert n == n_want, (max_gap, factor)
            np.testing.assert_allclose(got, want, atol=1e-3)
    # The defaults: gaps up to 5 frames, half the ends' confidence.
    got, _ = fill_gaps(kp, ts)
    np.testing.assert_allclose(got, _fill_gaps_oracle(kp, ts, 5, 0.5)[0], atol=1e-3)
