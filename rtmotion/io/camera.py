"""Live frame sources: a webcam (OpenCV, V4L2 on Linux) and a video file played as a camera.

Both give `(image, t_capture)` pairs: uint8 RGB (H, W, 3) and `time.perf_counter()` seconds at
the moment the frame was captured (for a file: the moment it became due), so capture-to-display
latency can be measured per frame. `read()` returns None at the end of the stream (a file that
ended, a camera that disconnected): the caller ends the run cleanly.

Freshness: a webcam driver queues frames; a reader that falls behind would get frames that are
already old. `OpenCVCamera` asks for a one-frame driver buffer and is meant to be read by a
thread that reads continuously (the live pipeline's capture thread), handing only the newest
frame on; `FileCamera` paces itself by the file's own timestamps, as a camera would, whether or
not anyone keeps up, and drops at capture what is already stale (see `FileCamera`).
"""

from __future__ import annotations

import glob
import logging
import re
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from rtmotion.errors import InputError
from rtmotion.io._common import rate_text
from rtmotion.io.info import VideoInfo
from rtmotion.io.reader import VideoReader
from rtmotion.types import Frame

log = logging.getLogger(__name__)


def list_cameras() -> list[str]:
    """Video capture devices that exist on this machine (Linux: /dev/video*), e.g. ["0", "2"]."""
    found = []
    for dev in sorted(glob.glob("/dev/video*")):
        m = re.fullmatch(r"/dev/video(\d+)", dev)
        if m:
            found.append(m.group(1))
    return sorted(found, key=int)


class FileCamera:
    """Plays a video file at its own frame rate, as a camera would.

    A camera delivers the frame of *now*: it never hands out a backlog. So does this source:

    - the clock starts at the first `read()`, not at `open()`: the seconds a caller spends
      between the two (loading an engine, building one on first use, starting MediaPipe) are
      not a backlog of frames that are already late when the run begins;
    - a frame that is more than one frame period late when it is read (nobody took the frames
      while the consumer was busy) is dropped at capture, counted in `skipped`, for the newer
      frame that is due, exactly as a camera overwrites a frame nobody took;
    - when decoding itself is slower than the clock (one frame took longer than a frame
      period to decode, or a loop's reopen took a moment), the clock is moved on to now
      instead (the lost time is counted in `late_seconds`): the file then plays a little slower
      rather than every later frame arriving late.

    Each frame's capture time is the moment it became due on that clock; capture-to-display
    latency therefore measures the pipeline, as with a webcam.

    Args:
        path: the video (probed now: a bad file is an InputError here).
        loop: start again at the end (for soak tests and demos), else `read()` returns None.
        stop: an Event that ends a wait early.
    Attributes: `size` (W, H), `fps` (Fraction), `name`, `frame_index` (of the last frame read,
    counting from 0 in the file; restarts with each loop), `delivered` (frames returned),
    `skipped` (frames dropped at capture because they were late), `late_seconds` (clock moved
    on because decoding fell behind), `passes` (times the file was started).
    """

    def __init__(self, path: str | Path, loop: bool = False, stop: threading.Event | None = None) -> None:
        self.path = Path(path)
        self.info = VideoInfo.from_path(self.path)
        self.size = self.info.size
        self.fps: Fraction = self.info.fps
        self.loop = loop
        self.name = f"file {self.path.name}"
        self.frame_index = -1
        self._stop = stop or threading.Event()
        self._frames: Iterator | None = None
        self._reader: VideoReader | None = None
        self._period = 1.0 / float(self.fps) if self.fps else 1.0 / 30.0
        self._t0: float | None = None  # wall clock of timestamp 0 of the first pass (None: not started)
        self._offset = 0.0   # seconds of earlier passes (loops)
        self._last_ts = 0.0
        self.passes = 0
        self.delivered = 0
        self.skipped = 0
        self.late_seconds = 0.0

    def _start_pass(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self._reader = VideoReader(self.path, queue_size=4)
        self._frames = iter(self._reader)
        self.passes += 1

    def open(self) -> FileCamera:
        """Start decoding (the clock starts at the first `read()`)."""
        if self._frames is None:
            self._start_pass()
        return self

    def _next(self) -> tuple[Frame, float] | None:
        """(the next frame, the loop offset of its pass); None at the end when not looping."""
        frame = next(self._frames, None)  # type: ignore[arg-type]
        if frame is None:
            if not self.loop:
                return None
            # The next pass starts one frame after the last frame of this one.
            self._offset += self._last_ts + self._period
            self._start_pass()
            frame = next(self._frames, None)  # type: ignore[arg-type]
            if frame is None:
                return None
        self._last_ts = frame.timestamp
        return frame, self._offset

    def read(self) -> tuple[np.ndarray, float] | None:
        """The frame due now (waiting until it is due); None at the end (when not looping)."""
        if self._frames is None:
            self.open()
        got = self._next()
        if got is None:
            return None
        frame, offset = got
        now = time.perf_counter()
        if self._t0 is None:
            self._t0 = now - offset - frame.timestamp
        due = self._t0 + offset + frame.timestamp
        while now - due > self._period:
            # Stale: a newer frame is due. Take it, unless decoding itself is slower than the
            # clock (one frame took longer than a frame period): then stop and move the clock.
            t_ask = time.perf_counter()
            newer = self._next()
            now = time.perf_counter()
            if newer is None:
                break                                 # the file ended: this is the last one
            self.skipped += 1
            frame, offset = newer
            due = self._t0 + offset + frame.timestamp
            if now - t_ask > self._period:
                break
        if now - due > self._period:
            self.late_seconds += now - due            # decoding fell behind: move the clock on
            self._t0 += now - due
            due = now
        wait = due - time.perf_counter()
        if wait > 0:
            self._stop.wait(wait)
        self.frame_index = frame.index
        self.delivered += 1
        return frame.image, due

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._frames = None


class OpenCVCamera:
    """A webcam through OpenCV (V4L2 backend on Linux).

    Args:
        index: the camera number (/dev/videoN).
        size: (W, H) to ask the driver for (None: its default).
        fps: frame rate to ask for (None: its default).
    Raises InputError listing the cameras that exist when `index` cannot be opened.
    """

    def __init__(self, index: int, size: tuple[int, int] | None = None, fps: float | None = None) -> None:
        self.index = int(index)
        self.name = f"camera {self.index}"
        self.req_size = size
        self.req_fps = fps
        self._cap: cv2.VideoCapture | None = None
        self.size: tuple[int, int] = size or (0, 0)
        self.fps: Fraction = Fraction(fps or 30).limit_denominator(1001)
        self.frame_index = -1

    def open(self) -> OpenCVCamera:
        if self._cap is not None:  # already open (idempotent)
            return self
        api = cv2.CAP_V4L2 if hasattr(cv2, "CAP_V4L2") and Path("/dev").exists() else cv2.CAP_ANY
        cap = cv2.VideoCapture(self.index, api)
        if not cap.isOpened():
            cap.release()
            cams = list_cameras()
            have = f"cameras that exist: {', '.join(cams)}" if cams else "no camera was found on this machine"
            raise InputError(f"camera {self.index}", f"cannot be opened ({have})",
                             "pick another --camera, or use --source FILE")
        # One buffered frame: a driver queue of 4 would add 4 frame times of latency.
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        if self.req_size is not None:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.req_size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.req_size[1])
        if self.req_fps is not None:
            cap.set(cv2.CAP_PROP_FPS, float(self.req_fps))
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        f = cap.get(cv2.CAP_PROP_FPS)
        self.size = (w, h) if w and h else self.size
        if f and f > 0:
            self.fps = Fraction(f).limit_denominator(1001)
        self._cap = cap
        log.info("%s: %dx%d at %s fps", self.name, *self.size, rate_text(self.fps))
        return self

    def read(self) -> tuple[np.ndarray, float] | None:
        """The next frame (BGR from the driver -> RGB); None when the camera stops delivering
        (unplugged): the run then ends cleanly."""
        if self._cap is None:
            self.open()
        ok, bgr = self._cap.read()  # type: ignore[union-attr]
        t = time.perf_counter()
        if not ok or bgr is None:
            log.warning("%s stopped delivering frames (disconnected?)", self.name)
            return None
        self.frame_index += 1
        if self.size == (0, 0):
            self.size = (bgr.shape[1], bgr.shape[0])
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), t

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class PushedFrames:
    """A camera whose frames are pushed in by someone else (a browser page over the network).

    The live pipeline reads it like any camera (`read()` blocks until a frame is due); the
    network side calls `push()` with each compressed frame as it arrives. It is latest-wins like
    the pipeline's own hand-offs: a frame pushed while the previous one is still unread replaces
    it (counted in `dropped`), and a frame is only decoded when the pipeline takes it, so a flood
    of frames costs no decoding. `close()` (the page went away) makes `read()` return None: the
    run ends cleanly and frees its resources.

    Args:
        size: (W, H) every frame must have (the page declares it when it starts).
        fps: the rate the page sends at (the pose filter's nominal rate).
        decode: bytes -> uint8 RGB (H, W, 3); raises ValueError for a frame that is not one.
        name: for logs and reports.
    Attributes: `size`, `fps`, `name`, `frame_index` (the page's id of the last frame read),
    `pushed`, `dropped`, `error` (why a frame could not be decoded; the run ended on it).
    """

    def __init__(self, size: tuple[int, int], fps: float, decode, name: str = "pushed frames") -> None:
        self.size = (int(size[0]), int(size[1]))
        self.fps: Fraction = Fraction(fps).limit_denominator(1001)
        self.name = name
        self.frame_index = -1
        self.pushed = 0
        self.dropped = 0
        self.error: str | None = None
        self._decode = decode
        self._cond = threading.Condition()
        self._item: tuple[int, bytes, float] | None = None
        self._closed = False

    def open(self) -> PushedFrames:
        return self

    def push(self, frame_id: int, data: bytes, t_capture: float | None = None) -> None:
        """Hand in one compressed frame (never blocks; an unread frame is replaced)."""
        t = time.perf_counter() if t_capture is None else t_capture
        with self._cond:
            if self._closed:
                return
            if self._item is not None:
                self.dropped += 1
            self._item = (int(frame_id), data, t)
            self.pushed += 1
            self._cond.notify_all()

    def read(self) -> tuple[np.ndarray, float] | None:
        """The newest frame, decoded (waits for one); None once closed or on a frame that does
        not decode (`error` says why)."""
        with self._cond:
            while self._item is None and not self._closed:
                self._cond.wait(timeout=0.5)
            if self._closed:
                return None
            frame_id, data, t = self._item  # type: ignore[misc]
            self._item = None
        try:
            image = self._decode(data)
        except ValueError as e:
            self.error = str(e)
            log.warning("%s: %s", self.name, e)
            self.close()
            return None
        if image.shape[1::-1] != self.size:
            self.error = f"frame is {image.shape[1]}x{image.shape[0]}, declared {self.size[0]}x{self.size[1]}"
            self.close()
            return None
        self.frame_index = frame_id
        return image, t

    def close(self) -> None:
        """No more frames: a waiting `read()` returns None (idempotent)."""
        with self._cond:
            self._closed = True
            self._item = None
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
