"""The held-out split and how new its poses are (`rtmotion.subject.split`)."""

from __future__ import annotations

import numpy as np

from rtmotion.subject.crop import usable_frames
from rtmotion.subject.split import (
    NEW_MOVES_RATIO,
    PoseNovelty,
    fit_blocks,
    guard_frames,
    heldout_block,
    pose_novelty,
    training_mask,
)
from rtmotion.synthetic import motion_angles, render_sequence


def _dance(seconds: float, motion: str = "dance") -> np.ndarray:
    """float32 (T, 25, 3) exact poses of the synthetic dancer at 25 fps."""
    _, seq = render_sequence("ada", angles=motion_angles(motion, seconds, 25, seed=2), size=(128, 128))
    return seq.keypoints.astype(np.float32)


def test_a_repeated_move_is_not_new_a_move_seen_nowhere_else_is() -> None:
    kp = _dance(8.0)
    t = len(kp)
    block = heldout_block(t, 0.1)
    usable = usable_frames(kp)
    same = pose_novelty(kp, usable, block, 25.0)
    assert same is not None and 0 < same.others <= same.others_p90
    # The same clip with its held-out block replaced by a move the rest never shows: arms
    # raised far above the head (wrists and elbows moved up by half the body's height).
    odd = kp.copy()
    height = float(np.ptp(kp[0, :, 1]))
    for j in (3, 4, 6, 7):  # BODY25 elbows and wrists
        odd[block[0]:block[1], j, 1] -= 0.5 * height
    new = pose_novelty(odd, usable, block, 25.0)
    assert new is not None and new.others < 2 * same.others
    assert new.heldout > 3 * same.heldout
    assert new.new_moves and new.ratio >= NEW_MOVES_RATIO
    assert not same.new_moves, same
    assert PoseNovelty.from_dict(new.to_dict()) == new
    assert f"{new.heldout:.3f} body heights" in new.describe()


def test_nothing_to_compare() -> None:
    kp = _dance(2.0)
    usable = usable_frames(kp)
    assert pose_novelty(kp, usable, (0, 0), 25.0) is None             # nothing held out
    none = np.zeros(len(kp), bool)
    assert pose_novelty(kp, none, heldout_block(len(kp), 0.1), 25.0) is None  # no person
    assert guard_frames(25.0) == 6


def test_fit_blocks_lie_in_the_middle_of_each_side_of_the_heldout_block() -> None:
    """An 8 s clip at 16 fps (128 frames): the held-out block 57..69, guard 4 frames; a block
    as long as it centred in each of the parts before and after, never in a guard band."""
    block = heldout_block(128, 0.1)
    train = training_mask(np.ones(128, bool), block, guard_frames(16))
    blocks = fit_blocks(train, block)
    assert block == (57, 70) and blocks == [(22, 35), (92, 105)]
    assert all(train[s:e].all() for s, e in blocks)
    # Frames without a person break a run: the block moves to the nearest run long enough.
    train[15:30] = False
    assert fit_blocks(train, block)[0] == (30, 43)
    # A side with no run that long gives no block; no held-out block gives none at all.
    train[:57] = False
    assert fit_blocks(train, block) == [(92, 105)]
    assert fit_blocks(train, (0, 0)) == [] and fit_blocks(np.ones(5, bool), (0, 10)) == []
