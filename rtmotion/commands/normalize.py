"""`rtmotion normalize`: map a source's poses into the target's frame (EDN, retarget, upper body)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rtmotion.commands.args import add_normalize_mode

NAME = "normalize"
HELP = "map source poses into the target's frame (EDN normalization, bone retarget, upper body)"
DESCRIPTION = """\
Map every pose of a source pose file into the target's frame, so the target's generator can
render it. --target is the target's pose file (.npz; its statistics are computed from it) or a
statistics file (.json) written by `--save-stats` or by training (subjects/NAME/pose_stats.json).
Modes: edn (EDN global normalization by ankle position and height), retarget (the target's bone
lengths, then edn), upper (shoulders and head, for webcam framing), auto (retarget when the
source's ankles are visible in most frames, else upper). --overlay draws the normalized skeleton over the
target video's frames (frame i of the output over target frame i modulo the target's length; a
plain dark background when no target video is given), to check the result by eye.
"""

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", "-s", type=Path, help="source pose file (.npz)")
    parser.add_argument("--target", "-t", type=Path, required=True,
                        help="target pose file (.npz) or target pose statistics (.json)")
    parser.add_argument("--output", "-o", type=Path, help="normalized pose file to write (.npz)")
    add_normalize_mode(parser, "-m")
    parser.add_argument("--save-stats", type=Path, metavar="JSON",
                        help="also write the target's pose statistics to this .json file")
    parser.add_argument("--overlay", type=Path, metavar="MP4",
                        help="write a video of the normalized skeleton over the target's frames")
    parser.add_argument("--target-video", type=Path, metavar="VIDEO",
                        help="the target's video, background of --overlay")
    parser.add_argument("--min-confidence", type=float, default=0.0,
                        help="joints with confidence at or below this count as missing")
    parser.add_argument("--no-depth-match", action="store_true",
                        help="map the source's depth range onto the target's whole range, as EDN "
                             "does, even when the source moves less in depth")


def _load_target(path: Path, min_conf: float):  # -> SubjectPoseStats
    from rtmotion.errors import InputError
    from rtmotion.pose.posefile import PoseSequence
    from rtmotion.pose.stats import SubjectPoseStats

    if path.suffix.lower() == ".json":
        return SubjectPoseStats.load(path)
    seq = PoseSequence.load(path)
    if not seq.detected.any():
        raise InputError(path, "no person in any frame of the target pose file")
    return SubjectPoseStats.from_sequence(seq, min_confidence=min_conf)


def _check_output(path: Path, suffix: str, what: str) -> None:
    from rtmotion.atomic import check_writable
    from rtmotion.errors import OutputError

    if path.suffix.lower() != suffix:
        raise OutputError(path, f"{what} must be a {suffix} file", f"name it *{suffix}")
    check_writable(path)


def run(args: argparse.Namespace) -> int:
    from rtmotion.errors import InputError
    from rtmotion.pose.normalize import normalize_sequence
    from rtmotion.pose.overlay import write_overlay
    from rtmotion.pose.posefile import PoseSequence

    if args.output is None and args.save_stats is None and args.overlay is None:
        raise InputError(None, "nothing to do", "give -o OUT.npz, --overlay OUT.mp4 or --save-stats OUT.json")
    if (args.output is not None or args.overlay is not None) and args.source is None:
        raise InputError(None, "--source is needed to normalize", "give --source SOURCE.npz")
    if args.overlay is None and args.target_video is not None:
        log.warning("--target-video is only used with --overlay")
    # Fail on unwritable outputs before any work.
    if args.output is not None:
        _check_output(args.output, ".npz", "the normalized pose file")
    if args.save_stats is not None:
        _check_output(args.save_stats, ".json", "the statistics file")
    if args.overlay is not None:
        from rtmotion.atomic import check_writable

        check_writable(args.overlay)
        if args.target_video is not None:
            from rtmotion.io import VideoInfo

            VideoInfo.from_path(args.target_video)  # a bad video fails here, before any output

    target = _load_target(args.target, args.min_confidence)
    source = PoseSequence.load(args.source) if args.source is not None else None
    if source is not None and not source.detected.any():
        raise InputError(args.source, "no person in any frame of the source pose file")

    normalized = None
    if source is not None:
        try:
            normalized = normalize_sequence(source, target, args.mode, min_confidence=args.min_confidence,
                                            match_depth_range=not args.no_depth_match)
        except InputError as e:
            if e.path is not None:
                raise
            raise InputError(args.source, e.problem, e.hint) from None
    # Outputs only after everything above succeeded: nothing is written on bad input.
    if args.save_stats is not None:
        target.save(args.save_stats)
        log.info("wrote target pose statistics to %s", args.save_stats)
    if normalized is not None and args.output is not None:
        normalized.save(args.output)
        log.info("wrote %d normalized poses (mode %s) to %s", len(normalized),
                 normalized.extractor.rsplit(":", 1)[-1], args.output)
    if normalized is not None and args.overlay is not None:
        write_overlay(normalized, args.overlay, args.target_video, loop=True, blank_level=40)
        log.info("wrote overlay video to %s", args.overlay)
    return 0
