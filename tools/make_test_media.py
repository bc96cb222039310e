#!/usr/bin/env python
"""Write a handful of synthetic test clips (each character, several motions, one with a beat)
into a folder, each with its ground-truth pose file, using the library API.

    python tools/make_test_media.py out_dir [--seconds 4] [--size 256x256] [--fps 30]

Prints one line per clip: file, frames, seconds taken.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rtmotion.synthetic import CHARACTERS, write_dancer_video

# (character, motion, audio): every character dances; a few other motions; one with a beat.
CLIPS: list[tuple[str, str, bool]] = [(name, "dance", False) for name in CHARACTERS] + [
    ("ada", "walk", False),
    ("bruno", "wave", False),
    ("mira", "jump", False),
    ("kofi", "squat", False),
    ("ada", "steps", True),
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out_dir", type=Path)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--size", default="256x256", help="WIDTHxHEIGHT")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for character, motion, audio in CLIPS:
        stem = f"{character}_{motion}" + ("_audio" if audio else "")
        t0 = time.perf_counter()
        seq = write_dancer_video(args.out_dir / f"{stem}.mp4", character=character, motion=motion,
                                 seconds=args.seconds, size=(w, h), fps=args.fps, seed=args.seed,
                                 poses_path=args.out_dir / f"{stem}.npz", audio=audio)
        print(f"{stem}.mp4  {len(seq)} frames  {time.perf_counter() - t0:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
