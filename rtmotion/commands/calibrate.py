"""`rtmotion calibrate`: record real generator inputs for INT8 calibration and parity checks."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from rtmotion.commands.args import add_calibration_dir, add_device, engine_request

NAME = "calibrate"
HELP = "record real generator inputs (calibration set for INT8 engines and parity checks)"
DESCRIPTION = """\
Generate frames of the subject one after another, as inference does, and record what the
generator is fed at each step: the pose maps, the previous output warped to the new pose, and
the warp's validity mask. A spread of --frames of them is written to
<cache>/calibration/<subject>/<W>x<H>.npz (one array per ONNX input name, N x C x H x W float32), with
a JSON beside it saying where the poses came from. `rtmotion build --precision int8` calibrates
on two thirds of the frames and measures INT8's quality (SSIM against fp32) on the rest.

Poses: by default the subject's held-out validation poses (subject.json's validation range;
for a subject trained on a synthetic dancer whose video is gone, such as the shipped demo-ada,
they are made again from the recorded character, motion and seed). --video V --poses P: other
footage of the target from the same camera. --poses P alone: a pose file in the subject's
camera frame (its source video's size) or already in model pixels (the subject's resolution).
"""

log = logging.getLogger(__name__)

DEFAULT_FRAMES = 48


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subject", help="subject folder (from `rtmotion train`) or shipped name")
    parser.add_argument("--video", type=Path, help="other footage of the target (same camera)")
    parser.add_argument("--poses", type=Path, help="pose file (.npz) of --video, or alone (see above)")
    add_calibration_dir(parser, "-o", "--output",
                        help="calibration root; the set goes to OUTPUT/<subject>/")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES,
                        help="how many generator calls to keep (spread over the sequence)")
    parser.add_argument("--max-poses", type=int, default=None,
                        help="generate from at most this many poses")
    add_device(parser, default="cpu")


def run(args: argparse.Namespace) -> int:
    import datetime as _dt

    from rtmotion.errors import InputError
    from rtmotion.eval.recording import calibration_poses, record_inputs
    from rtmotion.export.calibration import save_calibration
    from rtmotion.export.machine import generator_digest
    from rtmotion.subject import load_subject

    if args.frames < 3:
        raise InputError(None, f"--frames must be >= 3, got {args.frames}")
    if args.video is not None and args.poses is None:
        log.info("no --poses: poses of --video will be extracted with MediaPipe")
    subject = load_subject(args.subject)
    kps, source = calibration_poses(subject, args.video, args.poses, args.max_poses)
    # Recorded from the reference generator (torch fp32) on --device.
    cal = record_inputs(subject, kps, args.frames,
                        engine_request(args, backend="torch", precision="fp32"))
    cal.info = {"subject": subject.name, "subject_path": str(subject.path),
                "subject_digest": generator_digest(subject.generator), "poses": source,
                **cal.info, "command": "rtmotion " + " ".join(sys.argv[1:]),
                "recorded": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    path = save_calibration(cal, args.output / subject.name)
    sys.stdout.write(f"calibration set: {path} ({len(cal)} generator calls from "
                     f"{source.get('poses', source['kind'])})\n")
    return 0
