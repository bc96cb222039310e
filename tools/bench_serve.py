"""Measure `rtmotion serve` as a person uses it: the server from the command line, its page in
headless Chromium with a fake camera playing a video `rtmotion synth` made.

    python tools/bench_serve.py --json docs/bench_serve.json --screenshot docs/serve_page.png \
        [--subject demo-ada] [--backend torch] [--precision auto] [--seconds 30] [--soak-seconds 600] [--cycles 15] \
        [--phases one,two,cycles,soak]

Phases (each after a warm-up whose frames are not counted):
1. one page: round trip (camera frame grabbed in the page -> its generated frame drawn in the
   page) p50/p95/p99 from the page's own clock, and the page's fps; a screenshot;
2. two pages at once: each page's fps and round trip;
3. open and close a page --cycles times (each shows 10 frames, then its pipeline is freed: the
   server logs it gone): the server's resident memory after each close;
4. soak: one page open for --soak-seconds, the server's VmRSS every 10 s (MB; slope over the
   second half, MB/min).
Goals (issue 20): round trip p95 <= 200 ms, two pages >= 10 fps each, memory flat.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rtmotion.io.reader import read_frames  # noqa: E402
from rtmotion.io.y4m import write_y4m  # noqa: E402
from rtmotion.serve.browser import Chromium  # noqa: E402

STATS_JS = ("JSON.stringify({shown: rtmotion.shown, sent: rtmotion.sent, p50: rtmotion.p50(), "
            "p95: rtmotion.p95(), lat: rtmotion.latencies})")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))], 1) if s else 0.0


def window(pages, seconds: float) -> list[dict]:
    """Reset each page's counters, wait `seconds`, read them: fps and round trip per page."""
    for p in pages:
        p.evaluate("rtmotion.latencies = []; rtmotion._t0 = performance.now(); rtmotion._n0 = rtmotion.shown; 1")
    time.sleep(seconds)
    out = []
    for p in pages:
        s = json.loads(p.evaluate(STATS_JS))
        dt = p.evaluate("(performance.now() - rtmotion._t0) / 1000")
        n = s["shown"] - p.evaluate("rtmotion._n0")
        lat = s["lat"]
        out.append({"frames_shown": n, "seconds": round(dt, 1), "fps": round(n / dt, 2),
                    "round_trip_ms": {"p50": pct(lat, 0.5), "p95": pct(lat, 0.95), "p99": pct(lat, 0.99),
                                      "n": len(lat)}})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subject", default="demo-ada")
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--precision", default="auto", help="the server's --precision")
    ap.add_argument("--camera-size", default="320x320", help="the fake camera's video size")
    ap.add_argument("--seconds", type=float, default=30.0, help="measured seconds of phases 1 and 2")
    ap.add_argument("--warmup", type=float, default=8.0)
    ap.add_argument("--soak-seconds", type=float, default=600.0)
    ap.add_argument("--cycles", type=int, default=15, help="page open/close cycles of phase 3")
    ap.add_argument("--phases", default="one,two,cycles,soak",
                    help="which phases to run (comma-separated: one, two, cycles, soak)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--screenshot", default=None)
    args = ap.parse_args()
    phases = set(args.phases.split(","))
    if not phases <= {"one", "two", "cycles", "soak"}:
        ap.error(f"unknown phase in --phases {args.phases}")

    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    mp4 = tmp / "bruno.mp4"
    subprocess.run([sys.executable, "-m", "rtmotion", "-q", "synth", "--character", "bruno", "--motion", "dance",
                    "--seconds", "8", "--size", args.camera_size, "-o", str(mp4)], check=True, env=env)
    write_y4m(tmp / "bruno.y4m", (f.image for f in read_frames(mp4)), fps=30)
    log = open(tmp / "serve.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "rtmotion", "serve", "-t", args.subject, "--backend",
                               args.backend, "--precision", args.precision, "--port", "0"],
                              stdout=subprocess.PIPE, stderr=log, env=env)
    url = re.search(r"open (\S+)", server.stdout.readline().decode()).group(1)  # type: ignore[union-attr]
    report: dict = {"command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "machine": f"{platform.node()} {os.cpu_count()} CPUs", "load_before": os.getloadavg(),
                    "subject": args.subject, "backend": args.backend, "precision": args.precision,
                    "camera": args.camera_size}
    try:
        with Chromium(fake_video=tmp / "bruno.y4m") as browser:
            def gone(page) -> None:
                """Close `page` and wait until the server has freed its viewer (its log says so)."""
                viewer = page.evaluate("rtmotion.viewer")
                page.close()
                deadline = time.monotonic() + 60
                while not re.search(rf"viewer {viewer} gone", (tmp / "serve.log").read_text(errors="replace")):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"viewer {viewer} not gone within 60 s")
                    time.sleep(0.1)

            if phases & {"one", "two"}:
                # 1. one page
                page = browser.open(url)
                page.wait_for("window.rtmotion && rtmotion.shown >= 5", timeout=180)
                time.sleep(args.warmup)
                report["one_page"] = window([page], args.seconds)[0]
                print("one page:", report["one_page"], flush=True)
                if args.screenshot:
                    Path(args.screenshot).write_bytes(page.screenshot())
                if "two" in phases:
                    # 2. two pages
                    second = browser.open(url)
                    second.wait_for("window.rtmotion && rtmotion.shown >= 5", timeout=180)
                    time.sleep(args.warmup)
                    report["two_pages"] = window([page, second], args.seconds)
                    print("two pages:", report["two_pages"], flush=True)
                    gone(second)
                gone(page)
            if "cycles" in phases:
                # 3. open / close
                closes = [round(rss_mb(server.pid), 1)]
                counts = [threads(server.pid)]
                for i in range(args.cycles):
                    p = browser.open(url)
                    p.wait_for("window.rtmotion && rtmotion.shown >= 10", timeout=180)
                    gone(p)
                    time.sleep(1)
                    closes.append(round(rss_mb(server.pid), 1))
                    counts.append(threads(server.pid))
                    print(f"after close {i + 1}: rss {closes[-1]} MB, {counts[-1]} threads", flush=True)
                report["rss_mb_after_each_close"] = closes
                report["threads_after_each_close"] = counts
                print("rss after closes:", closes, flush=True)
            if "soak" in phases:
                # 4. soak
                page = browser.open(url)
                page.wait_for("window.rtmotion && rtmotion.shown >= 5", timeout=180)
                t0 = time.monotonic()
                samples = []
                n0 = page.evaluate("rtmotion.shown")
                while time.monotonic() - t0 < args.soak_seconds:
                    samples.append((round(time.monotonic() - t0, 1), round(rss_mb(server.pid), 1)))
                    time.sleep(10)
                samples.append((round(time.monotonic() - t0, 1), round(rss_mb(server.pid), 1)))
                n1 = page.evaluate("rtmotion.shown")
                half = [s for s in samples if s[0] >= args.soak_seconds / 2]
                slope = 0.0
                if len(half) >= 2:
                    import numpy as np

                    t, m = np.array(half).T
                    slope = float(np.polyfit(t / 60.0, m, 1)[0])
                report["soak"] = {"seconds": args.soak_seconds, "frames_shown": n1 - n0,
                                  "fps": round((n1 - n0) / max(1e-9, samples[-1][0]), 2),
                                  "rss_mb_first": samples[0][1], "rss_mb_last": samples[-1][1],
                                  "rss_mb_max": max(s[1] for s in samples),
                                  "slope_mb_per_min_second_half": round(slope, 3), "samples": samples}
                print("soak:", {k: v for k, v in report["soak"].items() if k != "samples"}, flush=True)
                gone(page)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    report["server_log_tail"] = (tmp / "serve.log").read_text(errors="replace").splitlines()[-12:]
    report["load_after"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
