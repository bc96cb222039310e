"""`rtmotion inspect` end to end: maps / flow / warp previews of a real synthetic clip, bad input."""

from __future__ import annotations

import logging
from fractions import Fraction

import numpy as np
import pytest

from rtmotion.cli import main
from rtmotion.commands.inspect import channel_colors, flow_to_rgb, maps_to_rgb, scale_keypoints
from rtmotion.io import VideoInfo, read_frames
from rtmotion.pose.posefile import PoseSequence


def _only(folder, *names):
    return sorted(p.name for p in folder.iterdir() if p.name not in names)


def test_maps_preview(dancer_clip, tmp_path) -> None:
    out = tmp_path / "maps.mp4"
    assert main(["inspect", "-p", str(dancer_clip.poses), "-o", str(out), "--size", "128x96",
                 "--max-frames", "10", "--hands"]) == 0
    info = VideoInfo.from_path(out)
    assert (info.width, info.height) == (128, 96) and info.frame_count == 10 and info.fps == Fraction(30)
    frames = [f.image for f in read_frames(out)]
    assert all(f.max() > 200 for f in frames)  # the figure is drawn, brightly
    assert _only(tmp_path) == ["maps.mp4"]


def test_flow_preview(dancer_clip, tmp_path) -> None:
    out = tmp_path / "flow.mp4"
    assert main(["inspect", "-p", str(dancer_clip.poses), "-o", str(out), "--what", "flow",
                 "--max-frames", "6", "--size", "128x128", "--flow-scale", "1"]) == 0
    assert VideoInfo.from_path(out).frame_count == 6


def test_warp_preview_logs_the_gain(dancer_clip, tmp_path, caplog) -> None:
    out = tmp_path / "warp.mp4"
    with caplog.at_level(logging.INFO, logger="rtmotion.commands.inspect"):
        assert main(["inspect", "-p", str(dancer_clip.poses), "-o", str(out), "--what", "warp",
                     "--video", str(dancer_clip.video), "--size", "128x128", "--max-frames", "5"]) == 0
    info = VideoInfo.from_path(out)
    assert (info.width, info.height) == (3 * 128, 128) and info.frame_count == 5
    assert "warped t-1" in caplog.text


def test_bad_input_is_one_clear_error(dancer_clip, tmp_path, capsys) -> None:
    out = tmp_path / "x.mp4"
    assert main(["inspect", "-p", str(tmp_path / "missing.npz"), "-o", str(out)]) == 2
    assert main(["inspect", "-p", str(dancer_clip.poses), "-o", str(out), "--what", "warp"]) == 2
    assert "--video" in capsys.readouterr().err
    assert main(["inspect", "-p", str(dancer_clip.poses), "-o", str(tmp_path / "x.png")]) != 0
    bad = tmp_path / "notposes.npz"
    bad.write_bytes(b"not a zip")
    assert main(["inspect", "-p", str(bad), "-o", str(out)]) == 2
    one = PoseSequence(dancer_clip.seq.keypoints[:1], "body25", 30, dancer_clip.seq.size, np.zeros(1))
    one_path = one.save(tmp_path / "one.npz")
    assert main(["inspect", "-p", str(one_path), "-o", str(out), "--what", "flow"]) == 2
    with pytest.raises(SystemExit):
        main(["inspect", "-p", str(dancer_clip.poses), "-o", str(out), "--size", "12by4"])
    assert not out.exists()
    assert _only(tmp_path, "notposes.npz", "one.npz") == []


def test_helpers() -> None:
    kp = np.array([[[0.0, 0.0, 1.0], [99.0, 49.0, 1.0], [5.0, 5.0, 0.0]]], np.float32)
    s = scale_keypoints(kp, (100, 50), (200, 100))
    np.testing.assert_allclose(s[0, 0, :2], [0.5, 0.5])      # pixel centres map to centres
    np.testing.assert_allclose(s[0, 1, :2], [198.5, 98.5])
    assert not s[0, 2].any()
    cols = channel_colors(24, 1)
    assert cols.shape == (25, 3) and len({tuple(c) for c in cols}) == 25
    maps = np.zeros((25, 4, 4), np.float32)
    maps[3, 1, 1] = 1.0
    rgb = maps_to_rgb(maps, cols)
    assert rgb.dtype == np.uint8 and rgb[1, 1].max() == 255 and not rgb[0, 0].any()
    flow = np.zeros((4, 4, 2), np.float32)
    flow[0, 0] = (3.0, 0.0)
    img = flow_to_rgb(flow, 3.0)
    assert img[0, 0].max() == 255 and not img[1, 1].any()
