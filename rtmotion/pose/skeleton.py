"""The canonical skeleton and the adapters' joint maps.

rtmotion's canonical skeleton is OpenPose BODY_25's joint order (EDN's input), named "body25".
Joint positions follow MediaPipe BlazePose's definitions (the default estimator): e.g. `r_hip` is
BlazePose's hip landmark, `neck` the midpoint of the shoulders, `mid_hip` the midpoint of the hips,
the big toe is BlazePose's foot index. The synthetic dancer places its ground truth the same way,
so estimated and true poses compare directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BODY25_JOINTS: tuple[str, ...] = (
    "nose",        # 0
    "neck",        # 1
    "r_shoulder",  # 2
    "r_elbow",     # 3
    "r_wrist",     # 4
    "l_shoulder",  # 5
    "l_elbow",     # 6
    "l_wrist",     # 7
    "mid_hip",     # 8
    "r_hip",       # 9
    "r_knee",      # 10
    "r_ankle",     # 11
    "l_hip",       # 12
    "l_knee",      # 13
    "l_ankle",     # 14
    "r_eye",       # 15
    "l_eye",       # 16
    "r_ear",       # 17
    "l_ear",       # 18
    "l_big_toe",   # 19
    "l_small_toe", # 20
    "l_heel",      # 21
    "r_big_toe",   # 22
    "r_small_toe", # 23
    "r_heel",      # 24
)

# Bones (limbs) as (parent, child) joint-name pairs, drawn in this order. Trunk first.
BODY25_BONES: tuple[tuple[str, str], ...] = (
    ("neck", "mid_hip"),
    ("neck", "r_shoulder"),
    ("r_shoulder", "r_elbow"),
    ("r_elbow", "r_wrist"),
    ("neck", "l_shoulder"),
    ("l_shoulder", "l_elbow"),
    ("l_elbow", "l_wrist"),
    ("mid_hip", "r_hip"),
    ("r_hip", "r_knee"),
    ("r_knee", "r_ankle"),
    ("mid_hip", "l_hip"),
    ("l_hip", "l_knee"),
    ("l_knee", "l_ankle"),
    ("neck", "nose"),
    ("nose", "r_eye"),
    ("r_eye", "r_ear"),
    ("nose", "l_eye"),
    ("l_eye", "l_ear"),
    ("l_ankle", "l_big_toe"),
    ("l_big_toe", "l_small_toe"),
    ("l_ankle", "l_heel"),
    ("r_ankle", "r_big_toe"),
    ("r_big_toe", "r_small_toe"),
    ("r_ankle", "r_heel"),
)


@dataclass(frozen=True)
class Skeleton:
    """A named joint order plus its bones.

    Attributes:
        name: registry key, stored in pose files.
        joints: joint names, index = keypoint row.
        bones: (parent, child) index pairs into `joints`.
    """

    name: str
    joints: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        """Row of `joint` in a keypoint array; KeyError names the skeleton if absent."""
        try:
            return self.joints.index(joint)
        except ValueError:
            raise KeyError(f"skeleton '{self.name}' has no joint '{joint}'") from None

    def has(self, joint: str) -> bool:
        return joint in self.joints


def _make(name: str, joints: tuple[str, ...], bones: tuple[tuple[str, str], ...]) -> Skeleton:
    return Skeleton(name, joints, tuple((joints.index(a), joints.index(b)) for a, b in bones))


BODY25 = _make("body25", BODY25_JOINTS, BODY25_BONES)

SKELETONS: dict[str, Skeleton] = {BODY25.name: BODY25}


def get_skeleton(name: str) -> Skeleton:
    """Skeleton by name; KeyError lists the known names."""
    try:
        return SKELETONS[name]
    except KeyError:
        raise KeyError(f"unknown skeleton '{name}' (known: {', '.join(SKELETONS)})") from None


# ---- adapters' joint maps: canonical joint -> source index (or pair averaged) -------------

# MediaPipe BlazePose 33 landmarks. A tuple of two indices means "midpoint of both"
# (confidence = the smaller of the two). BlazePose has one toe point (foot index); it serves
# as the big toe, and the small toe is left missing (confidence 0).
MEDIAPIPE33_TO_BODY25: dict[str, int | tuple[int, int] | None] = {
    "nose": 0,
    "neck": (11, 12),
    "r_shoulder": 12,
    "r_elbow": 14,
    "r_wrist": 16,
    "l_shoulder": 11,
    "l_elbow": 13,
    "l_wrist": 15,
    "mid_hip": (23, 24),
    "r_hip": 24,
    "r_knee": 26,
    "r_ankle": 28,
    "l_hip": 23,
    "l_knee": 25,
    "l_ankle": 27,
    "r_eye": 5,
    "l_eye": 2,
    "r_ear": 8,
    "l_ear": 7,
    "l_big_toe": 31,
    "l_small_toe": None,
    "l_heel": 29,
    "r_big_toe": 32,
    "r_small_toe": None,
    "r_heel": 30,
}

# OpenPose COCO-18 order (`--model_pose COCO`): nose, neck, RShoulder, RElbow, RWrist, LShoulder,
# LElbow, LWrist, RHip, RKnee, RAnkle, LHip, LKnee, LAnkle, REye, LEye, REar, LEar.
COCO18_TO_BODY25: dict[str, int | tuple[int, int] | None] = {
    "nose": 0, "neck": 1, "r_shoulder": 2, "r_elbow": 3, "r_wrist": 4, "l_shoulder": 5,
    "l_elbow": 6, "l_wrist": 7, "mid_hip": (8, 11), "r_hip": 8, "r_knee": 9, "r_ankle": 10,
    "l_hip": 11, "l_knee": 12, "l_ankle": 13, "r_eye": 14, "l_eye": 15, "r_ear": 16,
    "l_ear": 17, "l_big_toe": None, "l_small_toe": None, "l_heel": None, "r_big_toe": None,
    "r_small_toe": None, "r_heel": None,
}

# OpenPose BODY_25 is the canonical order itself.
OPENPOSE_BODY25_TO_BODY25: dict[str, int | tuple[int, int] | None] = {
    name: i for i, name in enumerate(BODY25_JOINTS)
}


def remap_keypoints(
    src: np.ndarray, joint_map: dict[str, int | tuple[int, int] | None], target: Skeleton = BODY25
) -> np.ndarray:
    """Reorder keypoints from another skeleton into `target`'s order.

    Args:
        src: float (..., K_src, 3) x, y, confidence.
        joint_map: target joint name -> source index, a pair of indices (midpoint, min
            confidence; missing if either is missing), or None (always missing).
    Returns:
        float32 (..., K_target, 3); missing joints are (0, 0, 0).
    """
    src = np.asarray(src, dtype=np.float32)
    out = np.zeros(src.shape[:-2] + (target.num_joints, 3), dtype=np.float32)
    for j, name in enumerate(target.joints):
        m = joint_map.get(name)
        if m is None:
            continue
        if isinstance(m, tuple):
            a, b = src[..., m[0], :], src[..., m[1], :]
            conf = np.minimum(a[..., 2], b[..., 2])
            out[..., j, :2] = (a[..., :2] + b[..., :2]) / 2
            out[..., j, 2] = conf
        else:
            out[..., j, :] = src[..., m, :]
    # Missing joints carry zeros, never stale coordinates or NaN.
    missing = ~(out[..., 2] > 0)
    out[missing] = 0.0
    return out
