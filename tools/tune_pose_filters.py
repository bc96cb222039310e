"""Measure pose filters against the synthetic ground truth (issue 10: offline zero-phase filter,
live One-Euro parameters). Renders dancers, runs MediaPipe, and scores each filter setting:

    error   mean distance to the truth, % of body height (frames where both see the joint)
    wrist   the same for the wrists only (the fastest joints)
    jitter  mean norm of the second time difference of the error, % of body height
    lag     the shift (frames) of the truth that the filtered track matches best (0 = no lag)

Usage: python tools/tune_pose_filters.py [--seconds 3] [--out report.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from rtmotion.pose.extract import extract_video
from rtmotion.pose.filters import FilterParams, smooth_keypoints
from rtmotion.synthetic import write_dancer_video

CASES = [("ada", "dance"), ("bruno", "jump"), ("mira", "twist"), ("kofi", "dance"),
         ("lena", "steps"), ("sam", "wave")]


def body_height(truth: np.ndarray) -> float:
    vis = truth[..., 2] > 0
    ys = np.where(vis, truth[..., 1], np.nan)
    return float(np.nanmedian(np.nanmax(ys, axis=1) - np.nanmin(ys, axis=1)))


def score(est: np.ndarray, truth: np.ndarray, bh: float, wrists: list[int]) -> dict[str, float]:
    both = (est[..., 2] > 0) & (truth[..., 2] > 0)
    d = np.linalg.norm(est[..., :2] - truth[..., :2], axis=-1)
    err = float(d[both].mean() / bh * 100)
    wr = float(d[:, wrists][both[:, wrists]].mean() / bh * 100)
    e = est[..., :2] - truth[..., :2]
    ok = both[2:] & both[1:-1] & both[:-2]
    jit = float(np.linalg.norm(e[2:] - 2 * e[1:-1] + e[:-2], axis=-1)[ok].mean() / bh * 100)
    lags = []
    for s in range(5):
        a, b = est[s:], truth[:len(truth) - s]
        m = (a[..., 2] > 0) & (b[..., 2] > 0)
        lags.append(np.linalg.norm(a[..., :2] - b[..., :2], axis=-1)[m].mean())
    return {"error": round(err, 3), "wrist": round(wr, 3), "jitter": round(jit, 3),
            "lag": int(np.argmin(lags))}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    settings: dict[str, FilterParams] = {"raw": FilterParams(method="none", max_gap=0),
                                         "gapfill": FilterParams(method="none")}
    for w in (5, 7, 9, 11, 13):
        for o in (2, 3):
            settings[f"sg w{w} o{o}"] = FilterParams(method="zero-phase", sg_window=w, sg_order=o)
    settings["median 5"] = FilterParams(method="median", median_window=5)
    for mc in (0.5, 1.0, 2.0, 4.0):
        for beta in (5.0, 10.0, 20.0, 40.0, 80.0):
            settings[f"1e mc{mc} b{beta}"] = FilterParams(method="one-euro", min_cutoff=mc, beta=beta)
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for char, motion in CASES:
            video = Path(tmp) / f"{char}_{motion}.mp4"
            truth = write_dancer_video(video, char, motion, seconds=args.seconds, size=(256, 256),
                                       fps=30, seed=1)
            raw, _ = extract_video(video, workers=1, show_progress=False)
            bh = body_height(truth.keypoints)
            wrists = [truth.joint_names.index(n) for n in ("l_wrist", "r_wrist")
                      if n in truth.joint_names]
            key = f"{char}/{motion}"
            for name, p in settings.items():
                kp, _ = smooth_keypoints(raw.keypoints, raw.timestamps, raw.size[1], p)
                results.setdefault(name, {})[key] = score(kp, truth.keypoints, bh, wrists)
            print(key, "raw", results["raw"][key], file=sys.stderr)
    rows = []
    for name, per in results.items():
        m = {k: float(np.mean([v[k] for v in per.values()])) for k in ("error", "wrist", "jitter", "lag")}
        worst = max(per[c]["error"] - results["raw"][c]["error"] for c in per)
        rows.append((name, m, worst))
    print(f"{'setting':18s} {'error%':>7s} {'wrist%':>7s} {'jitter%':>8s} {'lag':>5s} {'worst-vs-raw':>12s}")
    for name, m, worst in rows:
        print(f"{name:18s} {m['error']:7.3f} {m['wrist']:7.3f} {m['jitter']:8.3f} {m['lag']:5.2f} {worst:+12.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
