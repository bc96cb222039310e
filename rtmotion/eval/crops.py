"""Crop boxes for evaluation: the body box from the pose's bounding box and the face box from the
head joints, both in pixels of the image the keypoints refer to (model pixels in `rtmotion eval`).

Boxes are integer (x0, y0, x1, y1), end-exclusive, clipped to the image; None when the part is
not visible enough to measure.
"""

from __future__ import annotations

import numpy as np

from rtmotion.pose.skeleton import BODY25

Box = tuple[int, int, int, int]

#: Joints a face crop is built from, and the ones that must be seen for the face to count.
HEAD_JOINTS: tuple[str, ...] = ("nose", "r_eye", "l_eye", "r_ear", "l_ear")
_HEAD_IDX = np.array([BODY25.index(j) for j in HEAD_JOINTS])
_NOSE, _NECK = BODY25.index("nose"), BODY25.index("neck")
_EYES = np.array([BODY25.index("r_eye"), BODY25.index("l_eye")])
_EARS = np.array([BODY25.index("r_ear"), BODY25.index("l_ear")])


def _clip_box(x0: float, y0: float, x1: float, y1: float, size: tuple[int, int]) -> Box | None:
    w, h = size
    bx0, by0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    bx1, by1 = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
    if bx1 - bx0 < 2 or by1 - by0 < 2:
        return None
    return bx0, by0, bx1, by1


def body_box(keypoints: np.ndarray, size: tuple[int, int], margin: float = 0.15,
             min_conf: float = 0.05) -> Box | None:
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


def face_box(keypoints: np.ndarray, size: tuple[int, int], scale: float = 1.4,
             min_conf: float = 0.3) -> Box | None:
    """A square around the face, from the head joints (nose, eyes, ears).

    The face counts as visible when the nose and at least one eye are seen with confidence
    above `min_conf`. The square is centred on the mean of the visible head joints and its side is
    `scale` x the head size, taken as the larger of the ear-to-ear (or eye-to-eye x 2) span and
    the nose-to-neck distance (a side view has no ear span, a tilted head no neck length).

    Returns:
        (x0, y0, x1, y1) clipped to the image, or None when the face is not visible or the
        clipped box is mostly outside the image.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    conf = kp[:, 2]
    if conf[_NOSE] <= min_conf or not (conf[_EYES] > min_conf).any():
        return None
    head = kp[_HEAD_IDX]
    vis = head[:, 2] > min_conf
    cx, cy = head[vis, :2].mean(axis=0)
    spans = [0.0]
    if (conf[_EARS] > min_conf).all():
        spans.append(float(np.linalg.norm(kp[_EARS[0], :2] - kp[_EARS[1], :2])))
    if (conf[_EYES] > min_conf).all():
        spans.append(2.0 * float(np.linalg.norm(kp[_EYES[0], :2] - kp[_EYES[1], :2])))
    if conf[_NECK] > min_conf:
        spans.append(float(np.linalg.norm(kp[_NOSE, :2] - kp[_NECK, :2])))
    side = scale * max(spans)
    if side < 2.0:
        return None
    half = side / 2.0
    box = _clip_box(cx - half, cy - half, cx + half, cy + half, size)
    if box is None:
        return None
    # Less than half of the square inside the image: the face is cut off, not measurable.
    area = (box[2] - box[0]) * (box[3] - box[1])
    if area < 0.5 * side * side:
        return None
    return box


def body_height(keypoints: np.ndarray, min_conf: float = 0.05) -> float:
    """Height (pixels) of the visible joints' bounding box: the scale pose distances are divided
    by. 0 when fewer than 2 joints are visible."""
    kp = np.asarray(keypoints, dtype=np.float64)
    vis = kp[:, 2] > min_conf
    if vis.sum() < 2:
        return 0.0
    ys = kp[vis, 1]
    return float(ys.max() - ys.min())
