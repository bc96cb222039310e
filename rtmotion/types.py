"""Canonical data types shared by every part of rtmotion.

Conventions (see DESIGN.md):
- images at the edges are uint8 RGB arrays, shape (H, W, 3);
- keypoints are in pixels of the frame they came from, shape (K, 3) = x, y, confidence in [0, 1];
  a missing joint has confidence 0 and finite (zero) coordinates, never NaN.
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


@dataclass(frozen=True)
class Pose:
    """The pose of one person in one frame.

    Attributes:
        keypoints: float32 (K, 3): x, y in pixels of the source frame, confidence in [0, 1].
        skeleton: name of the skeleton the joint order follows (see `rtmotion.pose.skeleton`).
    """

    keypoints: np.ndarray
    skeleton: str = "body25"

    @property
    def visible(self) -> np.ndarray:
        """bool (K,): joints with confidence > 0."""
        return self.keypoints[:, 2] > 0

    @property
    def is_empty(self) -> bool:
        """True when no joint was detected (no person in view)."""
        return not bool(self.visible.any())
