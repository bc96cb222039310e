"""How clean is the background plate? Skeleton mask alone vs joined with the person's
segmentation (`rtmotion.train.background`, `rtmotion.pose.segmentation`), on synthetic dancers
whose empty room is known exactly.

    python tools/plate_ablation.py [--size 384] [--seconds 6] [--fps 15] [--frames 60]

Prints one row per clip and mask: the plate's mean absolute error against the true room (0..255,
mean over the channels), its 99.5th percentile, the share of pixels off by more than 20 (a
ghost or a poor fill), the share guessed by inpainting, and the seconds the plate took.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from rtmotion.pose.segmentation import PersonSegmenter
from rtmotion.pose.skeleton import get_skeleton
from rtmotion.synthetic.generate import render_sequence
from rtmotion.synthetic.render import Renderer
from rtmotion.train.background import estimate_background_plate

#: (character, motion): two near-static people (idle; lena has long hair) and two moving ones.
CLIPS = (("ada", "idle"), ("lena", "idle"), ("ada", "dance"), ("lena", "steps"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--frames", type=int, default=60, help="frames voting in each plate")
    args = ap.parse_args()
    size = (args.size, args.size)
    bones = get_skeleton("body25").bones
    print(f"{'clip':12s} {'mask':9s} {'mean|err|':>9s} {'p99.5':>6s} {'>20 %':>6s} "
          f"{'inpainted %':>11s} {'s':>5s}")
    with PersonSegmenter() as seg:
        for char, motion in CLIPS:
            frames_it, seq = render_sequence(char, motion, seconds=args.seconds, size=size,
                                             fps=args.fps, seed=1)
            frames = np.stack(list(frames_it))
            room = cv2.resize(Renderer(char, size).background, size,
                              interpolation=cv2.INTER_AREA).astype(np.float32)
            for name, segmenter in (("skeleton", None), ("+segment", seg.mask)):
                t0 = time.perf_counter()
                plate = estimate_background_plate(frames, seq.keypoints, bones,
                                                  max_frames=args.frames, segmenter=segmenter)
                dt = time.perf_counter() - t0
                err = np.abs(plate.image.astype(np.float32) - room).mean(axis=-1)
                print(f"{char + ' ' + motion:12s} {name:9s} {err.mean():9.2f} "
                      f"{np.percentile(err, 99.5):6.1f} {100 * (err > 20).mean():6.2f} "
                      f"{100 * plate.inpainted_fraction:11.1f} {dt:5.1f}", flush=True)


if __name__ == "__main__":
    main()
