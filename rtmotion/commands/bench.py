"""`rtmotion bench`: per-stage timings, fps and latency of the pipeline on this machine."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from rtmotion.commands.args import (
    DEMO_SUBJECT,
    add_device,
    add_engine_dir,
    add_subject,
    engine_request,
)

NAME = "bench"
HELP = "measure the pipeline: per-stage ms, offline and live fps, latency, vs EDN's generator"
DESCRIPTION = (
    "Runs the pipeline offline (convert) and live (the source played as a camera) for --frames "
    "frames after --warmup, over a matrix of backends x precisions x resolutions, and times EDN's "
    "baseline generator (pix2pixHD global, PyTorch eager fp32) at each resolution in the same run. "
    "Resolutions other than the subject's use an untrained generator of the same preset (timing "
    "only). Prints a table; --json writes everything. Without -t it runs on the shipped demo "
    f"subject {DEMO_SUBJECT} (and says so)."
)

log = logging.getLogger(__name__)


def _resolutions(text: str) -> list[tuple[int, int]]:
    out = []
    for part in filter(None, text.split(",")):
        try:
            w, _, h = part.lower().partition("x")
            out.append((int(w), int(h or w)))
        except ValueError:
            raise argparse.ArgumentTypeError(f"resolutions are like 128,256 or 256x256, got '{part}'") from None
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_subject(parser, required=False)
    parser.add_argument("--source", help="a video to run on (default: a synthetic dancer)")
    parser.add_argument("--frames", type=int, default=150, help="frames measured (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=15, help="frames run before measuring")
    parser.add_argument("--backends", default="torch",
                        help="comma list, or 'all' (every backend the runtime has)")
    parser.add_argument("--precisions", default="fp32", help="comma list: fp32, fp16, bf16, int8")
    parser.add_argument("--resolutions", type=_resolutions, default=None,
                        help="comma list like 128,256 (default: the subject's)")
    parser.add_argument("--preset", default="small", help="generator preset of the timing subjects")
    parser.add_argument("--modes", default="offline,live", help="comma list: offline, live")
    parser.add_argument("--no-baseline", action="store_true", help="skip the pix2pixHD baseline")
    add_device(parser)
    add_engine_dir(parser)
    parser.add_argument("--poses", default="mediapipe",
                        help="where the driving poses come from: mediapipe (as a user's run), truth "
                             "(the synthetic source's exact poses; for machines without MediaPipe), "
                             "or a pose file (.npz) of --source")
    parser.add_argument("--json", metavar="REPORT", help="write the full report as JSON")


def run(args: argparse.Namespace) -> int:
    from rtmotion.atomic import atomic_path, check_writable
    from rtmotion.engine_request import BACKENDS
    from rtmotion.errors import InputError
    from rtmotion.io import VideoInfo
    from rtmotion.pipeline.bench import TABLE_COLUMNS, run_bench
    from rtmotion.pipeline.stats import format_table
    from rtmotion.subject import resolve_subject_path

    if args.frames < 1 or args.warmup < 0:
        raise InputError(None, f"--frames {args.frames} --warmup {args.warmup}", "need frames >= 1, warmup >= 0")
    backends = BACKENDS if args.backends == "all" else tuple(
        b.strip() for b in args.backends.split(",") if b.strip())
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    if not set(modes) <= {"offline", "live"} or not modes:
        raise InputError(None, f"--modes {args.modes}", "choose from offline, live")
    if args.source:
        VideoInfo.from_path(args.source)   # a bad source fails now, in one line
    if args.json:
        check_writable(args.json)
    demo_note = None
    if args.subject is None:
        args.subject = DEMO_SUBJECT
        demo_note = (f"no -t SUBJECT given: benchmarking the shipped demo subject {DEMO_SUBJECT} "
                     "(give -t to measure your own)")
        log.info("%s", demo_note)
    report = run_bench(resolve_subject_path(args.subject), source=args.source, frames=args.frames,
                       warmup=args.warmup, backends=backends,
                       precisions=tuple(p.strip() for p in args.precisions.split(",") if p.strip()),
                       resolutions=tuple(args.resolutions) if args.resolutions else None, modes=modes,
                       engine=engine_request(args), baseline=not args.no_baseline,
                       preset=args.preset, pose_source=args.poses)
    report["subject_default"] = demo_note is not None
    if args.json:
        with atomic_path(args.json, suffix=".json") as tmp:
            tmp.write_text(json.dumps(report, indent=2) + "\n")
    m = report["machine"]
    lines = ([demo_note] if demo_note else []) + [f"rtmotion bench {report['date']}: {m['cpu']} ({m['cpus']} CPUs, torch {m['torch']}, "
             f"{m['torch_threads']} threads), {report['frames']} frames after {report['warmup']} warm-up, "
             f"source {report['source']}, poses {report['poses']}",
             format_table(report["rows"], TABLE_COLUMNS)]
    for cell in report["cells"]:
        for mode in ("offline", "live"):
            stages = cell.get(mode, {}).get("stages") or {}
            if stages:
                parts = ", ".join(f"{n} {s['p50']:.1f}/{s['p95']:.1f}/{s['p99']:.1f}" for n, s in stages.items())
                lines.append(f"  {cell['backend']} {cell['precision']} {cell['resolution'][0]}x{cell['resolution'][1]} "
                             f"{mode} stages p50/p95/p99 ms: {parts}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
