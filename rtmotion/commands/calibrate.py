"""`rtmotion calibrate`: record real generator inputs for INT8 calibration and parity checks."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

NAME = "calibrate"
HELP = "record real generator inputs (calibration set for INT8 engines and parity checks)"
DESCRIPTION = """\
Generate frames of the subject one after another, as inference does, and record what the
generator is fed at each step: the pose maps, the previous output warped to the new pose, and
the warp's validity mask. A spread of --frames of them is written to
calibration/<subject>/<W>x<H>.npz (one array per ONNX input name, N x C x H x W float32), with
a JSON beside it saying where the poses came from. `rtmotion build --precision int8` calibrates
on two thirds of the frames and measures INT8's quality (SSIM against fp32) on the rest.

Poses: by default the subject's held-out validation poses (subject.json's validation range;
for a subject trained on a synthetic dancer whose video is gone, such as the shipped demo-ada,
they are made again from the recorded character, motion and seed). --video V --poses P: other
footage of the target from the same camera. --poses P alone: a pose file in the subject's
camera frame (its source video's size) or already in model pixels (the subject's resolution).
"""

log = logging.getLogger(__name__)

DEFAULT_FRAMES = 48


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subject", help="subject folder (from `rtmotion train`) or shipped name")
    parser.add_argument("--video", type=Path, help="other footage of the target (same camera)")
    parser.add_argument("--poses", type=Path, help="pose file (.npz) of --video, or alone (see above)")
    parser.add_argument("-o", "--output", type=Path, default=Path("calibration"),
                        help="calibration root; the set goes to OUTPUT/<subject>/")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES,
                        help="how many generator calls to keep (spread over the sequence)")
    parser.add_argument("--max-poses", type=int, default=None,
                        help="generate from at most this many poses")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (torch generator)")


def driving_poses(subject: Any, video: Path | None, poses: Path | None,
                  max_poses: int | None = None) -> tuple[Any, dict[str, Any]]:
    """(keypoints (T, K, 3) in model pixels, where they came from) for recording."""
    import numpy as np

    from rtmotion.errors import InputError
    from rtmotion.eval.sources import heldout_source, video_source
    from rtmotion.pose.posefile import PoseSequence

    if video is not None:
        src = video_source(subject, video, poses, max_frames=max_poses)
        return np.stack([it.driving for it in src.items()]), {"kind": "video", **src.info}
    if poses is not None:
        seq = PoseSequence.load(poses)
        kp = seq.keypoints[:max_poses] if max_poses else seq.keypoints
        if tuple(seq.size) == tuple(subject.crop.frame_size):
            kp = subject.crop.keypoints_to_crop(kp, subject.resolution)
        elif tuple(seq.size) != tuple(subject.resolution):
            raise InputError(poses, f"poses are for {seq.size[0]}x{seq.size[1]} frames; the "
                             f"subject's camera frame is {subject.crop.frame_size[0]}x"
                             f"{subject.crop.frame_size[1]} and its model frame "
                             f"{subject.resolution[0]}x{subject.resolution[1]}",
                             "give poses of the subject's camera, or normalize them first "
                             "(`rtmotion normalize`)")
        return kp, {"kind": "poses", "poses": str(poses), "frames": [0, len(kp)]}
    src = heldout_source(subject, max_frames=max_poses)
    return np.stack([it.driving for it in src.items()]), {"kind": "heldout", **src.info}


def record_inputs(subject: Any, keypoints: Any, frames: int, device: str = "cpu") -> Any:
    """Generate from `keypoints` (T, K, 3) in order and keep the generator inputs of `frames`
    calls spread evenly over the sequence. Returns a CalibrationSet (info: indices)."""
    import numpy as np

    from rtmotion.errors import InputError
    from rtmotion.export.calibration import CalibrationSet, RecordingRunner
    from rtmotion.pipeline.synthesize import SubjectSynthesizer
    from rtmotion.runtime import get_backend

    person = [t for t in range(len(keypoints)) if (keypoints[t][:, 2] > 0).any()]
    if not person:
        raise InputError(None, "no pose with a person to record from")
    keep = {person[int(round(i))] for i in np.linspace(0, len(person) - 1, min(frames, len(person)))}
    recorder = RecordingRunner(get_backend("torch", subject, device))
    with SubjectSynthesizer(subject, recorder, use_face=False) as synth:
        for t, kp in enumerate(keypoints):
            recorder.recording = t in keep
            synth(kp)
    cal = CalibrationSet(recorder.arrays(), {"indices": sorted(keep), "generated": len(keypoints)})
    log.info("recorded %d generator calls of %d frames", len(cal), len(keypoints))
    return cal


def run(args: argparse.Namespace) -> int:
    import datetime as _dt

    from rtmotion.errors import InputError
    from rtmotion.export.calibration import save_calibration
    from rtmotion.export.machine import generator_digest
    from rtmotion.subject import load_subject

    if args.frames < 3:
        raise InputError(None, f"--frames must be >= 3, got {args.frames}")
    if args.video is not None and args.poses is None:
        log.info("no --poses: poses of --video will be extracted with MediaPipe")
    subject = load_subject(args.subject)
    kps, source = driving_poses(subject, args.video, args.poses, args.max_poses)
    cal = record_inputs(subject, kps, args.frames, args.device)
    cal.info = {"subject": subject.name, "subject_path": str(subject.path),
                "subject_digest": generator_digest(subject.generator), "poses": source,
                **cal.info, "command": "rtmotion " + " ".join(sys.argv[1:]),
                "recorded": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    path = save_calibration(cal, args.output / subject.name)
    sys.stdout.write(f"calibration set: {path} ({len(cal)} generator calls from "
                     f"{source.get('poses', source['kind'])})\n")
    return 0
