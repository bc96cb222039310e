"""H.264 video writer (PyAV) with exact frame rates, atomic output and optional audio remux."""

from __future__ import annotations

import contextlib
import logging
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np

from rtmotion.atomic import atomic_path, check_writable
from rtmotion.errors import InputError, OutputError
from rtmotion.io._common import even_size, rate_text, to_fraction
from rtmotion.io.audio import AudioCopier, has_audio_stream

log = logging.getLogger(__name__)


#: The video file types the writers make (H.264 + AAC containers); every command that writes a
#: video checks its output name against these.
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".mov", ".m4v", ".mkv")


#: x264 preset of the videos rtmotion makes while it runs (convert's result, live --record):
#: at 512x512 "veryfast" encodes a frame in a third of "medium"'s time (4.5 against 13.8 ms
#: on the 2-core dev machine, 2026-12-03) at the same CRF and file size within 5 %.
REALTIME_PRESET = "veryfast"


class VideoWriter:
    """Write uint8 RGB frames to a video file (H.264 in MP4, yuv420p by default).

    Usage::

        with VideoWriter("out.mp4", fps=Fraction(30000, 1001), audio_from="source.mp4") as w:
            for image in images:          # uint8 RGB, (H, W, 3)
                w.write(image)

    Behaviour:
    - Frame rate is exact: `fps` becomes a Fraction (29.97 snaps to 30000/1001), the encoder's
      time base is 1/fps and frame i gets pts i, so frame i is shown at i / fps seconds.
    - Size: `size` = (width, height); if None, the first frame fixes it. Every frame must have
      that size (ValueError otherwise). yuv420p needs even dimensions: an odd width/height is
      padded by one column/row *repeating the edge pixels* (not black, so no dark seam appears
      in the chroma of the last column). `output_size` tells the size actually stored.
    - Atomic: frames go to a temporary name beside `path` (see `rtmotion.atomic.atomic_path`)
      which is renamed to `path` only when `close()` succeeds. An exception inside a `with` block
      (or `abort()`) removes the temporary file; `path` is never created.
    - Unwritable `path` -> OutputError in the constructor, before any work.
    - `audio_from`: if that file has an audio stream it is muxed into the output, copied as-is
      when MP4 can hold its codec (AAC, MP3, ...) else transcoded to AAC, and cut at the
      video's end. A file without audio is logged and ignored; a missing file is an InputError.
    - `metadata`: container tags to store, e.g. {"comment": "..."}; read back in VideoInfo.tags.
    """

    def __init__(
        self,
        path: str | Path,
        fps: Fraction | float | int,
        size: tuple[int, int] | None = None,
        *,
        audio_from: str | Path | None = None,
        crf: int = 18,
        preset: str = "medium",
        codec: str = "libx264",
        pix_fmt: str = "yuv420p",
        metadata: dict[str, str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.fps: Fraction = to_fraction(fps)
        self.crf = int(crf)
        self.preset = preset
        self.codec = codec
        self.pix_fmt = pix_fmt
        self.audio_from = None if audio_from is None else Path(audio_from)
        self.frames_written = 0
        self.size: tuple[int, int] | None = None  # (width, height) of the frames given
        self.output_size: tuple[int, int] | None = None  # (width, height) stored in the file
        self._container: Any = None
        self._stream: Any = None
        self._audio: Any = None
        self._closed = False

        check_writable(self.path)
        if self.audio_from is not None and not self.audio_from.is_file():
            raise InputError(self.audio_from, "audio source not found", "check the path given for audio")
        self._atomic = contextlib.ExitStack()
        tmp = self._atomic.enter_context(atomic_path(self.path))
        self._tmp = tmp
        try:
            import av

            self._container = av.open(str(tmp), mode="w")
            # Container tags (MP4 keeps the standard keys: title, comment, ...).
            for key, value in (metadata or {}).items():
                self._container.metadata[key] = str(value)
            if size is not None:
                self._open_stream(int(size[0]), int(size[1]))
        except BaseException as e:
            self._abort_quietly(e)
            raise

    # -- setup ---------------------------------------------------------------------------
    def _open_stream(self, width: int, height: int) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"frame size must be positive, got {width}x{height}")
        self.size = (width, height)
        self.output_size = even_size(width, height, self.pix_fmt)
        stream = self._container.add_stream(self.codec, rate=self.fps)
        stream.width, stream.height = self.output_size
        stream.pix_fmt = self.pix_fmt
        stream.codec_context.time_base = 1 / self.fps
        if self.codec in ("libx264", "libx265"):
            stream.options = {"crf": str(self.crf), "preset": self.preset}
        self._stream = stream
        if self.audio_from is not None:
            if has_audio_stream(self.audio_from):
                fmt = self._container.format.name.split(",")[0]
                self._audio = AudioCopier(self.audio_from, self._container, container_format=fmt)
            else:
                log.info("%s has no audio stream; writing %s without audio", self.audio_from, self.path)
        if (width, height) != self.output_size:
            log.debug("padding %dx%d to %dx%d for %s", width, height, *self.output_size, self.pix_fmt)

    # -- writing -------------------------------------------------------------------------
    def write(self, image: np.ndarray) -> None:
        """Encode one frame. image: uint8 RGB, shape (H, W, 3)."""
        image = self._checked_frame(image)
        # Frame i is shown at i / fps; its audio runs until (i + 1) / fps.
        self._encode(image, self.frames_written, Fraction(self.frames_written + 1) / self.fps)

    def _checked_frame(self, image: np.ndarray) -> np.ndarray:
        """`image` checked (uint8 RGB (H, W, 3), this video's size; the stream opens on the first
        frame) and edge-padded to the encoder's even size."""
        if self._closed:
            raise ValueError(f"VideoWriter for {self.path} is closed")
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            desc = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
            raise ValueError(f"expected a uint8 RGB image of shape (H, W, 3), got {desc}")
        h, w = image.shape[:2]
        if self._stream is None:
            self._open_stream(w, h)
        if (w, h) != self.size:
            raise ValueError(f"frame {self.frames_written} is {w}x{h}, but this video is {self.size[0]}x{self.size[1]}")
        ow, oh = self.output_size  # type: ignore[misc]
        if (ow, oh) != (w, h):
            image = np.pad(image, ((0, oh - h), (0, ow - w), (0, 0)), mode="edge")
        return image

    def _encode(self, image: np.ndarray, pts: int, audio_until: Fraction) -> None:
        """Encode a checked frame at `pts` (in the stream's time base), then mux the audio that
        starts before `audio_until` seconds (the frame's end), keeping the two interleaved."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts = pts
        frame.time_base = self._stream.codec_context.time_base
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1
        if self._audio is not None:
            self._audio.pump(audio_until)

    @property
    def duration(self) -> float:
        """Seconds of video written so far (frames_written / fps)."""
        return float(Fraction(self.frames_written) / self.fps)

    # -- closing -------------------------------------------------------------------------
    def close(self) -> None:
        """Flush the encoder, finish the audio, and move the file to its final name.

        Raises OutputError if no frame was written (nothing is left on disk then).
        """
        if self._closed:
            return
        self._closed = True
        try:
            if self.frames_written == 0:
                raise OutputError(self.path, "no frames were written", "the input produced no frames")
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            if self._audio is not None:
                self._audio.finish(Fraction(self.frames_written) / self.fps)
                self._audio = None
            self._container.close()
            self._container = None
        except BaseException as e:
            self._abort_quietly(e)
            raise
        self._atomic.close()  # renames the temporary file onto self.path
        log.debug("wrote %s: %d frames at %s fps", self.path, self.frames_written, rate_text(self.fps))

    def abort(self) -> None:
        """Stop writing and remove the temporary file; `path` is not created."""
        if self._closed:
            return
        self._closed = True
        self._abort_quietly(RuntimeError("aborted"))

    def _abort_quietly(self, exc: BaseException) -> None:
        self._closed = True
        if self._audio is not None:
            with contextlib.suppress(Exception):
                self._audio.close()
            self._audio = None
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
        # Hand the exception to atomic_path so it deletes the temporary file instead of renaming.
        with contextlib.suppress(BaseException):
            self._atomic.__exit__(type(exc), exc, exc.__traceback__)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        # A writer dropped without close() must not leave its temporary file behind.
        if not getattr(self, "_closed", True):
            with contextlib.suppress(Exception):
                self.abort()
