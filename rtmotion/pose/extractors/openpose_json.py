"""OpenPose `--write_json` folders -> PoseSequence.

OpenPose writes one `<name>_<frame>_keypoints.json` per frame:
`{"version": 1.3, "people": [{"pose_keypoints_2d": [x0, y0, c0, x1, ...], ...}, ...]}`.
The flat list's length tells the model: 75 numbers = BODY_25 (25 joints), 54 = COCO (18 joints);
both are remapped to rtmotion's canonical BODY25. With several people the one with the largest
bounding box of confident joints is kept (ties: highest total confidence); a frame with no
people is a frame without a person (all joints missing).

OpenPose's JSON holds neither frame size nor frame rate: pass `video=` (the video the JSON came
from) or `size=` / `fps=`; otherwise the size is the smallest box holding every keypoint (a
warning says so) and the rate 30 fps.
"""

from __future__ import annotations

import json
import logging
import math
import re
from fractions import Fraction
from pathlib import Path

import numpy as np

from rtmotion.errors import InputError
from rtmotion.io import VideoInfo
from rtmotion.pose.posefile import PoseSequence
from rtmotion.pose.skeleton import (
    BODY25,
    COCO18_TO_BODY25,
    OPENPOSE_BODY25_TO_BODY25,
    remap_keypoints,
)

log = logging.getLogger(__name__)

JSON_SUFFIX = "_keypoints.json"
_FORMATS = {75: ("BODY_25", OPENPOSE_BODY25_TO_BODY25), 54: ("COCO", COCO18_TO_BODY25)}


def is_openpose_folder(path: str | Path) -> bool:
    """True if `path` is a directory holding at least one `*_keypoints.json`."""
    p = Path(path)
    return p.is_dir() and any(p.glob(f"*{JSON_SUFFIX}"))


def _frame_key(p: Path) -> tuple[int, str]:
    # Sort by the last number in the name (OpenPose zero-pads it, but other tools may not).
    nums = re.findall(r"\d+", p.name[: -len(JSON_SUFFIX)])
    return (int(nums[-1]) if nums else -1, p.name)


def list_json_files(folder: str | Path) -> list[Path]:
    """The `*_keypoints.json` files of `folder` in frame order; InputError if there are none."""
    folder = Path(folder)
    if not folder.exists():
        raise InputError(folder, "folder not found", "give an OpenPose --write_json output folder")
    if not folder.is_dir():
        raise InputError(folder, "is not a folder", "give an OpenPose --write_json output folder")
    files = sorted(folder.glob(f"*{JSON_SUFFIX}"), key=_frame_key)
    if not files:
        raise InputError(folder, f"holds no *{JSON_SUFFIX} files",
                         "run OpenPose with --write_json FOLDER, or give a video")
    return files


def _pick_person(people: list[np.ndarray]) -> np.ndarray | None:
    """The person (J, 3) with the largest bounding box of confident joints."""
    best, best_score = None, (-1.0, -1.0)
    for kp in people:
        ok = kp[:, 2] > 0
        if not ok.any():
            continue
        xy = kp[ok, :2]
        area = float(np.prod(xy.max(0) - xy.min(0)))
        score = (area, float(kp[ok, 2].sum()))
        if score > best_score:
            best, best_score = kp, score
    return best


def parse_openpose_frame(data: dict, where: str | Path = "") -> tuple[np.ndarray, str | None]:
    """One parsed JSON document -> (float32 (25, 3) BODY25 keypoints, model name or None).

    Returns zeros and None when the frame has no people. InputError (naming `where`) for a
    document that is not OpenPose output or has an unknown keypoint count.
    """
    if not isinstance(data, dict) or "people" not in data or not isinstance(data["people"], list):
        raise InputError(where, "not an OpenPose keypoints file (no 'people' list)")
    people, model = [], None
    for person in data["people"]:
        flat = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
        if not flat:
            continue
        try:
            arr = np.asarray(flat, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(where, "pose_keypoints_2d holds non-numbers") from None
        if arr.ndim != 1 or len(arr) not in _FORMATS:
            raise InputError(where, f"pose_keypoints_2d has {arr.size} numbers; expected 75 (BODY_25) "
                             "or 54 (COCO-18)", "other OpenPose models are not supported")
        name, _ = _FORMATS[len(arr)]
        if model is not None and name != model:
            raise InputError(where, "people with different keypoint formats in one frame")
        model = name
        kp = arr.reshape(-1, 3)
        kp[~np.isfinite(kp).all(axis=1)] = 0.0
        people.append(kp)
    person = _pick_person(people)
    if person is None:
        return np.zeros((BODY25.num_joints, 3), np.float32), model
    return remap_keypoints(person, _FORMATS[len(person) * 3][1], BODY25), model


def load_openpose_folder(folder: str | Path, *, fps: Fraction | float | None = None,
                         size: tuple[int, int] | None = None,
                         video: str | Path | None = None) -> PoseSequence:
    """Read an OpenPose JSON folder into a BODY25 PoseSequence (frame i at i / fps seconds).

    Args:
        folder: OpenPose `--write_json` output.
        fps, size: frame rate and (width, height) of the source video, if known.
        video: the source video; its fps and size are used when `fps` / `size` are not given.
    """
    files = list_json_files(folder)
    if video is not None and (fps is None or size is None):
        info = VideoInfo.from_path(video)
        fps = info.fps if fps is None else fps
        size = info.size if size is None else size
    kps, models = [], set()
    for f in files:
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f, f"unreadable OpenPose JSON ({e})") from None
        kp, model = parse_openpose_frame(data, f)
        if model:
            models.add(model)
        kps.append(kp)
    if len(models) > 1:
        raise InputError(folder, f"mixes OpenPose models ({', '.join(sorted(models))})")
    keypoints = np.stack(kps)                                   # T x 25 x 3
    if size is None:
        ok = keypoints[..., 2] > 0
        if ok.any():
            xy = keypoints[ok][:, :2]
            size = (max(1, math.ceil(float(xy[:, 0].max()) + 1)), max(1, math.ceil(float(xy[:, 1].max()) + 1)))
        else:
            size = (1, 1)
        log.warning("%s: OpenPose JSON has no frame size; using %dx%d from the keypoints "
                    "(pass --video or --size for the real one)", folder, *size)
    fps = Fraction(30) if fps is None else Fraction(fps).limit_denominator(1001)
    timestamps = np.arange(len(keypoints), dtype=np.float64) / float(fps)
    model = next(iter(models)) if models else "unknown"
    return PoseSequence(keypoints=keypoints, skeleton=BODY25.name, fps=fps, size=size,
                        timestamps=timestamps, source=str(folder), extractor=f"openpose-{model}")
