"""tools/bench_keyframe_fade.py: scores the shipped subject with the fade between keyframes on
and off (real `rtmotion eval` in the process, real generator), drives it by a real pose file,
and leaves the reference module's settings as they were."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tool_loader import load_tool

from rtmotion.pipeline import reference
from rtmotion.synthetic import render_sequence


def test_bench_keyframe_fade_scores_each_arm_and_restores_the_settings(tmp_path: Path, capsys) -> None:
    mod = load_tool("bench_keyframe_fade")
    _, seq = render_sequence("bruno", motion="dance", seconds=1.0, size=(512, 512), supersample=1)
    poses = seq.save(tmp_path / "bruno.npz")
    before = (reference.FADE_FRAMES, reference.FADE_AGREE_LEVELS)
    assert mod.main(["demo-ada", "--transfer-character", "bruno", "--max-frames", "8", "--fades", "0,2", "--agree", "64,255",
                     "--poses", str(poses), "--out", str(tmp_path / "out")]) == 0
    assert (reference.FADE_FRAMES, reference.FADE_AGREE_LEVELS) == before
    arms = ["fade0", "fade2-agree64", "fade2-agree255"]
    for arm in arms:
        report = json.loads((tmp_path / "out" / f"demo-ada-{arm}.json").read_text())
        assert report["frames"]["evaluated"] == 8 and 0 < report["metrics"]["body_ssim"]["mean"] <= 1
    out = capsys.readouterr().out
    assert all(arm in out for arm in arms) and "flicker, output frame" in out
    # one jitter line per arm, driven by the pose file
    assert len(re.findall(r"^ +fade[\w-]+: +\d+ changes, ", out, re.M)) == 3
