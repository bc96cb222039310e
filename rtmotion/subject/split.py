"""Which frames of a subject's training video train and which are held out, and how new the
held-out poses are.

Training holds out one contiguous block in the middle of the video (`heldout_block`) with a guard
band on either side that nothing trains on (`guard_frames`, `training_mask`); `rtmotion eval` and
the score `rtmotion train` prints play that block. Both sides need the same rule, so it lives
here, below `train` and `eval`.

`fit_blocks` picks blocks of training frames as long as the held-out block: what the subject
scores on frames it trained on (its "fit", `rtmotion.eval.quality`) tells a subject that has not
finished learning from one that has learned the clip but not the held-out block's poses.

`pose_novelty` says what the held-out score measures. Body SSIM in the body box is set by pose
precision (docs/BENCHMARKS.md "What a small pose error costs": a perfectly drawn real frame
0.02 body heights off scores ~0.87, 0.07 off ~0.77), so a held-out block whose poses are far
from every pose the subject trained on measures how it draws moves it never saw, which more
training of the same clip does not fix (measured: a studio clip's held-out second, 0.132 body
heights from any training pose, scored 0.745-0.758 after 20, 40 minutes or 2.7x the steps).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from rtmotion.subject.keyframes import (
    PoseDescriptors,
    descriptor_distances,
    pose_descriptors,
)

#: Frames this close (in seconds) to the held-out block train nothing: neither pairs nor
#: keyframes. A frame a few hundredths of a second from a held-out one is nearly the same picture
#: (and a keyframe is handed to the generator as it is), so without the band the first and last
#: held-out frames would score a copy instead of a generalization.
HELDOUT_GUARD_SECONDS = 0.25

#: The held-out poses are "new moves" when their median distance to the nearest trained pose is
#: at least this many times the clip's other blocks' (`PoseNovelty.new_moves`). Measured with
#: `pose_novelty` on real 8 s clips (docs/BENCHMARKS.md, issue 18): the two cuts of a studio dance
#: whose held-out score stayed near 0.75 however long they trained, 1.7x and 1.8x; a dance at
#: home that scored 0.839, 1.4x; a fashion model turning on the spot, 0.7x.
NEW_MOVES_RATIO = 1.5


def heldout_block(num_frames: int, val_fraction: float) -> tuple[int, int]:
    """(start, end) of the held-out block, end exclusive: `val_fraction` of the frames, centred.

    The middle, not the end: the held-out score should say whether the subject has learned the
    person, and the moves around the middle of a clip are the kind the rest of it shows. The
    last second of a dance is often its finale, a move seen nowhere else, which would call a
    converged subject a blob. Measured on a real 8 s clip whose last second is a jumping kick,
    611 steps each: held out at the end, body SSIM 0.740; in the middle, 0.851
    (docs/BENCHMARKS.md). (0, 0) when nothing is held out (`val_fraction` 0).
    """
    n_val = int(round(num_frames * val_fraction)) if val_fraction > 0 else 0
    if n_val <= 0:
        return (0, 0)
    start = (num_frames - n_val) // 2
    return (start, start + n_val)


def guard_frames(fps: float) -> int:
    """Frames on each side of the held-out block that nothing trains on (HELDOUT_GUARD_SECONDS)."""
    return max(1, int(round(HELDOUT_GUARD_SECONDS * max(float(fps), 1.0))))


def training_mask(usable: np.ndarray, block: tuple[int, int], guard: int) -> np.ndarray:
    """bool (T,): frames training may use: a person in them, outside the held-out block and its
    guard bands (`guard` frames on each side)."""
    ok = np.asarray(usable, bool).copy()
    start, end = block
    if end > start:
        ok[max(0, start - guard):min(len(ok), end + guard)] = False
    return ok


def fit_blocks(train: np.ndarray, block: tuple[int, int]) -> list[tuple[int, int]]:
    """Blocks of training frames as long as the held-out `block`: one in the part of the clip
    before it and one in the part after, each the run of training frames nearest that part's
    middle (so neither touches the held-out block's guard bands, nor each other). A part with no
    such run gives none; an empty held-out block gives none.

    Args:
        train: bool (T,) frames training used (`training_mask`).
        block: the held-out (start, end), end exclusive.
    Returns:
        [(start, end), ...] end exclusive, in order, at most two.
    """
    start, end = (int(v) for v in block)
    length = end - start
    train = np.asarray(train, bool)
    if length <= 0 or len(train) < length:
        return []
    # Where a run of `length` training frames starts: a window sum of the mask equal to `length`.
    whole = np.convolve(train.astype(np.int64), np.ones(length, np.int64), "valid") == length
    starts = np.flatnonzero(whole)
    blocks = []
    for lo, hi in ((0, start), (end, len(train))):
        inside = starts[(starts >= lo) & (starts + length <= hi)]
        if len(inside):
            s = int(inside[np.argmin(np.abs(inside - (lo + hi - length) / 2))])
            blocks.append((s, s + length))
    return blocks


@dataclass(frozen=True)
class PoseNovelty:
    """How far the held-out poses are from the poses the subject trained on, against how far any
    other block of the clip is from the rest.

    Distances are `rtmotion.subject.keyframes` pose-descriptor distances (RMS joint offset
    relative to the mid-hip, in body heights, plus a small term for where the mid-hip stands),
    so a pose differs by its 2D articulation: a turn of the body that keeps the joints in place
    (a front view and a back view) is not told apart.

    heldout: median over the held-out block's frames of the distance to the nearest pose of a
        frame training used (outside the block and its guard bands).
    others: the same number for every other block of the clip of the held-out block's length
        (each against the frames outside it and its guard bands), median over the blocks: what
        "a second of this clip the rest never showed" usually is. Measured the same way as
        `heldout`, so the two compare whatever the clip's pace.
    others_p90: the 90th percentile over those blocks.
    """

    heldout: float
    others: float
    others_p90: float

    @property
    def ratio(self) -> float:
        return self.heldout / max(self.others, 1e-6)

    @property
    def new_moves(self) -> bool:
        """The held-out block shows moves the rest of the clip does not (NEW_MOVES_RATIO)."""
        return self.ratio >= NEW_MOVES_RATIO

    def describe(self) -> str:
        return (f"held-out poses {self.heldout:.3f} body heights from the nearest trained pose, "
                f"{self.ratio:.1f}x what other parts of the clip are from the rest ({self.others:.3f})")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "new_moves": self.new_moves}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PoseNovelty:
        return cls(float(d["heldout"]), float(d["others"]), float(d["others_p90"]))

    @classmethod
    def from_record(cls, d: Any) -> PoseNovelty | None:
        """`from_dict` of a record that may hold none (subject.json, an eval report's source)."""
        return cls.from_dict(d) if isinstance(d, dict) and d else None


#: At most this many frames of a block are looked up (evenly spaced): the medians need no more.
NOVELTY_SAMPLES = 48


def block_novelty(desc: PoseDescriptors, usable: np.ndarray, block: tuple[int, int], guard: int
                  ) -> float | None:
    """Median distance of `block`'s usable poses to the nearest usable pose outside the block and
    its guard bands (body heights); None when either side has none.

    Args:
        desc: `pose_descriptors` of the whole track (leading dimension T).
        usable: bool (T,) frames with a person.
        block: (start, end), end exclusive.
        guard: frames on each side of the block that are neither side.
    """
    rest = np.flatnonzero(training_mask(usable, block, guard))
    inside = np.flatnonzero(np.asarray(usable[block[0]:block[1]], bool)) + block[0]
    if len(rest) == 0 or len(inside) == 0:
        return None
    inside = inside[np.linspace(0, len(inside) - 1, min(len(inside), NOVELTY_SAMPLES)).astype(int)]
    among = PoseDescriptors(*(d[rest] for d in desc))
    return float(np.median([descriptor_distances(PoseDescriptors(*(d[t] for d in desc)), among).min()
                            for t in inside]))


def pose_novelty(keypoints: np.ndarray, usable: np.ndarray, block: tuple[int, int], fps: float
                 ) -> PoseNovelty | None:
    """`PoseNovelty` of the held-out `block` of a pose track.

    Args:
        keypoints: float (T, 25, 3) BODY25 poses of the training video, pixels.
        usable: bool (T,) frames with a person (`rtmotion.subject.crop.usable_frames`).
        block: the held-out (start, end), end exclusive.
        fps: frames per second (the guard bands).
    Returns:
        None when the block, the frames around it or every other block hold no usable pose.
    """
    start, end = block
    length = end - start
    if length <= 0:
        return None
    usable = np.asarray(usable, bool)
    guard = guard_frames(fps)
    desc = pose_descriptors(np.asarray(keypoints))
    held = block_novelty(desc, usable, block, guard)
    # The clip tiled into blocks of the same length, aligned on the held-out one (which is left out).
    starts = [s for s in range(start % length, len(usable) - length + 1, length) if s != start]
    others = [v for s in starts if (v := block_novelty(desc, usable, (s, s + length), guard)) is not None]
    if held is None or not others:
        return None
    return PoseNovelty(held, float(np.median(others)), float(np.percentile(others, 90)))
