"""Stages as threads joined by hand-offs: the machinery every use of the pipeline runs on.

One stage runner (`StagePipeline`: a source thread, a thread per stage, a sink thread or the
caller's own loop) with either of two kinds of hand-off between stages:

- offline, `FifoHandoff` (FIFO): bounded queues. Lossless and in order: a full queue blocks the
  producer (backpressure, so memory stays bounded however fast the decoder is), and an `END`
  sentinel travels behind the last item to end the run.
- live, `LatestSlot` (LATEST): a one-slot holder where the newest item overwrites an unread one (latest
  frame wins); overwritten items are counted as dropped, so a slow stage never builds a backlog
  of stale frames and latency stays one frame deep.

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
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from rtmotion.errors import StageError
from rtmotion.pipeline.stats import Timers

log = logging.getLogger(__name__)

END = object()  #: the end-of-stream sentinel
_POLL_S = 0.1    # how often a waiting stage looks at the stop event
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

    `run()` (with a sink function) blocks until the sink has consumed END (returns the number of
    items) or a stage failed (raises StageError naming it, after every thread has stopped).
    Ctrl-C in the caller stops every stage the same way and re-raises KeyboardInterrupt.
    Without one: `with pipe.running(): for item in pipe.results(): ...`, then
    `pipe.raise_failure()`. `handoffs` maps each consumer's name to the hand-off it reads.
    """

    def __init__(self, source: tuple[str, Iterable[Any]], stages: list[tuple[str, Callable[[Any], Any]]],
                 sink: tuple[str, Callable[[Any], None] | None], *, handoff: str = FIFO,
                 queue_size: int = 4, timers: Timers | None = None,
                 time_source: bool = True) -> None:
        if handoff not in (FIFO, LATEST):
            raise ValueError(f"unknown hand-off {handoff!r} (choose {FIFO} or {LATEST})")
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
                    out: FifoHandoff | LatestSlot | None) -> None:
        timer = self.timers[name]
        try:
            while True:
                item = inbox.get()
                if item is END:
                    return
                t0 = time.perf_counter()
                result = fn(item)
                timer.add((time.perf_counter() - t0) * 1000.0)
                if out is not None:
                    out.put(result)
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
                                                  args=(name, fn, boxes[i], boxes[i + 1]),
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

    def put(self, item: Any) -> None:
        """Hand `item` on (never blocks; an unread item is overwritten and counted)."""
        with self._cond:
            if self._has:
                self.dropped += 1
            self._item, self._has = item, True
            self._cond.notify_all()

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
            return item
