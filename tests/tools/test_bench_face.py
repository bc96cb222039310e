"""tools/bench_face.py: times the shipped subject's face enhancer per crop size, in eager torch
and ONNX Runtime (real sessions), and writes what it printed as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from tool_loader import load_tool


def test_bench_face_times_each_crop_in_both_runtimes(tmp_path: Path, capsys) -> None:
    mod = load_tool("bench_face")
    import torch

    threads = torch.get_num_threads()
    report = tmp_path / "face.json"
    assert mod.main(["--crops", "32", "16", "--calls", "3", "--json", str(report)]) == 0
    rows = json.loads(report.read_text())["rows"]
    assert torch.get_num_threads() == threads  # the one-thread timing does not leak out
    assert [r["crop"] for r in rows] == [32, 16]
    assert all(r["torch_ms"] > 0 and r["onnxruntime_ms"] > 0 for r in rows)
    out = capsys.readouterr().out
    assert "| 32x32 |" in out and "| 16x16 |" in out and "demo-ada" in out
