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

DEFAULT_FRAMES = 48  # = rtmotion.eval.recording.DEFAULT_CALIBRATION_FRAMES (kept equal by a test)


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
    from rtmotion.errors import InputError
    from rtmotion.eval.recording import record_calibration
    from rtmotion.subject import load_subject

    if args.frames < 3:
        raise InputError(None, f"--frames must be >= 3, got {args.frames}")
    if args.video is not None and args.poses is None:
        log.info("no --poses: poses of --video will be extracted with MediaPipe")
    subject = load_subject(args.subject)
    # Recorded from the reference generator (torch fp32) on --device.
    path, cal, source = record_calibration(
        subject, args.output, video=args.video, poses=args.poses, frames=args.frames,
        max_poses=args.max_poses, device=engine_request(args).device,
        command="rtmotion " + " ".join(sys.argv[1:]))
    sys.stdout.write(f"calibration set: {path} ({len(cal)} generator calls from "
                     f"{source.get('poses', source['kind'])})\n")
    return 0
