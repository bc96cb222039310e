"""Live transfer: camera (or a file played as one) -> pose -> subject -> preview / outputs.

Threads joined by one-slot, latest-wins hand-offs (`StagePipeline` with `LatestSlot`s):

    capture  reads the camera as fast as it delivers (so the driver's buffer never goes stale)
      -> slot -> pose      MediaPipe, One-Euro filter (causal), OnlineNormalizer
      -> slot -> generate  the session's step (no-person rule + synthesizer)
      -> slot -> display   the caller's thread: preview window, virtual camera, recording

A stage that is busy when a newer frame arrives never sees the older one: it is overwritten and
counted as dropped, so latency stays about one frame per stage instead of growing a backlog.
The pose stage is paced (`LiveOptions.pace`): it starts a frame when its result will be ready
just as the generate stage becomes free, so a pose never waits in the slot and the CPU is not
spent on poses the generator would drop; and when it is due it waits for the camera's next frame
if that is nearer than the frame it holds is old (`LiveOptions.fresh`), so what it estimates is
at most about half a frame period old.
Every frame carries four clock readings (`time.perf_counter()` seconds): at capture, after pose,
after generate and at display; capture-to-display latency is known for every frame shown.

Live One-Euro parameters (min_cutoff 1 Hz, beta 40) were chosen by measuring error, jitter and
lag together on MediaPipe output of six synthetic dancers (tools/tune_pose_filters.py,
docs/BENCHMARKS.md): jitter about half of raw, lag under one frame, mean error 0.03 % of body
height above raw (0.11 % on the worst dancer), where the old default (2 Hz, beta 5) lagged a full
frame and added 0.15 %.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from rtmotion.engine_request import EAGER_CPU, EngineRequest
from rtmotion.pipeline.compose import side_by_side
from rtmotion.pipeline.coverage import NEW_POSE_DISTANCE, NO_NEW_POSES, PoseCoverage
from rtmotion.pipeline.coverage import describe as describe_new_poses
from rtmotion.pipeline.gaps import HOLD_SECONDS, PERSON
from rtmotion.pipeline.session import Session, hold_frames, open_session
from rtmotion.pipeline.stages import LATEST, StagePipeline
from rtmotion.pipeline.stats import Timers, percentiles
from rtmotion.pose.draw import fit_height, text_overlay
from rtmotion.pose.extractors import get_extractor
from rtmotion.pose.filters import KeypointFilter
from rtmotion.pose.normalize import OnlineNormalizer
from rtmotion.pose.people import PeopleCounter
from rtmotion.pose.person import PersonChoice, choose_person
from rtmotion.pose.posefile import PoseSequence
from rtmotion.pose.skeleton import BODY25
from rtmotion.pose.track import PersonTracker
from rtmotion.subject import Subject

log = logging.getLogger(__name__)

LIVE_MIN_CUTOFF = 1.0   # Hz (see module docstring)
LIVE_BETA = 40.0        # 1 / (frame heights per second)
LIVE_D_CUTOFF = 1.0     # Hz
_OPEN_LOCK = threading.Lock()   # one run at a time opens its estimator and engine (run_live)


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
    pose_distance: float | None = None  # its pose to the subject's nearest keyframe (body heights)
    t_generate: float = 0.0
    t_display: float = 0.0


@dataclass
class LiveReport:
    """End-of-run summary (the `--json` report)."""

    source: str
    subject: str
    backend: str = ""
    build_seconds: float = 0.0       # engines built before the run started (first use here)
    engine_built: str | None = None  # what was built, how long, where it is cached (or None)
    frames_captured: int = 0       # delivered by the source = shown + dropped + in flight
    frames_shown: int = 0
    frames_dropped: int = 0        # overwritten in a latest-wins hand-off
    frames_in_flight: int = 0      # inside the pipeline when the run ended
    dropped_by_stage: dict[str, int] = field(default_factory=dict)
    frames_skipped_at_source: int = 0   # a file source: stale frames dropped at capture
    source_late_seconds: float = 0.0    # a file source: clock moved on (decoding fell behind)
    warmup_frames: int = 0         # first frames shown, kept out of latency and stage figures
    warmup_latency_ms: float = 0.0  # ... their largest capture-to-display latency
    frames_no_person: int = 0
    #: the people found on the first frame and the one followed (`PersonChoice.to_dict`), or
    #: None (no people search: a pose file, or `LiveOptions.person` None)
    people: dict[str, Any] | None = None
    #: the frames generated whose pose the target's clip never showed (`PoseCoverage.to_dict`,
    #: seconds from the capture count at the source's rate), or None (a subject without keyframes)
    new_poses: dict[str, Any] | None = None
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
               *([f"  engine     {self.engine_built}"] if self.engine_built else []),
               f"  frames     {self.frames_shown} shown ({self.fps:.1f} fps), {self.frames_dropped} dropped "
               f"of {self.frames_captured} captured, {self.frames_no_person} without a person",
               f"  latency    capture to display p50 {lat.get('p50', 0):.0f} ms, p95 {lat.get('p95', 0):.0f} ms, "
               f"p99 {lat.get('p99', 0):.0f} ms"
               + (f" (after {self.warmup_frames} warm-up frames, at most {self.warmup_latency_ms:.0f} ms)"
                  if self.warmup_frames else "")]
        if self.people is not None:
            out.append(f"  people     {self.people['summary']}")
        if self.new_poses is not None:
            out.append(f"  new poses  {describe_new_poses(self.new_poses) or NO_NEW_POSES}")
        if self.frames_skipped_at_source or self.source_late_seconds >= 0.05:
            out.append(f"  source     {self.frames_skipped_at_source} late frames dropped at capture"
                       + (f"; decoding fell behind by {self.source_late_seconds:.2f} s in all"
                          if self.source_late_seconds >= 0.05 else ""))
        for name, s in self.stages.items():
            out.append(f"  stage {name:<9s} p50 {s['p50']:.1f} ms  p95 {s['p95']:.1f} ms  p99 {s['p99']:.1f} ms")
        if self.recording:
            out.append(f"  recording  {self.recording}")
        out += [f"  snapshot   {s}" for s in self.snapshots]
        return out


class PoseStage:
    """Camera frame -> normalized pose: an extractor (MediaPipe), or a pose file looked up by
    the source's frame index (a file source whose poses were extracted once), then the causal
    One-Euro filter and the OnlineNormalizer.

    With `person` set, the first frame is searched for people (`rtmotion.pose.person`; about
    0.25 s per person, inside the warm-up); with several, the extractor follows the chosen one
    in a crop (`rtmotion.pose.track.PersonTracker`) from then on. `choice` holds what was found.
    """

    def __init__(self, subject: Subject, size: tuple[int, int], fps: float, *, mode: str = "auto",
                 extractor: str = "mediapipe", poses: PoseSequence | None = None,
                 person: str | int | None = None) -> None:
        self.poses = poses
        self.person = person if poses is None and extractor == "mediapipe" else None
        self.choice: PersonChoice | None = None
        # The extractor's own defaults (MediaPipe: the full model, tracking mode).
        self.extractor = None if poses is not None else get_extractor(extractor)
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
            if self.person is not None and self.choice is None:
                self._choose(frame.image)
            raw = self.extractor(frame.image)  # type: ignore[misc]
        filtered = self.filter(raw, frame.t_capture)
        frame.raw_kp = filtered
        frame.kp = self.normalizer(filtered)

    def _choose(self, image: np.ndarray) -> None:
        """The people search on the first frame; several: follow the chosen one from now on.
        InputError (the run stops) for a person number larger than the count."""
        with PeopleCounter() as counter:
            boxes = counter.boxes(image)
        assert self.person is not None
        self.choice = choose_person([(0, boxes)], self.person, (image.shape[1], image.shape[0]))
        log.info("people: %s", self.choice.describe())
        if self.choice.several and self.extractor is not None:
            self.extractor = PersonTracker(self.extractor, self.choice.box, choice=self.choice).open()


@dataclass
class LiveOptions:
    """How `run_live` runs (the CLI's flags).

    Attributes:
        engine: the generator runtime (`EAGER_CPU`: torch fp32 on the CPU, nothing built).
        mode: pose normalization mode ("auto", "edn", "retarget", "upper").
        extractor: the per-frame pose estimator (MediaPipe).
        poses: a pose file of a file source, looked up by frame (skips the estimator).
        person: who drives when the first frame shows several people ("auto", "largest",
            "center", N = the N-th from the left; `rtmotion.pose.person`); None: no search
            (the estimator follows whom it finds).
        seconds: stop after this long (None: until the source ends).
        max_frames: stop after this many frames shown.
        side_by_side: start with source | pose | result shown.
        overlay: draw fps, latency and drops on the shown picture.
        hold_seconds: a person missing for up to this long keeps their last pose.
        warmup_frames: the first frames shown, not counted in latency and stage statistics
            (the first MediaPipe and generator calls are slow); reported apart.
        display_height: the shown picture is scaled to this height (pixels; the recording and
            the virtual camera get the result at its own size); None: not scaled (`rtmotion
            serve`, whose page scales the result itself).
        torch_threads: torch intra-op threads during the run (None: as is), and the generator
            engine's when the request names none (`EngineRequest.threads_or`). 1: the generate
            thread keeps one core and MediaPipe the other, instead of both fighting.
        keep_samples: the statistics keep only this many recent values per stage and of the
            latency (None: all of them); bounded memory for runs of hours (`rtmotion serve`).
        pace: the pose stage starts each frame just in time for the generate stage
            (`rtmotion.pipeline.stages`, pacing): its result does not wait in the slot, and
            frames the generator would never take are not estimated. False: as fast as it can.
        fresh: with `pace`, the pose stage, when due, waits for the camera's next frame when
            that is nearer than the frame it holds is old (`rtmotion.pipeline.stages`, fresh
            input): a frame is at most about half a frame period old when its pose starts,
            instead of up to a whole one, for an occasional wait of under half a period.
        detail: add the keyframes' full-resolution detail to the person when the subject has it
            (`rtmotion.pipeline.detail`).
        output_size: (W, H) the result is composed at (None: the subject's camera frame).
            `rtmotion live` with only the preview asks for the preview's size
            (`preview_output_size`): a phone subject's 692x1108 frame composed and then shrunk
            to 512 rows cost 16 ms a frame more than composing at 320x512.
    """

    engine: EngineRequest = EAGER_CPU
    mode: str = "auto"
    extractor: str = "mediapipe"
    poses: PoseSequence | None = None
    person: str | int | None = None
    seconds: float | None = None
    max_frames: int | None = None
    side_by_side: bool = False
    overlay: bool = True
    hold_seconds: float = HOLD_SECONDS
    warmup_frames: int = 0
    display_height: int | None = 512
    torch_threads: int | None = 1
    keep_samples: int | None = None
    pace: bool = True
    fresh: bool = True
    detail: bool = True
    output_size: tuple[int, int] | None = None


# A display sink gets each finished frame's image (with overlay) and the frame; it returns an
# action ("quit", "renormalize", "snapshot", "toggle") or None.
Sink = Callable[[np.ndarray, LiveFrame], "str | None"]


def preview_output_size(frame_size: tuple[int, int], display_height: int | None
                        ) -> tuple[int, int] | None:
    """The size to compose a result that is only shown: the subject's camera frame (W, H) at
    `display_height` rows (even width), or None when it is not taller (nothing to save)."""
    w, h = int(frame_size[0]), int(frame_size[1])
    if display_height is None or h <= display_height:
        return None
    width = max(2, round(w * display_height / h))
    return width + width % 2, int(display_height)


def run_live(subject: Subject, source: FrameSource, sinks: list[Sink], options: LiveOptions,
             on_snapshot: Callable[[np.ndarray], str] | None = None) -> LiveReport:
    """Run the live pipeline until the source ends, a sink says "quit", `options.seconds` pass
    or `options.max_frames` are shown. Raises StageError (after every thread stopped) when a
    stage fails; a source that ends (file end, camera unplugged) is a clean end.

    Threads: capture -> pose -> generate (`StagePipeline` with latest-wins hand-offs), and the
    display in the caller's thread (a preview window wants the main thread)."""
    report = LiveReport(source=source.name, subject=str(subject.name))
    timers = Timers(skip=options.warmup_frames, keep=options.keep_samples)
    with contextlib.ExitStack() as stack:
        source.open()
        stack.callback(source.close)
        fps = float(source.fps) if source.fps else 30.0
        # Runs side by side in one process (`rtmotion serve`: a run per page) open their
        # estimator and engine one at a time: two MediaPipe graphs created at the same moment
        # were seen to hang both.
        with _OPEN_LOCK:
            pose = PoseStage(subject, source.size, fps, mode=options.mode,
                             extractor=options.extractor, poses=options.poses,
                             person=options.person)
            session = stack.enter_context(open_session(
                subject, options.engine.threads_or(options.torch_threads),
                hold_frames=hold_frames(options.hold_seconds, fps),
                full_frame=options.output_size or True, detail=options.detail))
            report.backend = session.describe()
            if session.choice is not None and session.choice.builds:
                report.build_seconds = round(session.choice.build_seconds, 2)
                report.engine_built = session.choice.build_line()
            pose.open()
            stack.callback(pose.close)
        if options.torch_threads is not None:
            stack.callback(torch.set_num_threads, torch.get_num_threads())
            torch.set_num_threads(int(options.torch_threads))
        coverage = PoseCoverage(fps)
        pipe = StagePipeline(("capture", _capture(source, report)),
                             [("pose", _stamped(pose, "t_pose")),
                              ("generate", _stamped(_generate(session, coverage), "t_generate"))],
                             ("display", None), handoff=LATEST, timers=timers, time_source=False,
                             pace=options.pace, fresh=options.pace and options.fresh)
        display = _Display(options, source.size, sinks, on_snapshot, pose, report, timers,
                           session.keypoints_to_output)
        t_start = time.perf_counter()
        with pipe.running():
            display.run(pipe, t_start)
    report.seconds = time.perf_counter() - t_start
    pipe.raise_failure()
    report.frames_shown = display.shown
    report.dropped_by_stage = {k: s.dropped for k, s in pipe.handoffs.items()}
    report.frames_dropped = sum(report.dropped_by_stage.values())
    report.frames_in_flight = report.frames_captured - report.frames_shown - report.frames_dropped
    report.frames_skipped_at_source = int(getattr(source, "skipped", 0))
    report.source_late_seconds = round(float(getattr(source, "late_seconds", 0.0)), 3)
    report.warmup_frames = min(options.warmup_frames, display.shown)
    report.warmup_latency_ms = round(max(display.warmup_latencies, default=0.0), 1)
    report.frames_no_person = session.gaps.total
    report.people = pose.choice.to_dict() if pose.choice is not None else None
    report.new_poses = coverage.to_dict() if coverage.frames else None
    report.latency_ms = percentiles(display.latencies)
    report.stages = timers.summary()
    report.ended_by = report.ended_by or "source ended"
    return report


def _capture(source: FrameSource, report: LiveReport) -> Iterator[LiveFrame]:
    """The capture stage: read the camera as fast as it delivers (counted in the report)."""
    seq = 0
    while True:
        got = source.read()
        if got is None:
            report.ended_by = report.ended_by or "source ended"
            return
        image, t = got
        report.frames_captured = seq + 1
        yield LiveFrame(seq, source.frame_index, image, t)
        seq += 1


def _stamped(fn: Callable[[LiveFrame], None], attr: str) -> Callable[[LiveFrame], LiveFrame]:
    """A live stage: `fn(frame)`, then the clock reading `attr` (t_pose, t_generate) set."""
    def stage(frame: LiveFrame) -> LiveFrame:
        fn(frame)
        setattr(frame, attr, time.perf_counter())
        return frame

    return stage


def _generate(session: Session, coverage: PoseCoverage) -> Callable[[LiveFrame], None]:
    """The generate stage: the session's whole step on the frame's normalized pose (and how
    far that pose is from the subject's keyframes, into `coverage`)."""
    def generate(frame: LiveFrame) -> None:
        assert frame.kp is not None
        prepared = session.prepare(frame.kp)
        frame.state = prepared.state
        frame.result = session.generate(prepared)
        frame.pose_distance = session.last_pose_distance
        coverage.add(frame.seq, frame.pose_distance)   # capture order: a loop goes on

    return generate


class _Display:
    """The caller's end of the live pipeline: the shown picture (side by side, scaled, overlay),
    the sinks and their actions, latency and display time per frame."""

    def __init__(self, options: LiveOptions, source_size: tuple[int, int], sinks: list[Sink],
                 on_snapshot: Callable[[np.ndarray], str] | None, pose: PoseStage,
                 report: LiveReport, timers: Timers,
                 to_output: Callable[[np.ndarray], np.ndarray] = np.asarray) -> None:
        self.options, self.source_size, self.sinks = options, source_size, sinks
        self.to_output = to_output                # model pixels -> the result's pixels
        self.on_snapshot, self.pose, self.report, self.timers = on_snapshot, pose, report, timers
        self.side = options.side_by_side          # toggled from this thread only
        self.shown = 0
        # capture -> display, ms, after the warm-up (the most recent `keep_samples` of them)
        self.latencies: list[float] | deque[float] = (
            [] if options.keep_samples is None else deque(maxlen=int(options.keep_samples)))
        self.warmup_latencies: list[float] = []   # ... of the warm-up frames
        self._window: list[float] = []            # display times of the last second
        self._last_shown = time.perf_counter()   # when the last frame was shown (or the run began)

    def run(self, pipe: StagePipeline, t_start: float) -> None:
        """Show frames until the source ends, the run stops, or a limit, a sink or Ctrl-C ends
        it. The time limit holds when no frame comes at all (a stalled camera or stage): a
        timer stops the pipeline then, so `--seconds` always ends the run. Ctrl-C is a way to
        end a live run, not a failure: the run ends as for the quit key, with its report."""
        limit = self.options.seconds
        timer = None
        if limit is not None:
            timer = threading.Timer(max(0.0, limit - (time.perf_counter() - t_start)),
                                    self._time_up, args=(pipe,))
            timer.daemon = True
            timer.start()
        try:
            for item in pipe.results():
                if limit is not None and time.perf_counter() - t_start >= limit:
                    self.report.ended_by = "time limit"
                    return
                dropped = sum(s.dropped for s in pipe.handoffs.values())
                end = self.show(item, dropped)
                if end:
                    self.report.ended_by = end
                    return
        except KeyboardInterrupt:
            self.report.ended_by = "interrupted (Ctrl-C)"
        finally:
            if timer is not None:
                timer.cancel()

    def _time_up(self, pipe: StagePipeline) -> None:
        """The timer's end of a run whose frames stopped coming (`run`)."""
        if not pipe.stop.is_set():
            quiet = time.perf_counter() - self._last_shown
            self.report.ended_by = self.report.ended_by or (
                "time limit" if quiet < 1.0 else f"time limit (no frame for the last {quiet:.1f} s)")
            pipe.stop.event.set()

    def show(self, item: LiveFrame, dropped: int) -> str | None:
        """Show one frame; returns why the run ends ("quit key", "frame limit") or None."""
        opt = self.options
        t_show = time.perf_counter()
        self._window = [t for t in self._window if t_show - t < 1.0] + [t_show]
        image = self.picture(item, t_show, dropped)
        actions = [sink(image, item) for sink in self.sinks]
        item.t_display = time.perf_counter()
        self._last_shown = item.t_display
        self.shown += 1
        latency_ms = (item.t_display - item.t_capture) * 1000.0
        if self.shown > opt.warmup_frames:
            self.latencies.append(latency_ms)
            self.timers["display"].add((item.t_display - t_show) * 1000.0)
        else:
            self.warmup_latencies.append(latency_ms)
        for action in actions:
            if action == "renormalize":
                self.pose.renormalize.set()
            elif action == "toggle":
                self.side = not self.side
            elif action == "snapshot" and self.on_snapshot is not None:
                self.report.snapshots.append(self.on_snapshot(image))
        if "quit" in actions:
            return "quit key"
        if opt.max_frames is not None and self.shown >= opt.max_frames:
            return "frame limit"
        return None

    def picture(self, item: LiveFrame, t_show: float, dropped: int) -> np.ndarray:
        """uint8 RGB: the result (or source | pose | result), scaled up, with the overlay."""
        assert item.result is not None
        image = item.result
        if self.side:
            image = side_by_side(item.image, self.source_size, item.raw_kp,
                                 self.to_output(item.kp), item.result)
        if self.options.display_height is not None and image.shape[0] != self.options.display_height:
            # One window size whatever the subject's frame: a small one would be a thumbnail
            # with an unreadable overlay, a 1080p one (x3 side by side) larger than the screen.
            image = fit_height(image, self.options.display_height, even_width=True)
        if self.options.overlay:
            lat_ms = (t_show - item.t_capture) * 1000.0
            image = text_overlay(image, [f"{len(self._window):d} fps  {lat_ms:.0f} ms",
                                         status_line(dropped, item.state, item.pose_distance)])
        return image


def status_line(dropped: int, state: str, pose_distance: float | None) -> str:
    """The overlay's second line: frames dropped, and what the frame is not (no person; a pose
    the target's clip never showed, `rtmotion.pipeline.coverage`: the performer sees, as they
    move, which moves the subject draws from far-off pictures)."""
    line = f"dropped {dropped}"
    if state != PERSON:
        return line + "  (no person)"
    if pose_distance is not None and pose_distance > NEW_POSE_DISTANCE:
        return line + "  (new pose)"
    return line
