"""`VideoInfo`: what a video file holds (size, exact fps, frame count, rotation, audio), probed
with PyAV, with one clear `InputError` for anything that is not a readable video."""

from __future__ import annotations

import logging
import math
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from rtmotion.errors import InputError
from rtmotion.io._common import normalize_rotation, to_fraction

log = logging.getLogger(__name__)

_NOT_A_VIDEO_HINT = "the file may be truncated, damaged or not a video; try another file"


def check_input_file(path: str | Path) -> Path:
    """Raise InputError unless `path` is an existing, non-empty regular file."""
    p = Path(path)
    if not p.exists():
        raise InputError(p, "file not found", "check the path")
    if p.is_dir():
        raise InputError(p, "is a directory, expected a video file")
    if not p.is_file():
        raise InputError(p, "is not a regular file")
    if p.stat().st_size == 0:
        raise InputError(p, "is empty (0 bytes)", "the file was not written completely; use another copy")
    return p


def open_container(path: str | Path) -> Any:
    """av.open(path) for reading, with PyAV/FFmpeg errors turned into one-line InputErrors."""
    p = check_input_file(path)
    try:
        return av.open(str(p), mode="r")
    except av.FFmpegError as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise InputError(p, f"cannot be read as a video ({reason})", _NOT_A_VIDEO_HINT) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(p, f"cannot be opened ({e})") from None


def display_matrix_rotation(matrix: bytes | bytearray | memoryview) -> float:
    """Counter-clockwise display rotation in degrees from FFmpeg's 3x3 display matrix side data.

    matrix: 36 bytes, nine native-endian int32 (16.16 fixed point for the 2x2 part), as in
    AV_PKT_DATA_DISPLAYMATRIX / AV_FRAME_DATA_DISPLAYMATRIX. Mirrors `av_display_rotation_get`:
    the frame must be turned this many degrees counter-clockwise to be shown upright.
    """
    m = struct.unpack("=9i", bytes(matrix)[:36])
    scale0 = math.hypot(m[0], m[3])
    scale1 = math.hypot(m[1], m[4])
    if scale0 == 0 or scale1 == 0:
        return 0.0
    return -math.degrees(math.atan2(m[1] / scale1, m[0] / scale0))


def _frame_rotation_ccw(frame: Any) -> float | None:
    """Counter-clockwise display rotation of a decoded frame, or None if it carries none.

    Newer PyAV exposes `VideoFrame.rotation`; otherwise look for a display matrix in the frame
    side data. (Feature detection, not version checks: PyAV 18 and 19 differ here.)
    """
    rot = getattr(frame, "rotation", None)
    if rot is not None:
        return float(rot)
    side = getattr(frame, "side_data", None)
    if side is None:
        return None
    try:
        for item in side:  # PyAV yields SideData objects (with .type) or keys, by version
            value = item if hasattr(item, "type") else side[item]
            kind = str(getattr(value, "type", item)).upper().replace(" ", "").replace("_", "")
            if "DISPLAYMATRIX" in kind:
                return display_matrix_rotation(bytes(value))
    except Exception:  # side-data API shapes differ across PyAV versions; rotation is optional
        log.debug("could not read frame side data", exc_info=True)
    return None


def stream_rotation(stream: Any, first_frame: Any | None) -> int:
    """Clockwise degrees (0/90/180/270) to turn decoded frames of `stream` for display.

    Old FFmpeg put it in the stream metadata ('rotate', clockwise); new FFmpeg keeps a display
    matrix (counter-clockwise angle) that decoders attach to every frame.
    """
    meta = getattr(stream, "metadata", {}) or {}
    if "rotate" in meta:
        try:
            return normalize_rotation(float(meta["rotate"]))
        except ValueError:
            log.debug("ignoring rotate metadata %r", meta["rotate"])
    if first_frame is not None:
        ccw = _frame_rotation_ccw(first_frame)
        if ccw is not None:
            return normalize_rotation(-ccw)
    return 0


def stream_fps(stream: Any) -> Fraction | None:
    """The stream's frame rate as an exact Fraction (average, else guessed, else base rate)."""
    for name in ("average_rate", "guessed_rate", "base_rate"):
        rate = getattr(stream, name, None)
        if rate:
            try:
                fr = to_fraction(rate)
            except (ValueError, ZeroDivisionError, TypeError):
                continue
            if 0 < fr < 1000:
                return fr
    return None


def first_decodable_frame(container: Any, stream: Any, path: Path) -> Any:
    """Decode frames until one comes out; InputError if none does (with the cause)."""
    try:
        for frame in container.decode(stream):
            return frame
    except av.FFmpegError as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise InputError(path, f"no video frame could be decoded ({reason})", _NOT_A_VIDEO_HINT) from None
    raise InputError(path, "contains no decodable video frames", _NOT_A_VIDEO_HINT)


@dataclass(frozen=True)
class VideoInfo:
    """Facts about a video file's first video stream.

    Attributes:
        path: the file.
        width, height: display size in pixels, *after* applying `rotation` (so a phone video
            stored 1920x1080 with rotation 90 reports 1080x1920, like the frames the reader gives).
        fps: exact frame rate (frames per second), e.g. Fraction(30000, 1001).
        frame_count: number of frames. Exact when the container stores it (MP4/MOV do);
            otherwise estimated as round(duration * fps) and `frame_count_exact` is False
            (MKV, WebM, MPEG-TS); the reader may then yield a few frames more or fewer.
        duration: seconds (stream duration, else container duration, else frame_count / fps).
        rotation: clockwise degrees (0, 90, 180, 270) the stored frames are turned for display.
        has_audio: whether the file has at least one audio stream.
        pix_fmt: decoded pixel format (e.g. 'yuv420p', 'yuv420p10le').
        codec: video decoder name (e.g. 'h264', 'hevc').
        frame_count_exact: see `frame_count`.
    """

    path: str
    width: int
    height: int
    fps: Fraction
    frame_count: int
    duration: float
    rotation: int
    has_audio: bool
    pix_fmt: str
    codec: str
    frame_count_exact: bool = True
    tags: dict[str, str] = field(default_factory=dict, compare=False)  # container metadata

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in display pixels."""
        return self.width, self.height

    @classmethod
    def from_path(cls, path: str | Path) -> VideoInfo:
        """Probe `path` (opens it and decodes its first frame to check it is really playable).

        Raises InputError (one line: file, problem, hint) for a missing file, a directory, an
        empty file, a truncated or damaged file (e.g. an MP4 whose index is missing), a file
        that is not media at all, an audio-only file, and a video without a decodable frame.
        """
        p = check_input_file(path)
        container = open_container(p)
        try:
            if not container.streams.video:
                what = "audio-only file" if container.streams.audio else "no video stream"
                raise InputError(p, f"has no video stream ({what})", "give a video file")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            first = first_decodable_frame(container, stream, p)
            rotation = stream_rotation(stream, first)
            fps = stream_fps(stream)
            if fps is None:
                log.warning("%s: no frame rate stored; assuming 30 fps", p)
                fps = Fraction(30)
            duration: float | None = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000  # AV_TIME_BASE microseconds
            exact = bool(stream.frames and stream.frames > 0)
            if exact:
                frame_count = int(stream.frames)
            elif duration is not None:
                frame_count = max(1, int(round(duration * fps)))
            else:
                frame_count = 1
            if duration is None or duration <= 0:
                duration = float(frame_count / fps)
            w = int(first.width or ctx.width)
            h = int(first.height or ctx.height)
            if rotation in (90, 270):
                w, h = h, w
            pix_fmt = first.format.name if first.format is not None else str(ctx.pix_fmt)
            return cls(
                path=str(p),
                width=w,
                height=h,
                fps=fps,
                frame_count=frame_count,
                duration=duration,
                rotation=rotation,
                has_audio=len(container.streams.audio) > 0,
                pix_fmt=pix_fmt,
                codec=str(ctx.name),
                frame_count_exact=exact,
                tags={str(k): str(v) for k, v in (container.metadata or {}).items()},
            )
        finally:
            container.close()
