"""`rtmotion demo` end to end on the shipped demo subject: real synthetic source video, real
MediaPipe, real normalization and generator, real PyAV output with the source's audio."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtmotion.cli import main
from rtmotion.io import VideoInfo, VideoReader
from rtmotion.subject import builtin_subjects_dir

pytestmark = pytest.mark.skipif(not (builtin_subjects_dir() / "demo-ada" / "subject.json").is_file(),
                                reason="the shipped demo subject is missing from this checkout")


def _run(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["-q", "demo", *args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.mark.mediapipe
def test_demo_writes_result_with_audio_and_summary(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    rc, stdout, err = _run(capsys, "-o", str(out), "--seconds", "1", "--character", "kofi")
    assert rc == 0, err
    assert "result" in stdout and "side by side" in stdout
    assert "new poses" in stdout   # how much of the drive the subject's keyframes cover
    info = VideoInfo.from_path(out / "result.mp4")
    assert info.frame_count == 30 and info.has_audio
    assert info.size == (512, 512)   # demo-ada's whole camera frame, not its 128 px model frame
    side = VideoInfo.from_path(out / "side_by_side.mp4")
    assert side.frame_count == 30 and side.width > 2 * side.height
    report = json.loads((out / "demo.json").read_text())
    assert report["source"]["frames"] == 30
    assert report["convert"]["new_poses"]["frames"] == 30
    assert report["extraction"]["frames_with_person"] == 30
    # MediaPipe on a 512 px synthetic dancer: a few pixels of error (see docs/BENCHMARKS.md).
    assert report["extraction"]["mean_error_px_vs_truth"] < 15
    # The result is a picture, not a constant frame.
    frames = [f.image for f in VideoReader(out / "result.mp4")]
    assert len(frames) == 30 and frames[0].std() > 10


@pytest.mark.parametrize("args, needle, code", [
    (("--character", "zorro"), "--character 'zorro' is unknown", 2),
    (("--motion", "moonwalk"), "--motion 'moonwalk' is unknown", 2),
    (("--seconds", "0"), "--seconds 0", 2),
    (("--subject", "no-such-subject"), "no-such-subject", 2),
])
def test_demo_bad_arguments(tmp_path: Path, capsys, args, needle, code) -> None:
    out = tmp_path / "demo"
    rc, _, err = _run(capsys, "-o", str(out), *args)
    assert rc == code
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert len(lines) == 1 and needle in lines[0]
    assert not (out / "result.mp4").exists()


def test_demo_output_is_a_file(tmp_path: Path, capsys) -> None:
    f = tmp_path / "taken"
    f.write_text("x")
    rc, _, err = _run(capsys, "-o", str(f))
    assert rc == 3 and "not a folder" in err
