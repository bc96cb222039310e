"""`rtmotion build`: build (or reuse) a compiled engine of a subject's generator."""

from __future__ import annotations

import argparse
import logging
import sys

from rtmotion.commands.args import (
    add_calibration_dir,
    add_device,
    add_engine_options,
    engine_request,
)

NAME = "build"
HELP = "build a subject's generator engine (onnxruntime, aoti, tensorrt) into the engine cache"
DESCRIPTION = """\
Build the engine `rtmotion convert/live/bench` will run, into the engine cache (--engine-dir,
default ~/.cache/rtmotion/engines, shared by every working folder), or reuse the one there when its sidecar matches this machine and its hash
checks out. auto picks the fastest backend built for this machine and says why: TensorRT, then
AOTInductor CUDA, then torch on a GPU; AOTInductor, then ONNX Runtime INT8 (only when a
calibration set exists and its SSIM against fp32 is >= 0.98), then ONNX Runtime fp32 on a CPU.
A backend or device asked for that cannot run here is an error, never a silent fall back.
INT8 needs a calibration set: when the subject has none, --precision int8 records it first,
exactly as `rtmotion calibrate SUBJECT` does (its held-out poses, 48 generator calls; about
35 s on a 2-core CPU), and says so.
"""

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subject", help="subject folder (from `rtmotion train`) or shipped name")
    add_engine_options(parser)
    add_device(parser)
    add_calibration_dir(parser, help="calibration sets root (DIR/<subject>/), for int8")
    parser.add_argument("--clean", action="store_true",
                        help="remove this subject's cached engines first, then build")
    parser.add_argument("--check", type=int, default=10, metavar="N",
                        help="run the engine N times on the recorded/random inputs and print its "
                             "latency (0: skip)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    import json

    from rtmotion.errors import InputError
    from rtmotion.eval.recording import record_calibration
    from rtmotion.export.cache import EngineCache
    from rtmotion.export.calibration import calibration_paths
    from rtmotion.export.engine import open_requested
    from rtmotion.export.machine import generator_digest
    from rtmotion.models.generator import example_inputs
    from rtmotion.subject import load_subject

    if args.check < 0 or args.threads < 0:
        raise InputError(None, "--check and --threads must be >= 0")
    subject = load_subject(args.subject)
    if args.clean:
        cache = EngineCache(args.engine_dir)
        folder = cache.subject_dir(subject.name, generator_digest(subject.generator))
        removed = cache.clean(folder)
        log.info("--clean: removed %d cached file(s) of %s from %s", removed, subject.name, folder)
    calibrated = None
    npz, _ = calibration_paths(args.calibration_dir / subject.name, subject.resolution)
    if args.precision == "int8" and not npz.is_file():
        # One command: record the set `rtmotion calibrate` would (torch fp32 on the CPU).
        log.info("no calibration set for %s in %s: recording one now, as `rtmotion calibrate "
                 "%s` does", subject.name, npz.parent, args.subject)
        path, cal, source = record_calibration(
            subject, args.calibration_dir, command="rtmotion " + " ".join(sys.argv[1:]))
        calibrated = (f"calibration set recorded now: {path} ({len(cal)} generator calls from "
                      f"{source.get('poses', source['kind'])})")
    runner, choice = open_requested(subject, engine_request(args), args.calibration_dir)
    timing = None
    if args.check:
        feeds = example_inputs(subject.generator_config, device=runner.device)
        with runner:
            runner.sync_timing = True
            for _ in range(args.check + 2):
                runner(*feeds.values())
        timing = runner.stats.summary(skip=2)
    result = {"subject": subject.name, "backend": choice.backend, "precision": choice.precision,
              "device": choice.device, "artifact": str(choice.artifact) if choice.artifact else None,
              "built": choice.built, "reason": choice.reason,
              "build_seconds": choice.info.get("build_seconds"),
              "parity": choice.info.get("parity"), "quality": choice.info.get("quality"),
              "timing": timing, "calibrated": calibrated}
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return 0
    lines = ([calibrated] if calibrated else []) + [choice.reason,
             f"engine: {choice.artifact or '(torch eager, nothing to build)'} "
             f"({'built now' if choice.built else 'cached'}"
             + (f", build {choice.info['build_seconds']} s" if choice.info.get("build_seconds") else "")
             + ")"]
    if result["parity"]:
        lines.append(f"parity vs PyTorch: max abs diff {result['parity']['max_abs_diff']:.3g}")
    if result["quality"]:
        q = result["quality"]
        lines.append(f"INT8 vs fp32 on {q['frames']} held-out recorded frames: SSIM "
                     f"{q['ssim_vs_fp32']:.4f} (bound {q['bound']}), max abs diff {q['max_abs_diff']:.3f}")
    if timing and timing["calls"]:
        lines.append(f"latency over {timing['calls']} calls: p50 {timing['p50_ms']:.2f} ms, "
                     f"mean {timing['mean_ms']:.2f} ms")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
