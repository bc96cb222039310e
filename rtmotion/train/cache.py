"""The training data cache: cropped + resized frames and poses in crop pixels, built once.

Layout of a cache folder (default `WORK_DIR/cache/`):

    frames.npy    uint8 (T, H, W, 3) RGB, the fixed crop of every video frame at the model's
                  resolution (read back as a memory map: no need to hold the video in RAM)
    poses.npy     float32 (T, K, 3) keypoints in pixels of the resized crop
    boxes.npy     (a follow crop, `rtmotion.subject.follow`) int32 (T, 2): each frame's box
                  origin (x0, y0) in camera pixels; frames and poses are then in each frame's
                  own box
    key.json      what the cache was built from (video path, byte size, mtime, crop box,
                  resolution, pose source and a hash of the poses); written last, so a cache
                  whose build was interrupted has no key and is rebuilt
    extracted.npz / extracted.json   MediaPipe poses of the video (when no --poses was given),
                  keyed the same way, so a second run skips extraction too

A second run with the same inputs reads the cache (a cache hit costs milliseconds); a changed
video, pose file, crop or resolution rebuilds it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rtmotion.atomic import atomic_path
from rtmotion.errors import InputError
from rtmotion.io import VideoInfo, VideoReader
from rtmotion.pose.extract import extract_to_file
from rtmotion.pose.posefile import PoseSequence
from rtmotion.progress import progress
from rtmotion.subject.crop import CropBox
from rtmotion.subject.follow import FollowCrop

log = logging.getLogger(__name__)

CACHE_VERSION = 1


@dataclass
class CachedData:
    """A built (or reused) cache.

    Attributes:
        frames: uint8 (T, H, W, 3) memory map of the cropped frames.
        poses: float32 (T, K, 3) keypoints in crop pixels.
        key: the key the cache was built with.
        hit: True when an existing cache was reused.
        folder: the cache folder.
        boxes: int32 (T, 2) each frame's follow-box origin in camera pixels, or None (the
            fixed crop).
    """

    frames: np.ndarray
    poses: np.ndarray
    key: dict[str, Any]
    hit: bool
    folder: Path
    boxes: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.frames.shape[0])


def file_fingerprint(path: str | Path) -> dict[str, Any]:
    """Absolute path, byte size and mtime (ns) of a file: a change in any rebuilds."""
    p = Path(path).resolve()
    st = p.stat()
    return {"path": str(p), "bytes": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def poses_hash(keypoints: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(keypoints, dtype=np.float32).tobytes()).hexdigest()


def read_json_object(path: str | Path) -> dict[str, Any] | None:
    """The JSON object in `path` (a cache's key, written by `write_json_atomic`), or None when
    there is none to trust: the file is missing or unreadable, is not JSON, or holds something
    other than an object. None matches no key, so the caller rebuilds what the file described."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json_atomic(path: str | Path, data: dict[str, Any]) -> None:
    """Write `data` as JSON to `path` through a temporary file (its folder created), so a run
    stopped half-way leaves the old file or none, never a torn one that could match a key.

    Raises:
        OutputError: the folder cannot be written (`rtmotion.atomic.atomic_path`).
    """
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def cache_key(video: str | Path, seq: PoseSequence, crop: CropBox, resolution: tuple[int, int],
              pose_source: str, follow: FollowCrop | None = None) -> dict[str, Any]:
    """The key a cache of these inputs must carry to be reused."""
    key = {
        "cache_version": CACHE_VERSION,
        "video": file_fingerprint(video),
        "crop": crop.to_dict(),
        "resolution": [int(resolution[0]), int(resolution[1])],
        "pose_source": pose_source,
        "poses_sha1": poses_hash(seq.keypoints),
        "num_poses": len(seq),
    }
    if follow is not None:
        key["follow_crop"] = follow.to_dict()
    return key


def follow_boxes(seq: PoseSequence, crop: CropBox, follow: FollowCrop,
                 resolution: tuple[int, int]) -> list[CropBox]:
    """Each frame's follow box, placed from its pose as inference places it: from the pose in
    the fixed crop's model pixels (`rtmotion.pipeline.follow_frame.FollowPlacer`), so a held-out
    frame's box in training, eval and convert is the same box."""
    fixed = crop.keypoints_to_crop(seq.keypoints, resolution)
    return follow.boxes(crop.keypoints_from_crop(fixed, resolution))


def build_cache(
    video: str | Path,
    seq: PoseSequence,
    crop: CropBox,
    resolution: tuple[int, int],
    folder: str | Path,
    pose_source: str = "",
    show_progress: bool = True,
    follow: FollowCrop | None = None,
) -> CachedData:
    """Reuse the cache in `folder` if its key matches these inputs, else (re)build it.

    Args:
        video: the target video.
        seq: its poses in source pixels (one per video frame, from frame 0).
        crop: the fixed crop box (`compute_crop_box`).
        resolution: (W, H) of the model.
        folder: the cache folder (created).
        pose_source: a description of where the poses came from (part of the key).
        follow: a follow crop: each frame cropped with its own box (`follow_boxes`), None: the
            fixed crop.

    Returns:
        CachedData; T = min(video frames, poses) (a mismatch is logged).

    Raises:
        InputError: the video cannot be decoded (from rtmotion.io).
        OutputError: the folder cannot be written.
    """
    folder = Path(folder)
    key = cache_key(video, seq, crop, resolution, pose_source, follow)
    key_path = folder / "key.json"
    frames_path, poses_path = folder / "frames.npy", folder / "poses.npy"
    boxes_path = folder / "boxes.npy"
    old = read_json_object(key_path) if key_path.is_file() else None
    if old is not None and {k: v for k, v in old.items() if k != "num_frames"} == key \
            and frames_path.is_file() and poses_path.is_file() \
            and (follow is None or boxes_path.is_file()):
        try:
            frames = np.load(frames_path, mmap_mode="r")
            poses = np.load(poses_path)
            boxes = np.load(boxes_path) if follow is not None else None
            if frames.shape[0] == poses.shape[0] == old.get("num_frames"):
                log.info("dataset cache hit: %s (%d frames)", folder, frames.shape[0])
                return CachedData(frames, poses, old, True, folder, boxes)
        except (OSError, ValueError) as e:
            log.warning("dataset cache %s unreadable (%s); rebuilding", folder, e)
    if old is not None:
        log.info("dataset cache %s is stale (inputs changed); rebuilding", folder)
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        key_path.unlink()  # no valid key while the data files are being rewritten

    info = VideoInfo.from_path(video)
    if tuple(info.size) != tuple(seq.size):
        raise InputError(video, f"is {info.width}x{info.height} but the poses were made for "
                         f"{seq.size[0]}x{seq.size[1]} frames", "give the pose file of this video")
    n = len(seq)
    w, h = int(resolution[0]), int(resolution[1])
    boxes = follow_boxes(seq, crop, follow, (w, h)) if follow is not None else [crop] * n
    count = 0
    with atomic_path(frames_path, suffix=".npy") as tmp:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, h, w, 3))
        bar = progress(total=n, desc="caching frames") if show_progress else None
        try:
            with VideoReader(video, end=n) as reader:
                for frame in reader:
                    mm[frame.index] = boxes[frame.index].crop_image(frame.image, (w, h))
                    count = frame.index + 1
                    if bar is not None:
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        mm.flush()
        del mm
        if count < n:
            # Shrink to the frames the video really has (rewrite the header's shape).
            log.warning("%s: %d poses but only %d decodable frames; using %d", video, n, count, count)
            full = np.load(tmp, mmap_mode="r")
            part = np.array(full[:count])
            del full
            np.save(tmp, part)
    if count == 0:
        raise InputError(video, "no frame could be decoded")
    poses = np.stack([box.keypoints_to_crop(kp, (w, h))
                      for box, kp in zip(boxes[:count], seq.keypoints[:count])]) \
        if follow is not None else crop.keypoints_to_crop(seq.keypoints[:count], (w, h))
    with atomic_path(poses_path, suffix=".npy") as tmp:
        np.save(tmp, poses)
    origins = None
    if follow is not None:
        origins = np.array([[b.x0, b.y0] for b in boxes[:count]], dtype=np.int32)
        with atomic_path(boxes_path, suffix=".npy") as tmp:
            np.save(tmp, origins)
    key = dict(key, num_frames=count)
    write_json_atomic(key_path, key)
    frames = np.load(frames_path, mmap_mode="r")
    log.info("dataset cache built: %s (%d frames at %dx%d)", folder, count, w, h)
    return CachedData(frames, poses, key, False, folder, origins)


def extract_poses_cached(video: str | Path, folder: str | Path, show_progress: bool = True,
                         person: str | int = "auto") -> PoseSequence:
    """MediaPipe poses of `video`, extracted once and cached in `folder` (extracted.npz).

    `person` chooses whom they follow when the video shows several people (`--person`; part of
    the cache key).

    Runs `rtmotion.pose.extract.extract_to_file` (the `rtmotion extract` path: MediaPipe, then
    the temporal filter), so training sees exactly the poses `rtmotion extract` would write.
    MediaPipe is imported only here (the GPU training image has none: give --poses there).
    """
    folder = Path(folder)
    npz, key_path = folder / "extracted.npz", folder / "extracted.json"
    key = {"cache_version": CACHE_VERSION, "video": file_fingerprint(video), "extractor": "mediapipe"}
    if person != "auto":  # (the key of a cache made before --person existed stays valid)
        key["person"] = person
    if npz.is_file() and read_json_object(key_path) == key:
        try:
            seq = PoseSequence.load(npz)
            log.info("pose extraction cache hit: %s", npz)
            return seq
        except InputError as e:
            log.warning("cached poses %s unreadable (%s); extracting again", npz, e)
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        key_path.unlink()

    log.info("extracting poses of %s with MediaPipe (cached in %s)", video, npz)
    seq, _ = extract_to_file(video, npz, show_progress=show_progress, person=person)
    write_json_atomic(key_path, key)
    return seq
