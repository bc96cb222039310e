"""Input checks of a training video: each names the problem with numbers (the synthetic
dancer's exact poses and real PyAV videos; real MediaPipe for the people count)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from rtmotion.synthetic import Renderer, motion_angles, pose_body
from rtmotion.train.input_checks import (
    check_training_input,
    count_people,
    coverage_gaps,
    report_training_input,
)
from tests.people_helpers import three_dancers_video

SIZE = (256, 256)


def _poses(motion: str, seconds: float = 12.0, character: str = "ada",
           size: tuple[int, int] = SIZE) -> np.ndarray:
    """Exact BODY25 poses (T, 25, 3) of the synthetic dancer doing `motion`, frame pixels."""
    angles = motion_angles(motion, seconds, Fraction(30), 0)
    r = Renderer(character, size)
    return np.stack([r.keypoints(pose_body(r.character, a)) for a in angles.values]).astype(np.float32)


def _check(kp: np.ndarray, size: tuple[int, int] = SIZE, resolution: tuple[int, int] = (128, 128),
           people: list[int] | None = None) -> dict[str, str]:
    usable = (kp[..., 2] > 0).sum(-1) >= 8
    return {w.code: w.message for w in check_training_input(
        "clip.mp4", kp, usable, size, 30.0, resolution, 0.1, people)}


def test_a_varied_clip_passes() -> None:
    # "dance" mixes every motion; 20 s of it raises and stretches the arms and steps apart
    found = _check(_poses("dance", 20.0))
    assert set(found) <= {"coverage"}
    if "coverage" in found:  # only the facing (the dancer always faces the camera)
        assert "always faces the camera" in found["coverage"]
        assert "arms never rise" not in found["coverage"]


def test_a_near_static_clip_gets_a_coverage_warning_naming_what_is_missing() -> None:
    msg = _check(_poses("idle"))["coverage"]
    # 360 frames: 36 held out in the middle and 8 (0.25 s) either side of them not trained on
    assert msg.startswith("clip.mp4: poor pose coverage in 308 training frames")
    for missing in ("the arms never rise above the shoulders", "the legs are never apart",
                    "the arms are never held out to the side", "the person barely moves",
                    "always faces the camera (100 % of frames)"):
        assert missing in msg, missing


def test_coverage_knows_raised_arms_and_turns() -> None:
    missing, shown = coverage_gaps(_poses("wave"))
    assert shown["arms_raised"] > 0.5 and not any("arms never rise" in m for m in missing)
    missing, shown = coverage_gaps(_poses("walk"))
    assert shown["facing away from the camera"] > 0.2
    assert not any("always faces" in m for m in missing)


def test_too_short() -> None:
    msg = _check(_poses("dance", 3.0))["short"]
    # 90 frames: 9 held out, 8 either side of them not trained on
    assert "only 2.2 s (65 frames)" in msg and "less than 6 s" in msg


def test_person_too_small_for_the_resolution() -> None:
    kp = _poses("dance", 8.0)
    assert "small" not in _check(kp, resolution=(128, 128))
    msg = _check(kp, resolution=(512, 512))["small"]
    assert "the 512x512 model wants 307 px or more" in msg and "--resolution" in msg
    # the same dancer filmed from further away: a quarter of the size in a 256 frame
    far = kp.copy()
    far[..., :2] = far[..., :2] * 0.25 + 96
    msg = _check(far, resolution=(128, 128))["small"]
    height = float(np.median([np.ptp(k[k[:, 2] > 0, 1]) for k in far]))
    assert f"about {height:.0f} px tall" in msg and "wants 77 px" in msg


def test_cut_off_by_the_frame_edge() -> None:
    kp = _poses("dance", 8.0)
    assert "cut_off" not in _check(kp)
    # the same video framed lower: everything below y = 200 is outside a 256x200 frame, so the
    # extractor reports those joints missing (MediaPipe's visibility drops off the frame)
    cut = kp.copy()
    cut[cut[..., 1] >= 200] = 0.0
    msg = _check(cut, size=(256, 200))["cut_off"]
    assert "cut off by the frame edge in 100 % of" in msg and "bottom 100 %" in msg
    assert "ankle" in msg


def test_several_people_counted_on_sampled_frames() -> None:
    found = _check(_poses("dance", 8.0), people=[3, 3, 2, 3, 1, 3, 3, 3])
    assert found["people"].startswith("clip.mp4: 3 people in the frame (7 of 8 sampled frames")
    assert "people" not in _check(_poses("dance", 8.0), people=[1, 1, 1, 2, 1, 1, 1, 1])


def test_people_count_remembered_through_the_cache_helpers(dancer_clip, tmp_path: Path,
                                                           monkeypatch) -> None:
    """`cached_people_count` keeps its count with the dataset cache's JSON helpers: read back
    when the key matches, counted again when the file is not a JSON object (a spy counter)."""
    import rtmotion.train.input_checks as checks
    from rtmotion.train.cache import read_json_object

    calls: list[int] = []

    def fake_count(video, frame_count, samples=checks.PEOPLE_SAMPLES):
        calls.append(frame_count)
        return [1, 2]

    monkeypatch.setattr(checks, "count_people", fake_count)
    cache = tmp_path / "cache"
    assert checks.cached_people_count(dancer_clip.video, 30, cache) == [1, 2]
    stored = read_json_object(cache / "people.json")
    assert stored is not None and stored["counts"] == [1, 2] and stored["key"]["frames"] == 30
    assert checks.cached_people_count(dancer_clip.video, 30, cache) == [1, 2] and calls == [30]
    (cache / "people.json").write_text('["not", "an", "object"]\n', encoding="utf-8")
    assert checks.cached_people_count(dancer_clip.video, 30, cache) == [1, 2] and calls == [30, 30]
    assert checks.cached_people_count(dancer_clip.video, 30, None) == [1, 2] and len(calls) == 3
    assert list(cache.iterdir()) == [cache / "people.json"]  # no temporary left


@pytest.mark.mediapipe
def test_people_count_with_the_pose_detector(dancer_clip, tmp_path: Path, caplog,
                                            monkeypatch) -> None:
    import json
    import logging

    import rtmotion.train.input_checks as checks

    video = three_dancers_video(tmp_path / "three.mp4")
    counts = count_people(video, 30, samples=4)
    assert counts == [3, 3, 3, 3]
    assert count_people(dancer_clip.video, dancer_clip.num_frames, samples=3) == [1, 1, 1]
    # the training run's report: the count is named in one warning
    kp = _poses("dance", 1.0, size=(768, 384))
    with caplog.at_level(logging.WARNING, logger="rtmotion.train.input_checks"):
        report_training_input(video, kp, (kp[..., 2] > 0).sum(-1) >= 8, (768, 384), 30.0, 30,
                              (128, 128), 0.1, cache_dir=tmp_path / "cache")
    assert any("three.mp4: 3 people in the frame" in r.getMessage() for r in caplog.records)
    remembered = json.loads((tmp_path / "cache" / "people.json").read_text())
    assert remembered["counts"] == [3] * 8 and remembered["key"]["frames"] == 30
    caplog.clear()

    # a resumed run reads the count back: the pose detector is not started again (a spy)
    def no_count(*a, **k):
        raise AssertionError("counted the people again")

    monkeypatch.setattr(checks, "count_people", no_count)
    with caplog.at_level(logging.WARNING, logger="rtmotion.train.input_checks"):
        report_training_input(video, kp, (kp[..., 2] > 0).sum(-1) >= 8, (768, 384), 30.0, 30,
                              (128, 128), 0.1, person="auto", cache_dir=tmp_path / "cache")
    assert any("--person auto" in r.getMessage() and "choose the target with --person" in r.getMessage()
               for r in caplog.records)
    # another video (or the same one changed) is counted afresh
    with pytest.raises(AssertionError, match="counted the people again"):
        checks.cached_people_count(dancer_clip.video, dancer_clip.num_frames, tmp_path / "cache")
