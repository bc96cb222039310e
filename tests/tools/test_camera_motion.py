"""tools/camera_motion.py judges clips as `rtmotion train` does: the synthetic dancer's fixed
camera holds still; the same clip tilting a pixel further every frame (poses moved with it)
does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.moving_camera import write_tilting_clip
from tests.tools.tool_loader import load_tool


@pytest.mark.mediapipe  # the person segmentation of the plate, as train runs it
def test_a_fixed_and_a_tilting_camera(dancer_clip, tmp_path: Path, capsys) -> None:
    video, poses = write_tilting_clip(dancer_clip, tmp_path)
    out = tmp_path / "rows.json"
    tool = load_tool("camera_motion")
    assert tool.main([str(dancer_clip.video), str(dancer_clip.poses), str(video), str(poses),
                      "--json", str(out)]) == 0
    fixed, tilting = json.loads(out.read_text())
    assert fixed["video"] == dancer_clip.video.name and fixed["static"] is True
    assert tilting["video"] == "tilt.mp4" and tilting["static"] is False
    assert tilting["changed_fraction"] > 10 * fixed["changed_fraction"]
    printed = capsys.readouterr().out
    assert "fixed camera" in printed and "THE CAMERA MOVES" in printed
