"""The engine cache: a foreign sidecar and a truncated engine are rebuilt (never loaded), two
real processes building the same engine at once do not clobber each other, --clean, and a
failed build leaves nothing under the final name."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rtmotion.errors import OutputError
from rtmotion.export import open_engine
from rtmotion.export.cache import EngineBuildError, EngineCache, EngineSpec, record_failure
from rtmotion.export.machine import file_sha256

REPO = Path(__file__).resolve().parents[2]


def _build(subject, engines: Path, cal_root: Path):
    return open_engine(subject, "onnxruntime", "fp32", "cpu", engines, calibration_dir=cal_root)[1]


def test_foreign_sidecar_is_rebuilt_with_one_line(tiny_subject, calibration_root, tmp_path,
                                                  caplog) -> None:
    first = _build(tiny_subject, tmp_path, calibration_root)
    sidecar = first.artifact.with_suffix(".json")
    data = json.loads(sidecar.read_text())
    data["key"]["machine"]["cpu_model"] = "Some Other CPU 9000"
    sidecar.write_text(json.dumps(data))
    with caplog.at_level(logging.INFO, logger="rtmotion.export.cache"):
        again = _build(tiny_subject, tmp_path, calibration_root)
    lines = [r.getMessage() for r in caplog.records if "rebuilding" in r.getMessage()]
    assert len(lines) == 1 and "cpu_model" in lines[0] and "Some Other CPU 9000" in lines[0]
    assert again.built
    assert json.loads(sidecar.read_text())["key"]["machine"]["cpu_model"] != "Some Other CPU 9000"


def test_an_engine_of_an_older_graph_revision_is_rebuilt(tiny_subject, calibration_root,
                                                          tmp_path) -> None:
    """An engine exported before the generator's graph changed form (`GRAPH_REVISION`) is
    rebuilt once, not loaded: users get the new graph without `rtmotion build --clean`."""
    from rtmotion.models.generator import GRAPH_REVISION

    first = _build(tiny_subject, tmp_path, calibration_root)
    sidecar = first.artifact.with_suffix(".json")
    data = json.loads(sidecar.read_text())
    assert data["key"]["graph_revision"] == GRAPH_REVISION
    data["key"]["graph_revision"] = GRAPH_REVISION - 1
    sidecar.write_text(json.dumps(data))
    assert _build(tiny_subject, tmp_path, calibration_root).built
    assert not _build(tiny_subject, tmp_path, calibration_root).built


def test_truncated_engine_is_rebuilt_not_loaded(tiny_subject, calibration_root, tmp_path,
                                                caplog) -> None:
    first = _build(tiny_subject, tmp_path, calibration_root)
    blob = first.artifact.read_bytes()
    first.artifact.write_bytes(blob[: len(blob) // 2])
    with caplog.at_level(logging.INFO, logger="rtmotion.export.cache"):
        runner, again = open_engine(tiny_subject, "onnxruntime", "fp32", "cpu", tmp_path,
                                    calibration_dir=calibration_root)
    msg = [r.getMessage() for r in caplog.records if "rebuilding" in r.getMessage()]
    assert len(msg) == 1 and "damaged" in msg[0] and "truncated" in msg[0]
    assert again.built and file_sha256(again.artifact) == again.info["artifact_sha256"]
    with runner:  # the rebuilt engine loads and runs
        runner(*(t for t in _zeros(tiny_subject)))
    # same size, other bytes: caught by the hash
    data = bytearray(again.artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    again.artifact.write_bytes(bytes(data))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="rtmotion.export.cache"):
        third = _build(tiny_subject, tmp_path, calibration_root)
    assert third.built and any("sha256" in r.getMessage() for r in caplog.records)


def _zeros(subject):
    from rtmotion.models.generator import example_inputs

    return example_inputs(subject.generator_config).values()


def test_two_processes_build_the_same_engine_once(tiny_subject, tmp_path) -> None:
    engines = tmp_path / "engines"
    cmd = [sys.executable, "-m", "rtmotion", "build", str(tiny_subject.path), "--backend",
           "onnxruntime", "--precision", "fp32", "--device", "cpu", "--engine-dir", str(engines),
           "--calibration-dir", str(tmp_path / "none"), "--check", "0"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert "onnxruntime/fp32" in out
    logs = "".join(err for _, err in outs)
    assert logs.count("INFO rtmotion.export.cache: building ") == 1, logs
    folder = next(engines.iterdir())
    graphs = sorted(folder.glob("*.onnx"))
    assert [g.name for g in graphs] == ["onnx-fp32-b1-32x32.onnx"]
    assert not list(folder.glob(".*part*"))  # no temporary left behind
    side = json.loads(graphs[0].with_suffix(".json").read_text())
    assert file_sha256(graphs[0]) == side["artifact_sha256"]


def test_build_clean_removes_and_rebuilds(tiny_subject, tmp_path, capsys) -> None:
    from rtmotion.cli import main

    args = ["build", str(tiny_subject.path), "--backend", "onnxruntime", "--precision", "fp32",
            "--device", "cpu", "--engine-dir", str(tmp_path), "--check", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "built now" in out and "parity vs PyTorch" in out and "latency over 2 calls" in out
    assert main(args) == 0
    assert "cached" in capsys.readouterr().out
    assert main(args + ["--clean"]) == 0
    assert "built now" in capsys.readouterr().out


def test_failed_build_leaves_nothing_but_its_failure_record(tmp_path) -> None:
    spec = EngineSpec(tmp_path, "x-fp32", ".onnx", {"backend": "x"})

    def fails(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise RuntimeError("compiler crashed")

    with pytest.raises(EngineBuildError, match="compiler crashed") as info:
        EngineCache(tmp_path).ensure(spec, fails)
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(OutputError, match="wrote no engine"):
        EngineCache(tmp_path).ensure(spec, lambda tmp: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x-fp32.failed.json", "x-fp32.lock"]


def test_a_failed_build_is_remembered_until_clean_or_another_version(tmp_path, monkeypatch) -> None:
    from rtmotion.export import cache as cache_mod

    cache = EngineCache(tmp_path)
    folder = cache.subject_dir("s", "0123456789abcdef")
    key = {"backend": "aoti", "machine": {"host": "h1", "gpu": "NVIDIA H200", "torch": "2.11"}}
    spec = EngineSpec(folder, "aoti-fp16-cuda-sm90-b1-32x32", ".pt2", key)
    calls = []

    def crashes(tmp: Path) -> None:
        calls.append(1)
        raise cache_mod.EngineBuildError("the package ended the process that loaded it (exit -11)")

    with pytest.raises(cache_mod.EngineBuildError):
        cache.ensure(spec, crashes, skip_failed=True)
    record = json.loads(spec.failure.read_text())
    assert record["reason"].startswith("EngineBuildError: the package ended the process")
    assert record["machine"] == "h1: NVIDIA H200, torch 2.11" and record["key"] == key
    # auto (skip_failed) does not build again: one line naming the reason and the way out
    with pytest.raises(cache_mod.KnownBuildFailure, match=r"failed to build on this machine before.*"
                       r"exit -11.*--clean"):
        cache.ensure(spec, crashes, skip_failed=True)
    assert len(calls) == 1
    # another machine (or torch, or subject): the record does not apply
    other = EngineSpec(folder, spec.stem, spec.suffix, {**key, "machine": {**key["machine"], "host": "h2"}})
    with pytest.raises(cache_mod.EngineBuildError):
        cache.ensure(other, crashes, skip_failed=True)
    assert len(calls) == 2
    # another rtmotion version: tried again
    monkeypatch.setattr(cache_mod, "__version__", "9.9.9")
    with pytest.raises(cache_mod.EngineBuildError):
        cache.ensure(spec, crashes, skip_failed=True)
    assert len(calls) == 3
    monkeypatch.undo()
    # an explicit request tries again, and a success replaces the record
    def works(tmp: Path) -> dict:
        tmp.write_bytes(b"engine")
        return {}

    spec_now = EngineSpec(folder, spec.stem, spec.suffix, key)
    record_failure(spec_now, RuntimeError("again"))
    with pytest.raises(cache_mod.KnownBuildFailure):
        cache.ensure(spec_now, works, skip_failed=True)
    assert cache.ensure(spec_now, works).built and not spec_now.failure.exists()
    # --clean removes the records with the engines
    record_failure(spec_now, RuntimeError("later"))
    assert cache.clean(folder) >= 2 and not spec_now.failure.exists()
    assert cache.ensure(spec_now, works, skip_failed=True).built
