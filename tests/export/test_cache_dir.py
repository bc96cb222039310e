"""Where rtmotion's per-user cache is: RTMOTION_CACHE_DIR, XDG_CACHE_HOME, ~/.cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtmotion.engine_request import (
    EngineRequest,
    default_calibration_dir,
    default_engine_dir,
    user_cache_dir,
)


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTMOTION_CACHE_DIR", str(tmp_path / "own"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_engine_dir() == tmp_path / "own" / "engines"
    assert default_calibration_dir() == tmp_path / "own" / "calibration"
    assert EngineRequest().engine_dir == tmp_path / "own" / "engines"
    assert EngineRequest(engine_dir="e").engine_dir == Path("e")
    monkeypatch.delenv("RTMOTION_CACHE_DIR")
    assert user_cache_dir() == tmp_path / "xdg" / "rtmotion"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")   # the XDG spec: absolute only
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_cache_dir() == tmp_path / "home" / ".cache" / "rtmotion"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_engine_dir() == tmp_path / "home" / ".cache" / "rtmotion" / "engines"


def test_the_command_line_default_is_the_user_cache(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from rtmotion.cli import build_parser

    monkeypatch.setenv("RTMOTION_CACHE_DIR", str(tmp_path))
    args = build_parser().parse_args(["build", "demo-ada"])
    assert args.engine_dir == tmp_path / "engines"
    assert args.calibration_dir == tmp_path / "calibration"


def test_a_pipeline_fills_in_the_threads_a_request_leaves_open() -> None:
    """`threads_or`: a request that names no threads (0) takes the pipeline's; one that names
    them keeps them; no pipeline value (None or 0) changes nothing."""
    assert EngineRequest().threads_or(1).threads == 1
    assert EngineRequest(threads=3).threads_or(1).threads == 3
    assert EngineRequest().threads_or(None).threads == 0
    assert EngineRequest().threads_or(0).threads == 0
    assert EngineRequest(backend="onnxruntime").threads_or(2) == EngineRequest(backend="onnxruntime", threads=2)
