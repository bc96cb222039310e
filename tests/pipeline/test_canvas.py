"""The full output frame (`rtmotion.pipeline.canvas`): model frames composed onto the subject's
full-resolution background, through the Session, `convert` and the bundle.

Oracles: the crop box's own keypoint mapping (`CropBox.keypoints_from_crop`) for the geometry;
exact pixels where the model frame is only the generator's plate (the sharp scene must come out
unchanged); the drawn colour where the model frame holds a "person"."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from rtmotion.errors import CheckpointError
from rtmotion.io import VideoInfo
from rtmotion.pipeline.canvas import Canvas, canvas_geometry
from rtmotion.pipeline.offline import convert
from rtmotion.pipeline.session import open_session
from rtmotion.subject import load_subject
from rtmotion.subject.crop import CropBox
from tests.pipeline.conftest import frames_of, make_subject

BOX = CropBox(-20, 10, 140, 170, (128, 192))   # a 160 px box, partly outside a 128x192 frame
MODEL = (64, 64)


def _scene() -> np.ndarray:
    """A 128x192 scene with structure everywhere (rows and columns of different colours)."""
    y, x = np.mgrid[0:192, 0:128]
    return np.stack([(x * 2) % 256, (y * 3) % 256, ((x + y) * 5) % 256], axis=-1).astype(np.uint8)


def test_geometry_maps_keypoints_as_the_crop_box_does() -> None:
    geo = canvas_geometry(BOX, MODEL, (256, 384))              # twice the camera frame
    kp = np.array([[10.0, 20.0, 1.0], [63.0, 0.0, 0.5], [0.0, 0.0, 0.0]], np.float32)
    source = BOX.keypoints_from_crop(kp, MODEL)
    want = source.copy()
    want[:2, :2] = (source[:2, :2] + 0.5) * 2 - 0.5           # source px -> output px (x2)
    np.testing.assert_allclose(geo.keypoints_to_output(kp), want, atol=1e-4)
    assert geo.keypoints_to_output(kp)[2].tolist() == [0.0, 0.0, 0.0]   # missing stays missing
    assert canvas_geometry(BOX, MODEL).output_size == (128, 192)
    with pytest.raises(ValueError, match="too small"):
        canvas_geometry(BOX, MODEL, (1, 10))


def test_background_only_frame_gives_the_sharp_scene_exactly() -> None:
    scene = _scene()
    model_plate = BOX.crop_image(scene, MODEL)
    canvas = Canvas(canvas_geometry(BOX, MODEL), scene, model_plate)
    out = canvas.compose(model_plate)
    assert out.shape == (192, 128, 3) and np.array_equal(out, scene)
    # A near-plate frame (the generator's few levels of error) is still the plate.
    noisy = np.clip(model_plate.astype(int) + 3, 0, 255).astype(np.uint8)
    assert np.array_equal(canvas.compose(noisy), scene)


def test_person_is_drawn_from_the_model_frame_and_the_rest_is_the_scene() -> None:
    scene = _scene()
    model_plate = BOX.crop_image(scene, MODEL)
    frame = model_plate.copy()
    frame[20:40, 28:36] = (255, 255, 0)                        # the "person", model px
    canvas = Canvas(canvas_geometry(BOX, MODEL, (256, 384)), scene, model_plate)
    out = canvas.compose(frame)
    geo = canvas.geometry
    (cx, cy, _), = geo.keypoints_to_output(np.array([[31.5, 29.5, 1.0]], np.float32))
    centre = out[int(cy) - 4:int(cy) + 4, int(cx) - 2:int(cx) + 2].reshape(-1, 3)
    assert np.abs(centre.astype(int) - (255, 255, 0)).max() <= 2
    # Far from the person the output is the scene at the output size, untouched.
    big_scene = cv2.resize(scene, (256, 384), interpolation=cv2.INTER_CUBIC)
    assert np.array_equal(out[:60], big_scene[:60]) and np.array_equal(out[-60:], big_scene[-60:])


def test_without_a_scene_plate_the_model_frame_is_scaled_onto_the_frame() -> None:
    frame = np.zeros(MODEL[::-1] + (3,), np.uint8)
    frame[:, :32] = 200                                        # left half bright
    out = Canvas(canvas_geometry(BOX, MODEL)).compose(frame)
    assert out.shape == (192, 128, 3)
    # Model column 32 is source x = 32 * 160 / 64 - 20 = 60: bright left of it, dark right.
    assert out[:, :55].min() == 200 and out[:, 66:].max() == 0
    with pytest.raises(ValueError, match="model frame is 32x32"):
        Canvas(canvas_geometry(BOX, MODEL)).compose(np.zeros((32, 32, 3), np.uint8))


@pytest.fixture(scope="module")
def framed_subject_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny subject whose model frame (64x64) is a 160 px box of a 128x192 camera frame, with
    a full-resolution scene plate."""
    return make_subject(tmp_path_factory.mktemp("subjects") / "framed", crop=BOX, scene=_scene())


def test_bundle_keeps_the_scene_plate_and_checks_its_size(framed_subject_path: Path, tmp_path) -> None:
    subject = load_subject(framed_subject_path)
    assert subject.scene_plate is not None and np.array_equal(subject.scene_plate, _scene())
    assert subject.model_plate().shape == (64, 64, 3)
    bad = tmp_path / "bad"
    make_subject(bad, crop=BOX, scene=_scene())
    cv2.imwrite(str(bad / "scene.png"), np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(CheckpointError, match=r"scene.png.*is 10x10, expected 128x192"):
        load_subject(bad)


def test_session_full_frame_and_model_frame(framed_subject_path: Path, dancer_clip) -> None:
    subject = load_subject(framed_subject_path)
    kp = dancer_clip.seq.keypoints[5] * (64 / 256)           # 256 px dancer -> the 64 px model frame
    with open_session(subject) as model, open_session(subject, full_frame=True) as full, \
            open_session(subject, full_frame=(64, 96)) as small:
        a, b, c = model(kp), full(kp), small(kp)
        assert a.shape == (64, 64, 3) and b.shape == (192, 128, 3) and c.shape == (96, 64, 3)
        assert full.output_size == (128, 192) and model.output_size == (64, 64)
        # The same frame, composed: the canvas of the model session's image is the full one.
        assert np.array_equal(full.canvas.compose(a), b)


def test_convert_writes_the_full_frame_or_size(framed_subject_path: Path, dancer_clip, tmp_path,
                                               capsys) -> None:
    from rtmotion.cli import main

    subject = load_subject(framed_subject_path)
    out = tmp_path / "full.mp4"
    res = convert(subject, dancer_clip.poses, out, end=10, show_progress=False)
    assert VideoInfo.from_path(out).size == (128, 192) and res.size == (128, 192)
    side = tmp_path / "side.mp4"
    rc = main(["-q", "convert", "--backend", "torch", "-t", str(framed_subject_path), "-s",
               str(dancer_clip.poses), "-o", str(side), "--end", "10", "--size", "96x144",
               "--side-by-side"])
    assert rc == 0 and "96x144" in capsys.readouterr().out
    info = VideoInfo.from_path(side)
    assert info.height == 144 and info.frame_count == 10
    assert frames_of(side)[5][:, -96:].std() > 5               # the result panel is a picture
