"""`rtmotion demo`: the whole path on built-in data, no files of the user's own needed.

1. a synthetic source dancer (default "bruno", with a beat) is rendered to a video;
2. its poses are extracted with MediaPipe (the real estimator), with a skeleton overlay;
3. they are normalized into the shipped demo subject's frame (EDN global normalization);
4. the demo subject (`demo-ada`, trained with `tools/train_demo_subject.sh`) is driven by them,
   frame by frame with its soft-gated warping, on the torch backend;
5. the result is written with the source's audio, plus a side-by-side video
   (source | normalized skeleton | result) and a JSON summary of what was measured.
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

NAME = "demo"
HELP = "run the whole pipeline on a built-in synthetic dancer and the shipped demo subject"
DESCRIPTION = __doc__

log = logging.getLogger(__name__)

PANEL_HEIGHT = 256  # side-by-side panels are shown at this height (pixels)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", default="demo_out", help="output folder")
    parser.add_argument("--subject", default="demo-ada",
                        help="subject bundle folder or the name of a shipped subject")
    parser.add_argument("--character", default="bruno", help="the synthetic source dancer")
    parser.add_argument("--motion", default="dance", help="the source dancer's motion")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of the source video")
    parser.add_argument("--seed", type=int, default=7, help="motion seed of the source dancer")
    parser.add_argument("--mode", default="auto", choices=("auto", "edn", "retarget", "upper"),
                        help="pose normalization mode")
    parser.add_argument("--device", default="cpu", help="torch device for the generator")


def _panel(image: np.ndarray, height: int = PANEL_HEIGHT) -> np.ndarray:
    """Resize uint8 RGB (H, W, 3) to `height` rows, keeping the aspect ratio."""
    import cv2

    h, w = image.shape[:2]
    width = max(2, int(round(w * height / h)))
    interp = cv2.INTER_AREA if h > height else cv2.INTER_CUBIC
    return cv2.resize(image, (width, height), interpolation=interp)


def run(args: argparse.Namespace) -> int:
    from rtmotion.atomic import atomic_path
    from rtmotion.errors import InputError, OutputError
    from rtmotion.io import VideoReader, VideoWriter
    from rtmotion.pipeline.synthesize import SubjectSynthesizer
    from rtmotion.pose.draw import draw_skeleton
    from rtmotion.pose.extract import extract_to_file
    from rtmotion.pose.normalize import normalize_sequence
    from rtmotion.synthetic import CHARACTERS, MOTIONS, write_dancer_video
    from rtmotion.subject import load_subject, resolve_subject_path

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

    # 2. MediaPipe pose extraction (+ overlay)
    t0 = time.perf_counter()
    poses, summary = extract_to_file(source_video, out / "source_poses.npz",
                                     overlay=out / "source_overlay.mp4",
                                     show_progress=not args.quiet)
    timings["extract_s"] = time.perf_counter() - t0
    visible = (truth.keypoints[..., 2] > 0) & (poses.keypoints[..., 2] > 0)
    err = np.linalg.norm(truth.keypoints[..., :2] - poses.keypoints[..., :2], axis=-1)[visible]

    # 3. normalization into the subject's frame (model pixels)
    t0 = time.perf_counter()
    driving = normalize_sequence(poses, subject.stats, mode=args.mode)
    driving.save(out / "driving_poses.npz")
    timings["normalize_s"] = time.perf_counter() - t0

    # 4 + 5. drive the subject; result video (with the source's beat) and side by side
    t0 = time.perf_counter()
    n = len(driving)
    with SubjectSynthesizer(subject, device=args.device) as synth, \
            VideoWriter(out / "result.mp4", driving.fps, audio_from=source_video) as result, \
            VideoWriter(out / "side_by_side.mp4", driving.fps, audio_from=source_video) as side, \
            VideoReader(source_video) as frames:
        for frame, kp in zip(frames, driving.keypoints):
            image = synth(kp)
            result.write(image)
            skeleton = draw_skeleton(np.zeros_like(image), kp)
            side.write(np.concatenate([_panel(frame.image), _panel(skeleton), _panel(image)], axis=1))
    timings["generate_and_encode_s"] = time.perf_counter() - t0

    report: dict[str, Any] = {
        "subject": str(subject.name),
        "subject_resolution": list(subject.resolution),
        "source": {"character": args.character, "motion": args.motion, "seconds": args.seconds,
                   "seed": args.seed, "frames": n},
        "extraction": {"frames_with_person": int(poses.detected.sum()),
                       "mean_error_px_vs_truth": float(err.mean()) if err.size else None},
        "normalization": driving.extractor,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "generate_fps": round(n / timings["generate_and_encode_s"], 2),
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
        f"{report['generate_fps']:.1f} fps generate+encode on {args.device})",
        f"  side by side        {out / 'side_by_side.mp4'}  (source | normalized pose | result)",
        f"  summary             {out / 'demo.json'}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
