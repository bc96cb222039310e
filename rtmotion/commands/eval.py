"""`rtmotion eval`: score a trained subject on held-out frames (EDN's evaluation table)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from rtmotion.commands.args import (
    NORMALIZE_MODES,
    add_device,
    add_engine_options,
    engine_request,
)

NAME = "eval"
HELP = "score a subject: SSIM/PSNR (body, face), flicker on held-out frames"
DESCRIPTION = """\
Generate held-out frames of the target from their poses, one after another as inference does,
and compare them with the real frames: SSIM and PSNR on the body crop (the pose's bounding box
with a margin) and on the face crop (around the head joints, when visible), and temporal flicker (the
generated frames' second temporal difference minus the real frames'). Prints one line per
metric; -o writes the full report (JSON, with per-frame values and the metrics' definitions).

--pose-metrics adds pose distance and "person detected" (MediaPipe re-extracts the pose from
the generated frames). They are off by default because they do not tell a blurred blob from a
person: the pose detector finds a person-shaped blur where the pose says, so a subject that
scored body SSIM 0.54 and one at 0.82 both measured 100 % detected and 0.015 x body height (issue
18). They check that the figure stands where the pose says, nothing about how it looks.

Held-out poses: the poses training used (its --poses file, or the MediaPipe extraction it
cached in its work dir) are reused; they are extracted again only when that file is gone.

Default frames: the subject's own held-out validation block (recorded in subject.json) of its
source video. --frames training: two blocks of the frames it trained on instead, as long as the
held-out block, each drawn without the keyframes taken near it (as training drew them): its fit.
A fit under 0.90 body SSIM or 0.80 face SSIM says it has not finished learning (train longer); a
good fit with a poor held-out score says it learned the clip but not the held-out block's poses.
--video/--poses: other footage of the target, same camera. --transfer-character:
for subjects trained on a synthetic dancer, the target driven by ANOTHER character's motion
(normalized into the target's frame), compared with the true render of the target doing it.
"""

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subject", help="subject folder (from `rtmotion train`) or shipped name")
    parser.add_argument("--video", type=Path, help="held-out footage of the target (same camera)")
    parser.add_argument("--poses", type=Path,
                        help="poses of --video (.npz; default: extracted with MediaPipe)")
    parser.add_argument("--frames", choices=("heldout", "training"), default="heldout",
                        help="the subject's own frames to score: its held-out block (default) or "
                             "blocks of the frames it trained on (its fit)")
    parser.add_argument("-o", "--output", type=Path, help="write the report here (.json)")
    parser.add_argument("--samples", type=Path, metavar="DIR",
                        help="write sample images into DIR: pose | generated | real in the "
                             "model frame, and (with camera frames) the output frame's body "
                             "crop, generated | real (*_output.png)")
    parser.add_argument("--num-samples", type=int, default=4, help="how many sample images")
    parser.add_argument("--max-frames", type=int, help="evaluate at most this many frames")
    parser.add_argument("--stride", type=int, default=1,
                        help="drive every N-th frame only, as a live run that drops frames does "
                             "(the generator's previous output is then N frames old)")
    parser.add_argument("--transfer-character", metavar="NAME",
                        help="synthetic subjects: drive the target with this character's motion "
                             "and compare with the true render (see `rtmotion synth --list`)")
    # = rtmotion.eval.sources.TRANSFER_DRIVING (a test holds them equal; eval is imported lazily)
    parser.add_argument("--transfer-poses", choices=("extracted", "exact", "target"), default="extracted",
                        help="driving poses of the transfer test: 'extracted' runs the other "
                             "character's rendered video through convert's own pose path "
                             "(MediaPipe, filter, normalization); 'exact' normalizes its renderer "
                             "poses (which follow other joint conventions than the generator "
                             "learned); 'target' drives with the target's own extracted poses of "
                             "the true frames, no normalization (the bound a perfect "
                             "normalization would reach)")
    parser.add_argument("--transfer-mode", choices=NORMALIZE_MODES, default="auto",
                        help="normalization mode of the transfer test, as convert's --mode")
    parser.add_argument("--transfer-motion", metavar="MOTION",
                        help="motion of the transfer test (default: the subject's own motion)")
    parser.add_argument("--transfer-seed", type=int,
                        help="seed of the transfer motion (default: the subject's seed + 1, "
                             "i.e. movement it has not seen)")
    add_engine_options(parser, backend="torch", precision="fp32")
    add_device(parser)
    parser.add_argument("--pose-metrics", action="store_true",
                        help="also re-extract the generated frames' poses with MediaPipe (pose "
                             "distance, person detected: where the figure stands, not how it "
                             "looks; slow)")
    parser.add_argument("--no-pose", action="store_true",
                        help="no pose re-extraction (the default; kept for old scripts)")
    parser.add_argument("--no-face", action="store_true",
                        help="do not apply the subject's face enhancer")
    parser.add_argument("--no-detail", action="store_true",
                        help="do not add the keyframes' full-resolution detail to the output "
                             "frame (the out_* rows score the model frame enlarged)")


def _check_options(args: argparse.Namespace) -> None:
    """Refuse options that cannot go together or are out of range (InputError)."""
    from rtmotion.errors import InputError

    if args.max_frames is not None and args.max_frames < 1:
        raise InputError(None, f"--max-frames {args.max_frames}: must be at least 1")
    if args.stride < 1:
        raise InputError(None, f"--stride {args.stride}: must be at least 1")
    if args.num_samples < 0:
        raise InputError(None, f"--num-samples {args.num_samples}: must be 0 or more")
    if args.poses is not None and args.video is None:
        raise InputError(args.poses, "--poses needs the --video it was extracted from")
    if args.frames != "heldout" and (args.video is not None or args.transfer_character):
        raise InputError(None, f"--frames {args.frames} scores the subject's own training video; "
                         "it does not take --video or --transfer-character",
                         "run the evaluations separately")
    if args.transfer_character and args.video is not None:
        raise InputError(None, "--transfer-character renders its own frames; it does not take --video",
                         "run the two evaluations separately")


def _say_if_the_camera_moved(subject) -> None:  # (Subject) -> None
    """After the scores of the subject's own clip: when its camera moved (the plates recorded in
    subject.json, `rtmotion.train.background.training_motion_note`), they include a room drawn in
    the wrong place, and no training fixes that (docs/BENCHMARKS.md "... a moving camera named")."""
    from rtmotion.train.background import training_motion_note

    note = training_motion_note(subject.training)
    if note is not None:
        log.warning("the camera moves in the clip this subject was trained on (%s): these scores "
                    "include its room drawn in the wrong place; film the target with the camera "
                    "held still", note)


def run(args: argparse.Namespace) -> int:
    from rtmotion.atomic import check_writable
    from rtmotion.devices import resolve_device
    from rtmotion.errors import OutputError
    from rtmotion.eval.evaluate import EvalOptions, run_evaluation
    from rtmotion.eval.report import format_table, write_json
    from rtmotion.eval.sources import (
        heldout_source,
        training_source,
        transfer_source,
        video_source,
    )
    from rtmotion.subject import load_subject

    _check_options(args)
    # Fail on unwritable outputs before any work.
    if args.output is not None:
        if args.output.suffix.lower() != ".json":
            raise OutputError(args.output, "the report is JSON", "give a .json file name")
        check_writable(args.output)
    if args.samples is not None:
        if args.samples.exists() and not args.samples.is_dir():
            raise OutputError(args.samples, "exists and is not a folder", "give a folder for --samples")
        check_writable(args.samples / "sample.png")

    subject = load_subject(args.subject)
    if args.transfer_character:
        source = transfer_source(subject, args.transfer_character, args.transfer_motion,
                                 args.transfer_seed, args.max_frames, driving=args.transfer_poses,
                                 mode=args.transfer_mode)
    elif args.video is not None:
        source = video_source(subject, args.video, args.poses, args.max_frames)
    elif args.frames == "training":
        subject, source = training_source(subject, args.max_frames)
    else:
        source = heldout_source(subject, args.max_frames)
    opts = EvalOptions(engine=engine_request(args, device=str(resolve_device(args.device))),
                       pose_metrics=args.pose_metrics and not args.no_pose,
                       samples_dir=args.samples,
                       num_samples=args.num_samples, use_face=not args.no_face,
                       use_detail=not args.no_detail, stride=args.stride)
    report = run_evaluation(subject, source, opts)
    sys.stdout.write(format_table(report) + "\n")
    if args.video is None and not args.transfer_character:
        _say_if_the_camera_moved(subject)
    if args.output is not None:
        write_json(report, args.output)
        log.info("report written: %s", args.output)
    return 0
