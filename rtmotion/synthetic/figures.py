"""Stand-in BODY25 poses for tests, benchmarks and GPU checks (numpy only, no rendering).

`figure_keypoints` places a standing figure (arms slightly out) in a frame; `jittered` and
`rotate_limb` derive poses with known differences. The synthetic dancer
(`rtmotion.synthetic`) makes real frames; these are for checks that need only keypoints.
"""

from __future__ import annotations

import numpy as np

from rtmotion.pose.skeleton import BODY25

# Joint positions in body heights, origin at mid-hip, y down; the person faces the camera,
# so their right side is on the image's left (negative x).
_FIGURE: dict[str, tuple[float, float]] = {
    "nose": (0.0, -0.42), "neck": (0.0, -0.33),
    "r_shoulder": (-0.09, -0.32), "r_elbow": (-0.13, -0.17), "r_wrist": (-0.15, -0.03),
    "l_shoulder": (0.09, -0.32), "l_elbow": (0.13, -0.17), "l_wrist": (0.15, -0.03),
    "mid_hip": (0.0, 0.0), "r_hip": (-0.05, 0.0), "r_knee": (-0.06, 0.22), "r_ankle": (-0.065, 0.44),
    "l_hip": (0.05, 0.0), "l_knee": (0.06, 0.22), "l_ankle": (0.065, 0.44),
    "r_eye": (-0.02, -0.44), "l_eye": (0.02, -0.44), "r_ear": (-0.045, -0.43), "l_ear": (0.045, -0.43),
    "l_big_toe": (0.09, 0.47), "l_small_toe": (0.11, 0.465), "l_heel": (0.06, 0.46),
    "r_big_toe": (-0.09, 0.47), "r_small_toe": (-0.11, 0.465), "r_heel": (-0.06, 0.46),
}


def figure_keypoints(size: tuple[int, int], height_frac: float = 0.85,
                     center: tuple[float, float] | None = None) -> np.ndarray:
    """A standing figure: float32 (25, 3) BODY25 keypoints in pixels of a (W, H) frame.

    The figure spans about `height_frac` of H, centred at `center` (px; default mid-frame).
    Every joint has confidence 1.
    """
    w, h = size
    cx, cy = center if center is not None else ((w - 1) / 2, (h - 1) / 2 + 0.015 * h)
    scale = height_frac * h / 0.94  # the figure is 0.94 units from head top to toes
    kp = np.ones((BODY25.num_joints, 3), np.float32)
    for j, name in enumerate(BODY25.joints):
        x, y = _FIGURE[name]
        kp[j, 0] = cx + scale * x
        kp[j, 1] = cy + scale * y
    return kp


def jittered(kp: np.ndarray, rng: np.random.Generator, sigma_px: float) -> np.ndarray:
    """kp with gaussian noise of `sigma_px` on the coordinates of present joints."""
    out = np.array(kp, dtype=np.float32, copy=True)
    present = out[:, 2] > 0
    out[present, :2] += rng.normal(0.0, sigma_px, (int(present.sum()), 2)).astype(np.float32)
    return out


def rotate_limb(kp: np.ndarray, joints: tuple[str, ...], pivot: str, degrees: float) -> np.ndarray:
    """kp with `joints` rotated by `degrees` (image coordinates, y down) about joint `pivot`."""
    out = np.array(kp, dtype=np.float32, copy=True)
    p = out[BODY25.index(pivot), :2].astype(np.float64)
    t = np.deg2rad(degrees)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    for name in joints:
        j = BODY25.index(name)
        out[j, :2] = (rot @ (out[j, :2] - p) + p).astype(np.float32)
    return out
