"""tools/bench_onnx_layout.py: the shipped subject's ONNX graph timed padded, as exported and in
its form before graph revision 2 (real exports, real ONNX Runtime sessions), with the outputs
compared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tool_loader import load_tool


@pytest.mark.slow  # a timing tool; the padding itself: tests/runtime/test_onnx_layout.py
def test_bench_onnx_layout_times_both_and_they_agree(tmp_path: Path, capsys) -> None:
    mod = load_tool("bench_onnx_layout")
    report = tmp_path / "layout.json"
    assert mod.main(["--calls", "1", "--rounds", "2", "--json", str(report)]) == 0
    got = json.loads(report.read_text())
    # demo-ada has the appearance reference: its graph before revision 2 is timed too
    assert set(got["ms_per_call"]) == {"padded", "as exported", "softmax choose"}
    assert all(len(v) == 2 and min(v) > 0 for v in got["rounds"].values())
    assert got["max_abs_diff"] < 1e-3
    assert "padded" in capsys.readouterr().out
