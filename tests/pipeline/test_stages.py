"""The stage machinery with real threads: order, losslessness, backpressure, failures that stop
every stage and reach the caller with the stage's name, and the live latest-wins slot."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from rtmotion.errors import InputError, StageError
from rtmotion.pipeline.stages import END, LATEST, LatestSlot, StagePipeline, StopFlag, Stopped
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


def _finishes_within(fn, seconds: float) -> tuple[bool, list]:
    """Run `fn` in a daemon thread; (whether it returned or raised within `seconds`, [its
    result or exception])."""
    out: list = []

    def call() -> None:
        try:
            out.append(fn())
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            out.append(e)

    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(seconds)
    return not t.is_alive(), out


def test_a_fifo_waits_for_items_and_gives_up_when_stopped() -> None:
    """`get` on an empty FIFO waits for the item that comes later (not None); a full FIFO of
    one holds its producer until the item is taken, and both waits end with `Stopped` once the
    run stops."""
    from rtmotion.pipeline.stages import FifoHandoff

    stop = StopFlag()
    box = FifoHandoff(1, stop)
    threading.Timer(0.3, box.put, args=("late",)).start()
    assert box.get() == "late"
    taken: list = []
    box.put(1)
    taker = threading.Timer(0.3, lambda: taken.append(box.get()))
    taker.start()
    box.put(2)                             # blocks until 1 is taken, then goes in
    taker.join()
    assert taken == [1]
    done, got = _finishes_within(box.get, 2.0)
    assert done and got == [2]
    box.close()
    assert box.get() is END
    threading.Timer(0.3, lambda: stop.fail("other", RuntimeError("x"))).start()
    done, got = _finishes_within(box.get, 2.0)
    assert done and isinstance(got[0], Stopped)
    full = FifoHandoff(1, StopFlag())
    full.put(1)
    threading.Timer(0.3, lambda: full.stop.fail("other", RuntimeError("x"))).start()
    done, got = _finishes_within(lambda: full.put(2), 2.0)
    assert done and isinstance(got[0], Stopped)


@pytest.mark.parametrize("size, depth", [(None, 4), (1, 1), (3, 3), (0, 1)])
def test_the_backpressure_depth_is_the_queue_size(size, depth: int) -> None:
    """While the sink holds its first item, the source gets exactly `queue_size` items ahead:
    item 0 in the sink, `queue_size` in the queue, one more read and waiting to go in. The
    default depth is 4; a size under 1 is 1."""
    produced: list[int] = []
    release = threading.Event()

    def source():
        for i in range(12):
            produced.append(i)
            yield i

    kwargs = {} if size is None else {"queue_size": size}
    pipe = StagePipeline(("read", source()), [], ("sink", lambda x: release.wait(5.0)), **kwargs)
    assert pipe.queue_size == depth
    with pipe.running():
        time.sleep(0.4)
        ahead = len(produced)
        release.set()
    assert ahead == depth + 2


def test_join_threads_waits_for_each_thread_within_one_deadline(caplog) -> None:
    """Every thread but the caller's own is joined; one that will not stop is given up at the
    deadline (not later, not forever) and logged by name."""
    from rtmotion.pipeline.stages import join_threads

    short = threading.Thread(target=time.sleep, args=(0.2,), name="rtmotion-short", daemon=True)
    short.start()
    join_threads([threading.current_thread(), short], timeout=5.0)
    assert not short.is_alive()

    hold = threading.Event()
    stuck = threading.Thread(target=hold.wait, args=(5.0,), name="rtmotion-stuck", daemon=True)
    stuck.start()
    t0 = time.perf_counter()
    with caplog.at_level("WARNING", logger="rtmotion.pipeline.stages"):
        join_threads([stuck], timeout=0.6)
    took = time.perf_counter() - t0
    hold.set()
    assert 0.5 <= took < 0.95, took
    assert caplog.messages == ["pipeline thread rtmotion-stuck did not stop within 1 s"]


def test_a_latest_slot_counts_every_item_passed_on() -> None:
    slot = LatestSlot(StopFlag())
    for i in range(3):
        slot.put(i)
        assert slot.get() == i
    assert slot.passed == 3 and slot.dropped == 0


def test_a_live_pipeline_keeps_only_the_latest_item() -> None:
    """LATEST hand-offs: a slow sink sees the newest item each time and the last one always;
    what it skipped is counted as dropped, nothing builds up."""
    from rtmotion.pipeline.stages import LATEST

    got: list[int] = []

    def sink(x: int) -> None:
        got.append(x)
        time.sleep(0.05)

    def source():
        for i in range(40):
            time.sleep(0.005)
            yield i

    pipe = StagePipeline(("camera", source()), [("pose", lambda x: x)], ("sink", sink),
                         handoff=LATEST)
    assert all(isinstance(h, LatestSlot) for h in pipe.handoffs.values())
    assert pipe.run() == len(got)
    assert got == sorted(got) and got[-1] == 39 and len(got) < 40
    dropped = pipe.handoffs["pose"].dropped + pipe.handoffs["sink"].dropped
    assert dropped > 0 and len(got) + dropped == 40


def test_a_live_stage_waiting_on_a_stuck_camera_stops_when_the_sink_fails() -> None:
    """The live slots watch the run's stop flag: the sink fails while the camera is stuck in a
    read; the stage waiting for the camera's next frame stops at once (it does not wait for the
    camera), and the run then ends with the sink's failure."""
    from rtmotion.pipeline.stages import LATEST

    camera_free = threading.Event()
    stage_stopped: list[bool] = []

    def camera():
        yield 0
        camera_free.wait(5.0)              # a read that hangs

    def sink(x: int) -> None:
        raise RuntimeError("display gone")

    def watch() -> None:
        pipe.stop.event.wait(3.0)          # the sink has failed
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            names = {t.name for t in _pipeline_threads()}
            if "rtmotion-sink" not in names and "rtmotion-pose" not in names:
                stage_stopped.append(True)
                break
            time.sleep(0.02)
        else:
            stage_stopped.append(False)
        camera_free.set()

    pipe = StagePipeline(("camera", camera()), [("pose", lambda x: x)], ("sink", sink),
                         handoff=LATEST)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with pytest.raises(StageError, match="display gone"):
        pipe.run()
    watcher.join(3.0)
    assert stage_stopped == [True]
    assert not _pipeline_threads()


def test_a_stage_is_timed_in_milliseconds() -> None:
    """Each stage's time is its function's own duration, in ms."""
    timers = Timers()

    def work(x: int) -> int:
        time.sleep(0.02)
        return x

    StagePipeline(("read", iter(range(4))), [("work", work)], ("sink", lambda x: None),
                  timers=timers).run()
    ms = timers["work"].values()
    assert len(ms) == 4 and all(19.0 <= v < 500.0 for v in ms), ms


class _HeldIterator:
    """A source object that keeps the generator it hands out (as a decoder keeps its frame
    reader) and has no `close` of its own: the pipeline must close the iterator itself."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self._frames = None

    def _read(self):
        try:
            yield from range(10_000)
        finally:
            self.released.set()

    def __iter__(self):
        self._frames = self._read()
        return self._frames


def test_the_source_iterator_is_closed_even_when_its_owner_keeps_it() -> None:
    src = _HeldIterator()
    with pytest.raises(StageError):
        StagePipeline(("read", src), [("check", lambda x: 1 // (5 - x))], ("sink", lambda x: None)).run()
    assert src.released.is_set()


class _BadClose:
    """A source whose close fails (a device already gone)."""

    def __iter__(self):
        return iter(range(3))

    def close(self) -> None:
        raise OSError("device vanished")


def test_closing_the_source_never_raises_in_its_thread(monkeypatch) -> None:
    """A plain list (its iterator has no close) and a source whose close fails end the run
    normally: no exception escapes the source's thread."""
    escaped: list = []
    monkeypatch.setattr(threading, "excepthook", lambda args: escaped.append(args.exc_value))
    assert StagePipeline(("read", [1, 2, 3]), [], ("sink", lambda x: None)).run() == 3
    assert StagePipeline(("read", _BadClose()), [], ("sink", lambda x: None)).run() == 3
    assert escaped == []


def test_ctrl_c_in_the_caller_stops_every_stage_and_is_raised_again() -> None:
    """Ctrl-C while `run()` waits: every thread is stopped and joined, KeyboardInterrupt
    reaches the caller, and the run records the caller as the part that stopped it."""
    import signal

    def sink(x: int) -> None:
        time.sleep(0.01)

    pipe = StagePipeline(("read", iter(range(10**6))), [("a", lambda x: x)], ("sink", sink))
    main = threading.main_thread().ident
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Timer(0.3, signal.pthread_kill, args=(main, signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt) as ei:
            pipe.run()
            time.sleep(5)                  # never reached: the run does not end by itself
    finally:
        signal.signal(signal.SIGINT, old)
    assert not _pipeline_threads()
    assert pipe.stop.failure == ("caller", ei.value)
    with pytest.raises(StageError, match="stage 'caller' failed"):
        pipe.raise_failure()


@pytest.mark.parametrize("hold", [2, None])
def test_session_finish_may_run_behind_draw(tiny_subject, hold) -> None:
    """Session.draw two frames ahead of Session.finish (as convert's stages run) gives the very
    frames generate gives, across a no-person gap (hold 2: held, then the empty scene; no hold
    rule: the last frame repeated) and a person again."""
    import numpy as np

    from rtmotion.pipeline.session import open_session
    from rtmotion.synthetic import motion_angles, render_sequence

    _, seq = render_sequence("ada", angles=motion_angles("dance", 0.8, 30, seed=3), size=(64, 64))
    poses = seq.keypoints.copy()
    poses[6:12] = 0.0  # 2 held frames, then the empty scene (hold 2), then the person again
    with open_session(tiny_subject, hold_frames=hold, full_frame=True) as a, \
            open_session(tiny_subject, hold_frames=hold, full_frame=True) as b:
        expected = [a.generate(a.prepare(kp)) for kp in poses]
        drawn = [b.draw(b.prepare(kp)) for kp in poses[:2]]
        got = []
        for kp in poses[2:]:
            drawn.append(b.draw(b.prepare(kp)))
            got.append(b.finish(drawn.pop(0)))
        got += [b.finish(d) for d in drawn]
        assert a.gaps == b.gaps and a.gaps.held == (2 if hold else 0)
    assert len(got) == len(expected)
    for i, (e, g) in enumerate(zip(expected, got)):
        assert np.array_equal(e, g), i
    if hold:
        assert not np.array_equal(expected[8], expected[5])  # the empty scene, not the person
    else:
        assert all(np.array_equal(expected[i], expected[5]) for i in range(6, 12))  # repeats


def _paced_run(pace: bool, tail: bool = False) -> tuple[StagePipeline, dict[str, Any]]:
    """A camera every 2 ms (300 frames) -> a 10 ms stage -> a 30 ms stage (-> a 1 ms stage when
    `tail`) -> the caller (sleeps stand in for work: the timing does not depend on this machine's
    cores). Also returns how long each of the fast stage's results waited before the slow stage
    took it ("waits", s)."""
    calls: dict[str, Any] = {"fast": 0, "slow": 0, "waits": []}

    def camera():
        for i in range(300):
            time.sleep(0.002)
            yield i

    def fast(x: int) -> tuple[int, float]:
        calls["fast"] += 1
        time.sleep(0.010)
        return x, time.perf_counter()

    def slow(x: tuple[int, float]) -> int:
        calls["slow"] += 1
        calls["waits"].append(time.perf_counter() - x[1])
        time.sleep(0.030)
        return x[0]

    def last(x: int) -> int:
        time.sleep(0.001)
        return x

    stages = [("fast", fast), ("slow", slow)] + ([("last", last)] if tail else [])
    pipe = StagePipeline(("camera", camera()), stages, ("show", None),
                         handoff=LATEST, time_source=False, pace=pace)
    shown = 0
    with pipe.running():
        for _ in pipe.results():
            shown += 1
    pipe.raise_failure()
    assert pipe.items == shown  # the caller's items are counted as a sink's are
    return pipe, calls


def test_a_paced_stage_starts_just_in_time_for_the_next() -> None:
    """Unpaced, the fast stage works on every frame it can and most of its results are
    overwritten before the slow stage takes them; paced, it starts each frame so that it is
    done when the slow stage is free: (almost) nothing it makes is dropped, and it runs about
    as often as the slow stage."""
    free, free_calls = _paced_run(pace=False)
    paced, paced_calls = _paced_run(pace=True)
    assert free.handoffs["slow"].dropped > 0.5 * free_calls["slow"]
    assert free_calls["fast"] > 1.8 * free_calls["slow"]
    assert paced.handoffs["slow"].dropped <= 2
    assert paced_calls["fast"] <= paced_calls["slow"] + 2
    # the slow stage is kept as busy as before (pacing costs no throughput)
    assert paced_calls["slow"] >= 0.8 * free_calls["slow"]
    # just in time: a result waits a few ms for the slow stage, not most of its 30 ms (the
    # fast stage starting as soon as its last result was taken would make that ~20 ms)
    import statistics

    assert statistics.median(paced_calls["waits"][5:]) < 0.008


def test_a_paced_stage_is_paced_by_the_stage_after_it_not_the_last() -> None:
    """Three stages: the fast one starts in time for the slow one after it; the quick stage at
    the end, always idle, is not what it waits for (that would start it as soon as its last
    result was taken, ~20 ms early)."""
    import statistics

    _, calls = _paced_run(pace=True, tail=True)
    assert calls["fast"] <= calls["slow"] + 2
    assert statistics.median(calls["waits"][5:]) < 0.008


def test_only_the_first_paced_stage_takes_fresh_input(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fresh input is for the camera's frames: the later stages take their inbox's item as it
    is (waiting there for a newer one would only delay the frame)."""
    fresh_slots: set[int] = set()
    real = LatestSlot.get_fresh

    def spy(self: LatestSlot) -> Any:
        fresh_slots.add(id(self))
        return real(self)

    monkeypatch.setattr(LatestSlot, "get_fresh", spy)

    def camera():
        for i in range(30):
            time.sleep(0.004)
            yield i

    def work(x: int) -> int:
        time.sleep(0.005)
        return x

    pipe = StagePipeline(("camera", camera()), [("a", work), ("b", work), ("c", work)],
                         ("show", None), handoff=LATEST, time_source=False, pace=True, fresh=True)
    with pipe.running():
        for _ in pipe.results():
            pass
    pipe.raise_failure()
    assert fresh_slots == {id(pipe.handoffs["a"])}


def test_pacing_needs_latest_wins_hand_offs() -> None:
    with pytest.raises(ValueError, match=r"^pacing needs latest-wins hand-offs \(a FIFO stage "
                                         r"must see every item\)$"):
        StagePipeline(("s", iter(())), [("a", lambda x: x)], ("k", None), pace=True)
    with pytest.raises(ValueError, match=r"^fresh input is part of pacing \(give pace=True\)$"):
        StagePipeline(("s", iter(())), [("a", lambda x: x)], ("k", None), handoff=LATEST,
                      fresh=True)


def test_a_producer_waits_until_its_item_is_taken() -> None:
    slot = LatestSlot(StopFlag())
    slot.put(1)
    taken: list[float] = []

    def reader() -> None:
        time.sleep(0.05)
        taken.append(time.perf_counter())
        slot.get()

    t = threading.Thread(target=reader)
    t.start()
    slot.wait_taken()
    done = time.perf_counter()
    t.join()
    assert taken and done >= taken[0]
    slot.wait_taken()  # empty: returns at once
    stop = StopFlag()
    full = LatestSlot(stop)
    full.put(1)
    stop.fail("x", RuntimeError("x"))
    with pytest.raises(Stopped):
        full.wait_taken()
    # a stop while it waits (nothing notifies the slot then) is seen within a poll
    later_stop = StopFlag()
    waiting = LatestSlot(later_stop)
    waiting.put(1)
    threading.Timer(0.05, later_stop.fail, args=("x", RuntimeError("x"))).start()
    t0 = time.perf_counter()
    with pytest.raises(Stopped):
        waiting.wait_taken()
    assert time.perf_counter() - t0 < 1.0


# ---- fresh input: the first paced stage takes the camera's next frame when it is near -------

def _fed_slot(period: float, n: int = 3) -> LatestSlot:
    """A slot that got `n` items `period` s apart (its period is `period`)."""
    slot = LatestSlot(StopFlag())
    for i in range(n):
        if i:
            time.sleep(period)
        slot.put(i)
    return slot


def test_get_fresh_waits_for_a_next_item_nearer_than_the_held_one_is_old() -> None:
    slot = _fed_slot(0.2)
    assert slot.period() == pytest.approx(0.2, abs=0.05)
    time.sleep(0.14)                                  # item 2 is 140 ms old, 3 is due in ~60
    later = threading.Timer(0.02, slot.put, args=(3,))
    later.start()
    t0 = time.perf_counter()
    assert slot.get_fresh() == 3
    # taken when it came (~20 ms), not at the deadline (~60 + 50 ms)
    assert 0.015 <= time.perf_counter() - t0 < 0.08
    later.join()
    assert slot.dropped == 3 and slot.passed == 1    # 0, 1 and the held 2, overwritten


def test_the_period_follows_the_source_s_recent_rate() -> None:
    """The frame period is the median of the recent intervals only: a camera that slows
    down (a dark room) is followed within a few frames, and nothing grows without bound."""
    slot = LatestSlot()
    for _ in range(20):
        slot.put(0)
        time.sleep(0.005)
    for _ in range(16):
        time.sleep(0.03)
        slot.put(1)
    assert slot.period() == pytest.approx(0.03, abs=0.01)


def test_get_fresh_takes_a_young_item_at_once() -> None:
    slot = _fed_slot(0.1)
    time.sleep(0.02)                                  # 20 ms old, the next 80 ms away
    t0 = time.perf_counter()
    assert slot.get_fresh() == 2
    assert time.perf_counter() - t0 < 0.05                # a wait would be ~100 ms
    assert LatestSlot().period() == 0.0
    lone = LatestSlot()
    lone.put("a")                                     # one item: no period known, no wait
    assert lone.get_fresh() == "a"


def test_get_fresh_waits_at_most_a_quarter_period_past_the_expected_item() -> None:
    slot = _fed_slot(0.1)
    time.sleep(0.07)
    t0 = time.perf_counter()
    assert slot.get_fresh() == 2                      # nothing came: the held item
    waited = time.perf_counter() - t0
    assert 0.04 <= waited < 0.1, waited               # ~30 ms to the expected one + 25 ms
    closed = _fed_slot(0.1)
    time.sleep(0.07)
    threading.Timer(0.01, closed.close).start()
    t0 = time.perf_counter()
    assert closed.get_fresh() == 2 and time.perf_counter() - t0 < 0.045  # else ~55 ms
    stopped = _fed_slot(0.1)
    time.sleep(0.07)
    stopped.stop.fail("x", RuntimeError("x"))
    with pytest.raises(Stopped):
        stopped.get_fresh()


def _camera_age_run(fresh: bool) -> list[float]:
    """A camera every 40 ms -> a 10 ms paced stage -> a 50 ms stage; how old each frame was
    when the paced stage started on it (s)."""
    ages: list[float] = []

    def camera():
        for _ in range(45):
            time.sleep(0.04)
            yield time.perf_counter()

    def fast(t_capture: float) -> float:
        ages.append(time.perf_counter() - t_capture)
        time.sleep(0.010)
        return t_capture

    def slow(t_capture: float) -> float:
        time.sleep(0.050)
        return t_capture

    pipe = StagePipeline(("camera", camera()), [("fast", fast), ("slow", slow)], ("show", None),
                         handoff=LATEST, time_source=False, pace=True, fresh=fresh)
    with pipe.running():
        for _ in pipe.results():
            pass
    pipe.raise_failure()
    return ages[5:]


def test_fresh_input_halves_the_age_of_the_frames_a_paced_stage_takes() -> None:
    """Paced alone, the fast stage takes frames of any age up to the camera's period (its start
    is set by the slow stage, not by the camera); with fresh input at most about half of it."""
    import statistics

    stale, fresh = _camera_age_run(False), _camera_age_run(True)
    assert statistics.median(fresh) < 0.6 * statistics.median(stale), (fresh, stale)
    assert sorted(fresh)[int(0.9 * len(fresh))] < 0.028, fresh
    with pytest.raises(ValueError, match="pacing"):
        StagePipeline(("s", iter(())), [("a", lambda x: x)], ("k", None), handoff=LATEST,
                      fresh=True)
