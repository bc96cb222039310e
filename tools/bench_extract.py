#!/usr/bin/env python
"""Benchmark pose extraction: speed (1 worker vs N workers) and MediaPipe accuracy against the
synthetic dancers' exact ground truth, per character and per joint group.

    python tools/bench_extract.py                      # full run (~1-2 min on 2 cores)
    python tools/bench_extract.py --quick              # smoke run (short clips)
    python tools/bench_extract.py --json bench_extract.json

Speed: a `--seconds` long `--size` synthetic clip (MP4, rendered first, not timed) is extracted by
`rtmotion.pose.extract.extract_video` with 1 worker, then with each of `--workers`; the time
includes process start-up, model load and decoding, i.e. what `rtmotion extract` costs.

Accuracy: each character dances `--acc-seconds` at `--acc-size`; BlazePose (tracking mode) runs
on the rendered frames; error = ||estimate - truth|| / body height (nose -> mid-ankle), averaged
over joints visible in both, reported raw and after the default One-Euro filter, with jitter
(mean norm of the second time difference of the error, same unit) and recall (share of
ground-truth-visible joints the estimator reported).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

GROUPS: dict[str, tuple[str, ...]] = {
    "head": ("nose", "r_eye", "l_eye", "r_ear", "l_ear"),
    "torso": ("neck", "r_shoulder", "l_shoulder", "mid_hip", "r_hip", "l_hip"),
    "arms": ("r_elbow", "r_wrist", "l_elbow", "l_wrist"),
    "legs": ("r_knee", "r_ankle", "l_knee", "l_ankle"),
    "feet": ("l_big_toe", "l_heel", "r_big_toe", "r_heel"),
}


def _errors(est: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(err (T, K) normalized by body height, visible-in-both mask (T, K))."""
    height = np.linalg.norm(gt[:, 0, :2] - (gt[:, 11, :2] + gt[:, 14, :2]) / 2, axis=1)
    vis = (est[..., 2] > 0) & (gt[..., 2] > 0)
    err = np.linalg.norm(est[..., :2] - gt[..., :2], axis=-1) / height[:, None]
    return err, vis


def _jitter(est: np.ndarray, gt: np.ndarray) -> float:
    height = np.linalg.norm(gt[:, 0, :2] - (gt[:, 11, :2] + gt[:, 14, :2]) / 2, axis=1)
    r = (est[..., :2] - gt[..., :2]) / height[:, None, None]
    vis = (est[..., 2] > 0) & (gt[..., 2] > 0)
    v = vis[2:] & vis[1:-1] & vis[:-2]
    acc = np.linalg.norm(r[2:] - 2 * r[1:-1] + r[:-2], axis=-1)
    return float(acc[v].mean()) if v.any() else float("nan")


def _cpu_seconds() -> float:
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def bench_speed(seconds: float, size: int, workers: list[int], tmp: Path) -> dict[str, Any]:
    from rtmotion.pose.extract import extract_video
    from rtmotion.synthetic import write_dancer_video

    video = tmp / f"bench_{size}.mp4"
    write_dancer_video(video, character="ada", motion="dance", seconds=seconds, size=(size, size), fps=30)
    rows = []
    for n in [1, *[w for w in workers if w != 1]]:
        c0 = _cpu_seconds()
        t0 = time.perf_counter()
        seq, summ = extract_video(video, workers=n, show_progress=False)
        wall = time.perf_counter() - t0
        # CPU time (this process + reaped workers) shows the parallel overhead even where a busy
        # machine hides the wall-clock gain.
        cpu = _cpu_seconds() - c0
        rows.append({"workers": summ.workers, "frames": len(seq), "seconds": round(wall, 2),
                     "cpu_seconds": round(cpu, 2), "load_avg_1min": round(os.getloadavg()[0], 2),
                     "fps": round(len(seq) / wall, 1), "ms_per_frame": round(1000 * wall / len(seq), 1),
                     "frames_no_person": summ.frames_no_person})
    base = rows[0]["fps"]
    for r in rows:
        r["speedup"] = round(r["fps"] / base, 2)
    return {"clip": {"seconds": seconds, "size": [size, size], "fps": 30, "frames": rows[0]["frames"]},
            "runs": rows}


def bench_accuracy(characters: list[str], seconds: float, size: int, seed: int) -> dict[str, Any]:
    from rtmotion.pose.extractors import get_extractor
    from rtmotion.pose.filters import FilterParams, smooth_keypoints
    from rtmotion.pose.skeleton import BODY25
    from rtmotion.synthetic import render_sequence

    out: dict[str, Any] = {"size": [size, size], "seconds": seconds, "seed": seed, "characters": {}}
    all_err, all_vis, all_err_f = [], [], []
    for ch in characters:
        frames, gt = render_sequence(ch, "dance", seconds=seconds, size=(size, size), fps=30, seed=seed)
        frames = list(frames)
        t0 = time.perf_counter()
        with get_extractor("mediapipe") as ex:
            est = np.stack([ex(f) for f in frames])
        ms = 1000 * (time.perf_counter() - t0) / len(frames)
        filt, _ = smooth_keypoints(est, gt.timestamps, size, FilterParams())
        g = gt.keypoints
        err, vis = _errors(est, g)
        err_f, vis_f = _errors(filt, g)
        per_frame = np.array([err[t][vis[t]].mean() for t in range(len(g)) if vis[t].any()])
        groups = {}
        for name, joints in GROUPS.items():
            idx = [BODY25.index(j) for j in joints]
            groups[name] = round(100 * float(err[:, idx][vis[:, idx]].mean()), 2)
        out["characters"][ch] = {
            "frames": len(g),
            "detected_frames": int((est[..., 2] > 0).any(axis=1).sum()),
            "recall": round(float(vis.sum() / (g[..., 2] > 0).sum()), 3),
            "err_mean_pct": round(100 * float(err[vis].mean()), 2),
            "err_frame_max_pct": round(100 * float(per_frame.max()), 2),
            "err_filtered_pct": round(100 * float(err_f[vis_f].mean()), 2),
            "jitter_raw_pct": round(100 * _jitter(est, g), 3),
            "jitter_filtered_pct": round(100 * _jitter(filt, g), 3),
            "groups_pct": groups,
            "body_height_px": round(float(np.linalg.norm(g[:, 0, :2] - (g[:, 11, :2] + g[:, 14, :2]) / 2, axis=1).mean()), 1),
            "ms_per_frame_mediapipe": round(ms, 1),
        }
        all_err.append(err[vis])
        all_err_f.append(err_f[vis_f])
        all_vis.append(vis)
    out["overall_err_mean_pct"] = round(100 * float(np.concatenate(all_err).mean()), 2)
    out["overall_err_filtered_pct"] = round(100 * float(np.concatenate(all_err_f).mean()), 2)
    return out


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0, help="speed clip length")
    p.add_argument("--size", type=int, default=512, help="speed clip size (square)")
    p.add_argument("--workers", type=int, nargs="+", default=None,
                   help="worker counts to compare with 1 (default: min(CPUs, 4))")
    p.add_argument("--characters", nargs="+", default=["ada", "bruno", "mira", "kofi"])
    p.add_argument("--acc-seconds", type=float, default=3.0)
    p.add_argument("--acc-size", type=int, default=512)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="short clips (smoke test)")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--skip-accuracy", action="store_true")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    a = p.parse_args(argv)
    if a.quick:
        a.seconds, a.size, a.acc_seconds, a.acc_size = 2.0, 256, 1.0, 256
    os.environ.setdefault("GLOG_minloglevel", "2")
    from rtmotion.pose.extract import default_workers

    workers = a.workers or [default_workers(10**6)]
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    import mediapipe

    report: dict[str, Any] = {"machine": {"cpus": cpus, "platform": platform.platform(),
                                          "python": sys.version.split()[0],
                                          "mediapipe": mediapipe.__version__}}
    if not a.skip_speed:
        with tempfile.TemporaryDirectory() as tmp:
            report["speed"] = bench_speed(a.seconds, a.size, workers, Path(tmp))
        s = report["speed"]
        print(f"\nextraction speed: {s['clip']['frames']} frames, {a.size}x{a.size}, {cpus} CPUs")
        rows = [["workers", "seconds", "fps", "ms/frame", "speedup", "cpu s", "load avg"]]
        rows += [[str(r["workers"]), f"{r['seconds']:.1f}", f"{r['fps']:.1f}", f"{r['ms_per_frame']:.1f}",
                  f"{r['speedup']:.2f}x", f"{r['cpu_seconds']:.1f}", f"{r['load_avg_1min']:.1f}"]
                 for r in s["runs"]]
        print(_table(rows))
    if not a.skip_accuracy:
        report["accuracy"] = acc = bench_accuracy(a.characters, a.acc_seconds, a.acc_size, a.seed)
        print(f"\nMediaPipe accuracy vs ground truth ({a.acc_size}x{a.acc_size}, {a.acc_seconds:g} s dance, "
              "error in % of body height)")
        head = ["character", "mean", "worst frame", "filtered", "jitter raw", "jitter filt", "recall",
                *GROUPS, "ms/frame"]
        rows = [head]
        for ch, r in acc["characters"].items():
            rows.append([ch, f"{r['err_mean_pct']:.2f}", f"{r['err_frame_max_pct']:.2f}",
                         f"{r['err_filtered_pct']:.2f}", f"{r['jitter_raw_pct']:.3f}",
                         f"{r['jitter_filtered_pct']:.3f}", f"{r['recall']:.3f}",
                         *[f"{r['groups_pct'][g]:.2f}" for g in GROUPS], f"{r['ms_per_frame_mediapipe']:.1f}"])
        print(_table(rows))
        print(f"overall: {acc['overall_err_mean_pct']:.2f}% raw, {acc['overall_err_filtered_pct']:.2f}% filtered")
    if a.json:
        a.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {a.json}")
    return 0


if __name__ == "__main__":  # guard required: extraction workers are spawned processes
    sys.exit(main())
