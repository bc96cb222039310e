"""Boxes found from a pose, by joint name: the body box, the head size, and the two face boxes
(the face enhancer's crop and the face region `rtmotion eval` scores).

Boxes are integer (x0, y0, x1, y1) in pixels of the image the keypoints refer to, end-exclusive.
Keypoints are float (K, 3): x, y in pixels, confidence in [0, 1], in `skeleton`'s joint order
(BODY_25 by default).
"""

from __future__ import annotations

import math

import numpy as np

from rtmotion.pose.skeleton import BODY25, Skeleton

Box = tuple[int, int, int, int]

#: The joints a face is found from.
HEAD_JOINTS: tuple[str, ...] = ("nose", "r_eye", "l_eye", "r_ear", "l_ear")


def _joint(kp: np.ndarray, skeleton: Skeleton, name: str, min_conf: float) -> np.ndarray | None:
    i = skeleton.index(name)
    if i < len(kp) and kp[i, 2] >= min_conf:
        return kp[i, :2]
    return None


def head_size(keypoints: np.ndarray, min_conf: float = 0.1, skeleton: Skeleton = BODY25
              ) -> float | None:
    """A head-size estimate in pixels, or None if no pair of head joints is visible.

    The largest of: ear-to-ear distance (about the head's width), 2.5 x eye-to-eye distance,
    0.8 x nose-to-neck distance, each where both joints are visible (conf >= min_conf). These
    ratios hold for adult proportions seen from the front; taking the largest keeps the estimate
    sane in profile, where the ears or eyes overlap.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    sizes = []
    for a, b, ratio in (("r_ear", "l_ear", 1.0), ("r_eye", "l_eye", 2.5), ("nose", "neck", 0.8)):
        pa, pb = _joint(kp, skeleton, a, min_conf), _joint(kp, skeleton, b, min_conf)
        if pa is not None and pb is not None:
            d = float(np.hypot(*(pa - pb)))
            if d > 0:
                sizes.append(d * ratio)
    return max(sizes) if sizes else None


def _head_centre(kp: np.ndarray, skeleton: Skeleton, min_conf: float) -> tuple[float, float] | None:
    pts = [p for p in (_joint(kp, skeleton, j, min_conf) for j in HEAD_JOINTS) if p is not None]
    if not pts:
        return None
    cx, cy = np.mean(pts, axis=0)
    return float(cx), float(cy)


def face_crop_box(
    keypoints: np.ndarray,
    frame_size: tuple[int, int],
    crop_size: int,
    scale: float = 2.2,
    side: int | None = None,
    min_conf: float = 0.1,
    skeleton: Skeleton = BODY25,
) -> Box | None:
    """The face enhancer's square crop around the head, inside the frame, or None if no head
    joint is visible.

    Center: the mean of the visible nose / eyes / ears. Side: `side` pixels if given (EDN uses
    one fixed side per subject: it keeps the crop steady from frame to frame; compute it once,
    e.g. the median of `scale * head_size` over the training poses), else `scale * head_size`,
    and at least crop_size / 4 so a tiny head still gets a usable crop. The side is capped at
    min(W, H) and the box shifted (not cut) to lie inside the frame, so it stays square and the
    resize to crop_size x crop_size keeps the aspect ratio.

    Args:
        keypoints: (K, 3) keypoints in pixels (x, y, confidence).
        frame_size: (W, H) of the frame the keypoints are in.
        crop_size: the enhancer's crop side (only used for the minimum side).
        scale: box side / head size.
        side: fixed box side in pixels, or None.
        min_conf: confidence below which a joint counts as missing.
    Returns:
        (x0, y0, x1, y1) integer pixels with x1 - x0 == y1 - y0, or None.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    w, h = frame_size
    centre = _head_centre(kp, skeleton, min_conf)
    if centre is None:
        return None
    cx, cy = centre
    if side is None:
        hs = head_size(kp, min_conf, skeleton)
        side = int(round(scale * hs)) if hs is not None else crop_size
        side = max(side, int(math.ceil(crop_size / 4)))
    side = int(max(1, min(side, w, h)))
    x0 = int(round(cx - side / 2))
    y0 = int(round(cy - side / 2))
    x0 = min(max(x0, 0), w - side)
    y0 = min(max(y0, 0), h - side)
    return x0, y0, x0 + side, y0 + side


def _clip_box(x0: float, y0: float, x1: float, y1: float, size: tuple[int, int]) -> Box | None:
    w, h = size
    bx0, by0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    bx1, by1 = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
    if bx1 - bx0 < 2 or by1 - by0 < 2:
        return None
    return bx0, by0, bx1, by1


def visible_face_box(keypoints: np.ndarray, size: tuple[int, int], scale: float = 1.4,
                     min_conf: float = 0.3, skeleton: Skeleton = BODY25) -> Box | None:
    """The face region to score: a square around the head, clipped to the image, or None when
    the face is not seen (from behind, cut off by the frame).

    The face counts as visible when the nose and at least one eye are seen with confidence above
    `min_conf`. The square is centred on the mean of the visible head joints; its side is `scale`
    x `head_size`.

    Returns:
        (x0, y0, x1, y1) clipped to the image, or None when the face is not visible or less than
        half of the square lies inside the image.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    if _joint(kp, skeleton, "nose", min_conf) is None or (
            _joint(kp, skeleton, "r_eye", min_conf) is None
            and _joint(kp, skeleton, "l_eye", min_conf) is None):
        return None
    centre = _head_centre(kp, skeleton, min_conf)
    hs = head_size(kp, min_conf, skeleton)
    if centre is None or hs is None:
        return None
    side = scale * hs
    if side < 2.0:
        return None
    cx, cy = centre
    half = side / 2.0
    box = _clip_box(cx - half, cy - half, cx + half, cy + half, size)
    if box is None:
        return None
    area = (box[2] - box[0]) * (box[3] - box[1])
    if area < 0.5 * side * side:
        return None
    return box


#: eval's body box: the visible joints' box grown by this fraction of its longer side on every
#: side (`body_box`; eval's `body_margin` and training's body-box SSIM use it too).
BODY_BOX_MARGIN = 0.15
#: joints at or below this confidence are left out of the body box.
BODY_BOX_MIN_CONF = 0.05


def body_box(keypoints: np.ndarray, size: tuple[int, int], margin: float = BODY_BOX_MARGIN,
             min_conf: float = BODY_BOX_MIN_CONF) -> Box | None:
    """The bounding box of the visible joints, grown by `margin` x its longer side on every side.

    The joints lie inside the body (the head top, hands and clothes reach beyond them), so the
    margin makes the box hold the whole person and a little background, which is where a
    generator's errors show (ghost limbs, halos).

    Args:
        keypoints: float (K, 3) x, y in pixels, confidence.
        size: (width, height) of the image.
        margin: fraction of the box's longer side added on each side.
        min_conf: joints at or below this confidence are ignored.
    Returns:
        (x0, y0, x1, y1) clipped to the image, or None with fewer than 2 visible joints.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    vis = kp[:, 2] > min_conf
    if vis.sum() < 2:
        return None
    xy = kp[vis, :2]
    x0, y0 = xy.min(axis=0)
    x1, y1 = xy.max(axis=0)
    pad = margin * max(x1 - x0, y1 - y0, 1.0)
    return _clip_box(x0 - pad, y0 - pad, x1 + pad, y1 + pad, size)


def body_height(keypoints: np.ndarray, min_conf: float = 0.05) -> float:
    """Height (pixels) of the visible joints' bounding box: the scale pose distances are divided
    by. 0 when fewer than 2 joints are visible."""
    kp = np.asarray(keypoints, dtype=np.float64)
    vis = kp[:, 2] > min_conf
    if vis.sum() < 2:
        return 0.0
    ys = kp[vis, 1]
    return float(ys.max() - ys.min())
