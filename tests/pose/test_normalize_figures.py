"""Synthetic stick figures with known geometry for the normalization tests (helpers, no tests).

A figure is BODY25 keypoints in *body units*: x right, y down, the ankles at y = 0, the eyes
(top of the height reference) at y = -0.95, so body height = 0.95 units. `place` puts it in
a frame at a chosen ankle position and pixel height, so every test knows the right answer.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from rtmotion.pose.posefile import PoseSequence
from rtmotion.pose.skeleton import BODY25

# Standing figure, body units.
BASE: dict[str, tuple[float, float]] = {
    "nose": (0.0, -0.93), "neck": (0.0, -0.82),
    "r_shoulder": (-0.12, -0.82), "r_elbow": (-0.15, -0.65), "r_wrist": (-0.16, -0.50),
    "l_shoulder": (0.12, -0.82), "l_elbow": (0.15, -0.65), "l_wrist": (0.16, -0.50),
    "mid_hip": (0.0, -0.50), "r_hip": (-0.06, -0.50), "r_knee": (-0.07, -0.26), "r_ankle": (-0.07, 0.0),
    "l_hip": (0.06, -0.50), "l_knee": (0.07, -0.26), "l_ankle": (0.07, 0.0),
    "r_eye": (-0.02, -0.95), "l_eye": (0.02, -0.95), "r_ear": (-0.05, -0.94), "l_ear": (0.05, -0.94),
    "l_big_toe": (0.11, 0.015), "l_small_toe": (0.13, 0.012), "l_heel": (0.06, 0.02),
    "r_big_toe": (-0.11, 0.015), "r_small_toe": (-0.13, 0.012), "r_heel": (-0.06, 0.02),
}
UNIT_HEIGHT = 0.95


def base_pose(joints: tuple[str, ...] = BODY25.joints) -> np.ndarray:
    """float64 (K, 2) standing figure in body units, in the order of `joints`."""
    return np.array([BASE[j] for j in joints], dtype=np.float64)


def dance(n: int, joints: tuple[str, ...] = BODY25.joints, seed: int = 0) -> np.ndarray:
    """float64 (n, K, 2): the figure waving its arms (wrists/elbows move), body units."""
    rng = np.random.default_rng(seed)
    out = np.repeat(base_pose(joints)[None], n, axis=0)
    phase = np.linspace(0, 4 * np.pi, n) + rng.uniform(0, 1)
    for side, sgn in (("r", -1.0), ("l", 1.0)):
        for j, amp in ((f"{side}_elbow", 0.08), (f"{side}_wrist", 0.2)):
            if j in joints:
                k = joints.index(j)
                out[:, k, 0] += sgn * amp * 0.5 * (1 - np.cos(phase))
                out[:, k, 1] -= amp * np.sin(phase) ** 2
    return out


def place(units: np.ndarray, ankle: np.ndarray, x: np.ndarray, height: np.ndarray) -> np.ndarray:
    """Pixels float32 (T, K, 3) (confidence 1) of figures `units` (T, K, 2) with the ankle line at
    y = `ankle` (T,), centred on x (T,), `height` (T,) pixels tall."""
    s = np.asarray(height, dtype=np.float64)[:, None] / UNIT_HEIGHT
    kp = np.ones(units.shape[:2] + (3,), dtype=np.float32)
    kp[..., 0] = units[..., 0] * s + np.asarray(x, dtype=np.float64)[:, None]
    kp[..., 1] = units[..., 1] * s + np.asarray(ankle, dtype=np.float64)[:, None]
    return kp


def sequence(kp: np.ndarray, size: tuple[int, int] = (640, 480), joints: tuple[str, ...] = BODY25.joints,
             skeleton: str = "body25", fps: int = 30) -> PoseSequence:
    t = len(kp)
    return PoseSequence(kp, skeleton, Fraction(fps), size, np.arange(t) / fps, source="synthetic",
                        extractor="test", joint_names=joints)


def walking(n: int = 200, near: float = 450.0, far: float = 300.0, horizon: float = 150.0,
            k: float = 1.0, x0: float = 320.0, seed: int = 0, joints: tuple[str, ...] = BODY25.joints,
            size: tuple[int, int] = (640, 480)) -> PoseSequence:
    """A dancer walking from far (ankle y `far`) to near (`near`) under a pinhole camera over flat
    ground: height = k * (ankle - horizon). x drifts a little."""
    ankle = np.linspace(far, near, n)
    height = k * (ankle - horizon)
    x = x0 + 20 * np.sin(np.linspace(0, 3, n))
    return sequence(place(dance(n, joints, seed), ankle, x, height), size, joints)


def affine(seq: PoseSequence, s: float, dx: float, dy: float,
           size: tuple[int, int] | None = None) -> PoseSequence:
    """`seq` scaled by `s` and shifted by (dx, dy); missing joints stay missing."""
    kp = seq.keypoints.copy()
    kp[..., 0] = kp[..., 0] * s + dx
    kp[..., 1] = kp[..., 1] * s + dy
    kp[~(seq.keypoints[..., 2] > 0)] = 0
    return seq.with_keypoints(kp, size=size or seq.size)


def heights(kp: np.ndarray, joints: tuple[str, ...] = BODY25.joints) -> np.ndarray:
    """float64 (T,) eye-to-ankle height of each frame (the figures' eyes are the top)."""
    eye = kp[:, joints.index("l_eye"), 1]
    ank = np.maximum(kp[:, joints.index("l_ankle"), 1], kp[:, joints.index("r_ankle"), 1])
    return (ank - eye).astype(np.float64)
