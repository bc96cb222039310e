"""`rtmotion synth`: render a synthetic dancer video (+ ground-truth poses, optional beat)."""

from __future__ import annotations

import argparse
import logging
import sys
from fractions import Fraction

from rtmotion.commands.args import parse_fps, parse_size

NAME = "synth"
HELP = "render a synthetic dancer video with exact ground-truth poses"
DESCRIPTION = (
    "Render a procedural person dancing, to an MP4, with its ground-truth BODY25 poses "
    "(--poses, .npz) and optionally a beat track (--audio). `rtmotion synth --list` shows the "
    "characters, motions and backgrounds."
)

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", help="output video (.mp4)")
    parser.add_argument("--character", default="ada", help="who dances (see --list)")
    parser.add_argument("--motion", default="dance", help="what they do (see --list)")
    parser.add_argument("--seconds", default="4", help="duration in seconds")
    parser.add_argument("--size", default="256x256", help="frame size WIDTHxHEIGHT in pixels")
    parser.add_argument("--fps", default="30", help="frame rate (e.g. 30, 25, 30000/1001)")
    parser.add_argument("--seed", default="0", help="random seed of the motion (integer)")
    parser.add_argument("--background", default=None,
                        help="scene behind the dancer (default: the character's own; see --list)")
    parser.add_argument("--poses", default=None, help="also write the ground-truth poses (.npz)")
    parser.add_argument("--audio", action="store_true", help="mux a beat at the motion's tempo")
    parser.add_argument("--list", action="store_true",
                        help="list characters, motions and backgrounds, then exit")


def _bad(arg: str, value: str, problem: str, hint: str) -> Exception:
    from rtmotion.errors import InputError

    return InputError(None, f"{arg} {value!r}: {problem}", hint)


def _choice(arg: str, value: str, choices: tuple[str, ...] | list[str]) -> str:
    if value not in choices:
        raise _bad(arg, value, "unknown", f"choose from: {', '.join(choices)}")
    return value


def _size_arg(value: str) -> tuple[int, int]:
    """--size: "WxH", 16..4096 pixels a side; InputError otherwise."""
    try:
        return parse_size(value, lo=16, hi=4096)
    except ValueError as e:
        raise _bad("--size", value, str(e).split(" (")[0], "e.g. --size 256x256 (16..4096 pixels)") from None


def _fps_arg(value: str) -> Fraction:
    """--fps: a positive frame rate of at most 240; InputError otherwise."""
    try:
        f = parse_fps(value)
    except ValueError as e:
        raise _bad("--fps", value, str(e), "e.g. --fps 30 or --fps 30000/1001") from None
    if not 1 <= f <= 240:
        raise _bad("--fps", value, "out of range", "use 1..240 frames per second")
    return f



def parse_seconds(value: str) -> float:
    try:
        s = float(value)
    except ValueError:
        raise _bad("--seconds", value, "not a number", "e.g. --seconds 4") from None
    if not 0 < s <= 3600:
        raise _bad("--seconds", value, "out of range", "use more than 0 and at most 3600 seconds")
    return s


def parse_seed(value: str) -> int:
    try:
        s = int(value)
    except ValueError:
        raise _bad("--seed", value, "not an integer", "e.g. --seed 3") from None
    if s < 0:
        raise _bad("--seed", value, "negative", "use a non-negative integer")
    return s


def run(args: argparse.Namespace) -> int:
    from rtmotion.errors import InputError
    from rtmotion.synthetic import BACKGROUNDS, CHARACTERS, MOTIONS

    if args.list:
        lines = ["characters:"]
        for c in CHARACTERS.values():
            lines.append(f"  {c.name:8s} {c.height:.2f} m  {c.description}")
        lines.append("motions: " + ", ".join(MOTIONS) + "   (dance = a mix of all, the default)")
        lines.append("backgrounds: " + ", ".join(BACKGROUNDS))
        sys.stdout.write("\n".join(lines) + "\n")
        return 0
    if not args.output:
        raise InputError(None, "no output file given", "use -o dancer.mp4 (or --list)")
    character = _choice("--character", args.character, list(CHARACTERS))
    motion = _choice("--motion", args.motion, MOTIONS)
    background = None if args.background is None else _choice("--background", args.background,
                                                              BACKGROUNDS)
    size = _size_arg(args.size)
    fps = _fps_arg(args.fps)
    seconds = parse_seconds(args.seconds)
    seed = parse_seed(args.seed)
    from rtmotion.io import VIDEO_SUFFIXES

    if not str(args.output).lower().endswith(VIDEO_SUFFIXES):
        raise _bad("-o", str(args.output), "unsupported video extension", "use a .mp4 file name")
    if args.poses is not None and not str(args.poses).lower().endswith(".npz"):
        raise _bad("--poses", str(args.poses), "pose files are .npz", "e.g. --poses gt.npz")

    from rtmotion.synthetic import write_dancer_video

    seq = write_dancer_video(args.output, character=character, motion=motion, seconds=seconds,
                             size=size, fps=fps, seed=seed, poses_path=args.poses,
                             audio=args.audio, background=background, show_progress=True)
    log.info("%s: %d frames of %s doing %s%s", args.output, len(seq), character, motion,
             f", poses in {args.poses}" if args.poses else "")
    return 0
