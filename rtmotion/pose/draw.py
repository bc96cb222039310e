"""Skeleton overlay: draw a pose over an image (for `extract --overlay`, previews, debugging).

Colours: limbs of the person's left side in blues/cyans, right side in reds/oranges, the centre
line (trunk, neck, head) in greens/yellows, so a left/right swap is visible at a glance. Joints are
dots; a missing joint (confidence 0 or below `min_conf`) and every bone touching it are not drawn.
"""

from __future__ import annotations

import cv2
import numpy as np

from rtmotion.pose.skeleton import BODY25, Skeleton

# RGB palettes by side; bones of one side cycle through their palette in skeleton order.
_LEFT = ((40, 120, 255), (0, 190, 255), (90, 90, 255), (0, 230, 200), (120, 160, 255))
_RIGHT = ((255, 60, 40), (255, 150, 0), (255, 90, 140), (230, 200, 0), (255, 120, 80))
_CENTER = ((60, 220, 60), (200, 230, 40), (140, 255, 140))


def _side(name: str) -> str:
    if name.startswith("l_"):
        return "left"
    if name.startswith("r_"):
        return "right"
    return "center"


def bone_colors(skeleton: Skeleton = BODY25) -> list[tuple[int, int, int]]:
    """RGB colour of each bone of `skeleton` (same order as `skeleton.bones`).

    A bone takes the side of its child joint (e.g. neck->r_shoulder is right).
    """
    counters = {"left": 0, "right": 0, "center": 0}
    palettes = {"left": _LEFT, "right": _RIGHT, "center": _CENTER}
    out = []
    for a, b in skeleton.bones:
        side = _side(skeleton.joints[b])
        if side == "center":
            side = _side(skeleton.joints[a])
        pal = palettes[side]
        out.append(pal[counters[side] % len(pal)])
        counters[side] += 1
    return out


def joint_colors(skeleton: Skeleton = BODY25) -> list[tuple[int, int, int]]:
    """RGB colour of each joint: a lighter tint of its side's first colour."""
    base = {"left": _LEFT[0], "right": _RIGHT[0], "center": _CENTER[0]}
    return [tuple(int(c + (255 - c) * 0.35) for c in base[_side(n)]) for n in skeleton.joints]  # type: ignore[misc]


def draw_skeleton(
    image: np.ndarray,
    keypoints: np.ndarray,
    skeleton: Skeleton = BODY25,
    *,
    min_conf: float = 0.0,
    thickness: int | None = None,
    radius: int | None = None,
    copy: bool = True,
    antialias: bool = True,
) -> np.ndarray:
    """Draw `keypoints` over `image`.

    Args:
        image: uint8 RGB (H, W, 3).
        keypoints: float (K, 3) x, y in pixels of `image`, confidence; K = skeleton.num_joints.
        skeleton: joint order and bones.
        min_conf: joints with confidence <= min_conf are treated as missing (not drawn).
        thickness: limb width in pixels (default: scales with the image, ~1/128 of its height).
        radius: joint dot radius in pixels (default: thickness + 1).
        copy: draw on a copy (True) or in place (False; `image` must be C-contiguous).
        antialias: smooth lines (cv2.LINE_AA).
    Returns:
        uint8 RGB (H, W, 3) with the skeleton drawn.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.shape != (skeleton.num_joints, 3):
        raise ValueError(f"keypoints must be ({skeleton.num_joints}, 3) for '{skeleton.name}', got {kp.shape}")
    out = np.ascontiguousarray(image.copy() if copy else image)
    h = out.shape[0]
    thickness = int(thickness) if thickness else max(1, round(h / 128))
    radius = int(radius) if radius else thickness + 1
    line = cv2.LINE_AA if antialias else cv2.LINE_8
    ok = np.isfinite(kp).all(axis=1) & (kp[:, 2] > min_conf)
    # cv2 takes integer pixels; 4 bits of sub-pixel precision keep thin lines where they belong.
    shift = 4
    pts = np.round(np.nan_to_num(kp[:, :2]) * (1 << shift)).astype(np.int64)
    # Keep absurd coordinates from overflowing cv2's int32 arithmetic.
    pts = np.clip(pts, -(1 << 28), 1 << 28)
    for (a, b), color in zip(skeleton.bones, bone_colors(skeleton)):
        if ok[a] and ok[b]:
            cv2.line(out, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]), color,
                     thickness, line, shift)
    for j, color in enumerate(joint_colors(skeleton)):
        if ok[j]:
            # With `shift`, circle() reads both centre and radius as fixed-point numbers.
            cv2.circle(out, tuple(int(v) for v in pts[j]), radius << shift, color, -1, line, shift)
    return out


def label_strip(text: str, width: int, height: int = 22) -> np.ndarray:
    """A black uint8 RGB (height, width, 3) strip with `text` in white (panel titles, HUDs)."""
    strip = np.zeros((height, width, 3), np.uint8)
    cv2.putText(strip, text, (4, height - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                cv2.LINE_AA)
    return strip


def fit_height(image: np.ndarray, height: int, even_width: bool = False,
               nearest: bool = False) -> np.ndarray:
    """uint8 RGB (H, W, 3) resized to `height` rows, aspect kept (width >= 2; even with
    `even_width`, which H.264 wants). Area filter down, cubic up (nearest: a low-resolution
    model's real pixels)."""
    import cv2

    h, w = image.shape[:2]
    width = max(2, int(round(w * height / h)))
    if even_width:
        width += width % 2
    if (h, w) == (height, width):
        return image
    interp = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if h > height else cv2.INTER_CUBIC)
    return cv2.resize(image, (width, height), interpolation=interp)


def side_by_side(panels: list[np.ndarray], height: int | None = None, gap: int = 2,
                 label: str | None = None, nearest: bool = False,
                 even_width: bool = False) -> np.ndarray:
    """Images next to each other (e.g. source | pose | result), each resized to `height`
    (default: the first panel's) keeping its aspect ratio, separated by white `gap`-pixel bars,
    with an optional label strip on top.

    Args:
        panels: uint8 RGB (H_i, W_i, 3) images.
        height: output panel height in pixels.
        nearest: enlarge with nearest-neighbour (shows a low-resolution model's real pixels).
        even_width: make each panel's width even (video encoders want even sizes).
    Returns:
        uint8 RGB (height [+ 22], sum of widths + gaps, 3), C-contiguous.
    """
    if not panels:
        raise ValueError("side_by_side needs at least one panel")
    h = int(height or panels[0].shape[0])
    parts: list[np.ndarray] = []
    for i, img in enumerate(panels):
        if i and gap:
            parts.append(np.full((h, gap, 3), 255, np.uint8))
        parts.append(fit_height(img, h, even_width=even_width, nearest=nearest))
    row = np.concatenate(parts, axis=1)
    if label:
        row = np.concatenate([label_strip(label, row.shape[1]), row], axis=0)
    return np.ascontiguousarray(row)


def text_overlay(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """Text lines drawn top-left on a copy of uint8 RGB `image` (white on a dark box): the live
    preview's fps / latency / dropped-frames HUD."""
    import cv2

    out = image.copy()
    scale = max(0.4, out.shape[0] / 640)
    th = max(1, int(round(scale * 1.5)))
    y = 0
    for text in lines:
        (tw, tht), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, th)
        y += tht + base + 4
        cv2.rectangle(out, (0, y - tht - base - 4), (tw + 8, y + 2), (0, 0, 0), -1)
        cv2.putText(out, text, (4, y - base), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), th,
                    cv2.LINE_AA)
    return out
