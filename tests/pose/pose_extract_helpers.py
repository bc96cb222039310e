"""Plug-in extractors for the parallel-extraction tests, loaded by worker processes through
`--extractor pose_extract_helpers:Name` (spawned workers inherit the test's sys.path).
They stand in for a model only to control timing and failures; the video decode, worker
processes, queues and termination they exercise are all real."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import numpy as np

from rtmotion.pose.extractors.base import PoseExtractor


class BrightnessExtractor(PoseExtractor):
    """A deterministic fake 'pose': the nose sits at (mean brightness, frame counter).

    Options: delay (s per frame), fail_in ("rtmotion-pose-1": raise in that worker process),
    marker (a file this extractor writes when it is closed normally, i.e. it was not killed).
    """

    name = "brightness"

    def __init__(self, delay: float = 0.0, fail_in: str = "", marker: str = "") -> None:
        super().__init__()
        self.delay, self.fail_in, self.marker = float(delay), fail_in, marker

    def _open(self) -> None:
        self._n = 0

    def _estimate(self, image: np.ndarray) -> np.ndarray:
        if self.fail_in and multiprocessing.current_process().name == self.fail_in:
            raise RuntimeError("simulated model failure")
        time.sleep(self.delay)
        self._n += 1
        kp = np.zeros((25, 3), np.float32)
        kp[0] = (float(image.mean()), float(self._n), 1.0)
        return kp

    def _close(self) -> None:
        if self.marker:
            with open(Path(self.marker) / f"closed-{multiprocessing.current_process().name}", "w"):
                pass


class SlowExtractor(BrightnessExtractor):
    """BrightnessExtractor taking 1 s per frame (for interrupting a run from the CLI)."""

    def __init__(self, delay: float = 1.0, **kw: object) -> None:
        super().__init__(delay=delay, **kw)  # type: ignore[arg-type]
