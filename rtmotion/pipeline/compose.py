"""The pipeline's side-by-side frame: source | normalized pose | result (drawing itself lives in
`rtmotion.pose.draw`, shared with the live preview, overlays and eval samples)."""

from __future__ import annotations

import numpy as np

from rtmotion.pose.draw import draw_skeleton
from rtmotion.pose.draw import side_by_side as panels_side_by_side


def side_by_side(source: np.ndarray | None, source_size: tuple[int, int], raw_kp: np.ndarray,
                 norm_kp: np.ndarray, result: np.ndarray, height: int | None = None) -> np.ndarray:
    """One side-by-side frame, uint8 RGB (height, W, 3), each panel's width even; `height`
    None: the result's own height (the result is never scaled, the source is scaled to it).

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
    h = result.shape[0] + (result.shape[0] % 2) if height is None else int(height)
    return panels_side_by_side([src, pose, result], h, gap=0, even_width=True)
