"""Stages as threads joined by hand-offs: the machinery every use of the pipeline runs on.

Two kinds of hand-off between stages:

- offline, `StagePipeline`: bounded FIFO queues. Lossless and in order: a full queue blocks the
  producer (backpressure, so memory stays bounded however fast the decoder is), and an `END`
  sentinel travels behind the last item to end the run.
- live, `LatestSlot`: a one-slot holder where the newest item overwrites an unread one (latest
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
from collections.abc import Callable, Iterable
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


class StagePipeline:
    """source -> stage 1 -> ... -> sink, each in its own thread, bounded FIFO queues between.

    Args:
        source: (name, iterable) yielding items in order; closed (`.close()`) when the run ends.
        stages: [(name, fn)] with fn(item) -> item, run in order on every item.
        sink: (name, fn) with fn(item) -> None, called on every item in order.
        queue_size: items each queue holds (the backpressure depth).
        timers: where per-item durations (ms) are recorded, one timer per stage name (the
            source's time is the wait for its next item, i.e. decode time).

    `run()` blocks until the sink has consumed END (returns the number of items) or a stage
    failed (raises StageError naming it, after every thread has stopped). Ctrl-C in the caller
    stops every stage the same way and re-raises KeyboardInterrupt.
    """

    def __init__(self, source: tuple[str, Iterable[Any]], stages: list[tuple[str, Callable[[Any], Any]]],
                 sink: tuple[str, Callable[[Any], None]], *, queue_size: int = 4,
                 timers: Timers | None = None) -> None:
        self.source = source
        self.stages = list(stages)
        self.sink = sink
        self.queue_size = max(1, int(queue_size))
        self.timers = timers if timers is not None else Timers()
        self.stop = StopFlag()
        self.items = 0

    def _source_main(self, name: str, it: Iterable[Any], out: queue.Queue[Any]) -> None:
        timer = self.timers[name]
        iterator = iter(it)
        try:
            while True:
                t0 = time.perf_counter()
                try:
                    item = next(iterator)
                except StopIteration:
                    break
                timer.add((time.perf_counter() - t0) * 1000.0)
                put_until_stopped(out, item, self.stop)
            put_until_stopped(out, END, self.stop)
        except Stopped:
            pass
        except BaseException as e:  # noqa: BLE001 - every failure must reach the caller
            self.stop.fail(name, e)
        finally:
            close = getattr(iterator, "close", None) or getattr(it, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()

    def _stage_main(self, name: str, fn: Callable[[Any], Any], inq: queue.Queue[Any],
                    out: queue.Queue[Any] | None) -> None:
        timer = self.timers[name]
        try:
            while True:
                item = get_until_stopped(inq, self.stop)
                if item is END:
                    if out is not None:
                        put_until_stopped(out, END, self.stop)
                    return
                t0 = time.perf_counter()
                result = fn(item)
                timer.add((time.perf_counter() - t0) * 1000.0)
                if out is not None:
                    put_until_stopped(out, result, self.stop)
                else:
                    self.items += 1
        except Stopped:
            pass
        except BaseException as e:  # noqa: BLE001
            self.stop.fail(name, e)

    def run(self) -> int:
        queues = [queue.Queue(maxsize=self.queue_size) for _ in range(len(self.stages) + 1)]
        threads = [threading.Thread(target=self._source_main, args=(self.source[0], self.source[1], queues[0]),
                                    name=f"rtmotion-{self.source[0]}", daemon=True)]
        for i, (name, fn) in enumerate(self.stages):
            threads.append(threading.Thread(target=self._stage_main, args=(name, fn, queues[i], queues[i + 1]),
                                            name=f"rtmotion-{name}", daemon=True))
        threads.append(threading.Thread(target=self._stage_main, args=(self.sink[0], self.sink[1], queues[-1], None),
                                        name=f"rtmotion-{self.sink[0]}", daemon=True))
        for t in threads:
            t.start()
        try:
            # Short joins keep the main thread responsive to Ctrl-C; the sink ends last on success.
            while any(t.is_alive() for t in threads):
                if self.stop.is_set():
                    break
                threads[-1].join(timeout=_POLL_S)
        except BaseException as e:
            self.stop.fail("caller", e)
            join_threads(threads)
            raise
        self.stop.event.set()  # success or failure: nothing may keep running
        join_threads(threads)
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
