"""`rtmotion extract`: a video (or OpenPose JSON folder / pose file / synthetic spec) -> poses.npz."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rtmotion.commands.args import add_person, fps_type, size_type

NAME = "extract"
HELP = "extract poses from a video into a pose file (.npz), with temporal filtering"
DESCRIPTION = (
    "Estimate one person's pose in every frame of INPUT and write a pose file. INPUT is a video, "
    "an OpenPose --write_json folder (BODY_25 or COCO-18), an existing pose .npz (re-filtered), "
    "or a synthetic dancer spec such as synthetic:character=ada,motion=dance,seconds=4. "
    "Poses are gap-filled and smoothed over time (--filter). When a video shows several people, "
    "they are found on a few frames, numbered left to right, and one is followed (--person); "
    "the summary names how many and which."
)

log = logging.getLogger(__name__)


def _positive_int(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rtmotion.pose.filters import FILTER_METHODS, OFFLINE_FILTER, FilterParams

    d = FilterParams()
    parser.add_argument("input", help="video file, OpenPose JSON folder, pose .npz, or synthetic:SPEC")
    parser.add_argument("-o", "--output", required=True, help="pose file to write (.npz)")
    parser.add_argument("--from", dest="kind", default="auto",
                        choices=("auto", "video", "openpose", "npz", "synthetic"),
                        help="what INPUT is (auto: by suffix / folder content)")
    parser.add_argument("--overlay", metavar="VIDEO.mp4",
                        help="also write a video with the skeleton drawn over the source")
    src = parser.add_argument_group("video extraction")
    src.add_argument("--extractor", default="mediapipe", help="per-frame pose estimator: a registered name or package.module:Class")
    src.add_argument("--workers", type=_positive_int, default=None,
                     help="worker processes (default: min(CPUs, 4) for videos of 150+ frames, else 1); "
                          "each chunk restarts MediaPipe's tracker after a short warm-up")
    src.add_argument("--start", type=int, default=0, help="first frame")
    src.add_argument("--end", type=int, default=None, help="stop before this frame")
    src.add_argument("--model-complexity", type=int, default=1,
                     help="MediaPipe BlazePose model: only 1 (full) ships with mediapipe 0.10.21")
    src.add_argument("--min-visibility", type=float, default=0.5,
                     help="MediaPipe landmarks less visible than this are missing")
    src.add_argument("--static", action="store_true",
                     help="no tracking: run the person detector on every frame independently")
    add_person(src)
    op = parser.add_argument_group("OpenPose JSON / pose file input (their files hold no video)")
    op.add_argument("--video", help="the video the poses belong to (size, fps, overlay background)")
    op.add_argument("--fps", type=fps_type, default=None, help="frame rate (default: --video's, else 30)")
    op.add_argument("--size", type=size_type(), default=None, help="frame size WIDTHxHEIGHT")
    flt = parser.add_argument_group("temporal filter")
    flt.add_argument("--filter", default=OFFLINE_FILTER, choices=FILTER_METHODS,
                     help="smoothing over time (zero-phase: Savitzky-Golay, no lag; one-euro: causal, as live)")
    flt.add_argument("--sg-window", type=_positive_int, default=d.sg_window,
                     help="zero-phase filter window (frames)")
    flt.add_argument("--min-cutoff", type=float, default=d.min_cutoff,
                     help="One-Euro minimum cutoff (Hz): lower = smoother, more lag")
    flt.add_argument("--beta", type=float, default=d.beta,
                     help="One-Euro speed coefficient (per frame-height/s): higher = less lag on fast moves")
    flt.add_argument("--d-cutoff", type=float, default=d.d_cutoff, help="One-Euro speed cutoff (Hz)")
    flt.add_argument("--median-window", type=_positive_int, default=d.median_window,
                     help="median filter window (frames, odd)")
    flt.add_argument("--max-gap", type=int, default=d.max_gap,
                     help="interpolate joints missing for at most this many frames (0: never)")


def run(args: argparse.Namespace) -> int:
    from rtmotion.errors import InputError
    from rtmotion.pose.extract import extract_to_file
    from rtmotion.pose.extractors import available_extractors
    from rtmotion.pose.filters import FilterParams

    if args.extractor not in available_extractors() and ":" not in args.extractor:
        raise InputError(None, f"unknown --extractor '{args.extractor}'",
                         f"choose from {', '.join(available_extractors())}")
    if args.start < 0 or (args.end is not None and args.end <= args.start):
        raise InputError(None, f"bad frame range --start {args.start} --end {args.end}",
                         "need 0 <= start < end")
    if args.model_complexity != 1 and args.extractor == "mediapipe":
        from rtmotion.pose.extractors.mediapipe import model_path

        if args.model_complexity not in (0, 2) or model_path(args.model_complexity) is None:
            raise InputError(None, f"--model-complexity {args.model_complexity} is not available: "
                             "mediapipe 0.10.21 ships only the complexity-1 (full) BlazePose model "
                             "and rtmotion never downloads models", "use --model-complexity 1")
    try:
        params = FilterParams(method=args.filter, min_cutoff=args.min_cutoff, beta=args.beta,
                              d_cutoff=args.d_cutoff, median_window=args.median_window,
                              max_gap=args.max_gap, sg_window=args.sg_window)
    except ValueError as e:
        raise InputError(None, f"bad filter setting: {e}") from None
    opts: dict = {}
    if args.extractor == "mediapipe":
        opts = {"model_complexity": args.model_complexity, "min_visibility": args.min_visibility,
                "static_image_mode": args.static}
    quiet = bool(getattr(args, "quiet", False)) or \
        logging.getLogger("rtmotion").getEffectiveLevel() >= logging.ERROR
    extract_to_file(args.input, args.output, kind=args.kind, filter_params=params,
                    overlay=args.overlay, video=args.video, extractor=args.extractor,
                    extractor_opts=opts, workers=args.workers, start=args.start, end=args.end,
                    fps=args.fps, size=args.size, show_progress=not quiet,
                    **({"person": args.person} if args.extractor == "mediapipe" else {}))
    if not Path(args.output).exists():  # defensive: success must mean a file
        raise InputError(args.input, "nothing was written")
    return 0
