"""`rtmotion demo`: the whole path on built-in data, no files of the user's own needed.

1. a synthetic source dancer (default "bruno", with a beat) is rendered to a video;
2. its poses are extracted with MediaPipe (the real estimator), with a skeleton overlay;
3. they are normalized into the shipped demo subject's frame (EDN global normalization);
4. the demo subject (`demo-ada`, trained with `tools/train_demo_subject.sh`) is driven by them,
   frame by frame with its soft-gated warping, on the torch backend;
5. the result is written with the source's audio, plus a side-by-side video
   (source | normalized skeleton | result) and a JSON summary of what was measured.

Steps 2-5 are `rtmotion convert` itself (`rtmotion.pipeline.offline.convert`, one code path):
the demo only makes the source and keeps the intermediate files for a look.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from rtmotion.commands.args import add_device, add_normalize_mode, engine_request

NAME = "demo"
HELP = "run the whole pipeline on a built-in synthetic dancer and the shipped demo subject"
DESCRIPTION = __doc__

log = logging.getLogger(__name__)

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", default="demo_out", help="output folder")
    parser.add_argument("--subject", default="demo-ada",
                        help="subject bundle folder or the name of a shipped subject")
    parser.add_argument("--character", default="bruno", help="the synthetic source dancer")
    parser.add_argument("--motion", default="dance", help="the source dancer's motion")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of the source video")
    parser.add_argument("--seed", type=int, default=7, help="motion seed of the source dancer")
    add_normalize_mode(parser)
    add_device(parser, default="cpu")


def run(args: argparse.Namespace) -> int:
    from rtmotion.atomic import atomic_path
    from rtmotion.errors import InputError, OutputError
    from rtmotion.pipeline.coverage import NO_NEW_POSES
    from rtmotion.pipeline.coverage import describe as describe_new_poses
    from rtmotion.pipeline.offline import convert
    from rtmotion.pose.extract import write_overlay
    from rtmotion.subject import load_subject, resolve_subject_path
    from rtmotion.synthetic import CHARACTERS, MOTIONS, write_dancer_video

    if args.character not in CHARACTERS:
        raise InputError(None, f"--character {args.character!r} is unknown",
                         f"choose from: {', '.join(CHARACTERS)}")
    if args.motion not in MOTIONS:
        raise InputError(None, f"--motion {args.motion!r} is unknown",
                         f"choose from: {', '.join(MOTIONS)}")
    if not 0.5 <= args.seconds <= 600:
        raise InputError(None, f"--seconds {args.seconds} is out of range", "give 0.5 to 600")
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise OutputError(out, "exists and is not a folder", "give a folder for the demo's files")
    subject = load_subject(resolve_subject_path(args.subject), device=args.device)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    # 1. the source dancer
    source_video, truth_file = out / "source.mp4", out / "source_truth.npz"
    t0 = time.perf_counter()
    truth = write_dancer_video(source_video, args.character, args.motion, seconds=args.seconds,
                               size=(512, 512), fps=30, seed=args.seed, poses_path=truth_file,
                               audio=True, show_progress=not args.quiet)
    timings["synthesize_source_s"] = time.perf_counter() - t0

    # 2-5. convert: MediaPipe (worker processes), zero-phase filter, normalization with the
    # whole source's statistics, the subject frame by frame, H.264 with the source's beat.
    t0 = time.perf_counter()
    result = convert(subject, source_video, out / "result.mp4",
                     side_by_side_output=out / "side_by_side.mp4", mode=args.mode,
                     engine=engine_request(args, backend="torch", precision="fp32"),
                     show_progress=not args.quiet)
    timings["convert_s"] = time.perf_counter() - t0
    poses, driving = result.poses.raw, result.poses.driving
    poses.save(out / "source_poses.npz")
    driving.save(out / "driving_poses.npz")
    t0 = time.perf_counter()
    write_overlay(poses, out / "source_overlay.mp4", source_video, show_progress=not args.quiet)
    timings["overlay_s"] = time.perf_counter() - t0
    visible = (truth.keypoints[..., 2] > 0) & (poses.keypoints[..., 2] > 0)
    err = np.linalg.norm(truth.keypoints[..., :2] - poses.keypoints[..., :2], axis=-1)[visible]
    n = result.frames

    report: dict[str, Any] = {
        "subject": str(subject.name),
        "subject_resolution": list(subject.resolution),
        "source": {"character": args.character, "motion": args.motion, "seconds": args.seconds,
                   "seed": args.seed, "frames": n},
        "extraction": {"frames_with_person": int(poses.detected.sum()),
                       "mean_error_px_vs_truth": float(err.mean()) if err.size else None},
        "normalization": driving.extractor,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "generate_fps": round(n / result.generate_seconds, 2) if result.generate_seconds else 0.0,
        "convert": result.to_dict(),
        "device": args.device,
    }
    with atomic_path(out / "demo.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")

    lines = [
        f"demo: {args.character} ({args.motion}, {args.seconds:g} s) drives subject {subject.name}",
        f"  source video        {source_video}",
        f"  poses (MediaPipe)   {out / 'source_poses.npz'}  "
        f"({report['extraction']['frames_with_person']}/{n} frames with a person, "
        f"mean error {report['extraction']['mean_error_px_vs_truth'] or float('nan'):.1f} px vs truth)",
        f"  skeleton overlay    {out / 'source_overlay.mp4'}",
        f"  result              {out / 'result.mp4'}  ({n} frames, "
        f"{report['generate_fps']:.1f} fps generate+encode on {args.device}, "
        f"{result.fps:.1f} fps end to end)",
        f"  side by side        {out / 'side_by_side.mp4'}  (source | normalized pose | result)",
        *([f"  new poses           {describe_new_poses(result.new_poses) or NO_NEW_POSES}"]
          if result.new_poses is not None else []),
        f"  summary             {out / 'demo.json'}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
