"""Bone retargeting: the source's joint angles on the target's bone lengths.

Each frame is rebuilt from the root (`mid_hip`) outward along the kinematic tree: a child joint
is placed at its parent's new position plus the source's bone vector (parent -> child) times the
bone's ratio `target length / source length`. The ratio uses each person's *median* 2D bone length
(`SubjectPoseStats.bone_lengths`), not a fixed target length per frame, because a projected bone
shortens when it turns out of the image plane: scaling the source's own per-frame vector keeps
that foreshortening (the joint angles, in-plane and out-of-plane as far as 2D shows them) while
the proportions become the target's. The ratios are divided by the overall size ratio, so the
result keeps the source's size and place (only the proportions change: a target of the same
build leaves the poses untouched); `rtmotion.pose.normalize` then places it in the target's
frame with the EDN global normalization, using statistics of the retargeted poses.

People are left-right symmetric, their 2D medians are not: a dancer who lifts the right knee
more often than the left shows a shorter median right shin (more foreshortened frames). So each
person's left and right bone lengths are averaged before the ratios are taken (`symmetric_lengths`):
on the synthetic transfer test (bruno's motion, extracted by MediaPipe, retargeted onto demo-ada)
this cut the driving pose's mean error against the true pose from 0.93 to 0.65 px at 128 px
(EDN alone: 0.74), docs/BENCHMARKS.md "Bone retargeting by default".

Missing joints stay missing. A visible joint whose parent is missing cannot be rebuilt from it:
it moves with its nearest rebuilt ancestor (the root moves by nothing), so a broken limb stays
attached where the detector put it.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from rtmotion.pose.stats import TRUNK, SubjectPoseStats, bone_key

ROOT_CANDIDATES: tuple[str, ...] = ("mid_hip",) + TRUNK


def kinematic_order(joint_names: tuple[str, ...], bones: tuple[tuple[str, str], ...],
                    roots: tuple[str, ...] = ROOT_CANDIDATES) -> list[tuple[int, int, str]]:
    """Edges in breadth-first order from the root: (parent index, child index, bone key).

    The bone list's direction does not matter (the tree is walked from the root, so e.g.
    neck -> mid_hip is walked mid_hip -> neck); the key is the stored bone's key, so the ratio
    applies whichever way it is walked. A skeleton in several pieces (a partial skeleton) is
    walked piece by piece, each from its first joint.
    """
    adj: dict[int, list[tuple[int, str]]] = {i: [] for i in range(len(joint_names))}
    for a, b in bones:
        ia, ib = joint_names.index(a), joint_names.index(b)
        key = bone_key(a, b)
        adj[ia].append((ib, key))
        adj[ib].append((ia, key))
    order: list[tuple[int, int, str]] = []
    seen: set[int] = set()
    starts = [joint_names.index(r) for r in roots if r in joint_names] + list(range(len(joint_names)))
    for start in starts:
        if start in seen:
            continue
        seen.add(start)
        queue = deque([start])
        while queue:
            p = queue.popleft()
            for c, key in adj[p]:
                if c not in seen:
                    seen.add(c)
                    order.append((p, c, key))
                    queue.append(c)
    return order


def mirror_name(joint: str) -> str:
    """The joint on the other side ("l_knee" <-> "r_knee"); a midline joint is its own mirror."""
    if joint.startswith("l_"):
        return "r_" + joint[2:]
    if joint.startswith("r_"):
        return "l_" + joint[2:]
    return joint


def symmetric_lengths(lengths: dict[str, float]) -> dict[str, float]:
    """Bone lengths (pixels, by bone key) with each left/right pair replaced by its mean.

    A bone whose mirror was never measured keeps its own length; midline bones are unchanged.
    """
    out = dict(lengths)
    for key, length in lengths.items():
        parent, child = key.split(">", 1)
        mirror = lengths.get(bone_key(mirror_name(parent), mirror_name(child)))
        if mirror is not None and mirror > 1e-6 and length > 1e-6:
            out[key] = 0.5 * (length + mirror)
    return out


def bone_ratios(source: SubjectPoseStats, target: SubjectPoseStats,
                bones: tuple[tuple[str, str], ...]) -> dict[str, float]:
    """Per bone key, (target length / source length) / overall ratio, of each person's median
    2D lengths made left-right symmetric (`symmetric_lengths`).

    The overall ratio is the total length of the bones both people showed, target over source:
    dividing by it keeps the retargeted body at the source's size, so only the proportions change
    and a target of the same build (at any scale) leaves the source untouched. A bone either
    person never showed gets ratio 1.
    """
    src_lengths = symmetric_lengths(source.bone_lengths)
    tgt_lengths = symmetric_lengths(target.bone_lengths)
    known: dict[str, tuple[float, float]] = {}
    for a, b in bones:
        k = bone_key(a, b)
        ls, lt = src_lengths.get(k), tgt_lengths.get(k)
        if ls and lt and ls > 1e-6 and lt > 1e-6:
            known[k] = (ls, lt)
    if not known:
        return {bone_key(a, b): 1.0 for a, b in bones}
    overall = sum(lt for _, lt in known.values()) / sum(ls for ls, _ in known.values())
    return {bone_key(a, b): (known[bone_key(a, b)][1] / known[bone_key(a, b)][0] / overall
                             if bone_key(a, b) in known else 1.0) for a, b in bones}


def retarget_keypoints(
    keypoints: np.ndarray,
    joint_names: tuple[str, ...],
    bones: tuple[tuple[str, str], ...],
    ratios: dict[str, float],
    min_confidence: float = 0.0,
    order: list[tuple[int, int, str]] | None = None,
) -> np.ndarray:
    """Rebuild every frame with the bone ratios (see module docstring).

    Args:
        keypoints: float (T, K, 3) or (K, 3), pixels + confidence.
        ratios: bone key -> length ratio (`bone_ratios`).
        order: `kinematic_order(joint_names, bones)`, if already computed (live use).
    Returns:
        float32, same shape; confidences unchanged, missing joints (0, 0, 0).
    """
    kp = np.asarray(keypoints, dtype=np.float32)
    single = kp.ndim == 2
    if single:
        kp = kp[None]
    vis = kp[..., 2] > min_confidence                      # T x K
    xy = kp[..., :2].astype(np.float64)                    # T x K x 2
    disp = np.zeros_like(xy)                               # how far each joint moves
    for p, c, key in order if order is not None else kinematic_order(joint_names, bones):
        both = (vis[:, p] & vis[:, c])[:, None]
        grown = disp[:, p] + (ratios.get(key, 1.0) - 1.0) * (xy[:, c] - xy[:, p])
        # A joint without a rebuilt parent moves with its nearest rebuilt ancestor.
        disp[:, c] = np.where(both, grown, disp[:, p])
    out = kp.copy()
    out[..., :2] = (xy + disp).astype(np.float32)
    out[~(kp[..., 2] > 0)] = 0.0
    return out[0] if single else out
