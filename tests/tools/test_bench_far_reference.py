"""tools/bench_far_reference.py on a subject trained here (a short synthetic clip, tiny model):
each (away, max_along) row scores the real frames, the foreshortened frames are the same for
every max_along, and a bad value is one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tool_loader import load_tool

from rtmotion.cli import main
from rtmotion.kernels.flow_numpy import PoseFlowConfig
from rtmotion.pose.skeleton import BODY25
from rtmotion.synthetic.figures import figure_keypoints

FAST = ["--preset", "tiny", "--resolution", "64", "--device", "cpu", "--workers", "0",
        "--batch-size", "2", "--d-channels", "16", "--d-scales", "1", "--sample-every", "0",
        "--min-pose-frames", "30", "--no-person-segmentation", "--steps", "2"]


def test_rows_per_away_and_clamp(dancer_clip, tmp_path: Path, capsys) -> None:
    out = tmp_path / "S"
    assert main(["-q", "train", "--video", str(dancer_clip.video), "--poses",
                 str(dancer_clip.poses), "-o", str(out), *FAST]) == 0
    tool = load_tool("bench_far_reference")
    report = tmp_path / "far.json"
    assert tool.main([str(out), "--away", "4", "12", "--max-along", "none", "1.5", "--every", "3",
                      "--json", str(report)]) == 0
    rows = json.loads(report.read_text())["subject"]
    assert [(r["away"], r["max_along"]) for r in rows] == [(4, None), (4, 1.5), (12, None), (12, 1.5)]
    for r in rows:
        assert r["frames"] > 5 and 0 < r["body_ssim"] <= 1
    for away in (4, 12):
        pair = [r for r in rows if r["away"] == away]
        assert pair[0]["foreshortened_frames"] == pair[1]["foreshortened_frames"]
    printed = capsys.readouterr().out
    assert "warped to each frame's pose" in printed and printed.count("\n") >= 6
    with pytest.raises(SystemExit, match="--max-along: PoseFlowConfig.max_along must be >= 1"):
        tool.main([str(out), "--max-along", "0.5"])
    with pytest.raises(SystemExit, match="subject not found"):
        tool.main([str(tmp_path / "nothing")])


def test_largest_stretch_counts_the_bones_that_move_on_their_own() -> None:
    tool = load_tool("bench_far_reference")
    key = figure_keypoints((192, 160))
    same = key.copy()
    assert tool.largest_stretch(key, same, PoseFlowConfig()) == pytest.approx(1.0)
    turned = key.copy()   # the forearm pointing at the camera: 1 px long
    turned[BODY25.index("r_wrist"), :2] = turned[BODY25.index("r_elbow"), :2] + np.float32(1.0)
    assert tool.largest_stretch(key, turned, PoseFlowConfig()) > 10
    eye = key.copy()      # an eye on the nose: a rigid head's bone, not counted unless "bones"
    eye[BODY25.index("r_eye"), :2] = eye[BODY25.index("nose"), :2] + np.float32(0.1)
    assert tool.largest_stretch(key, eye, PoseFlowConfig()) == pytest.approx(1.0)
    assert tool.largest_stretch(key, eye, PoseFlowConfig(head="bones")) > 10
    nobody = key.copy()
    nobody[:, 2] = 0
    assert tool.largest_stretch(key, nobody, PoseFlowConfig()) == 0.0


def test_synthetic_rows_warp_better_than_not(monkeypatch) -> None:
    tool = load_tool("bench_far_reference")
    monkeypatch.setattr(tool, "SYNTHETIC_CLIPS", (("ada", "dance", 3),))
    rows = tool.synthetic_rows([None, 1.5])
    assert [r["max_along"] for r in rows] == [None, 1.5]
    for r in rows:
        assert 0 < r["l1_warp"] < r["l1_plain"] and r["psnr_warp"] > 20
