"""Which person drives: find the people in a few frames, number them, choose one (`--person`).

MediaPipe's pose solution follows one person per image and picks that person itself; in a
group clip it may take a neighbour, or draw an arm to the neighbour's hand. So before
extraction `find_people` runs `PeopleCounter` (the detector asked again with each found person
blanked) on `SAMPLES` frames spread over the first `SPAN` frames of the range, and
`choose_person` numbers the people left to right (#1 is the leftmost) and picks one:

- `auto`: the most central and largest over the sampled frames: the highest
  (box height / tallest height) - (centre's distance from the frame's centre / half the width);
- `largest`: the tallest box on average (nearest the camera);
- `center` (or `centre`): the box centre nearest the frame's centre on average;
- `N`: the N-th from the left (InputError naming the count when there are fewer).

The count is the most common count over the samples (a lower bound, see `PeopleCounter`);
people are matched across samples by their left-to-right order, so people who swap places
within the sampled span are not told apart. With one person (or none) found nothing else
changes: extraction runs on the whole frame as before. With several, extraction follows the
chosen person in a crop (`rtmotion.pose.track.PersonTracker`).

Cost (2-core CPU, shared; docs/BENCHMARKS.md): one detector call per person found per sampled
frame, plus one that finds nobody: 0.45 s for a one-person 768x384 clip, 0.84 s with three
people (4 samples), once per run.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rtmotion.errors import InputError
from rtmotion.io import VideoReader
from rtmotion.pose.people import Box, PeopleCounter, iou
from rtmotion.pose.person_rule import PERSON_RULES, parse_person  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

#: Frames sampled for the people search, spread over the first SPAN frames of the range.
SAMPLES = 4
SPAN = 300

#: What each rule is called in the summary.
_WHY = {"auto": "auto: central and large", "largest": "largest", "center": "centre"}


@dataclass(frozen=True)
class PersonChoice:
    """The people found and the one chosen.

    Attributes:
        count: people found (the most common count over the sampled frames; a lower bound).
        number: the chosen person, 1-based left to right (0: nobody found).
        rule: how they were chosen: "auto", "largest", "center" or "number".
        frame: the frame index `box` and `boxes` belong to (the first frame of the range when
            it showed the people, else the first sample that did).
        box: the chosen person's (x0, y0, x1, y1) box in that frame, pixels.
        boxes: everyone's box in that frame, left to right.
        samples: the frames looked at.
    """

    count: int
    number: int
    rule: str
    frame: int
    box: Box | None
    boxes: tuple[Box, ...]
    samples: tuple[int, ...]

    @property
    def several(self) -> bool:
        """True when extraction must follow the chosen person (2 or more people found)."""
        return self.count >= 2 and self.box is not None

    def describe(self) -> str:
        """"3 people; drove from #2 (centre)", "1 person", "no person found in 4 sampled frames"."""
        if self.count == 0:
            return f"no person found in {len(self.samples)} sampled frames"
        if self.count == 1:
            return "1 person"
        why = _WHY.get(self.rule, f"--person {self.number}")
        return f"{self.count} people; drove from #{self.number} ({why}; numbered left to right)"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["summary"] = self.describe()
        return d


def _centre(b: Box) -> tuple[float, float]:
    return (b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0


def left_to_right(boxes: list[Box]) -> list[Box]:
    """Boxes ordered by their centre's x (the people's numbers, #1 leftmost)."""
    return sorted(boxes, key=lambda b: _centre(b)[0])


def nearest_box(boxes: list[Box], to: Box) -> Box | None:
    """The box whose centre is nearest `to`'s centre (None for no boxes)."""
    if not boxes:
        return None
    cx, cy = _centre(to)
    return min(boxes, key=lambda b: (_centre(b)[0] - cx) ** 2 + (_centre(b)[1] - cy) ** 2)


def choose_person(samples: list[tuple[int, list[Box]]], rule: str | int,
                  size: tuple[int, int]) -> PersonChoice:
    """Choose the driving person from the boxes found in sampled frames (see module doc).

    Args:
        samples: (frame index, boxes found in it) per sampled frame, in frame order.
        rule: a `parse_person` value.
        size: the frames' (width, height).
    Returns:
        the choice. InputError when `rule` is a number larger than the count.
    """
    counts = [len(b) for _, b in samples]
    if not counts or max(counts) == 0:
        return PersonChoice(0, 0, str(rule) if isinstance(rule, str) else "number", samples[0][0]
                            if samples else 0, None, (), tuple(i for i, _ in samples))
    tally = Counter(c for c in counts if c > 0)
    count = max(tally, key=lambda c: (tally[c], c))  # most common; a tie goes to more people
    valid = [(i, left_to_right(b)) for i, b in samples if len(b) == count]
    heights = np.array([[b[3] - b[1] for b in bs] for _, bs in valid], np.float64)  # (S, count)
    offsets = np.array([[abs(_centre(b)[0] - size[0] / 2.0) for b in bs] for _, bs in valid])
    height, offset = heights.mean(axis=0), offsets.mean(axis=0)
    if isinstance(rule, int):
        if rule > count:
            raise InputError(None, f"--person {rule}: only {count} "
                             f"{'person was' if count == 1 else 'people were'} found in "
                             f"{len(samples)} sampled frames (numbered 1-{count} left to right)",
                             "give a number in that range, or auto, largest or center")
        index, how = rule - 1, "number"
    elif rule == "largest":
        index, how = int(np.argmax(height)), rule
    elif rule == "center":
        index, how = int(np.argmin(offset)), rule
    elif rule == "auto":
        score = height / max(height.max(), 1.0) - offset / max(size[0] / 2.0, 1.0)
        index, how = int(np.argmax(score)), rule
    else:
        raise ValueError(f"unknown person rule {rule!r}")
    first_frame, first_boxes = samples[0]
    frame, boxes = valid[0]
    box = boxes[index]
    if first_frame != frame:
        # The range's first frame showed another count; the tracker starts there: from the
        # box there that overlaps the chosen person's, else from the chosen person's box.
        near = nearest_box(first_boxes, box)
        frame, boxes = first_frame, tuple(left_to_right(first_boxes))
        if near is not None and iou(near, box) >= 0.3:
            box = near
    return PersonChoice(count, index + 1, how, frame, box, tuple(boxes),
                        tuple(i for i, _ in samples))


def sample_frames(start: int, end: int, samples: int = SAMPLES, span: int = SPAN) -> list[int]:
    """`samples` frame indices spread over [start, min(end, start + span)), the first first."""
    stop = min(end, start + span)
    if stop <= start:
        return [start]
    return sorted({int(round(v)) for v in np.linspace(start, stop - 1, max(1, samples))})


def find_people(video: str | Path, start: int = 0, end: int | None = None,
                samples: int = SAMPLES, span: int = SPAN) -> list[tuple[int, list[Box]]]:
    """The people's boxes in frames sampled from the start of [start, end) of `video`.

    Decodes the frames up to the last sample once (the first `span` frames at most).
    Returns (frame index, boxes) per sampled frame that decoded.
    """
    reader = VideoReader(video, start=start, end=end, threaded=False)
    last = start + span if end is None else min(end, start + span)
    count = reader.info.frame_count if reader.info.frame_count > 0 else last
    picks = set(sample_frames(start, min(last, max(count, start + 1)), samples, span))
    found: list[tuple[int, list[Box]]] = []
    with PeopleCounter() as counter, reader:
        for frame in reader:
            if frame.index in picks:
                found.append((frame.index, counter.boxes(frame.image)))
                if len(found) == len(picks):
                    break
            if frame.index >= max(picks):
                break
    log.info("people in sampled frames %s: %s", [i for i, _ in found], [len(b) for _, b in found])
    return found


def locate(choice: PersonChoice, boxes: list[Box]) -> Box | None:
    """The chosen person among `boxes` found in another frame: the same number left to right
    when the count is the same, else the box nearest the chosen one (None: nobody found)."""
    if not boxes:
        return None
    if len(boxes) == choice.count and choice.number >= 1:
        return left_to_right(boxes)[choice.number - 1]
    return nearest_box(boxes, choice.box) if choice.box is not None else None
