"""YUV4MPEG2 (.y4m) writing: the raw format Chromium's fake camera plays
(`--use-file-for-fake-video-capture=FILE.y4m`), written without an encoder.

    write_y4m("bruno.y4m", frames, fps=30)   # frames: uint8 RGB (H, W, 3), even W and H

4:2:0 chroma (`C420jpeg`, full range as OpenCV's RGB -> I420 gives it). Chromium loops the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from rtmotion.atomic import atomic_path


def write_y4m(path: str | Path, frames: Iterable[np.ndarray], fps: float | Fraction = 30) -> int:
    """Write uint8 RGB (H, W, 3) frames (one size, even W and H) as a .y4m file (atomically);
    returns the number of frames written. Raises ValueError for an odd or changing size."""
    rate = Fraction(fps).limit_denominator(1001)
    n = 0
    size: tuple[int, int] | None = None
    with atomic_path(path, suffix=".y4m") as tmp, open(tmp, "wb") as f:
        for image in frames:
            h, w = image.shape[:2]
            if size is None:
                if w % 2 or h % 2:
                    raise ValueError(f"y4m 4:2:0 needs an even frame size, got {w}x{h}")
                size = (w, h)
                f.write(f"YUV4MPEG2 W{w} H{h} F{rate.numerator}:{rate.denominator} Ip A1:1 C420jpeg\n"
                        .encode("ascii"))
            elif (w, h) != size:
                raise ValueError(f"frame {n} is {w}x{h}, the first was {size[0]}x{size[1]}")
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2YUV_I420).tobytes())
            n += 1
    return n
