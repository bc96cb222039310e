"""The offline zero-phase filter: no lag, never worse than the raw estimates, gaps respected,
and `extract`'s default."""

from __future__ import annotations

import numpy as np
import pytest

from rtmotion.pose.extract import extract_to_file, extract_video
from rtmotion.pose.filters import OFFLINE_FILTER, FilterParams, smooth_keypoints
from rtmotion.synthetic import render_sequence, write_dancer_video

H = 256.0


def _lag(filtered: np.ndarray, truth: np.ndarray) -> int:
    """The shift (frames) of the truth that the filtered track matches best."""
    errs = [np.abs(filtered[s:] - truth[: len(truth) - s]).mean() for s in range(6)]
    return int(np.argmin(errs))


def _track(x: np.ndarray) -> np.ndarray:
    kp = np.zeros((len(x), 25, 3), np.float32)
    kp[:, :, 0] = x[:, None]
    kp[:, :, 1] = 100.0
    kp[:, :, 2] = 1.0
    return kp


def test_zero_phase_has_no_lag_where_one_euro_has_some() -> None:
    t = np.arange(120) / 30.0
    truth = 128 + 60 * np.sin(2 * np.pi * 1.5 * t)                     # a fast 1.5 Hz sway
    noisy = truth + np.random.default_rng(0).normal(0, 2.0, len(t))
    zp, _ = smooth_keypoints(_track(noisy), t, H, FilterParams(method="zero-phase"))
    oe, _ = smooth_keypoints(_track(noisy), t, H, FilterParams(method="one-euro"))
    assert _lag(zp[:, 0, 0], truth) == 0 and _lag(oe[:, 0, 0], truth) >= 1
    assert np.abs(zp[:, 0, 0] - truth).mean() < np.abs(noisy - truth).mean() * 0.7


@pytest.mark.parametrize("character,motion", [("ada", "dance"), ("bruno", "jump"), ("mira", "twist"),
                                              ("kofi", "wave"), ("lena", "steps"), ("sam", "squat")])
def test_never_worse_than_raw_on_noisy_ground_truth(character: str, motion: str) -> None:
    """Ground truth of six dancers plus estimator-like noise (1.5 px jitter, 2 % dropouts)."""
    _, seq = render_sequence(character, motion, seconds=3, size=(256, 256), fps=30, seed=1)
    rng = np.random.default_rng(1)
    raw = seq.keypoints.copy()
    vis = raw[..., 2] > 0
    raw[..., :2] += rng.normal(0, 1.5, raw[..., :2].shape).astype(np.float32)
    drop = vis & (rng.random(vis.shape) < 0.02)
    raw[drop] = 0.0
    raw[~vis] = 0.0
    zp, _ = smooth_keypoints(raw, seq.timestamps, H, FilterParams(method=OFFLINE_FILTER))
    both = (raw[..., 2] > 0) & vis
    err_raw = np.linalg.norm(raw[..., :2] - seq.keypoints[..., :2], axis=-1)[both].mean()
    err_zp = np.linalg.norm(zp[..., :2] - seq.keypoints[..., :2], axis=-1)[both].mean()
    assert err_zp <= err_raw
    # Dropped joints inside a track are filled back, near the truth.
    filled = drop & (zp[..., 2] > 0)
    assert filled.sum() > 0.5 * drop.sum()
    assert np.linalg.norm(zp[..., :2] - seq.keypoints[..., :2], axis=-1)[filled].mean() < 5


def test_gaps_are_kept_and_short_runs_survive() -> None:
    t = np.arange(40) / 30.0
    kp = _track(100 + np.arange(40, dtype=np.float64))
    kp[10:25] = 0.0      # a long gap: stays missing
    kp[30:33] = 0.0      # a short one at the end region: filled
    kp[0:3, :, 2] = 1.0
    out, filled = smooth_keypoints(kp, t, H, FilterParams(method="zero-phase"))
    assert (out[10:25] == 0).all()
    assert (out[30:33, :, 2] > 0).all() and filled == 3 * 25
    # A straight line is reproduced exactly by the local polynomial.
    assert np.allclose(out[25:40, 0, 0], 100 + np.arange(25, 40), atol=1e-3)


def test_extract_defaults_to_zero_phase(tmp_path) -> None:
    seq, summary = extract_to_file("synthetic:ada,seconds=1", tmp_path / "p.npz", show_progress=False)
    assert OFFLINE_FILTER == "zero-phase" and summary.filter.startswith("zero-phase")
    assert len(seq) == 30


@pytest.mark.mediapipe
@pytest.mark.slow  # a quality measure on MediaPipe; the filter itself has per-run oracles
def test_never_worse_than_raw_on_mediapipe(tmp_path) -> None:
    """Real MediaPipe estimates of two synthetic dancers (the tuning in docs/BENCHMARKS.md used
    six): the zero-phase filter is no farther from the truth than the raw estimates and has
    less jitter."""
    for character, motion in (("mira", "twist"), ("bruno", "jump")):
        video = tmp_path / f"{character}.mp4"
        truth = write_dancer_video(video, character, motion, seconds=2, size=(256, 256), fps=30, seed=1)
        raw, _ = extract_video(video, workers=1, show_progress=False)
        zp, _ = smooth_keypoints(raw.keypoints, raw.timestamps, H, FilterParams(method=OFFLINE_FILTER))
        both = (raw.keypoints[..., 2] > 0) & (truth.keypoints[..., 2] > 0)
        e_raw = np.linalg.norm(raw.keypoints[..., :2] - truth.keypoints[..., :2], axis=-1)
        e_zp = np.linalg.norm(zp[..., :2] - truth.keypoints[..., :2], axis=-1)
        assert e_zp[both].mean() <= e_raw[both].mean() + 0.02   # pixels
        d_raw = raw.keypoints[2:, :, :2] - 2 * raw.keypoints[1:-1, :, :2] + raw.keypoints[:-2, :, :2]
        d_zp = zp[2:, :, :2] - 2 * zp[1:-1, :, :2] + zp[:-2, :, :2]
        ok = both[2:] & both[1:-1] & both[:-2]
        assert np.linalg.norm(d_zp, axis=-1)[ok].mean() < np.linalg.norm(d_raw, axis=-1)[ok].mean()
