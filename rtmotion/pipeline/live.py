"""Live transfer: camera (or a file played as one) -> pose -> subject -> preview / outputs.

Threads joined by one-slot, latest-wins hand-offs (`LatestSlot`):

    capture  reads the camera as fast as it delivers (so the driver's buffer never goes stale)
      -> slot -> pose      MediaPipe, One-Euro filter (causal), OnlineNormalizer
      -> slot -> generate  no-person rule + SubjectSynthesizer
      -> slot -> display   the caller's thread: preview window, virtual camera, recording

A stage that is busy when a newer frame arrives never sees the older one: it is overwritten and
counted as dropped, so latency stays about one frame per stage instead of growing a backlog.
Every frame carries four clock readings (`time.perf_counter()` seconds): at capture, after pose,
after generate and at display; capture-to-display latency is known for every frame shown.

Live One-Euro parameters (min_cutoff 1 Hz, beta 40) were chosen by measuring error, jitter and
lag together on MediaPipe output of six synthetic dancers (tools/tune_pose_filters.py,
docs/BENCHMARKS.md): jitter about half of raw, lag under one frame, mean error 0.03 % of body
height above raw (0.11 % on the worst dancer), where the old default (2 Hz, beta 5) lagged a full
frame and added 0.15 %.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from rtmotion.pipeline.compose import side_by_side
from rtmotion.pipeline.cuda_synth import make_synthesizer
from rtmotion.pipeline.engine import DEFAULT_ENGINE_DIR, open_runner
from rtmotion.pipeline.gaps import BLANK, PersonGapPolicy
from rtmotion.pipeline.stages import END, LatestSlot, StopFlag, Stopped, join_threads
from rtmotion.pipeline.stats import Timers, percentiles
from rtmotion.pose.draw import fit_height, text_overlay
from rtmotion.pose.extractors import get_extractor
from rtmotion.pose.filters import KeypointFilter
from rtmotion.pose.normalize import OnlineNormalizer
from rtmotion.pose.posefile import PoseSequence
from rtmotion.pose.skeleton import BODY25
from rtmotion.subject import Subject

log = logging.getLogger(__name__)

LIVE_MIN_CUTOFF = 1.0   # Hz (see module docstring)
LIVE_BETA = 40.0        # 1 / (frame heights per second)
LIVE_D_CUTOFF = 1.0     # Hz
HOLD_SECONDS = 0.5


class FrameSource(Protocol):
    """A camera-like source (see rtmotion.io.camera)."""

    name: str
    size: tuple[int, int]
    fps: Any
    frame_index: int

    def open(self) -> Any: ...
    def read(self) -> tuple[np.ndarray, float] | None: ...
    def close(self) -> None: ...


@dataclass
class LiveFrame:
    """One frame through the live pipeline. Times are perf_counter() seconds."""

    seq: int                       # capture order
    source_index: int              # frame number in the source (file) or camera count
    image: np.ndarray              # uint8 RGB camera frame
    t_capture: float
    raw_kp: np.ndarray | None = None   # (K, 3) source pixels
    kp: np.ndarray | None = None       # (K, 3) model pixels
    t_pose: float = 0.0
    result: np.ndarray | None = None   # uint8 RGB subject frame
    state: str = ""
    t_generate: float = 0.0
    t_display: float = 0.0


@dataclass
class LiveReport:
    """End-of-run summary (the `--json` report)."""

    source: str
    subject: str
    backend: str = ""
    frames_captured: int = 0
    frames_shown: int = 0
    frames_dropped: int = 0
    dropped_by_stage: dict[str, int] = field(default_factory=dict)
    frames_no_person: int = 0
    seconds: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)    # capture -> display
    stages: dict[str, Any] = field(default_factory=dict)
    snapshots: list[str] = field(default_factory=list)
    recording: str | None = None
    virtual_camera: str | None = None
    ended_by: str = ""

    @property
    def fps(self) -> float:
        return self.frames_shown / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fps_shown"] = round(self.fps, 2)
        d["seconds"] = round(self.seconds, 3)
        return d

    def lines(self) -> list[str]:
        lat = self.latency_ms
        out = [f"live: {self.source} drove subject {self.subject} for {self.seconds:.1f} s ({self.ended_by})",
               f"  generator  {self.backend}",
               f"  frames     {self.frames_shown} shown ({self.fps:.1f} fps), {self.frames_dropped} dropped "
               f"of {self.frames_captured} captured, {self.frames_no_person} without a person",
               f"  latency    capture to display p50 {lat.get('p50', 0):.0f} ms, p95 {lat.get('p95', 0):.0f} ms, "
               f"p99 {lat.get('p99', 0):.0f} ms"]
        for name, s in self.stages.items():
            out.append(f"  stage {name:<9s} p50 {s['p50']:.1f} ms  p95 {s['p95']:.1f} ms  p99 {s['p99']:.1f} ms")
        if self.recording:
            out.append(f"  recording  {self.recording}")
        out += [f"  snapshot   {s}" for s in self.snapshots]
        return out


class PoseStage:
    """Camera frame -> normalized pose: an extractor (MediaPipe), or a pose file looked up by
    the source's frame index (a file source whose poses were extracted once), then the causal
    One-Euro filter and the OnlineNormalizer."""

    def __init__(self, subject: Subject, size: tuple[int, int], fps: float, *, mode: str = "auto",
                 extractor: str = "mediapipe", poses: PoseSequence | None = None) -> None:
        self.poses = poses
        self.extractor = None if poses is not None else get_extractor(
            extractor, **({"model_complexity": 1} if extractor == "mediapipe" else {}))
        self.filter = KeypointFilter(size[1], LIVE_MIN_CUTOFF, LIVE_BETA, LIVE_D_CUTOFF)
        self.normalizer = OnlineNormalizer(subject.stats, BODY25.joints, mode=mode, fps=fps,
                                           size=size, skeleton="body25")
        self.renormalize = threading.Event()

    def open(self) -> None:
        if self.extractor is not None:
            self.extractor.open()

    def close(self) -> None:
        if self.extractor is not None:
            self.extractor.close()

    def __call__(self, frame: LiveFrame) -> None:
        if self.renormalize.is_set():
            self.renormalize.clear()
            self.normalizer.refine()
            log.info("re-estimating the pose normalization")
        if self.poses is not None:
            i = frame.source_index
            raw = self.poses.keypoints[i] if 0 <= i < len(self.poses) else np.zeros_like(self.poses.keypoints[0])
        else:
            raw = self.extractor(frame.image)  # type: ignore[misc]
        filtered = self.filter(raw, frame.t_capture)
        frame.raw_kp = filtered
        frame.kp = self.normalizer(filtered)


@dataclass
class LiveOptions:
    """How `run_live` runs (the CLI's flags)."""

    mode: str = "auto"
    backend: str = "torch"
    device: str = "cpu"
    precision: str = "fp32"
    engine_dir: str | Path | None = DEFAULT_ENGINE_DIR
    extractor: str = "mediapipe"
    poses: PoseSequence | None = None       # pose file for a file source (skips MediaPipe)
    seconds: float | None = None            # stop after this long (None: until the source ends)
    max_frames: int | None = None           # stop after this many frames shown
    side_by_side: bool = False
    overlay: bool = True
    hold_seconds: float = HOLD_SECONDS
    warmup_frames: int = 0                  # frames not counted in the statistics
    display_height: int = 360               # the shown picture is scaled up to this (pixels)
    torch_threads: int | None = 1           # torch intra-op threads during the run (None: as is);
    # 1: the generate thread keeps one core and MediaPipe the other, instead of both fighting


# A display sink gets each finished frame's image (with overlay) and the frame; it returns an
# action ("quit", "renormalize", "snapshot", "toggle") or None.
Sink = Callable[[np.ndarray, LiveFrame], "str | None"]


def run_live(subject: Subject, source: FrameSource, sinks: list[Sink], options: LiveOptions,
             on_snapshot: Callable[[np.ndarray], str] | None = None) -> LiveReport:
    """Run the live pipeline until the source ends, a sink says "quit", `options.seconds` pass
    or `options.max_frames` are shown. Raises StageError (after every thread stopped) when a
    stage fails; a source that ends (file end, camera unplugged) is a clean end."""
    timers = Timers(skip=options.warmup_frames)
    stop = StopFlag()
    slots = {"pose": LatestSlot(stop), "generate": LatestSlot(stop), "display": LatestSlot(stop)}
    report = LiveReport(source=source.name, subject=str(subject.name))
    source.open()
    fps = float(source.fps) if source.fps else 30.0
    pose = PoseStage(subject, source.size, fps, mode=options.mode, extractor=options.extractor,
                     poses=options.poses)
    runner, desc = open_runner(subject, options.backend, options.precision, options.device,
                               options.engine_dir)
    report.backend = desc
    synth = make_synthesizer(subject, runner, runner.device)
    policy = PersonGapPolicy(int(round(options.hold_seconds * fps)))
    captured = [0]
    # Display toggles, changed from the caller's thread only.
    view = {"side": options.side_by_side}

    def capture_main() -> None:
        try:
            seq = 0
            while not stop.is_set():
                got = source.read()
                if got is None:
                    report.ended_by = report.ended_by or "source ended"
                    break
                image, t = got
                slots["pose"].put(LiveFrame(seq, source.frame_index, image, t))
                seq += 1
                captured[0] = seq
        except BaseException as e:  # noqa: BLE001
            stop.fail("capture", e)
        finally:
            slots["pose"].close()

    def stage_main(name: str, fn: Callable[[LiveFrame], None], inslot: LatestSlot, outslot: LatestSlot,
                   stamp: str) -> None:
        timer = timers[name]
        try:
            while True:
                item = inslot.get()
                if item is END:
                    break
                t0 = time.perf_counter()
                fn(item)
                t1 = time.perf_counter()
                setattr(item, stamp, t1)
                timer.add((t1 - t0) * 1000.0)
                outslot.put(item)
        except Stopped:
            pass
        except BaseException as e:  # noqa: BLE001
            stop.fail(name, e)
        finally:
            outslot.close()

    def generate(frame: LiveFrame) -> None:
        kp, state = policy(frame.kp)  # type: ignore[arg-type]
        if policy.needs_reset:
            synth.reset()
        frame.state = state
        frame.result = synth.blank_scene() if state == BLANK else synth(kp)

    pose.open()
    threads_before = torch.get_num_threads()
    if options.torch_threads is not None:
        torch.set_num_threads(int(options.torch_threads))
    threads = [threading.Thread(target=capture_main, name="rtmotion-capture", daemon=True),
               threading.Thread(target=stage_main, args=("pose", pose, slots["pose"], slots["generate"], "t_pose"),
                                name="rtmotion-pose", daemon=True),
               threading.Thread(target=stage_main, args=("generate", generate, slots["generate"],
                                                         slots["display"], "t_generate"),
                                name="rtmotion-generate", daemon=True)]
    latencies: list[float] = []
    shown = 0
    t_start = time.perf_counter()
    fps_window: list[float] = []
    try:
        for t in threads:
            t.start()
        while True:
            if options.seconds is not None and time.perf_counter() - t_start >= options.seconds:
                report.ended_by = "time limit"
                break
            try:
                item = slots["display"].get()
            except Stopped:
                break
            if item is END:
                break
            t_show = time.perf_counter()
            fps_window = [t for t in fps_window if t_show - t < 1.0] + [t_show]
            lat_ms = (t_show - item.t_capture) * 1000.0
            image = item.result
            if view["side"]:
                image = side_by_side(item.image, source.size, item.raw_kp, item.kp, item.result)
            if image.shape[0] < options.display_height:
                # A 128 px subject is a thumbnail on a screen, and its overlay would be unreadable.
                image = fit_height(image, options.display_height, even_width=True)
            if options.overlay:
                image = text_overlay(image, [f"{len(fps_window):d} fps  {lat_ms:.0f} ms",
                                             f"dropped {sum(s.dropped for s in slots.values())}"
                                             + ("  (no person)" if item.state != "person" else "")])
            actions = [sink(image, item) for sink in sinks]
            item.t_display = time.perf_counter()
            shown += 1
            if shown > options.warmup_frames:
                latencies.append((item.t_display - item.t_capture) * 1000.0)
                timers["display"].add((item.t_display - t_show) * 1000.0)
            for action in actions:
                if action == "renormalize":
                    pose.renormalize.set()
                elif action == "toggle":
                    view["side"] = not view["side"]
                elif action == "snapshot" and on_snapshot is not None:
                    report.snapshots.append(on_snapshot(image))
            if "quit" in actions:
                report.ended_by = "quit key"
                break
            if options.max_frames is not None and shown >= options.max_frames:
                report.ended_by = "frame limit"
                break
    finally:
        stop.event.set()
        join_threads(threads)
        pose.close()
        synth.close()
        source.close()
        torch.set_num_threads(threads_before)
    report.seconds = time.perf_counter() - t_start
    stop.raise_failure()
    report.frames_captured = captured[0]
    report.frames_shown = shown
    report.dropped_by_stage = {k: s.dropped for k, s in slots.items()}
    report.frames_dropped = sum(report.dropped_by_stage.values())
    report.frames_no_person = policy.counts.total
    report.latency_ms = percentiles(latencies)
    report.stages = timers.summary()
    report.ended_by = report.ended_by or "source ended"
    return report
