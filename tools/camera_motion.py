"""Whether a clip's camera holds still, as `rtmotion train` judges it before training.

    python tools/camera_motion.py VIDEO POSES.npz [VIDEO POSES.npz ...] [--json out.json]

For each clip (its MediaPipe poses from `rtmotion extract`, in the video's pixels): the room's
plate at the camera's resolution made as `train` makes it (`rtmotion.train.background.
estimate_scene_plate`, every frame allowed to vote, joined with the person's segmentation), and
how its frames agree with it: the median residual (0..255), the share of background pixels off
by more than `CHANGED_LEVELS`, the share inpainted, and the verdict (`BackgroundPlate.
looks_static`: a fixed camera, or one that pans, zooms, shakes or cuts).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from rtmotion.errors import RtmotionError
from rtmotion.pose.posefile import PoseSequence
from rtmotion.pose.segmentation import PersonSegmenter
from rtmotion.pose.skeleton import get_skeleton
from rtmotion.train.background import estimate_scene_plate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pairs", nargs="+", help="VIDEO POSES.npz, one pair per clip")
    ap.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = ap.parse_args(argv)
    if len(args.pairs) % 2:
        ap.error("give a pose file after each video")
    rows = []
    with PersonSegmenter() as segmenter:
        for video, poses in zip(args.pairs[::2], args.pairs[1::2]):
            try:
                seq = PoseSequence.load(poses)
                plate = estimate_scene_plate(video, seq.keypoints, get_skeleton(seq.skeleton).bones,
                                             np.arange(len(seq)), segmenter=segmenter.mask)
            except (RtmotionError, ValueError) as e:   # a missing or unreadable file: one line
                raise SystemExit(f"camera_motion.py: {e}") from None
            rows.append({"video": Path(video).name, **plate.summary(), "static": plate.looks_static})
    print(f"{'clip':16s} {'residual':>8s} {'changed':>8s} {'inpainted':>9s}  verdict")
    for r in rows:
        print(f"{r['video']:16s} {r['residual']:8.1f} {100 * r['changed_fraction']:7.1f}% "
              f"{100 * r['inpainted_fraction']:8.1f}%  {'fixed camera' if r['static'] else 'THE CAMERA MOVES'}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
