"""Temporal filters: One-Euro, median, gap filling (pure numpy, fast)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from scipy.signal import savgol_filter

from rtmotion.pose.filters import (
    FilterParams,
    KeypointFilter,
    OneEuroFilter,
    fill_gaps,
    smooth_keypoints,
    smooth_sequence,
)
from rtmotion.pose.posefile import PoseSequence
from rtmotion.synthetic import render_sequence

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


# ---- laws found unchecked by the mutation run (docs/MUTATION.md, pose group) ------------------


@pytest.fixture(scope="module")
def dancer() -> PoseSequence:
    """Two seconds of the synthetic dancer's ground truth with estimator-like trouble: 1.5 px
    jitter and 30 % of the joint-frames dropped, so every joint's track breaks into runs of
    present frames of many lengths (1, 2, 3, ... frames)."""
    _, seq = render_sequence("ada", "dance", seconds=2, size=(256, 256), fps=30, seed=1)
    rng = np.random.default_rng(7)
    kp = seq.keypoints.copy()
    kp[..., :2] += rng.normal(0, 1.5, kp[..., :2].shape).astype(np.float32)
    kp[(rng.random(kp.shape[:2]) < 0.3) | ~(seq.keypoints[..., 2] > 0)] = 0.0
    return seq.with_keypoints(kp)


def _present_runs(kp: np.ndarray, j: int) -> list[tuple[int, int]]:
    """[start, end) of each run of frames where joint j is present, walking frame by frame."""
    runs, t = [], 0
    while t < len(kp):
        if kp[t, j, 2] > 0:
            a = t
            while t < len(kp) and kp[t, j, 2] > 0:
                t += 1
            runs.append((a, t))
        else:
            t += 1
    return runs


def _has_every_short_run(kp: np.ndarray) -> bool:
    """The per-run oracles below are only as good as the runs they see: lengths 1 to 9."""
    return set(range(1, 10)) <= {b - a for j in range(kp.shape[1]) for a, b in _present_runs(kp, j)}


@pytest.mark.parametrize("window", [3, 4, 5])
def test_median_equals_a_running_median_per_run(dancer, window: int) -> None:
    """method "median": per joint and coordinate, per run of present frames, the median of the
    `window` (made odd) frames centred on each frame, the run's end values repeated past its
    ends; x and y separately; missing frames stay (0, 0, 0)."""
    kp = dancer.keypoints
    assert _has_every_short_run(kp)
    w = window | 1
    want = kp.astype(np.float64).copy()
    for j in range(kp.shape[1]):
        for a, b in _present_runs(kp, j):
            run = kp[a:b, j, :2].astype(np.float64)
            padded = np.concatenate([np.repeat(run[:1], w // 2, 0), run, np.repeat(run[-1:], w // 2, 0)])
            for i in range(b - a):
                want[a + i, j, :2] = np.median(padded[i:i + w], axis=0)
    got, _ = smooth_keypoints(kp, dancer.timestamps, H, FilterParams(method="median", median_window=window,
                                                                      max_gap=0))
    np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("window, order", [(9, 3), (5, 2)])
def test_zero_phase_equals_savitzky_golay_per_run(dancer, window: int, order: int) -> None:
    """method "zero-phase": per joint, per run of present frames, scipy's Savitzky-Golay fit (mode
    "interp") over the largest odd window <= min(sg_window, run length); a run whose window would
    not exceed `sg_order` is left as it is."""
    kp = dancer.keypoints
    assert _has_every_short_run(kp)
    want = kp.astype(np.float64).copy()
    for j in range(kp.shape[1]):
        for a, b in _present_runs(kp, j):
            n = b - a
            w = min(window, n if n % 2 else n - 1)
            if w > order:
                want[a:b, j, :2] = savgol_filter(kp[a:b, j, :2].astype(np.float64), w, order, axis=0,
                                                 mode="interp")
    got, _ = smooth_keypoints(kp, dancer.timestamps, H, FilterParams(method="zero-phase", sg_window=window,
                                                                      sg_order=order, max_gap=0))
    np.testing.assert_allclose(got, want, atol=1e-3)


@pytest.mark.parametrize("frame_height, scale", [(H, H), (0.0, 1.0)])
def test_one_euro_runs_one_fresh_filter_per_joint_and_run(dancer, frame_height: float, scale: float) -> None:
    """method "one-euro": each joint is filtered on its own, a fresh OneEuroFilter with the given
    min_cutoff, beta and d_cutoff per run of present frames, in frame heights (in pixels when the
    frame height is unknown, 0); one joint coming back never restarts another."""
    kp, ts = dancer.keypoints, dancer.timestamps
    p = FilterParams(min_cutoff=1.5, beta=3.0, d_cutoff=2.5, max_gap=0)
    want = kp.astype(np.float64).copy()
    for j in range(kp.shape[1]):
        for a, b in _present_runs(kp, j):
            f = OneEuroFilter(p.min_cutoff, p.beta, p.d_cutoff)
            for t in range(a, b):
                want[t, j, :2] = f(kp[t, j, :2] / scale, float(ts[t])) * scale
    got, _ = smooth_keypoints(kp, ts, frame_height, p)
    np.testing.assert_allclose(got, want, atol=1e-3)


def test_one_euro_reset_restarts_only_the_chosen_elements() -> None:
    """reset(mask): the chosen elements start over at their next sample (it passes through, and
    the filter goes on from it as a fresh one would), the others go on as if nothing happened;
    an element never updated before starts fresh when it first appears. reset() restarts all."""
    xs = np.random.default_rng(3).normal(0, 1, (9, 3)).cumsum(axis=0)
    ts = np.arange(9) / FPS
    f = OneEuroFilter(1.0, 0.5, 1.5)
    got = np.zeros_like(xs)
    for i in range(8):
        if i == 4:
            f.reset(np.array([True, False, False]))
        got[i] = f(xs[i], ts[i], np.array([True, True, i >= 5]))

    def alone(samples: range) -> dict[int, np.ndarray]:
        g = OneEuroFilter(1.0, 0.5, 1.5)
        return {i: g(xs[i], ts[i]) for i in samples}

    before, after, whole, late = alone(range(4)), alone(range(4, 8)), alone(range(8)), alone(range(5, 8))
    for i in range(8):
        assert got[i, 0] == pytest.approx((before if i < 4 else after)[i][0], abs=1e-12)
        assert got[i, 1] == pytest.approx(whole[i][1], abs=1e-12)
        assert got[i, 2] == pytest.approx(late[i][2] if i >= 5 else xs[i, 2], abs=1e-12)
    f.reset()
    np.testing.assert_array_equal(f(xs[8], ts[8]), xs[8])


def test_one_euro_counts_a_repeated_timestamp_as_one_nominal_frame() -> None:
    """A timestamp equal to the last one is taken as one frame at 30 fps later: the outputs are
    those of evenly spaced samples, finite, and float64 whatever the input's type."""
    xs = np.array([[0.0, 1.0], [0.2, 1.1], [0.5, 0.9], [0.6, 1.3]], dtype=np.float32)
    repeated, even = OneEuroFilter(), OneEuroFilter()
    a = [repeated(x, t) for x, t in zip(xs, (0.0, 1 / 30, 1 / 30, 2 / 30))]
    b = [even(x, t) for x, t in zip(xs, (0.0, 1 / 30, 2 / 30, 3 / 30))]
    assert all(y.dtype == np.float64 for y in a)
    np.testing.assert_allclose(np.stack(a), np.stack(b), rtol=1e-12)
    assert np.isfinite(np.stack(a)).all() and not np.allclose(a[2], xs[2])


def test_live_filters_default_to_the_offline_one_euro_parameters() -> None:
    """OneEuroFilter() and KeypointFilter(frame_height) use FilterParams' defaults (min_cutoff,
    beta, d_cutoff, max_gap): the same outputs as with those values given, through a dropout one
    frame longer than max_gap."""
    p = FilterParams()
    x = 100 + 40 * np.sin(np.arange(30) / 4.0)
    f, g = OneEuroFilter(), OneEuroFilter(p.min_cutoff, p.beta, p.d_cutoff)
    for i, v in enumerate(x):
        assert f(np.array([v / H]), i / FPS)[0] == g(np.array([v / H]), i / FPS)[0]
    kp = _track(x, k=2)
    kp[10:10 + p.max_gap + 1, 0] = 0.0
    live, given = KeypointFilter(H), KeypointFilter(H, p.min_cutoff, p.beta, p.d_cutoff, p.max_gap)
    for i in range(len(kp)):
        np.testing.assert_array_equal(live(kp[i], i / FPS), given(kp[i], i / FPS))


def test_live_filter_equals_offline_one_euro_without_dropouts() -> None:
    """KeypointFilter on a stream where every joint is always seen gives frame by frame what
    smooth_keypoints' one-euro gives for the whole sequence, with the same parameters; its output
    is float32 even for float64 input."""
    _, seq = render_sequence("ada", "dance", seconds=1, size=(256, 256), fps=30, seed=1)
    always = (seq.keypoints[..., 2] > 0).all(axis=0)
    kp = seq.keypoints[:, always].astype(np.float64)
    kp[..., :2] += np.random.default_rng(4).normal(0, 1.5, kp[..., :2].shape)
    p = FilterParams(min_cutoff=1.5, beta=3.0, d_cutoff=2.5, max_gap=0)
    offline, _ = smooth_keypoints(kp, seq.timestamps, H, p)
    kf = KeypointFilter(H, 1.5, 3.0, 2.5)
    live = np.stack([kf(kp[t], float(seq.timestamps[t])) for t in range(len(kp))])
    assert live.dtype == np.float32
    np.testing.assert_allclose(live, offline, atol=1e-3)


@pytest.mark.parametrize("gap", [3, 4])
def test_live_filter_keeps_its_state_through_max_gap_missing_frames(gap: int) -> None:
    """KeypointFilter(max_gap=3): a joint missing for 3 frames goes on from its state (its speed
    measured over the whole interval), one missing for 4 starts over; another joint seen
    throughout is never restarted."""
    x = 100 + 40 * np.sin(np.arange(20) / 3.0)
    ts = np.arange(20) / FPS
    kp = _track(x, k=2)
    kp[6:6 + gap, 0] = 0.0
    kf = KeypointFilter(H, 1.0, 2.0, 1.0, max_gap=3)
    got = np.stack([kf(kp[t], ts[t]) for t in range(20)])
    back = 6 + gap

    def alone(frames: list[int]) -> dict[int, float]:
        f = OneEuroFilter(1.0, 2.0, 1.0)
        return {t: float(f(np.array([x[t] / H], np.float32), ts[t])[0] * H) for t in frames}

    kept = alone(list(range(6)) + list(range(back, 20)))
    fresh = alone(list(range(back, 20)))
    whole = alone(list(range(20)))
    ref = kept if gap <= 3 else fresh
    for t in range(back, 20):
        assert got[t, 0, 0] == pytest.approx(ref[t], abs=1e-3)
    assert (got[6:back, 0] == 0).all()
    for t in range(20):
        assert got[t, 1, 0] == pytest.approx(whole[t], abs=1e-3)
    assert abs(kept[back + 1] - fresh[back + 1]) > 0.1     # the two cases differ


def test_live_filter_reset_starts_over() -> None:
    """KeypointFilter.reset() forgets every joint's state and dropout count: from the next pose on
    it gives what a new filter gives."""
    kp = _track(100 + 40 * np.sin(np.arange(12) / 3.0), k=2)
    kp[4:6, 0] = 0.0                                      # a dropout under way at the reset
    kf = KeypointFilter(H, 1.0, 2.0, 1.0, max_gap=3)
    for t in range(6):
        kf(kp[t], t / FPS)
    kf.reset()
    new = KeypointFilter(H, 1.0, 2.0, 1.0, max_gap=3)
    for t in range(6, 12):
        np.testing.assert_array_equal(kf(kp[t], t / FPS), new(kp[t], t / FPS))


def test_fill_gaps_in_the_shortest_tracks_and_its_default_max_gap() -> None:
    """Three frames with the middle one missing are filled (a joint seen only twice is enough);
    by default gaps of up to 5 frames are filled and 6 are not."""
    kp = _track(np.array([0.0, 50.0, 100.0]))
    kp[1] = 0.0
    out, n = fill_gaps(kp, np.arange(3) / FPS)
    assert n == 1 and out[1, 0, 0] == pytest.approx(50.0) and out[1, 0, 2] == pytest.approx(0.45)
    kp = _track(np.linspace(0, 190, 20), k=2)
    kp[2:7, 0] = 0.0
    kp[2:8, 1] = 0.0
    out, n = fill_gaps(kp, np.arange(20) / FPS)
    assert n == 5 and (out[2:7, 0, 2] > 0).all() and (out[2:8, 1] == 0).all()


def test_smooth_keypoints_fill_factor_and_what_bad_input_becomes() -> None:
    """smooth_keypoints passes `fill_factor` to the gap filling; a joint with a non-finite value
    (NaN, +inf, -inf) is missing, (0, 0, 0), never NaN or the largest float; a joint with
    confidence 0 comes out (0, 0, 0) whatever coordinates it carried."""
    kp = _track(np.linspace(0, 90, 9), k=3)
    kp[4, 0] = 0.0
    kp[:, 1, 0] = [np.nan, np.inf, -np.inf] * 3
    kp[:, 2] = (5.0, 7.0, 0.0)
    out, n = smooth_keypoints(kp, np.arange(9) / FPS, H, FilterParams(method="none", fill_factor=0.8))
    assert n == 1 and out[4, 0, 2] == pytest.approx(0.72)
    assert (out[:, 1] == 0).all()
    assert (out[:, 2] == 0).all()


@pytest.mark.parametrize("method", ["zero-phase", "one-euro", "median", "none"])
def test_a_non_finite_coordinate_is_a_missing_joint_for_every_filter(method: str) -> None:
    """One frame's NaN x on a present joint (a damaged pose file): every filter runs (scipy's
    Savitzky-Golay used to raise on it), the frame is gap-filled from its neighbours as a
    missing joint would be, and the rest of the track is what it is without the NaN frame
    marked missing."""
    kp = _track(np.linspace(0, 90, 12), k=1)
    bad = kp.copy()
    bad[5, 0, 0] = np.nan
    missing = kp.copy()
    missing[5, 0] = 0.0
    t = np.arange(12) / FPS
    params = FilterParams(method=method, max_gap=2, median_window=3, sg_window=5, sg_order=2)
    out, n = smooth_keypoints(bad, t, H, params)
    want, n_want = smooth_keypoints(missing, t, H, params)
    assert n == n_want == 1 and np.isfinite(out).all() and out[5, 0, 2] > 0
    np.testing.assert_array_equal(out, want)


def test_smooth_sequence_is_smooth_keypoints_with_its_parameters(dancer) -> None:
    """smooth_sequence(seq) is one-euro with FilterParams' defaults on the sequence's timestamps
    and frame height; a method and parameters given are used."""
    seq = dancer.with_keypoints(dancer.keypoints, size=(256, 200))
    default = smooth_sequence(seq)
    want, _ = smooth_keypoints(seq.keypoints, seq.timestamps, 200, FilterParams())
    np.testing.assert_array_equal(default.keypoints, want)
    med = smooth_sequence(seq, "median", median_window=3, max_gap=2)
    want, _ = smooth_keypoints(seq.keypoints, seq.timestamps, 200,
                               FilterParams(method="median", median_window=3, max_gap=2))
    np.testing.assert_array_equal(med.keypoints, want)
    assert not np.array_equal(med.keypoints, smooth_sequence(seq, "median").keypoints)


def test_an_unknown_filter_is_refused_with_the_known_ones() -> None:
    """The refusal lists every method."""
    with pytest.raises(ValueError) as e:
        FilterParams(method="kalman")
    assert str(e.value) == "unknown filter 'kalman' (choose from zero-phase, one-euro, median, none)"
