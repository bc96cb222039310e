"""Quiet by default: a normal run of `extract`, `convert`, `live --no-preview` and `train` (the real CLI
in a subprocess, real MediaPipe, real engines) writes no third-party log line to stderr (absl,
glog, TFLite / XNNPACK, torch FutureWarnings); `-v` lets the native ones through."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: What the third-party loggers write: glog/absl lines, TFLite's minimal logger, absl's
#: pre-initialization notice, Python warnings of libraries.
THIRD_PARTY = re.compile(r"^\s*(?:[IWEF]\d{4} \d+:\d+:\d+\.\d+|INFO: |WARNING: All log messages|"
                         r".*(?:XNNPACK|TensorFlow Lite|absl::|FutureWarning|DeprecationWarning))",
                         re.MULTILINE)

pytestmark = pytest.mark.mediapipe


def _run(*args: str, cwd: Path, verbose: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RTMOTION_NATIVE_LOGS", "GLOG_minloglevel",
                                                            "TF_CPP_MIN_LOG_LEVEL")}
    cmd = [sys.executable, "-m", "rtmotion", *(["-v"] if verbose else []), *args]
    proc = subprocess.run(cmd, cwd=cwd, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_extract_convert_live_write_no_third_party_lines(dancer_clip, tmp_path: Path) -> None:
    runs = {
        "extract": _run("extract", str(dancer_clip.video), "-o", str(tmp_path / "p.npz"),
                        "--workers", "1", cwd=tmp_path),
        # a first run: the engine is built (ONNX export and its check)
        "convert": _run("convert", "-t", "demo-ada", "-s", str(dancer_clip.video), "-o",
                        str(tmp_path / "o.mp4"), "--end", "12", "--backend", "onnxruntime",
                        "--engine-dir", str(tmp_path / "e"), "--workers", "1", cwd=tmp_path),
        "live": _run("live", "-t", "demo-ada", "--source", str(dancer_clip.video), "--no-preview",
                     "--seconds", "2", "--backend", "torch", cwd=tmp_path),
        # extraction, the people count and the plates' person segmentation: three graphs
        "train": _run("train", "--video", str(dancer_clip.video), "-o", str(tmp_path / "s"),
                      "--steps", "2", "--preset", "tiny", "--resolution", "64", "--device", "cpu",
                      "--workers", "0", "--batch-size", "2", "--d-channels", "16",
                      "--d-scales", "1", "--min-pose-frames", "30", cwd=tmp_path),
    }
    for name, proc in runs.items():
        noise = THIRD_PARTY.findall(proc.stderr)
        assert not noise, f"{name}: third-party lines on stderr:\n{proc.stderr[-3000:]}"
    # rtmotion's own messages are still there (nothing of ours is swallowed)
    assert "wrote" in runs["extract"].stderr
    assert "built" in runs["convert"].stderr and "live:" in runs["live"].stdout
    assert "segmented" in runs["train"].stderr


def test_verbose_lets_the_native_logs_through(dancer_clip, tmp_path: Path) -> None:
    from rtmotion.cli import NATIVE_LOGS_ENV
    from rtmotion.pose.extractors.mediapipe import NATIVE_LOGS_ENV as EXTRACTOR_ENV

    assert NATIVE_LOGS_ENV == EXTRACTOR_ENV
    proc = _run("extract", str(dancer_clip.video), "-o", str(tmp_path / "p.npz"), "--workers", "1",
                "--end", "10", cwd=tmp_path, verbose=True)
    assert re.search(r"XNNPACK|^[IWEF]\d{4} ", proc.stderr, re.MULTILINE), proc.stderr[-2000:]


@pytest.mark.slow
def test_aoti_build_writes_no_future_warning(tmp_path: Path) -> None:
    """torch.export's FutureWarning (`isinstance(treespec, LeafSpec)` is deprecated) on every
    first AOTInductor build (about a minute on the 2-core CPU): kept for -v."""
    proc = _run("build", "demo-ada", "--backend", "aoti", "--precision", "fp32", "--device", "cpu",
                "--engine-dir", str(tmp_path / "e"), "--check", "0", cwd=tmp_path)
    assert not THIRD_PARTY.findall(proc.stderr), proc.stderr[-3000:]
