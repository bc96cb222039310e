"""tools/heldout_reference.py on a subject trained here (a short synthetic clip, tiny model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tool_loader import load_tool

from rtmotion.cli import main
from rtmotion.eval.sources import heldout_source
from rtmotion.subject import load_subject

FAST = ["--preset", "tiny", "--resolution", "64", "--device", "cpu", "--workers", "0",
        "--batch-size", "2", "--d-channels", "16", "--d-scales", "1", "--sample-every", "0",
        "--min-pose-frames", "30", "--no-person-segmentation", "--steps", "2"]


def test_scores_weights_and_novelty(dancer_clip, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "S"
    assert main(["-q", "train", "--video", str(dancer_clip.video), "--poses",
                 str(dancer_clip.poses), "-o", str(out), *FAST]) == 0
    tool = load_tool("heldout_reference")
    subject = load_subject(out)
    items = list(heldout_source(subject).items())
    rows = tool.run_frames(subject, items)
    assert len(rows["gen"]) == len(items) > 0
    for k in ("gen", "ref_warped", "key", "plate"):
        assert all(-1.0 <= v <= 1.0 for v in rows[k]), k
    # the candidates' weights are a per-pixel choice: they sum to 1
    total = sum(np.asarray(rows[f"w_{c}"]) for c in tool.CANDIDATES)
    assert np.allclose(total, 1.0, atol=1e-4)
    # the synthetic dance repeats its moves: the held-out poses are near training poses
    novelty = heldout_source(subject).info["pose_novelty"]
    assert 0.0 <= novelty["heldout"] < 0.1 and novelty["others_p90"] >= 0.0
    # a pose further off costs more: the real frame 8 earlier scores below the one 1 earlier
    sens = {r["gap"]: r for r in tool.pose_sensitivity(subject, gaps=(1, 8))}
    assert sens[1]["pairs"] > 0 and sens[8]["pose_distance"] > sens[1]["pose_distance"] > 0
    assert sens[8]["body_ssim"] < sens[1]["body_ssim"] <= 1.0
    report = tmp_path / "r.json"
    monkeypatch.setattr("sys.argv", ["heldout_reference.py", str(out), "--json", str(report)])
    tool.main()
    printed = capsys.readouterr().out
    assert "held-out frames" in printed and "the real frame 8 earlier" in printed
    assert "body heights from the nearest trained pose" in printed
    assert json.loads(report.read_text())["gen"] == pytest.approx(np.mean(rows["gen"]), abs=1e-6)


def test_a_subject_that_is_not_there_is_one_line(tmp_path: Path, monkeypatch) -> None:
    tool = load_tool("heldout_reference")
    monkeypatch.setattr("sys.argv", ["heldout_reference.py", str(tmp_path / "nothing")])
    with pytest.raises(SystemExit, match="subject not found"):
        tool.main()
