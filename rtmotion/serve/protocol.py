"""What the page and the server say to each other over the WebSocket, and its limits.

Page -> server:
- text `{"type": "start", "subject": NAME, "width": W, "height": H, "fps": F}`: (re)start this
  viewer's live pipeline for frames of W x H (a restart frees the previous one first);
- text `{"type": "stop"}` (frees the pipeline, keeps the connection), `{"type": "renormalize"}`;
- binary: a 4-byte big-endian frame id, then one JPEG of the declared size.

Server -> page:
- text `{"type": "hello", "subjects": [...], "bones": [[a, b], ...], "limits": {...}}` first;
- text `{"type": "started", ...}`, `{"type": "stopped", ...}`, `{"type": "error", "message": ...}`;
- binary: a 4-byte id (of the camera frame this result was made from; every id below it was
  shown or dropped), a 4-byte length, that many bytes of JSON (state, pose keypoints in the camera
  frame's pixels, server timings), then the generated frame as JPEG.

Everything the page sends is checked here before any work is done on it; a message that breaks
a rule raises `ProtocolError`, whose text is the reason logged and sent when the connection is
closed.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

#: a JPEG frame message's largest size (a 1920x1080 frame at quality 95 is about 1 MB)
MAX_FRAME_BYTES = 2 * 1024 * 1024
#: a text message's largest size
MAX_TEXT_BYTES = 4096
#: the largest camera frame accepted (either orientation), and the smallest side
MAX_SIDE = 1920
MAX_PIXELS = 1920 * 1080
MIN_SIDE = 16
#: frames per second a page may send on average (a camera gives 30-60), and the burst allowed
MAX_RATE = 120.0
MAX_BURST = 240.0
#: the result's JPEG quality
RESULT_QUALITY = 85

HEADER = struct.Struct(">I")        # frame id
RESULT_HEADER = struct.Struct(">II")  # frame id, JSON length


class ProtocolError(ValueError):
    """A message that breaks the protocol: its text is the reason the connection is closed."""


@dataclass(frozen=True)
class Start:
    subject: str
    width: int
    height: int
    fps: float


def limits() -> dict[str, int | float]:
    """The limits, as told to the page in the hello message."""
    return {"max_frame_bytes": MAX_FRAME_BYTES, "max_text_bytes": MAX_TEXT_BYTES,
            "max_side": MAX_SIDE, "max_pixels": MAX_PIXELS, "max_rate": MAX_RATE}


def parse_text(text: str, subjects: list[str]) -> dict[str, Any] | Start:
    """A text message -> `Start` or {"type": "stop" | "renormalize"}; ProtocolError otherwise."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise ProtocolError(f"text message over {MAX_TEXT_BYTES} bytes")
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("text message is not JSON") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ProtocolError("text message is not a JSON object with a \"type\"")
    kind = msg["type"]
    if kind in ("stop", "renormalize"):
        return {"type": kind}
    if kind != "start":
        raise ProtocolError(f"unknown message type {kind[:40]!r}")
    subject = msg.get("subject")
    if subject is None and subjects:
        subject = subjects[0]
    if not isinstance(subject, str) or subject not in subjects:
        raise ProtocolError(f"unknown subject {str(subject)[:60]!r} (served: {', '.join(subjects)})")
    w, h, fps = msg.get("width"), msg.get("height"), msg.get("fps", 30)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (w, h)):
        raise ProtocolError("start needs integer width and height")
    check_size(w, h)
    if not isinstance(fps, (int, float)) or isinstance(fps, bool) or not 1 <= fps <= 120:
        raise ProtocolError("start's fps must be a number from 1 to 120")
    return Start(subject, int(w), int(h), float(fps))


def check_size(w: int, h: int) -> None:
    """ProtocolError unless W x H is a frame size the server accepts."""
    if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE and w * h <= MAX_PIXELS):
        raise ProtocolError(f"frame size {w}x{h} outside the limits ({MIN_SIDE}..{MAX_SIDE} a side, "
                            f"{MAX_PIXELS} pixels)")


def parse_frame(data: bytes, size: tuple[int, int]) -> tuple[int, bytes]:
    """A binary message -> (frame id, JPEG bytes), after checking its size and that the JPEG's
    own header says the declared W x H (read without decoding: a small message cannot make the
    server decode a huge image)."""
    if len(data) > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame message over {MAX_FRAME_BYTES} bytes")
    if len(data) < HEADER.size + 4:
        raise ProtocolError("frame message too short")
    (frame_id,) = HEADER.unpack_from(data)
    jpeg = data[HEADER.size:]
    w, h = jpeg_size(jpeg)
    if (w, h) != tuple(size):
        raise ProtocolError(f"frame is {w}x{h}, the page declared {size[0]}x{size[1]}")
    return frame_id, jpeg


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(W, H) from a JPEG's start-of-frame marker, without decoding; ProtocolError when the
    bytes are not a JPEG with one."""
    if data[:2] != b"\xff\xd8":
        raise ProtocolError("frame is not a JPEG")
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            raise ProtocolError("frame is not a well-formed JPEG")
        marker = data[i + 1]
        if marker == 0xFF:          # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:   # no length
            i += 2
            continue
        seg = int.from_bytes(data[i + 2:i + 4], "big")
        if seg < 2:
            raise ProtocolError("frame is not a well-formed JPEG")
        # SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC)
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 9 > n:
                break
            h = int.from_bytes(data[i + 5:i + 7], "big")
            w = int.from_bytes(data[i + 7:i + 9], "big")
            return w, h
        if marker == 0xDA:          # start of scan before any frame header
            break
        i += 2 + seg
    raise ProtocolError("frame is a JPEG without a frame header")


def decode_jpeg(data: bytes) -> np.ndarray:
    """JPEG bytes -> uint8 RGB (H, W, 3); ValueError when they do not decode."""
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("frame does not decode as a JPEG")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_result(frame_id: int, meta: dict[str, Any], image: np.ndarray,
                  quality: int = RESULT_QUALITY) -> bytes:
    """The server's binary result message (module docstring): image is uint8 RGB (H, W, 3)."""
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                            [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    body = json.dumps(meta, separators=(",", ":")).encode("utf-8")
    return RESULT_HEADER.pack(int(frame_id) & 0xFFFFFFFF, len(body)) + body + jpeg.tobytes()


def decode_result(data: bytes) -> tuple[int, dict[str, Any], bytes]:
    """The inverse of `encode_result` (tests and tools): (frame id, meta, JPEG bytes)."""
    frame_id, n = RESULT_HEADER.unpack_from(data)
    start = RESULT_HEADER.size
    return frame_id, json.loads(data[start:start + n]), data[start + n:]


class RateLimit:
    """A token bucket: `take()` is False when a page sends faster than MAX_RATE on average
    (bursts of MAX_BURST allowed)."""

    def __init__(self, rate: float = MAX_RATE, burst: float = MAX_BURST, clock=None) -> None:
        import time

        self.rate, self.burst = float(rate), float(burst)
        self._clock = clock or time.monotonic
        self._tokens = self.burst
        self._t = self._clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._t) * self.rate)
        self._t = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
