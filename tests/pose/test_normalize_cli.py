"""`rtmotion normalize` end to end: real pose files, stats JSON, overlay video, bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from test_normalize_figures import affine, walking

from rtmotion.cli import main
from rtmotion.pose.posefile import PoseSequence
from rtmotion.pose.skeleton import SKELETONS, Skeleton
from rtmotion.pose.stats import SubjectPoseStats


@pytest.fixture()
def files(tmp_path):
    target = walking(120)
    source = affine(target, 0.5, 20, -30, size=(320, 240))
    return {
        "dir": tmp_path,
        "target_seq": target,
        "target": target.save(tmp_path / "target.npz"),
        "source": source.save(tmp_path / "source.npz"),
    }


def _only(tmp_path, *names):
    """The files in tmp_path besides the inputs (nothing half-written, no temporaries)."""
    return sorted(p.name for p in tmp_path.iterdir() if p.name not in names)


def test_normalize_writes_the_target_frame_poses(files) -> None:
    out = files["dir"] / "out.npz"
    assert main(["normalize", "--source", str(files["source"]), "--target", str(files["target"]),
                 "-o", str(out), "--mode", "edn"]) == 0
    res = PoseSequence.load(out)
    assert res.size == (640, 480) and res.extractor.endswith("normalize:edn")
    np.testing.assert_allclose(res.keypoints, files["target_seq"].keypoints, atol=1e-3)


def test_saved_stats_drive_the_same_conversion(files) -> None:
    d = files["dir"]
    assert main(["normalize", "--target", str(files["target"]), "--save-stats", str(d / "st.json")]) == 0
    st = SubjectPoseStats.load(d / "st.json")
    assert st == SubjectPoseStats.from_sequence(files["target_seq"])
    for tgt, name in ((files["target"], "a.npz"), (d / "st.json", "b.npz")):
        assert main(["normalize", "-s", str(files["source"]), "-t", str(tgt), "-o", str(d / name),
                     "-m", "auto"]) == 0
    np.testing.assert_array_equal(PoseSequence.load(d / "a.npz").keypoints,
                                  PoseSequence.load(d / "b.npz").keypoints)


def test_overlay_video_over_the_target_video(files) -> None:
    from rtmotion.io import VideoInfo, VideoWriter, read_frames

    d = files["dir"]
    video = d / "target.mp4"
    with VideoWriter(video, 30, (640, 480)) as w:   # 7 frames: the overlay loops over them
        for i in range(7):
            w.write(np.full((480, 640, 3), 30 * i, np.uint8))
    ov = d / "ov.mp4"
    assert main(["normalize", "-s", str(files["source"]), "-t", str(files["target"]), "--overlay", str(ov),
                 "--target-video", str(video)]) == 0
    info = VideoInfo.from_path(ov)
    assert (info.width, info.height) == (640, 480) and info.frame_count == 120
    frames = [f.image for f in read_frames(ov, end=9)]
    # Background is target frame i mod 7; the skeleton is drawn where the poses are.
    assert abs(int(np.median(frames[8])) - 30) <= 3 and abs(int(np.median(frames[3])) - 90) <= 3
    kp = files["target_seq"].keypoints[0]
    x, y = kp[1, :2].astype(int)   # the neck
    patch = frames[0][y - 3:y + 4, x - 3:x + 4].astype(int)
    assert np.abs(patch - int(np.median(frames[0]))).max() > 40


def test_cli_runs_as_a_program(files) -> None:
    out = files["dir"] / "p.npz"
    r = subprocess.run([sys.executable, "-m", "rtmotion", "-q", "normalize", "-s", str(files["source"]),
                        "-t", str(files["target"]), "-o", str(out)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert PoseSequence.load(out).size == (640, 480)


@pytest.mark.parametrize("case", ["missing_source", "not_npz", "not_json", "no_ankles", "never_ankles",
                                  "nothing_to_do", "bad_output_suffix"])
def test_bad_input_one_line_error_nonzero_no_output(files, capsys, monkeypatch, case) -> None:
    d = files["dir"]
    src, tgt, out = str(files["source"]), str(files["target"]), str(d / "out.npz")
    args = ["normalize", "-s", src, "-t", tgt, "-o", out, "--save-stats", str(d / "st.json")]
    if case == "missing_source":
        args[2] = str(d / "nope.npz")
        words = "nope.npz: pose file not found"
    elif case == "not_npz":
        (d / "text.npz").write_text("hello")
        args[2] = str(d / "text.npz")
        words = "not a readable .npz"
    elif case == "not_json":
        (d / "st_bad.json").write_text("{")
        args[4] = str(d / "st_bad.json")
        words = "st_bad.json: not a readable JSON"
    elif case == "no_ankles":
        # A registered skeleton without ankles, in edn mode.
        joints = ("nose", "neck", "r_shoulder", "l_shoulder")
        monkeypatch.setitem(SKELETONS, "bust", Skeleton("bust", joints, ((1, 0), (1, 2), (1, 3))))
        seq = files["target_seq"]
        kp = seq.keypoints[:, [seq.joint_names.index(j) for j in joints]]
        PoseSequence(kp, "bust", seq.fps, seq.size, seq.timestamps, joint_names=joints).save(d / "bust.npz")
        args[2] = str(d / "bust.npz")
        args += ["--mode", "edn"]
        words = "bust.npz: the source skeleton 'bust' has no ankle joint"
    elif case == "never_ankles":
        seq = files["target_seq"]
        kp = seq.keypoints.copy()
        kp[:, [seq.joint_names.index("l_ankle"), seq.joint_names.index("r_ankle")]] = 0
        seq.with_keypoints(kp).save(d / "noank.npz")
        args[2] = str(d / "noank.npz")
        args += ["--mode", "retarget"]
        words = "no ankle is visible in any source frame"
    elif case == "nothing_to_do":
        args = ["normalize", "-t", tgt]
        words = "nothing to do"
    else:
        args[6] = str(d / "out.txt")
        words = "must be a .npz file"
    before = _only(d)
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert words in err and len(err.splitlines()) == 1, err
    assert err.startswith("rtmotion normalize: error:")
    assert _only(d) == before  # no output, no temporary
