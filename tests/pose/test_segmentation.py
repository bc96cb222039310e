"""`PersonSegmenter` (BlazePose's segmentation, the real MediaPipe model) on the synthetic
dancer, whose true pixels are known: the frame against the empty room it was drawn on."""

from __future__ import annotations

import numpy as np
import pytest

from rtmotion.pose.segmentation import PersonSegmenter
from rtmotion.synthetic.generate import render_sequence
from rtmotion.synthetic.render import Renderer

SIZE = (256, 256)


@pytest.fixture(scope="module")
def segmenter():
    with PersonSegmenter() as seg:
        yield seg


def test_the_mask_is_the_person(segmenter) -> None:
    frames, seq = render_sequence("ada", "dance", seconds=1, size=SIZE, fps=4, supersample=1)
    room = Renderer("ada", SIZE, supersample=1).background
    for frame, kp in zip(frames, seq.keypoints):
        mask = segmenter.mask(frame)
        assert mask is not None and mask.shape == (SIZE[1], SIZE[0]) and mask.dtype == bool
        changed = np.abs(frame.astype(np.int16) - room).max(axis=-1) > 12
        # The shadow on the floor changed too but is not the person: only rows above the soles.
        changed[int(kp[:, 1].max()) + 4:] = False
        assert (mask & changed).sum() / mask.sum() > 0.9  # what it marks is the person
        assert (mask & changed).sum() / changed.sum() > 0.8  # and most of the person is marked


def test_an_empty_room_has_no_person(segmenter) -> None:
    assert segmenter.mask(Renderer("ada", SIZE, supersample=1).background) is None


def test_a_large_frame_is_segmented_at_its_own_size(segmenter) -> None:
    frames, _ = render_sequence("kofi", "wave", seconds=0.2, size=(960, 720), fps=5, supersample=1)
    frame = next(iter(frames))
    small = PersonSegmenter(max_side=320)
    with small:
        prob = small.probability(frame)
    assert prob is not None and prob.shape == (720, 960) and prob.dtype == np.float32
    assert 0.0 <= float(prob.min()) and float(prob.max()) <= 1.0
    full = segmenter.mask(frame)
    assert full is not None and ((prob >= 0.5) == full).mean() > 0.97


def test_use_outside_the_with_block_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="outside its `with` block"):
        PersonSegmenter().mask(np.zeros((8, 8, 3), np.uint8))
