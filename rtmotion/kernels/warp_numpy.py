"""Backward warp of an image by a pixel flow (numpy reference).

Bilinear sampling at (x + dx, y + dy) with edge clamp: the sample position is clamped to
[0, W-1] x [0, H-1] first (exactly `torch.nn.functional.grid_sample` with
``padding_mode="border", align_corners=True``), so a pixel whose flow points outside the frame
takes the nearest edge value. `sample_in_frame` tells which pixels sampled inside.
"""

from __future__ import annotations

import numpy as np


def check_flow(flow: np.ndarray, h: int, w: int, batched: bool = False) -> None:
    want = ("B", h, w, 2) if batched else (h, w, 2)
    shape = tuple(flow.shape)
    ok = len(shape) == len(want) and shape[-3:] == (h, w, 2)
    if not ok:
        raise ValueError(f"flow must be {tuple(want)} to match the image, got {shape}")


def warp_numpy(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Warp `image` by the backward `flow`.

    Args:
        image: (H, W, C) or (H, W), uint8 or float.
        flow: float (H, W, 2), (dx, dy) in pixels: output (x, y) samples image at (x+dx, y+dy).
    Returns:
        Same shape and dtype as `image`; uint8 is rounded and clipped, floats are float32
        (float64 stays float64).
    """
    img = np.asarray(image)
    h, w = img.shape[:2]
    check_flow(flow, h, w)
    flow = np.asarray(flow, np.float64)
    sx = np.clip(np.arange(w, dtype=np.float64)[None, :] + flow[..., 0], 0.0, w - 1)
    sy = np.clip(np.arange(h, dtype=np.float64)[:, None] + flow[..., 1], 0.0, h - 1)
    x0 = np.floor(sx).astype(np.int64)
    y0 = np.floor(sy).astype(np.int64)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    fx = sx - x0
    fy = sy - y0
    work = img.astype(np.float64)
    if work.ndim == 3:
        fx, fy = fx[..., None], fy[..., None]
    top = work[y0, x0] * (1 - fx) + work[y0, x1] * fx
    bot = work[y1, x0] * (1 - fx) + work[y1, x1] * fx
    out = top * (1 - fy) + bot * fy
    if img.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out.astype(np.float64 if img.dtype == np.float64 else np.float32)


def sample_in_frame(flow: np.ndarray) -> np.ndarray:
    """bool (H, W): True where (x + dx, y + dy) lies inside [0, W-1] x [0, H-1].

    Where False the warp repeated an edge pixel: the generator should not trust it
    (e.g. the `use_prev_mask` input of the generator).
    """
    h, w = flow.shape[:2]
    sx = np.arange(w)[None, :] + flow[..., 0]
    sy = np.arange(h)[:, None] + flow[..., 1]
    return (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
