"""Training clips from the cache: consecutive frames with their poses.

The generator learns temporal smoothing from pairs (EDN): it makes frame t-1 from its pose
alone, then frame t from pose t and frame t-1 warped to pose t. Longer clips (`clip_ends`,
`TrainConfig.clip_length`) continue the chain, so the generator also sees previous frames that
are themselves blends of warped outputs, as in a long inference rollout. A pair is used only
when both frames show a person (`usable_frames`), and only from the training part of the video:
`val_fraction` of the frames in the middle of the video (one contiguous block, so `rtmotion
eval` can play it as a video) is held out, with a guard band on either side that nothing trains
on (`rtmotion.subject.split`: `heldout_block`, `training_mask`).

Items are uint8 images and float keypoints (small to move across processes); the trainer
converts them on the device and renders the pose maps there (`pose_maps_torch`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from rtmotion.errors import InputError
from rtmotion.subject.crop import CropBox, usable_frames
from rtmotion.subject.follow import origins_model
from rtmotion.subject.split import guard_frames, heldout_block, training_mask


@dataclass(frozen=True)
class Split:
    """Which frames train and which are held out.

    Attributes:
        pairs: int64 (N,) indices t of the training pairs (t-1, t).
        val_range: (start, end) frame indices of the held-out block, end exclusive ((0, 0): none).
        num_frames: frames in the cache.
        usable: frames with a person.
        train: bool (num_frames,) frames training may use (`training_mask`: usable, outside the
            held-out block and its guard bands).
    """

    pairs: np.ndarray
    val_range: tuple[int, int]
    num_frames: int
    usable: int
    train: np.ndarray


def make_split(
    poses: np.ndarray,
    val_fraction: float = 0.1,
    min_pose_frames: int = 50,
    min_joints: int = 8,
    video: str | Path | None = None,
    fps: float = 25.0,
) -> Split:
    """Training pairs and the held-out block of a pose track (T, K, 3) at `fps` frames a second
    (the guard bands' length, `guard_frames`).

    Raises:
        InputError (naming `video`): fewer than `min_pose_frames` usable frames, or no training
            pair left after holding out the validation block.
    """
    t = int(poses.shape[0])
    ok = usable_frames(poses, min_joints)
    n_ok = int(ok.sum())
    hint = ("film the whole person, well lit, for at least a few minutes; "
            "or lower --min-pose-frames")
    if n_ok < min_pose_frames:
        raise InputError(video, f"only {n_ok} of {t} frames have a usable pose (at least "
                         f"{min_joints} joints visible); training needs at least {min_pose_frames}",
                         hint)
    block = heldout_block(t, val_fraction)
    train = training_mask(ok, block, guard_frames(fps))
    idx = np.arange(1, t)
    pairs = idx[train[idx] & train[idx - 1]].astype(np.int64)
    if len(pairs) == 0:
        raise InputError(video, f"no two consecutive frames with a usable pose outside the "
                         f"held-out frames {block[0]}..{block[1] - 1} of {t}", hint)
    return Split(pairs, block, t, n_ok, train)


def clip_ends(pairs: np.ndarray, length: int) -> np.ndarray:
    """Last frames t of the training clips (t - length + 1 .. t) made only of training pairs.

    A clip of `length` consecutive frames is usable when each of its `length - 1` consecutive
    pairs is (both frames show a person, none is held out); length 2 gives `pairs` back.

    Args:
        pairs: int64 (N,) indices t of the usable pairs (t-1, t) (`Split.pairs`).
        length: frames per clip, >= 2.
    Returns:
        int64 (M,) sorted clip ends.
    """
    if length < 2:
        raise ValueError(f"clip length must be at least 2, got {length}")
    pairs = np.asarray(pairs, dtype=np.int64)
    ok = np.ones(len(pairs), bool)
    have = set(pairs.tolist())
    for back in range(1, length - 1):
        ok &= np.fromiter(((t - back) in have for t in pairs), bool, len(pairs))
    return np.sort(pairs[ok])


class ClipDataset(Dataset):
    """Clips of consecutive frames from cached arrays (EDN trains on pairs: length 2).

    Args:
        frames: uint8 (T, H, W, 3), or the path of a .npy file holding it: each process (and
            DataLoader worker) then opens its own read-only memory map on first use, so nothing
            is copied when workers start, whatever the multiprocessing start method.
        poses: float32 (T, K, 3) in crop pixels.
        ends: indices t of the clips' last frames (`clip_ends`).
        length: frames per clip.
        max_gap: gaps between the clip's frames are drawn from 1..max_gap (torch's RNG, so
            seeded per worker); when a gapped clip would touch a frame outside `valid`, the
            consecutive clip is used instead (it always exists: `clip_ends`).
        valid: bool (T,) frames a gapped clip may use (training frames with a person); needed
            when max_gap > 1.
        follow: a follow crop's frames: (box size (W, H) in camera pixels, int32 (T, 2) each
            frame's box origin in camera pixels, uint8 (H_cam, W_cam, 3) the scene plate), or
            None (the fixed crop).

    Item: dict with
        frames: uint8 tensor L x 3 x H x W (RGB), the clip's frames in order, the last one t;
        keypoints: float32 tensor L x K x 3 (x, y in crop pixels, confidence);
        indices: int64 tensor L, the frames' indices in the video;
        index: int64 t;
        with `follow`: origins: float32 tensor L x 2, the boxes' origins in model pixels;
        plates: uint8 tensor L x 3 x H x W, the room behind each box (the generator's `plate`).
    """

    def __init__(self, frames: np.ndarray | str | Path, poses: np.ndarray, ends: np.ndarray,
                 length: int = 2, max_gap: int = 1, valid: np.ndarray | None = None,
                 follow: tuple[tuple[int, int], np.ndarray, np.ndarray] | None = None) -> None:
        self._frames_path = None if isinstance(frames, np.ndarray) else str(frames)
        self._frames = frames if isinstance(frames, np.ndarray) else None
        self.poses = np.ascontiguousarray(poses, dtype=np.float32)
        self.ends = np.asarray(ends, dtype=np.int64)
        self.length = int(length)
        self.max_gap = int(max_gap)
        self.valid = None if valid is None else np.asarray(valid, dtype=bool)
        self.follow = follow
        if self.max_gap > 1 and self.valid is None:
            raise ValueError("gapped clips (max_gap > 1) need the valid frames")
        if len(self.ends) and int(self.ends.min()) < self.length - 1:
            raise ValueError(f"clip end {int(self.ends.min())} is too early for clips of {length}")

    @property
    def frames(self) -> np.ndarray:
        if self._frames is None:
            self._frames = np.load(self._frames_path, mmap_mode="r")
        return self._frames

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if self._frames_path is not None:
            state["_frames"] = None  # reopened lazily in the worker
        return state

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        t = int(self.ends[i])
        idx = self.clip_indices(t)
        if self.max_gap == 1:
            clip = np.asarray(self.frames[idx[0]:t + 1])  # L x H x W x 3 uint8, one read
        else:
            clip = np.stack([np.asarray(self.frames[j]) for j in idx])
        item = {
            "frames": torch.from_numpy(np.ascontiguousarray(clip.transpose(0, 3, 1, 2))),
            "keypoints": torch.from_numpy(self.poses[idx]),
            "indices": torch.from_numpy(idx),
            "index": torch.tensor(t, dtype=torch.int64),
        }
        if self.follow is not None:
            item.update(follow_inputs(self.follow, idx, clip.shape[1:3]))
        return item

    def clip_indices(self, t: int) -> np.ndarray:
        """int64 (L,) the frames of the clip ending at t, oldest first (gaps drawn here)."""
        consecutive = np.arange(t - self.length + 1, t + 1, dtype=np.int64)
        if self.max_gap == 1:
            return consecutive
        assert self.valid is not None
        gaps = torch.randint(1, self.max_gap + 1, (self.length - 1,)).numpy()
        idx = t - np.concatenate([np.cumsum(gaps[::-1])[::-1], [0]]).astype(np.int64)
        if idx[0] < 0 or not self.valid[idx].all():
            return consecutive
        return idx


def follow_inputs(follow: tuple[tuple[int, int], np.ndarray, np.ndarray], idx: np.ndarray,
                  model_hw: tuple[int, int]) -> dict[str, torch.Tensor]:
    """The follow crop's extra inputs of frames `idx`: {"origins": float32 L x 2 model pixels,
    "plates": uint8 L x 3 x H x W} (see `ClipDataset`)."""
    (bw, bh), boxes, scene = follow
    h, w = int(model_hw[0]), int(model_hw[1])
    frame_size = (scene.shape[1], scene.shape[0])
    crops = [CropBox(int(x), int(y), int(x) + bw, int(y) + bh, frame_size) for x, y in boxes[idx]]
    origins = origins_model(boxes[idx], (bw, bh), (w, h))
    plates = np.stack([c.crop_image(scene, (w, h)) for c in crops])      # L x H x W x 3
    return {"origins": torch.from_numpy(origins),
            "plates": torch.from_numpy(np.ascontiguousarray(plates.transpose(0, 3, 1, 2)))}


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 B x 3 x H x W -> float32 in [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float B x 3 x H x W in [-1, 1] -> uint8 B x H x W x 3 (numpy, CPU)."""
    x = ((images.detach().float().clamp(-1, 1) + 1.0) * 127.5).round_().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()
