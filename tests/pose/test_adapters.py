"""Pose sources other than per-frame estimation: OpenPose JSON folders (BODY_25, COCO-18), pose
file replay, synthetic ground truth; and the extractor registry."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from rtmotion.cli import main
from rtmotion.errors import InputError
from rtmotion.pose.extractors import available_extractors, get_extractor, load_sequence
from rtmotion.pose.extractors.openpose_json import load_openpose_folder, parse_openpose_frame
from rtmotion.pose.posefile import PoseSequence
from rtmotion.pose.skeleton import BODY25
from rtmotion.synthetic.extractor import parse_spec

COCO18 = ("nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
          "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear", "l_ear")


def _body(scale: float = 1.0, dx: float = 0.0, t: int = 0) -> dict[str, tuple[float, float]]:
    """Named 2D joints of a figure (pixels), moving right by 2 px per frame."""
    base = {"nose": (100, 30), "neck": (100, 50), "r_shoulder": (80, 50), "r_elbow": (70, 80),
            "r_wrist": (65, 110), "l_shoulder": (120, 50), "l_elbow": (130, 80), "l_wrist": (135, 110),
            "r_hip": (90, 110), "r_knee": (88, 145), "r_ankle": (86, 180), "l_hip": (110, 110),
            "l_knee": (112, 145), "l_ankle": (114, 180), "r_eye": (95, 26), "l_eye": (105, 26),
            "r_ear": (90, 28), "l_ear": (110, 28), "l_big_toe": (120, 190), "l_small_toe": (124, 188),
            "l_heel": (112, 186), "r_big_toe": (80, 190), "r_small_toe": (76, 188), "r_heel": (88, 186)}
    base["mid_hip"] = (100, 110)
    return {k: (x * scale + dx + 2 * t, y * scale) for k, (x, y) in base.items()}


def _flat(joints: dict[str, tuple[float, float]], order: tuple[str, ...], conf: float = 0.8) -> list[float]:
    out: list[float] = []
    for name in order:
        x, y = joints[name]
        out += [x, y, conf]
    return out


def _write_folder(folder: Path, order: tuple[str, ...], frames: int = 6) -> None:
    folder.mkdir()
    for t in range(frames):
        people = [{"person_id": [-1], "pose_keypoints_2d": _flat(_body(t=t), order),
                   "face_keypoints_2d": [], "hand_left_keypoints_2d": []}]
        if t == 1:   # a second, smaller person far away: the big one must be chosen
            people.insert(0, {"person_id": [-1],
                              "pose_keypoints_2d": _flat(_body(scale=0.3, dx=300), order, conf=0.95)})
        if t == 3:   # nobody detected
            people = []
        (folder / f"clip_{t:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))


def test_openpose_body25_folder(tmp_path: Path) -> None:
    folder = tmp_path / "json25"
    _write_folder(folder, BODY25.joints)
    seq = load_openpose_folder(folder, fps=Fraction(25), size=(640, 480))
    assert len(seq) == 6 and seq.size == (640, 480) and seq.fps == 25
    assert seq.extractor == "openpose-BODY_25"
    np.testing.assert_allclose(seq.timestamps, np.arange(6) / 25)
    for t in (0, 1, 2, 4, 5):
        for name, (x, y) in _body(t=t).items():
            np.testing.assert_allclose(seq.joint(name)[t], (x, y, 0.8), atol=1e-4)
    assert not seq.detected[3] and (seq.keypoints[3] == 0).all()


def test_openpose_coco18_folder(tmp_path: Path) -> None:
    folder = tmp_path / "json18"
    _write_folder(folder, COCO18)
    seq = load_openpose_folder(folder)  # no size given: from the keypoints (with a warning)
    assert seq.extractor == "openpose-COCO" and len(seq) == 6 and seq.fps == 30
    body = _body(t=2)
    np.testing.assert_allclose(seq.joint("r_knee")[2, :2], body["r_knee"])
    np.testing.assert_allclose(seq.joint("mid_hip")[2, :2],            # midpoint of the hips
                               np.mean([body["r_hip"], body["l_hip"]], axis=0))
    assert (seq.joint("l_heel")[:, 2] == 0).all()                     # COCO has no feet
    assert seq.size[0] >= max(x for x, _ in body.values())


def test_openpose_frames_sorted_numerically(tmp_path: Path) -> None:
    folder = tmp_path / "unpadded"
    folder.mkdir()
    for t in (0, 1, 2, 10):
        doc = {"people": [{"pose_keypoints_2d": _flat(_body(t=t), BODY25.joints)}]}
        (folder / f"v_{t}_keypoints.json").write_text(json.dumps(doc))
    seq = load_openpose_folder(folder, size=(400, 400))
    xs = seq.joint("nose")[:, 0]
    assert list(xs) == sorted(xs)


def test_openpose_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="75 \\(BODY_25\\) or 54"):
        parse_openpose_frame({"people": [{"pose_keypoints_2d": [1.0] * 30}]}, "f.json")
    with pytest.raises(InputError, match="not an OpenPose"):
        parse_openpose_frame({"persons": []}, "f.json")
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "a_000000000000_keypoints.json").write_text("{not json")
    with pytest.raises(InputError, match="a_000000000000_keypoints.json"):
        load_openpose_folder(folder)
    with pytest.raises(InputError, match="no \\*_keypoints.json"):
        load_openpose_folder(tmp_path / "broken" / "..")


def test_cli_openpose_auto_detect_with_video(tmp_path: Path, dancer_clip, capsys) -> None:
    folder = tmp_path / "op"
    _write_folder(folder, BODY25.joints, frames=8)
    out = tmp_path / "op.npz"
    rc = main(["-q", "extract", str(folder), "-o", str(out), "--video", str(dancer_clip.video)])
    assert rc == 0, capsys.readouterr().err
    seq = PoseSequence.load(out)
    assert len(seq) == 8 and seq.size == (256, 256) and seq.fps == 30
    assert seq.extractor == "openpose-BODY_25"
    # Frame 3 had nobody: interpolated from its neighbours (gap of 1 <= --max-gap), flagged
    # by a halved confidence.
    assert seq.detected[3]
    np.testing.assert_allclose(seq.joint("nose")[3, 2], 0.4, atol=1e-6)


def test_npz_replay(tmp_path: Path, dancer_clip, capsys) -> None:
    gt = dancer_clip.seq
    # Whole-sequence: re-filtering an existing pose file keeps frames and metadata.
    seq = load_sequence("npz", dancer_clip.poses)
    np.testing.assert_array_equal(seq.keypoints, gt.keypoints)
    out = tmp_path / "refiltered.npz"
    assert main(["-q", "extract", str(dancer_clip.poses), "-o", str(out), "--filter", "median"]) == 0
    re = PoseSequence.load(out)
    assert len(re) == len(gt) and re.size == gt.size
    err = np.linalg.norm(re.keypoints[..., :2] - gt.keypoints[..., :2], axis=-1)[gt.keypoints[..., 2] > 0]
    assert err.mean() < 2.0  # ground truth is smooth: the median barely moves it
    # Per-frame: replay in order, rescaled to a different image size.
    with get_extractor("npz", path=str(dancer_clip.poses)) as ex:
        k0 = ex(np.zeros((512, 512, 3), np.uint8))
        k1 = ex(np.zeros((256, 256, 3), np.uint8))
    np.testing.assert_allclose(k0[:, :2], gt.keypoints[0, :, :2] * 2, atol=1e-3)
    np.testing.assert_allclose(k1, gt.keypoints[1], atol=1e-5)


def test_synthetic_source(tmp_path: Path) -> None:
    kw = parse_spec("synthetic:bruno,wave,seconds=1,size=128x96,fps=24,seed=3")
    assert kw["character"] == "bruno" and kw["motion"] == "wave" and kw["size"] == (128, 96)
    seq = load_sequence("synthetic", "synthetic:character=mira,seconds=0.5,size=128x128")
    assert len(seq) == 15 and seq.size == (128, 128) and seq.detected.all()
    with pytest.raises(InputError, match="bad synthetic spec"):
        parse_spec("synthetic:ada,dance,extra")
    with get_extractor("synthetic", spec="synthetic:mira,seconds=0.5,size=128x128") as ex:
        np.testing.assert_allclose(ex(np.zeros((128, 128, 3), np.uint8)), seq.keypoints[0])
    out = tmp_path / "gt.npz"
    assert main(["-q", "extract", "synthetic:kofi,seconds=0.5", "-o", str(out), "--filter", "none"]) == 0
    assert len(PoseSequence.load(out)) == 15


def test_registry() -> None:
    assert {"mediapipe", "npz", "synthetic"} <= set(available_extractors())
    with pytest.raises(ValueError, match="unknown pose extractor 'nope'"):
        get_extractor("nope")
    with pytest.raises(ValueError, match="cannot load"):
        get_extractor("no_such_module_xyz:Thing")


@pytest.mark.mediapipe
def test_mediapipe_complexity_refused_without_download() -> None:
    import importlib.util

    from rtmotion.pose.extractors.mediapipe import model_path

    root = Path(list(importlib.util.find_spec("mediapipe").submodule_search_locations)[0])
    lite = root / "modules" / "pose_landmark" / "pose_landmark_lite.tflite"
    if model_path(0) is not None:
        pytest.skip("this mediapipe has the lite model installed")
    with pytest.raises(InputError, match="complexity 0"):
        get_extractor("mediapipe", model_complexity=0).open()
    assert not lite.exists()  # nothing was downloaded
    with pytest.raises(InputError, match="must be 0, 1 or 2"):
        get_extractor("mediapipe", model_complexity=5)
    with get_extractor("mediapipe") as ex:
        kp = ex(np.zeros((96, 96, 3), np.uint8))                       # nobody there
    assert kp.shape == (25, 3) and kp.dtype == np.float32 and (kp == 0).all()
