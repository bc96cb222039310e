"""The serve protocol's checks, the pushed-frames camera and the y4m writer (no server)."""

from __future__ import annotations

import json
import threading
import time

import cv2
import numpy as np
import pytest

from rtmotion.io.camera import PushedFrames
from rtmotion.io.y4m import write_y4m
from rtmotion.serve import protocol
from rtmotion.serve.protocol import ProtocolError, RateLimit, Start


def jpeg(w: int, h: int, quality: int = 80, progressive: bool = False) -> bytes:
    img = np.random.default_rng(0).integers(0, 255, (h, w, 3), np.uint8)
    params = [int(cv2.IMWRITE_JPEG_QUALITY), quality]
    if progressive:
        params += [int(cv2.IMWRITE_JPEG_PROGRESSIVE), 1]
    return cv2.imencode(".jpg", img, params)[1].tobytes()


@pytest.mark.parametrize("w,h,progressive", [(320, 240, False), (17, 1080, False), (640, 480, True)])
def test_jpeg_size_reads_the_frame_header(w, h, progressive) -> None:
    assert protocol.jpeg_size(jpeg(w, h, progressive=progressive)) == (w, h)


@pytest.mark.parametrize("data", [b"", b"\xff\xd8", b"GIF89a....", b"\xff\xd8\xff\xe0\x00\x01",
                                  b"\xff\xd8\xff\xda\x00\x08abcdef", b"\xff\xd8" + b"\x00" * 100])
def test_jpeg_size_rejects_what_is_not_a_jpeg(data) -> None:
    with pytest.raises(ProtocolError):
        protocol.jpeg_size(data)


def test_parse_frame_checks_size_and_declared_dimensions() -> None:
    body = jpeg(64, 48)
    assert protocol.parse_frame(protocol.HEADER.pack(7) + body, (64, 48)) == (7, body)
    with pytest.raises(ProtocolError, match="declared"):
        protocol.parse_frame(protocol.HEADER.pack(7) + body, (48, 64))
    with pytest.raises(ProtocolError, match="too short"):
        protocol.parse_frame(b"\x00\x00", (64, 48))
    with pytest.raises(ProtocolError, match="over"):
        protocol.parse_frame(b"\x00" * (protocol.MAX_FRAME_BYTES + 1), (64, 48))


def test_parse_text() -> None:
    subjects = ["a", "b"]
    start = protocol.parse_text(json.dumps({"type": "start", "subject": "b", "width": 320,
                                            "height": 240, "fps": 30}), subjects)
    assert start == Start("b", 320, 240, 30.0)
    assert protocol.parse_text('{"type": "start", "width": 32, "height": 32}', subjects).subject == "a"
    assert protocol.parse_text('{"type": "stop"}', subjects) == {"type": "stop"}
    bad = ["not json", "[1, 2]", '{"no": "type"}', '{"type": "launch"}',
           '{"type": "start", "subject": "zz", "width": 32, "height": 32}',
           '{"type": "start", "width": "32", "height": 32}',
           '{"type": "start", "width": true, "height": 32}',
           '{"type": "start", "width": 100000, "height": 100000}',
           '{"type": "start", "width": 1920, "height": 1920}',
           '{"type": "start", "width": 8, "height": 32}',
           '{"type": "start", "width": 32, "height": 32, "fps": 1e9}',
           "[" * 100000, '{"type": "stop", "pad": "' + "x" * 5000 + '"}']
    for text in bad:
        with pytest.raises(ProtocolError):
            protocol.parse_text(text, subjects)


def test_result_message_round_trip() -> None:
    image = np.zeros((40, 30, 3), np.uint8)
    image[10:20, 5:15] = (200, 30, 30)
    fid, meta, body = protocol.decode_result(protocol.encode_result(12, {"state": "person"}, image))
    assert fid == 12 and meta == {"state": "person"}
    back = protocol.decode_jpeg(body)
    assert back.shape == (40, 30, 3) and abs(int(back[15, 10, 0]) - 200) < 20


def test_rate_limit_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    rate = RateLimit(rate=10, burst=5, clock=lambda: now[0])
    assert all(rate.take() for _ in range(5)) and not rate.take()
    now[0] += 0.5
    assert sum(rate.take() for _ in range(10)) == 5


def test_pushed_frames_latest_wins_and_close_ends_reads() -> None:
    src = PushedFrames((64, 48), 30, protocol.decode_jpeg)
    for i in range(3):
        src.push(i, jpeg(64, 48))
    image, _ = src.read()
    assert image.shape == (48, 64, 3) and src.frame_index == 2 and src.dropped == 2
    got = []
    t = threading.Thread(target=lambda: got.append(src.read()))
    t.start()
    time.sleep(0.1)
    src.close()
    t.join(timeout=2)
    assert got == [None] and not t.is_alive()


def test_pushed_frames_bad_frame_ends_the_source_with_a_reason() -> None:
    src = PushedFrames((64, 48), 30, protocol.decode_jpeg)
    src.push(1, b"\xff\xd8garbage")
    assert src.read() is None and "decode" in (src.error or "")
    src = PushedFrames((64, 48), 30, protocol.decode_jpeg)
    src.push(1, jpeg(32, 32))
    assert src.read() is None and "declared" in (src.error or "")


def test_y4m_header_and_frames(tmp_path) -> None:
    frames = [np.full((6, 8, 3), v, np.uint8) for v in (0, 128, 255)]
    path = tmp_path / "a.y4m"
    assert write_y4m(path, frames, fps=30) == 3
    data = path.read_bytes()
    header, rest = data.split(b"\n", 1)
    assert header == b"YUV4MPEG2 W8 H6 F30:1 Ip A1:1 C420jpeg"
    assert rest.count(b"FRAME\n") == 3 and len(data) == len(header) + 1 + 3 * (6 + 8 * 6 * 3 // 2)
    with pytest.raises(ValueError, match="even"):
        write_y4m(tmp_path / "b.y4m", [np.zeros((5, 8, 3), np.uint8)])
