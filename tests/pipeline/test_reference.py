"""The appearance reference at inference: the nearest keyframe, warped, reaches the generator
the same way on every path (inline, two-stage, the CUDA synthesizer's CPU path, convert)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from rtmotion.export.calibration import RecordingRunner
from rtmotion.kernels.flow_numpy import PoseFlowConfig
from rtmotion.kernels.warp_torch import warp_previous
from rtmotion.pipeline.cuda_synth import CudaOptions
from rtmotion.pipeline.reference import (
    FADE_AGREE_LEVELS,
    FADE_AGREE_RAMP,
    FADE_FRAMES,
    Reference,
    ReferencePicker,
    blend_references,
    ghost_share,
    keyframe_body,
    keyframe_tensors,
    warp_reference,
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
    # a new subject's mask: the warp's validity less the ghosts of the keyframe's own person
    cfg = subject.pose_flow_config or PoseFlowConfig()
    assert cfg.mask_ghosts
    body, _ = warp_previous(keyframe_body(kps[3:4], images[3:4], cfg), kps[3:4],
                            torch.from_numpy(kp)[None], cfg)
    ghost = ghost_share(body, torch.from_numpy(kp)[None], cfg)
    torch.testing.assert_close(ref.mask, mask * (1 - ghost), rtol=0, atol=1e-6)
    torch.testing.assert_close(ref.image, images[3:4], rtol=0, atol=0)
    assert float((ref.warped - ref.image).abs().max()) > 0.05  # really warped


def _standing(feet_apart: float, size: int = 64) -> np.ndarray:
    """float32 (25, 3) BODY25 pose of a person standing in a size x size frame, the ankles
    `feet_apart` pixels either side of the centre line (feet, eyes and ears missing)."""
    c = size / 2
    joints = {0: (c, 8), 1: (c, 14), 2: (c - 6, 14), 3: (c - 8, 22), 4: (c - 8, 29),
              5: (c + 6, 14), 6: (c + 8, 22), 7: (c + 8, 29), 8: (c, 32), 9: (c - 3, 32),
              10: (c - 3 - feet_apart / 2, 44), 11: (c - feet_apart, 56), 12: (c + 3, 32),
              13: (c + 3 + feet_apart / 2, 44), 14: (c + feet_apart, 56)}
    kp = np.zeros((25, 3), np.float32)
    for j, (x, y) in joints.items():
        kp[j] = (x, y, 1.0)
    return kp


def test_a_leg_the_keyframe_holds_elsewhere_is_no_valid_reference() -> None:
    """The keyframe stands with its feet apart, the pose drawn with them together: where the
    warp samples the keyframe's own leg beside the legs drawn (a ghost), the mask says invalid;
    on the body drawn and in the room it stays valid. Without `mask_ghosts` (subjects trained
    before it) the mask is the warp's alone."""
    size = 64
    key, drawn = _standing(18.0), _standing(2.0)
    image = torch.zeros(1, 3, size, size)
    images, keypoints = image, torch.from_numpy(key)[None]
    kp_cur = torch.from_numpy(drawn)[None]
    cfg = PoseFlowConfig()
    masked = warp_reference(images, keypoints, np.array([0]), kp_cur, cfg).mask[0, 0]
    plain = warp_reference(images, keypoints, np.array([0]), kp_cur,
                           replace(cfg, mask_ghosts=False)).mask[0, 0]
    # the keyframe's ankles (x 14 and 50, y 56), far from the legs drawn (x 30..34): ghosts
    # (sampled inside the keyframe, so valid for the warp alone)
    assert float(plain[56, 50]) == float(plain[54, 14]) == 1.0
    assert float(masked[56, 50]) < 0.05 and float(masked[54, 14]) < 0.05
    assert bool((masked <= plain).all())
    # the legs drawn, the torso and the room far from any body: valid
    for y, x in ((56, 30), (44, 33), (24, 32), (5, 5), (60, 60)):
        assert float(masked[y, x]) > 0.95, (y, x)
    assert float(masked.max()) <= 1.0 and float(masked.min()) >= 0.0


def test_a_keyframe_in_the_pose_drawn_has_no_ghost() -> None:
    key = _standing(10.0)
    image = torch.rand(1, 3, 64, 64) * 2 - 1
    kp = torch.from_numpy(key)[None]
    ref = warp_reference(image, kp, np.array([0]), kp, PoseFlowConfig())
    torch.testing.assert_close(ref.mask, torch.ones_like(ref.mask), rtol=0, atol=1e-5)
    torch.testing.assert_close(ref.warped, image, rtol=0, atol=1e-4)


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
