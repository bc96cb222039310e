"""Test media makers for tests/io, with plain PyAV (small: 64x48 .. 321x239, 10-30 frames).

A uniquely named module (not conftest) so that test files can import it without clashing with
other test folders' conftest modules."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest


def pattern(index: int, width: int, height: int) -> np.ndarray:
    """A frame that is easy to recognise after lossy coding: uint8 RGB (H, W, 3).

    Background brightness encodes the index (steps of 8), a red 8x8 block marks the top-left
    corner (to check rotation), a green block the bottom-right.
    """
    img = np.empty((height, width, 3), np.uint8)
    img[:] = (16 + 8 * index) % 256
    img[:8, :8] = (255, 0, 0)
    img[-8:, -8:] = (0, 255, 0)
    return img


def frame_level(image: np.ndarray) -> float:
    """Mean gray level of the image centre (recovers `pattern`'s background brightness)."""
    h, w = image.shape[:2]
    return float(image[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].mean())


def make_video(
    path: Path,
    n: int = 12,
    size: tuple[int, int] = (64, 48),
    rate: Fraction | int = 10,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    rotation_ccw: int | None = None,
    container_options: dict[str, str] | None = None,
    noise: bool = False,
) -> list[np.ndarray]:
    """Write `n` `pattern` frames with plain PyAV (independent of rtmotion's writer).

    Returns the RGB frames written. `rotation_ccw` stores a display matrix (PyAV's
    `set_display_rotation`, counter-clockwise degrees); `noise` adds random pixels so frames
    are big (to truncate files mid-stream).
    """
    w, h = size
    rng = np.random.default_rng(0)
    frames = []
    with av.open(str(path), "w", options=container_options or {}) as c:
        s = c.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        if codec == "libx264":
            s.options = {"preset": "ultrafast", "crf": "10"}
        if rotation_ccw is not None:
            if not hasattr(s, "set_display_rotation"):
                pytest.skip("this PyAV cannot write a display matrix (no VideoStream.set_display_rotation)")
            s.set_display_rotation(rotation_ccw)
        for i in range(n):
            img = pattern(i, w, h)
            if noise:
                img[16:32, 16:32] = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
                img[h // 2 :, : w // 2] = rng.integers(0, 255, (h - h // 2, w // 2, 3), dtype=np.uint8)
            frames.append(img)
            f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format=pix_fmt)
            f.pts = i
            f.time_base = 1 / Fraction(rate)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return frames


def make_tone(path: Path, codec: str = "aac", seconds: float = 2.0, rate: int = 44100, hz: float = 440.0) -> None:
    """A mono sine tone (int16 amplitude 10000) encoded with `codec` ('aac' -> .m4a, 'pcm_s16le' -> .wav)."""
    n = int(seconds * rate)
    x = (np.sin(2 * np.pi * hz * np.arange(n) / rate) * 10000).astype(np.int16)
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.codec_context.layout = "mono"
        for i in range(0, n, 1024):
            fr = av.AudioFrame.from_ndarray(x[None, i : i + 1024], format="s16", layout="mono")
            fr.sample_rate = rate
            fr.pts = i
            for p in s.encode(fr):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


def make_av_file(path: Path, n: int = 25, rate: int = 25) -> None:
    """An MP4 with H.264 video (`pattern`) and an AAC 440 Hz tone, both n / rate seconds long."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=rate)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        v.options = {"preset": "ultrafast"}
        a = c.add_stream("aac", rate=44100)
        a.codec_context.layout = "mono"
        samples = int(n / rate * 44100)
        x = (np.sin(2 * np.pi * 440 * np.arange(samples) / 44100) * 10000).astype(np.int16)
        for i in range(n):
            f = av.VideoFrame.from_ndarray(pattern(i, 64, 48), format="rgb24")
            f.pts = i
            for p in v.encode(f):
                c.mux(p)
        for i in range(0, samples, 1024):
            fr = av.AudioFrame.from_ndarray(x[None, i : i + 1024], format="s16", layout="mono")
            fr.sample_rate, fr.pts = 44100, i
            for p in a.encode(fr):
                c.mux(p)
        for s in (v, a):
            for p in s.encode(None):
                c.mux(p)
