"""Offline conversion: a dance video (or a pose file) -> the subject dancing, every frame.

Two phases, because offline use knows the whole source and uses that:

1. poses of the whole source: a pose file is loaded as it is (`rtmotion extract` already
   filtered it); a video runs MediaPipe over every `POSE_EVERY`-th frame in worker processes
   (one contiguous chunk per core, `rtmotion.pose.extract.extract_video`; the frames between
   are interpolated), then the zero-phase filter smooths
   the tracks without lag, and EDN normalization maps them into the subject's frame with
   statistics of the *whole* source (the far/close ankle positions of the entire dance);
2. a stage pipeline (`StagePipeline`: threads joined by bounded queues, in order, lossless):

       read (source frames for --side-by-side, poses, timestamps)
         -> prepare (no-person rule, pose maps and pose flow: they need only the poses, so
            they run one frame ahead, on the other core)
         -> synthesize (Session.draw: warp of the previous output, generator)
         -> finish (Session.finish: face enhancer, uint8, the frame composed onto the subject's
            full-resolution scene: stateless, so it runs a frame behind on the other core)
         -> compose (side-by-side panels, when asked)
         -> encode (PyAV H.264, the source's audio copied or transcoded to AAC)

One output frame per source frame, shown at the source frame's time (constant-rate sources
keep their exact rate; variable-rate sources keep every frame's own timestamp). Outputs are
written to temporary names and renamed only when the whole run succeeded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rtmotion.atomic import check_writable
from rtmotion.engine_request import EAGER_CPU, EngineRequest
from rtmotion.errors import InputError, OutputError
from rtmotion.io import VIDEO_SUFFIXES, VideoInfo, VideoReader, VideoWriter, rate_text
from rtmotion.io.audio_cut import cut_audio
from rtmotion.io.timed_writer import TimedVideoWriter
from rtmotion.io.writer import REALTIME_PRESET
from rtmotion.pipeline.compose import side_by_side
from rtmotion.pipeline.coverage import NO_NEW_POSES, PoseCoverage
from rtmotion.pipeline.coverage import describe as describe_new_poses
from rtmotion.pipeline.gaps import HOLD_SECONDS
from rtmotion.pipeline.progress import RunProgress
from rtmotion.pipeline.session import Prepared, Session, hold_frames, open_session
from rtmotion.pipeline.stages import StagePipeline
from rtmotion.pipeline.stats import Timers
from rtmotion.pipeline.synthesize import Drawn
from rtmotion.pose.extract import detect_source, extract_video
from rtmotion.pose.filters import OFFLINE_FILTER, FilterParams, smooth_keypoints
from rtmotion.pose.normalize import normalize_sequence
from rtmotion.pose.posefile import PoseSequence
from rtmotion.subject import Subject

log = logging.getLogger(__name__)

#: Offline, MediaPipe runs on every this-many-th source frame and the poses between are
#: interpolated in time (`extract_video(every=...)`), before the zero-phase filter. It halves
#: the pose work, a third of a conversion's CPU on 2 cores: convert 16.5 -> 20.9 fps (bench 900
#: frames, fp32). The cost, measured: demo-ada's transfer body SSIM 0.899 -> 0.891, face 0.912 ->
#: 0.900 (the same on estimated and interpolated frames: MediaPipe's tracker, fed every second
#: frame, places the joints a little differently), driving-pose error unchanged (0.022 x body
#: height); on a real dance the poses stay within 0.3 % of the body height of every frame's
#: (docs/BENCHMARKS.md, "Offline poses on every second frame"). 1 (`--pose-every 1`): every
#: frame, the best look.
POSE_EVERY = 2


@dataclass
class ConvertResult:
    """What one conversion did (the `--json` report)."""

    output: str
    source: str
    source_kind: str
    subject: str
    frames: int = 0
    size: tuple[int, int] = (0, 0)  # (W, H) of the result
    frames_no_person: int = 0      # source frames without a person (held + blank)
    frames_held: int = 0           # ... drawn with the last pose held
    frames_blank: int = 0          # ... drawn as the subject's empty scene
    fps_source: str = ""
    variable_frame_rate: bool = False
    audio: str = "none"            # "copied/transcoded from SOURCE", or "none"
    mode: str = ""
    filter: str = ""
    backend: str = ""
    device: str = ""
    pose_seconds: float = 0.0      # phase 1 (pose extraction or loading, filter, normalize)
    pose_workers: int = 0
    pose_every: int = 1            # MediaPipe saw every this-many-th frame (video sources)
    generate_seconds: float = 0.0  # phase 2 (synthesize + encode)
    seconds: float = 0.0           # the whole run, engine builds included
    build_seconds: float = 0.0     # ... of which building engines (first use on this machine)
    engine_built: str | None = None  # what was built, how long, where it is cached (or None)
    stages: dict[str, Any] = field(default_factory=dict)
    side_by_side: str | None = None
    #: the people found in the source and the one that drove (`PersonChoice.to_dict`), or None
    #: (a pose file: nobody was looked for)
    people: dict[str, Any] | None = None
    #: the frames whose pose the target's clip never showed (`PoseCoverage.to_dict`), or None
    #: (a subject without keyframes)
    new_poses: dict[str, Any] | None = None
    #: phase 1's poses (raw and normalized), for callers that keep them (demo); not in JSON
    poses: Any = field(default=None, repr=False, compare=False)

    @property
    def fps(self) -> float:
        """End-to-end frames per second, pose extraction included, engine builds not (a
        first-use build is reported on its own: `build_seconds`, `engine_built`)."""
        run = self.seconds - self.build_seconds
        return self.frames / run if run > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("poses", None)
        d["fps"] = round(self.fps, 2)
        d["fps_generate"] = round(self.frames / self.generate_seconds, 2) if self.generate_seconds else 0.0
        d["fps_pose"] = round(self.frames / self.pose_seconds, 2) if self.pose_seconds else 0.0
        for k in ("pose_seconds", "generate_seconds", "seconds", "build_seconds"):
            d[k] = round(d[k], 3)
        return d

    def lines(self) -> list[str]:
        out = [f"{self.source} -> {self.output}: {self.frames} frames of subject {self.subject}, "
               f"{self.size[0]}x{self.size[1]}"]
        out.append(f"  speed      {self.fps:.1f} fps end to end ({self.seconds - self.build_seconds:.1f} s; "
                   f"poses {self.pose_seconds:.1f} s, generate+encode {self.generate_seconds:.1f} s)")
        out.append(f"  generator  {self.backend}")
        if self.engine_built:
            out.append(f"  engine     {self.engine_built}")
        out.append(f"  poses      {self.source_kind}, filter {self.filter}, normalization {self.mode}")
        if self.people is not None:
            out.append(f"  people     {self.people['summary']}")
        out.append(f"  no person  {self.frames_no_person} frames ({self.frames_held} held, "
                   f"{self.frames_blank} empty scene)")
        if self.new_poses is not None:
            out.append(f"  new poses  {describe_new_poses(self.new_poses) or NO_NEW_POSES}")
        out.append(f"  timing     {self.fps_source} fps{' (variable frame rate kept)' if self.variable_frame_rate else ''}, "
                   f"audio {self.audio}")
        for name, s in self.stages.items():
            out.append(f"  stage {name:<11s} p50 {s['p50']:.1f} ms  p95 {s['p95']:.1f} ms  p99 {s['p99']:.1f} ms")
        if self.side_by_side:
            out.append(f"  side by side {self.side_by_side}")
        return out


@dataclass
class DrivingPoses:
    """Phase 1's result: raw source poses, the normalized driving poses, and facts."""

    raw: PoseSequence          # source pixels (filtered for video sources)
    driving: PoseSequence      # the subject's model pixels
    kind: str                  # "video" or "npz"
    info: VideoInfo | None
    workers: int
    filter: str
    people: dict[str, Any] | None = None  # `PersonChoice.to_dict` of a video source
    every: int = 1  # the pose estimator saw every this-many-th frame (a video source)


def is_variable_rate(timestamps: np.ndarray, fps: Fraction) -> bool:
    """True when frame times stray from i / fps by more than half a frame (a VFR source)."""
    if len(timestamps) < 2:
        return False
    d = np.asarray(timestamps, np.float64) - float(timestamps[0])
    nominal = np.arange(len(d)) / float(fps)
    return bool(np.max(np.abs(d - nominal)) > 0.5 / float(fps))


def check_output(output: str | Path, source: str | Path) -> Path:
    """OutputError (before any work) for an output that cannot be a video file here."""
    out = Path(output)
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise OutputError(out, f"unsupported video file type '{out.suffix}'",
                          f"give a name ending in {', '.join(VIDEO_SUFFIXES)}")
    check_writable(out)
    with contextlib.suppress(OSError):
        if Path(source).exists() and out.resolve() == Path(source).resolve():
            raise OutputError(out, "would overwrite the source", "choose another output name")
    return out


def driving_poses(subject: Subject, source: str | Path, *, start: int = 0, end: int | None = None,
                  mode: str = "auto", workers: int | None = None, extractor: str = "mediapipe",
                  extractor_opts: dict[str, Any] | None = None, filter_params: FilterParams | None = None,
                  show_progress: bool = True, person: str | int | None = "auto",
                  pose_every: int = POSE_EVERY) -> DrivingPoses:
    """Phase 1 (see module docstring). InputError for a bad source, no person at all, or a
    `person` number larger than the people found (see `rtmotion.pose.person`). `pose_every`:
    a video's pose estimator sees every this-many-th frame (`POSE_EVERY`)."""
    kind = detect_source(source)
    info = None
    nw = 0
    people = None
    if kind == "npz":
        raw = PoseSequence.load(source)
        if start or end is not None:
            if start >= len(raw):
                raise InputError(source, f"--start {start} is past the end ({len(raw)} poses)")
            raw = raw.slice(start, end)
        filt = "as in the pose file"
    elif kind == "video":
        info = VideoInfo.from_path(source)
        log.info("%s: estimating poses (%s, %d frames)", Path(source).name, extractor,
                 max(0, (min(end, info.frame_count) if end is not None else info.frame_count) - start))
        opts = dict(extractor_opts or {})  # none: the extractor's defaults (MediaPipe: the full model)
        raw, summary = extract_video(source, extractor=extractor, extractor_opts=opts, workers=workers,
                                     start=start, end=end,
                                     show_progress=show_progress and sys.stderr.isatty(),
                                     person=person if extractor == "mediapipe" else None,
                                     every=pose_every)
        nw = summary.workers
        people = summary.people.to_dict() if summary.people is not None else None
        p = filter_params or FilterParams(method=OFFLINE_FILTER)
        kp, _ = smooth_keypoints(raw.keypoints, raw.timestamps, raw.size[1], p)
        raw = raw.with_keypoints(kp)
        filt = (f"{p.method}" + (f"(window {p.sg_window}, order {p.sg_order})"
                                 if p.method == "zero-phase" else "")
                + (f", poses estimated every {pose_every} frames" if pose_every > 1 else ""))
    else:
        raise InputError(source, f"a {kind} source cannot drive convert",
                         "give a video or a pose file from `rtmotion extract`")
    if len(raw) == 0 or not raw.detected.any():
        raise InputError(source, "no person detected in any frame",
                         "is a whole person visible? try a clearer or closer shot")
    driving = normalize_sequence(raw, subject.stats, mode=mode)
    return DrivingPoses(raw=raw, driving=driving, kind=kind, info=info, workers=nw, filter=filt,
                        people=people, every=pose_every if kind == "video" else 1)


def _audio_source(poses: DrivingPoses, source: Path, start: int, tmp: Path) -> tuple[Path | None, str]:
    """The file whose audio goes into the output (cut to --start), and how it is described."""
    if poses.kind != "video" or poses.info is None or not poses.info.has_audio:
        return None, "none"
    if start == 0:
        return source, f"from {source.name}"
    cut = cut_audio(source, float(poses.raw.timestamps[0]), tmp / "audio.mka")
    return cut, (f"from {source.name} (from {poses.raw.timestamps[0]:.2f} s)" if cut else "none")


@dataclass
class ConvertOptions:
    """How `convert` runs (the CLI's flags).

    Attributes:
        engine: the generator runtime (`EAGER_CPU`: torch fp32 on the CPU, nothing built).
        side_by_side_output: also (or only) write source | normalized pose | result here.
        start, end: source frame range [start, end).
        mode: normalization mode ("auto", "edn", "retarget", "upper").
        workers: pose extraction processes (None: one per core for long videos).
        pose_every: a video's pose estimator sees every this-many-th frame (`POSE_EVERY`).
        extractor, extractor_opts: the per-frame pose estimator for video sources (MediaPipe;
            "npz" with {"path": ...} replays a pose file frame by frame).
        filter_params: the offline keypoint filter (None: zero-phase, `OFFLINE_FILTER`).
        hold_seconds: a person missing for up to this long keeps their last pose; longer gaps
            show the subject's empty scene.
        show_progress: a progress bar on a terminal.
        queue_size: items each stage queue holds (the backpressure depth).
        timers: where per-stage durations go (ms); None: a new set.
        torch_threads: torch intra-op threads while the stages run (restored after). 1 (the
            default): prepare and synthesize each keep one core busy; more threads per stage
            only fight over the same cores (measured in docs/BENCHMARKS.md). None: unchanged.
        person: who drives a video source that shows several people: "auto", "largest",
            "center" or N (1 = leftmost); None: no people search (`rtmotion.pose.person`).
        output_size: (W, H) of the result; None: the subject's camera frame (demo-ada 512x512).
            The model frame is composed onto the subject's full-resolution background
            (`rtmotion.pipeline.canvas`).
        detail: add the keyframes' full-resolution detail to the person when the subject has it
            (`rtmotion.pipeline.detail`).
    """

    engine: EngineRequest = EAGER_CPU
    side_by_side_output: str | Path | None = None
    start: int = 0
    end: int | None = None
    mode: str = "auto"
    workers: int | None = None
    pose_every: int = POSE_EVERY
    extractor: str = "mediapipe"
    extractor_opts: dict[str, Any] | None = None
    filter_params: FilterParams | None = None
    hold_seconds: float = HOLD_SECONDS
    show_progress: bool = True
    queue_size: int = 4
    timers: Timers | None = None
    torch_threads: int | None = 1
    output_size: tuple[int, int] | None = None
    person: str | int | None = "auto"
    detail: bool = True


@dataclass
class _Item:
    index: int
    timestamp: float
    raw_kp: np.ndarray            # (K, 3) source pixels
    kp: np.ndarray                # (K, 3) model pixels
    source: np.ndarray | None     # uint8 RGB source frame (side by side only)
    prepared: Prepared | None = None  # Session.prepare's result
    drawn: Drawn | None = None        # Session.draw's result
    image: np.ndarray | None = None   # uint8 RGB result
    side: np.ndarray | None = None    # uint8 RGB side-by-side frame


def convert(subject: Subject, source: str | Path, output: str | Path | None,
            options: ConvertOptions | None = None, **changes: Any) -> ConvertResult:
    """Convert `source` into the subject dancing (see module docstring).

    Args:
        subject: a loaded Subject.
        source: a video file or a pose file (.npz from `rtmotion extract`).
        output: the result video (None: only `options.side_by_side_output`).
        options: how to run (`ConvertOptions`; None: its defaults).
        changes: ConvertOptions fields to change (`convert(s, src, out, end=30)`).
    Returns:
        ConvertResult. Raises InputError / OutputError / CheckpointError (one line each) for
        bad inputs, StageError naming the stage for a failure while running; in every failure
        nothing is left under the output names.
    """
    opt = dataclasses.replace(options or ConvertOptions(), **changes)
    outputs = check_outputs(output, opt.side_by_side_output, source, opt.start, opt.end)
    source = source if str(source).startswith("synthetic:") else Path(source)
    timers = opt.timers if opt.timers is not None else Timers()
    t_start = time.perf_counter()
    poses = driving_poses(subject, source, start=opt.start, end=opt.end, mode=opt.mode,
                          workers=opt.workers, extractor=opt.extractor,
                          extractor_opts=opt.extractor_opts, filter_params=opt.filter_params,
                          show_progress=opt.show_progress, person=opt.person,
                          pose_every=opt.pose_every)
    result = _new_result(subject, source, output, opt, poses, time.perf_counter() - t_start)
    fps = poses.driving.fps
    with open_session(subject, opt.engine, hold_frames=hold_frames(opt.hold_seconds, fps),
                      full_frame=opt.output_size or True, detail=opt.detail) as session, \
            tempfile.TemporaryDirectory(prefix="rtmotion-convert-") as tmp, \
            contextlib.ExitStack() as stack:
        result.backend, result.device = session.describe(), str(session.runner.device)
        result.size = session.output_size
        if session.choice is not None and session.choice.builds:
            result.build_seconds = session.choice.build_seconds
            result.engine_built = session.choice.build_line()
        audio_from, result.audio = _audio_source(poses, Path(source), opt.start, Path(tmp))
        writer_cls = TimedVideoWriter if result.variable_frame_rate else VideoWriter
        writers = [stack.enter_context(writer_cls(p, fps, audio_from=audio_from, preset=REALTIME_PRESET))
                   for p in outputs]
        bar = stack.enter_context(RunProgress(len(poses.driving), f"convert {Path(str(source)).name}",
                                              enabled=opt.show_progress))
        if opt.torch_threads is not None:
            stack.callback(torch.set_num_threads, torch.get_num_threads())
            torch.set_num_threads(int(opt.torch_threads))
        coverage = PoseCoverage(float(fps))
        pipe = StagePipeline(("read", _read(poses, source, opt)), _stages(session, poses, opt, coverage),
                             ("encode", _encoder(writers, output is not None, result, bar)),
                             queue_size=opt.queue_size, timers=timers)
        t0 = time.perf_counter()
        result.frames = pipe.run()
        result.generate_seconds = time.perf_counter() - t0
        # The writers close (and rename onto the output names) as the ExitStack unwinds.
    result.seconds = time.perf_counter() - t_start
    if coverage.frames:
        result.new_poses = coverage.to_dict()
    gaps = session.gaps
    result.frames_held, result.frames_blank, result.frames_no_person = gaps.held, gaps.blank, gaps.total
    result.stages = timers.summary()
    return result


def check_outputs(output: str | Path | None, side_by_side_output: str | Path | None,
                  source: str | Path, start: int = 0, end: int | None = None) -> list[Path]:
    """The output files of a conversion, checked before any work: a frame range, at least one
    output, each a writable video name that is not the source, the two not the same file."""
    if start < 0 or (end is not None and end <= start):
        raise InputError(None, f"bad frame range --start {start} --end {end}", "need 0 <= start < end")
    outputs = [Path(p) for p in (output, side_by_side_output) if p is not None]
    if not outputs:
        raise ValueError("convert needs an output or a side-by-side output")
    for p in outputs:
        check_output(p, source)
    if len(outputs) == 2 and outputs[0].resolve() == outputs[1].resolve():
        raise OutputError(outputs[1], "the result and the side-by-side video must be different files")
    return outputs


def _new_result(subject: Subject, source: str | Path, output: str | Path | None,
                opt: ConvertOptions, poses: DrivingPoses, pose_seconds: float) -> ConvertResult:
    """The report of a conversion whose phase 1 is done (phase 2 fills in the rest)."""
    driving, side = poses.driving, opt.side_by_side_output
    return ConvertResult(output=str(output if output is not None else side), source=str(source),
                         source_kind=poses.kind, subject=str(subject.name), frames=0,
                         fps_source=rate_text(driving.fps),
                         variable_frame_rate=is_variable_rate(driving.timestamps, driving.fps),
                         mode=driving.extractor.rsplit("normalize:", 1)[-1], filter=poses.filter,
                         pose_seconds=pose_seconds, pose_workers=poses.workers, pose_every=poses.every,
                         side_by_side=str(side) if side else None, people=poses.people,
                         poses=poses)


def _read(poses: DrivingPoses, source: str | Path, opt: ConvertOptions) -> Iterator[_Item]:
    """The read stage: one item per driving pose, with the source frame when a side-by-side
    video of a video source is written."""
    raw, driving = poses.raw, poses.driving
    n = len(driving)
    reader = None
    if opt.side_by_side_output is not None and poses.kind == "video":
        reader = VideoReader(source, start=opt.start, end=opt.start + n, threaded=False)
    frames: Iterator[Any] = iter(reader) if reader is not None else iter(())
    try:
        for i in range(n):
            frame = next(frames, None)
            yield _Item(i, float(driving.timestamps[i]), raw.keypoints[i], driving.keypoints[i],
                        None if frame is None else frame.image)
    finally:
        if reader is not None:
            reader.close()


def _stages(session: Session, poses: DrivingPoses, opt: ConvertOptions, coverage: PoseCoverage
            ) -> list[tuple[str, Callable[[_Item], _Item]]]:
    """prepare (the pose-only half, one frame ahead) -> synthesize (warp, generator) -> finish
    (face enhancer, uint8, the full frame; each frame's pose distance into `coverage`) ->
    compose (side by side)."""
    def prepare(item: _Item) -> _Item:
        item.prepared = session.prepare(item.kp)
        return item

    def synthesize(item: _Item) -> _Item:
        assert item.prepared is not None
        item.drawn = session.draw(item.prepared)
        return item

    def finish(item: _Item) -> _Item:
        assert item.drawn is not None
        item.image = session.finish(item.drawn)
        coverage.add(item.index, item.drawn.keyframe_distance)
        item.prepared = item.drawn = None  # the maps and frames of this step are not needed now
        return item

    def compose(item: _Item) -> _Item:
        item.side = side_by_side(item.source, poses.raw.size, item.raw_kp,
                                 session.keypoints_to_output(item.kp), item.image)
        return item

    stages = [("prepare", prepare), ("synthesize", synthesize), ("finish", finish)]
    return stages + ([("compose", compose)] if opt.side_by_side_output is not None else [])


def _encoder(writers: list[VideoWriter], result_too: bool, result: ConvertResult,
             bar: RunProgress) -> Callable[[_Item], None]:
    """The encode stage: the result (when written) and the side-by-side frame, in order, each
    at its source frame's time for a variable-rate source."""
    def encode(item: _Item) -> None:
        images = ([item.image] if result_too else []) + ([item.side] if item.side is not None else [])
        for w, img in zip(writers, images):
            if result.variable_frame_rate:
                w.write(img, item.timestamp)
            else:
                w.write(img)
        bar.update(1)

    return encode
