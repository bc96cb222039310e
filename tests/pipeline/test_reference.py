"""The appearance reference at inference: the nearest keyframe, warped, reaches the generator
the same way on every path (inline, two-stage, the CUDA synthesizer's CPU path, convert)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rtmotion.kernels.warp_torch import warp_previous
from rtmotion.pipeline.cuda_synth import CudaOptions
from rtmotion.pipeline.reference import ReferencePicker, keyframe_tensors
from rtmotion.pipeline.synthesize import PosePreparer, SubjectSynthesizer
from rtmotion.subject import load_subject
from rtmotion.subject.keyframes import KeyframeSet


@pytest.fixture(scope="module")
def subject(reference_subject_path: Path):
    return load_subject(reference_subject_path)


def _poses(subject, n: int = 8) -> list[np.ndarray]:
    kf = subject.keyframes
    # Keyframe poses, nudged: the nearest keyframe is known and the warp is not the identity.
    out = []
    for i in range(n):
        kp = kf.keypoints[i % len(kf)].copy()
        kp[:, 0] += np.where(kp[:, 2] > 0, 1.5, 0.0)
        out.append(kp)
    return out


def test_bundle_carries_the_keyframes(subject) -> None:
    assert subject.generator_config.use_reference
    assert isinstance(subject.keyframes, KeyframeSet) and len(subject.keyframes) == 8
    assert subject.keyframes.size == subject.resolution
    assert subject.info["keyframes"]["count"] == 8


def test_picker_warps_the_nearest_keyframe(subject) -> None:
    kp = _poses(subject)[3]
    picker = ReferencePicker(subject.keyframes, "cpu", subject.pose_flow_config)
    ref = picker(kp, torch.from_numpy(kp)[None])
    assert ref.index.tolist() == [3]
    images, kps = keyframe_tensors(subject.keyframes, "cpu")
    warped, mask = warp_previous(images[3:4], kps[3:4], torch.from_numpy(kp)[None],
                                 subject.pose_flow_config)
    torch.testing.assert_close(ref.warped, warped, rtol=0, atol=0)
    torch.testing.assert_close(ref.mask, mask, rtol=0, atol=0)
    torch.testing.assert_close(ref.image, images[3:4], rtol=0, atol=0)
    assert float((ref.warped - ref.image).abs().max()) > 0.05  # really warped


def test_the_reference_changes_the_frames(subject) -> None:
    poses = _poses(subject, 3)
    with SubjectSynthesizer(subject) as synth:
        a = [synth(kp) for kp in poses]
    other = KeyframeSet(255 - subject.keyframes.images, subject.keyframes.keypoints,
                        subject.keyframes.frames)
    subject_b = load_subject(subject.path)
    subject_b.keyframes = other
    with SubjectSynthesizer(subject_b) as synth:
        b = [synth(kp) for kp in poses]
    for x, y in zip(a, b):
        assert np.abs(x.astype(int) - y.astype(int)).mean() > 10


def test_two_stage_and_cuda_cpu_paths_give_the_same_frames(subject) -> None:
    poses = _poses(subject)
    seq = poses[:3] + [np.zeros_like(poses[0])] + poses[3:]
    with SubjectSynthesizer(subject) as inline:
        ref = [inline(kp) for kp in seq]
    with SubjectSynthesizer(subject) as two_stage:
        prep = PosePreparer(two_stage)
        got = [two_stage.generate(prep(kp)) for kp in seq]
    with SubjectSynthesizer(subject, device="cpu", cuda=CudaOptions(graphs=False)) as cuda_cpu:
        got_cuda = [cuda_cpu(kp) for kp in seq]
    for a, b, c in zip(ref, got, got_cuda):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_missing_keyframes_file_is_one_clear_error(reference_subject_path: Path, tmp_path: Path) -> None:
    import shutil

    from rtmotion.errors import CheckpointError

    copy = tmp_path / "copy"
    shutil.copytree(reference_subject_path, copy)
    (copy / "keyframes.npz").unlink()
    with pytest.raises(CheckpointError, match="needs its keyframes"):
        load_subject(copy)
