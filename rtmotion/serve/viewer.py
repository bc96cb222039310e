"""One viewer (one page, one WebSocket): its own live pipeline, fed by the frames it sends.

The pipeline is `rtmotion.pipeline.live.run_live`, the same code as `rtmotion live`: capture ->
pose (MediaPipe, One-Euro, normalization) -> generate (the viewer's own `Session`) with
latest-wins hand-offs, run in a thread of its own. Its camera is a `PushedFrames` the WebSocket
handler pushes JPEGs into; its display sink encodes each result and hands it to the event loop,
where a one-slot outbox sends it (a result still unsent when a newer one is ready is replaced,
as everywhere else in live: frames are dropped, never queued).

A viewer holds its session state (pose filter, normalizer, the generator's previous frame)
alone; several viewers run side by side. `stop()` closes the source, which ends the run; the
run's thread then closes the session and MediaPipe (seconds at most: one stage's work).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rtmotion.engine_request import EngineRequest
from rtmotion.io.camera import PushedFrames
from rtmotion.pipeline.live import LiveFrame, LiveOptions, LiveReport, run_live
from rtmotion.serve.protocol import Start, decode_jpeg, encode_result
from rtmotion.subject import Subject

log = logging.getLogger(__name__)

#: recent values each run keeps per statistic (about 15 minutes at 10 fps): a page left open for
#: hours holds bounded memory
KEEP_SAMPLES = 10_000
#: how long `stop()` waits for a run's thread to end before it logs a warning
STOP_TIMEOUT_S = 15.0


@dataclass
class _Run:
    """One start of a viewer's pipeline (a restart makes a new one)."""

    start: Start
    source: PushedFrames
    thread: threading.Thread | None = None
    stopping: bool = False
    renormalize: bool = False
    report: LiveReport | None = None
    error: BaseException | None = None
    shown: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=KEEP_SAMPLES))


class Viewer:
    """A page's live pipeline (module docstring).

    Args:
        number: the viewer's number (logs).
        subjects: name -> loaded Subject (shared, read-only; each run opens its own session).
        engine: the generator runtime each session opens.
        mode: pose normalization mode.
        send: coroutine sending one binary result message to the page.
        on_end: coroutine called with the reason when a run ends by itself (a frame that does
            not decode, a failed stage): the handler closes the connection with it.
        extractor: the pose estimator (MediaPipe).
    """

    def __init__(self, number: int, subjects: dict[str, Subject], engine: EngineRequest, mode: str,
                 send: Callable[[bytes], Awaitable[None]],
                 on_end: Callable[[str], Awaitable[None]], extractor: str = "mediapipe") -> None:
        self.number = number
        self.subjects = subjects
        self.engine = engine
        self.mode = mode
        self.extractor = extractor
        self._send = send
        self._on_end = on_end
        self._loop = asyncio.get_running_loop()
        self._run: _Run | None = None
        self._outbox: bytes | None = None
        self._out_ready = asyncio.Event()
        self._sender = self._loop.create_task(self._send_loop())
        self.sent = 0
        self.out_dropped = 0
        self.received = 0

    # ---- the page's messages ---------------------------------------------------------------
    @property
    def size(self) -> tuple[int, int] | None:
        """The declared camera frame size of the running pipeline (None: not started)."""
        return None if self._run is None else self._run.source.size

    async def start(self, start: Start) -> dict[str, Any]:
        """(Re)start the pipeline for `start` (frees a running one first); the "started" reply."""
        await self.stop()
        subject = self.subjects[start.subject]
        source = PushedFrames((start.width, start.height), start.fps, decode_jpeg,
                              name=f"viewer {self.number} camera")
        run = _Run(start, source)
        options = LiveOptions(engine=self.engine, mode=self.mode, extractor=self.extractor,
                              overlay=False, display_height=None, torch_threads=None,
                              keep_samples=KEEP_SAMPLES)
        run.thread = threading.Thread(target=self._main, args=(run, subject, options),
                                      name=f"rtmotion-viewer-{self.number}", daemon=True)
        self._run = run
        run.thread.start()
        log.info("viewer %d: started %s for %dx%d camera frames", self.number, start.subject,
                 start.width, start.height)
        w, h = (int(v) for v in subject.resolution)
        ow, oh = (int(v) for v in subject.crop.frame_size)   # run_live's full frame
        return {"type": "started", "subject": start.subject, "camera": [start.width, start.height],
                "model_size": [w, h], "output_size": [ow, oh]}

    def push(self, frame_id: int, jpeg: bytes) -> None:
        """A camera frame from the page (checked by the protocol); latest wins."""
        self.received += 1
        if self._run is not None:
            self._run.source.push(frame_id, jpeg)

    def renormalize(self) -> None:
        """Re-estimate the pose normalization (the `r` key of `rtmotion live`)."""
        # The display sink answers "renormalize" with the next frame, as the live preview's key does.
        if self._run is not None:
            self._run.renormalize = True

    async def stop(self) -> None:
        """End the running pipeline (if any) and wait until its thread has freed everything."""
        run, self._run = self._run, None
        if run is None:
            return
        run.stopping = True
        run.source.close()
        t0 = time.perf_counter()
        if run.thread is not None:
            await asyncio.to_thread(run.thread.join, STOP_TIMEOUT_S)
            if run.thread.is_alive():
                log.warning("viewer %d: pipeline did not stop within %.0f s", self.number, STOP_TIMEOUT_S)
        lat = sorted(run.latencies)
        p95 = lat[int(0.95 * (len(lat) - 1))] if lat else 0.0
        stages = run.report.stages if run.report is not None else {}
        per_stage = ", ".join(f"{k} p50 {v['p50']:.0f} ms" for k, v in stages.items() if "p50" in v)
        log.info("viewer %d: stopped %s (%d frames received, %d shown, server capture-to-send p95 "
                 "%.0f ms; %s), freed in %.2f s", self.number, run.start.subject, run.source.pushed,
                 run.shown, p95, per_stage or "no stage timings", time.perf_counter() - t0)

    async def close(self) -> None:
        """The page went away: stop the pipeline and the sender."""
        await self.stop()
        self._sender.cancel()
        try:
            await self._sender
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - a closed socket's error
            pass

    # ---- the pipeline's thread -------------------------------------------------------------
    def _main(self, run: _Run, subject: Subject, options: LiveOptions) -> None:
        try:
            run.report = run_live(subject, run.source, [self._sink(run)], options)
        except BaseException as e:  # noqa: BLE001 - reported to the page, never the server's end
            run.error = e
            if not run.stopping:
                log.exception("viewer %d: pipeline failed", self.number)
        finally:
            if not run.stopping:
                reason = (run.source.error or (f"pipeline failed: {run.error}" if run.error else None)
                          or "pipeline ended")
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._ended, run, reason)

    def _ended(self, run: _Run, reason: str) -> None:
        if self._run is run:
            self._run = None
            self._loop.create_task(self._on_end(reason))

    def _sink(self, run: _Run) -> Callable[[np.ndarray, LiveFrame], str | None]:
        def sink(image: np.ndarray, frame: LiveFrame) -> str | None:
            assert frame.result is not None
            now = time.perf_counter()
            kp = frame.raw_kp
            meta = {
                "id": frame.source_index,
                "state": frame.state,
                "kp": [] if kp is None else np.round(np.asarray(kp, np.float32), 1).ravel().tolist(),
                "pose_ms": round((frame.t_pose - frame.t_capture) * 1000.0, 1),
                "generate_ms": round((frame.t_generate - frame.t_capture) * 1000.0, 1),
                "server_ms": round((now - frame.t_capture) * 1000.0, 1),
                "dropped": run.source.dropped,
            }
            message = encode_result(frame.source_index, meta, frame.result)
            run.shown += 1
            run.latencies.append((time.perf_counter() - frame.t_capture) * 1000.0)
            if not run.stopping:
                with contextlib.suppress(RuntimeError):   # the server's loop already closed
                    self._loop.call_soon_threadsafe(self._offer, message)
            if run.renormalize:
                run.renormalize = False
                return "renormalize"
            return None

        return sink

    # ---- the outbox (event loop) -----------------------------------------------------------
    def _offer(self, message: bytes) -> None:
        if self._outbox is not None:
            self.out_dropped += 1
        self._outbox = message
        self._out_ready.set()

    async def _send_loop(self) -> None:
        while True:
            await self._out_ready.wait()
            self._out_ready.clear()
            message, self._outbox = self._outbox, None
            if message is None:
                continue
            await self._send(message)
            self.sent += 1
