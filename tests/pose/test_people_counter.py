"""`PeopleCounter`'s rule for what the detector finds again after a person is blanked, with a
scripted detector (the real one on synthetic dancers: tests/train/test_input_checks.py and
tests/pose/test_person.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from rtmotion.pose.people import INSIDE_SHARE, PeopleCounter, inside_share, iou


def _detection(x0: float, y0: float, x1: float, y1: float, size: int = 200) -> SimpleNamespace:
    """A detection whose 33 landmarks span the box (x0, y0)-(x1, y1) of a size x size image."""
    xs, ys = np.linspace(x0, x1, 33) / size, np.linspace(y0, y1, 33) / size
    marks = [SimpleNamespace(x=float(x), y=float(y), visibility=1.0) for x, y in zip(xs, ys)]
    return SimpleNamespace(pose_landmarks=SimpleNamespace(landmark=marks),
                           segmentation_mask=np.zeros((size, size), np.float32))


class ScriptedCounter(PeopleCounter):
    """The detector answers from a list (then: nobody)."""

    def __init__(self, answers: list[SimpleNamespace]) -> None:
        super().__init__()
        self.answers = list(answers)

    def run(self, image: np.ndarray) -> SimpleNamespace:
        return self.answers.pop(0) if self.answers else SimpleNamespace(pose_landmarks=None)


def test_boxes_inside_and_overlap() -> None:
    assert inside_share((10, 10, 20, 20), (0, 0, 100, 100)) == 1.0
    assert inside_share((90, 0, 110, 10), (0, 0, 100, 100)) == 0.5
    assert inside_share((5, 5, 5, 9), (0, 0, 10, 10)) == 0.0          # empty box
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0 and iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0


def test_a_person_found_again_inside_their_own_box_is_not_a_second_one() -> None:
    image = np.zeros((200, 200, 3), np.uint8)
    # A man, then his upper body again (what the mask left of a dark suit): one person.
    man, torso = _detection(60, 20, 140, 190), _detection(75, 35, 125, 110)
    assert inside_share((75, 35, 125, 110), (60, 20, 140, 190)) >= INSIDE_SHARE
    assert ScriptedCounter([man, torso]).count(image) == 1
    # Two people side by side, the second overlapping the first's box a little: two.
    neighbour = _detection(130, 30, 195, 190)
    assert ScriptedCounter([man, neighbour]).count(image) == 2
