"""tools/bench_live_pacing.py: live runs of the shipped subject (real MediaPipe, real threads)
per arm (paced or not, generator threads), alternated, and what it printed as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tool_loader import load_tool


def test_arms_are_parsed_or_refused() -> None:
    mod = load_tool("bench_live_pacing")
    assert mod.parse_arm("paced-1") == (True, False, 1) and mod.parse_arm("free-0") == (False, False, 0)
    assert mod.parse_arm("fresh-2") == (True, True, 2)
    for bad in ("paced", "fast-1", "free-x"):
        with pytest.raises(ValueError, match="fresh-T, paced-T or free-T"):
            mod.parse_arm(bad)


def test_a_bad_arm_or_report_folder_is_one_line_before_any_work(tmp_path: Path, capsys) -> None:
    mod = load_tool("bench_live_pacing")
    for argv, said in ((["--arms", "free-0,fast-1"], "arm 'fast-1': give fresh-T, paced-T or free-T"),
                       (["--json", str(tmp_path / "no" / "r.json")], "no folder")):
        with pytest.raises(SystemExit) as e:
            mod.main(argv)
        assert e.value.code == 2 and said in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.mediapipe
def test_bench_live_pacing_runs_each_arm(tmp_path: Path, capsys) -> None:
    mod = load_tool("bench_live_pacing")
    report = tmp_path / "pacing.json"
    assert mod.main(["--frames", "3", "--rounds", "1", "--source-seconds", "1", "--backend", "torch", "--arms",
                     "free-0,paced-1,fresh-1", "--json", str(report)]) == 0
    rows = json.loads(report.read_text())["rows"]
    assert [r["arm"] for r in rows] == ["free-0", "paced-1", "fresh-1"]
    for r in rows:
        assert len(r["rounds"]) == 1 and r["p95"] >= r["p50"] > 0 and r["fps"] > 0
        assert r["pose_calls_per_shown"] >= 1.0
    out = capsys.readouterr().out
    assert "| free-0 |" in out and "| paced-1 |" in out and "| fresh-1 |" in out
