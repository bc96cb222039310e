"""Frame conversions at the model's edges, in numpy: the references (oracles).

Two conversions, the inverse of each other up to rounding:

- input side: uint8 RGB frames ``(B, H, W, 3)`` (or one ``(H, W, 3)``) -> float32
  ``(B, 3, H, W)`` in [-1, 1], computed as ``x / 127.5 - 1`` in float32 (training's own
  formula, `rtmotion.train.dataset`);
- output side: float ``(B, 3, H, W)`` (or ``(3, H, W)``) in [-1, 1] -> uint8 RGB
  ``(B, H, W, 3)``, computed as ``round((x + 1) * 127.5)`` clamped to [0, 255], each operation
  rounded to float32 and ties rounded to even: bit for bit what
  `rtmotion.pipeline.synthesize.to_uint8_image` gives. A NaN becomes 0.

The torch versions (`frames_torch`) and the CUDA kernels (`frames.cu` via `cupy_kernels`) are
tested against these.
"""

from __future__ import annotations

import numpy as np

_SCALE = np.float32(127.5)
_ONE = np.float32(1.0)


def check_frames_u8(frames: np.ndarray) -> np.ndarray:
    """(B, H, W, 3) view of uint8 frames given as (H, W, 3) or (B, H, W, 3); ValueError otherwise."""
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (H, W, 3) or (B, H, W, 3), got {frames.shape}")
    return frames


def check_images_float(images: np.ndarray) -> np.ndarray:
    """(B, 3, H, W) view of float images given as (3, H, W) or (B, 3, H, W); ValueError otherwise."""
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (3, H, W) or (B, 3, H, W), got {images.shape}")
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"images must be floating point, got {images.dtype}")
    return images


def frames_to_float_numpy(frames: np.ndarray) -> np.ndarray:
    """uint8 RGB (B, H, W, 3) or (H, W, 3) -> float32 (B, 3, H, W) in [-1, 1] (x / 127.5 - 1)."""
    f = check_frames_u8(np.asarray(frames))
    x = f.transpose(0, 3, 1, 2).astype(np.float32)
    return np.ascontiguousarray(x / _SCALE - _ONE, dtype=np.float32)


def float_to_frames_numpy(images: np.ndarray) -> np.ndarray:
    """float (B, 3, H, W) or (3, H, W) in [-1, 1] -> uint8 RGB (B, H, W, 3), rounded, clamped."""
    x = check_images_float(np.asarray(images)).astype(np.float32)
    with np.errstate(invalid="ignore"):
        y = np.rint((x + _ONE) * _SCALE)             # float32 each step, ties to even
    y = np.nan_to_num(y, nan=0.0, posinf=255.0, neginf=0.0)
    return np.ascontiguousarray(np.clip(y, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1))
