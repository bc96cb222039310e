"""Fixtures for the engine tests: a tiny 32x32 subject bundle (random weights, written and
loaded as a real bundle) whose held-out poses come from the synthetic dancer demo-ada was
trained on, its calibration set recorded by the real recording path, and one AOTInductor
build per test session (13-70 s on the 2-core CPU)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from rtmotion.models.config import generator_preset
from rtmotion.models.generator import build_generator
from rtmotion.subject import Subject, load_subject, write_bundle

RES = (32, 32)


@pytest.fixture(autouse=True)
def _single_thread(single_torch_thread: None) -> None:
    return None


@pytest.fixture(scope="session")
def tiny_subject(tmp_path_factory: pytest.TempPathFactory) -> Subject:
    """A tiny-preset subject at 32x32 in demo-ada's camera frame, held-out frames 2430..2450."""
    demo = load_subject("demo-ada")
    torch.manual_seed(0)
    gen = build_generator(generator_preset("tiny", resolution=RES, background_plate=True))
    with torch.no_grad():  # a gate that really mixes the warped previous frame in
        gen.head.bias[3].fill_(0.5)
    gen.set_background(torch.rand(1, 3, *RES) * 2 - 1)
    folder = tmp_path_factory.mktemp("subjects") / "tiny"
    # Driven by the synthetic ground truth: no pose file (demo-ada's names the file it was
    # trained on, which exists on the machine that trained it).
    source = {**demo.source_video, "path": "", "pose_source": "synthetic", "pose_extractor": "synthetic",
              "pose_file": None}
    write_bundle(folder, name="tiny", resolution=RES, crop=demo.crop,
                 pose_map_config=dataclasses.replace(demo.pose_map_config, size=RES),
                 generator=gen.eval(), stats=demo.stats, source_video=source,
                 validation_range=(2430, 2450), training={}, weights_dtype="float32",
                 pose_flow_config=demo.pose_flow_config)
    return load_subject(folder)


def record_calibration(subject: Subject, root: Path, limiter) -> Path:
    """`root`/<subject name> with 9 generator calls recorded over the subject's held-out poses
    by the real recording path. Returns `root`."""
    from rtmotion.eval.recording import calibration_poses, record_inputs
    from rtmotion.export.calibration import save_calibration

    with limiter():
        kps, source = calibration_poses(subject, None, None)
        cal = record_inputs(subject, kps, 9)
    cal.info.update(subject=subject.name, poses=source)
    save_calibration(cal, root / subject.name)
    return root


def run_recorded(runner, cal, names) -> tuple[np.ndarray, np.ndarray]:
    """Run every recorded frame through `runner` (torch tensors in, as the pipeline calls):
    (frames N x 3 x H x W, gates N x 1 x H x W), float32."""
    frames, gates = [], []
    with runner:
        for i in range(len(cal)):
            f, g = runner(*(torch.from_numpy(v) for v in cal.feeds(i, names).values()))
            frames.append(f.cpu().numpy())
            gates.append(g.cpu().numpy())
    return np.concatenate(frames), np.concatenate(gates)


@pytest.fixture(scope="session")
def calibration_root(tiny_subject: Subject, tmp_path_factory: pytest.TempPathFactory,
                     torch_thread_limiter) -> Path:
    """calibration/ with tiny's set: 9 generator calls recorded over its 20 held-out poses."""
    return record_calibration(tiny_subject, tmp_path_factory.mktemp("calibration"),
                              torch_thread_limiter)


@pytest.fixture(scope="session")
def aoti_engine(tiny_subject: Subject, calibration_root: Path,
                tmp_path_factory: pytest.TempPathFactory, torch_thread_limiter):
    """(runner, choice) of tiny's AOTInductor CPU engine, built once per session."""
    from rtmotion.export import open_engine

    engines = tmp_path_factory.mktemp("engines-aoti")
    with torch_thread_limiter():
        return open_engine(tiny_subject, "aoti", "fp32", "cpu", engines,
                           calibration_dir=calibration_root)
