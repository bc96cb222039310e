"""Follow one chosen person among several: the pose extractor on a crop around them, and a
guard that drops a joint rather than let it jump to someone else.

`PersonTracker` wraps a per-image extractor (MediaPipe in tracking mode). Each frame:

1. crop the frame to the person's box grown by `margin` x their height on every side. The
   crop moves only when the person comes within half a margin of its edge or it has grown
   much larger than needed, so for a person dancing in place the extractor sees a steady
   image, as it would see the whole frame (its tracker seeds each frame with the last one's
   landmarks, in the image's coordinates);
2. run the extractor on the crop and move the landmarks back to frame pixels;
3. `JointGuard`: a joint farther than `max_jump` x body height from where it was last accepted
   (more per frame it has been missing), or at the end of a bone much longer than that bone
   has been, is dropped (confidence 0): the offline gap filling / live hold takes over, never
   a limb drawn to a neighbour's hand;
4. the person's box becomes the accepted joints' box (the crop follows it). After `lost_after`
   frames without the person the box is looked for again (`PeopleCounter`, the one nearest the
   last box).

Costs: the crop is a copy of part of the frame (well under 1 ms); MediaPipe on a smaller image
runs slightly faster than on the whole frame.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from rtmotion.pose.extractors.base import PoseExtractor
from rtmotion.pose.people import Box, PeopleCounter
from rtmotion.pose.person import PersonChoice, locate, nearest_box
from rtmotion.pose.skeleton import BODY25

log = logging.getLogger(__name__)

# Bones (parent, child) along the limbs, parents first: a dropped joint takes its children.
_LIMBS: tuple[tuple[str, str], ...] = (
    ("r_shoulder", "r_elbow"), ("r_elbow", "r_wrist"), ("l_shoulder", "l_elbow"),
    ("l_elbow", "l_wrist"), ("r_hip", "r_knee"), ("r_knee", "r_ankle"), ("l_hip", "l_knee"),
    ("l_knee", "l_ankle"), ("r_ankle", "r_heel"), ("r_ankle", "r_big_toe"),
    ("l_ankle", "l_heel"), ("l_ankle", "l_big_toe"),
)


class JointGuard:
    """Drops joints that jump (see module doc). Call per frame, in order; `dropped` counts.

    Args:
        max_jump: a joint may move this fraction of the body height per frame since it was
            last accepted (times the frames since then).
        max_stretch: a limb bone longer than this times the longest it has been (decaying
            slowly) drops its end joint.
        forget: frames after which a missing joint's last position no longer constrains it.
    """

    #: joints a frame must show for its body height to count (BODY25 less the small toes: 23)
    WHOLE = 18

    def __init__(self, max_jump: float = 0.35, max_stretch: float = 1.5, forget: int = 15) -> None:
        self.max_jump, self.max_stretch, self.forget = float(max_jump), float(max_stretch), int(forget)
        k = BODY25.num_joints
        self.last = np.zeros((k, 2), np.float64)    # last accepted position (pixels)
        self.age = np.full(k, 10 ** 6, np.int64)     # frames since accepted
        self.bones = {b: 0.0 for b in _LIMBS}        # longest recent length (pixels)
        self.height = 0.0                            # body height (pixels), smoothed
        self.dropped = 0                             # joint-frames dropped so far
        self._idx = [(BODY25.index(a), BODY25.index(b)) for a, b in _LIMBS]

    def __call__(self, keypoints: np.ndarray) -> np.ndarray:
        """float32 (K, 3) frame pixels -> the same with suspect joints zeroed."""
        kp = np.array(keypoints, np.float32, copy=True)
        self.age += 1
        seen = kp[:, 2] > 0
        if seen.sum() >= self.WHOLE:
            # The body height from frames that show (nearly) the whole body, and not from one
            # that a stray joint made taller.
            h = float(np.ptp(kp[seen, 1]))
            ref = self.height if self.height > 0 else h
            self.height = ref if h > 1.5 * ref else 0.8 * ref + 0.2 * h
        size = self.height
        bad = np.zeros(len(kp), bool)
        known = seen & (self.age <= self.forget)
        if known.any() and size > 0:
            dist = np.hypot(*(kp[:, :2] - self.last).T)
            bad |= known & (dist > self.max_jump * size * np.minimum(self.age, self.forget))
        for (a, b), name in zip(self._idx, _LIMBS, strict=True):
            if bad[a] or not seen[a]:
                if seen[b] and bad[a]:
                    bad[b] = True
                continue
            if not seen[b]:
                continue
            length = float(np.hypot(*(kp[b, :2] - kp[a, :2])))
            ref = self.bones[name]
            if ref > 0 and length > self.max_stretch * ref:
                bad[b] = True
            elif not bad[b]:
                self.bones[name] = max(0.995 * ref, length)
        self.dropped += int((bad & seen).sum())
        kp[bad] = 0.0
        ok = kp[:, 2] > 0
        self.last[ok] = kp[ok, :2]
        self.age[ok] = 0
        return kp


def _grow(box: tuple[float, float, float, float], by: float, size: tuple[int, int]) -> Box:
    """`box` grown by `by` pixels on every side, clipped to the (W, H) frame."""
    x0, y0, x1, y1 = box
    w, h = size
    return (int(max(0, np.floor(x0 - by))), int(max(0, np.floor(y0 - by))),
            int(min(w, np.ceil(x1 + by))), int(min(h, np.ceil(y1 + by))))


def _centre_gap(a: Box, b: Box) -> float:
    """Distance (pixels) between two boxes' centres."""
    return float(np.hypot((a[0] + a[2] - b[0] - b[2]) / 2.0, (a[1] + a[3] - b[1] - b[3]) / 2.0))


def _contains(outer: Box, inner: Box) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2] and outer[3] >= inner[3]


class PersonTracker(PoseExtractor):
    """A per-image extractor that follows one person (see module doc).

    Args:
        inner: the extractor run on the crops (opened and closed with this one).
        box: the person's (x0, y0, x1, y1) box in the first frame, pixels; None: found on the
            first frame with `PeopleCounter` (`rtmotion.pose.person.locate` of `choice`).
        choice: the people found and the one chosen (`rtmotion.pose.person.PersonChoice`),
            for a tracker that starts on another frame than the choice was made on.
        margin: the crop reaches this fraction of the person's height beyond their box.
        lost_after: frames without the person after which they are looked for again.
    """

    name = "person"
    #: the fraction of the way an edge of the person's box moves in per frame
    SHRINK = 0.1

    def __init__(self, inner: PoseExtractor, box: Box | None, choice: PersonChoice | None = None,
                 margin: float = 0.25, lost_after: int = 15) -> None:
        super().__init__()
        self.inner = inner
        self.skeleton = inner.skeleton
        self.box: tuple[float, float, float, float] | None = None if box is None else tuple(map(float, box))  # type: ignore[assignment]
        self.choice = choice
        self.margin = float(margin)
        self.lost_after = int(lost_after)
        self.guard = JointGuard()
        self.crop: Box | None = None
        self.lost = 0
        self.searches = 0      # PeopleCounter runs (first frame without a box, after a loss)
        self._counter: Any = None
        self._last_kp: np.ndarray | None = None

    def _open(self) -> None:
        self.inner.open()

    def _close(self) -> None:
        self.inner.close()
        if self._counter is not None:
            self._counter.__exit__(None, None, None)
            self._counter = None

    def _search(self, image: np.ndarray) -> None:
        """Find the person: the chosen one by `locate` on a first frame, the detected box
        nearest the last known one after a loss."""
        if self._counter is None:
            self._counter = PeopleCounter().__enter__()
        self.searches += 1
        found = self._counter.boxes(image)
        if self.box is None:
            near = locate(self.choice, found) if self.choice is not None else None
        else:
            last = tuple(int(round(v)) for v in self.box)
            near = nearest_box(found, last)  # type: ignore[arg-type]
            if near is not None and _centre_gap(near, last) > 0.75 * max(last[3] - last[1], 1):  # type: ignore[arg-type]
                near = None  # someone else: the person has not come back yet
        if near is not None:
            self.box, self.crop, self.lost = tuple(map(float, near)), None, 0  # type: ignore[assignment]
            self.inner.reset()  # the tracker's last landmarks belong to the old crop

    def _crop_for(self, size: tuple[int, int]) -> Box:
        assert self.box is not None
        x0, y0, x1, y1 = self.box
        tall = max(y1 - y0, x1 - x0, 16.0)
        need = _grow(self.box, 0.5 * self.margin * tall, size)
        if self.crop is not None and _contains(self.crop, need):
            cw, ch = self.crop[2] - self.crop[0], self.crop[3] - self.crop[1]
            if cw * ch <= 2.0 * (need[2] - need[0]) * (need[3] - need[1]):
                return self.crop
        self.crop = _grow(self.box, self.margin * tall, size)
        return self.crop

    def _estimate(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        if self.box is None or self.lost >= self.lost_after:
            self._search(image)
            if self.box is None:
                return np.zeros((self.skeleton.num_joints, 3), np.float32)
            if self.lost >= self.lost_after:  # not found again: wait, then look again
                self.lost = 0
        cx0, cy0, cx1, cy1 = self._crop_for((w, h))
        kp = self.inner(np.ascontiguousarray(image[cy0:cy1, cx0:cx1]))
        seen = kp[:, 2] > 0
        kp[seen, 0] += cx0
        kp[seen, 1] += cy0
        kp = self.guard(kp)
        seen = kp[:, 2] > 0
        if seen.sum() >= 6:
            self.box = self._follow(kp, seen)
            self.lost = 0
        else:
            self.lost += 1
        self._last_kp = kp
        return kp

    def _follow(self, kp: np.ndarray, seen: np.ndarray) -> tuple[float, float, float, float]:
        """The person's new box from this frame's accepted joints. An edge moves out at once
        but in only `SHRINK` of the way per frame (after the body's own move): a frame where
        the extractor saw only the upper body must not shrink the crop to the upper body, or
        the legs would never come back into it."""
        xy = kp[seen, :2].astype(np.float64)
        (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
        tall = max(y1 - y0, 1.0)
        # joints lie inside the body: the head top and the feet reach beyond them
        meas = np.array([x0 - 0.1 * tall, y0 - 0.15 * tall, x1 + 0.1 * tall, y1 + 0.08 * tall])
        if self.box is None:
            return tuple(meas)  # type: ignore[return-value]
        prev = np.array(self.box, np.float64)
        last = self._last_kp
        both = seen & (last[:, 2] > 0) if last is not None else np.zeros_like(seen)
        if both.sum() >= 3:  # the body's move since the last frame
            dx, dy = np.median(kp[both, :2] - last[both, :2], axis=0)
            prev += (dx, dy, dx, dy)
        out = np.where(np.array([True, True, False, False]), np.minimum(meas, prev), np.maximum(meas, prev))
        inward = out != meas
        out[inward] += self.SHRINK * (meas[inward] - out[inward])
        return tuple(float(v) for v in out)  # type: ignore[return-value]

    def skip(self) -> None:
        self.inner.skip()

    def reset(self) -> None:
        self._last_kp = None
        self.inner.reset()
        self.guard = JointGuard()
        self.crop, self.lost = None, 0

    def describe(self) -> str:
        return self.inner.describe()
