"""tools/bench_full_res.py: the shipped subject's generator config with dense and with separable
full-resolution convolutions, exported and timed in real ONNX Runtime sessions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tool_loader import load_tool


@pytest.mark.slow  # a timing tool; the separable form itself: tests/models, tests/export
def test_bench_full_res_times_both_forms_and_counts_their_flops(tmp_path: Path, capsys) -> None:
    load_tool("bench_onnx_layout")  # what the script imports from its own folder
    mod = load_tool("bench_full_res")
    report = tmp_path / "full_res.json"
    assert mod.main(["--calls", "1", "--rounds", "2", "--train-threads", "1",
                     "--json", str(report)]) == 0
    got = json.loads(report.read_text())
    assert set(got["ms_per_call"]) == {"dense", "separable"}
    assert all(len(v) == 2 and min(v) > 0 for v in got["rounds"].values())
    # demo-ada's inputs (39 channels at 128x128): the two full-resolution convs lose ~6/7 of
    # their multiply-adds, about a quarter of the network's FLOPs
    dense, light = got["stats"]["dense"]["gflops"], got["stats"]["separable"]["gflops"]
    assert 0.70 < light / dense < 0.80
    assert set(got["train_ms"]) == {"dense", "separable"} and got["train_threads"] == 1
    assert all(len(v) == 2 and min(v) > 0 for v in got["train_rounds"].values())
    out = capsys.readouterr().out
    assert "full_res=dense" in out and "full_res=separable" in out
