"""Live latency with and without pacing (and fresh frames), and with the generator on one or on its
default threads.

Usage: python tools/bench_live_pacing.py [-t demo-ada] [--source VIDEO | --source-seconds 10] [--frames 300]
       [--rounds 2] [--backend onnxruntime] [--precision fp32] [--arms fresh-1,paced-1,free-0]
       [--json out.json]

Plays `--source` (default: a synthetic bruno dancer, 512x512 at 30 fps, made here) as a camera
into `run_live` (MediaPipe poses, the session's step, no window) for `--frames` shown frames
after 15 warm-up frames, once per arm per round, the arms alternated within each round (the
machine is shared: compare arms within a round). An arm is `fresh-T`, `paced-T` or `free-T`:
the pose stage paced just in time for the generate stage, waiting for the camera's next frame
when that is nearer than the held one is old (`LiveOptions.pace` and `fresh`: the default);
paced without that wait; or not paced (as fast as it can); and the generator
engine on T intra-op threads (0: the library's default). Reports per arm the median over rounds
of shown fps, capture-to-display p50 / p95, the pose and generate stage p50, the pose calls per
shown frame and the frames dropped in front of the generate stage. docs/BENCHMARKS.md
"Live pacing" holds a run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from rtmotion.engine_request import EngineRequest
from rtmotion.errors import RtmotionError
from rtmotion.io.camera import FileCamera
from rtmotion.pipeline.live import LiveOptions, run_live
from rtmotion.subject import load_subject
from rtmotion.synthetic import write_dancer_video

WARMUP = 15


#: arm kind -> (LiveOptions.pace, LiveOptions.fresh)
KINDS = {"fresh": (True, True), "paced": (True, False), "free": (False, False)}


def parse_arm(arm: str) -> tuple[bool, bool, int]:
    """"fresh-1" -> (True, True, 1); "paced-1" -> (True, False, 1); "free-0" -> (False, False,
    0): (pace, fresh, threads). ValueError for anything else."""
    kind, _, threads = arm.partition("-")
    if kind not in KINDS or not threads.isdigit():
        raise ValueError(f"arm {arm!r}: give fresh-T, paced-T or free-T (T: generator threads, "
                         f"0 = default)")
    return (*KINDS[kind], int(threads))


def parse_arms(text: str) -> list[tuple[str, tuple[bool, int]]]:
    """"free-0,paced-1" -> [(arm, (pace, fresh, threads)), ...] (argparse: a bad arm is one
    line)."""
    try:
        return [(a, parse_arm(a)) for a in text.split(",") if a]
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def run_arm(subject: Any, source: Path, request: EngineRequest, pace: bool, fresh: bool,
            threads: int, frames: int) -> dict[str, float]:
    """One live run: the figures of one arm (ms, fps, counts)."""
    report = run_live(subject, FileCamera(source, loop=True), [lambda img, f: None],
                      LiveOptions(engine=request.but(threads=threads), max_frames=frames + WARMUP,
                                  warmup_frames=WARMUP, pace=pace, fresh=fresh,
                                  torch_threads=1))
    d = report.to_dict()
    stages = d["stages"]
    return {"fps": d["fps_shown"], "p50": d["latency_ms"]["p50"], "p95": d["latency_ms"]["p95"],
            "pose_p50": stages["pose"]["p50"], "generate_p50": stages["generate"]["p50"],
            "pose_calls_per_shown": stages["pose"]["count"] / max(stages["generate"]["count"], 1),
            "dropped_before_generate": d["dropped_by_stage"].get("generate", 0)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-t", "--subject", default="demo-ada")
    ap.add_argument("--source", type=Path)
    ap.add_argument("--source-seconds", type=float, default=10.0,
                    help="length of the synthetic source (played in a loop)")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--backend", default="onnxruntime")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--arms", default="free-1,paced-1,fresh-1", type=parse_arms,
                    help="comma list of fresh-T / paced-T / free-T")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if args.json is not None and not args.json.parent.is_dir():
        ap.error(f"--json {args.json}: no folder {args.json.parent}")
    arms = [a for a, _ in args.arms]
    parsed = [p for _, p in args.arms]
    subject = load_subject(args.subject)
    request = EngineRequest(backend=args.backend, precision=args.precision, device="cpu")
    runs: dict[str, list[dict[str, float]]] = {a: [] for a in arms}
    with tempfile.TemporaryDirectory(prefix="rtmotion-pacing-") as tmp:
        source = args.source
        if source is None:
            source = Path(tmp) / "bruno.mp4"
            write_dancer_video(source, "bruno", "dance", seconds=args.source_seconds,
                               size=(512, 512), fps=30, seed=7)
        for _ in range(args.rounds):
            for arm, (pace, fresh, threads) in zip(arms, parsed):
                runs[arm].append(run_arm(subject, source, request, pace, fresh, threads,
                                         args.frames))
    rows = [{"arm": a, **{k: round(float(np.median([r[k] for r in runs[a]])), 2) for k in runs[a][0]},
             "rounds": runs[a]} for a in arms]
    sys.stdout.write(f"{args.subject}, {args.backend} {args.precision}, {args.frames} frames x "
                     f"{args.rounds} rounds\n")
    sys.stdout.write("| arm | fps | latency p50 / p95 ms | pose / generate p50 ms | pose calls per shown "
                     "frame | dropped before generate |\n|---|---|---|---|---|---|\n")
    for r in rows:
        sys.stdout.write(f"| {r['arm']} | {r['fps']} | {r['p50']} / {r['p95']} | {r['pose_p50']} / "
                         f"{r['generate_p50']} | {r['pose_calls_per_shown']} | "
                         f"{r['dropped_before_generate']} |\n")
    if args.json:
        args.json.write_text(json.dumps({"subject": args.subject, "backend": args.backend,
                                         "precision": args.precision, "frames": args.frames,
                                         "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RtmotionError as e:  # a bad subject or source: one line, as the CLI says it
        print(f"{Path(__file__).name}: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
