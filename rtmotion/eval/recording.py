"""Recording real generator inputs (`rtmotion calibrate`, `rtmotion export`'s parity check).

The poses come from the subject's held-out frames, other footage of the target, or a pose file
(`calibration_poses`); `record_inputs` generates from them in order, as inference does, and
keeps what the generator was fed (`rtmotion.export.calibration.RecordingRunner`). It lives with
the evaluation sources because it drives the subject with the same held-out poses.
"""

from __future__ import annotations

import datetime as _dt
import logging
from pathlib import Path
from typing import Any

import numpy as np

from rtmotion.engine_request import EAGER_CPU, EngineRequest
from rtmotion.errors import InputError
from rtmotion.eval.sources import heldout_source, video_source
from rtmotion.export.calibration import CalibrationSet, RecordingRunner, save_calibration
from rtmotion.export.machine import generator_digest
from rtmotion.pipeline.session import open_session
from rtmotion.pose.posefile import PoseSequence
from rtmotion.subject import Subject

log = logging.getLogger(__name__)


def calibration_poses(subject: Subject, video: Path | None, poses: Path | None,
                      max_poses: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """(keypoints (T, K, 3) in model pixels, where they came from) for recording."""
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


#: generator calls a calibration set keeps by default (`rtmotion calibrate --frames`)
DEFAULT_CALIBRATION_FRAMES = 48


def record_calibration(subject: Subject, root: str | Path, *, video: Path | None = None,
                       poses: Path | None = None, frames: int = DEFAULT_CALIBRATION_FRAMES,
                       max_poses: int | None = None, device: str = "cpu",
                       command: str = "") -> tuple[Path, CalibrationSet, dict[str, Any]]:
    """Record and save a subject's calibration set: what `rtmotion calibrate` does, and what
    `rtmotion build --precision int8` does when there is no set yet.

    Poses from `calibration_poses` (default: the subject's held-out poses), generated in order
    by the reference generator (torch fp32 on `device`), `frames` calls kept, written to
    `root/<subject>/<W>x<H>.npz` (+ .json saying where they came from).
    Returns (npz path, the set, where the poses came from)."""
    kps, source = calibration_poses(subject, video, poses, max_poses)
    cal = record_inputs(subject, kps, frames,
                        EngineRequest(backend="torch", precision="fp32", device=device))
    cal.info = {"subject": subject.name, "subject_path": str(subject.path),
                "subject_digest": generator_digest(subject.generator), "poses": source,
                **cal.info, "command": command,
                "recorded": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    return save_calibration(cal, Path(root) / subject.name), cal, source


def record_inputs(subject: Subject, keypoints: np.ndarray, frames: int,
                  request: EngineRequest = EAGER_CPU) -> CalibrationSet:
    """Generate from `keypoints` (T, K, 3) in order, through a session on `request`'s engine
    (default: torch fp32 on the CPU, the reference), and keep the generator inputs of `frames`
    calls spread evenly over the sequence. Returns a CalibrationSet (info: indices)."""
    person = [t for t in range(len(keypoints)) if (keypoints[t][:, 2] > 0).any()]
    if not person:
        raise InputError(None, "no pose with a person to record from")
    keep = {person[int(round(i))] for i in np.linspace(0, len(person) - 1, min(frames, len(person)))}
    with open_session(subject, request, use_face=False, wrap=RecordingRunner) as session:
        recorder = session.runner
        assert isinstance(recorder, RecordingRunner)
        for t, kp in enumerate(keypoints):
            recorder.recording = t in keep
            session(kp)
        arrays = recorder.arrays()
    cal = CalibrationSet(arrays, {"indices": sorted(keep), "generated": len(keypoints)})
    log.info("recorded %d generator calls of %d frames", len(cal), len(keypoints))
    return cal
