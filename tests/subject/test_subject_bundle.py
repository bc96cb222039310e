"""Subject bundles and training checkpoints: round trip and one clear CheckpointError per fault."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rtmotion.errors import CheckpointError
from rtmotion.kernels.maps_numpy import PoseMapConfig
from rtmotion.models.config import generator_preset
from rtmotion.models.generator import PoseGenerator
from rtmotion.pose.stats import SubjectPoseStats
from rtmotion.subject import bundle as B
from rtmotion.subject.crop import CropBox
from rtmotion.train import checkpoint as C


def _write(folder: Path, res: int = 32, preset: str = "tiny") -> PoseGenerator:
    torch.manual_seed(0)
    pmc = PoseMapConfig(size=(res, res))
    gen = PoseGenerator(generator_preset(preset, (res, res), pose_channels=pmc.num_channels))
    kp = np.zeros((5, 25, 3), np.float32)
    kp[..., 0], kp[..., 1], kp[..., 2] = 10, np.linspace(2, 30, 25), 1
    stats = SubjectPoseStats.from_keypoints(kp, tuple(f"j{i}" for i in range(25)), (res, res))
    B.write_bundle(folder, name="t", resolution=(res, res), crop=CropBox(0, 0, 64, 64, (64, 64)),
                   pose_map_config=pmc, generator=gen, stats=stats, source_video={"name": "x.mp4"},
                   validation_range=(90, 100), training={"steps": 0},
                   preview=np.zeros((res, 3 * res, 3), np.uint8))
    return gen


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bundle") / "subj"
    _write(folder)
    return folder


def _copy(bundle: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(bundle, dst)
    return dst


def test_roundtrip(bundle: Path, tmp_path: Path) -> None:
    gen = _write(tmp_path / "s")  # same seed -> same weights as `bundle`
    s = B.load_subject(bundle)
    assert s.name == "t" and s.resolution == (32, 32) and s.validation_range == (90, 100)
    assert not s.generator.training
    assert s.crop == CropBox(0, 0, 64, 64, (64, 64)) and s.pose_map_config.size == (32, 32)
    maps = torch.rand(1, s.pose_map_config.num_channels, 32, 32)
    with torch.no_grad():
        out, gate, _ = s.generator(maps, None)
        ref, _, _ = gen.eval()(maps, None)
    assert out.shape == (1, 3, 32, 32)
    assert (out - ref).abs().max() < 2e-2  # fp16 storage
    info = json.loads((bundle / "subject.json").read_text())
    assert info["format"] == "rtmotion-subject" and info["bundle_version"] == B.BUNDLE_VERSION
    assert (bundle / "preview.png").stat().st_size > 0
    assert (bundle / "generator.pt").stat().st_size < 2_000_000


def test_the_pose_flow_round_trips_and_old_bundles_keep_theirs(tmp_path: Path) -> None:
    """A bundle records its pose flow; one from before the rigid head (no "head" key) is driven
    as it was trained, every head bone on its own. One from before the clamp of foreshortened
    bones (no "max_along") gets the clamp (it left such subjects' scores where they were); one
    recording null keeps its bones unclamped. One from before the reference's ghost mask (no
    "mask_ghosts") is driven without it, as it was trained."""
    from rtmotion.kernels.flow_numpy import MAX_ALONG, PoseFlowConfig

    folder = tmp_path / "s"
    _write(folder)
    assert B.load_subject(folder).pose_flow_config is None
    _edit_json(folder, pose_flow={"sigma_frac": 0.02, "head": "rigid", "mask_ghosts": True})
    assert B.load_subject(folder).pose_flow_config == PoseFlowConfig(sigma_frac=0.02)
    _edit_json(folder, pose_flow={"sigma_frac": 0.02, "head": "rigid"})
    assert B.load_subject(folder).pose_flow_config.mask_ghosts is False
    _edit_json(folder, pose_flow={"sigma_frac": 0.02})
    old = B.load_subject(folder).pose_flow_config
    assert old.head == "bones" and old.max_along == MAX_ALONG and old.mask_ghosts is False
    # the shipped demo (retrained 2026-12-05) records today's pose flow
    demo = B.load_subject("demo-ada").pose_flow_config
    assert demo.head == "rigid" and demo.mask_ghosts is True and demo.max_along == MAX_ALONG
    _edit_json(folder, pose_flow={"sigma_frac": 0.02, "max_along": None})
    assert B.load_subject(folder).pose_flow_config.max_along is None
    _edit_json(folder, pose_flow={"sigma_frac": 0.02, "max_along": 0.5})
    with pytest.raises(CheckpointError, match="max_along"):
        B.load_subject(folder)


def _edit_json(folder: Path, **changes) -> None:
    p = folder / "subject.json"
    d = json.loads(p.read_text())
    d.update(changes)
    p.write_text(json.dumps(d))


@pytest.mark.parametrize("fault, match", [
    ("no_folder", "subject not found"),
    ("no_json", "missing: this folder is not an rtmotion subject"),
    ("bad_json", "damaged, not readable JSON"),
    ("format", "not an rtmotion subject \\(format 'something-else'"),
    ("too_new", "made by a newer rtmotion"),
    ("too_old", "too old"),
    ("no_generator", "generator weights not found"),
    ("garbage_generator", "damaged or not a torch file"),
    ("other_kind", "holds 'rtmotion.FaceEnhancer' weights"),
    ("config_mismatch", "generator config differs"),
    ("shape_mismatch", "does not fit its config"),
    ("no_stats", "pose statistics file not found"),
])
def test_checkpoint_errors(bundle: Path, tmp_path: Path, fault: str, match: str) -> None:
    f = _copy(bundle, tmp_path)
    gp = f / "generator.pt"
    if fault == "no_folder":
        f = tmp_path / "nope"
    elif fault == "no_json":
        (f / "subject.json").unlink()
    elif fault == "bad_json":
        (f / "subject.json").write_text("{not json")
    elif fault == "format":
        _edit_json(f, format="something-else")
    elif fault == "too_new":
        _edit_json(f, bundle_version=B.BUNDLE_VERSION + 1)
    elif fault == "too_old":
        _edit_json(f, bundle_version=0)
    elif fault == "no_generator":
        gp.unlink()
    elif fault == "garbage_generator":
        gp.write_bytes(b"\x00garbage" * 100)
    elif fault == "other_kind":
        obj = torch.load(gp, weights_only=True)
        obj["kind"] = "rtmotion.FaceEnhancer"
        torch.save(obj, gp)
    elif fault == "config_mismatch":
        _edit_json(f, generator=dict(json.loads((f / "subject.json").read_text())["generator"],
                                     base_channels=8))
    elif fault == "shape_mismatch":
        obj = torch.load(gp, weights_only=True)
        k = next(iter(obj["state_dict"]))
        obj["state_dict"][k] = torch.zeros(3)
        torch.save(obj, gp)
    elif fault == "no_stats":
        (f / "pose_stats.json").unlink()
    with pytest.raises(CheckpointError, match=match) as ei:
        B.load_subject(f)
    assert "\n" not in str(ei.value)


def test_training_checkpoint_checks(tmp_path: Path) -> None:
    cfg = generator_preset("tiny", (32, 32)).to_dict()
    p = C.save_checkpoint(tmp_path / "last.pt", {"step": 7, "generator_config": cfg})
    assert C.load_checkpoint(p, cfg)["step"] == 7
    with pytest.raises(CheckpointError, match="another generator config"):
        C.load_checkpoint(p, generator_preset("small", (32, 32)).to_dict())
    obj = torch.load(p, weights_only=True)
    obj["version"] = 99
    torch.save(obj, p)
    with pytest.raises(CheckpointError, match="training checkpoint version 99"):
        C.load_checkpoint(p, cfg)
    torch.save({"kind": "something"}, p)
    with pytest.raises(CheckpointError, match="not an rtmotion training checkpoint"):
        C.load_checkpoint(p, cfg)
    with pytest.raises(CheckpointError, match="training checkpoint not found"):
        C.load_checkpoint(tmp_path / "missing.pt")
