"""`rtmotion synth` end to end (real PyAV files) and the shared dancer-clip fixtures."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from rtmotion.cli import main
from rtmotion.pose.posefile import PoseSequence


def _probe(path: Path) -> tuple[int, tuple[int, int], Fraction, bool, np.ndarray]:
    """(frame count, (w, h), fps, has audio, first frame RGB) by decoding the file."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        has_audio = len(c.streams.audio) > 0
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        rate = Fraction(vs.average_rate.numerator, vs.average_rate.denominator)
    return len(frames), (frames[0].shape[1], frames[0].shape[0]), rate, has_audio, frames[0]


def test_cli_writes_video_and_poses(tmp_path: Path) -> None:
    out, gt = tmp_path / "k.mp4", tmp_path / "gt.npz"
    rc = main(["-q", "synth", "--character", "kofi", "--motion", "walk", "--seconds", "1.2",
               "--size", "160x128", "--fps", "25", "--seed", "3", "-o", str(out), "--poses", str(gt)])
    assert rc == 0
    n, size, fps, has_audio, first = _probe(out)
    assert (n, size, fps, has_audio) == (30, (160, 128), Fraction(25), False)
    seq = PoseSequence.load(gt)
    assert len(seq) == 30 and seq.size == (160, 128) and seq.fps == 25
    assert seq.source == "synthetic:kofi/walk/seed3"
    # The decoded first frame shows the person where the ground truth says (not background).
    x, y = seq.keypoints[0, 8, :2].astype(int)  # mid_hip
    corner = first[2, 2].astype(int)
    assert np.abs(first[y, x].astype(int) - corner).sum() > 40


def test_cli_audio(tmp_path: Path) -> None:
    out = tmp_path / "a.mp4"
    assert main(["-q", "synth", "--seconds", "1", "--audio", "-o", str(out)]) == 0
    n, _, _, has_audio, _ = _probe(out)
    assert n == 30 and has_audio


def test_cli_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--list"]) == 0
    text = capsys.readouterr().out
    for word in ("ada", "bruno", "mira", "kofi", "dance", "walk", "room", "studio"):
        assert word in text


@pytest.mark.parametrize("args, needle", [
    (["--character", "zed"], "--character 'zed': unknown (choose from: ada"),
    (["--motion", "spin"], "--motion 'spin': unknown (choose from: dance"),
    (["--background", "moon"], "--background 'moon'"),
    (["--size", "256"], "--size '256': not WIDTHxHEIGHT"),
    (["--size", "8x8"], "out of range"),
    (["--fps", "fast"], "--fps 'fast': not a number"),
    (["--fps", "0"], "--fps '0': out of range"),
    (["--seconds", "-1"], "--seconds '-1'"),
    (["--seed", "x"], "--seed 'x': not an integer"),
    (["--poses", "gt.json"], "--poses"),
])
def test_cli_bad_args(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                      needle: str) -> None:
    out = tmp_path / "x.mp4"
    rc = main(["synth", "-o", str(out), *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_no_output_and_unwritable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth"]) == 2
    assert "-o" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["synth", "-o", str(blocker / "x.mp4")]) == 3
    assert "cannot create folder" in capsys.readouterr().err


def test_dancer_clip_fixtures(dancer_clip, dancer_clip_audio) -> None:  # noqa: ANN001
    for clip, audio in ((dancer_clip, False), (dancer_clip_audio, True)):
        n, size, fps, has_audio, _ = _probe(clip.video)
        assert (n, size, fps, has_audio) == (60, (256, 256), Fraction(30), audio)
        seq = PoseSequence.load(clip.poses)
        assert len(seq) == 60 == len(clip.seq)
        np.testing.assert_array_equal(seq.keypoints, clip.seq.keypoints)
