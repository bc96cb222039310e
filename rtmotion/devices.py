"""The one device resolver: "auto" | "cpu" | "cuda" | "cuda:N" -> torch.device.

A GPU that was asked for and is not there is an error, never a silent fall back to the CPU
(the complaint users of comparable tools make most: "the GPU is not used, 1 fps").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from rtmotion.errors import InputError

DEVICE_CHOICES_HINT = "use auto, cpu, cuda or cuda:N"


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """torch.device for `spec`.

    "auto": torch's current CUDA GPU when torch sees one, else the CPU. "cuda"/"cuda:N" when no
    CUDA GPU is available (or N is out of range): InputError naming what to use instead.
    A CUDA device always comes back with its index ("cuda" -> "cuda:<current device>"), so
    nothing downstream has to guess one (`device.index or 0` would name GPU 0 whatever torch's
    current device is).
    """
    if isinstance(spec, torch.device):
        dev = spec
    else:
        name = str(spec).strip().lower()
        if name == "auto":
            if not torch.cuda.is_available():
                return torch.device("cpu")
            name = "cuda"
        try:
            dev = torch.device(name)
        except (RuntimeError, TypeError) as e:
            raise InputError(None, f"unknown device '{spec}' ({e})", DEVICE_CHOICES_HINT) from None
    if dev.type not in ("cpu", "cuda"):
        raise InputError(None, f"device '{spec}' is not supported", DEVICE_CHOICES_HINT)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(None, f"device '{spec}' asked for, but no CUDA GPU is available to torch",
                             "use --device cpu, or install a CUDA build of torch")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(None, f"device '{spec}': only {torch.cuda.device_count()} CUDA GPU(s) here",
                             DEVICE_CHOICES_HINT)
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
    return dev


def tf32_state() -> dict[str, bool]:
    """Whether CUDA "fp32" runs as TF32 here (10-bit mantissa inputs): {"cudnn": convolutions
    (torch's default is True), "matmul": matrix products (default False)}. Numbers measured
    with "cudnn" True are TF32 numbers, not fp32 ones."""
    return {"cudnn": bool(torch.backends.cudnn.allow_tf32),
            "matmul": bool(torch.backends.cuda.matmul.allow_tf32)}


@contextlib.contextmanager
def strict_fp32() -> Iterator[None]:
    """TF32 off for cuDNN convolutions and CUDA matmuls inside the block (restored after): what
    an fp32 parity check against the CPU needs (TF32 convs differ by ~1e-3). No effect on the
    CPU."""
    before = tf32_state()
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = before["cudnn"]
        torch.backends.cuda.matmul.allow_tf32 = before["matmul"]
