"""Time one frame of the subject's step with exact and coarse inference pose flows.

Usage: python tools/bench_flow_stride.py [-t demo-ada] [--strides 1,2] [--frames 100]
       [--rounds 3] [--backend onnxruntime] [--json out.json]

Runs the synthesizer's two halves (`PosePreparer`: maps, the previous output's pose flow, the
keyframe's warp; `generate`: warp, generator, face enhancer) on one thread over `--frames`
driving poses (a synthetic bruno dance, normalized onto the subject), for each stride in turn,
`--rounds` times alternated (the machine is shared: compare strides within a round). Reports
per stride the median over rounds of the CPU milliseconds per frame (process time: what the
pipeline's stages share) and of the prepare half alone. docs/BENCHMARKS.md "Offline speed: the
pose flow's grid" holds a run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rtmotion.export.engine import open_engine
from rtmotion.pipeline.synthesize import SubjectSynthesizer
from rtmotion.pose.normalize import normalize_sequence
from rtmotion.subject import load_subject
from rtmotion.synthetic import render_sequence


def driving(subject: Any, frames: int) -> np.ndarray:
    """float32 (frames, K, 3): bruno dancing (renderer poses), normalized onto `subject`."""
    _, seq = render_sequence("bruno", motion="dance", seconds=frames / 30.0 + 0.5, fps=30,
                             size=tuple(subject.crop.frame_size), supersample=1)
    return normalize_sequence(seq, subject.stats).keypoints[:frames]


def time_stride(subject: Any, backend: str, stride: int, poses: np.ndarray) -> tuple[float, float]:
    """(CPU ms per frame, of which prepare) over `poses` after 5 warm-up frames."""
    runner, _ = open_engine(subject, backend, "fp32", "cpu", threads=1)  # built once, cached
    with SubjectSynthesizer(subject, runner, flow_stride=stride) as synth:
        prep = synth.preparer()
        for kp in poses[:5]:
            synth.generate(prep(kp))
        total = prepare = 0.0
        for kp in poses[5:]:
            t0 = time.process_time()
            prepared = prep(kp)
            t1 = time.process_time()
            synth.generate(prepared)
            prepare += t1 - t0
            total += time.process_time() - t0
    n = max(len(poses) - 5, 1)
    return 1e3 * total / n, 1e3 * prepare / n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-t", "--subject", default="demo-ada")
    ap.add_argument("--strides", default="1,2")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--backend", default="onnxruntime")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    strides = [int(s) for s in args.strides.split(",") if s]
    subject = load_subject(args.subject)
    poses = driving(subject, args.frames + 5)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs: dict[int, list[tuple[float, float]]] = {s: [] for s in strides}
        for _ in range(args.rounds):
            for s in strides:
                runs[s].append(time_stride(subject, args.backend, s, poses))
    finally:
        torch.set_num_threads(threads)
    rows = [{"stride": s, "cpu_ms_per_frame": round(float(np.median([r[0] for r in runs[s]])), 2),
             "prepare_ms": round(float(np.median([r[1] for r in runs[s]])), 2),
             "rounds": [[round(a, 2), round(b, 2)] for a, b in runs[s]]} for s in strides]
    sys.stdout.write(f"{args.subject}, {args.backend}, {args.frames} frames x {args.rounds} rounds, one thread\n")
    sys.stdout.write("| stride | CPU ms / frame | of which prepare |\n|---|---|---|\n")
    for r in rows:
        sys.stdout.write(f"| {r['stride']} | {r['cpu_ms_per_frame']} | {r['prepare_ms']} |\n")
    if args.json:
        args.json.write_text(json.dumps({"subject": args.subject, "backend": args.backend,
                                         "frames": args.frames, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
