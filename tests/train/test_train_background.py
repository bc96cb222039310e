"""The clean background plate (rtmotion.train.background) on frames of the synthetic renderer,
whose true background is known exactly (rendered without supersampling, so no blur)."""

from __future__ import annotations

import numpy as np
import pytest

from rtmotion.pose.skeleton import get_skeleton
from rtmotion.synthetic.generate import render_sequence
from rtmotion.synthetic.render import Renderer
from rtmotion.train.background import (
    CHANGED_WARN,
    RESIDUAL_WARN,
    estimate_background_plate,
    estimate_scene_plate,
    person_mask,
    recorded_motion_note,
    training_motion_note,
)

SIZE = (96, 96)
BONES = get_skeleton("body25").bones


@pytest.fixture(scope="module", params=["dance", "walk"])
def rendered(request) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames T x H x W x 3 uint8, keypoints T x 25 x 3, true background H x W x 3 uint8)."""
    frames, seq = render_sequence("bruno", request.param, seconds=3, size=SIZE, fps=15,
                                  supersample=1, background="room")
    background = Renderer("bruno", SIZE, supersample=1, background="room").background
    return np.stack(list(frames)), seq.keypoints, background


def test_mask_covers_the_person_and_shadow(rendered) -> None:
    frames, kps, bg = rendered
    changed = outside = 0
    for frame, kp in zip(frames, kps):
        mask = person_mask(kp, BONES, SIZE)
        assert mask is not None and mask.shape == (SIZE[1], SIZE[0]) and mask.dtype == bool
        diff = np.abs(frame.astype(np.int16) - bg).max(axis=-1) > 0  # person + shadow pixels
        changed += int(diff.sum())
        outside += int((diff & ~mask).sum())
        assert mask.mean() < 0.6  # generous, not the whole frame
    assert changed > 1000
    assert outside / changed < 0.005  # (walk: a swinging hand grazes the mask's edge)


def test_plate_recovers_the_background(rendered) -> None:
    frames, kps, bg = rendered
    plate = estimate_background_plate(frames, kps, BONES)
    assert plate.image.shape == bg.shape and plate.image.dtype == np.uint8
    assert plate.frames_used == len(frames)
    err = np.abs(plate.image.astype(np.int16) - bg).max(axis=-1)
    seen = ~plate.inpainted
    assert 0.0 < plate.inpainted_fraction < 0.3  # the dancer never leaves the frame's middle
    assert err[seen].mean() < 0.5  # seen pixels: the exact background
    # Holes: a plausible fill (a sharp line crossing a hole, like the skirting board, is lost).
    assert err[plate.inpainted].mean() < 12 and err.mean() < 2.5
    assert plate.residual == 0.0 and plate.looks_static
    summary = plate.summary()
    assert summary["frames_used"] == len(frames) and summary["residual"] == 0.0


def test_sampling_and_moving_camera_warning(rendered) -> None:
    frames, kps, _ = rendered
    plate = estimate_background_plate(frames, kps, BONES, indices=np.arange(10, 40), max_frames=8)
    assert plate.frames_used == 8
    # A "camera" that tilts: every frame shifted by a few more pixels.
    panned = np.stack([np.roll(f, 3 * i, axis=0) for i, f in enumerate(frames)])
    moving = estimate_background_plate(panned, kps, BONES)
    assert not moving.looks_static and moving.residual > plate.residual
    assert moving.changed_fraction > CHANGED_WARN > 100 * plate.changed_fraction


def test_a_moving_camera_in_a_dark_room_is_seen(rendered) -> None:
    """In a dark room most pixels stay black whatever the camera does, so the median residual
    stays low; the share of background pixels that changed still says the camera moved."""
    frames, kps, _ = rendered
    dark = (frames.astype(np.float32) * 0.25).astype(np.uint8)
    still = estimate_background_plate(dark, kps, BONES)
    assert still.looks_static and still.changed_fraction < 0.01 * CHANGED_WARN
    panned = np.stack([np.roll(f, 3 * i, axis=0) for i, f in enumerate(dark)])
    moving = estimate_background_plate(panned, kps, BONES)
    assert moving.residual <= RESIDUAL_WARN < 3 * RESIDUAL_WARN   # the residual alone: "static"
    assert moving.changed_fraction > CHANGED_WARN and not moving.looks_static
    # The note the warnings give, and the same verdict from the summary subject.json records.
    note = moving.motion_note()
    assert f"{moving.residual:.1f}/255" in note and f"{100 * moving.changed_fraction:.0f} %" in note
    assert recorded_motion_note(moving.summary()) == note
    assert recorded_motion_note(still.summary()) is None and recorded_motion_note(None) is None
    # A subject's training record: the follow crop's scene plate, else the fixed crop's plate.
    assert training_motion_note({"scene_plate": moving.summary(), "background_plate": None}) == note
    assert training_motion_note({"scene_plate": None, "background_plate": moving.summary()}) == note
    assert training_motion_note({"scene_plate": still.summary()}) is None
    assert training_motion_note({}) is None
    # A summary recorded before the changed share was kept: judged by its residual.
    assert recorded_motion_note({"residual": RESIDUAL_WARN + 1, "frames_used": 8}) is not None
    assert recorded_motion_note({"residual": 1.0, "frames_used": 8}) is None


def test_frames_without_pose_do_not_vote(rendered) -> None:
    frames, kps, _ = rendered
    none = kps.copy()
    none[:, :, 2] = 0
    assert person_mask(none[0], BONES, SIZE) is None
    with pytest.raises(ValueError, match="no frame with a usable pose"):
        estimate_background_plate(frames, none, BONES)


def test_scene_plate_from_the_video_at_its_resolution(rendered, tmp_path) -> None:
    """`estimate_scene_plate` reads the sampled frames of the video file itself."""
    from rtmotion.io import VideoWriter

    frames, kps, bg = rendered
    video = tmp_path / "v.mkv"
    with VideoWriter(video, 15, codec="ffv1", pix_fmt="bgr0") as w:   # lossless: exact pixels
        for f in frames:
            w.write(f)
    plate = estimate_scene_plate(video, kps, BONES, np.arange(len(frames)), max_frames=20)
    direct = estimate_background_plate(frames, kps, BONES, np.arange(len(frames)), max_frames=20)
    assert plate.frames_used == 20 and np.array_equal(plate.image, direct.image)
    # A byte budget of a few frames still samples at least 8.
    few = estimate_scene_plate(video, kps, BONES, np.arange(len(frames)), max_bytes=1)
    assert few.frames_used == 8


def _dress_frames(frames: np.ndarray, kps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The frames with a wide 'dress' painted from the hips down, wider than the skeleton mask
    reaches (what a long dress does in real footage), and its true extent per frame."""
    out = frames.copy()
    masks = np.zeros(frames.shape[:3], bool)
    for i, kp in enumerate(kps):
        hip_x, hip_y = kp[8, :2]  # BODY25 mid hip
        knee_y = max(kp[10, 1], kp[13, 1])
        x0, x1 = int(hip_x - 30), int(hip_x + 30)
        y0, y1 = int(hip_y), int(knee_y)
        out[i, y0:y1, x0:x1] = (200, 30, 160)
        masks[i, y0:y1, x0:x1] = True
    return out, masks


def test_a_segmentation_keeps_clothes_beyond_the_bones_out_of_the_plate(rendered) -> None:
    """The skeleton mask misses a wide dress, whose colour then leaks into the median; joining
    a segmentation (here the dress's exact extent joined with the body's changed pixels, a
    stand-in for the segmentation model, which tests/pose/test_segmentation.py runs) removes it."""
    frames, kps, bg = rendered
    dressed, dress = _dress_frames(frames, kps)
    body = np.abs(dressed.astype(np.int16) - bg).max(axis=-1) > 0
    truth = {i.tobytes(): m for i, m in zip(dressed, body | dress)}

    def segmenter(image: np.ndarray) -> np.ndarray:
        return truth[np.ascontiguousarray(image).tobytes()]

    skeleton = estimate_background_plate(dressed, kps, BONES)
    joined = estimate_background_plate(dressed, kps, BONES, segmenter=segmenter)
    assert skeleton.frames_segmented == 0 and joined.frames_segmented == joined.frames_used

    def ghost(image: np.ndarray) -> float:  # share of pixels that took the dress's colour
        return float((np.abs(image.astype(np.int16) - (200, 30, 160)).max(axis=-1) < 60).mean())

    assert ghost(skeleton.image) > 0.002 and ghost(joined.image) == 0.0
    err = lambda p: np.abs(p.image.astype(np.int16) - bg).max(axis=-1).mean()  # noqa: E731
    assert err(joined) < err(skeleton)


def test_segmented_plate_of_a_near_static_person_is_closer_to_the_room() -> None:
    """Real MediaPipe segmentation on a person who barely moves: the tighter mask leaves fewer
    pixels to guess and a plate nearer the true room (measured 1.01 -> 0.37 mean error at
    384x384, docs/BENCHMARKS.md)."""
    from rtmotion.pose.segmentation import PersonSegmenter

    size = (256, 256)
    frames_it, seq = render_sequence("lena", "idle", seconds=3, size=size, fps=10, supersample=1)
    frames = np.stack(list(frames_it))
    bg = Renderer("lena", size, supersample=1).background
    skeleton = estimate_background_plate(frames, seq.keypoints, BONES)
    with PersonSegmenter() as seg:
        joined = estimate_background_plate(frames, seq.keypoints, BONES, segmenter=seg.mask)
    assert joined.frames_segmented == joined.frames_used == len(frames)
    err = lambda p: np.abs(p.image.astype(np.int16) - bg).max(axis=-1).mean()  # noqa: E731
    assert joined.inpainted_fraction < 0.8 * skeleton.inpainted_fraction
    assert err(joined) < 0.7 * err(skeleton)
