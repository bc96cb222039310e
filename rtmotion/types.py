"""Canonical data types shared by every part of rtmotion.

Conventions (the same everywhere; `rtmotion/README.md`):
- images at the edges are uint8 RGB arrays, shape (H, W, 3);
- keypoints are in pixels of the frame they came from, shape (K, 3) = x, y, confidence in [0, 1];
  a missing joint has confidence 0 and finite (zero) coordinates, never NaN (a pose sequence is
  `rtmotion.pose.posefile.PoseSequence`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One decoded video frame.

    Attributes:
        index: 0-based frame number in the source (before any stride).
        timestamp: presentation time in seconds from the stream start.
        image: uint8 RGB, shape (H, W, 3), C-contiguous.
    """

    index: int
    timestamp: float
    image: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])
