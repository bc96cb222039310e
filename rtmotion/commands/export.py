"""`rtmotion export`: the subject's generator as a static-shape ONNX graph, checked against torch."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from rtmotion.commands.args import add_calibration_dir

NAME = "export"
HELP = "export a subject's generator to ONNX (static shapes) and check it against PyTorch"
DESCRIPTION = """\
Write the generator as an ONNX graph: TorchScript exporter (dynamo=False) and opset 17, both
explicit; static shapes at the subject's resolution (batch 1, or --batch N); inputs pose_maps,
warped_prev, prev_mask; outputs frame, gate. The graph is then run in ONNX Runtime beside
PyTorch on recorded real inputs (the subject's calibration set when there is one, else a short
run over its held-out poses recorded now) and the largest absolute difference is printed and
written to FILE.json with the graph's shapes and sha256. Nothing is left under FILE when the
export or the check fails.
"""

log = logging.getLogger(__name__)

PARITY_FRAMES = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subject", help="subject folder (from `rtmotion train`) or shipped name")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument("--batch", type=int, default=1, help="static batch size")
    add_calibration_dir(parser, help="where recorded inputs are looked for (DIR/<subject>/)")
    parser.add_argument("--atol", type=float, default=2e-3,
                        help="largest |ONNX Runtime - PyTorch| accepted (2e-3: a quarter of a grey level)")


def run(args: argparse.Namespace) -> int:
    import datetime as _dt
    import json

    from rtmotion.atomic import atomic_path, check_writable
    from rtmotion.errors import InputError, OutputError
    from rtmotion.eval.recording import calibration_poses, record_inputs
    from rtmotion.export.calibration import calibration_paths, load_calibration
    from rtmotion.export.machine import file_sha256, generator_digest
    from rtmotion.export.onnx_export import (
        OPSET,
        check_onnx_parity,
        export_generator_onnx,
    )
    from rtmotion.models.generator import input_names, input_shapes
    from rtmotion.subject import load_subject

    if args.output.suffix.lower() != ".onnx":
        raise OutputError(args.output, "the graph must be an .onnx file", "name it *.onnx")
    if args.batch < 1:
        raise InputError(None, f"--batch must be >= 1, got {args.batch}")
    check_writable(args.output)
    sidecar = args.output.with_suffix(".json")
    check_writable(sidecar)
    subject = load_subject(args.subject)
    cfg = subject.generator_config
    names = input_names(cfg)
    npz, _ = calibration_paths(args.calibration_dir / subject.name, subject.resolution)
    if npz.is_file():
        cal = load_calibration(args.calibration_dir / subject.name, subject.resolution, names)
        where = f"{len(cal)} recorded frames from {npz}"
    else:
        kps, source = calibration_poses(subject, None, None,
                                        max_poses=max(PARITY_FRAMES, args.batch) * 4)
        cal = record_inputs(subject, kps, max(PARITY_FRAMES, args.batch))  # torch fp32, CPU
        where = f"{len(cal)} frames recorded now from {source.get('poses', source['kind'])}"
    inputs = {k: cal.arrays[k] for k in names}
    with atomic_path(args.output, suffix=".onnx") as tmp:
        export_generator_onnx(subject.generator, tmp, batch=args.batch, opset_version=OPSET)
        diff = check_onnx_parity(subject.generator, tmp, atol=args.atol, inputs=inputs)
        digest = file_sha256(tmp)
    report = {
        "onnx": str(args.output), "sha256": digest, "subject": subject.name,
        "subject_digest": generator_digest(subject.generator), "exporter": "torchscript",
        "dynamo": False, "opset": OPSET, "batch": args.batch,
        "inputs": {k: list(v) for k, v in input_shapes(cfg, args.batch).items()},
        "outputs": ["frame", "gate"],
        "parity": {"reference": "PyTorch eager fp32", "runtime": "ONNX Runtime CPU",
                   "inputs": where, "max_abs_diff": diff, "atol": args.atol},
        "written": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    with atomic_path(sidecar, suffix=".json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    w, h = subject.resolution
    sys.stdout.write(f"exported {args.output} ({w}x{h}, batch {args.batch}, opset {OPSET}); "
                     f"max abs difference vs PyTorch: {diff:.3g} on {where}; report {sidecar}\n")
    return 0
