"""Threaded video reader: PyAV decodes in a background thread into a bounded queue; the
consumer iterates `rtmotion.types.Frame`s (uint8 RGB, rotation applied)."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np

from rtmotion.errors import InputError
from rtmotion.io._common import apply_rotation
from rtmotion.io.info import VideoInfo, open_container
from rtmotion.types import Frame

log = logging.getLogger(__name__)

_END = object()  # end-of-stream sentinel on the queue


class _Failure:
    """An exception raised in the decode thread, carried to the consumer through the queue."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def to_rgb(frame: Any, rotation: int = 0) -> np.ndarray:
    """A decoded PyAV VideoFrame of any pixel format (8/10-bit YUV, RGB, gray...) and any size
    (odd too) as uint8 RGB, shape (H, W, 3), C-contiguous, turned `rotation` degrees clockwise."""
    image = frame.to_ndarray(format="rgb24")  # swscale handles format, bit depth and odd sizes
    return np.ascontiguousarray(apply_rotation(image, rotation))


class VideoReader:
    """Iterate the frames of a video file as `Frame(index, timestamp, image)`.

    Args:
        path: the video file. It is probed on construction (`self.info`), so a bad file raises
            InputError here, before any thread starts.
        start: first frame index to yield (0-based, in presentation order).
        end: stop before this frame index (None: to the end).
        stride: yield every `stride`-th frame from `start` (indices start, start+stride, ...).
        threaded: decode in a background thread (bounded queue of `queue_size` frames) so decoding
            overlaps the consumer's work; False decodes in the caller's thread.
        queue_size: frames buffered ahead when threaded (memory: queue_size * H * W * 3 bytes).
        strict: what to do when the stream breaks off after some frames decoded (truncated
            download, damaged tail, fewer frames than the container promised). False (default):
            yield every frame that decodes and log a warning naming the file and the counts —
            a nearly complete file stays usable. True: raise InputError at that point.
            A file that yields no frame at all is always an InputError.

    Frames: `index` counts decoded frames from 0 in presentation order; `timestamp` is
    (pts - stream start) * time_base in seconds (exact Fractions, converted to float at the end),
    or index / fps when a frame has no pts; `image` is uint8 RGB (H, W, 3) with the rotation
    metadata applied (H, W match `info.height`, `info.width`).

    Errors in the decode thread are re-raised in the consumer: PyAV/FFmpeg errors as InputError
    naming the file, anything else as-is.
    """

    def __init__(
        self,
        path: str | Path,
        start: int = 0,
        end: int | None = None,
        stride: int = 1,
        threaded: bool = True,
        queue_size: int = 8,
        *,
        strict: bool = False,
    ) -> None:
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        if end is not None and end < start:
            raise ValueError(f"end ({end}) must be >= start ({start})")
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.path = Path(path)
        self.info: VideoInfo = VideoInfo.from_path(self.path)
        self.start, self.end, self.stride = int(start), end, int(stride)
        self.threaded = threaded
        self.queue_size = int(queue_size)
        self.strict = strict
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._queue: queue.Queue[Any] | None = None
        self._container: Any = None
        self._iterating = False

    def __len__(self) -> int:
        """Number of frames this reader will yield, from `info.frame_count` (estimated when
        `info.frame_count_exact` is False)."""
        stop = self.info.frame_count if self.end is None else min(self.end, self.info.frame_count)
        return max(0, -(-(stop - self.start) // self.stride))

    # -- decoding (runs in the worker thread when threaded) ------------------------------
    def _decode(self) -> Iterator[Frame]:
        container = open_container(self.path)
        self._container = container
        try:
            stream = container.streams.video[0]
            # Let FFmpeg use its own threads for the decode itself (frame/slice threading).
            with contextlib.suppress(Exception):
                stream.thread_type = "AUTO"
            tb = Fraction(stream.time_base) if stream.time_base else None
            t0 = stream.start_time if stream.start_time is not None else None
            fps = self.info.fps
            index = -1
            yielded = 0
            try:
                for frame in container.decode(stream):
                    if self._stop.is_set():
                        return
                    index += 1
                    if index < self.start:
                        continue  # skipped frames are decoded (needed) but never converted
                    if self.end is not None and index >= self.end:
                        return
                    if (index - self.start) % self.stride:
                        continue
                    if frame.pts is not None and tb is not None:
                        if t0 is None:
                            t0 = frame.pts
                        ts = float((frame.pts - t0) * tb)
                    else:
                        ts = float(Fraction(index) / fps)
                    yield Frame(index=index, timestamp=ts, image=to_rgb(frame, self.info.rotation))
                    yielded += 1
            except av.FFmpegError as e:
                reason = getattr(e, "strerror", None) or str(e)
                if index < 0 or self.strict:
                    raise InputError(
                        self.path,
                        f"decoding failed after {index + 1} frames ({reason})",
                        "the file may be truncated or damaged",
                    ) from None
                log.warning(
                    "%s: decoding stopped after %d frames (%s); the rest of the file is unreadable",
                    self.path, index + 1, reason,
                )
                return
            decoded = index + 1
            if decoded == 0:
                raise InputError(self.path, "contains no decodable video frames")
            if self.info.frame_count_exact and decoded < self.info.frame_count and (
                self.end is None or self.end > decoded
            ):
                msg = f"only {decoded} of {self.info.frame_count} frames could be decoded"
                if self.strict:
                    raise InputError(self.path, msg, "the file is probably truncated")
                log.warning("%s: %s (file probably truncated)", self.path, msg)
        finally:
            self._container = None
            container.close()

    def _worker(self, q: queue.Queue[Any]) -> None:
        try:
            for item in self._decode():
                if not self._put(q, item):
                    return
            self._put(q, _END)
        except BaseException as e:  # carried to the consumer, re-raised there
            self._put(q, _Failure(e))

    def _put(self, q: queue.Queue[Any], item: Any) -> bool:
        """Blocking put that gives up when the reader is closed; False if it gave up."""
        while not self._stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    # -- consumer side -------------------------------------------------------------------
    def __iter__(self) -> Iterator[Frame]:
        if self._iterating:
            raise RuntimeError(f"VideoReader({self.path}) is already being iterated; make a new one")
        self._iterating = True
        if not self.threaded:
            try:
                yield from self._decode()
            finally:
                self._iterating = False
            return
        self._stop.clear()
        q: queue.Queue[Any] = queue.Queue(maxsize=self.queue_size)
        self._queue = q
        self._thread = threading.Thread(
            target=self._worker, args=(q,), name=f"decode:{self.path.name}", daemon=True
        )
        self._thread.start()
        try:
            while True:
                item = q.get()
                if item is _END:
                    return
                if isinstance(item, _Failure):
                    raise item.exc
                yield item
        finally:
            self._shutdown()
            self._iterating = False

    def _shutdown(self) -> None:
        self._stop.set()
        q, t = self._queue, self._thread
        if q is not None:
            with contextlib.suppress(queue.Empty):
                while True:  # unblock a worker waiting on a full queue
                    q.get_nowait()
        if t is not None and t is not threading.current_thread():
            t.join(timeout=10)
            if t.is_alive():
                log.warning("decode thread for %s did not stop within 10 s", self.path)
        self._thread = None
        self._queue = None

    def close(self) -> None:
        """Stop the decode thread (if any) and release the file. Safe to call twice."""
        self._shutdown()
        if not self.threaded and self._container is not None:
            # A non-threaded iteration abandoned mid-way holds the file open: release it now.
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def frames_at(path: str | Path, indices: Iterable[int]) -> Iterator[Frame]:
    """Yield the frames of `path` whose indices are in `indices`, in video order (every frame up
    to the last one wanted is decoded). An index past the video's end is not yielded."""
    wanted = {int(i) for i in indices}
    if not wanted:
        return
    with VideoReader(path, end=max(wanted) + 1) as reader:
        for frame in reader:
            if frame.index in wanted:
                yield frame


def read_frames(path: str | Path, **kw: Any) -> Iterator[Frame]:
    """Yield the frames of `path` (see `VideoReader` for the keyword arguments); the file and the
    decode thread are released when the iteration ends or the generator is closed."""
    with VideoReader(path, **kw) as reader:
        yield from reader
