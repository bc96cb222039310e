#!/usr/bin/env python
"""Time the face enhancer per crop size: one call on one face crop, as a session makes it.

The enhancer (`rtmotion.models.face.FaceEnhancer`, EDN's face residual) runs on a square crop
of `--crops` pixels; its residual is pasted back into the subject's face box (21 px for the
128x128 demo-ada). This times, per crop size, a randomly initialized enhancer of the subject's
face config (the time does not depend on the weights) in eager torch and in ONNX Runtime
(`rtmotion.runtime.face_onnx`: what a compiled generator's session uses on the CPU), one thread
each, median of `--calls` calls after a warm-up, and prints a table (and `--json`).

    python tools/bench_face.py                      # demo-ada's config, crops 64 32 24
    python tools/bench_face.py --crops 64 24 --calls 300 --json runs/face_ms.json
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from rtmotion.models.config import FaceConfig
from rtmotion.models.face import FaceEnhancer
from rtmotion.runtime.face_onnx import OnnxFaceEnhancer
from rtmotion.subject import load_subject


def time_calls(fn, calls: int, warmup: int = 10) -> float:
    """Median wall milliseconds of `fn()` over `calls` calls after `warmup` calls."""
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ms)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subject", default="demo-ada", help="subject whose face config is timed")
    ap.add_argument("--crops", type=int, nargs="+", default=[64, 32, 24])
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _bench(args)
    finally:
        torch.set_num_threads(threads)  # a caller's process (e.g. a test session) keeps its own


def _bench(args: argparse.Namespace) -> int:
    subject = load_subject(args.subject)
    base = subject.face_config or FaceConfig(pose_channels=subject.pose_map_config.num_channels)
    rows = []
    for crop in args.crops:
        cfg = dataclasses.replace(base, crop_size=crop)
        face = FaceEnhancer(cfg).eval()
        frame = torch.rand(1, 3, crop, crop) * 2 - 1
        pose = torch.rand(1, cfg.pose_channels, crop, crop)
        with torch.no_grad():
            eager = time_calls(functools.partial(face, frame, pose), args.calls)
        onnx = time_calls(functools.partial(OnnxFaceEnhancer(face), frame, pose), args.calls)
        rows.append({"crop": crop, "torch_ms": round(eager, 3), "onnxruntime_ms": round(onnx, 3)})
    print(f"face enhancer of {subject.name} (base {base.base_channels} channels, {base.n_down} "
          f"downsamplings, {base.n_res} res blocks), one thread, median of {args.calls} calls:")
    print("| crop | eager torch ms | ONNX Runtime ms |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r['crop']}x{r['crop']} | {r['torch_ms']:.2f} | {r['onnxruntime_ms']:.2f} |")
    if args.json is not None:
        args.json.write_text(json.dumps({"subject": subject.name, "calls": args.calls,
                                         "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
