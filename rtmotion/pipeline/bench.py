"""`rtmotion bench`: honest numbers for the three uses, on this machine.

For every cell of the matrix backend x precision x resolution it measures, after a warm-up:

- generator: the runner alone on one frame's inputs (batch 1), p50/p95/p99 ms;
- offline: `convert` of the source (MediaPipe in worker processes, zero-phase filter,
  normalization, synthesize, encode), end-to-end fps pose included, per-stage p50/p95/p99 ms;
- live: `run_live` with the source played as a camera at its own frame rate (MediaPipe, One-Euro,
  OnlineNormalizer, synthesize; no window), fps shown, frames dropped, capture-to-display
  latency p50/p95/p99, per-stage ms;

and, once per resolution in the same run, EDN's baseline generator (pix2pixHD's global generator,
PyTorch eager, fp32) on the same input size, so our generator's speed is printed as a ratio to
it. A resolution other than the subject's own is benched with an untrained generator of the same
preset at that resolution (random weights: the timing of a subject at that size, not its looks).
The backend list is the backend x precision table's (`rtmotion.engine_request.BACKENDS`), so new
compiled backends join the matrix without changes here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rtmotion.devices import resolve_device
from rtmotion.engine_request import EngineRequest
from rtmotion.errors import InputError, RtmotionError
from rtmotion.export.bench_generator import pix2pixhd_call, timed_calls
from rtmotion.io.camera import FileCamera
from rtmotion.kernels.maps_numpy import PoseMapConfig
from rtmotion.models.config import generator_preset
from rtmotion.models.generator import build_generator
from rtmotion.pipeline.live import LiveOptions, run_live
from rtmotion.pipeline.offline import convert
from rtmotion.pipeline.session import open_session
from rtmotion.pipeline.stats import Timers, percentiles
from rtmotion.pose.posefile import PoseSequence
from rtmotion.pose.skeleton import BODY25
from rtmotion.pose.stats import SubjectPoseStats
from rtmotion.subject import Subject, load_subject, write_bundle
from rtmotion.subject.crop import CropBox
from rtmotion.synthetic import motion_angles, render_sequence, write_dancer_video

log = logging.getLogger(__name__)


@dataclass
class BenchCell:
    """One backend x precision x resolution measurement (ms, fps)."""

    backend: str
    precision: str
    resolution: tuple[int, int]
    subject: str
    generator_ms: dict[str, float] = field(default_factory=dict)
    baseline_ms: dict[str, float] = field(default_factory=dict)
    speedup_vs_baseline: float = 0.0
    offline: dict[str, Any] = field(default_factory=dict)
    live: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    def row(self) -> dict[str, Any]:
        """A flat row for the table."""
        return {"backend": self.backend, "precision": self.precision,
                "res": f"{self.resolution[0]}x{self.resolution[1]}",
                "gen_p50": self.generator_ms.get("p50", 0.0),
                "base_p50": self.baseline_ms.get("p50", 0.0),
                "x_base": f"{self.speedup_vs_baseline:.1f}x" if self.speedup_vs_baseline else "",
                "off_fps": self.offline.get("fps", 0.0),
                "live_fps": self.live.get("fps_shown", 0.0),
                "lat_p50": self.live.get("latency_ms", {}).get("p50", 0.0),
                "lat_p95": self.live.get("latency_ms", {}).get("p95", 0.0),
                "dropped": self.live.get("frames_dropped", ""),
                "note": self.error}


TABLE_COLUMNS = [("backend", "backend"), ("precision", "prec"), ("res", "res"),
                 ("gen_p50", "gen p50 ms"), ("base_p50", "pix2pixHD ms"), ("x_base", "vs EDN"),
                 ("off_fps", "offline fps"), ("live_fps", "live fps"), ("lat_p50", "lat p50 ms"),
                 ("lat_p95", "lat p95 ms"), ("dropped", "dropped"), ("note", "note")]


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpu": cpu, "cpus": cpus, "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def timing_subject(folder: Path, resolution: tuple[int, int], preset: str = "small") -> Path:
    """An untrained subject of `preset` at `resolution` (random weights) for timing only, with
    the pose statistics of a synthetic dancer filmed at that size."""
    torch.manual_seed(0)
    gen = build_generator(generator_preset(preset, resolution=resolution)).eval()
    _, seq = render_sequence("ada", angles=motion_angles("dance", 4.0, 30, seed=0), size=resolution)
    stats = SubjectPoseStats.from_keypoints(seq.keypoints, BODY25.joints, resolution, "body25")
    write_bundle(folder, name=f"timing-{preset}-{resolution[0]}x{resolution[1]}", resolution=resolution,
                 crop=CropBox(0, 0, resolution[0], resolution[1], resolution),
                 pose_map_config=PoseMapConfig(size=resolution), generator=gen, stats=stats,
                 source_video={"path": "", "width": resolution[0], "height": resolution[1], "fps": "30",
                               "frame_count": len(seq), "pose_source": "untrained, for timing"},
                 validation_range=(0, 0), training={"note": "untrained (bench timing only)"},
                 weights_dtype="float32")
    return folder


def _inputs(subject: Subject) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    w, h = subject.resolution
    c = int(subject.pose_map_config.num_channels)
    g = torch.Generator().manual_seed(0)
    return (torch.rand(1, c, h, w, generator=g), torch.rand(1, 3, h, w, generator=g) * 2 - 1,
            torch.ones(1, 1, h, w))


@torch.no_grad()
def time_generator(subject: Subject, request: EngineRequest, iters: int, warmup: int
                   ) -> dict[str, float]:
    """The session's runner alone, batch 1: p50/p95/p99 ms over `iters` calls after `warmup`."""
    with open_session(subject, request) as session:
        runner = session.runner
        maps, prev, mask = (x.to(runner.device) for x in _inputs(subject))

        def call(_: Any) -> None:
            runner(maps, prev, mask)
            if runner.device.type == "cuda":
                torch.cuda.synchronize(runner.device)

        times = timed_calls(call, [None], warmup, iters)
    return percentiles(times)


def time_baseline(resolution: tuple[int, int], pose_channels: int, device: str, iters: int,
                  warmup: int = 1) -> dict[str, float]:
    """EDN's generator (pix2pixHD global, eager fp32) at `resolution`: p50/p95/p99 ms."""
    call = pix2pixhd_call(resolution, pose_channels, torch.device(device))
    return percentiles(timed_calls(call, [None], warmup, iters))


def make_source(folder: Path, seconds: float, size: tuple[int, int] = (512, 512)) -> tuple[Path, Path]:
    """The default bench source: a synthetic dancer (bruno, dance) with a beat, and its exact
    poses (.npz). Returns (video, poses)."""
    path, poses = folder / "bench_source.mp4", folder / "bench_source_poses.npz"
    write_dancer_video(path, "bruno", "dance", seconds=seconds, size=size, fps=30, seed=7, audio=True,
                       poses_path=poses)
    return path, poses


def bench_cell(subject: Subject, request: EngineRequest, source: Path, *, frames: int, warmup: int,
               modes: tuple[str, ...], gen_iters: int, out_dir: Path,
               baseline: dict[str, float] | None, poses: Path | None = None) -> BenchCell:
    """Measure one cell (see module docstring); a backend/precision that cannot run here is
    recorded with its error instead of stopping the whole bench.

    `poses`: a pose file of `source` used instead of MediaPipe (offline: convert runs from the
    pose file, so no decode or pose stage; live: the camera still plays `source`, the pose stage
    looks the pose up by frame). For machines without MediaPipe (the lent GPU machines).
    """
    cell = BenchCell(request.backend, request.precision, tuple(subject.resolution), str(subject.name))
    try:
        cell.generator_ms = time_generator(subject, request, gen_iters, 3)
        if baseline:
            cell.baseline_ms = baseline
            if cell.generator_ms["p50"] > 0:
                cell.speedup_vs_baseline = round(baseline["p50"] / cell.generator_ms["p50"], 2)
        if "offline" in modes:
            timers = Timers(skip=warmup)
            res = convert(subject, poses or source,
                          out_dir / f"bench_{request.backend}_{request.precision}.mp4", end=frames,
                          engine=request, show_progress=False, timers=timers)
            d = res.to_dict()
            cell.offline = {k: d[k] for k in ("frames", "fps", "fps_pose", "fps_generate", "seconds",
                                              "pose_seconds", "generate_seconds", "pose_workers", "pose_every",
                                              "stages")}
        if "live" in modes:
            cam = FileCamera(source, loop=True)
            rep = run_live(subject, cam, [lambda img, f: None],
                           LiveOptions(engine=request, max_frames=frames + warmup,
                                       warmup_frames=warmup, overlay=True,
                                       poses=PoseSequence.load(poses) if poses else None))
            d = rep.to_dict()
            cell.live = {k: d[k] for k in ("frames_shown", "frames_captured", "frames_dropped", "fps_shown",
                                           "seconds", "latency_ms", "stages")}
    except RtmotionError as e:
        cell.error = str(e)
        log.warning("bench %s %s %s: %s", request.backend, request.precision, cell.resolution, e)
    return cell


def run_bench(subject_path: str | Path, *, source: str | Path | None = None, frames: int = 150,
              warmup: int = 15, backends: tuple[str, ...] = ("torch",), precisions: tuple[str, ...] = ("fp32",),
              resolutions: tuple[tuple[int, int], ...] | None = None, modes: tuple[str, ...] = ("offline", "live"),
              engine: EngineRequest | None = None, baseline: bool = True,
              pose_source: str = "mediapipe",
              gen_iters: int = 30, baseline_iters: int = 5, preset: str = "small") -> dict[str, Any]:
    """The whole bench (see module docstring); returns the JSON report.

    `engine`: the device, engine dir and threads of every cell (each cell sets its own backend
    and precision from `backends` x `precisions`; None: the CPU). `pose_source`: "mediapipe"
    (estimate, as a user's run does), "truth" (the synthetic source's exact poses: no MediaPipe
    needed), or a pose file of `source`."""
    engine = engine if engine is not None else EngineRequest(device="cpu")
    device = str(resolve_device(engine.device))  # "auto" -> the device every cell and the baseline use
    engine = engine.but(device=device)
    subject = load_subject(subject_path)
    resolutions = resolutions or (tuple(subject.resolution),)
    cells: list[BenchCell] = []
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="rtmotion-bench-") as tmp:
        tmpd = Path(tmp)
        if source is not None:
            src, truth = Path(source), None
        else:
            src, truth = make_source(tmpd, (frames + warmup) / 30 + 1.0)
        if pose_source == "mediapipe":
            poses = None
        elif pose_source == "truth":
            if truth is None:
                raise InputError(None, "--poses truth needs the synthetic source",
                                 "leave out --source, or give --poses FILE.npz of the source")
            poses = truth
        else:
            poses = Path(pose_source)
            PoseSequence.load(poses)  # a bad pose file fails now, in one line
        for res in resolutions:
            res = (int(res[0]), int(res[1]))
            subj = subject if res == tuple(subject.resolution) else load_subject(
                timing_subject(tmpd / f"timing_{res[0]}x{res[1]}", res, preset))
            base = time_baseline(res, int(subj.pose_map_config.num_channels), device,
                                 baseline_iters) if baseline else None
            for backend in backends:
                for precision in precisions:
                    log.info("bench: %s %s %dx%d (%s)", backend, precision, *res, subj.name)
                    cells.append(bench_cell(subj, engine.but(backend=backend, precision=precision),
                                            src, frames=frames, warmup=warmup, modes=modes,
                                            gen_iters=gen_iters, out_dir=tmpd, baseline=base,
                                            poses=poses))
    return {"date": started, "machine": machine(), "subject": str(subject.name),
            "source": str(source) if source is not None else "synthetic: bruno dance 512x512 30 fps",
            "frames": frames, "warmup": warmup, "device": device, "modes": list(modes),
            "poses": pose_source,
            "cells": [c.__dict__ | {"resolution": list(c.resolution)} for c in cells],
            "rows": [c.row() for c in cells]}
