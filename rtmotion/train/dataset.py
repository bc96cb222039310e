"""Training pairs from the cache: consecutive frames (t-1, t) with their poses.

The generator learns temporal smoothing from pairs (EDN): it makes frame t-1 from its pose
alone, then frame t from pose t and frame t-1 warped to pose t. A pair is used only when both
frames show a person (`usable_frames`), and only from the training part of the video: the last
`val_fraction` of the frames (one contiguous block, so `rtmotion eval` can play it as a video)
is held out, and no pair straddles the boundary.

Items are uint8 images and float keypoints (small to move across processes); the trainer
converts them on the device and renders the pose maps there (`render_pose_maps_torch`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from rtmotion.errors import InputError
from rtmotion.train.crop import usable_frames


@dataclass(frozen=True)
class Split:
    """Which frames train and which are held out.

    Attributes:
        pairs: int64 (N,) indices t of the training pairs (t-1, t).
        val_range: (start, end) frame indices of the held-out block, end exclusive.
        num_frames: frames in the cache.
        usable: frames with a person.
    """

    pairs: np.ndarray
    val_range: tuple[int, int]
    num_frames: int
    usable: int


def make_split(
    poses: np.ndarray,
    val_fraction: float = 0.1,
    min_pose_frames: int = 50,
    min_joints: int = 8,
    video: str | Path | None = None,
) -> Split:
    """Training pairs and the validation block of a pose track (T, K, 3).

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
    val_start = t - int(round(t * val_fraction)) if val_fraction > 0 else t
    idx = np.arange(1, val_start)
    pairs = idx[ok[idx] & ok[idx - 1]].astype(np.int64)
    if len(pairs) == 0:
        raise InputError(video, f"no two consecutive frames with a usable pose in the training "
                         f"part (frames 0..{val_start - 1} of {t})", hint)
    return Split(pairs, (val_start, t), t, n_ok)


class PairDataset(Dataset):
    """Consecutive frame pairs from cached arrays.

    Args:
        frames: uint8 (T, H, W, 3), or the path of a .npy file holding it: each process (and
            DataLoader worker) then opens its own read-only memory map on first use, so nothing
            is copied when workers start, whatever the multiprocessing start method.
        poses: float32 (T, K, 3) in crop pixels.
        pairs: indices t of the pairs (t-1, t).

    Item: dict with
        prev, cur: uint8 tensors 3 x H x W (RGB);
        kp_prev, kp_cur: float32 tensors K x 3 (x, y in crop pixels, confidence);
        index: int64 t.
    """

    def __init__(self, frames: np.ndarray | str | Path, poses: np.ndarray, pairs: np.ndarray) -> None:
        self._frames_path = None if isinstance(frames, np.ndarray) else str(frames)
        self._frames = frames if isinstance(frames, np.ndarray) else None
        self.poses = np.ascontiguousarray(poses, dtype=np.float32)
        self.pairs = np.asarray(pairs, dtype=np.int64)

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
        return len(self.pairs)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        t = int(self.pairs[i])
        pair = np.asarray(self.frames[t - 1:t + 1])  # 2 x H x W x 3 uint8, one read
        img = torch.from_numpy(np.ascontiguousarray(pair.transpose(0, 3, 1, 2)))  # 2 x 3 x H x W
        return {
            "prev": img[0],
            "cur": img[1],
            "kp_prev": torch.from_numpy(self.poses[t - 1]),
            "kp_cur": torch.from_numpy(self.poses[t]),
            "index": torch.tensor(t, dtype=torch.int64),
        }


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 B x 3 x H x W -> float32 in [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float B x 3 x H x W in [-1, 1] -> uint8 B x H x W x 3 (numpy, CPU)."""
    x = ((images.detach().float().clamp(-1, 1) + 1.0) * 127.5).round_().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()
