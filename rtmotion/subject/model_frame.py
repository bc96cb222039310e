"""The model frame's shape: a pixel budget spent on the person's shape, not on a square.

A standing person is about 0.35-0.65 times as wide as tall (the follow box of the real clips
tried: 0.34-0.65). Drawn in a square model frame, the box around them is grown to a square and
the sides are room: at 128x128 a person 1088 px tall is drawn 128 px tall, and more than half
of the model's pixels show the room beside them (uni8: a person's box 435 px wide in 1088). A frame of the same pixel count in the person's shape
(e.g. 80x192) draws them 192 px tall: 1.5x the linear resolution for the same work per step.

Measured (docs/BENCHMARKS.md, "A model frame in the person's shape"): at 20 minutes on the
2-core CPU (~1150 steps) the larger person scored *lower* on held-out frames than the square
(output-frame body SSIM -0.003 to -0.005, face -0.02 to -0.04): the finer detail is not learnt
in so few steps. So it is `train --shape-frame`, not the default.

`frame_shapes` lists the shapes a budget allows; `best_frame_shape` picks the one that draws the
person largest, given a function that says how big the drawn box is for an aspect ratio (the
trainer's crop rules: the follow box, or the fixed crop where the person fills the frame).
"""

from __future__ import annotations

import math
from collections.abc import Callable

#: Narrowest and widest model frame (W / H) chosen for a person. The floor leaves room beside a
#: person who barely spreads their arms in the training clip, for a driving dance that does
#: (the generator draws nothing outside its frame).
MIN_ASPECT = 0.4
MAX_ASPECT = 1.0 / MIN_ASPECT
#: A shape's pixels may be this fraction under or over the budget's (the sides are multiples of
#: the generator's stride, so few shapes hit the budget exactly; a step's time grows with them).
PIXELS_UNDER = 0.1
PIXELS_OVER = 0.05


def frame_shapes(pixels: int, multiple: int, min_aspect: float = MIN_ASPECT,
                 max_aspect: float = MAX_ASPECT) -> list[tuple[int, int]]:
    """Model frames (W, H) of about `pixels` pixels (PIXELS_UNDER / PIXELS_OVER), both sides
    multiples of `multiple` (the generator's total stride, 2**n_down), with W / H in
    [min_aspect, max_aspect]; narrowest first. The square is always among them when `pixels` is
    a square of a multiple (e.g. 128x128)."""
    shapes = []
    for w in range(multiple, int(math.sqrt(pixels / min_aspect)) + multiple, multiple):
        for k in {math.floor(pixels / w / multiple), math.ceil(pixels / w / multiple)}:
            h = multiple * max(1, k)
            if ((1 - PIXELS_UNDER) * pixels <= w * h <= (1 + PIXELS_OVER) * pixels
                    and min_aspect - 1e-9 <= w / h <= max_aspect + 1e-9):
                shapes.append((w, h))
    return sorted(set(shapes), key=lambda s: s[0] / s[1])


def person_scale(shape: tuple[int, int], box: tuple[float, float], pixels: int) -> float:
    """Model pixels per camera pixel of the person when `box` (W, H camera pixels, grown to the
    shape's aspect) is drawn at `shape`, per unit of linear cost (a shape with more pixels than
    the budget pays for them: the scale is divided by sqrt(its pixels / `pixels`))."""
    w, h = shape
    return min(w / box[0], h / box[1]) / math.sqrt(w * h / pixels)


def best_frame_shape(budget: tuple[int, int], multiple: int,
                     drawn_box: Callable[[float], tuple[float, float]]) -> tuple[int, int]:
    """The shape of `budget`'s pixels that draws the person largest.

    Args:
        budget: (W, H) whose pixel count is spent (e.g. --resolution 128x128).
        multiple: both sides are multiples of this (the generator's 2**n_down).
        drawn_box: aspect ratio (W / H) -> (W, H) in camera pixels of the box the model frame
            would show at that aspect (the follow box, or the fixed crop).
    Returns:
        (W, H); `budget` itself when no other shape draws the person at least 2 % larger (ties
        keep the budget's shape).
    """
    pixels = budget[0] * budget[1]

    def scale(shape: tuple[int, int]) -> float:
        return person_scale(shape, drawn_box(shape[0] / shape[1]), pixels)

    best = max(frame_shapes(pixels, multiple), key=scale, default=budget)
    return best if scale(best) > 1.02 * scale(budget) else budget
