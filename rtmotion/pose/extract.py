"""Offline pose extraction: a video (or another pose source) -> a filtered pose file.

Flow of `extract_to_file`:
1. check every output path is writable (before any work);
2. get raw poses: a video runs a per-image extractor (MediaPipe by default) over its frames,
   in parallel worker processes for long videos; an OpenPose JSON folder, a pose file or a
   synthetic spec is loaded whole;
3. refuse a result with no person in any frame (InputError, nothing written);
4. temporal filter (`rtmotion.pose.filters`: gap filling + zero-phase Savitzky-Golay by default,
   or One-Euro / median);
5. optional skeleton overlay video, then the pose file (both atomic: an interrupted or failed run
   leaves nothing under the final names);
6. log a summary (frames, frames without a person, the people found and the one followed,
   extraction fps, workers).

Several people (`person`, the CLI's `--person`): before extraction `rtmotion.pose.person`
looks for people on a few frames near the start and chooses one (auto, largest, center, N).
With one person (or none) extraction runs as it always did, on the whole frame. With several,
each chunk runs `rtmotion.pose.track.PersonTracker` (the extractor on a crop that follows the
chosen person; joints that jump are dropped). The choice is made once, here, while the worker
processes start and load their model (they wait for it before their first frame); the first chunk
starts from the chosen person's box, each later chunk finds the same person (same number left
to right, else the box nearest the chosen one) on its first warm-up frame.

Parallel extraction: the frame range is split into one contiguous chunk per worker. The first
chunk runs in the calling process; each other one in a `spawn`ed process (MediaPipe and PyAV are
not fork-safe) with its own VideoReader and extractor; results are concatenated in order.
MediaPipe's tracking mode seeds each frame with the previous frame's landmarks, so a fresh
tracker would start each chunk cold (a full detection, slightly different landmarks). To hide
that seam each later chunk first runs `overlap` warm-up frames and drops their results, so the
tracker is already locked on when the chunk starts; the remaining difference to a single-worker
run is well below the estimator's own error (tests/pose/test_extract_parallel.py). A worker
exception or Ctrl-C terminates every worker and nothing is written.

Costs to know: a worker start costs ~2 s of CPU (Python 0.5 s: scipy is imported only where a
filter runs; MediaPipe 1.2 s; its graph 0.6 s), spent while this process looks for people (about
2 s, the same work once), and VideoReader
decodes (without converting) the frames before a chunk's start, so parallelism pays off on long
videos with idle cores; below MIN_PARALLEL_FRAMES one process is used.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from rtmotion.atomic import check_writable
from rtmotion.errors import (
    InputError,
    MissingDependencyError,
    OutputError,
    RtmotionError,
    StageError,
)
from rtmotion.io import VideoInfo, VideoReader
from rtmotion.pose.extractors import get_extractor, load_sequence
from rtmotion.pose.extractors.base import is_synthetic_spec
from rtmotion.pose.extractors.openpose_json import JSON_SUFFIX, is_openpose_folder
from rtmotion.pose.filters import (
    OFFLINE_FILTER,
    FilterParams,
    fill_gaps,
    smooth_keypoints,
)
from rtmotion.pose.overlay import write_overlay
from rtmotion.pose.person import PersonChoice, choose_person, find_people
from rtmotion.pose.posefile import PoseSequence
from rtmotion.progress import progress

log = logging.getLogger(__name__)

SOURCE_KINDS: tuple[str, ...] = ("auto", "video", "openpose", "npz", "synthetic")
# Below this many frames one worker is used: starting a process (import + model load, ~1-2 s)
# costs more than it saves.
MIN_PARALLEL_FRAMES = 150
DEFAULT_OVERLAP = 8


def default_workers(num_frames: int) -> int:
    """min(usable CPUs, 4) for long videos (>= MIN_PARALLEL_FRAMES frames), else 1."""
    if num_frames < MIN_PARALLEL_FRAMES:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


@dataclass
class ExtractSummary:
    """What one extraction did (logged at the end, returned to callers)."""

    source: str
    kind: str
    frames: int = 0
    frames_no_person: int = 0
    joints_filled: int = 0
    seconds: float = 0.0
    workers: int = 1
    extractor: str = ""
    filter: str = "none"
    outputs: list[str] = field(default_factory=list)
    #: the people found and the one followed (None: no people search, e.g. a pose file)
    people: PersonChoice | None = None
    #: joint-frames the person guard dropped (a jump, or a limb stretched to someone else)
    joints_dropped: int = 0
    #: the extractor saw every this-many-th frame (the others interpolated)
    every: int = 1

    @property
    def fps(self) -> float:
        """Extraction speed in frames per second (0 for loaded sources)."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        out = [f"{self.source}: {self.frames} frames ({self.kind}), "
               f"{self.frames_no_person} without a person"]
        if self.people is not None:
            out.append(f"people: {self.people.describe()}"
                       + (f"; {self.joints_dropped} joint-frames dropped that jumped"
                          if self.people.several else ""))
        if self.kind == "video":
            out.append(f"extraction: {self.extractor}, {self.workers} worker(s), "
                       f"{self.seconds:.1f} s, {self.fps:.1f} frames/s"
                       + (f", every {self.every} frames (the others interpolated)"
                          if self.every > 1 else ""))
        out.append(f"filter: {self.filter}; {self.joints_filled} joint-frames interpolated")
        out += [f"wrote {p}" for p in self.outputs]
        return out


class _NullBar:
    """Stands in for a progress bar when none is wanted."""

    def __enter__(self) -> _NullBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int = 1) -> None:
        pass


# ---- source detection ---------------------------------------------------------------------


def detect_source(path: str | Path) -> str:
    """Which kind of pose source `path` is: "synthetic" (a `synthetic:` spec), "openpose"
    (a folder of *_keypoints.json), "npz" (a pose file), else "video".

    InputError for a missing path or a folder that holds no OpenPose JSON.
    """
    if is_synthetic_spec(str(path)):
        return "synthetic"
    p = Path(path)
    if not p.exists():
        raise InputError(p, "file not found", "check the path")
    if p.is_dir():
        if is_openpose_folder(p):
            return "openpose"
        raise InputError(p, f"is a directory without OpenPose *{JSON_SUFFIX} files",
                         "give a video file, a pose .npz or an OpenPose --write_json folder")
    if p.suffix.lower() == ".npz":
        return "npz"
    return "video"


# ---- per-frame extraction -----------------------------------------------------------------


@dataclass
class _Chunk:
    """Frames [start, end) of the result, decoded from `warm` (warm <= start) to warm the
    tracker up. The extractor sees the frames `grid + k * every`; the others are returned as
    not estimated (`fill_skipped` interpolates them)."""

    id: int
    warm: int
    start: int
    end: int | None
    grid: int = 0
    every: int = 1

    def estimates(self, index: int | np.ndarray) -> bool | np.ndarray:
        """Whether the extractor runs on frame `index` (an array of indices: element-wise)."""
        return (index - self.grid) % self.every == 0


def plan_chunks(start: int, end: int, workers: int, overlap: int, open_end: bool,
                every: int = 1) -> list[_Chunk]:
    """Split [start, end) into `workers` contiguous chunks. With `open_end` the last chunk runs
    to the end of the stream (frame counts of some containers are estimates). `every`: the
    extractor sees every this-many-th frame from `start`."""
    n = max(0, end - start)
    workers = max(1, min(workers, n)) if n else 1
    bounds = [start + round(i * n / workers) for i in range(workers + 1)]
    chunks = []
    for i in range(workers):
        s, e = bounds[i], bounds[i + 1]
        chunks.append(_Chunk(i, max(0, s - overlap) if i else s, s,
                             None if (open_end and i == workers - 1) else e, start, every))
    return chunks


def _chunk_extractor(chunk: _Chunk, extractor: str, opts: dict[str, Any],
                     person: PersonChoice | None, opened: Any = None) -> Any:
    """The chunk's extractor: the plain one (`opened`, when the caller has opened it already),
    or with several people one that follows the chosen person (from their box when the chunk
    starts where it was found, else found again on the chunk's first frame)."""
    ex = opened if opened is not None else get_extractor(extractor, **opts)
    if person is None or not person.several:
        return ex
    from rtmotion.pose.track import PersonTracker

    return PersonTracker(ex, person.box if chunk.warm == person.frame else None, choice=person)


def _run_chunk(path: str, chunk: _Chunk, extractor: str, opts: dict[str, Any],
               report: Any = None, person: PersonChoice | None = None, opened: Any = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int], int]:
    """Extract one chunk in this process (`opened`: its plain extractor, opened already).

    Returns (indices int64 (n,), timestamps float64 (n,), keypoints float32 (n, K, 3): all zero
    on frames the extractor skipped (`chunk.estimates`), (width, height), joint-frames the person
    guard dropped). `report(n)` is called with counts of finished frames of the chunk.
    """
    idx, ts, kps = [], [], []
    size = (0, 0)
    pending = 0
    with _chunk_extractor(chunk, extractor, opts, person, opened) as ex, \
            VideoReader(path, start=chunk.warm, end=chunk.end) as reader:
        k = ex.skeleton.num_joints
        for frame in reader:
            if chunk.estimates(frame.index):
                kp = ex(frame.image)
            else:
                ex.skip()
                kp = np.zeros((k, 3), np.float32)
            if frame.index < chunk.start:
                continue  # warm-up frame: only primes the tracker
            size = frame.size
            idx.append(frame.index)
            ts.append(frame.timestamp)
            kps.append(kp)
            pending += 1
            if report is not None and pending >= 5:
                report(pending)
                pending = 0
    if report is not None and pending:
        report(pending)
    guard = getattr(ex, "guard", None)
    return (np.asarray(idx, np.int64), np.asarray(ts, np.float64),
            np.stack(kps) if kps else np.zeros((0, k, 3), np.float32), size,
            int(guard.dropped) if guard is not None else 0)


def fill_skipped(keypoints: np.ndarray, timestamps: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Poses of the frames the extractor skipped (`every` > 1), linear in time between the
    estimated frames before and after; the last few frames of the range, after the last
    estimated one, keep its pose (at most `every - 1` frames). (A cubic through the estimated
    frames either side scored the same in `rtmotion eval`'s transfer: docs/BENCHMARKS.md.)

    The filter's gap filling (`fill_gaps`) does it, limited to the skipped runs and with the
    lower of the two confidences (the frame was not missed, only not looked at: the filter
    would halve it). A joint one side lacks stays missing: a joint missed on an estimated frame
    leaves a longer gap, which the filter's own gap filling treats as any missed joint.

    Args:
        keypoints: float32 (T, K, 3) pixels + confidence; skipped frames all zero.
        timestamps: float64 (T,) seconds.
        seen: bool (T,), the frames the extractor saw.
    Returns:
        float32 (T, K, 3), a copy.
    """
    est = np.flatnonzero(seen)
    longest_skip = int(np.diff(est).max()) - 1 if len(est) > 1 else 0
    kp, _ = fill_gaps(keypoints, timestamps, max_gap=longest_skip, fill_factor=1.0)
    if len(est) and est[-1] < len(kp) - 1:
        kp[est[-1] + 1:] = kp[est[-1]]
    return kp


def _worker_main(path: str, chunk: _Chunk, extractor: str, opts: dict[str, Any], q: Any,
                 orders: Any) -> None:
    """Entry point of a worker process: opens its extractor (the model loads while the parent
    looks for people), takes the person choice from `orders`, extracts its chunk; results and
    errors go back through `q`."""
    # The parent handles Ctrl-C (and terminates us); a worker dying on SIGINT would only add a
    # second traceback to the console.

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        opened = get_extractor(extractor, **opts).open()
        person = _await_choice(orders)
        res = _run_chunk(path, chunk, extractor, opts, report=lambda n: q.put(("progress", chunk.id, n)),
                         person=person, opened=opened)
        q.put(("done", chunk.id, res))
    except BaseException as e:  # noqa: BLE001 - everything must reach the parent
        # RtmotionError subclasses take custom constructor arguments and may not unpickle:
        # send their kind and message, the parent rebuilds an equivalent error.
        kind = ("input" if isinstance(e, InputError) else
                "dependency" if isinstance(e, MissingDependencyError) else
                "rtmotion" if isinstance(e, RtmotionError) else "other")
        q.put(("error", chunk.id, kind, str(e), traceback.format_exc()))


def _await_choice(orders: Any) -> PersonChoice | None:
    """The parent's person choice (None: no people search, or nobody to follow); exits this
    worker when the parent is gone (a parent killed outright sends nothing)."""
    parent = mp.parent_process()
    while True:
        try:
            return orders.get(timeout=1.0)  # type: ignore[no-any-return]
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                raise SystemExit(1) from None


def _worker_error(chunk_id: int, kind: str, msg: str, tb: str) -> RtmotionError:
    """The parent-side exception for a worker's reported failure."""
    log.debug("worker %d failed:\n%s", chunk_id, tb)
    if kind == "input":
        return InputError(None, msg)
    if kind in ("dependency", "rtmotion"):
        err = RtmotionError(msg)
        err.exit_code = 4 if kind == "dependency" else 1
        return err
    return StageError(f"pose extraction (worker {chunk_id})",
                      RuntimeError(msg or tb.strip().splitlines()[-1]))


class _Abort(Exception):
    """Stops the parent's own chunk when a worker has failed."""


def _run_parallel(path: str, chunks: list[_Chunk], extractor: str, opts: dict[str, Any],
                  bar: Any, choose: Callable[[], PersonChoice | None]
                  ) -> tuple[list[Any], PersonChoice | None]:
    """Chunk 0 runs in this process (its core would otherwise sit idle, and it saves one
    process start: ~1.3 s of CPU for Python + MediaPipe imports); chunks 1.. run in spawned
    workers. The workers start first: while they import and load their model (about 2 s),
    this process runs `choose` (the people search, about 2 s), then sends them its result.
    A monitor thread collects their progress, results and failures.
    Returns (the chunks' results in order, `choose`'s result)."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    orders = ctx.Queue()  # the person choice, one copy per worker
    remote = chunks[1:]
    procs = {c.id: ctx.Process(target=_worker_main, args=(path, c, extractor, opts, q, orders),
                               name=f"rtmotion-pose-{c.id}", daemon=True) for c in remote}
    results: dict[int, Any] = {}
    failure: list[BaseException] = []
    stop = threading.Event()
    bar_lock = threading.Lock()

    def update(n: int) -> None:
        with bar_lock:
            bar.update(n)

    def monitor() -> None:
        dead_since: float | None = None
        try:
            while not stop.is_set() and len(results) < len(remote):
                try:
                    msg = q.get(timeout=0.2)
                except queue.Empty:
                    # A worker killed outright (OOM killer, segfault) sends nothing: notice it.
                    gone = [i for i, p in procs.items() if i not in results and p.exitcode is not None]
                    if not gone:
                        continue
                    bad = [i for i in gone if procs[i].exitcode != 0]
                    if bad:
                        code = procs[bad[0]].exitcode
                        hint = ("; a script that calls rtmotion must guard its entry point with "
                                "`if __name__ == '__main__':` (workers are spawned and re-import it)"
                                if code == 1 else "")
                        raise StageError(f"pose extraction (worker {bad[0]})",
                                         RuntimeError(f"process died with exit code {code}{hint}"))
                    # Exited cleanly: its result may still be in the pipe; give it a moment.
                    dead_since = dead_since or time.monotonic()
                    if time.monotonic() - dead_since > 5.0:
                        raise StageError(f"pose extraction (worker {gone[0]})",
                                         RuntimeError("process exited without a result"))
                    continue
                if msg[0] == "progress":
                    update(msg[2])
                elif msg[0] == "done":
                    results[msg[1]] = msg[2]
                elif msg[0] == "error":
                    raise _worker_error(*msg[1:])
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            failure.append(e)

    def report(n: int) -> None:
        update(n)
        if failure:
            raise _Abort

    watcher = threading.Thread(target=monitor, name="rtmotion-pose-monitor", daemon=True)
    try:
        for p in procs.values():
            p.start()
        watcher.start()
        person = choose()
        for _ in remote:
            orders.put(person)
        try:
            first = _run_chunk(path, chunks[0], extractor, opts, report=report, person=person)
        except _Abort:
            raise failure[0] from None
        while watcher.is_alive():
            watcher.join(timeout=0.2)  # short waits keep Ctrl-C responsive
        if failure:
            raise failure[0]
        for p in procs.values():
            p.join(timeout=10)
    finally:
        stop.set()
        # On success this is a no-op; on an error or Ctrl-C it stops every worker now.
        for p in procs.values():
            if p.is_alive():
                p.terminate()
        for p in procs.values():
            if p.pid is None:
                continue
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
        if watcher.is_alive():
            watcher.join(timeout=2)
        for box in (q, orders):
            box.close()
            box.join_thread()
    return [first] + [results[c.id] for c in remote], person


def extract_video(path: str | Path, *, extractor: str = "mediapipe",
                  extractor_opts: dict[str, Any] | None = None, workers: int | None = None,
                  start: int = 0, end: int | None = None, overlap: int = DEFAULT_OVERLAP,
                  show_progress: bool = True, person: str | int | None = None,
                  every: int = 1) -> tuple[PoseSequence, ExtractSummary]:
    """Run a per-image extractor over frames [start, end) of a video (unfiltered poses).

    Args:
        path: the video.
        extractor, extractor_opts: `get_extractor(extractor, **extractor_opts)` in each worker.
        workers: processes (None: `default_workers`); 1 runs in this process.
        start, end: frame range (end None: to the end).
        overlap: warm-up frames each later chunk re-runs before its first frame (dropped).
        person: who drives when there are several people: "auto", "largest", "center" or a
            number (1 = leftmost); None: no people search (the extractor picks, as before).
        every: the extractor sees every this-many-th frame from `start`; the poses of the
            others are interpolated (`fill_skipped`). Every frame is still decoded and gets
            a pose. 2 halves the extraction's cost; on a real 25 fps dance its poses stay
            within 0.3 % of the body height of every frame's (docs/BENCHMARKS.md).
    Returns:
        (raw PoseSequence, summary). InputError for an unreadable video, or a person number
        larger than the people found.
    """
    if int(every) < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    opts = dict(extractor_opts or {})
    path = Path(path)
    info = VideoInfo.from_path(path)
    # Build (not open) one extractor here: bad options fail now, with a clear message, rather
    # than in N workers.
    try:
        probe = get_extractor(extractor, **opts)
    except (ValueError, TypeError) as e:  # unknown name, bad options
        raise InputError(None, f"pose extractor '{extractor}': {e}") from None
    stop = info.frame_count if end is None else min(end, info.frame_count)
    n = max(0, stop - start)
    if n == 0 and start > 0:
        raise InputError(path, f"start frame {start} is past the end ({info.frame_count} frames)")
    nw = default_workers(n) if workers is None else max(1, int(workers))
    chunks = plan_chunks(start, stop, nw, overlap, open_end=end is None or end > info.frame_count,
                         every=int(every))
    nw = len(chunks)
    t0 = time.perf_counter()

    def choose() -> PersonChoice | None:
        """The people search (None: not asked for)."""
        if person is None or n == 0:
            return None
        found = choose_person(find_people(path, start, stop), person, (info.width, info.height))
        log.info("people: %s", found.describe())
        return found

    bar_cm = progress(total=n, desc=f"poses {path.name}", unit="frame") if show_progress else _NullBar()
    with bar_cm as bar:
        if nw == 1:
            choice = choose()
            parts = [_run_chunk(str(path), chunks[0], extractor, opts, report=bar.update,
                                person=choice)]
        else:
            parts, choice = _run_parallel(str(path), chunks, extractor, opts, bar, choose)
    seconds = time.perf_counter() - t0
    idx = np.concatenate([p[0] for p in parts])
    if len(idx) == 0:
        raise InputError(path, "no frame could be decoded in the requested range")
    if np.any(np.diff(idx) <= 0):  # chunks must tile the range exactly, in order
        raise StageError("pose extraction", RuntimeError("chunks returned overlapping frames"))
    ts = np.concatenate([p[1] for p in parts])
    # every chunk estimates on the same grid
    kps = fill_skipped(np.concatenate([p[2] for p in parts]), ts, chunks[0].estimates(idx))
    size = next(p[3] for p in parts if len(p[0]))
    seq = PoseSequence(keypoints=kps, skeleton=probe.skeleton.name, fps=info.fps, size=size,
                       timestamps=ts, source=str(path), extractor=probe.describe())
    summary = ExtractSummary(source=str(path), kind="video", frames=len(seq),
                             frames_no_person=int((~seq.detected).sum()), seconds=seconds,
                             workers=nw, extractor=probe.describe(), people=choice,
                             joints_dropped=sum(p[4] for p in parts), every=int(every))
    return seq, summary


# ---- overlay ------------------------------------------------------------------------------


# ---- the whole command --------------------------------------------------------------------


def load_source(source: str | Path, kind: str = "auto", *, extractor: str = "mediapipe",
                extractor_opts: dict[str, Any] | None = None, workers: int | None = None,
                start: int = 0, end: int | None = None, fps: Fraction | None = None,
                size: tuple[int, int] | None = None, video: str | Path | None = None,
                overlap: int = DEFAULT_OVERLAP, show_progress: bool = True,
                person: str | int | None = None) -> tuple[PoseSequence, ExtractSummary]:
    """Raw (unfiltered) poses from any source kind (see `detect_source`)."""
    if kind not in SOURCE_KINDS:
        raise ValueError(f"unknown source kind '{kind}' (choose from {', '.join(SOURCE_KINDS)})")
    if kind == "auto":
        kind = detect_source(source)
    if kind == "video":
        return extract_video(source, extractor=extractor, extractor_opts=extractor_opts,
                             workers=workers, start=start, end=end, overlap=overlap,
                             show_progress=show_progress, person=person)
    t0 = time.perf_counter()
    if kind == "openpose":
        seq = load_sequence("openpose", source, fps=fps, size=size, video=video)
    else:
        seq = load_sequence(kind, source)
    if start or end is not None:
        seq = seq.slice(start, end)
    summary = ExtractSummary(source=str(source), kind=kind, frames=len(seq),
                             frames_no_person=int((~seq.detected).sum()),
                             seconds=time.perf_counter() - t0, extractor=seq.extractor)
    return seq, summary


def extract_to_file(source: str | Path, output: str | Path, *, kind: str = "auto",
                    filter_params: FilterParams | None = None, overlay: str | Path | None = None,
                    video: str | Path | None = None, **load_kw: Any) -> tuple[PoseSequence, ExtractSummary]:
    """The `rtmotion extract` flow (see module docstring). Returns (filtered poses, summary).

    Args:
        source: video, OpenPose JSON folder, pose .npz, or `synthetic:` spec.
        output: pose file (.npz) to write.
        kind: source kind or "auto".
        filter_params: temporal filter (default zero-phase, see `FilterParams`).
        overlay: optional video to write with the skeleton drawn over the source.
        video: the source video of an OpenPose folder / pose file (size, fps and overlay
            background); defaults to `source` itself for videos.
        **load_kw: passed to `load_source` (extractor, extractor_opts, workers, start, end, fps,
            size, overlap, show_progress, person: videos only).
    """
    output = Path(output)
    if output.suffix.lower() != ".npz":
        raise OutputError(output, "pose files are .npz", "give an output name ending in .npz")
    outs = [output] + ([Path(overlay)] if overlay is not None else [])
    for p in outs:
        check_writable(p)  # before any work: an hour of extraction must not end in EACCES
    if overlay is not None and Path(overlay).resolve() == output.resolve():
        raise OutputError(overlay, "overlay and pose file must be different files")
    if kind == "auto":
        kind = detect_source(source)
    for p in outs:
        if kind != "synthetic" and Path(source).exists() and p.resolve() == Path(source).resolve():
            raise OutputError(p, "would overwrite the input", "choose another output name")

    seq, summary = load_source(source, kind, video=video, **load_kw)
    if len(seq) == 0 or not seq.detected.any():
        raise InputError(source, f"no person detected in any frame of {Path(str(source)).name}",
                         "is a whole person visible? try a clearer or closer shot")
    # Offline the whole sequence is known: smooth with zero phase (no lag) by default.
    p = filter_params or FilterParams(method=OFFLINE_FILTER)
    kp, filled = smooth_keypoints(seq.keypoints, seq.timestamps, seq.size[1], p)
    seq = seq.with_keypoints(kp)
    summary.joints_filled = filled
    summary.filter = (f"one-euro(min_cutoff={p.min_cutoff}, beta={p.beta}, d_cutoff={p.d_cutoff})"
                      if p.method == "one-euro" else
                      f"median(window={p.median_window})" if p.method == "median" else
                      f"zero-phase(savgol window={p.sg_window}, order={p.sg_order})"
                      if p.method == "zero-phase" else "none")
    summary.filter += f", max_gap={p.max_gap}"

    if overlay is not None:
        bg = source if kind == "video" else video
        write_overlay(seq, overlay, bg, start=int(load_kw.get("start", 0) or 0) if bg else 0,
                      show_progress=load_kw.get("show_progress", True))
        summary.outputs.append(str(overlay))
    # The pose file last: a failure or Ctrl-C during the long steps leaves no output at all.
    seq.save(output)
    summary.outputs.insert(0, str(output))
    for line in summary.lines():
        log.info("%s", line)
    return seq, summary
