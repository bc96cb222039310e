"""`rtmotion extract` end to end (real PyAV video, real MediaPipe) and its bad-input handling."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from rtmotion.cli import main
from rtmotion.pose.posefile import PoseSequence


def body_height(gt: np.ndarray) -> np.ndarray:
    """float (T,) distance nose -> mid-ankle of ground-truth keypoints (T, 25, 3), pixels."""
    return np.linalg.norm(gt[:, 0, :2] - (gt[:, 11, :2] + gt[:, 14, :2]) / 2, axis=1)


def normalized_error(est: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """float (T,) mean over joints visible in both of ||est - gt|| / body height (NaN: none)."""
    vis = (est[..., 2] > 0) & (gt[..., 2] > 0)
    err = np.linalg.norm(est[..., :2] - gt[..., :2], axis=-1) / body_height(gt)[:, None]
    return np.array([err[t][vis[t]].mean() if vis[t].any() else np.nan for t in range(len(gt))])


def _one_line_error(capsys: pytest.CaptureFixture[str], name: str) -> str:
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert name in lines[0], err
    assert "error" in lines[0]
    return lines[0]


@pytest.mark.mediapipe
def test_cli_extract_video_with_overlay(tmp_path: Path, dancer_clip, capsys, caplog) -> None:
    import logging

    from rtmotion.io import VideoInfo, VideoReader

    caplog.set_level(logging.INFO, logger="rtmotion")
    out, overlay = tmp_path / "poses.npz", tmp_path / "overlay.mp4"
    rc = main(["extract", str(dancer_clip.video), "-o", str(out), "--overlay", str(overlay),
               "--workers", "1"])
    err = capsys.readouterr().err
    assert rc == 0, err
    log = caplog.text  # the summary (pytest routes logging to caplog, not stderr)
    assert "60 frames" in log and "0 without a person" in log and "frames/s" in log, log
    seq = PoseSequence.load(out)
    gt = dancer_clip.seq
    assert len(seq) == len(gt) == 60 and seq.size == (256, 256) and seq.fps == 30
    np.testing.assert_allclose(seq.timestamps, gt.timestamps, atol=1e-6)
    assert seq.extractor.startswith("mediapipe") and seq.detected.all()
    # Filtered MediaPipe poses match the ground truth (~2% of body height measured; see
    # test_extract_accuracy.py for the bound's justification).
    assert np.nanmean(normalized_error(seq.keypoints, gt.keypoints)) < 0.05
    # The overlay: same frames, skeleton drawn along the trunk, elsewhere the source.
    info = VideoInfo.from_path(overlay)
    assert info.frame_count == 60 and info.size == (256, 256)
    src = next(iter(VideoReader(dancer_clip.video, end=1))).image.astype(int)
    ovl = next(iter(VideoReader(overlay, end=1))).image.astype(int)
    kp = seq.keypoints[0]
    x, y = ((kp[1, :2] + kp[8, :2]) / 2).round().astype(int)          # neck -> mid-hip
    assert np.abs(ovl[y - 1:y + 2, x - 1:x + 2] - src[y - 1:y + 2, x - 1:x + 2]).max() > 60
    assert np.abs(ovl[:20, :20] - src[:20, :20]).mean() < 6               # corner untouched
    assert not list(tmp_path.glob(".*part*"))                             # no temp files left


@pytest.mark.mediapipe
def test_no_person_anywhere(tmp_path: Path, capsys) -> None:
    from rtmotion.io import VideoWriter

    blank = tmp_path / "blank.mp4"
    with VideoWriter(blank, fps=30) as w:
        for _ in range(8):
            w.write(np.full((128, 128, 3), 90, np.uint8))
    out, overlay = tmp_path / "p.npz", tmp_path / "o.mp4"
    rc = main(["-q", "extract", str(blank), "-o", str(out), "--overlay", str(overlay)])
    line = _one_line_error(capsys, "blank.mp4")
    assert rc == 2 and "no person detected in any frame of blank.mp4" in line  # a bad input
    assert not out.exists() and not overlay.exists()


def _bad_inputs(tmp: Path, clip: Path) -> dict[str, Path]:
    empty = tmp / "empty.mp4"
    empty.write_bytes(b"")
    data = clip.read_bytes()
    trunc = tmp / "truncated.mp4"
    trunc.write_bytes(data[: len(data) // 2])
    text = tmp / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    wav = tmp / "sound.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.sin(np.arange(16000) * 0.05) * 8000).astype(np.int16).tobytes())
    folder = tmp / "some_folder"
    folder.mkdir()
    return {"empty": empty, "truncated": trunc, "text": text, "audio": wav,
            "missing": tmp / "missing.mp4", "folder": folder}


@pytest.mark.parametrize("case", ["empty", "truncated", "text", "audio", "missing", "folder"])
def test_bad_input_one_line_no_output(case: str, tmp_path: Path, dancer_clip, capsys) -> None:
    path = _bad_inputs(tmp_path, dancer_clip.video)[case]
    out, overlay = tmp_path / "out.npz", tmp_path / "out.mp4"
    rc = main(["-q", "extract", str(path), "-o", str(out), "--overlay", str(overlay)])
    assert rc == 2  # the exit code of a bad input (rtmotion.errors.InputError)
    _one_line_error(capsys, path.name)
    assert not out.exists() and not overlay.exists()


def test_unwritable_output_fails_before_extraction(tmp_path: Path, dancer_clip, capsys,
                                                   monkeypatch) -> None:
    import rtmotion.pose.extract as ex

    def must_not_run(*a, **k):  # spy: extraction must not even start
        raise AssertionError("extraction started before the output was checked")

    monkeypatch.setattr(ex, "extract_video", must_not_run)
    blocker = tmp_path / "a_file.txt"
    blocker.write_text("x")
    cases = [
        (blocker / "poses.npz", None, "poses.npz"),          # parent is a file
        (tmp_path, None, tmp_path.name),                     # output is a directory
        (tmp_path / "poses.txt", None, "poses.txt"),          # not .npz
        (tmp_path / "ok.npz", blocker / "ov.mp4", "ov.mp4"),  # overlay unwritable
        (dancer_clip.video.with_suffix(".npz"), dancer_clip.video, dancer_clip.video.name),  # would overwrite input
    ]
    for out, overlay, name in cases:
        argv = ["-q", "extract", str(dancer_clip.video), "-o", str(out)]
        if overlay is not None:
            argv += ["--overlay", str(overlay)]
        rc = main(argv)
        # an output that cannot be written is exit code 3 (OutputError), checked before any work
        assert rc == 3, out
        _one_line_error(capsys, name)
        assert not (tmp_path / "ok.npz").exists()
    assert dancer_clip.video.stat().st_size > 0


def test_bad_options(tmp_path: Path, dancer_clip, capsys) -> None:
    out = tmp_path / "x.npz"
    for extra, needle in [(["--model-complexity", "2"], "complexity"),
                          (["--extractor", "nope"], "nope"),
                          (["--min-cutoff", "0"], "min_cutoff"),
                          (["--start", "5", "--end", "3"], "range")]:
        rc = main(["-q", "extract", str(dancer_clip.video), "-o", str(out), *extra])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1 and needle in err, err
        assert not out.exists()


@pytest.mark.mediapipe
def test_frame_range(tmp_path: Path, dancer_clip, capsys) -> None:
    out = tmp_path / "range.npz"
    assert main(["-q", "extract", str(dancer_clip.video), "-o", str(out), "--start", "10",
                 "--end", "22", "--filter", "none"]) == 0
    seq = PoseSequence.load(out)
    assert len(seq) == 12
    np.testing.assert_allclose(seq.timestamps, dancer_clip.seq.timestamps[10:22], atol=1e-6)
    assert np.nanmean(normalized_error(seq.keypoints, dancer_clip.seq.keypoints[10:22])) < 0.05
