"""Pose -> the generator's conditioning maps (numpy reference, the oracle of every implementation).

Choice: **one channel per bone, each a soft line** (value ``exp(-d^2 / (2 sigma^2))`` where
``d`` is the pixel's distance to the bone's segment), plus optional detail channels. Why not
EDN's coloured stick figure or per-joint heatmaps:

- *identity*: a stick figure drawn in one RGB image conflates overlapping limbs (a forearm
  crossing the torso overwrites it; left and right differ only by a colour shade that blends
  under anti-aliasing). Separate channels keep left/right and each limb unambiguous, which is
  what the generator needs to put the right sleeve on the right arm.
- *orientation*: joint heatmaps say where joints are but not which pairs connect; a bone
  channel carries the limb's extent and direction directly (PG2 feeds heatmaps; OpenPose
  itself needs part affinity fields for the connections).
- *exactness*: the map is a closed-form function of the keypoints (no rasterizer), so the
  numpy reference, the batched torch version and the CuPy kernel agree to float rounding
  (max abs difference < 1e-5, tested) and sub-pixel motion moves the map smoothly.
  cv2.line/circle quantize to pixels and anti-alias differently from any GPU drawing.

Definition (all kernels). Pixel (x, y) has its centre at coordinate (x, y) (the
``align_corners=True`` convention of `rtmotion.kernels`); keypoints are given in these pixel
coordinates of the map (normalization and cropping happen upstream). For a *primitive* (a
segment from ``a`` to ``b``; a point when ``a == b``) with width ``sigma``::

    value(x, y) = exp(-d^2 / (2 sigma^2))   if d <= cutoff * sigma,   else 0
    d = distance from (x, y) to the segment [a, b]

The truncation at ``cutoff`` (5 sigma, value 3.7e-6) makes the maps exactly zero away from the
body (sparse, and the numpy path only computes each primitive's bounding box). A primitive is
drawn only if every joint it uses has confidence > ``min_confidence`` (default 0: a joint with
confidence 0 is never drawn). Channels, in order:

1. ``bones`` (always): one channel per bone of the skeleton, in `BODY25_BONES` order (24).
2. ``face`` (``face=True``, default): nose, eyes and ears as points of width
   ``face_sigma_frac * H`` (smaller than the bones'), combined by maximum in one channel: the
   face's fine layout (head turn, tilt) that the head bones draw only coarsely (EDN adds a face
   model for the same reason).
3. ``hands`` (``hands=False`` by default): BODY_25 has no hand joints, so each hand is
   *estimated* as a segment from the wrist, continuing the forearm by ``hand_length_frac`` of
   its length (needs elbow and wrist), both hands in one channel. It tells the generator where
   the hands are and which way they point; finger detail would need a hand model (MediaPipe
   Hands / OpenPose hand keypoints), left for later.

`PoseMapConfig.num_channels` is 24 + face + hands (25 by default). The batched torch version is
`rtmotion.kernels.maps_torch.pose_maps_torch`, the CUDA one
`rtmotion.kernels.cupy_kernels.pose_maps_cupy`, and `rtmotion.kernels.pose_maps_batch`
picks one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from rtmotion.pose.skeleton import Skeleton, get_skeleton

FACE_JOINTS: tuple[str, ...] = ("nose", "r_eye", "l_eye", "r_ear", "l_ear")
# (elbow, wrist) of each hand, right first.
HAND_ARMS: tuple[tuple[str, str], ...] = (("r_elbow", "r_wrist"), ("l_elbow", "l_wrist"))


@dataclass(frozen=True)
class PoseMapConfig:
    """How poses become conditioning maps.

    Attributes:
        size: (W, H) of the maps in pixels.
        sigma_frac: bone line width (gaussian sigma) as a fraction of H (0.012 -> 3.1 px at 256).
        face: add the face detail channel.
        face_sigma_frac: width of the face points as a fraction of H.
        hands: add the estimated-hands channel (see module docstring).
        hand_length_frac: estimated hand length as a fraction of the forearm length.
        min_confidence: joints with confidence <= this are missing (not drawn).
        cutoff: truncation radius in sigmas (values beyond are exactly 0).
        skeleton: skeleton name of the keypoints' joint order.
    """

    size: tuple[int, int] = (256, 256)
    sigma_frac: float = 0.012
    face: bool = True
    face_sigma_frac: float = 0.006
    hands: bool = False
    hand_length_frac: float = 0.4
    min_confidence: float = 0.0
    cutoff: float = 5.0
    skeleton: str = "body25"

    def __post_init__(self) -> None:
        w, h = (int(v) for v in self.size)
        if w < 1 or h < 1:
            raise ValueError(f"PoseMapConfig.size must be positive (W, H), got {self.size}")
        object.__setattr__(self, "size", (w, h))
        for name in ("sigma_frac", "face_sigma_frac", "cutoff"):
            if not getattr(self, name) > 0:
                raise ValueError(f"PoseMapConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.hand_length_frac < 0:
            raise ValueError(f"PoseMapConfig.hand_length_frac must be >= 0, got {self.hand_length_frac}")
        get_skeleton(self.skeleton)  # KeyError names the known skeletons

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    @property
    def sigma(self) -> float:
        """Bone sigma in pixels."""
        return self.sigma_frac * self.height

    @property
    def face_sigma(self) -> float:
        """Face point sigma in pixels."""
        return self.face_sigma_frac * self.height

    @property
    def skel(self) -> Skeleton:
        return get_skeleton(self.skeleton)

    @property
    def num_channels(self) -> int:
        return len(self.skel.bones) + int(self.face) + int(self.hands)

    @property
    def channel_names(self) -> tuple[str, ...]:
        sk = self.skel
        names = tuple(f"{sk.joints[a]}-{sk.joints[b]}" for a, b in sk.bones)
        return names + (("face",) if self.face else ()) + (("hands",) if self.hands else ())

    @cached_property
    def primitives(self) -> Primitives:
        """The primitive table every implementation draws (see `Primitives`)."""
        return Primitives.build(self)


@dataclass(frozen=True)
class Primitives:
    """The segments drawn into the maps, one row per primitive, sorted by channel.

    A primitive's segment is ``a = kp[j0]``, ``b = kp[j1] + ext * (kp[j1] - kp[j2])``; it is
    drawn only when joints j0, j1 and j2 are all present. Bones: (j0, j1, j2) = (parent, child,
    child), ext 0. Face points: j0 = j1 = j2 = the joint. Hands: (wrist, wrist, elbow),
    ext = hand_length_frac. Several primitives of one channel combine by maximum.

    Attributes (all numpy, length P):
        j0, j1, j2: int64 joint indices.
        ext: float64 extension factor.
        channel: int64 output channel (non-decreasing).
        sigma: float64 width in pixels.
    """

    j0: np.ndarray
    j1: np.ndarray
    j2: np.ndarray
    ext: np.ndarray
    channel: np.ndarray
    sigma: np.ndarray

    @property
    def count(self) -> int:
        return len(self.j0)

    @staticmethod
    def build(cfg: PoseMapConfig) -> Primitives:
        sk = cfg.skel
        rows: list[tuple[int, int, int, float, int, float]] = []
        for c, (a, b) in enumerate(sk.bones):
            rows.append((a, b, b, 0.0, c, cfg.sigma))
        ch = len(sk.bones)
        if cfg.face:
            for name in FACE_JOINTS:
                if sk.has(name):
                    j = sk.index(name)
                    rows.append((j, j, j, 0.0, ch, cfg.face_sigma))
            ch += 1
        if cfg.hands:
            for elbow, wrist in HAND_ARMS:
                if sk.has(elbow) and sk.has(wrist):
                    e, w = sk.index(elbow), sk.index(wrist)
                    rows.append((w, w, e, cfg.hand_length_frac, ch, cfg.sigma))
            ch += 1
        arr = list(zip(*rows))
        return Primitives(
            j0=np.asarray(arr[0], np.int64), j1=np.asarray(arr[1], np.int64),
            j2=np.asarray(arr[2], np.int64), ext=np.asarray(arr[3], np.float64),
            channel=np.asarray(arr[4], np.int64), sigma=np.asarray(arr[5], np.float64),
        )


def check_keypoints(keypoints: np.ndarray, cfg: PoseMapConfig, batched: bool) -> None:
    """ValueError unless keypoints are (K, 3) (or (B, K, 3) when `batched`) for cfg's skeleton."""
    nd = 3 if batched else 2
    shape = tuple(keypoints.shape)
    k = cfg.skel.num_joints
    if len(shape) != nd or shape[-2:] != (k, 3):
        want = "(B, K, 3)" if batched else "(K, 3)"
        raise ValueError(f"keypoints must be {want} with K={k} ({cfg.skeleton}), got {shape}")


def segment_distance2(px: np.ndarray, py: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared distance (float64, px^2) from points (px, py) to the segment [a, b].

    The textbook form: project onto the segment, clamp the parameter to [0, 1], measure.
    A segment shorter than 1e-9 px is the point `a`.
    """
    ax, ay = float(a[0]), float(a[1])
    vx, vy = float(b[0]) - ax, float(b[1]) - ay
    l2 = vx * vx + vy * vy
    dxa, dya = px - ax, py - ay
    if l2 < 1e-18:
        return dxa * dxa + dya * dya
    t = np.clip((dxa * vx + dya * vy) / l2, 0.0, 1.0)
    dx, dy = dxa - t * vx, dya - t * vy
    return dx * dx + dy * dy


def pose_maps_numpy(keypoints: np.ndarray, cfg: PoseMapConfig) -> np.ndarray:
    """Conditioning maps of one pose (the numpy reference).

    Args:
        keypoints: float (K, 3) x, y in pixels of the map, confidence.
        cfg: map configuration.
    Returns:
        float32 (C, H, W) in [0, 1], C = cfg.num_channels.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    check_keypoints(kp, cfg, batched=False)
    w, h = cfg.size
    prim = cfg.primitives
    out = np.zeros((cfg.num_channels, h, w), np.float32)
    present = kp[:, 2] > cfg.min_confidence
    for i in range(prim.count):
        j0, j1, j2 = prim.j0[i], prim.j1[i], prim.j2[i]
        if not (present[j0] and present[j1] and present[j2]):
            continue
        a = kp[j0, :2]
        b = kp[j1, :2] + prim.ext[i] * (kp[j1, :2] - kp[j2, :2])
        sigma = prim.sigma[i]
        r = cfg.cutoff * sigma
        # Only the bounding box (+ cutoff radius) can be non-zero: exact, and fast.
        x0 = max(int(np.floor(min(a[0], b[0]) - r)), 0)
        x1 = min(int(np.ceil(max(a[0], b[0]) + r)), w - 1)
        y0 = max(int(np.floor(min(a[1], b[1]) - r)), 0)
        y1 = min(int(np.ceil(max(a[1], b[1]) + r)), h - 1)
        if x0 > x1 or y0 > y1:
            continue
        px = np.arange(x0, x1 + 1, dtype=np.float64)[None, :]
        py = np.arange(y0, y1 + 1, dtype=np.float64)[:, None]
        d2 = segment_distance2(px, py, a, b)
        val = np.where(d2 <= r * r, np.exp(-d2 / (2.0 * sigma * sigma)), 0.0).astype(np.float32)
        view = out[prim.channel[i], y0:y1 + 1, x0:x1 + 1]
        np.maximum(view, val, out=view)
    return out
