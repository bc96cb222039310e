"""Side-by-side frames (source | normalized pose | result) and the live overlay text."""

from __future__ import annotations

import cv2
import numpy as np

from rtmotion.pose.draw import draw_skeleton

PANEL_HEIGHT = 256  # side-by-side panels are shown at this height (pixels)


def panel(image: np.ndarray, height: int = PANEL_HEIGHT) -> np.ndarray:
    """uint8 RGB (H, W, 3) resized to `height` rows, aspect kept (width even, >= 2)."""
    h, w = image.shape[:2]
    width = max(2, int(round(w * height / h)))
    width += width % 2
    if (h, w) == (height, width):
        return image
    interp = cv2.INTER_AREA if h > height else cv2.INTER_CUBIC
    return cv2.resize(image, (width, height), interpolation=interp)


def side_by_side(source: np.ndarray | None, source_size: tuple[int, int], raw_kp: np.ndarray,
                 norm_kp: np.ndarray, result: np.ndarray, height: int = PANEL_HEIGHT) -> np.ndarray:
    """One side-by-side frame, uint8 RGB (height, W, 3).

    Args:
        source: the source frame uint8 RGB, or None (a pose-file source: the raw pose is drawn
            on black at `source_size` = (W, H)).
        raw_kp: float (K, 3) source pose in source pixels (drawn over the source frame).
        norm_kp: float (K, 3) normalized pose in the result's pixels.
        result: uint8 RGB (h, w, 3), the subject's frame.
    """
    if source is None:
        w, h = source_size
        src = draw_skeleton(np.zeros((h, w, 3), np.uint8), raw_kp, copy=False)
    else:
        src = source
    pose = draw_skeleton(np.zeros_like(result), norm_kp, copy=False)
    return np.concatenate([panel(src, height), panel(pose, height), panel(result, height)], axis=1)


def draw_overlay(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """Text lines drawn top-left on a copy of uint8 RGB `image` (white on a dark box)."""
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
