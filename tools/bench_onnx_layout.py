"""Time a subject's ONNX generator in ONNX Runtime with and without padded convolution inputs.

Usage: python tools/bench_onnx_layout.py [-t demo-ada] [--calls 20] [--rounds 7] [--json out.json]

Builds (or reuses, from the engine cache) the subject's fp32 ONNX graph, opens it twice on one
CPU thread -- as the runner opens it (convolutions padded to ONNX Runtime's channel block,
`rtmotion.runtime.onnx_layout`) and unchanged -- checks that both give the same frame on random
inputs in the real ranges, and times `--calls` calls of each, `--rounds` times alternated (the
machine is shared: compare within a round). Prints the median CPU milliseconds per call of each
and the largest difference of their outputs. docs/BENCHMARKS.md "Speed by design" holds a run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from rtmotion.errors import RtmotionError
from rtmotion.export.engine import open_engine
from rtmotion.models.generator import example_inputs
from rtmotion.runtime.onnx_layout import cpu_session_model
from rtmotion.subject import load_subject


def session(model: bytes | str) -> ort.InferenceSession:
    """One CPU thread, no spinning (as the runner)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-t", "--subject", default="demo-ada")
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if args.json is not None and not args.json.parent.is_dir():
        ap.error(f"--json {args.json}: no folder {args.json.parent}")
    subject = load_subject(args.subject)
    runner, _ = open_engine(subject, "onnxruntime", "fp32", "cpu", threads=1)  # built once, cached
    path = runner.path
    runner.close()
    arms = {"padded": session(cpu_session_model(path)),
            "as exported": session(str(path))}
    feeds = {k: v.numpy() for k, v in example_inputs(subject.generator_config).items()}
    feeds = {k: v for k, v in feeds.items() if k in {i.name for i in arms["padded"].get_inputs()}}
    outs = {k: s.run(None, feeds)[0] for k, s in arms.items()}
    diff = float(np.abs(outs["padded"] - outs["as exported"]).max())
    times: dict[str, list[float]] = {k: [] for k in arms}
    for _ in range(args.rounds):
        for k, s in arms.items():
            s.run(None, feeds)
            t0 = time.process_time()
            for _ in range(args.calls):
                s.run(None, feeds)
            times[k].append(1e3 * (time.process_time() - t0) / args.calls)
    rows = {k: round(float(np.median(v)), 2) for k, v in times.items()}
    sys.stdout.write(f"{args.subject} fp32 ONNX, one thread, {args.calls} calls x {args.rounds} rounds: "
                     + ", ".join(f"{k} {v} ms" for k, v in rows.items())
                     + f"; max |frame difference| {diff:.2g}\n")
    if args.json:
        args.json.write_text(json.dumps({"subject": args.subject, "ms_per_call": rows,
                                         "rounds": times, "max_abs_diff": diff}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RtmotionError as e:  # a bad subject: one line, as the CLI says it
        print(f"{Path(__file__).name}: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
