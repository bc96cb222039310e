"""Small helpers shared by the video reader and writer: frame-rate parsing, rotation, PyAV
feature detection. Nothing here opens files."""

from __future__ import annotations

from fractions import Fraction
from numbers import Rational

import av
import numpy as np

# Frame rates of the NTSC family (n * 1000/1001) are what people mean when they pass 29.97 or
# 23.976 as a float; snapping to them keeps timestamps exact over hours of video.
_NTSC_BASES = (24, 30, 48, 60, 120, 240)


def rate_text(fps: Fraction | float | int | object) -> str:
    """A frame rate for people: "30", "29.97", "23.976" (never "11900/397")."""
    value = float(to_fraction(fps))
    return f"{value:.0f}" if abs(value - round(value)) < 1e-9 else f"{value:.3f}".rstrip("0")


def to_fraction(fps: Fraction | float | int | object) -> Fraction:
    """Return `fps` (frames per second) as an exact positive Fraction.

    Accepts Fraction, int, float, PyAV/`AVRational` rates (anything with numerator/denominator).
    Floats close to an NTSC rate (e.g. 29.97, 23.976, 59.94) snap to n*1000/1001; other floats are
    limited to a denominator of at most 1001.

    Raises ValueError for a non-positive or non-finite rate.
    """
    if isinstance(fps, (Fraction, int, Rational)) or (
        hasattr(fps, "numerator") and hasattr(fps, "denominator") and not isinstance(fps, float)
    ):
        value = Fraction(int(fps.numerator), int(fps.denominator))  # type: ignore[union-attr]
    else:
        f = float(fps)  # type: ignore[arg-type]
        if not np.isfinite(f) or f <= 0:
            raise ValueError(f"frame rate must be a positive number, got {fps!r}")
        value = Fraction(f).limit_denominator(1001)
        for base in _NTSC_BASES:
            ntsc = Fraction(base * 1000, 1001)
            if abs(f - float(ntsc)) < 2e-3 and float(value) != float(base):
                value = ntsc
                break
    if value <= 0:
        raise ValueError(f"frame rate must be a positive number, got {fps!r}")
    return value


def normalize_rotation(degrees: float) -> int:
    """Round `degrees` to the nearest multiple of 90 in [0, 360)."""
    return int(round(float(degrees) / 90.0)) * 90 % 360


def apply_rotation(image: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate an image clockwise by `rotation` degrees (0, 90, 180 or 270) for display.

    image: (H, W, C) array of any dtype. Returns a C-contiguous array, (W, H, C) for 90/270.
    """
    rotation = normalize_rotation(rotation)
    if rotation == 0:
        return image
    # np.rot90 turns counter-clockwise for positive k, so clockwise r is k = -r/90.
    return np.ascontiguousarray(np.rot90(image, k=-rotation // 90))


def even_size(width: int, height: int, pix_fmt: str) -> tuple[int, int]:
    """The smallest (width, height) >= the given one that `pix_fmt`'s chroma subsampling allows.

    yuv420p needs both even, yuv422p an even width, yuv444p/rgb anything.
    """
    fmt = av.VideoFormat(pix_fmt, width, height)
    # A subsampled chroma plane has ceil(w / 2) columns; padding is needed when that is not w/2.
    sub_w = any(c.width != width for c in fmt.components if c.width)
    sub_h = any(c.height != height for c in fmt.components if c.height)
    return width + (width % 2 if sub_w else 0), height + (height % 2 if sub_h else 0)
