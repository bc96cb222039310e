"""A `VideoWriter` whose frames carry their own timestamps (variable frame rate output).

`VideoWriter` gives frame i the time i / fps, right for constant-rate sources. A variable-frame-
rate source (phones, screen recordings) must keep its own timing, or the converted video drifts
from its audio; here each frame is written with `timestamp` seconds, stored as pts in a fine
time base (1/90000 s, MPEG's clock), so output timestamps follow the source to 11 us.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from rtmotion.io.writer import VideoWriter

TIME_BASE = Fraction(1, 90000)  # seconds per pts tick


class TimedVideoWriter(VideoWriter):
    """`VideoWriter` with `write(image, timestamp)`; `fps` is the nominal (average) rate.

    Timestamps are seconds from the start (the first frame's is subtracted), strictly
    increasing; a timestamp not after the previous one is moved one tick later (encoders refuse
    equal pts)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self._last_pts: int | None = None
        self._t0: float | None = None
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def _open_stream(self, width: int, height: int) -> None:
        super()._open_stream(width, height)
        self._stream.codec_context.time_base = TIME_BASE

    def write(self, image: np.ndarray, timestamp: float | None = None) -> None:  # type: ignore[override]
        """Encode one uint8 RGB (H, W, 3) frame shown at `timestamp` seconds (None: one nominal
        frame after the previous one)."""
        image = self._checked_frame(image)
        if timestamp is None:
            pts = 0 if self._last_pts is None else self._last_pts + int(round(1 / (self.fps * TIME_BASE)))
        else:
            if self._t0 is None:
                self._t0 = float(timestamp)
            pts = int(round((float(timestamp) - self._t0) / TIME_BASE))
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        self._encode(image, pts, pts * TIME_BASE + 1 / self.fps)
        self._last_pts = pts
