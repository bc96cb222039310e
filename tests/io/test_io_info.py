"""VideoInfo.from_path on real files made with PyAV, and every bad input it must refuse."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from rtmotion.errors import InputError
from rtmotion.io import VideoInfo


def test_basic_8bit(media) -> None:  # type: ignore[no-untyped-def]
    info = VideoInfo.from_path(media("basic.mp4"))
    assert (info.width, info.height) == (64, 48)
    assert info.fps == Fraction(10) and isinstance(info.fps, Fraction)
    assert info.frame_count == 12 and info.frame_count_exact
    assert info.duration == pytest.approx(1.2)
    assert info.rotation == 0 and not info.has_audio
    assert info.pix_fmt == "yuv420p" and info.codec == "h264"


def test_ten_bit(media) -> None:  # type: ignore[no-untyped-def]
    info = VideoInfo.from_path(media("ten_bit.mp4"))
    assert info.pix_fmt == "yuv420p10le"
    assert (info.width, info.height, info.frame_count) == (96, 64, 12)


def test_odd_size_mkv_estimates_frame_count(media) -> None:  # type: ignore[no-untyped-def]
    info = VideoInfo.from_path(media("odd.mkv"))
    assert (info.width, info.height) == (321, 239)
    assert info.codec == "ffv1"
    # Matroska stores no frame count: estimated from duration * fps, and said so.
    assert not info.frame_count_exact
    assert info.frame_count == 10


def test_ntsc_rate_exact(media) -> None:  # type: ignore[no-untyped-def]
    info = VideoInfo.from_path(media("ntsc.mp4"))
    assert info.fps == Fraction(30000, 1001)
    assert info.frame_count == 30
    assert info.duration == pytest.approx(30 * 1001 / 30000)


@pytest.mark.parametrize(("name", "clockwise"), [("rot90.mp4", 270), ("rotm90.mp4", 90), ("rot180.mp4", 180)])
def test_rotation_metadata(media, name: str, clockwise: int) -> None:  # type: ignore[no-untyped-def]
    """Files carry a display matrix (written by PyAV, counter-clockwise); VideoInfo reports the
    clockwise turn and the display size."""
    info = VideoInfo.from_path(media(name))
    assert info.rotation == clockwise
    assert (info.width, info.height) == ((48, 64) if clockwise in (90, 270) else (64, 48))


def test_has_audio(media) -> None:  # type: ignore[no-untyped-def]
    info = VideoInfo.from_path(media("with_audio.mp4"))
    assert info.has_audio and info.frame_count == 25


def _bad_inputs(tmp: Path, media) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    good = media("basic.mp4").read_bytes()
    (tmp / "empty.mp4").write_bytes(b"")
    (tmp / "truncated.mp4").write_bytes(good[: len(good) * 3 // 10])  # moov atom (at the end) lost
    (tmp / "text.mp4").write_text("this is not a video\n" * 50)
    (tmp / "folder.mp4").mkdir()
    return {
        "missing": tmp / "nope.mp4",
        "directory": tmp / "folder.mp4",
        "empty": tmp / "empty.mp4",
        "truncated": tmp / "truncated.mp4",
        "text": tmp / "text.mp4",
        "m4a": media("tone.m4a"),
        "wav": media("tone.wav"),
    }


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("missing", "not found"),
        ("directory", "directory"),
        ("empty", "empty"),
        ("truncated", "cannot be read"),
        ("text", "cannot be read"),
        ("m4a", "no video stream"),
        ("wav", "no video stream"),
    ],
)
def test_bad_inputs(tmp_path: Path, media, kind: str, words: str) -> None:  # type: ignore[no-untyped-def]
    path = _bad_inputs(tmp_path, media)[kind]
    with pytest.raises(InputError) as ei:
        VideoInfo.from_path(path)
    msg = str(ei.value)
    assert words in msg
    assert str(path) in msg and "\n" not in msg
    assert ei.value.path == str(path)


def test_zero_decodable_frames(tmp_path: Path, media) -> None:  # type: ignore[no-untyped-def]
    """An MP4 whose index is intact but whose frame data is cut off before the first frame."""
    data = media("big_faststart.mp4").read_bytes()
    moov = data.find(b"moov")
    mdat = data.find(b"mdat")
    assert 0 < moov < mdat  # faststart: index first
    cut = tmp_path / "no_frames.mp4"
    cut.write_bytes(data[: mdat + 40])  # the index and a sliver of the first frame
    with pytest.raises(InputError, match="decod"):
        VideoInfo.from_path(cut)
