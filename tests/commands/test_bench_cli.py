"""`rtmotion bench` end to end on a tiny subject: the matrix, the baseline ratio, offline and
live rows with per-stage percentiles, the JSON report; numbers are measured, never asserted
against a speed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtmotion.cli import main
from tests.pipeline.conftest import make_subject


@pytest.fixture(scope="module")
def subject(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_subject(tmp_path_factory.mktemp("bench") / "tiny")


@pytest.mark.mediapipe
# slow (10 s: a backend matrix with the pix2pixHD baseline, offline and live); the default suite
# runs bench offline and live on the shipped demo and with true poses (below)
@pytest.mark.slow
def test_bench_matrix_json_and_table(subject: Path, tmp_path: Path, capsys, single_torch_thread) -> None:
    rep = tmp_path / "bench.json"
    rc = main(["-q", "bench", "-t", str(subject), "--frames", "8", "--warmup", "2",
               "--backends", "torch,nosuch", "--resolutions", "64", "--json", str(rep)])
    out = capsys.readouterr().out
    assert rc == 0
    report = json.loads(rep.read_text())
    assert report["machine"]["cpus"] >= 1 and report["frames"] == 8
    good, bad = report["cells"]
    assert good["backend"] == "torch" and good["resolution"] == [64, 64] and not good["error"]
    assert good["generator_ms"]["p50"] > 0 and good["baseline_ms"]["p50"] > 0
    assert good["speedup_vs_baseline"] == pytest.approx(good["baseline_ms"]["p50"] / good["generator_ms"]["p50"], rel=0.02)
    off, live = good["offline"], good["live"]
    assert off["frames"] == 8 and off["fps"] > 0 and {"prepare", "synthesize", "encode"} <= set(off["stages"])
    assert live["frames_shown"] == 10 and set(live["latency_ms"]) == {"p50", "p95", "p99"}
    assert {"pose", "generate"} <= set(live["stages"])
    assert bad["backend"] == "nosuch" and "unknown backend" in bad["error"]
    assert "pix2pixHD ms" in out and "vs EDN" in out and "offline stages" in out


def test_bench_bad_source_is_one_line(subject: Path, tmp_path: Path, capsys) -> None:
    rc = main(["-q", "bench", "-t", str(subject), "--source", str(tmp_path / "none.mp4")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "none.mp4" in err[0]


def test_bench_with_true_poses_runs_without_mediapipe(subject: Path, tmp_path: Path, capsys,
                                                      single_torch_thread, monkeypatch) -> None:
    """`--poses truth` (for the GPU machines, where MediaPipe cannot be installed): the pose
    extractor is never built, offline converts from the pose file, live looks poses up by frame."""
    from rtmotion.pipeline import live

    def no_extractor(name: str, **opts):  # stands in for a machine without MediaPipe
        raise AssertionError(f"pose extractor {name!r} built with --poses truth")

    monkeypatch.setattr(live, "get_extractor", no_extractor)
    rep = tmp_path / "bench.json"
    rc = main(["-q", "bench", "-t", str(subject), "--frames", "6", "--warmup", "2", "--poses", "truth",
               "--resolutions", "64", "--no-baseline", "--json", str(rep)])
    assert rc == 0, capsys.readouterr().err
    report = json.loads(rep.read_text())
    (cell,) = report["cells"]
    assert report["poses"] == "truth" and not cell["error"]
    assert cell["offline"]["frames"] == 6 and cell["live"]["frames_shown"] == 8
    assert cell["offline"]["pose_workers"] == 0  # converted from the pose file: no estimation
    assert "poses truth" in capsys.readouterr().out


def test_bench_poses_truth_needs_the_synthetic_source(subject: Path, tmp_path: Path, capsys,
                                                       dancer_clip) -> None:
    rc = main(["-q", "bench", "-t", str(subject), "--source", str(dancer_clip.video), "--poses", "truth"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--poses truth" in err[0]


def test_bench_without_a_subject_runs_the_shipped_demo(tmp_path: Path, capsys,
                                                       single_torch_thread) -> None:
    """`rtmotion bench` needs no -t: it benchmarks the shipped demo subject and says so."""
    rep = tmp_path / "bench.json"
    rc = main(["-q", "bench", "--frames", "3", "--warmup", "1", "--poses", "truth",
               "--modes", "offline", "--no-baseline", "--device", "cpu", "--json", str(rep)])
    assert rc == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("no -t SUBJECT given: benchmarking the shipped demo "
                                          "subject demo-ada")
    report = json.loads(rep.read_text())
    assert report["subject_default"] is True and "demo-ada" in json.dumps(report["cells"])
