"""`convert` through the real pipeline threads on real files: pose-file and video sources, odd
sources (no person for a while, 10-bit, 4K, truncated, variable frame rate, audio or none),
failures in a stage, and every bad input of `rtmotion convert`.

Video sources use the "npz" replay estimator (the ground-truth pose file, frame by frame) so
the tests stay fast; `test_convert_cli_with_mediapipe` runs the real MediaPipe once."""

from __future__ import annotations

import json
import threading
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtmotion.cli import main
from rtmotion.errors import StageError
from rtmotion.io import VideoInfo, VideoReader, VideoWriter
from rtmotion.io.timed_writer import TimedVideoWriter
from rtmotion.pipeline import offline
from rtmotion.pipeline.coverage import NEW_POSE_DISTANCE
from rtmotion.pipeline.offline import convert
from rtmotion.pipeline.session import Session
from tests.pipeline.conftest import frames_of, no_person_stretch, replay


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def _no_pipeline_threads() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith("rtmotion-") and t.is_alive()]


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    # torch: these tests are about the pipeline, not engine builds (the CLI default is auto)
    rc = main(["-q", "convert", "--backend", "torch", *args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_pose_file_source_one_frame_per_pose(tiny_subject, dancer_clip, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    res = convert(tiny_subject, dancer_clip.poses, out, show_progress=False)
    info = VideoInfo.from_path(out)
    assert res.frames == info.frame_count == 60 and info.fps == Fraction(30)
    assert info.size == (64, 64) and not info.has_audio and res.audio == "none"
    assert res.frames_no_person == 0 and res.source_kind == "npz" and res.mode == "retarget"
    assert set(res.stages) == {"read", "prepare", "synthesize", "finish", "encode"}
    assert frames_of(out)[10].std() > 1  # a picture, not a constant


def test_video_source_keeps_audio_duration_and_side_by_side(tiny_subject, dancer_clip_audio, tmp_path) -> None:
    out, side = tmp_path / "out.mp4", tmp_path / "side.mp4"
    res = convert(tiny_subject, dancer_clip_audio.video, out, side_by_side_output=side,
                  show_progress=False, **replay(dancer_clip_audio.poses))
    src = VideoInfo.from_path(dancer_clip_audio.video)
    for p in (out, side):
        info = VideoInfo.from_path(p)
        assert info.frame_count == src.frame_count == res.frames == 60
        assert info.has_audio and abs(info.duration - src.duration) < 0.05
    s = VideoInfo.from_path(side)
    assert s.height == 64 and s.width == 3 * 64   # source | pose | result at the result's height
    assert res.audio.startswith("from ") and "compose" in res.stages


def test_start_end_cuts_video_and_audio(tiny_subject, dancer_clip_audio, tmp_path) -> None:
    out = tmp_path / "cut.mp4"
    res = convert(tiny_subject, dancer_clip_audio.poses, out, start=15, end=45, show_progress=False)
    assert res.frames == 30 and VideoInfo.from_path(out).frame_count == 30
    # A pose-file source carries no audio; a video source's audio is cut at --start.
    out2 = tmp_path / "cut2.mp4"
    res2 = convert(tiny_subject, dancer_clip_audio.video, out2, start=0, end=30, show_progress=False,
                   **replay(dancer_clip_audio.poses))
    info = VideoInfo.from_path(out2)
    assert res2.frames == 30 and info.has_audio and abs(info.duration - 1.0) < 0.05


def test_audio_is_cut_at_start(dancer_clip_audio, tmp_path) -> None:
    from rtmotion.io.audio_cut import cut_audio

    cut = cut_audio(dancer_clip_audio.video, 0.5, tmp_path / "a.mka")
    import av

    with av.open(str(cut)) as c:
        a = c.streams.audio[0]
        dur = float(c.duration / 1e6)
    with av.open(str(dancer_clip_audio.video)) as c:
        full = float(c.streams.audio[0].duration * c.streams.audio[0].time_base)
    assert a.codec_context.name == "aac" and abs((full - 0.5) - dur) < 0.06


def test_no_person_stretch_holds_then_shows_the_empty_scene(tiny_subject, dancer_clip, tmp_path) -> None:
    seq = no_person_stretch(dancer_clip.seq, 10, 40)  # 30 frames = 1 s without a person
    poses = tmp_path / "gap.npz"
    seq.save(poses)
    out = tmp_path / "gap.mp4"
    res = convert(tiny_subject, poses, out, hold_seconds=0.5, show_progress=False)
    assert res.frames == 60 and res.frames_no_person == 30
    assert res.frames_held == 15 and res.frames_blank == 15
    frames = frames_of(out)
    # The empty scene is one constant picture; held frames are the last pose again.
    assert np.abs(frames[30].astype(int) - frames[38].astype(int)).mean() < 2
    assert np.abs(frames[30].astype(int) - frames[9].astype(int)).mean() > 1


def test_held_and_blank_frames_are_what_an_explicit_sequence_makes(tiny_subject, dancer_clip, tmp_path,
                                                                   monkeypatch) -> None:
    """The oracle of the hold rule, frame by frame: a session without any hold rule fed the last
    pose again for the held frames, the blank scene (and a reset) for the rest of the gap, then
    the person afresh. convert must hand its encoder exactly those pictures, and the encoded
    video must show them (up to H.264)."""
    from rtmotion.engine_request import EAGER_CPU
    from rtmotion.pipeline.session import open_session

    seq = no_person_stretch(dancer_clip.seq, 10, 40)
    poses = tmp_path / "gap.npz"
    seq.save(poses)
    shipped: list[np.ndarray] = []
    write = VideoWriter.write

    def keep(self, image, *rest):
        shipped.append(image.copy())
        return write(self, image, *rest)

    monkeypatch.setattr(VideoWriter, "write", keep)
    out = tmp_path / "gap.mp4"
    res = convert(tiny_subject, poses, out, hold_seconds=0.5, show_progress=False)
    assert res.frames_held == 15 and res.frames_blank == 15 and len(shipped) == 60
    driving = res.poses.driving.keypoints
    assert not (driving[10:40, :, 2] > 0).any() and (driving[9, :, 2] > 0).any()

    expect: list[np.ndarray] = []
    with open_session(tiny_subject, EAGER_CPU) as plain:      # no hold rule at all
        for i in range(60):
            if i < 10 or i >= 40:
                expect.append(plain(driving[i]))
            elif i < 25:
                expect.append(plain(driving[9]))              # held: the last pose again
            else:
                plain.reset()
                expect.append(plain.synth.blank_scene())      # blank: the empty scene
    for i, (got, want) in enumerate(zip(shipped, expect, strict=True)):
        np.testing.assert_array_equal(got, want, err_msg=f"frame {i}")
    # held frames are not the empty scene, and the encoded file shows them, not the empty scene
    assert min(np.abs(expect[i].astype(int) - expect[30].astype(int)).mean() for i in range(10, 25)) > 1
    decoded = frames_of(out)
    err = [np.abs(d.astype(int) - e.astype(int)).mean() for d, e in zip(decoded, expect, strict=True)]
    to_blank = [np.abs(d.astype(int) - expect[30].astype(int)).mean() for d in decoded]
    # H.264 on a 64 px random-weight picture costs ~15 grey levels; the empty scene is ~30 away
    assert all(e < b - 5 for e, b in zip(err[10:25], to_blank[10:25], strict=True)), (err, to_blank)


def test_variable_frame_rate_timestamps_are_kept(tiny_subject, dancer_clip, tmp_path) -> None:
    src = tmp_path / "vfr.mp4"
    rng = np.random.default_rng(0)
    gaps = rng.choice([1 / 30, 1 / 15, 1 / 60], size=len(dancer_clip.seq) - 1)
    ts = np.concatenate([[0.0], np.cumsum(gaps)])
    with TimedVideoWriter(src, 30) as w:
        for img, t in zip(frames_of(dancer_clip.video), ts):
            w.write(img, float(t))
    out = tmp_path / "out.mp4"
    res = convert(tiny_subject, src, out, show_progress=False, **replay(dancer_clip.poses))
    assert res.variable_frame_rate and res.frames == 60
    with VideoReader(src) as a, VideoReader(out) as b:
        t_src = np.array([f.timestamp for f in a])
        t_out = np.array([f.timestamp for f in b])
    assert len(t_out) == 60 and np.max(np.abs(t_out - t_src)) < 1e-3
    assert np.max(np.abs(t_src - ts)) < 1e-3


def test_ten_bit_source(tiny_subject, dancer_clip, tmp_path) -> None:
    src = tmp_path / "ten.mp4"
    with VideoWriter(src, 30, pix_fmt="yuv420p10le") as w:
        for img in frames_of(dancer_clip.video):
            w.write(img)
    assert VideoInfo.from_path(src).pix_fmt.startswith("yuv420p10")
    res = convert(tiny_subject, src, tmp_path / "out.mp4", show_progress=False, **replay(dancer_clip.poses))
    assert res.frames == 60


def test_4k_source_few_frames_side_by_side(tiny_subject, dancer_clip, tmp_path) -> None:
    src = tmp_path / "uhd.mp4"
    with VideoWriter(src, 30, preset="ultrafast") as w:
        for img in frames_of(dancer_clip.video)[:3]:
            w.write(cv2.resize(img, (3840, 2160), interpolation=cv2.INTER_LINEAR))
    out = tmp_path / "out.mp4"
    # The replay estimator scales the 256x256 poses to the 4K frame it is given.
    res = convert(tiny_subject, src, None, side_by_side_output=out, show_progress=False,
                  **replay(dancer_clip.poses))
    info = VideoInfo.from_path(out)
    assert res.frames == 3 and info.frame_count == 3 and info.height == 64


def test_truncated_source_converts_what_decodes(tiny_subject, dancer_clip, tmp_path) -> None:
    whole = tmp_path / "whole.mkv"
    with VideoWriter(whole, 30) as w:
        for img in frames_of(dancer_clip.video):
            w.write(img)
    data = whole.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    decoded = len(frames_of(cut))
    assert 5 < decoded < 60
    res = convert(tiny_subject, cut, tmp_path / "out.mp4", show_progress=False, **replay(dancer_clip.poses))
    assert res.frames == decoded == VideoInfo.from_path(tmp_path / "out.mp4").frame_count


def _fail_after(monkeypatch, stage: str, n: int) -> None:
    """Make `stage` of convert raise after `n` items: the decoder (read), the session's step
    (synthesize) or the encoder (encode)."""
    calls = [0]

    def count() -> None:
        calls[0] += 1
        if calls[0] > n:
            raise RuntimeError(f"injected failure in {stage} at item {calls[0] - 1}")

    if stage == "read":
        class FailingReader(VideoReader):  # the read stage's reader only (not phase 1's)
            def __iter__(self):
                for frame in super().__iter__():
                    count()
                    yield frame

        monkeypatch.setattr(offline, "VideoReader", FailingReader)
    elif stage == "synthesize":
        draw = Session.draw
        monkeypatch.setattr(Session, "draw", lambda self, p: (count(), draw(self, p))[1])
    elif stage == "finish":
        finish = Session.finish
        monkeypatch.setattr(Session, "finish", lambda self, d: (count(), finish(self, d))[1])
    else:
        write = VideoWriter.write
        monkeypatch.setattr(VideoWriter, "write", lambda self, *a: (count(), write(self, *a))[1])


@pytest.mark.parametrize("stage", ["read", "synthesize", "finish", "encode"])
def test_a_failing_stage_leaves_nothing(tiny_subject, dancer_clip, tmp_path, stage,
                                        monkeypatch) -> None:
    """A stage that dies midway (decoder, generator, face/frame, encoder): StageError naming it, within
    seconds, no output, no temporary file, no thread left."""
    import time

    out, side = tmp_path / "out.mp4", tmp_path / "side.mp4"
    _fail_after(monkeypatch, stage, 20)
    t0 = time.perf_counter()
    with pytest.raises(StageError) as ei:
        convert(tiny_subject, dancer_clip.video, out, side_by_side_output=side, show_progress=False,
                **replay(dancer_clip.poses))
    assert time.perf_counter() - t0 < 20
    assert ei.value.stage == stage
    assert not out.exists() and not side.exists() and _leftovers(tmp_path) == []
    assert _no_pipeline_threads()


def test_cli_pose_file_json_and_summary(tiny_subject_path, dancer_clip, tmp_path, capsys) -> None:
    out, rep = tmp_path / "o.mp4", tmp_path / "r.json"
    rc = main(["convert", "--backend", "torch", "-t", str(tiny_subject_path), "-s", str(dancer_clip.poses), "-o", str(out),
               "--json", str(rep), "--side-by-side"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "60 frames" in cap.out and "no person" in cap.out
    report = json.loads(rep.read_text())
    assert report["frames"] == 60 and report["frames_no_person"] == 0
    assert report["backend"].startswith("torch fp32") and report["device"] == "cpu"
    assert {"synthesize", "encode"} <= set(report["stages"]) and report["fps"] > 0
    assert VideoInfo.from_path(out).width == 3 * 64   # panels at the result's height
    assert report["new_poses"] is None and "new poses" not in cap.out   # no keyframes


def test_poses_the_target_never_showed_are_counted_and_named(tmp_path, capsys) -> None:
    """demo-ada (a dancer filmed facing the camera) driven by a walk that turns away: the
    frames far from every keyframe are counted, timed and named in the summary; driven by a
    dance like its own, none are."""
    from rtmotion.synthetic import render_sequence

    for motion, far in (("walk", True), ("dance", False)):
        _, seq = render_sequence("kofi", motion=motion, seconds=3.0, size=(512, 512), fps=30, supersample=1)
        poses = seq.save(tmp_path / f"{motion}.npz")
        rep = tmp_path / f"{motion}.json"
        rc = main(["convert", "-t", "demo-ada", "-s", str(poses), "-o", str(tmp_path / f"{motion}.mp4"),
                   "--json", str(rep)])
        cap = capsys.readouterr()
        assert rc == 0, cap.err
        new = json.loads(rep.read_text())["new_poses"]
        assert new["frames"] == 90 and new["level"] == NEW_POSE_DISTANCE
        if far:
            assert new["new"] > 10 and new["stretches_s"]
            a, b = new["stretches_s"][0]
            assert 0 <= a < b <= 3.0 + 1e-6
            assert f"new poses  {new['new']} of 90 frames" in cap.out and "never did" in cap.out
        else:
            assert new["new"] == 0 and "new poses  none" in cap.out


def _bad_inputs(tmp: Path, subject: Path) -> dict[str, tuple[list[str], str, int]]:
    (tmp / "empty.mp4").write_bytes(b"")
    (tmp / "random.mp4").write_bytes(np.random.default_rng(0).bytes(20000))
    (tmp / "notes.txt").write_text("hello, not a video\n" * 50)
    (tmp / "adir").mkdir()
    (tmp / "not_subject").mkdir()
    (tmp / "afile").write_text("x")
    other = tmp / "other_version"
    other.mkdir()
    for f in subject.iterdir():
        (other / f.name).write_bytes(f.read_bytes())
    sj = json.loads((other / "subject.json").read_text())
    sj["bundle_version"] = 99
    (other / "subject.json").write_text(json.dumps(sj))
    return {
        "missing": (["-s", str(tmp / "nope.mp4")], "not found", 2),
        "empty": (["-s", str(tmp / "empty.mp4")], "empty", 2),
        "random bytes": (["-s", str(tmp / "random.mp4")], "random.mp4", 2),
        "text": (["-s", str(tmp / "notes.txt")], "notes.txt", 2),
        "directory": (["-s", str(tmp / "adir")], "directory", 2),
        "not a subject": (["-t", str(tmp / "not_subject")], "not_subject", 2),
        "other bundle version": (["-t", str(other)], "version", 2),
        "unwritable output": (["-o", str(tmp / "afile" / "out.mp4")], "afile", 3),
        "output type": (["-o", str(tmp / "out.xyz")], "out.xyz", 3),
        "bad range": (["--start", "10", "--end", "5"], "--start 10", 2),
    }


@pytest.mark.parametrize("case", ["missing", "empty", "random bytes", "text", "directory", "not a subject",
                                  "other bundle version", "unwritable output", "output type", "bad range"])
def test_cli_bad_inputs_one_line_nothing_written(tiny_subject_path, dancer_clip, tmp_path, capsys, case) -> None:
    args, needle, code = _bad_inputs(tmp_path, tiny_subject_path)[case]
    base = {"-t": str(tiny_subject_path), "-s": str(dancer_clip.poses), "-o": str(tmp_path / "out.mp4")}
    extra = []
    it = iter(args)
    for a in it:
        if a in base:
            base[a] = next(it)
        else:
            extra.append(a)
    argv = [x for kv in base.items() for x in kv] + extra
    rc, _, err = _cli(capsys, *argv)
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert rc == code, err
    assert len(lines) == 1 and needle in lines[0], err
    assert not (tmp_path / "out.mp4").exists() and _leftovers(tmp_path) == []


def test_cli_no_person_at_all(tiny_subject_path, dancer_clip, tmp_path, capsys) -> None:
    empty = tmp_path / "nobody.npz"
    no_person_stretch(dancer_clip.seq, 0, len(dancer_clip.seq)).save(empty)
    rc, _, err = _cli(capsys, "-t", str(tiny_subject_path), "-s", str(empty), "-o", str(tmp_path / "o.mp4"))
    assert rc == 2 and "no person" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.mediapipe
def test_convert_cli_with_mediapipe(tiny_subject_path, dancer_clip_audio, tmp_path, capsys) -> None:
    out, rep = tmp_path / "mp.mp4", tmp_path / "mp.json"
    rc = main(["-q", "convert", "--backend", "torch", "-t", str(tiny_subject_path), "-s", str(dancer_clip_audio.video),
               "-o", str(out), "--json", str(rep)])
    assert rc == 0, capsys.readouterr().err
    info = VideoInfo.from_path(out)
    assert info.frame_count == 60 and info.has_audio
    report = json.loads(rep.read_text())
    assert report["source_kind"] == "video" and report["frames_no_person"] == 0
    assert report["filter"].startswith("zero-phase")
    assert report["pose_every"] == offline.POSE_EVERY == 2
    assert f"every {offline.POSE_EVERY} frames" in report["filter"]


def test_pose_every_interpolates_between_estimated_frames(tiny_subject, dancer_clip, tmp_path) -> None:
    """Poses estimated on every third frame (the pose file replayed as the estimator) and
    interpolated between: the same frames out, the driving poses near the exact ones; a pose
    file source is not estimated at all, so it says every frame."""
    exact = convert(tiny_subject, dancer_clip.video, tmp_path / "a.mp4", show_progress=False,
                    **replay(dancer_clip.poses))
    third = convert(tiny_subject, dancer_clip.video, tmp_path / "b.mp4", show_progress=False,
                    **{**replay(dancer_clip.poses), "pose_every": 3})
    assert exact.pose_every == 1 and third.pose_every == 3 and third.frames == exact.frames == 60
    assert "every 3 frames" in third.filter and "every" not in exact.filter
    a, b = exact.poses.driving.keypoints, third.poses.driving.keypoints
    assert ((a[..., 2] > 0) == (b[..., 2] > 0)).mean() > 0.98  # the same joints present
    both = (a[..., 2] > 0) & (b[..., 2] > 0)
    d = np.linalg.norm(a[..., :2] - b[..., :2], axis=-1)[both]
    assert 0 < d.mean() < 0.5  # model pixels (64 x 64): interpolated, and close
    from_file = convert(tiny_subject, dancer_clip.poses, tmp_path / "c.mp4", show_progress=False)
    assert from_file.pose_every == 1


def test_cli_pose_every_below_one_is_refused(tiny_subject_path, dancer_clip, tmp_path, capsys) -> None:
    rc, _, err = _cli(capsys, "-t", str(tiny_subject_path), "-s", str(dancer_clip.video),
                      "-o", str(tmp_path / "o.mp4"), "--pose-every", "0")
    assert rc == 2 and "--pose-every 0" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.mp4").exists()
    from rtmotion.cli import build_parser

    help_text = build_parser()._subparsers._group_actions[0].choices["convert"].format_help()
    assert f"default: {offline.POSE_EVERY}," in " ".join(help_text.split())


def test_command_constants_match_the_library() -> None:
    """The commands keep a copy of the normalization modes (the parser must not import torch);
    it must stay equal. Backends, precisions and the engine dir come from one table
    (`rtmotion.engine_request`), which the runtime uses too."""
    from rtmotion import runtime
    from rtmotion.commands.args import BACKEND_CHOICES, NORMALIZE_MODES
    from rtmotion.pose.normalize import MODES

    assert NORMALIZE_MODES == MODES
    assert set(BACKEND_CHOICES) == {"auto", *runtime.BACKENDS}


def test_the_command_line_builds_one_engine_request() -> None:
    """--backend/--precision/--device/--engine-dir/--threads become one EngineRequest, whose
    defaults are the commands' defaults."""
    from rtmotion.cli import build_parser
    from rtmotion.commands.args import engine_request
    from rtmotion.engine_request import EngineRequest

    parser = build_parser()
    args = parser.parse_args(["convert", "-t", "s", "-s", "a.npz", "-o", "o.mp4"])
    assert engine_request(args) == EngineRequest()
    args = parser.parse_args(["build", "s", "--backend", "onnxruntime", "--precision", "int8",
                              "--device", "cpu", "--engine-dir", "e", "--threads", "2"])
    assert engine_request(args) == EngineRequest("onnxruntime", "int8", "cpu", Path("e"), 2)
    args = parser.parse_args(["eval", "s"])
    assert engine_request(args) == EngineRequest(backend="torch", precision="fp32")


@pytest.mark.parametrize("backend", ["onnxruntime", pytest.param("aoti", marks=pytest.mark.slow)])
def test_convert_through_a_compiled_engine_matches_torch(dancer_clip, tmp_path: Path,
                                                         backend: str) -> None:
    """`convert --backend X` builds the engine into --engine-dir on first use (a second run loads
    it from the cache) and makes the frames PyTorch makes, to within video coding noise.

    On the shipped, trained subject: a random-weights generator amplifies any difference through
    its own warped previous frame (0.001 grey levels doubling each frame), a trained one does not.
    """
    engines = tmp_path / "engines"
    outs = {}
    for name, args in (("torch", ["--backend", "torch"]),
                       (backend, ["--backend", backend, "--precision", "fp32",
                                  "--engine-dir", str(engines)]),
                       ("cached", ["--backend", backend, "--precision", "fp32",
                                   "--engine-dir", str(engines)])):
        out = tmp_path / f"{name}.mp4"
        rep = tmp_path / f"{name}.json"
        rc = main(["-q", "convert", "-t", "demo-ada", "-s", str(dancer_clip.poses),
                   "-o", str(out), "--end", "20", "--json", str(rep), *args])
        assert rc == 0
        outs[name] = (np.stack(frames_of(out)).astype(np.float32), json.loads(rep.read_text()))
    assert outs[backend][1]["backend"].startswith(f"{backend} fp32")
    assert any(p.suffix in (".onnx", ".pt2") for p in engines.rglob("*"))
    diff = np.abs(outs[backend][0] - outs["torch"][0]).mean()
    assert diff < 1.0, f"{backend} frames differ from torch by {diff:.2f} grey levels on average"
    np.testing.assert_array_equal(outs["cached"][0], outs[backend][0])


def test_engines_are_cached_once_per_user_not_per_folder(dancer_clip, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture) -> None:
    """Two `convert` runs from two different working folders, no --engine-dir: the first builds
    the engine into the user's cache (RTMOTION_CACHE_DIR) and says so on its own line, with the
    build time kept out of the speed; the second builds nothing and has no such line."""
    cache = tmp_path / "user-cache"
    monkeypatch.setenv("RTMOTION_CACHE_DIR", str(cache))
    reports = []
    for folder in ("a", "b"):
        work = tmp_path / folder
        work.mkdir()
        monkeypatch.chdir(work)
        assert main(["-q", "convert", "-t", "demo-ada", "-s", str(dancer_clip.poses), "-o",
                     "out.mp4", "--end", "8", "--backend", "onnxruntime", "--precision", "fp32",
                     "--json", "r.json"]) == 0
        reports.append((json.loads((work / "r.json").read_text()), capsys.readouterr().out))
        assert not (work / "engines").exists()
    (first, out1), (second, out2) = reports
    assert list((cache / "engines").rglob("onnx-fp32-*.onnx"))
    assert first["build_seconds"] > 0 and "onnx-fp32" in first["engine_built"]
    engine_line = next(line for line in out1.splitlines() if line.strip().startswith("engine"))
    assert "not counted in the speed" in engine_line and str(cache / "engines") in engine_line
    # the speed excludes the build: frames / (seconds - build_seconds)
    assert first["fps"] == pytest.approx(first["frames"] / (first["seconds"] - first["build_seconds"]),
                                         rel=0.02)
    assert second["build_seconds"] == 0 and second["engine_built"] is None
    assert "engine " not in out2
