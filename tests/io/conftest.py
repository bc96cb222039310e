"""Fixtures for tests/io: real test media made with PyAV once per session."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest

from iomedia import make_av_file, make_tone, make_video


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """media(name) -> path of a test file, made once per session on first use."""
    root = tmp_path_factory.mktemp("io_media")
    made: dict[str, Path] = {}

    def build(name: str) -> Path:
        if name in made:
            return made[name]
        p = root / name
        if name == "basic.mp4":  # 64x48, 12 frames, 10 fps, 8-bit
            make_video(p)
        elif name == "ten_bit.mp4":  # libx264 accepts yuv420p10le in this FFmpeg build
            make_video(p, size=(96, 64), pix_fmt="yuv420p10le")
        elif name == "odd.mkv":  # odd size needs a codec without chroma subsampling limits
            make_video(p, size=(321, 239), codec="ffv1", pix_fmt="yuv444p", n=10)
        elif name == "ntsc.mp4":
            make_video(p, n=30, rate=Fraction(30000, 1001))
        elif name.startswith("rot"):  # rot90.mp4: display matrix turning 90 degrees CCW
            make_video(p, n=5, rotation_ccw=int(name[3:].split(".")[0].replace("m", "-")))
        elif name == "big_faststart.mp4":  # index at the front, so a cut file still opens
            make_video(p, n=30, noise=True, container_options={"movflags": "faststart"})
        elif name == "tone.m4a":
            make_tone(p, "aac")
        elif name == "tone.wav":
            make_tone(p, "pcm_s16le")
        elif name == "with_audio.mp4":
            make_av_file(p)
        else:
            raise KeyError(name)
        made[name] = p
        return p

    return build
