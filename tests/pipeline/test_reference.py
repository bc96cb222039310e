"""The appearance reference at inference: the nearest keyframe, warped, reaches the generator
the same way on every path (inline, two-stage, the CUDA synthesizer's CPU path, convert)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rtmotion.export.calibration import RecordingRunner
from rtmotion.kernels.warp_torch import warp_previous
from rtmotion.pipeline.cuda_synth import CudaOptions
from rtmotion.pipeline.reference import (
    FADE_AGREE_LEVELS,
    FADE_AGREE_RAMP,
    FADE_FRAMES,
    Reference,
    ReferencePicker,
    blend_references,
    keyframe_tensors,
)
from rtmotion.pipeline.synthesize import PosePreparer, SubjectSynthesizer
from rtmotion.runtime import get_backend
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


def test_a_change_of_keyframe_fades_in_over_the_next_frames(subject) -> None:
    a, b = _poses(subject, 2)                   # nearest keyframes 0 and 1
    picker = ReferencePicker(subject.keyframes, "cpu", subject.pose_flow_config)
    kp_b = torch.from_numpy(b)[None]
    plain = ReferencePicker(subject.keyframes, "cpu", subject.pose_flow_config)
    new = plain(b, kp_b)
    old = plain._warp(0, kp_b, None)
    picker(a, torch.from_numpy(a)[None])        # a sequence starts on keyframe 0
    for step in range(FADE_FRAMES, 0, -1):      # then keyframe 1 is the nearest
        ref = picker(b, kp_b, continuing=True)
        want = blend_references(old, new, step / (FADE_FRAMES + 1))
        assert ref.index.tolist() == [1]
        torch.testing.assert_close(ref.warped, want.warped, rtol=0, atol=0)
        torch.testing.assert_close(ref.image, want.image, rtol=0, atol=0)
        assert float((ref.warped - new.warped).abs().max()) > 0.05  # really the blend
    done = picker(b, kp_b, continuing=True)     # the fade is over: keyframe 1 alone
    torch.testing.assert_close(done.warped, new.warped, rtol=0, atol=0)
    picker(a, torch.from_numpy(a)[None], continuing=True)
    fresh = picker(b, kp_b, continuing=False)   # a new sequence: no fade from the last one
    torch.testing.assert_close(fresh.warped, new.warped, rtol=0, atol=0)


def test_a_blend_dissolves_where_the_keyframes_agree_and_cuts_where_they_do_not() -> None:
    def ref(values: list[float], mask: list[float], index: int) -> Reference:
        v = torch.tensor(values, dtype=torch.float32).view(1, 1, 1, 3).expand(1, 3, 1, 3)
        m = torch.tensor(mask, dtype=torch.float32).view(1, 1, 1, 3)
        return Reference(v.clone(), m, -v.clone(), np.array([index]))

    # pixel 0: the same; 1: 40 grey levels apart (dissolves); 2: 200 apart (the new one's)
    old = ref([0.0, 40 / 127.5, 200 / 127.5], [1, 0, 1], 4)
    new = ref([0.0, 0.0, 0.0], [1, 1, 0], 7)
    blend = blend_references(old, new, 0.75)
    torch.testing.assert_close(blend.warped[0, 0, 0], torch.tensor([0.0, 0.75 * 40 / 127.5, 0.0]))
    torch.testing.assert_close(blend.image, -blend.warped)
    # where only the new keyframe's warp is valid, the generator is told a quarter of it is
    torch.testing.assert_close(blend.mask[0, 0, 0], torch.tensor([1.0, 0.25, 0.0]))
    assert blend.index.tolist() == [7]
    half = FADE_AGREE_LEVELS + FADE_AGREE_RAMP / 2  # half way down the ramp: half the share
    mid = blend_references(ref([half / 127.5] * 3, [1, 1, 1], 4), new, 0.5)
    torch.testing.assert_close(mid.warped, torch.full((1, 3, 1, 3), 0.25 * half / 127.5))


def test_the_synthesizer_fades_within_a_sequence_not_across_a_gap(subject) -> None:
    a, b = _poses(subject, 2)
    none = np.zeros_like(a)
    recorder = RecordingRunner(get_backend("torch", subject, "cpu"))
    with SubjectSynthesizer(subject, runner=recorder) as synth:
        for kp in (a, b, none, a, none, b):   # a change within a run of frames, then after gaps
            synth(kp)
        stride = synth.flow_stride
    warped = recorder.arrays()["ref_warped"]
    plain = ReferencePicker(subject.keyframes, "cpu", subject.pose_flow_config, stride)
    new_b = plain(b, torch.from_numpy(b)[None]).warped[0].numpy()
    assert np.abs(warped[1] - new_b).max() > 0.05          # frame 2 fades from keyframe 0
    np.testing.assert_allclose(warped[-1], new_b, atol=1e-6)  # after the gap: keyframe 1


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
