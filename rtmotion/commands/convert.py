"""`rtmotion convert`: make a subject dance like the person in a video (or a pose file)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from rtmotion.commands.args import (
    add_device,
    add_engine_options,
    add_no_detail,
    add_normalize_mode,
    add_person,
    add_subject,
    add_torch_threads,
    engine_request,
    size_type,
)

NAME = "convert"
HELP = "convert a dance video (or a pose file) into a video of a subject dancing"
DESCRIPTION = (
    "Every frame of SOURCE becomes one frame of the subject, at the same time: frame rate, "
    "duration and variable-frame-rate timing are kept, and the source's audio is copied (or "
    "transcoded to AAC). SOURCE is a video (poses are estimated with MediaPipe, smoothed without "
    "lag, and normalized to the subject with statistics of the whole video) or a pose file from "
    "`rtmotion extract`. Frames without a person hold the last pose briefly, then show the "
    "subject's empty scene."
)

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_subject(parser)
    parser.add_argument("-s", "--source", required=True, help="dance video or pose file (.npz)")
    parser.add_argument("-o", "--output", required=True, help="video to write (.mp4, .mov, .mkv)")
    parser.add_argument("--start", type=int, default=0, help="first source frame")
    parser.add_argument("--end", type=int, default=None, help="stop before this source frame")
    add_no_detail(parser)
    parser.add_argument("--size", type=size_type(lo=16), default=None, metavar="WxH",
                        help="size of the result (default: the subject's own camera frame, e.g. "
                             "512x512 for demo-ada)")
    parser.add_argument("--side-by-side", action="store_true",
                        help="write source | normalized pose | result side by side instead (at "
                             "the result's height)")
    add_normalize_mode(parser)
    add_engine_options(parser, threads=False)
    add_device(parser)
    parser.add_argument("--workers", type=int, default=None,
                        help="pose extraction processes (default: one per core for long videos)")
    parser.add_argument("--pose-every", type=int, default=None, metavar="N",
                        help="estimate the source's poses on every N-th frame and interpolate "
                             "the others (default: 2, 25 %% faster end to end on 2 cores for "
                             "~0.01 less SSIM in transfer; 1: every frame, the best look)")
    parser.add_argument("--hold", type=float, default=None,
                        help="seconds a missing person keeps their last pose before the empty scene "
                             "(default: half a second)")
    add_person(parser, "subject follows")
    add_torch_threads(parser)
    parser.add_argument("--json", metavar="REPORT", help="also write the summary as JSON")


def run(args: argparse.Namespace) -> int:
    from rtmotion.atomic import atomic_path, check_writable
    from rtmotion.errors import InputError
    from rtmotion.pipeline.offline import ConvertOptions, check_output, convert
    from rtmotion.subject import load_subject, resolve_subject_path

    if args.start < 0 or (args.end is not None and args.end <= args.start):
        raise InputError(None, f"bad frame range --start {args.start} --end {args.end}",
                         "need 0 <= start < end")
    if args.workers is not None and args.workers < 1:
        raise InputError(None, f"--workers {args.workers}", "give 1 or more")
    if args.pose_every is not None and args.pose_every < 1:
        raise InputError(None, f"--pose-every {args.pose_every}", "give 1 (every frame) or more")
    if args.hold is not None and args.hold < 0:
        raise InputError(None, f"--hold {args.hold} is negative", "give seconds >= 0")
    check_output(args.output, args.source)   # before loading anything
    if args.torch_threads < 1:
        raise InputError(None, f"--torch-threads {args.torch_threads}", "give 1 or more")
    if args.json:
        check_writable(args.json)
    subject = load_subject(resolve_subject_path(args.subject), device="cpu")
    opts = ConvertOptions(engine=engine_request(args), start=args.start, end=args.end,
                          mode=args.mode, workers=args.workers, torch_threads=args.torch_threads,
                          show_progress=not getattr(args, "quiet", False),
                          side_by_side_output=args.output if args.side_by_side else None,
                          output_size=args.size, person=args.person, detail=not args.no_detail)
    if args.hold is not None:
        opts.hold_seconds = args.hold
    if args.pose_every is not None:
        opts.pose_every = args.pose_every
    result = convert(subject, args.source, None if args.side_by_side else args.output, opts)
    if args.json:
        with atomic_path(args.json, suffix=".json") as tmp:
            tmp.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    sys.stdout.write("\n".join(result.lines()) + "\n")  # the summary (stdout; -q only quiets logs)
    return 0
