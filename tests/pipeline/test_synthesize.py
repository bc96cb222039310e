"""The sequential inference core on a tiny random-init subject (written and loaded as a real
bundle, so the test exercises the same objects `rtmotion convert` will)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtmotion.engine_request import EAGER_CPU
from rtmotion.kernels.maps_numpy import PoseMapConfig
from rtmotion.models.config import generator_preset
from rtmotion.models.generator import build_generator
from rtmotion.pipeline.session import synthesize_sequence
from rtmotion.pipeline.synthesize import INFERENCE_FLOW_STRIDE, SubjectSynthesizer, to_uint8_image
from rtmotion.pose.skeleton import BODY25
from rtmotion.pose.stats import SubjectPoseStats
from rtmotion.runtime import get_backend
from rtmotion.subject import load_subject, write_bundle
from rtmotion.subject.crop import CropBox

RES = (64, 64)


@pytest.fixture(autouse=True)
def _single_thread(single_torch_thread: None) -> None:
    return None


def _poses(n: int = 6) -> np.ndarray:
    """A standing person (model pixels) swaying to the right, (n, 25, 3)."""
    from rtmotion.synthetic import motion_angles, render_sequence

    _, seq = render_sequence("ada", angles=motion_angles("dance", n / 30, 30, seed=3), size=RES)
    return seq.keypoints


@pytest.fixture(scope="module")
def random_subject(tmp_path_factory: pytest.TempPathFactory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("subject") / "rand"
    gen = build_generator(generator_preset("tiny", resolution=RES))
    with torch.no_grad():  # a gate that really mixes the warped previous frame in
        gen.head.bias[3].fill_(1.0)
    pmc = PoseMapConfig(size=RES)
    poses = _poses(40)
    stats = SubjectPoseStats.from_keypoints(poses, BODY25.joints, RES, "body25")
    write_bundle(folder, name="rand", resolution=RES, crop=CropBox(0, 0, 64, 64, RES),
                 pose_map_config=pmc, generator=gen.eval(), stats=stats,
                 source_video={"path": "", "width": 64, "height": 64, "fps": "30",
                               "frame_count": 40, "pose_source": "test"},
                 validation_range=(30, 40), training={}, weights_dtype="float32")
    return load_subject(folder)


def test_frames_have_right_shape_dtype_and_state(random_subject) -> None:
    poses = _poses(4)
    with SubjectSynthesizer(random_subject) as synth:
        f0 = synth(poses[0])
        assert synth.last_mode == "pose-only"
        assert f0.shape == (64, 64, 3) and f0.dtype == np.uint8
        f1 = synth(poses[1])
        assert synth.last_mode == "warped"
        gate = synth.last_gate
        assert gate is not None and gate.shape == (1, 1, 64, 64) and float(gate.max()) > 0.5
        # Frame 1 depends on frame 0: the same pose after a reset (no previous) differs.
        synth.reset()
        f1_fresh = synth(poses[1])
        assert synth.last_mode == "pose-only"
    assert not np.array_equal(f1, f1_fresh)


def test_second_frame_is_generator_on_warped_previous(random_subject) -> None:
    """Recompute frame 1 by hand: maps, warp of frame 0's float output, generator."""
    from rtmotion.kernels.maps_torch import pose_maps_torch
    from rtmotion.kernels.warp_torch import warp_previous

    poses = _poses(2)
    with SubjectSynthesizer(random_subject) as synth:
        synth(poses[0])
        got = synth(poses[1])
    with SubjectSynthesizer(random_subject, flow_stride=1) as exact:
        exact(poses[0])
        got_exact = exact(poses[1])
    gen = random_subject.generator
    kp = torch.from_numpy(poses).float()
    with torch.no_grad():
        m0 = pose_maps_torch(kp[0:1], random_subject.pose_map_config)
        f0, _, _ = gen(m0, None)
        warped, mask = warp_previous(f0, kp[0:1], kp[1:2], random_subject.pose_flow_config)
        assert float(mask.mean()) > 0.5  # the warp is mostly valid
        f1, _, _ = gen(pose_maps_torch(kp[1:2], random_subject.pose_map_config), warped, mask)
        # inference's pose flow: on a grid INFERENCE_FLOW_STRIDE times coarser, upsampled
        coarse, cmask = warp_previous(f0, kp[0:1], kp[1:2], random_subject.pose_flow_config,
                                      stride=INFERENCE_FLOW_STRIDE)
        f1c, _, _ = gen(pose_maps_torch(kp[1:2], random_subject.pose_map_config), coarse, cmask)
    assert INFERENCE_FLOW_STRIDE == 2
    assert np.abs(got.astype(int) - to_uint8_image(f1c).astype(int)).max() <= 1
    assert np.abs(got_exact.astype(int) - to_uint8_image(f1).astype(int)).max() <= 1   # stride 1: training's


def test_no_person_repeats_last_then_restarts(random_subject) -> None:
    poses = _poses(3)
    empty = np.zeros((25, 3), np.float32)
    with SubjectSynthesizer(random_subject) as synth:
        blank = synth(empty)  # nothing yet: the blank scene
        assert synth.last_mode == "blank"
        assert blank.shape == (64, 64, 3)
        np.testing.assert_array_equal(blank, synth.blank_scene())
        f0 = synth(poses[0])
        again = synth(empty)
        assert synth.last_mode == "repeat"
        np.testing.assert_array_equal(again, f0)
        synth(poses[1])
        assert synth.last_mode == "pose-only"  # state dropped across the gap


def test_bad_keypoints_shape(random_subject) -> None:
    with SubjectSynthesizer(random_subject) as synth, pytest.raises(ValueError, match=r"\(25, 3\)"):
        synth(np.zeros((33, 3), np.float32))


def test_synthesize_sequence_torch_and_onnxruntime_agree(random_subject, tmp_path) -> None:
    poses = _poses(5)
    t_frames = list(synthesize_sequence(random_subject, poses, EAGER_CPU))
    o_frames = list(synthesize_sequence(random_subject, poses,
                                        EAGER_CPU.but(backend="onnxruntime", engine_dir=tmp_path)))
    assert len(t_frames) == len(o_frames) == 5
    for a, b in zip(t_frames, o_frames):
        assert a.shape == (64, 64, 3) and a.dtype == np.uint8
        # float differences ~1e-5 can flip a rounding: at most 1 grey level apart
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_synthesizer_with_given_runner_uses_it(random_subject) -> None:
    runner = get_backend("torch", random_subject)
    with SubjectSynthesizer(random_subject, runner) as synth:
        assert runner.is_open
        synth(_poses(1)[0])
    assert not runner.is_open


def test_face_enhancer_changes_only_the_face_and_not_the_state(random_subject, tmp_path) -> None:
    import dataclasses

    from rtmotion.models.config import FaceConfig
    from rtmotion.models.face import FaceEnhancer
    from rtmotion.pose.boxes import face_crop_box as face_box

    torch.manual_seed(1)
    face = FaceEnhancer(FaceConfig(crop_size=16, pose_channels=25, base_channels=8, n_down=1, n_res=1))
    with torch.no_grad():  # the head is zero-initialized (identity); make it do something
        face.head.weight.normal_(0, 0.05)
        face.head.bias.fill_(0.3)
    with_face = dataclasses.replace(random_subject, face=face.eval(), face_side=16)
    poses = _poses(3)
    plain = list(synthesize_sequence(random_subject, poses))
    enhanced = list(synthesize_sequence(with_face, poses))
    no_face = list(synthesize_sequence(with_face, poses, use_face=False))
    for t in range(3):
        np.testing.assert_array_equal(no_face[t], plain[t])
        x0, y0, x1, y1 = face_box(poses[t], RES, 16, side=16)
        diff = np.abs(enhanced[t].astype(int) - plain[t].astype(int)).sum(axis=2)
        assert diff[y0:y1, x0:x1].max() > 10          # the face crop is changed...
        outside = diff.copy()
        outside[y0:y1, x0:x1] = 0
        # ...nothing else, also in frames 1 and 2: the state kept for warping is the generator's
        # own frame, not the enhanced one (else the convolutions would spread the change).
        assert outside.max() == 0


def test_the_inference_flow_grid_is_coarse_on_the_cpu_only(random_subject) -> None:
    """The CPU evaluates the pose flows on a grid twice as coarse (a sixth less CPU a frame for
    the same held-out SSIM, docs/BENCHMARKS.md); a GPU computes them exactly, as CuPy does."""
    from rtmotion.pipeline.synthesize import default_flow_stride

    assert default_flow_stride(torch.device("cpu")) == INFERENCE_FLOW_STRIDE == 2
    assert default_flow_stride(torch.device("cuda")) == 1
    with SubjectSynthesizer(random_subject) as synth:
        assert synth.flow_stride == 2
    with pytest.raises(ValueError, match="flow_stride must be >= 1, got 0"):
        SubjectSynthesizer(random_subject, flow_stride=0)
