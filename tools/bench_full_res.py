"""Time a subject's generator with dense and with separable full-resolution convolutions.

Usage: python tools/bench_full_res.py [-t demo-ada] [--calls 20] [--rounds 7] [--json out.json]

The subject's generator config is built twice, `full_res="dense"` (3x3 stem and last decoder
refinement) and `full_res="separable"` (`rtmotion.models.blocks.SeparableConv`), each with
random weights (speed does not depend on the weights), exported to ONNX and opened on one CPU
thread as the runner opens it (padded to ONNX Runtime's channel block, no spinning). Prints
each arm's parameters, GFLOPs per frame (`rtmotion.models.flops`) and the median CPU
milliseconds of `--calls` calls, `--rounds` rounds alternated (the machine is shared: compare
within a round). With `--train-threads T` (T > 0) it also times what a CPU training step asks
of the generator: torch eager forward + backward of 8 frames (demo-ada's recipe: batch 4 x
clip 2) on T threads, wall ms, alternated the same way. docs/BENCHMARKS.md "A cheaper
full-resolution path" holds runs.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from bench_onnx_layout import (  # tools/ is the script's folder
    alternated_cpu_ms,
    parse_timing_args,
    run_tool,
    session,
    timing_parser,
)

from rtmotion.export.onnx_export import OPSET, export_generator_onnx
from rtmotion.models.config import FULL_RES, GeneratorConfig
from rtmotion.models.flops import generator_stats
from rtmotion.models.generator import build_generator, example_inputs
from rtmotion.runtime.onnx_layout import cpu_session_model
from rtmotion.subject import load_subject


def main(argv: list[str] | None = None) -> int:
    ap = timing_parser(__doc__)
    ap.add_argument("--train-threads", type=int, default=0,
                    help="also time torch forward + backward of 8 frames on this many threads")
    args = parse_timing_args(ap, argv)
    if args.train_threads < 0:
        ap.error(f"--train-threads {args.train_threads}: give 0 (no training timing) or more")
    base = load_subject(args.subject).generator_config
    arms: dict[str, ort.InferenceSession] = {}
    stats: dict[str, dict[str, float]] = {}
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="rtmotion-full-res-") as tmp:
        for kind in FULL_RES:
            config = base.with_(full_res=kind)
            net = build_generator(config).eval()
            path = export_generator_onnx(net, Path(tmp) / f"{kind}.onnx", batch=1, opset_version=OPSET)
            arms[kind] = session(cpu_session_model(path))
            s = generator_stats(config)
            stats[kind] = {"params": s.params, "gflops": round(s.gflops, 3)}
    feeds = {k: v.numpy() for k, v in example_inputs(base).items()}
    times = alternated_cpu_ms(arms, feeds, args.calls, args.rounds)
    rows = {k: round(float(np.median(v)), 2) for k, v in times.items()}
    train = train_ms(base, args.train_threads, args.rounds) if args.train_threads > 0 else {}
    for k in arms:
        extra = (f"; training forward + backward of 8 frames {round(float(np.median(train[k])), 1)} ms "
                 f"on {args.train_threads} threads" if train else "")
        sys.stdout.write(f"{args.subject} config, full_res={k}: {stats[k]['params'] / 1e6:.2f}M params, "
                         f"{stats[k]['gflops']:.2f} GFLOPs, {rows[k]} ms a call (fp32 ONNX, one "
                         f"thread, {args.calls} calls x {args.rounds} rounds){extra}\n")
    if args.json:
        report = {"subject": args.subject, "ms_per_call": rows, "stats": stats, "rounds": times}
        if train:
            report["train_ms"] = {k: round(float(np.median(v)), 1) for k, v in train.items()}
            report["train_rounds"] = train
            report["train_threads"] = args.train_threads
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


def train_ms(base: GeneratorConfig, threads: int, rounds: int, calls: int = 3) -> dict[str, list[float]]:
    """Wall ms of torch eager forward + backward of 8 frames (batch 4 x clip 2) per full_res
    form, the median of `calls` after a warm-up, one value per round, forms alternated."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _alternated_train_ms(base, rounds, calls)
    finally:
        torch.set_num_threads(before)


def _alternated_train_ms(base: GeneratorConfig, rounds: int, calls: int) -> dict[str, list[float]]:
    nets, feeds = {}, {}
    for kind in FULL_RES:
        config = base.with_(full_res=kind)
        nets[kind] = build_generator(config).train()
        feeds[kind] = list(example_inputs(config, batch=8).values())
    out: dict[str, list[float]] = {k: [] for k in FULL_RES}
    for _ in range(rounds):
        for kind, net in nets.items():
            ms = []
            for i in range(calls + 1):
                net.zero_grad(set_to_none=True)
                t0 = time.perf_counter()
                frame = net(*feeds[kind])[0]
                frame.abs().mean().backward()
                if i:
                    ms.append(1e3 * (time.perf_counter() - t0))
            out[kind].append(float(np.median(ms)))
    return out


if __name__ == "__main__":
    run_tool(main, __file__)
