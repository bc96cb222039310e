"""What to draw when the source shows no person (offline and live alike).

A short dropout (the estimator missed a few frames, a hand passed over the face) should not
flash: the last pose is held for up to `hold_frames` frames. A longer absence (the dancer left)
shows the subject's empty scene, i.e. the generator's frame for an empty pose (its background),
and the synthesizer's temporal state is dropped so the next person starts afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PERSON, HELD, BLANK = "person", "held", "blank"
#: no person and no hold rule: the synthesizer's own rule decides (repeat its last image)
ABSENT = "absent"
#: how long a missing person keeps their last pose by default (convert, live), in seconds
HOLD_SECONDS = 0.5


@dataclass
class GapCounts:
    """Frames without a person: `held` (last pose repeated) and `blank` (empty scene)."""

    held: int = 0
    blank: int = 0

    @property
    def total(self) -> int:
        return self.held + self.blank


class PersonGapPolicy:
    """Decides, frame by frame, which pose the synthesizer gets.

    `__call__(kp)` with float (K, 3) normalized keypoints returns (keypoints to synthesize,
    state), state one of PERSON, HELD, BLANK. For BLANK the keypoints are all zeros and the
    caller must `reset()` its synthesizer once (`needs_reset` tells when), so that it draws the
    empty scene instead of repeating its last image."""

    def __init__(self, hold_frames: int) -> None:
        self.hold_frames = max(0, int(hold_frames))
        self._last: np.ndarray | None = None
        self._gap = 0
        self.counts = GapCounts()
        self.needs_reset = False

    def __call__(self, kp: np.ndarray) -> tuple[np.ndarray, str]:
        self.needs_reset = False
        if (np.asarray(kp)[:, 2] > 0).any():
            self._gap = 0
            self._last = kp
            return kp, PERSON
        self._gap += 1
        if self._last is not None and self._gap <= self.hold_frames:
            self.counts.held += 1
            return self._last, HELD
        if self._last is not None:
            self._last = None
            self.needs_reset = True  # the first blank frame after a person
        self.counts.blank += 1
        return np.zeros_like(kp), BLANK
