"""The engine cache with a trivial builder (no ONNX, no process): every stale reason in full,
the sidecar's fields, the log lines, failure records, two builders of one engine (threads: an
flock on two opens of the lock file excludes them as it does two processes), and --clean.
These are the fast tests the `export-cache` mutation group runs (test_engine_cache.py also
builds real engines and starts two processes)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
from pathlib import Path

import pytest

from rtmotion import __version__
from rtmotion.errors import InputError, OutputError
from rtmotion.export import cache as cache_mod
from rtmotion.export.cache import (
    CachedEngine,
    EngineBuildError,
    EngineCache,
    EngineSpec,
    KnownBuildFailure,
    read_failure,
    read_sidecar,
    record_failure,
    stale_reason,
)

LOGGER = "rtmotion.export.cache"
KEY = {"backend": "x", "precision": "fp32",
       "machine": {"host": "h1", "cpu_model": "Some CPU", "torch": "2.11"}}


def _spec(tmp_path: Path, key: dict | None = None) -> EngineSpec:
    return EngineSpec(tmp_path / "subj-0123456789ab", "x-fp32-cpu-b1-32x32", ".onnx", key or KEY)


def _writer(payload: bytes = b"engine bytes", extra: dict | None = None, calls: list | None = None):
    def build(tmp: Path) -> dict | None:
        if calls is not None:
            calls.append(tmp)
        tmp.write_bytes(payload)
        return extra
    return build


def _messages(caplog) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == LOGGER]


def test_spec_names_its_files(tmp_path) -> None:
    spec = _spec(tmp_path)
    folder = tmp_path / "subj-0123456789ab"
    assert (spec.path, spec.sidecar, spec.lock, spec.failure) == (
        folder / "x-fp32-cpu-b1-32x32.onnx", folder / "x-fp32-cpu-b1-32x32.json",
        folder / "x-fp32-cpu-b1-32x32.lock", folder / "x-fp32-cpu-b1-32x32.failed.json")
    assert EngineCache(tmp_path).subject_dir("subj", "0123456789abcdef") == tmp_path / "subj-0123456789ab"
    assert EngineCache(tmp_path).root == tmp_path and EngineCache(str(tmp_path)).root == tmp_path


def test_default_root_is_the_users_engine_dir(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(cache_mod, "default_engine_dir", lambda: tmp_path / "default")
    assert EngineCache().root == tmp_path / "default" and EngineCache().builds == []


def test_a_build_writes_the_engine_and_its_sidecar(tmp_path, caplog) -> None:
    spec = _spec(tmp_path)
    cache = EngineCache(tmp_path)
    calls: list[Path] = []
    t0 = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        got = cache.ensure(spec, _writer(extra={"latency": {"p50_ms": 1.5}, "shape": (1, 3)}, calls=calls))
    t1 = dt.datetime.now(dt.timezone.utc)
    [tmp] = calls
    assert tmp.parent == spec.folder and tmp.name.startswith(".x-fp32-cpu-b1-32x32.") and tmp.suffix == ".onnx"
    assert isinstance(got, CachedEngine) and got.built and got.path == spec.path and got.reason == ""
    assert spec.path.read_bytes() == b"engine bytes"
    side = json.loads(spec.sidecar.read_text())
    assert side == got.sidecar
    built = dt.datetime.fromisoformat(side.pop("built"))
    assert t0 <= built <= t1 and built.tzinfo is not None
    seconds = side.pop("build_seconds")
    assert isinstance(seconds, float) and 0 <= seconds < 5
    assert side == {"format": "rtmotion-engine", "version": 1, "artifact": "x-fp32-cpu-b1-32x32.onnx",
                    "artifact_sha256": hashlib.sha256(b"engine bytes").hexdigest(), "artifact_bytes": 12,
                    "key": KEY, "latency": {"p50_ms": 1.5}, "shape": [1, 3]}
    assert spec.sidecar.read_text().startswith('{\n  "format"') and spec.sidecar.read_text().endswith("}\n")
    assert len(cache.builds) == 1 and cache.builds[0][0] == spec.path and cache.builds[0][1] == pytest.approx(seconds, abs=0.01)
    msgs = _messages(caplog)
    assert msgs[0] == (logging.INFO, f"building {spec.path}")
    assert msgs[1][0] == logging.INFO and msgs[1][1].startswith(f"built {spec.path} in ") and msgs[1][1].endswith(" s")
    assert len(msgs) == 2
    assert sorted(p.name for p in spec.folder.iterdir()) == [
        "x-fp32-cpu-b1-32x32.json", "x-fp32-cpu-b1-32x32.lock", "x-fp32-cpu-b1-32x32.onnx"]
    # the second call uses it, without building or locking again
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        again = cache.ensure(spec, _writer(calls=calls))
    assert again == CachedEngine(spec.path, got.sidecar, built=False) and len(calls) == 1
    assert _messages(caplog) == [(logging.DEBUG, f"using cached engine {spec.path}")]
    assert len(cache.builds) == 1


def _built(tmp_path, key=None) -> tuple[EngineSpec, dict]:
    spec = _spec(tmp_path, key)
    got = EngineCache(tmp_path).ensure(spec, _writer())
    return spec, got.sidecar


def test_every_stale_reason_in_full(tmp_path) -> None:
    spec = _spec(tmp_path)
    assert stale_reason(spec, None) == "not built yet"
    spec, side = _built(tmp_path)
    assert stale_reason(spec, side) is None
    assert stale_reason(spec, None) == "its sidecar is missing or damaged"
    assert stale_reason(spec, {**side, "format": "other"}) == "sidecar format 'other' v1 is not this rtmotion's"
    assert stale_reason(spec, {**side, "version": 2}) == "sidecar format 'rtmotion-engine' v2 is not this rtmotion's"
    no_key = {k: v for k, v in side.items() if k != "key"}
    assert stale_reason(spec, no_key) == 'built for backend null, here x'
    assert stale_reason(spec, {**side, "key": None}) == 'built for backend null, here x'
    assert stale_reason(spec, {**side, "key": {**KEY, "precision": "fp16"}}) == "built for precision fp16, here fp32"
    other = {**KEY, "machine": {**KEY["machine"], "torch": "2.10"}}
    assert stale_reason(spec, {**side, "key": other}) == "built for machine.torch 2.10, here 2.11"
    # a sub-field present here only, and a whole dict against a non-dict
    fewer = {**KEY, "machine": {"host": "h1", "cpu_model": "Some CPU"}}
    assert stale_reason(spec, {**side, "key": fewer}) == "built for machine.torch null, here 2.11"
    flat = {**KEY, "machine": "h1"}
    assert stale_reason(spec, {**side, "key": flat}) == (
        'built for machine h1, here {"cpu_model": "Some CPU", "host": "h1", "torch": "2.11"}')
    # a dict that differs only by a key this machine does not have: the whole field is named
    extra = {**KEY, "machine": {**KEY["machine"], "gpu": "H200"}}
    assert stale_reason(spec, {**side, "key": extra}) == (
        'built for machine {"cpu_model": "Some CPU", "gpu": "H200", "host": "h1", "torch": "2.11"}, '
        'here {"cpu_model": "Some CPU", "host": "h1", "torch": "2.11"}')
    # values longer than 80 characters are cut to 77 and "..."
    long = "v" * 81
    assert stale_reason(spec, {**side, "key": {**KEY, "backend": long}}) == \
        f"built for backend {'v' * 77}..., here x"
    exact = "w" * 80
    assert stale_reason(spec, {**side, "key": {**KEY, "backend": exact}}) == f"built for backend {exact}, here x"
    # the artifact: size, then hash
    spec.path.write_bytes(b"engine byte")
    assert stale_reason(spec, side) == ("damaged: the engine file has 11 bytes, its sidecar says 12 "
                                        "(truncated?)")
    spec.path.write_bytes(b"engine bytez")
    assert stale_reason(spec, side) == "damaged: the engine file's sha256 differs from its sidecar's"
    spec.path.unlink()
    assert stale_reason(spec, side) == "the engine file is missing"
    assert stale_reason(spec, None) == "not built yet"


def test_the_key_is_compared_as_json(tmp_path) -> None:
    """Tuples in a key are compared as the sidecar stores them (lists)."""
    key = {"backend": "x", "shapes": (1, 3, 32, 32), "where": "a"}
    spec, side = _built(tmp_path, key)
    assert side["key"] == {"backend": "x", "shapes": [1, 3, 32, 32], "where": "a"}
    assert stale_reason(spec, side) is None


def test_a_stale_engine_is_rebuilt_with_one_warning(tmp_path, caplog) -> None:
    spec, side = _built(tmp_path)
    spec.path.write_bytes(b"short")
    cache = EngineCache(tmp_path)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        got = cache.ensure(spec, _writer(b"new engine"))
    reason = "damaged: the engine file has 5 bytes, its sidecar says 12 (truncated?)"
    assert got.built and got.reason == reason and spec.path.read_bytes() == b"new engine"
    msgs = _messages(caplog)
    assert msgs[0] == (logging.WARNING, f"rebuilding {spec.path}: {reason}") and len(msgs) == 2
    assert got.sidecar["artifact_bytes"] == 10


@pytest.mark.parametrize("text", ["", "{not json", "[1, 2]", '"a string"'])
def test_read_sidecar_gives_none_for_anything_but_a_json_object(tmp_path, text: str) -> None:
    p = tmp_path / "s.json"
    p.write_text(text)
    assert read_sidecar(p) is None
    p.write_bytes(b"\xff\xfe{")
    assert read_sidecar(p) is None
    assert read_sidecar(tmp_path / "missing.json") is None
    p.write_text('{"a": 1}')
    assert read_sidecar(p) == {"a": 1}


def test_a_failure_record_in_full(tmp_path) -> None:
    spec = _spec(tmp_path)
    spec.folder.mkdir(parents=True)
    t0 = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    rec = record_failure(spec, RuntimeError("first line\nsecond line"))
    failed = dt.datetime.fromisoformat(rec.pop("failed"))
    assert t0 <= failed <= dt.datetime.now(dt.timezone.utc)
    assert rec == {"format": "rtmotion-engine-failure", "artifact": "x-fp32-cpu-b1-32x32.onnx",
                   "reason": "RuntimeError: first line", "machine": "h1: Some CPU, torch 2.11",
                   "rtmotion": __version__, "key": KEY}
    on_disk = json.loads(spec.failure.read_text())
    assert on_disk.pop("failed") == failed.isoformat() and on_disk == rec
    assert spec.failure.read_text().startswith('{\n  "format"') and spec.failure.read_text().endswith("}\n")
    assert read_failure(spec) == {**rec, "failed": failed.isoformat()}


@pytest.mark.parametrize("exc,reason", [
    (RuntimeError(""), "RuntimeError"),
    (RuntimeError("  \n  "), "RuntimeError"),
    (ValueError("x" * 400), "ValueError: " + "x" * 300),
    (OSError("  padded  "), "OSError: padded"),
    (RuntimeError("exit status X"), "RuntimeError: exit status X"),   # only ": " is stripped
])
def test_the_recorded_reason_is_one_short_line(tmp_path, exc, reason) -> None:
    spec = _spec(tmp_path)
    assert record_failure(spec, exc)["reason"] == reason


@pytest.mark.parametrize("machine,summary", [
    ({"host": "h", "gpu": "NVIDIA H200", "cpu_model": "c", "torch": "2"}, "h: NVIDIA H200, torch 2"),
    ({"host": "h", "cpu_model": "c", "torch": "2"}, "h: c, torch 2"),
    ({}, "?: ?, torch ?"),
    (None, "?: ?, torch ?"),
])
def test_the_recorded_machine(tmp_path, machine, summary) -> None:
    spec = _spec(tmp_path, {"backend": "x", "machine": machine})
    assert record_failure(spec, RuntimeError("e"))["machine"] == summary
    no_machine = _spec(tmp_path, {"backend": "x"})
    assert record_failure(no_machine, RuntimeError("e"))["machine"] == "?: ?, torch ?"


def test_a_record_applies_to_its_key_and_version_only(tmp_path, monkeypatch) -> None:
    spec = _spec(tmp_path)
    assert read_failure(spec) is None
    record_failure(spec, RuntimeError("e"))
    assert read_failure(spec)["reason"] == "RuntimeError: e"
    assert read_failure(_spec(tmp_path, {**KEY, "precision": "fp16"})) is None
    rec = json.loads(spec.failure.read_text())
    spec.failure.write_text(json.dumps({**rec, "format": "rtmotion-engine"}))
    assert read_failure(spec) is None
    spec.failure.write_text(json.dumps({k: v for k, v in rec.items() if k != "format"}))
    assert read_failure(spec) is None
    spec.failure.write_text(json.dumps(rec))
    monkeypatch.setattr(cache_mod, "__version__", "0.0.0-other")
    assert read_failure(spec) is None


def test_an_unwritable_record_is_a_warning_not_an_error(tmp_path, caplog) -> None:
    spec = _spec(tmp_path)
    spec.failure.mkdir(parents=True)          # a folder in the way of the record
    with caplog.at_level(logging.INFO, logger=LOGGER):
        rec = record_failure(spec, RuntimeError("boom"))
    assert rec["reason"] == "RuntimeError: boom"
    [(level, msg)] = _messages(caplog)
    assert level == logging.WARNING
    assert msg.startswith("could not record the failed build of x-fp32-cpu-b1-32x32.onnx: ")
    assert "is a directory" in msg


def test_a_failed_build_raises_records_and_leaves_no_engine(tmp_path, caplog) -> None:
    spec = _spec(tmp_path)
    cache = EngineCache(tmp_path)

    def crash(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise RuntimeError("compiler crashed\ndetails")

    with caplog.at_level(logging.INFO, logger=LOGGER), pytest.raises(EngineBuildError) as ei:
        cache.ensure(spec, crash)
    assert str(ei.value) == "building x-fp32-cpu-b1-32x32.onnx failed: RuntimeError: compiler crashed"
    assert isinstance(ei.value.__cause__, RuntimeError)
    assert _messages(caplog)[-1] == (logging.WARNING, "building x-fp32-cpu-b1-32x32.onnx failed "
                                     "(RuntimeError: compiler crashed); recorded in x-fp32-cpu-b1-32x32.failed.json")
    assert sorted(p.name for p in spec.folder.iterdir()) == ["x-fp32-cpu-b1-32x32.failed.json",
                                                             "x-fp32-cpu-b1-32x32.lock"]
    assert cache.builds == []
    # rtmotion's own errors pass through unchanged (and are recorded)
    err = InputError(None, "bad input", "fix it")
    with pytest.raises(InputError) as ei2:
        cache.ensure(spec, lambda tmp: (_ for _ in ()).throw(err))
    assert ei2.value is err and read_failure(spec)["reason"] == "InputError: bad input (fix it)"
    # an empty artifact or none: an OutputError naming the engine
    for build in (lambda tmp: None, lambda tmp: tmp.write_bytes(b"") and None):
        with pytest.raises(OutputError) as ei3:
            cache.ensure(spec, build)
        assert str(ei3.value) == (f"{spec.path}: the build wrote no engine (see the log above for "
                                  "the builder's error)")
    assert not spec.path.exists() and not spec.sidecar.exists()


def test_a_known_failure_is_skipped_only_when_asked(tmp_path) -> None:
    spec = _spec(tmp_path)
    cache = EngineCache(tmp_path)
    rec = record_failure(spec, RuntimeError("exit -11"))
    calls: list[Path] = []
    with pytest.raises(KnownBuildFailure) as ei:
        cache.ensure(spec, _writer(calls=calls), skip_failed=True)
    assert ei.value.record == rec and calls == []
    assert str(ei.value) == (f"x-fp32-cpu-b1-32x32.onnx failed to build on this machine before "
                             f"({rec['failed']}: RuntimeError: exit -11); not tried again until "
                             "`rtmotion build SUBJECT --clean` or another rtmotion version")
    got = cache.ensure(spec, _writer(calls=calls))
    assert got.built and len(calls) == 1 and not spec.failure.exists()
    # a usable engine is used even when asked to skip failures
    record_failure(spec, RuntimeError("later"))
    assert not cache.ensure(spec, _writer(calls=calls), skip_failed=True).built and len(calls) == 1


def test_two_builders_of_one_engine_build_it_once(tmp_path, caplog) -> None:
    """The second caller waits on the lock, then finds the first one's engine and uses it."""
    spec = _spec(tmp_path)
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow(tmp: Path) -> dict:
        calls.append("first")
        started.set()
        assert release.wait(20)
        tmp.write_bytes(b"engine bytes")
        return {}

    results: dict[str, CachedEngine] = {}
    with caplog.at_level(logging.INFO, logger=LOGGER):
        first = threading.Thread(target=lambda: results.setdefault("first", EngineCache(tmp_path).ensure(spec, slow)))
        first.start()
        assert started.wait(20)
        second = threading.Thread(target=lambda: results.setdefault(
            "second", EngineCache(tmp_path).ensure(spec, _writer(calls=calls))))
        second.start()
        for _ in range(200):                  # the second one is blocked on the lock
            if any("waiting for another process" in m for _, m in _messages(caplog)):
                break
            threading.Event().wait(0.01)
        release.set()
        first.join(20)
        second.join(20)
    assert calls == ["first"]
    assert results["first"].built
    assert results["second"] == CachedEngine(spec.path, results["first"].sidecar, built=False)
    msgs = [m for _, m in _messages(caplog)]
    assert "waiting for another process building x-fp32-cpu-b1-32x32.onnx" in msgs
    lock_line = next(m for m in msgs if m.startswith("lock on "))
    assert lock_line.startswith("lock on x-fp32-cpu-b1-32x32.onnx after ") and lock_line.endswith(" s")
    assert f"using {spec.path} (built by another process meanwhile)" in msgs


def test_a_known_failure_found_under_the_lock_is_skipped(tmp_path, monkeypatch) -> None:
    """A failure recorded by another process while this one waited for the lock."""
    spec = _spec(tmp_path)
    cache = EngineCache(tmp_path)
    real = cache_mod.read_failure
    seen = []

    def later(s):
        seen.append(1)
        if len(seen) == 1:     # before the lock: nothing yet
            return None
        record_failure(s, RuntimeError("crashed meanwhile"))
        return real(s)

    monkeypatch.setattr(cache_mod, "read_failure", later)
    with pytest.raises(KnownBuildFailure, match="crashed meanwhile"):
        cache.ensure(spec, _writer(), skip_failed=True)
    assert len(seen) == 2 and not spec.path.exists()


def test_the_lock_is_released_after_a_build_and_after_a_failure(tmp_path) -> None:
    import fcntl

    spec = _spec(tmp_path)
    cache = EngineCache(tmp_path)
    with pytest.raises(EngineBuildError):
        cache.ensure(spec, lambda tmp: 1 / 0)
    for _ in range(2):
        with open(spec.lock, "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)   # free: does not raise
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        cache.ensure(spec, _writer())


def test_a_directory_in_place_of_the_lock_is_an_output_error(tmp_path) -> None:
    spec = _spec(tmp_path)
    spec.lock.mkdir(parents=True)
    with pytest.raises(OutputError, match="is a directory"):
        EngineCache(tmp_path).ensure(spec, _writer())


def test_clean_removes_subject_folders_and_counts_their_files(tmp_path) -> None:
    cache = EngineCache(tmp_path / "engines")
    assert cache.clean() == 0                          # no cache folder yet
    a, _ = _built(tmp_path / "engines")
    b = EngineSpec(tmp_path / "engines" / "other-abc", "y", ".plan", KEY)
    cache.ensure(b, _writer())
    (b.folder / "nested").mkdir()
    (b.folder / "nested" / "f").write_bytes(b"1")
    (tmp_path / "engines" / "README.md").write_text("kept")
    assert cache.clean(a.folder) == 3 and not a.folder.exists() and b.folder.exists()
    assert cache.clean(tmp_path / "engines" / "absent") == 0
    _built(tmp_path / "engines")
    assert cache.clean() == 3 + 4 and not a.folder.exists() and not b.folder.exists()
    assert sorted(p.name for p in (tmp_path / "engines").iterdir()) == ["README.md"]


def test_build_time_is_recorded_to_the_hundredth(tmp_path, monkeypatch, caplog) -> None:
    clock = iter([100.0, 101.23456])
    monkeypatch.setattr(cache_mod.time, "perf_counter", lambda: next(clock))
    spec = _spec(tmp_path)
    cache = EngineCache(tmp_path)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        got = cache.ensure(spec, _writer())
    assert got.sidecar["build_seconds"] == 1.23
    assert cache.builds == [(spec.path, pytest.approx(1.23456, abs=1e-9))]
    assert _messages(caplog)[-1] == (logging.INFO, f"built {spec.path} in 1.2 s")
