"""Frame conversions at the model's edges in torch (any device): same definition as
`rtmotion.kernels.frames_numpy` (read its docstring), tested bit for bit against it on the CPU
(`tests/kernels/test_frames.py`; the CUDA test of the same is written, not yet run on a GPU).

On CUDA, torch divides by a Python (CPU) scalar as a multiply by its reciprocal, which is one
float32 ulp off a true division for 111 of the 256 uint8 levels; `frames_to_float_torch`
therefore divides by a 0-dim tensor on the frames' device there (a true division, as numpy's).

Both functions take an optional preallocated ``out`` tensor, so a caller that keeps static
buffers (the CUDA graph of `rtmotion.pipeline.cuda_synth`) writes into the same memory every
frame. Each is a short chain of elementwise torch ops (several launches); the CUDA kernels in
`frames.cu` do the same in one.
"""

from __future__ import annotations

import torch


def _out(out: torch.Tensor | None, shape: tuple[int, ...], dtype: torch.dtype, like: torch.Tensor
         ) -> torch.Tensor:
    if out is None:
        return torch.empty(shape, dtype=dtype, device=like.device)
    if tuple(out.shape) != shape or out.dtype != dtype or out.device != like.device:
        raise ValueError(f"out must be {dtype} {shape} on {like.device}, got {out.dtype} "
                         f"{tuple(out.shape)} on {out.device}")
    return out


def frames_to_float_torch(frames: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 RGB (B, H, W, 3) or (H, W, 3) -> float32 (B, 3, H, W) in [-1, 1] (x / 127.5 - 1).

    Args:
        frames: uint8 tensor, any device.
        out: optional float32 (B, 3, H, W) tensor on the same device to write into.
    Returns:
        float32 (B, 3, H, W) (``out`` when given).
    """
    if frames.dtype != torch.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    f = frames[None] if frames.ndim == 3 else frames
    if f.ndim != 4 or f.shape[-1] != 3:
        raise ValueError(f"frames must be (H, W, 3) or (B, H, W, 3), got {tuple(frames.shape)}")
    b, h, w, _ = f.shape
    dst = _out(out, (b, 3, h, w), torch.float32, f)
    dst.copy_(f.permute(0, 3, 1, 2))
    # a device tensor, not a CPU scalar: CUDA's scalar division is a reciprocal multiply (module
    # docstring); torch.full is a fill kernel, so this stays capturable in a CUDA graph
    scale = 127.5 if dst.device.type == "cpu" else torch.full((), 127.5, dtype=torch.float32,
                                                               device=dst.device)
    return dst.div_(scale).sub_(1.0)


def float_to_frames_torch(images: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """float (B, 3, H, W) or (3, H, W) in [-1, 1] -> uint8 RGB (B, H, W, 3), rounded, clamped.

    The same float32 arithmetic as `rtmotion.pipeline.synthesize.to_uint8_image` (an add, a
    multiply, round half to even: each a separate IEEE-rounded elementwise op on any device;
    bit for bit on the CPU, tested; on CUDA the test is written and has not run on a GPU yet),
    kept on the input's device. A NaN becomes 0.

    Args:
        images: floating tensor, any device.
        out: optional uint8 (B, H, W, 3) tensor on the same device to write into.
    Returns:
        uint8 (B, H, W, 3) (``out`` when given), contiguous.
    """
    x = images[None] if images.ndim == 3 else images
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"images must be (3, H, W) or (B, 3, H, W), got {tuple(images.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"images must be floating point, got {images.dtype}")
    b, _, h, w = x.shape
    dst = _out(out, (b, h, w, 3), torch.uint8, x)
    y = ((x.float() + 1.0) * 127.5).round_().nan_to_num_(0.0).clamp_(0, 255)
    dst.copy_(y.permute(0, 2, 3, 1))
    return dst
