"""Engines of a generator with the appearance reference: the three reference inputs are
recorded for calibration, exported, and every CPU engine (ONNX Runtime fp32 and INT8, AOTInductor)
matches PyTorch on them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from rtmotion.export import open_engine
from rtmotion.export.builder import AOTI_ATOL, ONNX_ATOL
from rtmotion.export.int8 import INT8_MIN_SSIM
from rtmotion.models.config import generator_preset
from rtmotion.models.generator import build_generator, input_names
from rtmotion.runtime import get_backend
from rtmotion.subject import Subject, load_subject, write_bundle
from rtmotion.subject.keyframes import KeyframeSet
from tests.export.conftest import record_calibration, run_recorded

RES = (32, 32)
REF_INPUTS = ["ref_warped", "ref_mask", "ref_image"]


@pytest.fixture(scope="module")
def ref_subject(tmp_path_factory: pytest.TempPathFactory, torch_thread_limiter) -> Subject:
    """tiny at 32x32 in demo-ada's camera frame, with 6 keyframes (random pixels, demo-ada's
    held-out poses nudged by a pixel, so the warps are real)."""
    demo = load_subject("demo-ada")
    torch.manual_seed(0)
    gen = build_generator(generator_preset("tiny", resolution=RES, background_plate=True,
                                           use_reference=True))
    with torch.no_grad():
        gen.head.bias[3:6] = torch.tensor([0.5, 1.0, 0.5])
    gen.set_background(torch.rand(1, 3, *RES) * 2 - 1)
    folder = tmp_path_factory.mktemp("subjects") / "tiny-ref"
    source = {**demo.source_video, "path": "", "pose_source": "synthetic", "pose_extractor": "synthetic",
              "pose_file": None}
    pmc = dataclasses.replace(demo.pose_map_config, size=RES)
    write_bundle(folder, name="tiny-ref", resolution=RES, crop=demo.crop, pose_map_config=pmc,
                 generator=gen.eval(), stats=demo.stats, source_video=source,
                 validation_range=(2430, 2450), training={}, weights_dtype="float32",
                 pose_flow_config=demo.pose_flow_config, keyframes=_keyframes(demo))
    return load_subject(folder)


def _keyframes(demo: Subject) -> KeyframeSet:
    from rtmotion.eval.recording import calibration_poses

    probe = dataclasses.replace(demo, resolution=RES)
    kps, _ = calibration_poses(probe, None, None, max_poses=24)  # all 270: 18 s
    kps = kps[::4][:6].copy()
    kps[..., 0] += np.where(kps[..., 2] > 0, 1.0, 0.0)
    rng = np.random.default_rng(0)
    return KeyframeSet(rng.integers(0, 256, (len(kps), RES[1], RES[0], 3), dtype=np.uint8), kps,
                       np.arange(len(kps)) * 4)


@pytest.fixture(scope="module")
def calibration(ref_subject: Subject, tmp_path_factory: pytest.TempPathFactory,
                torch_thread_limiter) -> Path:
    return record_calibration(ref_subject, tmp_path_factory.mktemp("calibration"),
                              torch_thread_limiter)


def _frames(runner, cal, names) -> np.ndarray:
    return run_recorded(runner, cal, names)[0]


def test_reference_inputs_are_recorded_and_onnxruntime_engines_match_torch(
        ref_subject: Subject, calibration: Path, tmp_path: Path) -> None:
    from rtmotion.export.calibration import load_calibration

    names = input_names(ref_subject.generator_config)
    assert names[-3:] == REF_INPUTS
    cal = load_calibration(calibration / "tiny-ref", RES, names)
    mask = cal.arrays["ref_mask"]
    # {0, 1}, but for the frames of a fade between two keyframes (`ReferencePicker`): a blend
    assert float(mask.mean()) > 0.5 and 0.0 <= float(mask.min()) and float(mask.max()) <= 1.0
    # the unwarped keyframe is one of the subject's (the first frame's: no fade at a start), or a
    # blend of two (within the keyframes' range at every pixel); the warped one differs from it
    kf = ref_subject.keyframes.images.astype(np.float32) / 127.5 - 1.0
    img = cal.arrays["ref_image"].transpose(0, 2, 3, 1)
    assert np.abs(kf - img[0][None]).reshape(len(kf), -1).max(1).min() < 1e-6
    assert (img >= kf.min(0) - 1e-6).all() and (img <= kf.max(0) + 1e-6).all()
    assert float(np.abs(cal.arrays["ref_warped"] - cal.arrays["ref_image"]).max()) > 0.1

    ref = _frames(get_backend("torch", ref_subject), cal, names)
    runner, choice = open_engine(ref_subject, "onnxruntime", "fp32", "cpu", tmp_path,
                                 calibration_dir=calibration)
    graph = onnx.load(str(choice.artifact)).graph
    assert [i.name for i in graph.input] == names
    assert np.abs(_frames(runner, cal, names) - ref).max() < ONNX_ATOL
    assert choice.info["parity"]["max_abs_diff"] < ONNX_ATOL

    runner8, choice8 = open_engine(ref_subject, "onnxruntime", "int8", "cpu", tmp_path,
                                   calibration_dir=calibration)
    q = choice8.info["quality"]
    assert q["within_bound"] == (q["ssim_vs_fp32"] >= INT8_MIN_SSIM) and q["ssim_vs_fp32"] > 0.9


@pytest.mark.slow
def test_aoti_engine_with_reference_matches_torch(ref_subject: Subject, calibration: Path,
                                                  tmp_path: Path) -> None:
    """AOTInductor with the six inputs (a build of 15-60 s on 2 cores)."""
    from rtmotion.export.calibration import load_calibration

    names = input_names(ref_subject.generator_config)
    cal = load_calibration(calibration / "tiny-ref", RES, names)
    ref = _frames(get_backend("torch", ref_subject), cal, names)
    aoti, _ = open_engine(ref_subject, "aoti", "fp32", "cpu", tmp_path, calibration_dir=calibration)
    assert np.abs(_frames(aoti, cal, names) - ref).max() < AOTI_ATOL


def test_follow_crop_engine_takes_the_plate_and_matches_torch(tmp_path: Path,
                                                              torch_thread_limiter) -> None:
    """A follow-crop generator's seventh input (the room behind the frame's box) is recorded for
    calibration, exported by name, and the ONNX Runtime engine matches PyTorch on it."""
    from rtmotion.eval.recording import record_inputs
    from rtmotion.export.calibration import load_calibration, save_calibration
    from rtmotion.synthetic import motion_angles, render_sequence
    from tests.pipeline.conftest import make_follow_subject

    subject = load_subject(make_follow_subject(tmp_path / "tiny-follow", RES))
    names = input_names(subject.generator_config)
    assert names[-1] == "plate"
    _, seq = render_sequence("ada", angles=motion_angles("dance", 1.0, 12, seed=5),
                             size=subject.crop.frame_size)
    with torch_thread_limiter():
        cal = record_inputs(subject, subject.crop.keypoints_to_crop(seq.keypoints, RES), 9)
    save_calibration(cal, tmp_path / "calibration" / subject.name)
    cal = load_calibration(tmp_path / "calibration" / subject.name, RES, names)
    plates = cal.arrays["plate"]
    assert plates.shape[1] == 3 and float(np.abs(plates).max()) > 0.5   # the gradient room
    ref = _frames(get_backend("torch", subject), cal, names)
    runner, choice = open_engine(subject, "onnxruntime", "fp32", "cpu", tmp_path / "engines",
                                 calibration_dir=tmp_path / "calibration")
    assert [i.name for i in onnx.load(str(choice.artifact)).graph.input] == names
    assert np.abs(_frames(runner, cal, names) - ref).max() < ONNX_ATOL
