"""VideoReader / read_frames on real files: formats, rotation, ranges, threads, bad tails."""

from __future__ import annotations

import logging
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import rtmotion.io.reader as reader_mod
from rtmotion.errors import InputError
from rtmotion.io import VideoReader, read_frames
from rtmotion.types import Frame

from iomedia import frame_level, pattern


def _levels(frames: list[Frame]) -> list[int]:
    """Recover the frame number encoded in `pattern`'s background (16 + 8 * i)."""
    return [round((frame_level(f.image) - 16) / 8) for f in frames]


@pytest.mark.parametrize("threaded", [True, False])
def test_read_all_8bit(media, threaded: bool) -> None:  # type: ignore[no-untyped-def]
    frames = list(VideoReader(media("basic.mp4"), threaded=threaded))
    assert [f.index for f in frames] == list(range(12))
    assert [f.timestamp for f in frames] == pytest.approx([i / 10 for i in range(12)])
    f = frames[3]
    assert f.image.dtype == np.uint8 and f.image.shape == (48, 64, 3) and f.image.flags.c_contiguous
    assert np.abs(f.image.astype(int) - pattern(3, 64, 48)).mean() < 4
    assert _levels(frames) == list(range(12))


def test_ten_bit_to_rgb24(media) -> None:  # type: ignore[no-untyped-def]
    frames = list(read_frames(media("ten_bit.mp4")))
    assert len(frames) == 12
    img = frames[5].image
    assert img.dtype == np.uint8 and img.shape == (64, 96, 3)
    assert np.abs(img.astype(int) - pattern(5, 96, 64)).mean() < 4
    assert tuple(img[2, 2]) == pytest.approx((255, 0, 0), abs=30)  # red stays red, in RGB order


def test_odd_size(media) -> None:  # type: ignore[no-untyped-def]
    frames = list(read_frames(media("odd.mkv")))
    assert len(frames) == 10
    assert all(f.image.shape == (239, 321, 3) for f in frames)
    # ffv1 yuv444p is lossless up to the RGB<->YUV rounding
    assert np.abs(frames[7].image.astype(int) - pattern(7, 321, 239)).max() <= 3


def test_start_end_stride(media) -> None:  # type: ignore[no-untyped-def]
    path = media("basic.mp4")
    frames = list(read_frames(path, start=2, end=11, stride=3))
    assert [f.index for f in frames] == [2, 5, 8]
    assert [f.timestamp for f in frames] == pytest.approx([0.2, 0.5, 0.8])
    assert _levels(frames) == [2, 5, 8]
    assert len(VideoReader(path, start=2, end=11, stride=3)) == 3
    assert [f.index for f in read_frames(path, start=10)] == [10, 11]
    assert [f.index for f in read_frames(path, start=5, end=5)] == []
    assert [f.index for f in read_frames(path, end=100, stride=5)] == [0, 5, 10]


@pytest.mark.parametrize("kw", [{"start": -1}, {"start": 5, "end": 2}, {"stride": 0}, {"queue_size": 0}])
def test_bad_arguments(media, kw: dict) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        VideoReader(media("basic.mp4"), **kw)


def test_ntsc_timestamps_exact(media) -> None:  # type: ignore[no-untyped-def]
    frames = list(read_frames(media("ntsc.mp4")))
    assert len(frames) == 30
    for f in frames:
        assert f.timestamp == float(Fraction(f.index * 1001, 30000))


@pytest.mark.parametrize(("name", "red_corner"), [("rot90.mp4", "bottom-left"), ("rotm90.mp4", "top-right"), ("rot180.mp4", "bottom-right")])
def test_rotation_applied(media, name: str, red_corner: str) -> None:  # type: ignore[no-untyped-def]
    """The red block is stored top-left; after the display turn it must sit where a player shows it."""
    reader = VideoReader(media(name))
    frames = list(reader)
    img = frames[0].image
    assert img.shape == (reader.info.height, reader.info.width, 3)
    red = np.argwhere((img[..., 0] > 200) & (img[..., 1] < 60))
    cy, cx = red.mean(axis=0)
    h, w = img.shape[:2]
    where = ("top" if cy < h / 2 else "bottom") + "-" + ("left" if cx < w / 2 else "right")
    assert where == red_corner


def test_truncated_tail_warns_and_yields_what_decodes(tmp_path: Path, media, caplog) -> None:  # type: ignore[no-untyped-def]
    data = media("big_faststart.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with caplog.at_level(logging.WARNING, logger="rtmotion.io.reader"):
        frames = list(read_frames(cut))
    assert 3 <= len(frames) < 30
    assert [f.index for f in frames] == list(range(len(frames)))
    assert any("of 30 frames" in r.getMessage() and str(cut) in r.getMessage() for r in caplog.records)


def test_truncated_tail_strict_raises_in_consumer(tmp_path: Path, media) -> None:  # type: ignore[no-untyped-def]
    """strict=True: the decode thread's InputError reaches the consumer, after the good frames."""
    data = media("big_faststart.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    got: list[int] = []
    with pytest.raises(InputError, match="truncated") as ei:
        for f in VideoReader(cut, strict=True):
            got.append(f.index)
    assert str(cut) in str(ei.value)
    assert len(got) >= 3


def test_thread_exception_propagates(media, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Any error in the decode thread (here a failing conversion at frame 4) is re-raised in the
    consumer, and the thread is gone afterwards."""
    real = reader_mod.to_rgb
    calls = {"n": 0}

    def flaky(frame, rotation=0):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("boom in decode thread")
        return real(frame, rotation)

    monkeypatch.setattr(reader_mod, "to_rgb", flaky)
    before = threading.active_count()
    got = []
    with pytest.raises(RuntimeError, match="boom"):
        for f in VideoReader(media("basic.mp4"), queue_size=2):
            assert threading.current_thread() is threading.main_thread()
            got.append(f.index)
    assert got == [0, 1, 2, 3]
    assert threading.active_count() == before


def test_decode_runs_in_background_thread(media, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    names: set[str] = set()
    real = reader_mod.to_rgb

    def spy(frame, rotation=0):  # type: ignore[no-untyped-def]
        names.add(threading.current_thread().name)
        return real(frame, rotation)

    monkeypatch.setattr(reader_mod, "to_rgb", spy)
    list(VideoReader(media("basic.mp4"), threaded=True))
    assert names and all(n.startswith("decode:") for n in names)
    names.clear()
    list(VideoReader(media("basic.mp4"), threaded=False))
    assert names == {threading.current_thread().name}


def test_close_mid_iteration_stops_thread(media) -> None:  # type: ignore[no-untyped-def]
    before = threading.active_count()
    with VideoReader(media("basic.mp4"), queue_size=1) as reader:
        it = iter(reader)
        first = next(it)
        assert first.index == 0
        assert threading.active_count() == before + 1  # the decode thread is blocked on the full queue
        it.close()  # abandoning the iteration stops the worker
    assert threading.active_count() == before
    gen = read_frames(media("basic.mp4"))
    assert next(gen).index == 0
    gen.close()
    assert threading.active_count() == before


def test_bad_file_fails_before_thread(tmp_path: Path) -> None:
    p = tmp_path / "x.mp4"
    p.write_text("not a video")
    before = threading.active_count()
    with pytest.raises(InputError):
        VideoReader(p)
    with pytest.raises(InputError):
        list(read_frames(tmp_path / "missing.mp4"))
    assert threading.active_count() == before
