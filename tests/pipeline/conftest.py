"""Fixtures of the pipeline tests: a tiny random-init subject written and loaded as a real
bundle, and odd source videos made with the project's own synthetic dancer and writers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rtmotion.kernels.maps_numpy import PoseMapConfig
from rtmotion.models.config import generator_preset
from rtmotion.models.generator import build_generator
from rtmotion.pose.skeleton import BODY25
from rtmotion.pose.stats import SubjectPoseStats
from rtmotion.subject import load_subject, write_bundle
from rtmotion.subject.crop import CropBox

RES = (64, 64)


@pytest.fixture(autouse=True)
def _single_thread(single_torch_thread: None) -> None:
    return None


def make_subject(folder: Path, res: tuple[int, int] = RES, preset: str = "tiny",
                 reference: bool = False, crop: CropBox | None = None,
                 scene: np.ndarray | None = None) -> Path:
    """A random-init subject bundle at `res` with the statistics of a synthetic dancer.

    reference: a generator with the appearance reference, and 8 keyframes of the dancer's
    rendered frames (logits set so the keyframe candidates really take part).
    crop: the model frame's box in the camera frame (default: the whole `res` frame).
    scene: uint8 camera-frame plate; the generator gets a background plate (this one cropped to
    its model frame) and the bundle the scene plate."""
    from rtmotion.subject.keyframes import keyframes_from_video
    from rtmotion.synthetic import motion_angles, render_sequence

    torch.manual_seed(0)
    crop = crop or CropBox(0, 0, res[0], res[1], res)
    gen = build_generator(generator_preset(preset, resolution=res, use_reference=reference,
                                           background_plate=scene is not None))
    if scene is not None:
        gen.set_background(crop.crop_image(scene, res))
    frames, seq = render_sequence("ada", angles=motion_angles("dance", 2.0, 30, seed=3), size=res)
    stats = SubjectPoseStats.from_keypoints(seq.keypoints, BODY25.joints, res, "body25")
    keyframes = None
    if reference:
        keyframes = keyframes_from_video(np.stack(list(frames)), seq.keypoints,
                                         np.arange(len(seq)), 8)
        with torch.no_grad():
            gen.head.bias[3:6] = torch.tensor([0.5, 1.0, 0.5])
    write_bundle(folder, name=folder.name, resolution=res, crop=crop,
                 pose_map_config=PoseMapConfig(size=res), generator=gen.eval(), stats=stats,
                 source_video={"path": "", "width": res[0], "height": res[1], "fps": "30",
                               "frame_count": len(seq), "pose_source": "test"},
                 validation_range=(0, 0), training={}, weights_dtype="float32",
                 keyframes=keyframes, scene_plate=scene,
                 background=None if scene is None else crop.crop_image(scene, res))
    return folder


def make_follow_subject(folder: Path, res: tuple[int, int] = RES, camera: tuple[int, int] = (160, 128),
                        detail: bool = False) -> Path:
    """A random-init follow-crop subject (`rtmotion.subject.follow`): a `res` generator with the
    plate input drawing a box that follows a dancer in a wider `camera` frame, 8 keyframes with
    their box origins, and a scene plate (a gradient, so a wrongly placed plate shows).
    detail: also the keyframes' boxes at the camera's resolution (`keyframe_detail.npz`)."""
    from rtmotion.subject.crop import compute_crop_box
    from rtmotion.subject.follow import compute_follow_crop, origin_model
    from rtmotion.subject.keyframe_detail import keyframe_detail_from_frames
    from rtmotion.subject.keyframes import KeyframeSet, select_keyframes
    from rtmotion.synthetic import motion_angles, render_sequence

    torch.manual_seed(0)
    frames, seq = render_sequence("ada", angles=motion_angles("dance", 2.0, 30, seed=3), size=camera)
    frames = np.stack(list(frames))
    fixed = compute_crop_box(seq.keypoints, camera)
    follow = compute_follow_crop(seq.keypoints, fixed, margin=0.04)
    assert follow is not None
    boxes = follow.boxes(seq.keypoints)
    yy, xx = np.mgrid[0:camera[1], 0:camera[0]]
    scene = np.stack([xx * 255 // camera[0], yy * 255 // camera[1], 255 - xx * 255 // camera[0]],
                     -1).astype(np.uint8)
    gen = build_generator(generator_preset("tiny", resolution=res, use_reference=True,
                                           plate_input=True))
    with torch.no_grad():
        gen.head.bias[3:7] = torch.tensor([0.5, 1.0, 0.5, 1.0])
    fixed_kp = fixed.keypoints_to_crop(seq.keypoints, res)
    stats = SubjectPoseStats.from_keypoints(fixed_kp, BODY25.joints, res, "body25")
    idx = np.sort(select_keyframes(fixed_kp, np.arange(len(seq)), 8))
    keyframes = KeyframeSet(np.stack([boxes[i].crop_image(frames[i], res) for i in idx]),
                            np.stack([boxes[i].keypoints_to_crop(seq.keypoints[i], res) for i in idx]),
                            idx, np.stack([origin_model(boxes[i], res) for i in idx]))
    write_bundle(folder, name=folder.name, resolution=res, crop=fixed,
                 pose_map_config=PoseMapConfig(size=res), generator=gen.eval(), stats=stats,
                 source_video={"path": "", "width": camera[0], "height": camera[1], "fps": "30",
                               "frame_count": len(seq), "pose_source": "test"},
                 validation_range=(0, 0), training={}, weights_dtype="float32",
                 keyframes=keyframes, scene_plate=scene, follow_crop=follow,
                 keyframe_detail=keyframe_detail_from_frames(
                     enumerate(frames), idx, [boxes[i] for i in idx]) if detail else None)
    return folder


@pytest.fixture(scope="session")
def follow_subject_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_follow_subject(tmp_path_factory.mktemp("subjects") / "tiny-follow")


@pytest.fixture(scope="session")
def tiny_subject_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_subject(tmp_path_factory.mktemp("subjects") / "tiny")


@pytest.fixture(scope="session")
def reference_subject_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny subject with an appearance reference (keyframes in the bundle)."""
    return make_subject(tmp_path_factory.mktemp("subjects") / "tiny-ref", reference=True)


@pytest.fixture(scope="session")
def tiny_subject(tiny_subject_path: Path):
    return load_subject(tiny_subject_path)


def no_person_stretch(seq, a: int, b: int):
    """A copy of PoseSequence `seq` with no person in frames [a, b)."""
    kp = seq.keypoints.copy()
    kp[a:b] = 0.0
    return seq.with_keypoints(kp)


def replay(poses: Path) -> dict:
    """convert() keywords that replay a pose file as the per-frame estimator (fast, exact: on
    every frame, not convert's default of every second one)."""
    return {"extractor": "npz", "extractor_opts": {"path": str(poses)}, "workers": 1,
            "pose_every": 1}


def frames_of(path: Path) -> list[np.ndarray]:
    from rtmotion.io import VideoReader

    with VideoReader(path) as r:
        return [f.image for f in r]
