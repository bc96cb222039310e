"""A `VideoWriter` whose frames carry their own timestamps (variable frame rate output).

`VideoWriter` gives frame i the time i / fps, right for constant-rate sources. A variable-frame-
rate source (phones, screen recordings) must keep its own timing, or the converted video drifts
from its audio; here each frame is written with `timestamp` seconds, stored as pts in a fine
time base (1/90000 s, MPEG's clock), so output timestamps follow the source to 11 us.
"""

from __future__ import annotations

from fractions import Fraction

import av
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
        if self._closed:
            raise ValueError(f"VideoWriter for {self.path} is closed")
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            desc = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
            raise ValueError(f"expected a uint8 RGB image of shape (H, W, 3), got {desc}")
        h, w = image.shape[:2]
        if self._stream is None:
            self._open_stream(w, h)
        if (w, h) != self.size:
            raise ValueError(f"frame {self.frames_written} is {w}x{h}, but this video is {self.size[0]}x{self.size[1]}")
        ow, oh = self.output_size  # type: ignore[misc]
        if (ow, oh) != (w, h):
            image = np.pad(image, ((0, oh - h), (0, ow - w), (0, 0)), mode="edge")
        if timestamp is None:
            pts = 0 if self._last_pts is None else self._last_pts + int(round(1 / (self.fps * TIME_BASE)))
        else:
            if self._t0 is None:
                self._t0 = float(timestamp)
            pts = int(round((float(timestamp) - self._t0) / TIME_BASE))
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts = pts
        frame.time_base = TIME_BASE
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self._last_pts = pts
        self.frames_written += 1
        if self._audio is not None:
            self._audio.pump(pts * TIME_BASE + 1 / self.fps)
