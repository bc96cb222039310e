"""Pose flow from two skeletons (numpy reference, the oracle of the torch and CuPy versions).

The previous output frame (pose A) is warped to the new pose B by a dense *backward* flow
(convention in `rtmotion.kernels`): ``flow[y, x] = (dx, dy)``, output pixel (x, y) samples
frame A at (x + dx, y + dy). It is computed from the skeletons alone, without a flow network
(the Soft-Gated Warping-GAN / GEO idea):

1. **One transform per bone.** Bone i has endpoints (a_i, b_i) in pose A and (a'_i, b'_i) in
   pose B. T_i maps pose-B positions to pose-A positions with T_i(a'_i) = a_i, T_i(b'_i) = b_i:
   - ``transform="affine"`` (default): along the bone it scales by |b - a| / |b' - a'|,
     across it keeps the scale 1. A limb that foreshortens (turns out of the image plane)
     gets shorter but not thinner, as a real limb does. Equivalently: the affine map fixed
     by the two endpoints plus a third point at unit distance perpendicular to the bone.
   - ``transform="similarity"``: rotation + uniform scale + translation (the complex-number
     map z -> a + (z - a') (b - a) / (b' - a')); thinner when shorter. Better when the whole
     person changes scale (walks toward the camera).
   A bone shorter than 1e-6 px in either pose moves by its midpoint's translation.
   ``max_along`` (S): a bone foreshortened in pose B (a hip or shoulder seen from the side, a
   forearm pointing at the camera: 0.1 px against 6 px) has no direction to trust and a scale
   without bound: pixels beside it sampled pose A up to 60 times farther along the bone,
   turned by whatever angle the few pixels gave (146 degrees), and the warped keyframe of a
   profile was a swirl of curtain and furniture. So the scale along the bone is at most S,
   and from S to 2 S the map fades to the translation that takes a' to a (its weight
   |b - a| / (S |b' - a'|) - 1, clipped to [0, 1]; continuous as the bone shortens): the
   pixels of a foreshortened bone show A's limb next to its first joint. The map always takes
   a' to a. None: unclamped (the flow before 2026-12-05).
   ``head="rigid"`` (default): the head's bones (neck-nose, nose-eyes, eyes-ears) share ONE
   similarity, the least-squares fit of pose B's head joints (`HEAD_JOINTS`) onto pose A's,
   its scale kept within 1 / HEAD_MAX_SCALE .. HEAD_MAX_SCALE. The face bones are a few pixels
   long and turn every which way when the head turns or tilts (an ear passes behind the
   nose): bone by bone, the pixels around them were rotated half a turn about different
   points and the face became a ring several times its size (measured in docs/BENCHMARKS.md,
   "A rigid head"). ``head="bones"``: each head bone on its own (subjects made before it).
2. **Soft assignment.** Pixel p (in pose B) takes ``D(p) = sum_i w_i (T_i(p) - p) / sum_i w_i``
   with ``w_i = exp(-(d_i^2 - d_min^2) / (2 s^2))``, d_i = distance of p to bone i in pose B,
   d_min = the smallest of them, s = ``sigma_frac * H``. Subtracting d_min^2 is the softmax
   trick: the nearest bone has weight 1, so the weights never all underflow, and any pixel
   belongs to its nearest limbs, blended over about s pixels at the seams (elbows, where
   limbs cross).
3. **Body region vs background.** The camera is fixed (EDN), so the scene behind the person
   does not move: ``flow = alpha D + (1 - alpha) bg`` with the body weight
   ``alpha = 1`` for d_min <= r (``body_radius_frac * H``), then ``exp(-(d_min - r)^2 / (2 f^2))``
   (``falloff_frac * H``). ``background="zero"`` (default): bg = 0;
   ``background="torso"``: bg = the mean displacement of the trunk joints present in both
   poses (all common joints if no trunk joint; 0 if none): for a moving camera.

Properties (tested): the same pose gives exactly zero flow; a pure translation gives a
constant field in the body region (everywhere with ``background="torso"``); rotating one limb
moves only its region. Bones with a missing joint in either pose are skipped; with no bone
at all the flow is bg.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rtmotion.kernels.maps_numpy import segment_distance2
from rtmotion.kernels.segments import bone_array, trunk_indices
from rtmotion.pose.skeleton import Skeleton, get_skeleton

TRANSFORMS = ("affine", "similarity")
BACKGROUNDS = ("zero", "torso")
HEADS = ("rigid", "bones")
#: The joints a rigid head moves with (`PoseFlowConfig.head`); its bones are those between two
#: of them.
HEAD_JOINTS: tuple[str, ...] = ("neck", "nose", "r_eye", "l_eye", "r_ear", "l_ear")
#: A rigid head's scale from one pose to the other stays within [1 / this, this]: a head does
#: not change size between two frames of one camera, while a fit on a few joints a few pixels
#: apart (a face seen from the side) can.
HEAD_MAX_SCALE = 1.25
#: `PoseFlowConfig.max_along` by default, for every subject (those trained before it too: their
#: held-out and transfer body SSIM moved by 0.0001 at most): a bone's scale along itself from
#: pose B to pose A stays at most this, fading to a translation by twice it (module docstring).
#: Measured in docs/BENCHMARKS.md, "Foreshortened bones" (`tools/bench_far_reference.py`): 1.25
#: and 1.5 fit real frames best, 2 a little less, unclamped least; 1.5 because it leaves the
#: warp of synthetic frames where it was (1.25 lost a little there).
MAX_ALONG = 1.5


@dataclass(frozen=True)
class PoseFlowConfig:
    """Pose flow parameters (sizes as fractions of the frame height H).

    Attributes:
        sigma_frac: s, softness of the blend between bones.
        body_radius_frac: r, distance from the nearest bone within which a pixel is body.
        falloff_frac: f, how fast the body weight falls to the background beyond r.
        transform: "affine" (width kept) or "similarity" (see module docstring).
        background: "zero" (fixed camera) or "torso".
        head: "rigid" (the head's bones share one similarity) or "bones" (see module docstring).
        max_along: the largest scale along a bone from pose B to pose A (module docstring);
            None: unclamped.
        mask_ghosts: for the appearance reference's warp only (`rtmotion.pipeline.reference`):
            where the warp samples the keyframe's own person outside the body of the pose drawn
            (a leg the keyframe has elsewhere, smeared through the falloff), its validity mask
            is lowered, so the generator takes the room there from its plate.
        min_confidence: joints with confidence <= this are missing.
        skeleton: skeleton name of the keypoints.
    """

    sigma_frac: float = 0.015
    body_radius_frac: float = 0.05
    falloff_frac: float = 0.04
    transform: str = "affine"
    background: str = "zero"
    head: str = "rigid"
    max_along: float | None = MAX_ALONG
    mask_ghosts: bool = True
    min_confidence: float = 0.0
    skeleton: str = "body25"

    def __post_init__(self) -> None:
        for name in ("sigma_frac", "falloff_frac"):
            if not getattr(self, name) > 0:
                raise ValueError(f"PoseFlowConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.body_radius_frac < 0:
            raise ValueError(f"PoseFlowConfig.body_radius_frac must be >= 0, got {self.body_radius_frac}")
        if self.transform not in TRANSFORMS:
            raise ValueError(f"PoseFlowConfig.transform={self.transform!r} is not one of {TRANSFORMS}")
        if self.background not in BACKGROUNDS:
            raise ValueError(f"PoseFlowConfig.background={self.background!r} is not one of {BACKGROUNDS}")
        if self.head not in HEADS:
            raise ValueError(f"PoseFlowConfig.head={self.head!r} is not one of {HEADS}")
        if self.max_along is not None and not self.max_along >= 1:
            raise ValueError(f"PoseFlowConfig.max_along must be >= 1 or None, got {self.max_along}")
        get_skeleton(self.skeleton)

    def pixels(self, height: int) -> tuple[float, float, float]:
        """(s, r, f) in pixels for frames of this height."""
        return self.sigma_frac * height, self.body_radius_frac * height, self.falloff_frac * height


def check_pose_pair(kp_a, kp_b, k: int, batched: bool) -> None:
    """ValueError unless both are (K, 3) ((B, K, 3) when batched) with the same shape."""
    nd = 3 if batched else 2
    sa, sb = tuple(kp_a.shape), tuple(kp_b.shape)
    want = "(B, K, 3)" if batched else "(K, 3)"
    if len(sa) != nd or sa[-2:] != (k, 3) or sa != sb:
        raise ValueError(f"pose flow needs two keypoint arrays of shape {want} with K={k}, got {sa} and {sb}")


def check_size(size) -> tuple[int, int]:
    w, h = (int(v) for v in size)
    if w < 1 or h < 1:
        raise ValueError(f"size must be positive (W, H), got {size}")
    return w, h


def bone_transform(a: np.ndarray, b: np.ndarray, a2: np.ndarray, b2: np.ndarray, transform: str,
                   max_along: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(M (2, 2), t (2,)) of T(p) = M p + t mapping bone (a2, b2) of pose B onto (a, b) of pose A
    (onto the part of it next to a when the scale along it is clamped to `max_along`)."""
    va, vb = b - a, b2 - a2
    la, lb = float(np.hypot(*va)), float(np.hypot(*vb))
    if la < 1e-6 or lb < 1e-6:
        return np.eye(2), (a + b) / 2 - (a2 + b2) / 2
    if np.array_equal(va, vb):  # same bone vector (same pose, pure translation): exactly M = I
        return np.eye(2), a - a2
    ua, ub = va / la, vb / lb
    na, nb = np.array([-ua[1], ua[0]]), np.array([-ub[1], ub[0]])
    along = la / lb if max_along is None else min(la / lb, max_along)
    across = 1.0 if transform == "affine" else along
    m = along * np.outer(ua, ub) + across * np.outer(na, nb)
    if max_along is not None:
        fade = min(max(la / (max_along * lb) - 1.0, 0.0), 1.0)
        m = (1.0 - fade) * m + fade * np.eye(2)
    return m, a - m @ a2


def head_indices(skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """(joints, bones): int64 indices of the skeleton's `HEAD_JOINTS` and of its bones between
    two of them (the bones a rigid head moves)."""
    joints = [skeleton.index(j) for j in HEAD_JOINTS if skeleton.has(j)]
    bones = [i for i, (a, b) in enumerate(skeleton.bones) if a in joints and b in joints]
    return np.asarray(joints, dtype=np.int64), np.asarray(bones, dtype=np.int64)


def head_similarities(kp_a: np.ndarray, kp_b: np.ndarray, cfg: PoseFlowConfig
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rigid head's map of each pose pair (module docstring).

    Args:
        kp_a, kp_b: float (B, K, 3).
    Returns:
        m: float64 (B, 2, 2), t: float64 (B, 2) with T(p) = m p + t mapping pose B's head onto
        pose A's (least squares over the head joints visible in both, as complex numbers:
        z -> c z + d; |c| clamped to the HEAD_MAX_SCALE range); ok: bool (B,), False where
        fewer than 2 head joints are visible in both or they coincide (the bones then keep
        their own maps).
    """
    joints, _ = head_indices(get_skeleton(cfg.skeleton))
    pa = np.asarray(kp_a, np.float64)[:, joints]
    pb = np.asarray(kp_b, np.float64)[:, joints]
    w = ((pa[..., 2] > cfg.min_confidence) & (pb[..., 2] > cfg.min_confidence)).astype(np.float64)
    n = np.maximum(w.sum(-1, keepdims=True), 1.0)                          # B x 1
    ma = (pa[..., :2] * w[..., None]).sum(1) / n                          # B x 2
    mb = (pb[..., :2] * w[..., None]).sum(1) / n
    qa, qb = pa[..., :2] - ma[:, None], pb[..., :2] - mb[:, None]         # B x J x 2
    spread = ((qb ** 2).sum(-1) * w).sum(-1)                              # sum |qb|^2
    ok = (w.sum(-1) >= 2) & (spread > 1e-6)
    safe = np.where(ok, spread, 1.0)
    re = ((qa[..., 0] * qb[..., 0] + qa[..., 1] * qb[..., 1]) * w).sum(-1) / safe
    im = ((qa[..., 1] * qb[..., 0] - qa[..., 0] * qb[..., 1]) * w).sum(-1) / safe
    scale = np.hypot(re, im)
    k = np.where(scale > 1e-12, np.clip(scale, 1.0 / HEAD_MAX_SCALE, HEAD_MAX_SCALE)
                 / np.maximum(scale, 1e-12), 1.0)
    re, im = re * k, im * k
    m = np.stack([np.stack([re, -im], -1), np.stack([im, re], -1)], -2)  # B x 2 x 2
    t = ma - np.einsum("bij,bj->bi", m, mb)
    return m, t, ok


def background_shift(kp_a: np.ndarray, kp_b: np.ndarray, cfg: PoseFlowConfig) -> np.ndarray:
    """float64 (2,) flow of the background (see module docstring)."""
    if cfg.background == "zero":
        return np.zeros(2)
    common = (kp_a[:, 2] > cfg.min_confidence) & (kp_b[:, 2] > cfg.min_confidence)
    trunk = np.zeros_like(common)
    trunk[trunk_indices(get_skeleton(cfg.skeleton))] = True
    use = common & trunk if (common & trunk).any() else common
    if not use.any():
        return np.zeros(2)
    return (kp_a[use, :2] - kp_b[use, :2]).mean(axis=0)


def pose_flow(kp_a: np.ndarray, kp_b: np.ndarray, size: tuple[int, int],
              cfg: PoseFlowConfig | None = None) -> np.ndarray:
    """Backward flow from pose A's frame to pose B's frame (the numpy reference).

    Args:
        kp_a, kp_b: float (K, 3) keypoints in pixels of the (W, H) frame; A = previous frame.
        size: (W, H).
        cfg: parameters (default `PoseFlowConfig()`).
    Returns:
        float32 (H, W, 2): (dx, dy) in pixels; output pixel (x, y) samples A at (x+dx, y+dy).
    """
    cfg = cfg or PoseFlowConfig()
    sk = get_skeleton(cfg.skeleton)
    kp_a = np.asarray(kp_a, np.float64)
    kp_b = np.asarray(kp_b, np.float64)
    check_pose_pair(kp_a, kp_b, sk.num_joints, batched=False)
    w, h = check_size(size)
    s, r, f = cfg.pixels(h)
    px = np.arange(w, dtype=np.float64)[None, :]
    py = np.arange(h, dtype=np.float64)[:, None]
    bg = background_shift(kp_a, kp_b, cfg)

    rigid: set[int] = set()   # the bones that move with the rigid head's map
    if cfg.head == "rigid":
        head_m, head_t, head_ok = head_similarities(kp_a[None], kp_b[None], cfg)
        rigid = set(head_indices(sk)[1].tolist()) if head_ok[0] else set()
    d2s, disp = [], []
    for i, (ia, ib) in enumerate(bone_array(sk)):
        if min(kp_a[ia, 2], kp_a[ib, 2], kp_b[ia, 2], kp_b[ib, 2]) <= cfg.min_confidence:
            continue
        if i in rigid:
            m, t = head_m[0], head_t[0]
        else:
            m, t = bone_transform(kp_a[ia, :2], kp_a[ib, :2], kp_b[ia, :2], kp_b[ib, :2], cfg.transform,
                                  cfg.max_along)
        d2s.append(segment_distance2(px, py, kp_b[ia, :2], kp_b[ib, :2]))
        # T(p) - p, on the whole grid.
        dx = (m[0, 0] - 1.0) * px + m[0, 1] * py + t[0]
        dy = m[1, 0] * px + (m[1, 1] - 1.0) * py + t[1]
        disp.append((dx, dy))
    flow = np.empty((h, w, 2), np.float64)
    if not d2s:
        flow[...] = bg
        return flow.astype(np.float32)
    d2 = np.stack(d2s)                                          # N x H x W
    d2min = d2.min(axis=0)
    wts = np.exp(-(d2 - d2min) / (2.0 * s * s))                 # nearest bone: weight 1
    wsum = wts.sum(axis=0)
    fx = sum(wi * dx for wi, (dx, _) in zip(wts, disp)) / wsum
    fy = sum(wi * dy for wi, (_, dy) in zip(wts, disp)) / wsum
    excess = np.maximum(np.sqrt(d2min) - r, 0.0)
    alpha = np.exp(-excess * excess / (2.0 * f * f))
    flow[..., 0] = alpha * fx + (1.0 - alpha) * bg[0]
    flow[..., 1] = alpha * fy + (1.0 - alpha) * bg[1]
    return flow.astype(np.float32)


def bone_coefficients(kp_a: np.ndarray, kp_b: np.ndarray, cfg: PoseFlowConfig
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorized per-bone parameters (host side of the CuPy kernel; torch has its own).

    Args:
        kp_a, kp_b: float (B, K, 3).
    Returns:
        coef: float64 (B, N, 6) = (A_x, B_x, C_x, A_y, B_y, C_y) with T_i(p) - p =
            (A_x x + B_x y + C_x, A_y x + B_y y + C_y), p in pixels; zero for missing bones.
        seg_b: float64 (B, N, 2, 2) pose-B bone endpoints.
        valid: bool (B, N).
    """
    bones = bone_array(get_skeleton(cfg.skeleton))
    kp_a = np.asarray(kp_a, np.float64)
    kp_b = np.asarray(kp_b, np.float64)
    a1, b1 = kp_a[:, bones[:, 0], :2], kp_a[:, bones[:, 1], :2]
    a2, b2 = kp_b[:, bones[:, 0], :2], kp_b[:, bones[:, 1], :2]
    mc = cfg.min_confidence
    valid = ((kp_a[:, bones[:, 0], 2] > mc) & (kp_a[:, bones[:, 1], 2] > mc)
             & (kp_b[:, bones[:, 0], 2] > mc) & (kp_b[:, bones[:, 1], 2] > mc))
    v1, v2 = b1 - a1, b2 - a2
    l1 = np.hypot(v1[..., 0], v1[..., 1])
    l2 = np.hypot(v2[..., 0], v2[..., 1])
    degenerate = (l1 < 1e-6) | (l2 < 1e-6)
    same = (v1 == v2).all(axis=-1)
    l1s = np.where(degenerate, 1.0, l1)
    l2s = np.where(degenerate, 1.0, l2)
    u1, u2 = v1 / l1s[..., None], v2 / l2s[..., None]
    n1 = np.stack([-u1[..., 1], u1[..., 0]], axis=-1)
    n2 = np.stack([-u2[..., 1], u2[..., 0]], axis=-1)
    along = l1s / l2s
    fade = np.zeros_like(along)
    if cfg.max_along is not None:
        fade = np.clip(along / cfg.max_along - 1.0, 0.0, 1.0)
        along = np.minimum(along, cfg.max_along)
    across = np.ones_like(along) if cfg.transform == "affine" else along
    m = along[..., None, None] * (u1[..., :, None] * u2[..., None, :]) + \
        across[..., None, None] * (n1[..., :, None] * n2[..., None, :])
    m = (1.0 - fade[..., None, None]) * m + fade[..., None, None] * np.eye(2)
    m = np.where((degenerate | same)[..., None, None], np.eye(2), m)
    t = a1 - np.einsum("bnij,bnj->bni", m, a2)
    t = np.where(degenerate[..., None], (a1 + b1) / 2 - (a2 + b2) / 2, t)
    if cfg.head == "rigid":
        head_m, head_t, head_ok = head_similarities(kp_a, kp_b, cfg)
        rigid = np.zeros(m.shape[:2], bool)
        rigid[:, head_indices(get_skeleton(cfg.skeleton))[1]] = True
        rigid &= head_ok[:, None]
        m = np.where(rigid[..., None, None], head_m[:, None], m)
        t = np.where(rigid[..., None], head_t[:, None], t)
    coef = np.stack([m[..., 0, 0] - 1, m[..., 0, 1], t[..., 0], m[..., 1, 0], m[..., 1, 1] - 1, t[..., 1]], axis=-1)
    coef = np.where(valid[..., None], coef, 0.0)
    return coef, np.stack([a2, b2], axis=2), valid


def background_shifts(kp_a: np.ndarray, kp_b: np.ndarray, cfg: PoseFlowConfig) -> np.ndarray:
    """float64 (B, 2): `background_shift` of each pair."""
    return np.stack([background_shift(np.asarray(a, np.float64), np.asarray(b, np.float64), cfg)
                     for a, b in zip(kp_a, kp_b)]) if len(kp_a) else np.zeros((0, 2))
