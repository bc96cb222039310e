#!/usr/bin/env python
"""Size and speed of rtmotion's generator presets against pix2pixHD's global generator.

Prints a table (params, GFLOPs per frame, % of pix2pixHD's FLOPs, ms per frame) at each
resolution and writes the same numbers as JSON. FLOPs are counted on torch's meta device
(rtmotion.models.flops: convolutions only, 2 FLOPs per multiply-add, batch 1). Timings are the
median of `--reps` eager torch forward passes after `--warmup`, batch 1, no grad.

    python tools/model_size.py --json model_size.json            # CPU, 2 threads
    python tools/model_size.py --device cuda --dtype float16 --cuda-graph   # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

from rtmotion.atomic import atomic_path
from rtmotion.models.config import GENERATOR_PRESETS, generator_preset
from rtmotion.models.flops import (
    generator_stats,
    median_ms,
    pix2pixhd_stats,
    time_forward,
)
from rtmotion.models.generator import PoseGenerator, example_inputs
from rtmotion.models.pix2pixhd_reference import Pix2PixHDGlobalGenerator

P2P = "pix2pixHD"


def _time(name: str, res: int, args: argparse.Namespace) -> list[float]:
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    if name == P2P:
        net = Pix2PixHDGlobalGenerator(25 + 3)
        inputs = [torch.rand(1, 28, res, res)]
    else:
        cfg = generator_preset(name, (res, res))
        net = PoseGenerator(cfg)
        inputs = list(example_inputs(cfg, batch=1).values())
    net = net.to(device=device, dtype=dtype).eval()
    inputs = [t.to(device=device, dtype=dtype) for t in inputs]
    reps = args.p2p_reps if name == P2P else args.reps
    return time_forward(net, inputs, warmup=args.warmup, reps=reps, cuda_graph=args.cuda_graph)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--resolutions", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--presets", nargs="+", default=list(GENERATOR_PRESETS))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--p2p-reps", type=int, default=2, help="reps for pix2pixHD (slow on CPU)")
    ap.add_argument("--cuda-graph", action="store_true",
                    help="time CUDA-graph replays (no launch overhead, as a compiled engine)")
    ap.add_argument("--no-time", action="store_true", help="only params and FLOPs")
    ap.add_argument("--json", type=Path, help="write the numbers here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True

    rows = []
    for res in args.resolutions:
        ref = pix2pixhd_stats((res, res))
        for name in [*args.presets, P2P]:
            stats = ref if name == P2P else generator_stats(generator_preset(name, (res, res)))
            row = {
                "model": name,
                "resolution": [res, res],
                "params": stats.params,
                "gflops": round(stats.gflops, 3),
                "pct_of_pix2pixhd_flops": round(100 * stats.flops / ref.flops, 2),
            }
            if not args.no_time:
                times = _time(name, res, args)
                row["ms_per_frame"] = round(median_ms(times), 2)
                row["ms_all"] = [round(t, 2) for t in times]
            rows.append(row)
            ms = f"{row['ms_per_frame']:10.1f}" if "ms_per_frame" in row else f"{'-':>10}"
            print(f"{res:5d}  {name:10s} {stats.params / 1e6:9.2f}M {stats.gflops:10.2f} "
                  f"{row['pct_of_pix2pixhd_flops']:8.2f}% {ms}", flush=True)
            if name == P2P:
                print()
    report = {
        "what": "params, GFLOPs per frame (convs, 2 x MACs, batch 1), median ms per frame (torch eager, or CUDA-graph replays if cuda_graph)",
        "device": args.device
        + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else ""),
        "dtype": args.dtype,
        "threads": args.threads,
        "cuda_graph": args.cuda_graph,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "pix2pixhd": "global generator, ngf=64, 4 down, 9 res blocks, input = 25 pose + 3 prev",
        "rows": rows,
    }
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    print(f"{'res':>5}  {'model':10s} {'params':>10} {'GFLOPs':>10} {'%p2pHD':>9} {'ms/frame':>10}")
    sys.exit(main())
