#!/usr/bin/env python
"""Mutation testing of rtmotion's core with mutmut, one group of modules at a time.

Each group names the modules it mutates and the fast tests that should catch a wrong program in
them. For each group the script copies the work tree (tracked and untracked, not ignored files)
into `--workdir/GROUP`, appends a `[tool.mutmut]` section to that copy's pyproject.toml, runs
`mutmut run` there under `nice -n 19`, reads every mutant's verdict (`mutmut results --all`), and
merges per-module counts into `docs/mutation.json` (groups run separately are kept):

    {"tool": "mutmut 3.8.1", "modules": {"rtmotion/kernels/maps_numpy.py":
        {"group": "kernels", "killed": .., "survived": .., "timeout": .., "no_tests": ..,
         "total": .., "score": killed+timeout over total-no_tests-skipped, "survivors": [...]}}, ...}

Mutmut runs only the tests that call a mutated function (it records which tests call which
function first), so each group's selection is an upper bound. The default groups, measured one
at a time on two cores (2026-12-03): kernels 284 s, pipeline 1,473 s, export-int8 424 s, eval
58 s, about 37 minutes in all (`tools/mutation.sh`; the pipeline group's tests wait on
threads). See docs/MUTATION.md for the scores and the survivors.

Usage:
    python tools/mutation.py                     # the default groups (~37 min)
    python tools/mutation.py kernels eval        # some groups
    python tools/mutation.py --list              # the groups
    python tools/mutation.py pipeline --resume   # continue a group stopped at its time limit
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Group:
    """Modules mutated together and the tests that judge them."""

    name: str
    modules: tuple[str, ...]
    tests: tuple[str, ...]
    #: test ids left out of the selection (pytest --deselect): tests that start processes,
    #: which mutmut's stats pass cannot follow (see the export-cache group)
    deselect: tuple[str, ...] = ()
    #: mutmut's wall limit per mutant is (the selected tests' own seconds + 1) x this (mutmut's
    #: default 15). Tests that wait on threads make a mutant that breaks a wait sleep to it:
    #: with 15 such a group's ~20 hung mutants took most of its 30 minutes
    timeout_multiplier: float = 15.0


GROUPS: tuple[Group, ...] = (
    Group("kernels",
          ("rtmotion/kernels/frames_numpy.py", "rtmotion/kernels/frames_torch.py",
           "rtmotion/kernels/warp_numpy.py", "rtmotion/kernels/warp_torch.py"),
          ("tests/kernels/test_frames.py", "tests/kernels/test_warp.py",
           "tests/kernels/test_kernel_properties.py")),
    # The stage tests wait on threads (their own timeouts are seconds): a mutant that breaks a
    # wait hangs to mutmut's limit, so the limit is 4x the tests' time, not 15x (a passing run
    # takes 1-1.5x on two loaded cores)
    Group("pipeline",
          ("rtmotion/pipeline/gaps.py", "rtmotion/pipeline/stages.py"),
          ("tests/pipeline/test_gaps.py", "tests/pipeline/test_stages.py"),
          timeout_multiplier=4.0),
    Group("export-int8",
          ("rtmotion/export/int8.py",),
          ("tests/export/test_int8_quality.py",)),
    Group("eval",
          ("rtmotion/eval/metrics.py", "rtmotion/eval/flicker.py"),
          ("tests/eval/test_eval_metrics.py",)),
    # The groups below are slow on two loaded cores (about 950 and 1,000 mutants for the maps
    # and the flow; normalize and filters are large): run them one at a time. maps and flow were
    # one group of 1,949 mutants that did not finish in 30 minutes.
    Group("kernels-maps",
          ("rtmotion/kernels/maps_numpy.py", "rtmotion/kernels/maps_torch.py",
           "rtmotion/kernels/segments.py", "rtmotion/kernels/segments_torch.py"),
          # test_flow.py too: the flow is the only caller of bone_segments_torch, of
          # segment_distance2_torch on a coarse grid and of trunk_indices
          ("tests/kernels/test_maps.py", "tests/kernels/test_kernel_hosts.py",
           "tests/kernels/test_flow.py", "tests/kernels/test_kernel_properties.py")),
    Group("kernels-flow",
          ("rtmotion/kernels/flow_numpy.py", "rtmotion/kernels/flow_torch.py"),
          ("tests/kernels/test_flow.py", "tests/kernels/test_kernel_hosts.py",
           "tests/kernels/test_kernel_properties.py")),
    Group("pose",
          ("rtmotion/pose/normalize.py", "rtmotion/pose/filters.py"),
          ("tests/pose/test_normalize.py", "tests/pose/test_normalize_online.py",
           "tests/pose/test_filters.py", "tests/pose/test_filters_zero_phase.py",
           "tests/pose/test_pose_properties.py")),
    # The engine cache: its fast tests (a trivial builder, threads for the lock) and the two
    # of test_engine_cache.py that build nothing real. The others export ONNX (seconds each)
    # or start `python -m rtmotion build` twice in a temporary folder. That one broke the
    # group: mutmut's stats pass sets MUTANT_UNDER_TEST=stats in the environment, the child
    # imports the mutated tree (its PYTHONPATH is the copy), and every trampoline hit there
    # calls mutmut's recorder, which loads mutmut's configuration from the child's working
    # folder, finds none and raises FileNotFoundError ("Could not figure out where the code to
    # mutate is"): the build exits 1, the test fails, and mutmut stops ("failed to collect
    # stats"). The hits of a child would not reach the parent's statistics anyway. The
    # deselected tests stay in the default suite.
    Group("export-cache",
          ("rtmotion/export/cache.py",),
          ("tests/export/test_engine_cache_unit.py", "tests/export/test_engine_cache.py"),
          deselect=("tests/export/test_engine_cache.py::test_two_processes_build_the_same_engine_once",
                    "tests/export/test_engine_cache.py::test_foreign_sidecar_is_rebuilt_with_one_line",
                    "tests/export/test_engine_cache.py::test_truncated_engine_is_rebuilt_not_loaded",
                    "tests/export/test_engine_cache.py::test_build_clean_removes_and_rebuilds")),
)
#: what `python tools/mutation.py` runs without naming groups (about 37 minutes on 2 cores)
DEFAULT_GROUPS = ("kernels", "pipeline", "export-int8", "eval")

#: mutmut's verdicts that count as a caught mutant, and those that say nothing either way
CAUGHT = ("killed", "timeout")
UNJUDGED = ("no tests", "skipped", "not checked")


def _toml_list(items: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def mutmut_section(group: Group) -> str:
    """The `[tool.mutmut]` section of a group's copy of pyproject.toml."""
    return "\n".join([
        "", "[tool.mutmut]",
        'source_paths = ["rtmotion/"]',
        f"only_mutate = {_toml_list(group.modules)}",
        f"pytest_add_cli_args_test_selection = {_toml_list(group.tests)}",
        # the default marker filter plus no real-MediaPipe runs (seconds each, and no oracle of
        # the core modules); -x: one failing test is enough to kill a mutant
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x", "-m", '
        '"not slow and not mediapipe"' + "".join(f', "--deselect", {json.dumps(t)}'
                                                 for t in group.deselect) + "]",
        # torch is not fork-safe after a test session: fork workers from a clean server
        'process_isolation = "forkserver"',
        f"timeout_multiplier = {group.timeout_multiplier}",
        "", ""])


def copy_tree(dst: Path) -> None:
    """The work tree (tracked and untracked, not ignored files) copied to `dst`."""
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)


_RESULT = re.compile(r"^\s*(?P<name>[\w.ǁ]+__mutmut_\d+): (?P<status>.+?)\s*$")


def module_of(mutant: str) -> str:
    """'rtmotion.kernels.maps_numpy.x_f__mutmut_3' -> 'rtmotion/kernels/maps_numpy.py'."""
    dotted = re.split(r"\.x[_ǁ]", mutant, maxsplit=1)[0]
    return dotted.replace(".", "/") + ".py"


def parse_results(text: str) -> dict[str, dict[str, str]]:
    """`mutmut results --all true` -> {module path: {mutant: status}}."""
    out: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        m = _RESULT.match(line)
        if m:
            out.setdefault(module_of(m["name"]), {})[m["name"]] = m["status"]
    return out


def summarize(group: str, verdicts: dict[str, str]) -> dict[str, object]:
    """Counts, score and survivors of one module's mutants."""
    counts: dict[str, int] = {}
    for status in verdicts.values():
        counts[status] = counts.get(status, 0) + 1
    caught = sum(counts.get(s, 0) for s in CAUGHT)
    judged = len(verdicts) - sum(counts.get(s, 0) for s in UNJUDGED)
    return {"group": group, "killed": counts.get("killed", 0), "timeout": counts.get("timeout", 0),
            "survived": counts.get("survived", 0), "no_tests": counts.get("no tests", 0),
            "other": {k: v for k, v in counts.items()
                      if k not in ("killed", "timeout", "survived", "no tests")},
            "total": len(verdicts), "score": round(caught / judged, 4) if judged else None,
            "survivors": sorted(n for n, s in verdicts.items() if s == "survived")}


def run_group(group: Group, workdir: Path, children: int, limit_s: float,
              resume: bool = False) -> dict[str, dict[str, object]]:
    """Mutate one group in its own copy of the tree; per-module summaries.

    resume: continue the group's last run in its copy (the tree as it was copied then): mutmut
    keeps every verdict it reached and tests only the mutants still without one.
    """
    copy = workdir / group.name
    if resume and (copy / "mutants").is_dir():
        print(f"  (resuming the run in {copy}: its verdicts stand, the rest are tested)", flush=True)
    else:
        copy_tree(copy)
        with open(copy / "pyproject.toml", "a", encoding="utf-8") as f:
            f.write(mutmut_section(group))
    mutmut = [sys.executable, "-m", "mutmut"]
    nice = ["nice", "-n", "19"] if shutil.which("nice") else []
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)
    t0 = time.monotonic()
    log = copy / "mutmut-run.log"
    partial = False
    with open(log, "a" if resume else "w", encoding="utf-8") as f:
        # its own process group: at the time limit mutmut and its forked workers stop together
        proc = subprocess.Popen([*nice, *mutmut, "run", "--max-children", str(children)], cwd=copy,
                                env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            partial = True
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            rc = 0
            print(f"  (stopped at the {limit_s:.0f} s limit: partial counts, the rest 'not checked')",
                  flush=True)
    seconds = time.monotonic() - t0
    res = subprocess.run([*mutmut, "results", "--all", "true"], cwd=copy, env=env, check=True,
                         capture_output=True, text=True)
    per_module = parse_results(res.stdout)
    if rc != 0 or not per_module:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"mutation: mutmut failed on group {group.name} (rc {rc}):\n{tail}")
    out = {}
    for module in group.modules:
        summary = summarize(group.name, per_module.get(module, {}))
        summary["group_seconds"] = round(seconds, 1)
        if partial:
            summary["partial"] = True
        out[module] = summary
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("groups", nargs="*", help="groups to run (default: DEFAULT_GROUPS)")
    ap.add_argument("--list", action="store_true", help="print the groups and exit")
    ap.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "rtmotion-mutation")
    ap.add_argument("--children", type=int, default=2, help="mutants tested at once (cores)")
    ap.add_argument("--group-timeout", type=float, default=1800.0, help="seconds per group")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "mutation.json")
    ap.add_argument("--resume", action="store_true",
                    help="continue each group's last (stopped) run in --workdir instead of a fresh copy")
    args = ap.parse_args(argv)
    by_name = {g.name: g for g in GROUPS}
    if args.list:
        for g in GROUPS:
            print(f"{g.name:9s} {' '.join(g.modules)}\n          tests: {' '.join(g.tests)}")
        return 0
    unknown = [n for n in args.groups if n not in by_name]
    if unknown:
        ap.error(f"unknown group(s) {unknown}; choose from {list(by_name)}")
    chosen = [by_name[n] for n in (args.groups or DEFAULT_GROUPS)]

    import mutmut

    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    report.update({"tool": f"mutmut {mutmut.__version__}", "script": "tools/mutation.py",
                   "score": "(killed + timeout) / (total - no_tests - skipped)"})
    modules = report.setdefault("modules", {})
    for group in chosen:
        t0 = time.monotonic()
        print(f"mutation: group {group.name} ({len(group.modules)} modules) ...", flush=True)
        got = run_group(group, args.workdir, args.children, args.group_timeout, args.resume)
        for module, summary in got.items():
            summary["measured"] = _dt.date.today().isoformat()
            modules[module] = summary
            print(f"  {module:40s} killed {summary['killed']:4d}  timeout {summary['timeout']:3d}  "
                  f"survived {summary['survived']:4d}  score {summary['score']}", flush=True)
        print(f"  ({time.monotonic() - t0:.0f} s)", flush=True)
        _write(report, args.out)  # after each group: a stopped run keeps what it measured
    return 0


def _write(report: dict, out: Path) -> None:
    """Totals over every module recorded so far, then the JSON file."""
    modules = report["modules"]
    caught = sum(m["killed"] + m["timeout"] for m in modules.values())
    judged = sum(m["killed"] + m["timeout"] + m["survived"] for m in modules.values())
    report["total"] = {"killed": sum(m["killed"] for m in modules.values()),
                       "timeout": sum(m["timeout"] for m in modules.values()),
                       "survived": sum(m["survived"] for m in modules.values()),
                       "score": round(caught / judged, 4) if judged else None}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    print(f"mutation: total score {report['total']['score']} -> {out}")


if __name__ == "__main__":
    sys.exit(main())
