"""tools/gpu_check.sh on the CPU: its --dry-run runs everything but the GPU calls (argument and
budget checks, the wheel selection, the output layout the device tool brings back, the report
from whatever results exist, and each GPU command's options against that command's --help)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "gpu_check.sh"
ALLOWED = {"status.tsv", "log.txt", "gpu_tests.xml", "kernels_check.json", "gpu_raw.json",
           "bench.json", "train.json", "gpu_report.json"}


def _run(tmp: Path, *args: str, script: Path = SCRIPT, out: Path | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("OUT", "PYTHONPATH")}
    env["PYTHON"] = sys.executable
    if out is not None:
        env["OUT"] = str(out)
    return subprocess.run(["bash", str(script), *args], cwd=tmp, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _status(folder: Path) -> list[list[str]]:
    return [line.split("\t") for line in (folder / "status.tsv").read_text().splitlines()]


@pytest.mark.slow  # the first call's dry run covers the same machinery in the default suite
def test_dry_run_of_the_second_call_writes_only_what_comes_back(tmp_path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name in ("av-18.1.0-cp311-abi3-manylinux_2_28_x86_64.whl", "pytest-8.3.0-py3-none-any.whl"):
        (wheels / name).write_bytes(b"")
    res, state = tmp_path / "res", tmp_path / "state"
    proc = _run(tmp_path, "--dry-run", "--call", "2", "--out", str(state), "--wheels", str(wheels),
                out=res)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    files = sorted(p.name for p in res.iterdir())
    assert all(p.is_file() for p in res.iterdir()) and len(files) <= 8 and set(files) <= ALLOWED
    assert {"status.tsv", "log.txt", "train.json", "gpu_report.json"} <= set(files)
    status = _status(res)
    assert [s[0] for s in status] == ["install", "bench", "train", "train", "report"]
    assert all(s[1] == "0" for s in status), status
    log = (res / "log.txt").read_text()
    # the machine's pytest is kept: a carried pytest wheel is not installed over it
    assert "not installing pytest-8.3.0" in log and "wheels to install: av-18.1.0" in log
    assert log.count("options checked against") == 4          # pip, bench, train x2
    assert "--frames 3" in log and "--resolutions 64" in log   # tiny sizes
    train = json.loads((res / "train.json").read_text())
    caches = [r["cache"] for r in train["runs"]]
    assert train["dry_run"] is True and len(set(caches)) == 2  # each run its own dataset cache
    report = json.loads((res / "gpu_report.json").read_text())
    assert list(report) == ["gpu", "date", "generator_ms", "offline_fps", "live_p95_ms",
                            "train_steps_per_s", "kernels"]
    assert report["generator_ms"] == {"256": None, "512": None}
    # kept for a later call, where $OUT starts empty
    assert (state / "gpu_report.json").is_file() and (state / "train.json").is_file()


def test_parts_over_one_calls_budget_are_refused(tmp_path) -> None:
    everything = "install,tests,kernels,measure,bench,train,report"
    proc = _run(tmp_path, "--dry-run", "--parts", everything, "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "over the 480 s budget" in proc.stderr
    assert not (tmp_path / "o").exists()                       # refused before anything ran
    assert _run(tmp_path, "--call", "3").returncode == 2
    assert "unknown part 'gpu'" in _run(tmp_path, "--parts", "gpu").stderr
    assert "A < B" in _run(tmp_path, "--train-steps", "9,3").stderr
    for call in ("1", "2"):  # each default call fits
        assert "budget" not in _run(tmp_path, "--call", call, "--dry-run", "--parts", "report",
                                    "--out", str(tmp_path / call)).stderr


def test_dry_run_finds_an_option_the_command_does_not_have(tmp_path) -> None:
    """The check is not vacuous: a copy of the script whose bench passes a misspelt option
    fails its dry run and names the option."""
    tree = tmp_path / "tree"
    (tree / "tools").mkdir(parents=True)
    for name in ("rtmotion", "tests"):
        (tree / name).symlink_to(ROOT / name)
    for tool in ("gpu_report.py", "gpu_kernels_check.py", "bench_kernels.py"):
        (tree / "tools" / tool).symlink_to(ROOT / "tools" / tool)
    text = SCRIPT.read_text().replace('--warmup 15', '--warm-up 15')
    assert "--warm-up 15" in text
    copy = tree / "tools" / "gpu_check.sh"
    copy.write_text(text)
    res = tmp_path / "res"
    proc = _run(tree, "--dry-run", "--parts", "bench", script=copy, out=res)
    assert proc.returncode == 0  # the script goes on; the part's rc says it failed
    assert _status(res)[0][:2] == ["bench", "1"]
    assert "--warm-up is not an option" in (res / "log.txt").read_text()


@pytest.mark.slow
def test_dry_run_of_the_first_call(tmp_path) -> None:
    """Call 1: pytest collects the GPU tests, the kernel check and measure take their options
    (about 15 s here: the collection imports every test module)."""
    res = tmp_path / "res"
    proc = _run(tmp_path, "--dry-run", "--call", "1", "--out", str(tmp_path / "state"),
                "--wheels", str(tmp_path / "none"), out=res, timeout=300)
    assert proc.returncode == 0, proc.stderr
    status = _status(res)
    assert [s[0] for s in status] == ["tests", "kernels", "measure"]
    assert all(s[1] == "0" for s in status), (res / "log.txt").read_text()[-3000:]
    log = (res / "log.txt").read_text()
    assert "test_cuda_synth_gpu.py" in log and "tests collected" in log
    assert sorted(p.name for p in res.iterdir()) == ["log.txt", "status.tsv"]
    shutil.rmtree(tmp_path / "state", ignore_errors=True)
