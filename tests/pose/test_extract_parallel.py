"""Parallel extraction: N spawned workers give the single-worker result; a worker failure or
Ctrl-C stops every worker and writes nothing."""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from rtmotion.cli import main
from rtmotion.errors import StageError
from rtmotion.pose.extract import (
    default_workers,
    extract_video,
    fill_skipped,
    plan_chunks,
)

HELPER = "pose_extract_helpers:BrightnessExtractor"


def test_plan_chunks() -> None:
    ch = plan_chunks(0, 100, 3, overlap=8, open_end=True)
    assert [(c.warm, c.start, c.end) for c in ch] == [(0, 0, 33), (25, 33, 67), (59, 67, None)]
    ch = plan_chunks(10, 14, 8, overlap=2, open_end=False)      # more workers than frames
    assert len(ch) == 4 and ch[-1].end == 14 and ch[0].warm == 10
    assert default_workers(60) == 1 and default_workers(10_000) >= 1


@pytest.mark.mediapipe
def test_parallel_matches_single_worker(dancer_clip) -> None:
    one, s1 = extract_video(dancer_clip.video, workers=1, show_progress=False)
    two, s2 = extract_video(dancer_clip.video, workers=2, show_progress=False)
    assert s1.workers == 1 and s2.workers == 2
    assert len(one) == len(two) == 60
    np.testing.assert_array_equal(one.timestamps, two.timestamps)
    a, b = one.keypoints, two.keypoints
    assert ((a[..., 2] > 0) == (b[..., 2] > 0)).mean() > 0.98
    # The first chunk runs the same frames from the same start: the same numbers.
    np.testing.assert_allclose(a[:30], b[:30], atol=0.05)
    # The second chunk's tracker starts 8 frames early and never sees frames 0..21; its landmarks
    # differ slightly (measured: mean 0.47 px, max 2 px at 256x256 vs. MediaPipe's own error of
    # ~2.8 px). Bound: < 1% / 4% of the body height (~142 px here).
    both = (a[30:, :, 2] > 0) & (b[30:, :, 2] > 0)
    d = np.linalg.norm(a[30:, :, :2] - b[30:, :, :2], axis=-1)[both]
    height = np.linalg.norm(dancer_clip.seq.keypoints[:, 0, :2]
                            - dancer_clip.seq.keypoints[:, [11, 14], :2].mean(axis=1), axis=1).mean()
    assert d.mean() < 0.01 * height and d.max() < 0.04 * height, (d.mean(), d.max(), height)


def test_parallel_order_and_warmup_with_plugin(dancer_clip) -> None:
    # A deterministic plug-in shows chunks are concatenated in order, and that each later
    # chunk ran exactly `overlap` warm-up frames before its first kept frame.
    seq, summ = extract_video(dancer_clip.video, extractor=HELPER, workers=3, overlap=4,
                              show_progress=False)
    assert summ.workers == 3 and len(seq) == 60
    calls = seq.keypoints[:, 0, 1]                       # the extractor's call counter
    np.testing.assert_array_equal(calls[:20], np.arange(1, 21))
    np.testing.assert_array_equal(calls[20:40], np.arange(5, 25))
    np.testing.assert_array_equal(calls[40:], np.arange(5, 25))
    single, _ = extract_video(dancer_clip.video, extractor=HELPER, workers=1, show_progress=False)
    np.testing.assert_array_equal(seq.keypoints[:, 0, 0], single.keypoints[:, 0, 0])


def test_every_second_frame_in_parallel_chunks(dancer_clip) -> None:
    """`every=2`: the extractor sees the even frames of the range; the others are interpolated
    in time, across chunk seams too, and the last one keeps the pose before it."""
    seq, summ = extract_video(dancer_clip.video, extractor=HELPER, workers=3, overlap=4,
                              show_progress=False, every=2)
    assert summ.every == 2 and "every 2 frames" in " ".join(summ.lines()) and len(seq) == 60
    single, _ = extract_video(dancer_clip.video, extractor=HELPER, workers=1, show_progress=False)
    bright, every_bright = single.keypoints[:, 0, 0], seq.keypoints[:, 0, 0]
    seen = np.zeros(60, bool)
    seen[::2] = True
    np.testing.assert_allclose(every_bright[seen], bright[seen], rtol=1e-6)
    inner = np.flatnonzero(~seen)[:-1]  # frames 1, 3, .., 57 (19 and 39 across the seams)
    np.testing.assert_allclose(every_bright[inner], (bright[inner - 1] + bright[inner + 1]) / 2,
                               rtol=1e-5)
    assert every_bright[59] == every_bright[58]
    calls = seq.keypoints[:, 0, 1]  # chunk 0 called its extractor on frames 0, 2, .., 18
    assert calls[18] == 10 and calls[1] == 1.5 and calls[19] == (10 + calls[20]) / 2
    assert (seq.keypoints[:, 0, 2] == 1.0).all()


def test_fill_skipped_keeps_missing_joints_missing() -> None:
    kp = np.zeros((5, 3, 3), np.float32)
    kp[0] = [[0, 0, 0.9], [10, 10, 0.8], [5, 5, 0.0]]  # joint 2 missing at the start
    kp[4] = [[4, 8, 0.5], [10, 10, 0.0], [9, 9, 0.7]]  # joint 1 missing at the end
    seen = np.array([True, False, False, False, True])
    ts = np.array([0.0, 0.1, 0.3, 0.35, 0.4])  # uneven: weights follow time
    out = fill_skipped(kp, ts, seen)
    np.testing.assert_allclose(out[2, 0], [3, 6, 0.5])  # 3/4 of the way in time; the lower confidence
    np.testing.assert_allclose(out[1, 0], [1, 2, 0.5])
    assert (out[1:4, 1:] == 0).all()  # a joint one side lacks stays missing, for the filter
    np.testing.assert_array_equal(out[[0, 4]], kp[[0, 4]])
    seen[4] = False  # a range that ends on skipped frames keeps the last estimated pose
    np.testing.assert_array_equal(fill_skipped(kp, ts, seen)[1:], np.repeat(kp[:1], 4, axis=0))
    with pytest.raises(ValueError, match="every must be at least 1"):
        extract_video("nothing.mp4", every=0)


@pytest.mark.mediapipe
def test_every_second_frame_stays_near_every_frame(dancer_clip) -> None:
    """MediaPipe on every second frame: the poses stay within a fraction of the body height of
    every frame's (docs/BENCHMARKS.md measures it on longer clips)."""
    from rtmotion.pose.filters import OFFLINE_FILTER, FilterParams, smooth_keypoints

    one, _ = extract_video(dancer_clip.video, workers=1, show_progress=False)
    two, summ = extract_video(dancer_clip.video, workers=1, show_progress=False, every=2)
    assert summ.every == 2
    p = FilterParams(method=OFFLINE_FILTER)
    a = smooth_keypoints(one.keypoints, one.timestamps, one.size[1], p)[0]
    b = smooth_keypoints(two.keypoints, two.timestamps, two.size[1], p)[0]
    both = (a[..., 2] > 0) & (b[..., 2] > 0)
    assert both.mean() > 0.9
    d = np.linalg.norm(a[..., :2] - b[..., :2], axis=-1)[both]
    height = np.ptp(dancer_clip.seq.keypoints[..., 1], axis=1).mean()
    assert d.mean() < 0.01 * height and np.percentile(d, 95) < 0.03 * height, (d.mean(), height)


def test_worker_failure_stops_all(tmp_path: Path, dancer_clip) -> None:
    # Chunk 0 runs in this process, chunks 1 and 2 in workers; worker 1 fails at once.
    opts = {"delay": 0.5, "fail_in": "rtmotion-pose-1", "marker": str(tmp_path)}
    t0 = time.monotonic()
    with pytest.raises(StageError, match="simulated model failure"):
        extract_video(dancer_clip.video, extractor=HELPER, extractor_opts=opts, workers=3,
                      show_progress=False)
    # The others would need 20 * 0.5 = 10 s; they were stopped, not waited for.
    assert time.monotonic() - t0 < 8
    assert not multiprocessing.active_children()
    # The failing worker closed its extractor on the way out, so did this process's chunk
    # (aborted); worker 2 was killed mid-chunk.
    assert (tmp_path / "closed-rtmotion-pose-1").exists()
    assert (tmp_path / "closed-MainProcess").exists()
    assert not (tmp_path / "closed-rtmotion-pose-2").exists()

    out = tmp_path / "p.npz"
    assert main(["-q", "extract", str(dancer_clip.video), "-o", str(out), "--extractor", HELPER,
                 "--workers", "2"]) == 0                  # the plug-in itself works
    out.unlink()


def test_ctrl_c_terminates_workers(tmp_path: Path, dancer_clip, capsys) -> None:
    out, overlay = tmp_path / "p.npz", tmp_path / "o.mp4"
    # Send SIGINT to ourselves while the (slow) workers run, as a terminal Ctrl-C would.
    old = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(3.0, lambda: signal.raise_signal(signal.SIGINT))
    timer.start()
    try:
        rc = main(["-q", "extract", str(dancer_clip.video), "-o", str(out), "--overlay", str(overlay),
                   "--extractor", "pose_extract_helpers:SlowExtractor", "--workers", "2"])
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, old)
    assert rc == 130
    assert "interrupted" in capsys.readouterr().err
    assert not multiprocessing.active_children()
    assert not out.exists() and not overlay.exists()
    assert not list(tmp_path.glob(".*part*"))
