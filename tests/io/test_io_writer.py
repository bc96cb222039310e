"""VideoWriter: exact fps round trips, odd sizes, atomic output, audio remux, early errors."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from rtmotion.errors import InputError, OutputError
from rtmotion.io import VideoInfo, VideoWriter, read_frames

from iomedia import frame_level, pattern


def _write(path: Path, n: int, fps: object, size: tuple[int, int] = (64, 48), **kw: object) -> VideoWriter:
    with VideoWriter(path, fps, **kw) as w:  # type: ignore[arg-type]
        for i in range(n):
            w.write(pattern(i, *size))
    return w


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_round_trip_ntsc_exact(tmp_path: Path) -> None:
    out = tmp_path / "ntsc.mp4"
    w = _write(out, 30, Fraction(30000, 1001))
    assert w.frames_written == 30
    info = VideoInfo.from_path(out)
    assert info.fps == Fraction(30000, 1001)
    assert (info.width, info.height, info.frame_count) == (64, 48, 30)
    assert info.codec == "h264" and info.pix_fmt == "yuv420p"
    assert info.duration == pytest.approx(30 * 1001 / 30000)
    frames = list(read_frames(out))
    assert [f.index for f in frames] == list(range(30))
    assert [f.timestamp for f in frames] == [float(Fraction(i * 1001, 30000)) for i in range(30)]
    assert [round((frame_level(f.image) - 16) / 8) for f in frames] == list(range(30))
    assert np.abs(frames[12].image.astype(int) - pattern(12, 64, 48)).mean() < 3  # crf 18
    assert _leftovers(tmp_path) == ["ntsc.mp4"]


def test_float_fps_snaps_to_ntsc(tmp_path: Path) -> None:
    out = tmp_path / "f.mp4"
    w = _write(out, 5, 29.97)
    assert w.fps == Fraction(30000, 1001)
    assert VideoInfo.from_path(out).fps == Fraction(30000, 1001)


def test_odd_size_padded_with_edge_pixels(tmp_path: Path) -> None:
    out = tmp_path / "odd.mp4"
    w = _write(out, 4, 25, size=(321, 239))
    assert w.size == (321, 239) and w.output_size == (322, 240)
    info = VideoInfo.from_path(out)
    assert (info.width, info.height, info.frame_count) == (322, 240, 4)
    img = next(iter(read_frames(out, start=2))).image
    # Original content kept in place; the added column/row repeat the edge (green block corner).
    assert np.abs(img[:239, :321].astype(int) - pattern(2, 321, 239)).mean() < 3
    assert tuple(img[239, 321]) == pytest.approx((0, 255, 0), abs=40)
    assert tuple(img[239, 100]) == pytest.approx(tuple(img[238, 100]), abs=12)


def test_size_argument_and_mismatch(tmp_path: Path) -> None:
    out = tmp_path / "s.mp4"
    with pytest.raises(ValueError, match="64x48"):
        with VideoWriter(out, 10, size=(64, 48)) as w:
            w.write(pattern(0, 64, 48))
            w.write(pattern(1, 32, 32))
    assert not out.exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "bad", [np.zeros((48, 64, 3), np.float32), np.zeros((48, 64), np.uint8), np.zeros((48, 64, 4), np.uint8)]
)
def test_rejects_non_rgb_uint8(tmp_path: Path, bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="uint8 RGB"):
        with VideoWriter(tmp_path / "x.mp4", 10) as w:
            w.write(bad)
    assert _leftovers(tmp_path) == []


def test_exception_inside_with_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "atomic.mp4"
    with pytest.raises(RuntimeError, match="stop"):
        with VideoWriter(out, 10) as w:
            for i in range(5):
                w.write(pattern(i, 64, 48))
            assert len(_leftovers(tmp_path)) == 1  # the temporary file, not the final name
            assert not out.exists()
            raise RuntimeError("stop")
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_existing_file_survives_failed_rewrite(tmp_path: Path) -> None:
    out = tmp_path / "keep.mp4"
    _write(out, 3, 10)
    before = out.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(out, 10) as w:
            w.write(pattern(0, 64, 48))
            raise KeyboardInterrupt
    assert out.read_bytes() == before and _leftovers(tmp_path) == ["keep.mp4"]


def test_no_frames_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "empty.mp4"
    with pytest.raises(OutputError, match="no frames"):
        with VideoWriter(out, 10):
            pass
    assert _leftovers(tmp_path) == []


def test_abort(tmp_path: Path) -> None:
    w = VideoWriter(tmp_path / "a.mp4", 10)
    w.write(pattern(0, 64, 48))
    w.abort()
    w.close()  # no-op after abort
    assert _leftovers(tmp_path) == []


def test_unwritable_output_fails_before_work(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(OutputError):
        VideoWriter(blocker / "out.mp4", 10)  # parent is a file
    (tmp_path / "dir.mp4").mkdir()
    with pytest.raises(OutputError, match="directory"):
        VideoWriter(tmp_path / "dir.mp4", 10)
    if os.geteuid() != 0:  # root ignores folder permissions
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            with pytest.raises(OutputError, match="not writable"):
                VideoWriter(ro / "out.mp4", 10)
        finally:
            ro.chmod(0o700)
    assert sorted(_leftovers(tmp_path)) == ["dir.mp4", "file.txt"] + (["ro"] if os.geteuid() != 0 else [])


def test_missing_audio_source_fails_before_work(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="audio source not found"):
        VideoWriter(tmp_path / "o.mp4", 10, audio_from=tmp_path / "none.m4a")
    assert _leftovers(tmp_path) == []


def _audio_summary(path: Path) -> tuple[str, int, float, float]:
    """(codec, sample rate, seconds of decoded audio, dominant frequency in Hz)."""
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        name, rate = s.codec_context.name, s.codec_context.sample_rate
        x = np.concatenate([f.to_ndarray().reshape(len(f.layout.channels), -1)[0] for f in c.decode(s)])
    seg = x[2048 : 2048 + 16384].astype(np.float64)
    peak = float(np.argmax(np.abs(np.fft.rfft(seg)))) * rate / len(seg)
    return name, rate, len(x) / rate, peak


@pytest.mark.parametrize(("source", "mode"), [("tone.m4a", "copy"), ("tone.wav", "transcode"), ("with_audio.mp4", "copy")])
def test_audio_remux(tmp_path: Path, media, source: str, mode: str) -> None:  # type: ignore[no-untyped-def]
    """A 2 s (or 1 s) 440 Hz tone goes into a 1 s video: AAC is copied, PCM becomes AAC, both
    cut at the video's end (to within one AAC frame, 1024 samples)."""
    src = media(source)
    out = tmp_path / "with_sound.mp4"
    w = _write(out, 25, 25, audio_from=src)
    assert w._audio is None  # finished
    info = VideoInfo.from_path(out)
    assert info.has_audio and info.frame_count == 25 and info.fps == 25
    codec, rate, seconds, peak = _audio_summary(out)
    assert codec == "aac" and rate == 44100
    assert 1.0 - 1024 / 44100 <= seconds <= 1.0 + 2 * 1024 / 44100
    assert peak == pytest.approx(440, abs=5)
    if mode == "copy":  # packets copied byte for byte: first packet identical to the source's
        with av.open(str(src)) as a, av.open(str(out)) as b:
            pa = next(p for p in a.demux(a.streams.audio[0]) if p.size)
            pb = next(p for p in b.demux(b.streams.audio[0]) if p.size)
            assert bytes(pa) == bytes(pb)
    # the video is intact too
    assert [f.index for f in read_frames(out)] == list(range(25))


def test_audio_from_video_without_audio(tmp_path: Path, media) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "silent.mp4"
    _write(out, 5, 10, audio_from=media("basic.mp4"))
    assert not VideoInfo.from_path(out).has_audio


def test_writer_stores_container_metadata(tmp_path):
    import numpy as np

    from rtmotion.io import VideoInfo, VideoWriter

    path = tmp_path / "tagged.mp4"
    with VideoWriter(path, 30, metadata={"comment": "hello rtmotion", "title": "t"}) as w:
        for _ in range(3):
            w.write(np.zeros((32, 32, 3), np.uint8))
    tags = VideoInfo.from_path(path).tags
    assert tags["comment"] == "hello rtmotion"
    assert tags["title"] == "t"
