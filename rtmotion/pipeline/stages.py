"""Stages as threads joined by hand-offs: the machinery every use of the pipeline runs on.

One stage runner (`StagePipeline`: a source thread, a thread per stage, a sink thread or the
caller's own loop) with either of two kinds of hand-off between stages:

- offline, `FifoHandoff` (FIFO): bounded queues. Lossless and in order: a full queue blocks the
  producer (backpressure, so memory stays bounded however fast the decoder is), and an `END`
  sentinel travels behind the last item to end the run.
- live, `LatestSlot` (LATEST): a one-slot holder where the newest item overwrites an unread one (latest
  frame wins); overwritten items are counted as dropped, so a slow stage never builds a backlog
  of stale frames and latency stays one frame deep.

Pacing (live, `pace=True`): with latest-wins hand-offs a fast stage in front of a slow one
works on every frame, and its result then waits in the slot until the slow stage is free (up to
one whole item of the slow stage), while the wasted work takes CPU from the slow stage. So a
paced stage starts its next item just in time: when the next stage, busy since `t`, is expected
to be free at `t + its median time`, the paced stage begins at that moment minus its own median
time (`StageClock`), taking the freshest input then, and never while its last result still
waits unread in the slot (the next stage ran late; starting anyway would only overwrite that
result). A next stage that is idle, or slower estimates, make it start at once, so a stage that
is the slower one is never held back.

Fresh input (live, `fresh=True`, with pacing): a camera frame waits in the source's slot for
anywhere between 0 and one frame period before the first stage takes it, and that age is part
of the latency the viewer sees. So when the first stage is due, and the frame it would take is
older than the next one is far away (the next expected one frame period, the median interval
between the source's frames, after the last), it waits for that next one instead
(`LatestSlot.get_fresh`): the age of what it takes is at most about half a period instead of up
to a whole one, for a wait of at most half a period (a quarter on average, when it waits at
all), in which the next stage may sit idle.

Failure handling (both): an exception in any stage is recorded with the stage's name and sets
one shared stop event; every other stage polls it (queue waits time out every 0.1 s) and
returns, so the run ends within one item's work plus 0.1 s. The caller then gets
`rtmotion.errors.StageError(stage, cause)`; the threads are joined before it is raised, so
nothing is left running (no orphan thread).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from rtmotion.errors import StageError
from rtmotion.pipeline.stats import Timers

log = logging.getLogger(__name__)

END = object()  #: the end-of-stream sentinel
_POLL_S = 0.1    # how often a waiting stage looks at the stop event
RECENT_KEEP = 15  # durations a stage's clock, and intervals a slot, keep for their medians
JOIN_TIMEOUT_S = 10.0


class Stopped(Exception):
    """Raised inside a stage when the run is stopping (another stage failed or stop())."""


def stage_error(stage: str, cause: BaseException) -> StageError:
    """StageError that keeps the cause's exit code (a bad input stays exit code 2)."""
    if isinstance(cause, StageError):
        return cause
    err = StageError(stage, cause)
    err.exit_code = int(getattr(cause, "exit_code", StageError.exit_code))
    return err


class StopFlag:
    """The shared stop event plus the first failure (stage name, exception)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._lock = threading.Lock()
        self.failure: tuple[str, BaseException] | None = None

    def fail(self, stage: str, exc: BaseException) -> None:
        with self._lock:
            if self.failure is None:
                self.failure = (stage, exc)
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()

    def raise_failure(self) -> None:
        if self.failure is not None:
            name, exc = self.failure
            raise stage_error(name, exc) from exc


def put_until_stopped(q: queue.Queue[Any], item: Any, stop: StopFlag) -> None:
    """Blocking put (backpressure) that gives up with `Stopped` when the run stops."""
    while True:
        if stop.is_set():
            raise Stopped
        try:
            q.put(item, timeout=_POLL_S)
            return
        except queue.Full:
            continue


def get_until_stopped(q: queue.Queue[Any], stop: StopFlag) -> Any:
    """Blocking get that gives up with `Stopped` when the run stops."""
    while True:
        if stop.is_set():
            raise Stopped
        try:
            return q.get(timeout=_POLL_S)
        except queue.Empty:
            continue


def join_threads(threads: list[threading.Thread], timeout: float = JOIN_TIMEOUT_S) -> None:
    """Join every thread (bounded total wait); log any that would not stop."""
    deadline = time.monotonic() + timeout
    for t in threads:
        if t is threading.current_thread():
            continue
        t.join(timeout=max(0.0, deadline - time.monotonic()))
        if t.is_alive():
            log.warning("pipeline thread %s did not stop within %.0f s", t.name, timeout)


class FifoHandoff:
    """Bounded FIFO hand-off between offline stages: `put` blocks while it is full
    (backpressure), `close` sends END behind the last item, `get` returns items in order (END
    last) or raises `Stopped` when the run stops."""

    def __init__(self, size: int, stop: StopFlag) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, int(size)))
        self.stop = stop
        self.dropped = 0  # a FIFO drops nothing; the same field as LatestSlot's

    def put(self, item: Any) -> None:
        put_until_stopped(self._queue, item, self.stop)

    def close(self) -> None:
        with contextlib.suppress(Stopped):  # a stopping run needs no END
            put_until_stopped(self._queue, END, self.stop)

    def get(self) -> Any:
        return get_until_stopped(self._queue, self.stop)


#: the two kinds of hand-off (module docstring)
FIFO, LATEST = "fifo", "latest"


class StagePipeline:
    """source -> stage 1 -> ... -> sink, each in its own thread, joined by hand-offs.

    Args:
        source: (name, iterable) yielding items in order; closed (`.close()`) when the run ends.
        stages: [(name, fn)] with fn(item) -> item, run in order on every item.
        sink: (name, fn) with fn(item) -> None, called on every item in order in its own
            thread; fn None: the caller takes the items (`results()`, in its own thread).
        handoff: FIFO (bounded queues: lossless, in order, backpressure; offline) or LATEST
            (`LatestSlot`: the newest item wins, overwritten ones are counted; live).
        queue_size: items each FIFO holds (the backpressure depth).
        timers: where per-item durations (ms) are recorded, one timer per stage name (the
            source's time is the wait for its next item, i.e. decode time).
        time_source: record the source's waits (a camera's wait is not work: live leaves it off).
        pace: each stage but the last starts its next item just in time for the next stage
            (module docstring; LATEST hand-offs only).
        fresh: the first stage waits for the source's next item when that is nearer than the
            held one is old (module docstring, fresh input; needs `pace`).

    `run()` (with a sink function) blocks until the sink has consumed END (returns the number of
    items) or a stage failed (raises StageError naming it, after every thread has stopped).
    Ctrl-C in the caller stops every stage the same way and re-raises KeyboardInterrupt.
    Without one: `with pipe.running(): for item in pipe.results(): ...`, then
    `pipe.raise_failure()`. `handoffs` maps each consumer's name to the hand-off it reads.
    """

    def __init__(self, source: tuple[str, Iterable[Any]], stages: list[tuple[str, Callable[[Any], Any]]],
                 sink: tuple[str, Callable[[Any], None] | None], *, handoff: str = FIFO,
                 queue_size: int = 4, timers: Timers | None = None,
                 time_source: bool = True, pace: bool = False, fresh: bool = False) -> None:
        if handoff not in (FIFO, LATEST):
            raise ValueError(f"unknown hand-off {handoff!r} (choose {FIFO} or {LATEST})")
        if pace and handoff != LATEST:
            raise ValueError("pacing needs latest-wins hand-offs (a FIFO stage must see every item)")
        if fresh and not pace:
            raise ValueError("fresh input is part of pacing (give pace=True)")
        self.source = source
        self.stages = list(stages)
        self.sink = sink
        self.queue_size = max(1, int(queue_size))
        self.timers = timers if timers is not None else Timers()
        self.time_source = time_source
        self.stop = StopFlag()
        self.items = 0
        consumers = [name for name, _ in self.stages] + [sink[0]]
        self.handoffs: dict[str, FifoHandoff | LatestSlot] = {
            name: FifoHandoff(self.queue_size, self.stop) if handoff == FIFO else LatestSlot(self.stop)
            for name in consumers}
        #: one clock per stage thread (busy since, recent durations), in stage order
        self.clocks = [StageClock() for _ in self.stages]
        self.pace = pace
        self.fresh = fresh
        self._threads: list[threading.Thread] = []

    def _source_main(self, name: str, it: Iterable[Any], out: FifoHandoff | LatestSlot) -> None:
        timer = self.timers[name] if self.time_source else None
        iterator = iter(it)
        try:
            while not self.stop.is_set():
                t0 = time.perf_counter()
                try:
                    item = next(iterator)
                except StopIteration:
                    break
                if timer is not None:
                    timer.add((time.perf_counter() - t0) * 1000.0)
                out.put(item)
        except Stopped:
            pass
        except BaseException as e:  # noqa: BLE001 - every failure must reach the caller
            self.stop.fail(name, e)
        finally:
            out.close()
            close = getattr(iterator, "close", None) or getattr(it, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()

    def _stage_main(self, name: str, fn: Callable[[Any], Any], inbox: FifoHandoff | LatestSlot,
                    out: FifoHandoff | LatestSlot | None, index: int | None = None) -> None:
        timer = self.timers[name]
        clock = self.clocks[index] if index is not None else None
        following = self.clocks[index + 1] if self.pace and index is not None and \
            index + 1 < len(self.clocks) else None
        # fresh input: the first stage takes the source's frames (module docstring)
        take = inbox.get_fresh if self.fresh and index == 0 and isinstance(inbox, LatestSlot) \
            else inbox.get
        try:
            while True:
                if following is not None:
                    assert clock is not None and out is not None
                    wait_until_due(clock, following, out, self.stop)
                item = take()
                if item is END:
                    return
                t0 = time.perf_counter()
                if clock is not None:
                    clock.busy_since = t0
                result = fn(item)
                t1 = time.perf_counter()
                timer.add((t1 - t0) * 1000.0)
                if clock is not None:
                    clock.done(t1 - t0)
                if out is not None:
                    out.put(result)
                    if following is not None and following.busy_since is None:
                        # An idle next stage starts on this item now; its own clock reading
                        # would come only once its thread runs, and pacing must not see it
                        # idle before that.
                        following.busy_since = time.perf_counter()
                else:
                    self.items += 1
        except Stopped:
            pass
        except BaseException as e:  # noqa: BLE001
            self.stop.fail(name, e)
        finally:
            if out is not None:
                out.close()

    def start(self) -> None:
        """Start every thread (the source's, each stage's, and the sink's when it has a fn)."""
        boxes = list(self.handoffs.values())
        src_name, src = self.source
        self._threads = [threading.Thread(target=self._source_main, args=(src_name, src, boxes[0]),
                                          name=f"rtmotion-{src_name}", daemon=True)]
        for i, (name, fn) in enumerate(self.stages):
            self._threads.append(threading.Thread(target=self._stage_main,
                                                  args=(name, fn, boxes[i], boxes[i + 1], i),
                                                  name=f"rtmotion-{name}", daemon=True))
        if self.sink[1] is not None:
            self._threads.append(threading.Thread(target=self._stage_main,
                                                  args=(self.sink[0], self.sink[1], boxes[-1], None),
                                                  name=f"rtmotion-{self.sink[0]}", daemon=True))
        for t in self._threads:
            t.start()

    def results(self) -> Iterator[Any]:
        """The last stage's items, in the caller's thread (a pipeline without a sink function),
        until the source ends or the run stops."""
        box = self.handoffs[self.sink[0]]
        while True:
            try:
                item = box.get()
            except Stopped:
                return
            if item is END:
                return
            self.items += 1
            yield item

    @contextlib.contextmanager
    def running(self) -> Iterator[StagePipeline]:
        """Start the threads; on leaving, stop them all and join them (raises nothing: call
        `raise_failure()` after)."""
        self.start()
        try:
            yield self
        finally:
            self.stop.event.set()
            join_threads(self._threads)

    def raise_failure(self) -> None:
        """StageError naming the first stage that failed, if one did."""
        self.stop.raise_failure()

    def run(self) -> int:
        """Run to the end with the sink function (class docstring); the number of items."""
        self.start()
        try:
            # Short joins keep the main thread responsive to Ctrl-C; the sink ends last on success.
            while any(t.is_alive() for t in self._threads):
                if self.stop.is_set():
                    break
                self._threads[-1].join(timeout=_POLL_S)
        except BaseException as e:
            self.stop.fail("caller", e)
            join_threads(self._threads)
            raise
        self.stop.event.set()  # success or failure: nothing may keep running
        join_threads(self._threads)
        self.stop.raise_failure()
        return self.items


class RecentMedian:
    """The median of the last `keep` values added (0 before the first): what pacing knows of a
    stage's duration and of a source's frame period, following a change within a few items."""

    def __init__(self, keep: int = RECENT_KEEP) -> None:
        self._values: deque[float] = deque(maxlen=int(keep))

    def add(self, value: float) -> None:
        self._values.append(float(value))

    def __len__(self) -> int:
        return len(self._values)

    def median(self) -> float:
        return float(statistics.median(self._values)) if self._values else 0.0


class StageClock:
    """What pacing knows of one stage: since when it has been busy (perf_counter seconds; None
    while it waits for input) and its recent durations (the last `keep`, seconds)."""

    def __init__(self, keep: int = RECENT_KEEP) -> None:
        self.busy_since: float | None = None
        self._recent = RecentMedian(keep)

    def done(self, seconds: float) -> None:
        """The current item took `seconds`; the stage is waiting again."""
        self._recent.add(seconds)
        self.busy_since = None

    def typical(self) -> float:
        """The median of the recent durations (seconds; 0 before the first item)."""
        return self._recent.median()


def wait_until_due(stage: StageClock, following: StageClock, out: LatestSlot | FifoHandoff,
                   stop: StopFlag) -> None:
    """Pacing (module docstring): wait until the next stage has taken `stage`'s last result from
    `out`, then until `stage`, started now, would finish about when the next stage is expected to
    be free; return at once when that stage is idle. Raises `Stopped`."""
    if isinstance(out, LatestSlot):
        out.wait_taken()
    while True:
        if stop.is_set():
            raise Stopped
        since = following.busy_since
        if since is None:
            return
        wait = since + following.typical() - stage.typical() - time.perf_counter()
        if wait <= 0:
            return
        stop.event.wait(min(wait, _POLL_S))


class LatestSlot:
    """One-slot, latest-wins hand-off between live stages.

    `put(item)` never blocks: it replaces an unread item (counted in `dropped`). `get()` blocks
    until an item arrives (returns it), the slot is closed (returns END) or `stop` is set
    (raises Stopped).
    """

    def __init__(self, stop: StopFlag | None = None) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._has = False
        self._closed = False
        self.stop = stop
        self.dropped = 0
        self.passed = 0
        self.puts = 0
        self._put_at: float | None = None   # perf_counter s of the last put
        self._intervals = RecentMedian()    # between puts, s

    def put(self, item: Any) -> None:
        """Hand `item` on (never blocks; an unread item is overwritten and counted)."""
        now = time.perf_counter()
        with self._cond:
            if self._has:
                self.dropped += 1
            if self._put_at is not None:
                self._intervals.add(now - self._put_at)
            self._put_at = now
            self.puts += 1
            self._item, self._has = item, True
            self._cond.notify_all()

    def period(self) -> float:
        """The median interval between the recent puts (seconds; 0 before the second)."""
        with self._cond:
            return self._intervals.median()

    def close(self) -> None:
        """No more items: a waiting `get` returns END once the last item is taken."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def get(self) -> Any:
        with self._cond:
            while not self._has:
                if self.stop is not None and self.stop.is_set():
                    raise Stopped
                if self._closed:
                    return END
                self._cond.wait(timeout=_POLL_S)
            item, self._item, self._has = self._item, None, False
            self.passed += 1
            self._cond.notify_all()  # a producer may wait for its item to be taken
            return item

    def get_fresh(self) -> Any:
        """`get()`, but the freshest item within reach: when the held item is older than the
        next put is expected to be away (the last put plus `period()`), wait for that next one,
        up to a quarter period beyond when it is expected, and take what is newest then (the
        held one, overwritten, counts as dropped; if none came, the held one).
        An empty slot, a first item, or a held item younger than half a period: `get()`."""
        with self._cond:
            if self._has and self._put_at is not None and self._intervals:
                period = self.period()  # the condition's lock is re-entrant
                now = time.perf_counter()
                age = now - self._put_at
                until_next = period - age
                if 0.0 < until_next < age:
                    deadline = now + until_next + period / 4
                    puts = self.puts
                    while self.puts == puts and not self._closed:
                        if self.stop is not None and self.stop.is_set():
                            raise Stopped
                        left = deadline - time.perf_counter()
                        if left <= 0:
                            break
                        self._cond.wait(timeout=min(left, _POLL_S))
        return self.get()

    def wait_taken(self) -> None:
        """Block while an unread item is in the slot (its reader is still busy with an older
        one); returns when it was taken, the slot closed, or the run is stopping (raises
        Stopped)."""
        with self._cond:
            while self._has and not self._closed:
                if self.stop is not None and self.stop.is_set():
                    raise Stopped
                self._cond.wait(timeout=_POLL_S)
