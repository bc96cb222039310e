"""The face enhancer in ONNX Runtime: the same residual as torch, picked beside compiled
generators on the CPU, and the same frames through a synthesizer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtmotion.models.config import FaceConfig
from rtmotion.models.face import FaceEnhancer
from rtmotion.runtime.face_onnx import FACE_ATOL, OnnxFaceEnhancer, face_for_runner


@pytest.fixture(scope="module")
def face() -> FaceEnhancer:
    torch.manual_seed(0)
    f = FaceEnhancer(FaceConfig(crop_size=32, pose_channels=25)).eval()
    with torch.no_grad():  # the head starts at zero (identity): give it a real residual
        f.head.weight.normal_(0, 0.05)
    return f


def test_onnx_face_matches_torch(face: FaceEnhancer) -> None:
    onnx_face = OnnxFaceEnhancer(face)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    m = torch.rand(2, 25, 32, 32, generator=g)
    with torch.no_grad():
        want_e, want_r = face(x, m)
    got_e, got_r = onnx_face(x, m)
    assert float(want_r.abs().max()) > 0.01                      # a residual worth checking
    assert float((got_r - want_r).abs().max()) <= FACE_ATOL
    assert float((got_e - want_e).abs().max()) <= FACE_ATOL
    assert onnx_face.config == face.config and onnx_face.max_abs_diff <= FACE_ATOL


def test_onnx_face_is_used_beside_compiled_cpu_generators_only(face: FaceEnhancer) -> None:
    cpu = torch.device("cpu")
    assert face_for_runner(face, "torch", cpu) is face
    assert face_for_runner(face, "tensorrt", torch.device("cuda", 0)) is face
    assert isinstance(face_for_runner(face, "onnxruntime", cpu), OnnxFaceEnhancer)
    assert isinstance(face_for_runner(face, "aoti", cpu), OnnxFaceEnhancer)


def test_a_synthesizer_draws_the_same_frames_with_either_face() -> None:
    """demo-ada (which has a face enhancer) through its synthesizer, the face in torch and in
    ONNX Runtime: the same frames to within a grey level."""
    from rtmotion.eval.recording import calibration_poses
    from rtmotion.pipeline.synthesize import SubjectSynthesizer
    from rtmotion.subject import load_subject

    subject = load_subject("demo-ada")
    kps, _ = calibration_poses(subject, None, None, max_poses=6)  # rendering all 270: 18 s
    with SubjectSynthesizer(subject) as torch_face, SubjectSynthesizer(subject) as onnx_face:
        onnx_face.face = OnnxFaceEnhancer(subject.face)
        for kp in kps[:6]:
            a, b = torch_face(kp), onnx_face(kp)
            assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
