"""Time pose normalization (numpy, CPU): offline per sequence and live per pose.

Usage: python tools/bench_normalize.py [--frames 1000] [--repeat 20] [--json out.json]

Poses are synthetic BODY25 figures walking toward the camera (no video needed). Offline numbers
are the whole `normalize_sequence` (statistics of the source included) divided by the frame
count; live numbers are `OnlineNormalizer.__call__` per pose after the warm-up.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from rtmotion.pose.normalize import OnlineNormalizer, normalize_sequence
from rtmotion.pose.posefile import PoseSequence
from rtmotion.pose.skeleton import BODY25
from rtmotion.pose.stats import SubjectPoseStats


def walk(n: int, seed: int) -> PoseSequence:
    """Random-jittered figures: ankle y 300..450, height = ankle - 150, a few missing joints."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 0.2, (25, 2)) * np.array([0.3, 1.0])
    base[:, 1] = -np.abs(base[:, 1])
    for j in ("l_ankle", "r_ankle"):
        base[BODY25.index(j), 1] = 0.0
    ankle = np.linspace(300, 450, n)
    h = ankle - 150
    kp = np.ones((n, 25, 3), np.float32)
    kp[..., :2] = base[None] * h[:, None, None] + rng.normal(0, 1.0, (n, 25, 2))
    kp[..., 0] += 320
    kp[..., 1] += ankle[:, None]
    kp[rng.random((n, 25)) < 0.05] = 0
    return PoseSequence(kp, "body25", Fraction(30), (640, 480), np.arange(n) / 30)


def bench(frames: int, repeat: int) -> dict:
    target = SubjectPoseStats.from_sequence(walk(frames, 0))
    src = walk(frames, 1)
    res: dict = {"frames": frames, "repeat": repeat, "python": sys.version.split()[0],
                 "numpy": np.__version__, "machine": platform.processor() or platform.machine()}
    t0 = time.perf_counter()
    for _ in range(repeat):
        SubjectPoseStats.from_sequence(src)
    res["stats_ms_per_frame"] = (time.perf_counter() - t0) / repeat / frames * 1e3
    for mode in ("edn", "retarget", "upper"):
        normalize_sequence(src, target, mode)  # warm caches
        t0 = time.perf_counter()
        for _ in range(repeat):
            normalize_sequence(src, target, mode)
        res[f"offline_{mode}_ms_per_frame"] = (time.perf_counter() - t0) / repeat / frames * 1e3
        norm = OnlineNormalizer(target, BODY25.joints, mode=mode, fps=30, warmup_seconds=2.0)
        warm = norm.warmup_frames
        t0 = time.perf_counter()
        for kp in src.keypoints[:warm]:
            norm(kp)
        res[f"live_{mode}_warmup_ms_per_frame"] = (time.perf_counter() - t0) / warm * 1e3
        t0 = time.perf_counter()
        for kp in src.keypoints[warm:]:
            norm(kp)
        res[f"live_{mode}_ms_per_frame"] = (time.perf_counter() - t0) / (frames - warm) * 1e3
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    res = bench(args.frames, args.repeat)
    text = json.dumps(res, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
