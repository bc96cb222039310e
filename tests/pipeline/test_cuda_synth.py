"""The synthesizer with its CUDA layer, on the CPU: with device="cpu" (torch kernels, no stream,
no graphs) it must give exactly the plain synthesizer's frames and states; the factory gives the
layer by device.

The CUDA parts (streams, pinned buffers, CuPy kernels, CUDA graphs) cannot exist here; they are
tested in `test_cuda_synth_gpu.py`, skipped without CUDA + CuPy. Nothing is mocked."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from rtmotion.kernels.maps_numpy import PoseMapConfig
from rtmotion.models.config import generator_preset
from rtmotion.models.generator import build_generator
from rtmotion.pipeline.cuda_synth import CudaOptions, choose_kernels
from rtmotion.pipeline.synthesize import (
    FrameSynthesizer,
    KeypointPreparer,
    PosePreparer,
    SubjectSynthesizer,
    make_synthesizer,
)
from rtmotion.pose.skeleton import BODY25
from rtmotion.pose.stats import SubjectPoseStats
from rtmotion.runtime import get_backend
from rtmotion.subject import load_subject, write_bundle
from rtmotion.subject.crop import CropBox

RES = (64, 48)  # W x H: not square, so a swapped axis would show


@pytest.fixture(autouse=True)
def _single_thread(single_torch_thread: None) -> None:
    return None


def _poses(n: int) -> np.ndarray:
    """A dancer in model pixels, (n, 25, 3)."""
    from rtmotion.synthetic import motion_angles, render_sequence

    _, seq = render_sequence("ada", angles=motion_angles("dance", n / 30, 30, seed=4), size=RES)
    return seq.keypoints.astype(np.float32)


@pytest.fixture(scope="module")
def subject(tmp_path_factory: pytest.TempPathFactory):
    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("subject") / "cuda_synth"
    gen = build_generator(generator_preset("tiny", resolution=RES))
    with torch.no_grad():  # a gate that really mixes the warped previous frame in
        gen.head.bias[3].fill_(1.0)
    poses = _poses(30)
    stats = SubjectPoseStats.from_keypoints(poses, BODY25.joints, RES, "body25")
    write_bundle(folder, name="cuda_synth", resolution=RES, crop=CropBox(0, 0, 64, 48, RES),
                 pose_map_config=PoseMapConfig(size=RES), generator=gen.eval(), stats=stats,
                 source_video={"path": "", "width": 64, "height": 48, "fps": "30",
                               "frame_count": 30, "pose_source": "test"},
                 validation_range=(20, 30), training={}, weights_dtype="float32")
    return load_subject(folder)


def _sequence() -> list[np.ndarray]:
    """Frames with a person, a gap without one, the person again."""
    poses = list(_poses(7))
    empty = np.zeros_like(poses[0])
    return poses[:3] + [empty, empty] + poses[3:]


def _run(synth: SubjectSynthesizer, seq: list[np.ndarray]) -> tuple[list[np.ndarray], list[str]]:
    images, modes = [], []
    for kp in seq:
        images.append(synth(kp))
        modes.append(synth.last_mode)
    return images, modes


def test_cpu_path_gives_framesynthesizers_frames_exactly(subject) -> None:
    seq = _sequence()
    with SubjectSynthesizer(subject) as ref_synth:
        ref, ref_modes = _run(ref_synth, seq)
        ref_synth.reset()
        ref_after_reset = ref_synth(seq[1])
        ref_gate = ref_synth.last_gate
    with SubjectSynthesizer(subject, device="cpu", cuda=CudaOptions(graphs=False)) as synth:
        assert synth.cuda is not None
        assert synth.cuda.kernels == "torch" and not synth.cuda.graphs_enabled
        assert synth.cuda.stream is None
        got, modes = _run(synth, seq)
        synth.reset()
        got_after_reset = synth(seq[1])
        assert synth.frame_stats.count == len(seq) - 2 + 1  # frames with a person only
        torch.testing.assert_close(synth.last_gate, ref_gate, rtol=0, atol=0)
    assert modes == ref_modes == ["pose-only", "warped", "warped", "repeat", "repeat",
                                  "pose-only", "warped", "warped", "warped"]
    for a, b in zip(got, ref):
        assert a.dtype == np.uint8 and a.shape == (48, 64, 3)
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(got_after_reset, ref_after_reset)


def test_blank_scene_first_and_returned_arrays_are_private(subject) -> None:
    seq = _sequence()
    empty = np.zeros_like(seq[0])
    with SubjectSynthesizer(subject) as ref_synth:
        ref_blank = ref_synth(empty)
    with SubjectSynthesizer(subject, cuda=CudaOptions(graphs=True)) as synth:  # graphs ignored on CPU
        assert synth.cuda is not None and not synth.cuda.graphs_enabled
        blank = synth(empty)
        assert synth.last_mode == "blank"
        np.testing.assert_array_equal(blank, ref_blank)
        first = synth(seq[0])
        first_copy = first.copy()
        first[:] = 0  # the caller owns its array: the synthesizer's state is not touched
        np.testing.assert_array_equal(synth(empty), first_copy)  # the repeat is the real frame


def test_face_enhancer_path_matches(subject) -> None:
    from rtmotion.models.config import FaceConfig
    from rtmotion.models.face import FaceEnhancer

    torch.manual_seed(2)
    face = FaceEnhancer(FaceConfig(crop_size=16, pose_channels=25, base_channels=8, n_down=1, n_res=1))
    with torch.no_grad():
        face.head.weight.normal_(0, 0.05)
        face.head.bias.fill_(0.3)
    with_face = dataclasses.replace(subject, face=face.eval(), face_side=16)
    seq = _sequence()
    with SubjectSynthesizer(with_face) as ref_synth:
        ref, _ = _run(ref_synth, seq)
    with SubjectSynthesizer(with_face, cuda=CudaOptions(graphs=False)) as synth:
        assert synth.face is not None
        got, _ = _run(synth, seq)
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)


def test_factory_picks_by_the_runners_device(subject) -> None:
    synth = make_synthesizer(subject, None, "cpu", True)
    with synth:
        assert synth.cuda is None  # the CPU pipeline runs without the CUDA layer
        assert synth.runner.device.type == "cpu"
    runner = get_backend("torch", subject, "cpu")
    with make_synthesizer(subject, runner, "cuda", use_face=False) as synth:  # runner decides
        assert synth.runner is runner and synth.cuda is None
        assert synth.face is None


def test_frame_synthesizer_interface_without_a_subject(subject) -> None:
    runner = get_backend("torch", subject, "cpu")
    seq = _sequence()[:3]
    with FrameSynthesizer(runner, subject.pose_map_config, subject.pose_flow_config,
                          cuda=CudaOptions()) as synth:
        images, modes = _run(synth, seq)
    assert modes == ["pose-only", "warped", "warped"]
    with SubjectSynthesizer(subject, use_face=False) as ref_synth:
        ref, _ = _run(ref_synth, seq)
    for a, b in zip(images, ref):
        np.testing.assert_array_equal(a, b)


def test_kernel_choice() -> None:
    cpu = torch.device("cpu")
    assert choose_kernels(cpu, "auto") == "torch"
    assert choose_kernels(cpu, "torch") == "torch"
    with pytest.raises(ValueError, match="CuPy"):
        choose_kernels(cpu, "cupy")
    with pytest.raises(ValueError, match="unknown kernels"):
        choose_kernels(cpu, "triton")


def test_generate_of_the_two_stage_pipeline_gives_the_same_frames(subject) -> None:
    """With the torch kernels (here: the CPU) the layer runs the synthesizer's own step: its
    preparer is the `PosePreparer` (maps and flow computed ahead) and `generate(preparer(kp))` gives the frames
    of a plain call. With CuPy (test_cuda_synth_gpu.py) the preparer only checks keypoints."""
    seq = _sequence()
    oracle = _by_hand(subject, seq)
    with SubjectSynthesizer(subject, cuda=CudaOptions(graphs=False)) as a, \
            SubjectSynthesizer(subject, cuda=CudaOptions(graphs=False)) as b:
        prep = a.preparer()
        assert isinstance(prep, PosePreparer)
        for kp, (want, mode) in zip(seq, oracle, strict=True):
            got = a.generate(prep(kp))
            np.testing.assert_array_equal(got, b(kp))
            assert a.last_mode == b.last_mode == mode
            # the frame the generator makes from maps and warp computed here, not by the class
            assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
        assert a.frame_stats.count == b.frame_stats.count == len(seq) - 2  # frames with a person


def _by_hand(subject, seq: list[np.ndarray]) -> list[tuple[np.ndarray, str]]:
    """The per-frame step written out with the subject's generator: maps of the pose; the
    previous float output warped by the pose flow (on inference's grid) when there is one; a
    frame without a person repeats the last image and forgets the previous frame."""
    from rtmotion.kernels.maps_torch import pose_maps_torch
    from rtmotion.kernels.warp_torch import warp_previous
    from rtmotion.pipeline.synthesize import INFERENCE_FLOW_STRIDE, to_uint8_image

    gen = subject.generator
    out: list[tuple[np.ndarray, str]] = []
    prev_f = prev_kp = last = None
    with torch.no_grad():
        for kp_np in seq:
            if not (kp_np[:, 2] > 0).any():
                prev_f = prev_kp = None
                assert last is not None  # the sequence starts with a person
                out.append((last, "repeat"))
                continue
            kp = torch.from_numpy(kp_np.astype(np.float32))[None]
            maps = pose_maps_torch(kp, subject.pose_map_config)
            if prev_f is None:
                f, _, _ = gen(maps, None)
                mode = "pose-only"
            else:
                warped, mask = warp_previous(prev_f, prev_kp, kp, subject.pose_flow_config,
                                             stride=INFERENCE_FLOW_STRIDE)
                f, _, _ = gen(maps, warped, mask)
                mode = "warped"
            prev_f, prev_kp, last = f.float(), kp, to_uint8_image(f)
            out.append((last, mode))
    return out


def test_keypoint_preparer_checks_and_hands_on(subject) -> None:
    """The CuPy synthesizer's preparer: checked float32 keypoints, empty when no one is seen."""
    with SubjectSynthesizer(subject) as synth:
        prep = KeypointPreparer(synth)
        kp = _sequence()[0].astype(np.float64)
        kp[0, 0] = np.nan
        got = prep(kp)
        assert got.kp_np.dtype == np.float32 and not got.empty and got.kp_np[0, 0] == 0.0
        assert prep(np.zeros_like(kp)).empty
