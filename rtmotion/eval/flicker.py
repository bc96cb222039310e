"""Temporal flicker figures of a frame sequence, computed on the fly (no frames kept beyond two).

Two figures per sequence, both in grey levels (0-255), averaged over pixels, channels and time:

- change:  mean |f_t - f_{t-1}|. Large for fast motion as well as for flicker.
- jitter:  mean |f_{t+1} - 2 f_t + f_{t-1}|, the second temporal difference. Steady motion
  (constant speed) and a still scene give ~0; frame-to-frame flicker, popping textures and
  shaky limbs give a large value, since they reverse direction from one frame to the next.

`rtmotion eval` reports both for the generated and the real frames and defines
*flicker* = jitter(generated) - jitter(real): how much more the output jitters than the true
video of the same motion (0 = as steady as reality; below 0 = smoother than the real video,
e.g. blurrier). The real video's jitter is the floor set by the motion itself and by noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FlickerStats:
    """Summary of one sequence. `change`/`jitter` are None with too few frames (2 / 3)."""

    frames: int
    change: float | None
    jitter: float | None


class FlickerMeter:
    """Accumulates `change` and `jitter` over a stream of equally sized frames.

    Usage: `m = FlickerMeter(); for f in frames: m.update(f); m.result()`. A gap in the sequence
    (frames skipped) is marked with `break_run()`: the sums keep their totals but no difference is
    taken across the gap. A frame of another size breaks the run by itself.
    """

    def __init__(self) -> None:
        self._prev: np.ndarray | None = None
        self._prev2: np.ndarray | None = None
        self._change_sum = 0.0
        self._change_n = 0
        self._jitter_sum = 0.0
        self._jitter_n = 0
        self.frames = 0

    def break_run(self) -> None:
        """The next frame does not follow the last one in time: do not difference across."""
        self._prev = self._prev2 = None

    def update(self, frame: np.ndarray) -> None:
        """Add one frame, uint8 (H, W, C) or float in grey levels."""
        f = np.asarray(frame, dtype=np.float32)
        if self._prev is not None and self._prev.shape != f.shape:
            self.break_run()
        if self._prev is not None:
            self._change_sum += float(np.abs(f - self._prev).mean())
            self._change_n += 1
            if self._prev2 is not None:
                self._jitter_sum += float(np.abs(f - 2.0 * self._prev + self._prev2).mean())
                self._jitter_n += 1
        self._prev2, self._prev = self._prev, f
        self.frames += 1

    def result(self) -> FlickerStats:
        return FlickerStats(
            frames=self.frames,
            change=self._change_sum / self._change_n if self._change_n else None,
            jitter=self._jitter_sum / self._jitter_n if self._jitter_n else None,
        )


def flicker_stats(frames: list[np.ndarray] | np.ndarray) -> FlickerStats:
    """`change` and `jitter` of a whole sequence (T, H, W, C); see the module docstring."""
    m = FlickerMeter()
    for f in frames:
        m.update(f)
    return m.result()
