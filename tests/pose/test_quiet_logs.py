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


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RTMOTION_NATIVE_LOGS", "GLOG_minloglevel",
                                                            "TF_CPP_MIN_LOG_LEVEL")}
    return {**env, "PYTHONPATH": str(ROOT)}


def _command(*args: str, verbose: bool = False) -> list[str]:
    return [sys.executable, "-m", "rtmotion", *(["-v"] if verbose else []), *args]


def _run(*args: str, cwd: Path, verbose: bool = False) -> subprocess.CompletedProcess:
    proc = subprocess.run(_command(*args, verbose=verbose), cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def _run_together(commands: dict[str, list[str]], cwd: Path) -> dict[str, tuple[str, str]]:
    """Run the CLI commands at once (each a real process; much of their time is starting
    Python, torch and MediaPipe, which overlaps); {name: (stdout, stderr)}, each exited 0."""
    procs = {name: subprocess.Popen(_command(*args), cwd=cwd, env=_env(), text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name, args in commands.items()}
    out = {}
    try:
        for name, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=600)
            assert proc.returncode == 0, f"{name}: {stderr[-2000:]}"
            out[name] = (stdout, stderr)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return out


def test_extract_convert_live_train_are_quiet_and_verbose_is_not(dancer_clip, tmp_path: Path) -> None:
    from rtmotion.cli import NATIVE_LOGS_ENV
    from rtmotion.pose.extractors.mediapipe import NATIVE_LOGS_ENV as EXTRACTOR_ENV

    assert NATIVE_LOGS_ENV == EXTRACTOR_ENV
    runs = _run_together({
        "extract": ["extract", str(dancer_clip.video), "-o", str(tmp_path / "p.npz"),
                    "--workers", "1", "--end", "20"],
        # a first run: the engine is built (ONNX export and its check)
        "convert": ["convert", "-t", "demo-ada", "-s", str(dancer_clip.video), "-o",
                    str(tmp_path / "o.mp4"), "--end", "12", "--backend", "onnxruntime",
                    "--engine-dir", str(tmp_path / "e"), "--workers", "1"],
        "live": ["live", "-t", "demo-ada", "--source", str(dancer_clip.video), "--no-preview",
                 "--seconds", "2", "--backend", "torch"],
        # extraction, the people count and the plates' person segmentation: three graphs
        "train": ["train", "--video", str(dancer_clip.video), "-o", str(tmp_path / "s"),
                  "--steps", "2", "--preset", "tiny", "--resolution", "64", "--device", "cpu",
                  "--workers", "0", "--batch-size", "2", "--d-channels", "16",
                  "--d-scales", "1", "--min-pose-frames", "30"],
        # -v lets the native lines through
        "verbose": ["-v", "extract", str(dancer_clip.video), "-o", str(tmp_path / "v.npz"),
                    "--workers", "1", "--end", "10"],
    }, cwd=tmp_path)
    verbose = runs.pop("verbose")[1]
    assert re.search(r"XNNPACK|^[IWEF]\d{4} ", verbose, re.MULTILINE), verbose[-2000:]
    for name, (_, stderr) in runs.items():
        noise = THIRD_PARTY.findall(stderr)
        assert not noise, f"{name}: third-party lines on stderr:\n{stderr[-3000:]}"
    # rtmotion's own messages are still there (nothing of ours is swallowed)
    assert "wrote" in runs["extract"][1]
    assert "built" in runs["convert"][1] and "live:" in runs["live"][0]
    assert "segmented" in runs["train"][1]


@pytest.mark.slow
def test_aoti_build_writes_no_future_warning(tmp_path: Path) -> None:
    """torch.export's FutureWarning (`isinstance(treespec, LeafSpec)` is deprecated) on every
    first AOTInductor build (about a minute on the 2-core CPU): kept for -v."""
    proc = _run("build", "demo-ada", "--backend", "aoti", "--precision", "fp32", "--device", "cpu",
                "--engine-dir", str(tmp_path / "e"), "--check", "0", cwd=tmp_path)
    assert not THIRD_PARTY.findall(proc.stderr), proc.stderr[-3000:]
