"""tools/gpu_report.py's CPU side: the report writer on fake raw files made here (shaped like
`gpu_report.py measure` and `rtmotion bench --json` output), and the timing subject its GPU
part builds. The GPU measurements themselves cannot run here (no CUDA): not tested."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tool_loader import load_tool


@pytest.fixture(scope="module")
def gpu_report():
    mod = load_tool("gpu_report")
    return mod


def _cell(res: int, backend: str, gen: float, fps: float | None, p95: float | None, error: str = "") -> dict:
    return {"backend": backend, "precision": "fp32", "resolution": [res, res], "error": error,
            "generator_ms": {"p50": gen, "p95": gen * 1.2},
            "offline": {} if fps is None else {"fps": fps, "frames": 150},
            "live": {} if p95 is None else {"fps_shown": 30.0, "latency_ms": {"p50": p95 / 2, "p95": p95}}}


def _write_fakes(folder: Path) -> tuple[Path, Path, Path]:
    measure = {"gpu": "NVIDIA H200", "date": "2026-12-01", "bandwidth_bytes_per_s": 4.0e12,
               "kernels": {"warp_256": {"ms": 0.004, "floor_ms": 0.0005, "bytes": 2097152},
                           "maps_512": {"ms": 0.02, "floor_ms": 0.0066, "bytes": 26214400},
                           "errors": {"flow_512": "RuntimeError: ..."}},
               "generator": {"256": {"ms": 0.61, "eager_ms": 3.9}, "512": {"ms": 1.3, "eager_ms": 5.0}},
               "synth": {}}
    bench = {"cells": [_cell(256, "torch", 3.8, 310.5, 21.0), _cell(256, "onnxruntime", 9.0, 120.0, 30.0),
                       _cell(512, "torch", 4.9, 160.25, 33.0), _cell(512, "aoti", 0.8, None, None,
                                                                       error="AOTInductor load failed")]}
    train = {"batch_size": 8, "resolution": 256,
             "runs": [{"steps": 40, "seconds": 30.0, "ok": True, "cache": "/tmp/t/cache_40"},
                      {"steps": 240, "seconds": 50.0, "ok": True, "cache": "/tmp/t/cache_240"}]}
    paths = folder / "raw.json", folder / "bench.json", folder / "train.json"
    for p, d in zip(paths, (measure, bench, train)):
        p.write_text(json.dumps(d))
    return paths


def test_report_has_exactly_the_issues_keys_and_the_right_numbers(gpu_report, tmp_path) -> None:
    raw, bench, train = _write_fakes(tmp_path)
    out = tmp_path / "docs" / "gpu_report.json"
    assert gpu_report.main(["write", "--measure", str(raw), "--bench", str(bench), "--train", str(train),
                            "--out", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert tuple(rep) == gpu_report.REPORT_KEYS
    assert rep["gpu"] == "NVIDIA H200" and rep["date"] == "2026-12-01"
    # fastest of the bench runners and the graph-captured generator; the failed aoti cell ignored
    assert rep["generator_ms"] == {"256": 0.61, "512": 1.3}
    assert rep["offline_fps"] == {"256": 310.5, "512": 160.25}
    assert rep["live_p95_ms"] == 33.0                 # the largest resolution's live cell
    assert rep["train_steps_per_s"] == 10.0           # (240 - 40) steps / (50 - 30) s
    assert rep["kernels"] == {"maps_512": {"ms": 0.02, "floor_ms": 0.0066},
                              "warp_256": {"ms": 0.004, "floor_ms": 0.0005}}
    assert not list(out.parent.glob("*.tmp"))


def test_missing_parts_are_null_not_invented(gpu_report, tmp_path) -> None:
    raw, _, _ = _write_fakes(tmp_path)
    (tmp_path / "broken.json").write_text("{not json")
    rep = gpu_report.build_report(json.loads(raw.read_text()), None,
                                  gpu_report._load(str(tmp_path / "broken.json")))
    assert rep["offline_fps"] == {"256": None, "512": None}
    assert rep["live_p95_ms"] is None and rep["train_steps_per_s"] is None
    assert rep["generator_ms"] == {"256": 0.61, "512": 1.3}
    empty = gpu_report.build_report({}, None, None, date="2026-12-02")
    assert empty["gpu"] is None and empty["kernels"] == {} and empty["date"] == "2026-12-02"


def test_train_rate_needs_two_good_runs(gpu_report) -> None:
    assert gpu_report.train_rate({"runs": [{"steps": 40, "seconds": 30.0}]}) is None
    failed = {"runs": [{"steps": 40, "seconds": 30.0}, {"steps": 240, "seconds": 9.0, "ok": False}]}
    assert gpu_report.train_rate(failed) is None
    assert gpu_report.train_rate({"runs": [{"steps": 240, "seconds": 80.0},
                                           {"steps": 40, "seconds": 40.0}]}) == 5.0


def test_train_rate_refuses_runs_that_shared_a_dataset_cache(gpu_report) -> None:
    """The second of two runs on one cache skips building it, so the difference of the two
    times is short by that build and the rate inflated: no number rather than a wrong one."""
    shared = {"runs": [{"steps": 40, "seconds": 30.0, "cache": "/tmp/w/cache"},
                       {"steps": 240, "seconds": 35.0, "cache": "/tmp/w/cache"}]}
    assert gpu_report.train_rate(shared) is None
    own = {"runs": [{"steps": 40, "seconds": 30.0, "cache": "/tmp/w/cache_40"},
                    {"steps": 240, "seconds": 50.0, "cache": "/tmp/w/cache_240"}]}
    assert gpu_report.train_rate(own) == 10.0


def test_timing_subject_used_on_the_gpu_loads_and_runs_on_cpu(gpu_report, tmp_path) -> None:
    from rtmotion.pipeline.synthesize import SubjectSynthesizer

    subject = gpu_report._timing_subject(tmp_path / "s", 64)
    assert tuple(subject.resolution) == (64, 64)
    kp = gpu_report._poses((64, 64), 2)
    with SubjectSynthesizer(subject) as synth:
        image = synth(kp[0])
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
