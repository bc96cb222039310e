"""The stage machinery with real threads: order, losslessness, backpressure, failures that stop
every stage and reach the caller with the stage's name, and the live latest-wins slot."""

from __future__ import annotations

import threading
import time

import pytest

from rtmotion.errors import InputError, StageError
from rtmotion.pipeline.stages import END, LatestSlot, StagePipeline, StopFlag, Stopped
from rtmotion.pipeline.stats import Timers, percentiles


def _pipeline_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("rtmotion-") and t.is_alive()]


def test_items_arrive_in_order_lossless_with_backpressure() -> None:
    produced: list[int] = []
    got: list[int] = []
    in_flight: list[int] = []

    def source():
        for i in range(200):
            produced.append(i)
            # Queues of 2 between 3 stages: the source can be at most a few items ahead.
            in_flight.append(len(produced) - len(got))
            yield i

    def slow_sink(x: int) -> None:
        time.sleep(0.001)
        got.append(x)

    timers = Timers()
    n = StagePipeline(("read", source()), [("double", lambda x: 2 * x), ("inc", lambda x: x // 2)],
                      ("sink", slow_sink), queue_size=2, timers=timers).run()
    assert n == 200 and got == list(range(200))
    # 3 queues of 2 + one item held by each of the 3 consumers + the one being produced.
    assert max(in_flight) <= 3 * 2 + 3 + 1
    assert timers["double"].count == 200 and set(timers.names()) == {"read", "double", "inc", "sink"}
    assert not _pipeline_threads()


@pytest.mark.parametrize("where", ["read", "middle", "sink"])
def test_a_stage_that_raises_midway_stops_everything(where: str) -> None:
    def source():
        for i in range(10_000):
            if where == "read" and i == 50:
                raise RuntimeError("decoder died")
            yield i

    def middle(x: int) -> int:
        if where == "middle" and x == 50:
            raise ValueError("bad frame")
        return x

    def sink(x: int) -> None:
        if where == "sink" and x == 50:
            raise OSError(28, "No space left on device")
        time.sleep(0.0005)

    t0 = time.perf_counter()
    with pytest.raises(StageError) as ei:
        StagePipeline(("read", source()), [("middle", middle)], ("sink", sink), queue_size=3).run()
    assert time.perf_counter() - t0 < 5
    assert ei.value.stage == where
    assert f"stage '{where}' failed" in str(ei.value)
    assert not _pipeline_threads()


def test_a_bad_input_keeps_its_exit_code() -> None:
    def source():
        yield 1
        raise InputError("clip.mp4", "decoding failed after 1 frames")

    with pytest.raises(StageError) as ei:
        StagePipeline(("read", source()), [], ("sink", lambda x: None)).run()
    assert ei.value.exit_code == 2 and "clip.mp4" in str(ei.value)


def test_a_stage_blocked_forever_on_a_full_queue_is_released() -> None:
    """The sink fails while upstream stages are blocked on full queues: they must notice."""
    def sink(x: int) -> None:
        time.sleep(0.05)
        raise RuntimeError("encoder cannot write")

    t0 = time.perf_counter()
    with pytest.raises(StageError, match="encoder cannot write"):
        StagePipeline(("read", iter(range(10**6))), [("a", lambda x: x)], ("encode", sink), queue_size=1).run()
    assert time.perf_counter() - t0 < 5 and not _pipeline_threads()


def test_latest_slot_drops_stale_items_and_counts_them() -> None:
    slot = LatestSlot()
    for i in range(5):
        slot.put(i)
    assert slot.get() == 4 and slot.dropped == 4
    slot.put(5)
    slot.close()
    assert slot.get() == 5 and slot.get() is END


def test_latest_slot_get_gives_up_when_stopped() -> None:
    stop = StopFlag()
    slot = LatestSlot(stop)
    threading.Timer(0.2, lambda: stop.fail("other", RuntimeError("x"))).start()
    with pytest.raises(Stopped):
        slot.get()


def test_percentiles() -> None:
    p = percentiles(list(range(1, 101)))
    assert p["p50"] == pytest.approx(50.5) and p["p99"] == pytest.approx(99.01)
    assert percentiles([]) == {"p50": 0.0, "p95": 0.0, "p99": 0.0}


def test_prepared_generation_equals_the_plain_call(tiny_subject) -> None:
    """PosePreparer + generate (two stages) gives the very frames __call__ gives, across a
    no-person gap and a reset."""
    import numpy as np

    from rtmotion.pipeline.synthesize import PosePreparer, SubjectSynthesizer
    from rtmotion.synthetic import motion_angles, render_sequence

    _, seq = render_sequence("ada", angles=motion_angles("dance", 0.5, 30, seed=2), size=(64, 64))
    poses = seq.keypoints.copy()
    poses[5:7] = 0.0
    with SubjectSynthesizer(tiny_subject) as a, SubjectSynthesizer(tiny_subject) as b:
        prep = PosePreparer(b)
        for i, kp in enumerate(poses):
            if i == 10:
                a.reset()
                b.reset()
                prep.reset()
            fa = a(kp)
            fb = b.generate(prep(kp))
            assert np.array_equal(fa, fb), i
            assert a.last_mode == b.last_mode


def test_the_source_is_timed_in_milliseconds_unless_asked_not_to() -> None:
    """The source's time is its wait for the next item (decode time), in ms; live leaves it
    out (a camera's wait is not work)."""
    def source():
        for i in range(6):
            time.sleep(0.02)
            yield i

    timers = Timers()
    assert StagePipeline(("read", source()), [], ("sink", lambda x: None), timers=timers).run() == 6
    ms = timers["read"].values()
    assert len(ms) == 6 and all(19.0 <= v < 500.0 for v in ms), ms
    untimed = Timers()
    StagePipeline(("read", source()), [], ("sink", lambda x: None), timers=untimed,
                  time_source=False).run()
    assert "read" not in untimed.names() or untimed["read"].count == 0


class _ClosingSource:
    """An iterable whose iterator is plain (no close): the pipeline closes the iterable."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    def __iter__(self):
        return iter(range(10_000))

    def close(self) -> None:
        self.closed.set()


def test_the_source_is_closed_when_the_run_ends_early() -> None:
    """A failing stage stops the run: the source's generator is closed (its `finally` runs,
    e.g. a decoder released) and so is a source object whose iterator cannot be closed."""
    released = threading.Event()

    def frames():
        try:
            yield from range(10_000)
        finally:
            released.set()

    def fail_at_5(x: int) -> int:
        if x == 5:
            raise ValueError("bad frame")
        return x

    for source, done in ((frames(), released), (obj := _ClosingSource(), obj.closed)):
        with pytest.raises(StageError):
            StagePipeline(("read", source), [("check", fail_at_5)], ("sink", lambda x: None)).run()
        assert done.is_set()
    assert not _pipeline_threads()


def test_each_part_runs_in_its_own_named_daemon_thread() -> None:
    """Threads are named after their part (the names in stack dumps and in the tests' leak
    checks) and are daemons (a hung decoder cannot keep the process alive)."""
    seen: dict[str, tuple[str, bool]] = {}

    def where(part: str) -> None:
        t = threading.current_thread()
        seen[part] = (t.name, t.daemon)

    def source():
        where("read")
        yield from range(3)

    def stage(x: int) -> int:
        where("check")
        return x

    pipe = StagePipeline(("read", source()), [("check", stage)], ("sink", lambda x: where("sink")))
    assert pipe.run() == 3
    assert seen == {"read": ("rtmotion-read", True), "check": ("rtmotion-check", True),
                    "sink": ("rtmotion-sink", True)}
    assert pipe.handoffs["check"].dropped == 0 and pipe.handoffs["sink"].dropped == 0
    with pytest.raises(ValueError, match="unknown hand-off 'lifo'"):
        StagePipeline(("read", []), [], ("sink", None), handoff="lifo")


def test_a_latest_slot_starts_empty() -> None:
    slot = LatestSlot(StopFlag())
    assert slot.passed == 0 and slot.dropped == 0
    slot.put(1)
    slot.put(2)
    assert slot.get() == 2 and slot.passed == 1 and slot.dropped == 1
