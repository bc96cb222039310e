"""Poses the target's clip never showed, counted over a run (convert, live, eval).

The generator draws each frame from the subject's keyframe nearest in pose, warped to the pose
(`rtmotion.pipeline.reference`). Where the driving pose is far from every keyframe (a turn to the
profile, arms up, a walk away from the camera, when the target's clip showed none of it), that
warp reaches a long way and the person comes out smeared or in fragments: the look depends on
what the target was filmed doing, not on the run. This counts those frames and says when they
happen, so a user knows which stretches of a result to expect less of, and why.

Level (`NEW_POSE_DISTANCE`, body heights: `rtmotion.subject.keyframes.descriptor_distances`),
measured with `rtmotion eval` (docs/BENCHMARKS.md, "Poses the target never showed"): a subject's
own held-out frames are 0.02-0.05 from the nearest keyframe where it scores well (uni8, ubc8),
0.13 where the block shows new moves (fresh8: 90 % of its frames over 0.1, body SSIM 0.770 on
them, 0.809 on the others); demo-ada driven by another dancer's dance or twist: no frame over
0.1; by a walk that turns away from the camera: 29-40 % of the frames, scoring 0.53 against
0.65-0.66 on the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: A frame whose pose is farther than this (body heights) from every keyframe is a pose the
#: target's clip did not show (module docstring).
NEW_POSE_DISTANCE = 0.1
#: Stretches of new poses closer than this (seconds) are reported as one.
JOIN_SECONDS = 0.5
#: At most this many stretches are named in the summary line (all are in `to_dict`).
NAMED_STRETCHES = 3
#: The summaries' word when no frame shows a new pose.
NO_NEW_POSES = "none: every pose is near one the target showed"


@dataclass
class PoseCoverage:
    """Per-frame distance of the pose drawn to the subject's nearest keyframe, over a run.

    `add(index, distance)` for every frame drawn (`Drawn.keyframe_distance`; None where nothing
    new was drawn: a held pose, the empty scene, a subject without keyframes, which is not
    counted). Frame indices rise through the run (source frames for convert and eval, the
    capture count for live, which a looping file restarts); `fps` turns them into seconds.
    """

    fps: float
    level: float = NEW_POSE_DISTANCE
    _index: list[int] = field(default_factory=list)
    _distance: list[float] = field(default_factory=list)

    def add(self, index: int, distance: float | None) -> None:
        """Frame `index`'s distance (body heights; None: nothing new drawn, not counted)."""
        if distance is not None:
            self._index.append(int(index))
            self._distance.append(float(distance))

    @property
    def frames(self) -> int:
        """Frames measured."""
        return len(self._distance)

    def new(self) -> np.ndarray:
        """bool (frames,): which measured frames show a new pose."""
        return np.asarray(self._distance, dtype=np.float64) > self.level

    def stretches(self) -> list[tuple[float, float]]:
        """(start, end) seconds of the runs of new-pose frames, end exclusive (one frame
        period after the last), runs less than JOIN_SECONDS apart joined."""
        idx = np.asarray(self._index, dtype=np.int64)[self.new()]
        if len(idx) == 0:
            return []
        gap = max(1, int(round(JOIN_SECONDS * self.fps)))
        out: list[list[int]] = [[int(idx[0]), int(idx[0])]]
        for i in idx[1:]:
            if i - out[-1][1] <= gap:
                out[-1][1] = int(i)
            else:
                out.append([int(i), int(i)])
        return [(a / self.fps, (b + 1) / self.fps) for a, b in out]

    def to_dict(self) -> dict[str, Any]:
        """The report's record: level, frames measured, new, share, median distance, stretches."""
        d = np.asarray(self._distance, dtype=np.float64)
        new = int(self.new().sum())
        return {"level": self.level, "frames": self.frames, "new": new,
                "share": round(new / self.frames, 4) if self.frames else 0.0,
                "median_distance": round(float(np.median(d)), 4) if self.frames else None,
                "stretches_s": [[round(a, 2), round(b, 2)] for a, b in self.stretches()]}


def describe(record: dict[str, Any] | None) -> str | None:
    """One summary line of a `PoseCoverage.to_dict` record when some frames show new poses,
    else None."""
    if not record or not record.get("new"):
        return None
    new, frames, parts = int(record["new"]), int(record["frames"]), record.get("stretches_s") or []
    named = ", ".join(f"{a:.1f}-{b:.1f} s" for a, b in parts[:NAMED_STRETCHES])
    if len(parts) > NAMED_STRETCHES:
        named += f" and {len(parts) - NAMED_STRETCHES} more"
    return (f"{new} of {frames} frames ({100.0 * new / frames:.0f} %; {named}) show poses the "
            f"target's clip never did (over {float(record['level']):.2f} body heights from every "
            f"keyframe): the person is drawn from far-off pictures there and usually looks worse; "
            f"to draw such moves well, film the target doing them and train again")
