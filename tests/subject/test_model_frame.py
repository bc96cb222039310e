"""The model frame's shape for a person (`rtmotion.subject.model_frame`)."""

from __future__ import annotations

import pytest

from rtmotion.subject.model_frame import (
    MAX_ASPECT,
    MIN_ASPECT,
    PIXELS_OVER,
    PIXELS_UNDER,
    best_frame_shape,
    frame_shapes,
    person_scale,
)


def grown_box(natural: tuple[float, float]):
    """drawn_box for a person whose box is `natural` (W, H): grown to the asked aspect, as the
    crop rules grow it (never shrunk)."""
    def drawn(aspect: float) -> tuple[float, float]:
        w, h = natural
        return (h * aspect, h) if w / h < aspect else (w, w / aspect)
    return drawn


def test_shapes_keep_the_budget_the_stride_and_the_aspect_limits() -> None:
    shapes = frame_shapes(128 * 128, 16)
    assert (128, 128) in shapes and (80, 192) in shapes and (192, 80) in shapes
    for w, h in shapes:
        assert w % 16 == 0 and h % 16 == 0
        assert (1 - PIXELS_UNDER) * 128 * 128 <= w * h <= (1 + PIXELS_OVER) * 128 * 128
        assert MIN_ASPECT - 1e-9 <= w / h <= MAX_ASPECT + 1e-9
    assert [w / h for w, h in shapes] == sorted(w / h for w, h in shapes)


@pytest.mark.parametrize(("aspect", "shape"), [
    (0.34, (80, 192)),    # narrower than the floor: the floor's shape
    (0.42, (80, 192)),    # a standing person
    (0.65, (96, 160)),    # arms out
    (1.0, (128, 128)),    # as wide as tall: the square
    (1.6, (160, 96)),     # lying down, or a wide shot of a seated person
])
def test_the_shape_follows_the_person(aspect: float, shape: tuple[int, int]) -> None:
    assert best_frame_shape((128, 128), 16, grown_box((aspect * 900, 900))) == shape


def test_a_standing_person_is_drawn_larger_at_the_same_cost() -> None:
    drawn = grown_box((380, 900))
    square = person_scale((128, 128), drawn(1.0), 128 * 128)
    tall = person_scale((80, 192), drawn(80 / 192), 128 * 128)
    assert square == pytest.approx(128 / 900)                  # the box grown to 900x900
    # 80/192 is a little narrower than the person: the box grows to 380 x 912, the width binds;
    # 80x192 has 6 % fewer pixels than the budget, which counts as that much more scale.
    assert tall == pytest.approx(80 / 380 / (80 * 192 / (128 * 128)) ** 0.5)
    assert tall > 1.5 * square


def test_a_near_tie_keeps_the_budget_shape() -> None:
    # A box that is square whatever the aspect asked: nothing draws it larger by 2 %.
    assert best_frame_shape((128, 128), 16, lambda a: (500.0, 500.0)) == (128, 128)
