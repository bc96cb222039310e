"""tools/bench_flow_stride.py: times the shipped subject's step per inference flow stride (real
synthesizer, real generator) and writes what it printed as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from tool_loader import load_tool


def test_bench_flow_stride_times_each_stride_and_gives_the_threads_back(tmp_path: Path, capsys) -> None:
    mod = load_tool("bench_flow_stride")
    import torch

    threads = torch.get_num_threads()
    report = tmp_path / "stride.json"
    assert mod.main(["--frames", "4", "--rounds", "2", "--strides", "1,2", "--backend", "torch",
                     "--json", str(report)]) == 0
    assert torch.get_num_threads() == threads
    rows = json.loads(report.read_text())["rows"]
    assert [r["stride"] for r in rows] == [1, 2]
    for r in rows:
        assert len(r["rounds"]) == 2 and 0 < r["prepare_ms"] < r["cpu_ms_per_frame"]
    out = capsys.readouterr().out
    assert "| 1 |" in out and "| 2 |" in out and "demo-ada, torch" in out
