"""The subject's appearance reference: a few keyframes of the target, chosen for pose coverage.

The generator is given real pixels of the target instead of having to memorize them (GEO,
Deformable GANs, Liquid Warping GAN): per frame, the keyframe nearest in pose is looked up here
and warped to the current pose by the analytic pose flow (`rtmotion.kernels.warp_torch`), and
both the warped and the unwarped keyframe reach the generator as extra inputs.

Choosing them: farthest-point sampling on a pose descriptor (joints relative to the mid-hip,
divided by the body height, so the same articulation anywhere in the frame is "near"), over the
training frames only (never the held-out block nor its guard bands, so evaluation stays honest).
Measured on demo-ada's held-out frames (DESIGN.md): the nearest of 32 keyframes warped already
scores body SSIM 0.96; with 8 only 0.85 (bent arms become stretched fans).

Looking up: `KeyframeSet.nearest(kp)` compares the descriptor of the current pose with every
keyframe's (a few dozen, numpy, microseconds). A small term for the absolute position of the
mid-hip prefers, among equally good articulations, the keyframe standing where the person
stands, which is what the unwarped candidate needs.

On disk (`keyframes.npz` in the bundle): images uint8 (N, H, W, 3) RGB at the subject's
resolution, keypoints float32 (N, K, 3) in the same pixels, frames int64 (N,) their indices in
the training video, and for a follow-crop subject origins float32 (N, 2): each keyframe's box
origin in model pixels (`rtmotion.subject.follow`), so its warp is shifted like the previous
output's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rtmotion.atomic import atomic_path
from rtmotion.errors import CheckpointError
from rtmotion.pose.skeleton import BODY25, Skeleton

KEYFRAMES_FILE = "keyframes.npz"

#: Weight of the mid-hip's absolute position (in body heights) against the articulation.
POSITION_WEIGHT = 0.25
#: A joint visible in one pose but not the other counts as this far off (body heights).
MISSING_JOINT_COST = 0.5


class PoseDescriptors(NamedTuple):
    """`pose_descriptors` of one or more poses (leading dimensions as the keypoints')."""

    rel: np.ndarray
    pos: np.ndarray
    vis: np.ndarray


def pose_descriptors(keypoints: np.ndarray, skeleton: Skeleton = BODY25,
                     min_conf: float = 0.0) -> PoseDescriptors:
    """Scale-free pose descriptors.

    Args:
        keypoints: float (..., K, 3) x, y in pixels, confidence.
    Returns:
        rel: float64 (..., K, 2) joints relative to the mid-hip (or the joints' centroid when
            the mid-hip is missing), divided by the body height (the visible joints' y extent);
        pos: float64 (..., 2) the mid-hip (or centroid) divided by the body height;
        vis: bool (..., K) which joints are visible.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    vis = kp[..., 2] > min_conf
    xy = kp[..., :2]
    n = np.maximum(vis.sum(-1, keepdims=True), 1)                       # (..., 1)
    centroid = (xy * vis[..., None]).sum(-2) / n                         # (..., 2)
    hip = skeleton.index("mid_hip")
    has_hip = vis[..., hip:hip + 1]
    root = np.where(has_hip, xy[..., hip, :], centroid)                  # (..., 2)
    ys = np.where(vis, xy[..., 1], np.nan)
    with np.errstate(all="ignore"):
        height = np.nanmax(ys, -1) - np.nanmin(ys, -1) if ys.size else np.zeros(ys.shape[:-1])
    height = np.where(np.isfinite(height) & (height > 1.0), height, 1.0)[..., None]  # (..., 1)
    rel = (xy - root[..., None, :]) / height[..., None]
    return PoseDescriptors(np.where(vis[..., None], rel, 0.0), root / height, vis)


def pose_distances(kp: np.ndarray, keyframe_kps: np.ndarray, skeleton: Skeleton = BODY25
                   ) -> np.ndarray:
    """Distance of one pose (K, 3) to each of N poses (N, K, 3): float64 (N,), in body heights
    (`descriptor_distances` of their `pose_descriptors`)."""
    return descriptor_distances(pose_descriptors(kp, skeleton), pose_descriptors(keyframe_kps, skeleton))


def descriptor_distances(a: PoseDescriptors, b: PoseDescriptors) -> np.ndarray:
    """Distance of one pose's descriptors (rel (K, 2)...) to each of N poses' (rel (N, K, 2)...):
    float64 (N,), in body heights.

    The root-mean-square joint offset over the joints visible in both (a joint visible in only
    one counts as MISSING_JOINT_COST), plus POSITION_WEIGHT x the mid-hip's offset."""
    rel_a, pos_a, vis_a = a
    rel_b, pos_b, vis_b = b
    both = vis_a[None] & vis_b                                           # (N, K)
    one = vis_a[None] ^ vis_b
    d2 = ((rel_b - rel_a[None]) ** 2).sum(-1)                            # (N, K)
    total = (d2 * both).sum(-1) + one.sum(-1) * MISSING_JOINT_COST ** 2
    count = np.maximum((both | one).sum(-1), 1)
    articulation = np.sqrt(total / count)
    return articulation + POSITION_WEIGHT * np.linalg.norm(pos_b - pos_a[None], axis=-1)


def select_keyframes(keypoints: np.ndarray, candidates: np.ndarray, count: int,
                     skeleton: Skeleton = BODY25) -> np.ndarray:
    """Farthest-point sampling of `count` frames for pose coverage.

    Args:
        keypoints: float (T, K, 3) poses of the whole video.
        candidates: int (M,) frame indices allowed (the training frames with a person).
        count: how many to pick (fewer when there are fewer candidates).
    Returns:
        int64 (min(count, M),) chosen frame indices, in the order they were picked. The first
        is the candidate nearest the median pose (deterministic: no random start).
    """
    cand = np.asarray(candidates, dtype=np.int64)
    if len(cand) == 0 or count <= 0:
        return np.zeros(0, np.int64)
    kps = np.asarray(keypoints, dtype=np.float32)[cand]
    # The median pose: each joint's median position, visible where most frames see it.
    median = np.concatenate([np.median(kps[..., :2], 0),
                             (np.mean(kps[..., 2] > 0, 0) > 0.5)[:, None].astype(np.float32)], -1)
    desc = pose_descriptors(kps, skeleton)  # once: each pick compares one pose with all

    def one(i: int) -> PoseDescriptors:
        return PoseDescriptors(*(d[i] for d in desc))

    first = int(np.argmin(descriptor_distances(pose_descriptors(median, skeleton), desc)))
    chosen = [first]
    nearest = descriptor_distances(one(first), desc)
    for _ in range(min(count, len(cand)) - 1):
        nxt = int(np.argmax(nearest))
        if nearest[nxt] <= 0:
            break  # every remaining candidate repeats a chosen pose
        chosen.append(nxt)
        nearest = np.minimum(nearest, descriptor_distances(one(nxt), desc))
    return cand[np.asarray(chosen, dtype=np.int64)]


@dataclass
class KeyframeSet:
    """Keyframes of one subject (see the module docstring).

    Attributes:
        images: uint8 (N, H, W, 3) RGB at the subject's resolution.
        keypoints: float32 (N, K, 3) in the same pixels.
        frames: int64 (N,) indices in the training video (for training's exclusion rule).
        origins: float32 (N, 2) box origins in model pixels (follow crop), or None.
    """

    images: np.ndarray
    keypoints: np.ndarray
    frames: np.ndarray
    origins: np.ndarray | None = None
    #: the keyframes' pose descriptors, computed once (`nearest` runs every frame)
    descriptors: PoseDescriptors = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.images = np.ascontiguousarray(self.images, dtype=np.uint8)
        self.keypoints = np.ascontiguousarray(self.keypoints, dtype=np.float32)
        self.frames = np.asarray(self.frames, dtype=np.int64)
        if self.origins is not None:
            self.origins = np.ascontiguousarray(self.origins, dtype=np.float32).reshape(-1, 2)
        n = len(self.images)
        if self.images.ndim != 4 or self.images.shape[-1] != 3 or len(self.keypoints) != n \
                or len(self.frames) != n or self.keypoints.ndim != 3 \
                or (self.origins is not None and len(self.origins) != n):
            raise ValueError(f"inconsistent keyframes: images {self.images.shape}, keypoints "
                             f"{self.keypoints.shape}, frames {self.frames.shape}")
        self.descriptors = pose_descriptors(self.keypoints)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def size(self) -> tuple[int, int]:
        """(W, H) of the images."""
        return int(self.images.shape[2]), int(self.images.shape[1])

    def distances(self, keypoints: np.ndarray) -> np.ndarray:
        """float64 (N,): the distance in body heights of the pose `keypoints` (K, 3) to each
        keyframe's (`descriptor_distances`; the pose in the keyframes' pixels, so the mid-hip
        position term compares like with like)."""
        return descriptor_distances(pose_descriptors(keypoints), self.descriptors)

    def nearest(self, keypoints: np.ndarray, exclude_near: int | None = None,
                frame: int | None = None) -> int:
        """Index (into this set) of the keyframe nearest in pose to `keypoints` (K, 3).

        exclude_near / frame: training's rule, never a keyframe taken within `exclude_near`
        frames of `frame` (the frame being predicted must not be its own reference); when
        every keyframe is that near, the rule is dropped."""
        d = self.distances(keypoints)
        if exclude_near is not None and frame is not None:
            near = np.abs(self.frames - int(frame)) <= exclude_near
            if not near.all():
                d = np.where(near, np.inf, d)
        return int(np.argmin(d))

    def without_near(self, blocks: list[tuple[int, int]], near: int) -> KeyframeSet | None:
        """The set without the keyframes taken within `near` frames of any frame of `blocks`
        ((start, end) frame ranges, end exclusive): training's exclusion rule (`nearest`) for
        whole blocks of frames, so those frames are drawn without their own pictures. None when
        no keyframe would be left."""
        keep = np.ones(len(self), bool)
        for start, end in blocks:
            keep &= (self.frames < int(start) - near) | (self.frames >= int(end) + near)
        if not keep.any():
            return None
        if keep.all():
            return self
        return KeyframeSet(self.images[keep], self.keypoints[keep], self.frames[keep],
                           None if self.origins is None else self.origins[keep])

    def save(self, path: str | Path) -> Path:
        """Write `keyframes.npz` atomically (compressed)."""
        path = Path(path)
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                extra = {} if self.origins is None else {"origins": self.origins}
                np.savez_compressed(f, images=self.images, keypoints=self.keypoints,
                                    frames=self.frames, **extra)
        return path

    @classmethod
    def load(cls, path: str | Path) -> KeyframeSet:
        """Read a `keyframes.npz`; CheckpointError naming the file when it is unreadable."""
        path = Path(path)
        try:
            with np.load(path) as z:
                return cls(z["images"], z["keypoints"], z["frames"],
                           z["origins"] if "origins" in z.files else None)
        except (OSError, KeyError, ValueError) as e:
            raise CheckpointError(path, f"damaged keyframes file ({e})",
                                  "retrain the subject with `rtmotion train`") from None


def keyframes_from_video(frames: np.ndarray, keypoints: np.ndarray, candidates: np.ndarray,
                         count: int, origins: np.ndarray | None = None) -> KeyframeSet:
    """Pick `count` keyframes among `candidates` of a cached training video.

    frames: uint8 (T, H, W, 3) at the model's resolution (may be a memory map);
    keypoints: float (T, K, 3) in the same pixels; origins: float32 (T, 2) the frames' box
    origins (follow crop) or None."""
    idx = np.sort(select_keyframes(keypoints, candidates, count))
    return KeyframeSet(np.asarray(frames[idx]), np.asarray(keypoints)[idx], idx,
                       None if origins is None else np.asarray(origins)[idx])
