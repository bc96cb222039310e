"""Temporal keypoint filters: gap filling, One-Euro and median smoothing.

Why: per-frame pose estimates jitter by a few pixels and drop joints now and then. The generator
sees that jitter as flicker (EDN smooths its keypoints for the same reason), so poses are cleaned
before use:

1. `fill_gaps`: a joint missing for at most `max_gap` frames between two detections is linearly
   interpolated in time; its confidence becomes `fill_factor * min(neighbours)` so consumers can
   tell it was filled. Longer gaps (and gaps at the start or the end) stay missing.
2. a smoother per joint coordinate, run independently on each run of consecutive present frames
   (the state restarts after a long gap, so nothing is smeared across it):
   - "one-euro": the One-Euro filter (Casiez, Roussel, Vogel, CHI 2012), causal and
     timestamp-aware: an adaptive low-pass whose cutoff rises with speed, so slow motion is
     de-jittered while fast motion keeps little lag;
   - "median": a centered running median over `median_window` frames (EDN's choice), which
     removes isolated spikes but is not causal;
   - "zero-phase": for offline use, where the whole sequence is known. A Savitzky-Golay filter
     (a local polynomial of order `sg_order` fitted over `sg_window` frames, centered) run on
     each run of present frames: no lag at all (it is symmetric in time), and unlike a
     forward-backward low-pass it keeps the peaks of fast moves (a quadratic follows a wrist's
     turn instead of rounding it off). Its window is chosen by measurement against the synthetic
     ground truth so that it is never worse than the raw estimates (docs/BENCHMARKS.md);
   - "none": no smoothing (gap filling still applies unless `max_gap=0`).

Units: the One-Euro filter works on coordinates divided by the frame height, so its parameters
do not depend on the video's resolution: `min_cutoff` and `d_cutoff` are in Hz, `beta` in
1 / (frame heights per second).

Everything here keeps the pose conventions: float32 (T, K, 3), missing = (0, 0, 0), never NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rtmotion.pose.posefile import PoseSequence

FILTER_METHODS: tuple[str, ...] = ("zero-phase", "one-euro", "median", "none")
#: the default for offline use (`rtmotion extract`, `rtmotion convert`): no lag
OFFLINE_FILTER = "zero-phase"


@dataclass(frozen=True)
class FilterParams:
    """Parameters of `smooth_sequence` (CLI: --filter, --min-cutoff, --beta, --d-cutoff,
    --median-window, --max-gap).

    One-Euro defaults were picked by a grid search on MediaPipe output for the four synthetic
    dancers (3 s "dance", 256x256, seed 1), scoring error vs ground truth and jitter (mean norm of
    the second time difference of the error, in body heights): raw 1.64% / 0.35%;
    min_cutoff=2, beta=5 gives 1.68% / 0.13% (jitter -63% for +0.04 points of error; lower
    cutoffs cut jitter no further but add lag, e.g. 0.5 Hz / beta 0: 2.02% / 0.11%).
    """

    method: str = "one-euro"
    min_cutoff: float = 2.0   # Hz; lower = smoother when still, more lag
    beta: float = 5.0         # 1/(frame heights per second); higher = less lag when moving fast
    d_cutoff: float = 1.0     # Hz, cutoff of the speed estimate
    median_window: int = 5    # frames, odd
    max_gap: int = 5          # frames; longer gaps stay missing
    fill_factor: float = 0.5  # confidence multiplier of interpolated joints
    sg_window: int = 9        # frames (odd), zero-phase Savitzky-Golay window
    sg_order: int = 3         # polynomial order of the zero-phase filter

    def __post_init__(self) -> None:
        if self.method not in FILTER_METHODS:
            raise ValueError(f"unknown filter '{self.method}' (choose from {', '.join(FILTER_METHODS)})")
        if self.min_cutoff <= 0 or self.d_cutoff <= 0:
            raise ValueError("min_cutoff and d_cutoff must be > 0 Hz")
        if self.beta < 0:
            raise ValueError("beta must be >= 0")
        if self.median_window < 1:
            raise ValueError("median_window must be >= 1 frame")
        if self.max_gap < 0:
            raise ValueError("max_gap must be >= 0 frames")
        if self.sg_window < 1 or self.sg_order < 0:
            raise ValueError("sg_window must be >= 1 frame and sg_order >= 0")
        if not 0.0 < self.fill_factor <= 1.0:
            raise ValueError("fill_factor must be in (0, 1]")


# ---- One-Euro ------------------------------------------------------------------------------


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Smoothing factor of a first-order low-pass with `cutoff` Hz sampled every `dt` s."""
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Elementwise One-Euro filter over arrays of a fixed shape (e.g. (K, 2) joint coordinates).

    Each element has its own state; `reset(mask)` restarts chosen elements (the next value passes
    through unchanged), which is how gaps in a joint's track are handled.

    Usage: `y = f(x, t)` with `t` in seconds, strictly increasing. Values are whatever unit the
    caller uses; `beta` is in 1 / (that unit per second).
    """

    def __init__(self, min_cutoff: float = 2.0, beta: float = 5.0, d_cutoff: float = 1.0) -> None:
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self._x: np.ndarray | None = None      # last filtered value
        self._dx: np.ndarray | None = None     # last filtered derivative
        self._t: np.ndarray | None = None      # time of each element's last update
        self._init: np.ndarray | None = None   # bool: element has state

    def reset(self, mask: np.ndarray | None = None) -> None:
        """Forget the state of all elements, or of those where `mask` is True."""
        if mask is None or self._init is None:
            self._x = self._dx = self._t = self._init = None
        else:
            self._init &= ~np.asarray(mask, dtype=bool)

    def __call__(self, x: np.ndarray, t: float, mask: np.ndarray | None = None) -> np.ndarray:
        """Filter one sample.

        Args:
            x: float array, any fixed shape.
            t: timestamp in seconds.
            mask: bool, same shape; only True elements are updated (others keep their state and
                are returned unchanged). None = all.
        Returns:
            float64 array like `x`.
        """
        x = np.asarray(x, dtype=np.float64)
        upd = np.ones(x.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        if self._x is None:
            self._x = x.copy()
            self._dx = np.zeros_like(x)
            self._t = np.full(x.shape, float(t))
            self._init = upd.copy()
            return x.copy()
        fresh = upd & ~self._init
        run = upd & self._init
        out = x.copy()
        if run.any():
            # Per-element dt: an element that skipped samples measures its speed over the whole
            # interval. Repeated or backwards timestamps fall back to one nominal frame so the
            # math stays finite rather than failing mid-video.
            dt = float(t) - self._t
            dt = np.where(dt > 0, dt, 1.0 / 30.0)
            dx = (x - self._x) / dt
            a_d = _alpha(self.d_cutoff, dt)
            dx_hat = a_d * dx + (1.0 - a_d) * self._dx
            cutoff = self.min_cutoff + self.beta * np.abs(dx_hat)
            a = _alpha(cutoff, dt)
            x_hat = a * x + (1.0 - a) * self._x
            out[run] = x_hat[run]
            self._dx[run] = dx_hat[run]
            self._x[run] = x_hat[run]
        if fresh.any():
            self._x[fresh] = x[fresh]
            self._dx[fresh] = 0.0
            self._init |= fresh
        self._t[upd] = float(t)
        return out


class KeypointFilter:
    """Streaming (live) One-Euro filter for one pose per call.

    A joint missing in a frame is returned missing; its filter state survives up to `max_gap`
    missing frames (a short dropout does not restart it), longer gaps restart it.
    Coordinates are filtered in frame heights (see module docstring), so pass `frame_height`.
    """

    def __init__(self, frame_height: float, min_cutoff: float = 2.0, beta: float = 5.0,
                 d_cutoff: float = 1.0, max_gap: int = 5) -> None:
        self.scale = float(frame_height)
        self.max_gap = int(max_gap)
        self._f = OneEuroFilter(min_cutoff, beta, d_cutoff)
        self._missing: np.ndarray | None = None

    def reset(self) -> None:
        self._f.reset()
        self._missing = None

    def __call__(self, keypoints: np.ndarray, t: float) -> np.ndarray:
        """keypoints float (K, 3) pixels + confidence, t seconds -> float32 (K, 3) filtered."""
        kp = np.asarray(keypoints, dtype=np.float32)
        present = kp[:, 2] > 0
        if self._missing is None:
            self._missing = np.zeros(len(kp), dtype=np.int64)
        self._missing = np.where(present, 0, self._missing + 1)
        stale = self._missing > self.max_gap
        if stale.any():
            self._f.reset(np.repeat(stale[:, None], 2, axis=1))
        mask = np.repeat(present[:, None], 2, axis=1)
        xy = self._f(kp[:, :2] / self.scale, t, mask) * self.scale
        out = kp.copy()
        out[present, :2] = xy[present]
        out[~present] = 0.0
        return out


# ---- sequence operations -------------------------------------------------------------------


def fill_gaps(keypoints: np.ndarray, timestamps: np.ndarray, max_gap: int = 5,
              fill_factor: float = 0.5) -> tuple[np.ndarray, int]:
    """Interpolate short interior gaps of each joint's track.

    Args:
        keypoints: float (T, K, 3), missing joints have confidence 0.
        timestamps: float (T,) seconds (interpolation weights follow time, not frame count).
        max_gap: longest run of missing frames that is filled.
        fill_factor: filled confidence = fill_factor * min(confidence before, after).
    Returns:
        (float32 (T, K, 3) copy, number of joint-frames filled).
    """
    kp = np.array(keypoints, dtype=np.float32, copy=True)
    ts = np.asarray(timestamps, dtype=np.float64)
    if max_gap <= 0 or len(kp) < 3:
        return kp, 0
    filled = 0
    present = kp[..., 2] > 0                                   # T x K
    for j in range(kp.shape[1]):
        idx = np.flatnonzero(present[:, j])
        if len(idx) < 2:
            continue
        # Consecutive present frames a < b with b - a - 1 missing frames between them.
        gaps = np.flatnonzero((np.diff(idx) > 1) & (np.diff(idx) - 1 <= max_gap))
        for g in gaps:
            a, b = int(idx[g]), int(idx[g + 1])
            span = ts[b] - ts[a]
            w = ((ts[a + 1:b] - ts[a]) / span) if span > 0 else np.linspace(0, 1, b - a + 1)[1:-1]
            w = w[:, None].astype(np.float32)
            kp[a + 1:b, j, :2] = (1 - w) * kp[a, j, :2] + w * kp[b, j, :2]
            kp[a + 1:b, j, 2] = fill_factor * min(kp[a, j, 2], kp[b, j, 2])
            filled += b - a - 1
    return kp, filled


def _one_euro_track(kp: np.ndarray, ts: np.ndarray, scale: float, p: FilterParams) -> np.ndarray:
    """One-Euro over (T, K, 3) keypoints; state restarts wherever a joint is missing."""
    out = kp.copy()
    f = OneEuroFilter(p.min_cutoff, p.beta, p.d_cutoff)
    prev = np.zeros(kp.shape[1], dtype=bool)
    for t in range(len(kp)):
        present = kp[t, :, 2] > 0
        restart = present & ~prev  # first frame after a (long) gap: start over
        if restart.any():
            f.reset(np.repeat(restart[:, None], 2, axis=1))
        if present.any():
            mask = np.repeat(present[:, None], 2, axis=1)
            xy = f(kp[t, :, :2] / scale, float(ts[t]), mask) * scale
            out[t, present, :2] = xy[present]
        prev = present
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in a 1-D bool array."""
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def _median_track(kp: np.ndarray, window: int) -> np.ndarray:
    """Centered running median per joint coordinate, per run of present frames."""
    # scipy is imported here, not at the top: scipy.ndimage and scipy.signal take about a
    # second to import, which every pose-extraction worker process (it imports this module and
    # never filters) and the live path (One-Euro only) would pay at start.
    from scipy.ndimage import median_filter

    window = int(window) | 1  # odd, so the window is centered
    out = kp.copy()
    if window <= 1:
        return out
    for j in range(kp.shape[1]):
        for a, b in _runs(kp[:, j, 2] > 0):
            if b - a < 3:
                continue
            out[a:b, j, :2] = median_filter(kp[a:b, j, :2], size=(window, 1), mode="nearest")
    return out


def _savgol_track(kp: np.ndarray, window: int, order: int) -> np.ndarray:
    """Zero-phase Savitzky-Golay per joint coordinate, per run of present frames.

    A run shorter than the window gets the largest odd window that fits it (and is left as it
    is when that is not longer than `order`, where the fit would be exact anyway)."""
    from scipy.signal import savgol_filter  # imported on first use (see `_median_track`)

    out = kp.copy()
    window = int(window) | 1
    if window <= 1:
        return out
    for j in range(kp.shape[1]):
        for a, b in _runs(kp[:, j, 2] > 0):
            w = min(window, (b - a) if (b - a) % 2 else (b - a - 1))
            if w <= order:
                continue
            # mode="interp": the ends are fitted with the same polynomial, not padded copies.
            out[a:b, j, :2] = savgol_filter(kp[a:b, j, :2].astype(np.float64), w, order, axis=0,
                                            mode="interp")
    return out


def smooth_keypoints(keypoints: np.ndarray, timestamps: np.ndarray, frame_height: float,
                     params: FilterParams | None = None) -> tuple[np.ndarray, int]:
    """Gap-fill then smooth raw keypoints (see module docstring).

    Args:
        keypoints: float (T, K, 3) pixels + confidence.
        timestamps: float (T,) seconds.
        frame_height: pixels; the One-Euro filter works in frame heights.
    Returns:
        (float32 (T, K, 3), joint-frames filled). Confidences are unchanged except for filled
        joints; missing joints (confidence 0, or any non-finite value) stay (0, 0, 0).
    """
    p = params or FilterParams()
    kp = np.array(keypoints, dtype=np.float64)
    # A joint with a non-finite coordinate or confidence is missing: filled or left out like one
    # with confidence 0, never fed to a filter (scipy's Savitzky-Golay refuses NaN; One-Euro
    # would carry it on).
    kp[~np.isfinite(kp).all(axis=-1)] = 0.0
    kp, filled = fill_gaps(kp, timestamps, p.max_gap, p.fill_factor)
    if p.method == "one-euro":
        kp = _one_euro_track(kp, np.asarray(timestamps, dtype=np.float64), max(float(frame_height), 1.0), p)
    elif p.method == "median":
        kp = _median_track(kp, p.median_window)
    elif p.method == "zero-phase":
        kp = _savgol_track(kp, p.sg_window, p.sg_order)
    kp = np.nan_to_num(kp.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    kp[~(kp[..., 2] > 0)] = 0.0
    return kp, filled


def smooth_sequence(seq: PoseSequence, method: str = "one-euro", **params: float) -> PoseSequence:
    """A smoothed copy of `seq`.

    Args:
        seq: the raw poses.
        method: "zero-phase", "one-euro", "median" or "none".
        **params: any field of `FilterParams` (min_cutoff, beta, d_cutoff, median_window,
            max_gap, fill_factor, sg_window, sg_order).
    Returns:
        A new PoseSequence with the same metadata.
    """
    p = FilterParams(method=method, **params)  # type: ignore[arg-type]
    kp, _ = smooth_keypoints(seq.keypoints, seq.timestamps, seq.size[1], p)
    return seq.with_keypoints(kp)
