"""`rtmotion eval` end to end on a tiny subject trained by the real CLI (conftest), plus the
engine's plumbing checked with frames whose answer is known, and bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rtmotion import cli
from rtmotion.errors import InputError
from rtmotion.eval.evaluate import EvalOptions, run_evaluation
from rtmotion.eval.metrics import PSNR_CAP_DB
from rtmotion.eval.sources import EvalItem, EvalSource, heldout_source
from rtmotion.io import VideoInfo
from rtmotion.pipeline.coverage import NEW_POSE_DISTANCE
from rtmotion.pipeline.session import synthesize_sequence
from rtmotion.pose.posefile import PoseSequence
from rtmotion.subject import load_subject


def _eval(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = cli.main(["-q", "eval", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _copy_subject(tiny_subject, tmp_path: Path, **source_changes: object) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(tiny_subject.folder, dst)
    sj = dst / "subject.json"
    info = json.loads(sj.read_text())
    info["source_video"].update(source_changes)
    sj.write_text(json.dumps(info))
    return dst


def test_heldout_report_table_and_samples(tiny_subject, tmp_path: Path, capsys) -> None:
    report, samples = tmp_path / "r.json", tmp_path / "samples"
    rc, out, err = _eval(capsys, str(tiny_subject.folder), "-o", str(report), "--samples",
                         str(samples), "--num-samples", "2", "--max-frames", "6", "--no-pose")
    assert rc == 0, err
    assert "SSIM, body crop" in out and "PSNR, face crop" in out and "flicker" in out
    r = json.loads(report.read_text())
    assert r["schema"] == "rtmotion.eval/1" and r["mode"] == "heldout"
    subj = json.loads((tiny_subject.folder / "subject.json").read_text())
    v0 = subj["validation"]["start"]
    assert r["frames"] == {"total": 6, "evaluated": 6, "no_person": 0, "face_visible": 6, "stride": 1}
    assert r["per_frame"]["index"] == list(range(v0, v0 + 6))
    assert r["per_frame"]["step"][0] == "pose-only" and r["per_frame"]["step"][1] == "warped"
    m = r["metrics"]
    for key in ("body_ssim", "body_psnr", "face_ssim", "face_psnr", "full_ssim", "full_psnr"):
        per = r["per_frame"][key]
        assert m[key]["n"] == len(per) == 6, key
        assert m[key]["mean"] == pytest.approx(np.mean(per), abs=1e-3), key
        assert m[key]["min"] == pytest.approx(min(per), abs=1e-3), key
        if key.endswith("ssim"):
            assert -1.0 <= min(per) <= max(per) < 1.0, key   # a 20-step model is not exact
    assert 0 < m["body_psnr"]["mean"] < PSNR_CAP_DB
    assert m["jitter_real"] is not None and m["flicker"] == pytest.approx(
        m["jitter_generated"] - m["jitter_real"])
    assert "body_ssim" in r["definitions"] and "pose_distance" not in m
    # how much of the camera's fine detail the person has in the output frame
    if "out_body_ssim" in m:
        assert m["out_body_detail"]["n"] == m["out_body_ssim"]["n"] and m["out_body_detail"]["mean"] > 0
        assert "detail, body crop, output frame" in out
        assert m["out_flicker"] is not None and "flicker, output frame" in out
    # how new the held-out poses are (from the poses training used): the table says it
    novelty = r["source"]["pose_novelty"]
    assert novelty["heldout"] >= 0 and novelty["others"] > 0
    assert f"held-out poses {novelty['heldout']:.3f} body heights" in out
    pngs = sorted(samples.glob("*.png"))
    assert [str(p) for p in pngs] == sorted(r["samples"])
    model = [p for p in pngs if not p.name.endswith("_output.png")]
    output = [p for p in pngs if p.name.endswith("_output.png")]
    assert len(model) == 2 and [p.name.replace("_output", "") for p in output] == [p.name for p in model]
    import cv2

    img = cv2.imread(str(model[0]))
    assert img.shape[0] >= 256 and img.shape[1] > 3 * img.shape[0] - 100  # pose | gen | real
    # the output frame's body crop, generated | real, at the camera's resolution
    out_img = cv2.imread(str(output[0]))
    assert out_img.shape[0] > 40 and out_img.shape[1] > 40
    assert not list(tmp_path.glob(".*part*"))  # no temporary left


def test_plumbing_perfect_generator_scores_perfectly(tiny_subject) -> None:
    """Real frames := the subject's own generated frames: every metric must be exact."""
    subject = load_subject(tiny_subject.folder)
    src = heldout_source(subject, max_frames=5)
    poses = [it.driving for it in src.items()]
    gen = list(synthesize_sequence(subject, poses))
    fake = EvalSource("heldout", len(gen),
                      lambda: (EvalItem(i, poses[i], gen[i]) for i in range(len(gen))))
    r = run_evaluation(subject, fake, EvalOptions(pose_metrics=False))
    m = r["metrics"]
    assert m["body_ssim"]["min"] == pytest.approx(1.0) and m["body_psnr"]["min"] == PSNR_CAP_DB
    assert m["face_ssim"]["mean"] == pytest.approx(1.0) and m["full_psnr"]["mean"] == PSNR_CAP_DB
    assert m["flicker"] == pytest.approx(0.0)


def test_frames_without_person_are_generated_not_scored(tiny_subject) -> None:
    subject = load_subject(tiny_subject.folder)
    src = heldout_source(subject, max_frames=4)
    items = list(src.items())
    items[1] = EvalItem(items[1].index, np.zeros_like(items[1].driving), items[1].real)
    r = run_evaluation(subject, EvalSource("heldout", 4, lambda: iter(items)),
                       EvalOptions(pose_metrics=False))
    assert r["frames"]["no_person"] == 1 and r["frames"]["evaluated"] == 3
    # frame 2 starts afresh after the gap
    assert r["per_frame"]["step"] == ["pose-only", "pose-only", "warped"]


def test_stride_drives_every_nth_frame(tiny_subject) -> None:
    """--stride N: the generator sees frames 0, N, 2N... only (its previous output N frames old),
    and only those are scored, each against its own real frame."""
    subject = load_subject(tiny_subject.folder)
    src = heldout_source(subject, max_frames=7)
    items = list(src.items())
    r = run_evaluation(subject, EvalSource("heldout", 7, lambda: iter(items)),
                       EvalOptions(pose_metrics=False, stride=3))
    assert r["frames"]["evaluated"] == 3 and r["frames"]["stride"] == 3
    assert r["per_frame"]["index"] == [items[0].index, items[3].index, items[6].index]
    # the same frames as a synthesizer fed those poses alone
    gen = list(synthesize_sequence(subject, [items[i].driving for i in (0, 3, 6)]))
    from rtmotion.eval.metrics import ssim_psnr

    expect = [ssim_psnr(g, items[i].real)[0] for g, i in zip(gen, (0, 3, 6))]
    assert r["per_frame"]["full_ssim"] == pytest.approx(expect, abs=1e-6)


def test_transfer_against_synthetic_ground_truth(tiny_subject, tmp_path: Path, capsys) -> None:
    report = tmp_path / "t.json"
    rc, out, err = _eval(capsys, str(tiny_subject.folder), "--transfer-character", "bruno",
                         "--max-frames", "5", "--no-pose", "--transfer-poses", "exact",
                         "-o", str(report))
    assert rc == 0, err
    r = json.loads(report.read_text())
    assert r["source"]["driving_poses"] == "exact"
    assert r["mode"] == "transfer" and r["frames"]["evaluated"] == 5
    assert r["source"]["driven_by"] == "bruno" and r["source"]["character"] == "ada"
    assert r["source"]["seed"] == 1  # unseen motion: the training seed + 1
    # Normalization maps bruno's motion close to where ada's true joints are (different bones).
    err_m = r["metrics"]["driving_pose_error"]
    assert err_m["n"] == 5 and 0.0 < err_m["mean"] < 0.15
    assert "driving pose vs true pose" in out
    # how far each pose drawn is from the subject's keyframes, and the score split by it
    m = r["metrics"]
    assert m["keyframe_distance"]["n"] == 5 and m["keyframe_distance"]["min"] >= 0
    assert len(r["per_frame"]["keyframe_distance"]) == 5
    new = sum(d > NEW_POSE_DISTANCE for d in r["per_frame"]["keyframe_distance"])
    assert m["new_poses"] == pytest.approx(100.0 * new / 5)
    assert m["body_ssim_new_poses"]["n"] == new and m["body_ssim_known_poses"]["n"] == 5 - new
    assert "pose to the nearest keyframe" in out and "new poses (off every keyframe)" in out


def test_transfer_driven_through_converts_pose_path(tiny_subject, monkeypatch) -> None:
    """The default transfer drives with exactly the poses `convert` gets from the other
    character's rendered video (its real MediaPipe run, filter and normalization)."""
    from rtmotion.eval.sources import transfer_source
    from rtmotion.pipeline import offline

    seen: list = []
    real = offline.driving_poses

    def spy(*a, **k):
        seen.append(real(*a, **k))
        return seen[-1]

    monkeypatch.setattr(offline, "driving_poses", spy)
    subject = load_subject(tiny_subject.folder)
    src = transfer_source(subject, "bruno", max_frames=12, mode="retarget")
    assert src.info["driving_poses"].startswith("pose estimator") and len(seen) == 1
    assert seen[0].raw.extractor.startswith("mediapipe") and seen[0].driving.extractor.endswith("retarget")
    items = list(src.items())
    assert len(items) == 12
    np.testing.assert_array_equal(np.stack([it.driving for it in items]), seen[0].driving.keypoints)


def test_transfer_driven_by_the_targets_own_poses(tiny_subject) -> None:
    """--transfer-poses target: the driving poses are MediaPipe's (offline-filtered) poses of the
    true frames themselves, in model pixels, not normalized: the bound a perfect normalization
    would reach. They lie on the renderer's truth within MediaPipe's convention offsets."""
    from rtmotion.eval.sources import transfer_source

    subject = load_subject(tiny_subject.folder)
    src = transfer_source(subject, "bruno", max_frames=8, driving="target")
    assert src.info["driving_poses"] == "the target's own, pose estimator (no normalization)"
    items = list(src.items())
    assert len(items) == 8
    drv, truth = np.stack([it.driving for it in items]), np.stack([it.truth for it in items])
    seen = (drv[..., 2] > 0.3) & (truth[..., 2] > 0.3)
    assert seen.sum() > 8 * 10
    err = np.linalg.norm(drv[..., :2] - truth[..., :2], axis=-1)[seen]
    body_h = float(np.ptp(truth[..., 1][truth[..., 2] > 0]))
    assert np.median(err) < 0.05 * body_h      # the same person, within the conventions' offsets
    # Not bruno normalized: the default (extracted) drives with other poses.
    other = np.stack([it.driving for it in transfer_source(subject, "bruno", max_frames=8).items()])
    assert not np.allclose(other, drv)


def test_cli_transfer_poses_are_the_sources_choices() -> None:
    """The CLI lists the transfer drivings literally (it imports eval lazily): the same set."""
    import argparse

    from rtmotion.commands import eval as eval_cmd
    from rtmotion.eval.sources import TRANSFER_DRIVING

    parser = argparse.ArgumentParser()
    eval_cmd.add_arguments(parser)
    action = next(a for a in parser._actions if a.dest == "transfer_poses")
    assert tuple(action.choices) == TRANSFER_DRIVING


def test_video_and_poses(tiny_subject, tmp_path: Path, capsys) -> None:
    rc, out, err = _eval(capsys, str(tiny_subject.folder), "--video", str(tiny_subject.video),
                         "--poses", str(tiny_subject.poses), "--max-frames", "3", "--no-pose")
    assert rc == 0, err
    assert "[video], 3/3 frames" in out


def test_heldout_rerendered_when_synthetic_video_is_gone(tiny_subject, tmp_path: Path, capsys) -> None:
    """A shipped demo subject's source video is not on the user's machine: the held-out frames
    of a synthetic source are rendered again from its recorded origin."""
    folder = _copy_subject(tiny_subject, tmp_path, path=str(tmp_path / "gone.mp4"),
                           pose_source="file:" + str(tmp_path / "gone.npz"),
                           origin="synthetic:ada/dance/seed0", background="room")
    report = tmp_path / "r.json"
    rc, _, err = _eval(capsys, str(folder), "--max-frames", "4", "--no-pose", "-o", str(report))
    assert rc == 0, err
    r = json.loads(report.read_text())
    assert r["source"]["video"] == "re-rendered (synthetic)"
    assert r["source"]["poses"] == "synthetic ground truth"
    # Same frames as the real run, up to the source video's H.264 coding.
    rc, _, _ = _eval(capsys, str(tiny_subject.folder), "--max-frames", "4", "--no-pose", "-o",
                     str(tmp_path / "orig.json"))
    orig = json.loads((tmp_path / "orig.json").read_text())
    assert r["metrics"]["body_ssim"]["mean"] == pytest.approx(orig["metrics"]["body_ssim"]["mean"],
                                                              abs=0.03)
    # The frames themselves: the same driving poses, and real frames that are the source
    # video's frames up to its H.264 coding (a wrong frame, crop or colour order is far off).
    rerendered = list(heldout_source(load_subject(folder), max_frames=4).items())
    original = list(heldout_source(load_subject(tiny_subject.folder), max_frames=4).items())
    assert [i.index for i in rerendered] == [i.index for i in original]
    for a, b in zip(rerendered, original, strict=True):
        np.testing.assert_array_equal(a.driving, b.driving)
        assert a.real.shape == b.real.shape and a.real.dtype == np.uint8
        err = np.abs(a.real.astype(int) - b.real.astype(int)).mean()
        assert err < 4.0, err
        # ... and nearer its own frame than the next one
        assert err < np.abs(a.real.astype(int) - original[(original.index(b) + 1) % 4].real.astype(int)).mean()


@pytest.mark.mediapipe
def test_heldout_rerendered_driven_by_the_training_extractor(tiny_subject, tmp_path: Path,
                                                            capsys, monkeypatch) -> None:
    """A subject trained on MediaPipe poses (as a user's is) whose video is gone: the re-rendered
    held-out frames are driven by MediaPipe's poses of them, smoothed by the filter `rtmotion
    extract` applies by default (what made the training poses), and the table says so. (It
    once used the causal live filter: a fresh clone's demo-ada scored body 0.919 / face 0.787
    instead of 0.955 / 0.902, docs/BENCHMARKS.md.)"""
    import rtmotion.eval.sources as sources
    from rtmotion.cli import build_parser

    filters: list[str] = []
    smooth = sources.smooth_keypoints

    def recording_smooth(kp, times, height, params):  # the real filter, its method noted
        filters.append(params.method)
        return smooth(kp, times, height, params)

    monkeypatch.setattr(sources, "smooth_keypoints", recording_smooth)
    folder = _copy_subject(tiny_subject, tmp_path, path=str(tmp_path / "gone.mp4"),
                           pose_source="file:" + str(tmp_path / "gone.npz"),
                           pose_extractor="mediapipe-blazepose-c1-tracking",
                           origin="synthetic:ada/dance/seed0", background="room")
    report = tmp_path / "r.json"
    rc, out, err = _eval(capsys, str(folder), "--max-frames", "4", "--no-pose", "-o", str(report))
    assert rc == 0, err
    r = json.loads(report.read_text())
    assert r["source"]["video"] == "re-rendered (synthetic)"
    assert r["source"]["poses"] == "mediapipe (re-extracted from the re-rendered frames)"
    assert "driving poses: mediapipe (re-extracted from the re-rendered frames)" in out
    assert r["frames"]["evaluated"] == 4
    extract_default = build_parser().parse_args(["extract", "v.mp4", "-o", "p.npz"]).filter
    assert filters == [extract_default]


@pytest.mark.mediapipe
def test_pose_distance_with_mediapipe(tiny_subject, tmp_path: Path, capsys) -> None:
    report = tmp_path / "p.json"
    rc, out, err = _eval(capsys, str(tiny_subject.folder), "--max-frames", "4", "--pose-metrics",
                         "-o", str(report))
    assert rc == 0, err
    m = json.loads(report.read_text())["metrics"]
    # MediaPipe finds ada in the real 64x64 crops and agrees with the ground truth there.
    assert m["pose_detected_real"] == 100.0
    assert m["pose_distance_real"]["n"] == 4 and m["pose_distance_real"]["mean"] < 0.1
    # a 20-step model rarely shows a person: the percentage is whatever the frames say
    per = json.loads(report.read_text())["per_frame"]
    assert len(per["detected"]) == len(per["detected_real"]) == 4
    assert m["pose_detected"] == pytest.approx(100.0 * sum(map(bool, per["detected"])) / 4)
    assert all(per["detected_real"])
    assert "person detected (generated)" in out


def test_pose_rows_are_opt_in(tiny_subject, tmp_path: Path, capsys) -> None:
    """Pose distance and "person detected" do not tell a blob from a person (issue 18): they
    are left out unless asked for."""
    report = tmp_path / "np.json"
    rc, out, err = _eval(capsys, str(tiny_subject.folder), "--max-frames", "3", "-o", str(report))
    assert rc == 0, err
    m = json.loads(report.read_text())["metrics"]
    assert not {"pose_distance", "pose_detected", "pose_distance_real"} & set(m)
    assert "person detected" not in out and "pose distance" not in out
    assert "SSIM, body crop" in out


# ---- bad inputs: one line, non-zero exit, no report ------------------------------------------

def _bad(capsys, tmp_path: Path, *args: str) -> str:
    report = tmp_path / "bad.json"
    rc, out, err = _eval(capsys, *args, "-o", str(report))
    assert rc != 0
    assert not report.exists() and not list(tmp_path.glob(".bad*"))
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("rtmotion eval: error")]
    assert len(lines) == 1, err
    return lines[0]


def test_missing_and_broken_subject(tmp_path: Path, capsys) -> None:
    assert "subject not found" in _bad(capsys, tmp_path, str(tmp_path / "nope"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "subject.json").write_text("{not json")
    assert "damaged" in _bad(capsys, tmp_path, str(broken))


def test_missing_video_and_length_mismatch(tiny_subject, tmp_path: Path, capsys) -> None:
    line = _bad(capsys, tmp_path, str(tiny_subject.folder), "--video", str(tmp_path / "no.mp4"),
                "--poses", str(tiny_subject.poses))
    assert "no.mp4" in line
    short = PoseSequence.load(tiny_subject.poses).slice(0, 30)
    short.save(tmp_path / "short.npz")
    line = _bad(capsys, tmp_path, str(tiny_subject.folder), "--video", str(tiny_subject.video),
                "--poses", str(tmp_path / "short.npz"))
    assert "30 poses" in line and "60 frames" in line


def test_no_person(tiny_subject, tmp_path: Path, capsys) -> None:
    seq = PoseSequence.load(tiny_subject.poses)
    seq.with_keypoints(np.zeros_like(seq.keypoints)).save(tmp_path / "empty.npz")
    line = _bad(capsys, tmp_path, str(tiny_subject.folder), "--video", str(tiny_subject.video),
                "--poses", str(tmp_path / "empty.npz"), "--max-frames", "3", "--no-pose")
    assert "no person" in line


def test_transfer_needs_synthetic_subject_and_another_character(tiny_subject, tmp_path: Path,
                                                                 capsys) -> None:
    # A subject of real footage: no origin tag in its video, poses from MediaPipe.
    real_like = _copy_subject(tiny_subject, tmp_path, pose_source="mediapipe", origin=None,
                              background=None)
    assert "not trained on a synthetic dancer" in _bad(
        capsys, tmp_path, str(real_like), "--transfer-character", "bruno")
    assert "subject's own character" in _bad(
        capsys, tmp_path, str(tiny_subject.folder), "--transfer-character", "ada")
    assert "unknown character" in _bad(
        capsys, tmp_path, str(tiny_subject.folder), "--transfer-character", "zorro")


def test_subject_records_its_synthetic_origin(tiny_subject) -> None:
    """Training on a `rtmotion synth` video records where it came from (its MP4 origin tag)."""
    info = json.loads((tiny_subject.folder / "subject.json").read_text())
    assert info["source_video"]["origin"].startswith("synthetic:ada/")
    assert info["source_video"]["background"]


def test_report_path_is_a_directory(tiny_subject, tmp_path: Path, capsys) -> None:
    rc, _, err = _eval(capsys, str(tiny_subject.folder), "-o", str(tmp_path))
    assert rc == 3 and "error" in err


@pytest.mark.mediapipe
def test_video_without_poses_extracts_them(tiny_subject, tmp_path: Path, capsys) -> None:
    report = tmp_path / "v.json"
    rc, out, err = _eval(capsys, str(tiny_subject.folder), "--video", str(tiny_subject.video),
                         "--max-frames", "3", "--no-pose", "-o", str(report))
    assert rc == 0, err
    r = json.loads(report.read_text())
    assert r["source"]["poses"] == "mediapipe" and r["frames"]["evaluated"] == 3


def test_eval_through_a_built_onnxruntime_engine(tiny_subject, tmp_path: Path, capsys) -> None:
    """--backend onnxruntime builds the engine into --engine-dir on first use and scores the same
    frames as PyTorch (the graph agrees to a fraction of a grey level)."""
    engines = tmp_path / "engines"
    scores = {}
    for backend in ("torch", "onnxruntime"):
        report = tmp_path / f"{backend}.json"
        rc, _, err = _eval(capsys, str(tiny_subject.folder), "--max-frames", "4", "--no-pose",
                           "--backend", backend, "--precision", "fp32", "--engine-dir",
                           str(engines), "-o", str(report))
        assert rc == 0, err
        scores[backend] = json.loads(report.read_text())["metrics"]["body_ssim"]["mean"]
    assert any(engines.rglob("*.onnx"))
    assert scores["onnxruntime"] == pytest.approx(scores["torch"], abs=0.01)
    # the frames themselves: the built engine's frames are PyTorch's within a grey level
    from rtmotion.engine_request import EngineRequest

    subject = load_subject(tiny_subject.folder)
    poses = [it.driving for it in heldout_source(subject, max_frames=4).items()]
    ref = list(synthesize_sequence(subject, poses))
    got = list(synthesize_sequence(subject, poses, EngineRequest("onnxruntime", "fp32", "cpu", engines)))
    assert len(got) == len(ref) == 4
    for a, b in zip(got, ref, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_eval_scores_the_frames_convert_ships(tiny_subject, dancer_clip, tmp_path,
                                              monkeypatch) -> None:
    """eval and convert make the same frames for the same subject and poses (both generate
    through one `Session`): eval, given the frames convert ships as the real ones, finds every
    frame identical (PSNR at its cap, SSIM 1), in the model frame (the shipped frames cut to the
    subject's fixed crop, as eval cuts the real camera frames; the generator's own, so convert
    with --no-detail) and in the output frame (the whole frames, keyframe detail included). The
    subject draws a box that follows the person; convert composes it onto the full frame
    (`rtmotion.pipeline.canvas`), eval scores it in the fixed crop and on the camera frame."""
    from rtmotion.pipeline.canvas import Canvas
    from rtmotion.pipeline.offline import convert

    subject = load_subject(tiny_subject.folder)
    assert subject.follow_crop is not None and subject.keyframe_detail is not None

    def shipped_by_convert(detail: bool) -> tuple[list[np.ndarray], np.ndarray]:
        shipped: list[np.ndarray] = []
        compose = Canvas.compose

        def keep(self, image, placement=None, sharpen=None):
            shipped.append(compose(self, image, placement, sharpen))
            return shipped[-1].copy()

        with monkeypatch.context() as m:
            m.setattr(Canvas, "compose", keep)
            res = convert(subject, dancer_clip.poses, tmp_path / "o.mp4", end=12,
                          show_progress=False, detail=detail)
        assert VideoInfo.from_path(tmp_path / "o.mp4").size == subject.crop.frame_size
        assert res.frames == len(shipped) == 12 and res.frames_no_person == 0
        return shipped, res.poses.driving.keypoints

    plain, driving = shipped_by_convert(detail=False)
    sharp, _ = shipped_by_convert(detail=True)
    assert any(not np.array_equal(a, b) for a, b in zip(plain, sharp, strict=True))
    items = [EvalItem(i, driving[i], subject.crop.crop_image(plain[i], subject.resolution),
                      camera=sharp[i]) for i in range(len(plain))]
    r = run_evaluation(subject, EvalSource("heldout", len(items), lambda: iter(items)),
                       EvalOptions(pose_metrics=False))
    assert r["frames"]["evaluated"] == 12
    assert r["per_frame"]["step"] == ["pose-only"] + ["warped"] * 11
    assert r["per_frame"]["full_psnr"] == [PSNR_CAP_DB] * 12
    assert r["metrics"]["full_ssim"]["min"] == pytest.approx(1.0)
    assert r["per_frame"]["out_body_psnr"] == [PSNR_CAP_DB] * 12
    assert r["metrics"]["out_body_detail"]["min"] == pytest.approx(1.0)


def _with_keyframe_exclude(tiny_subject, tmp_path: Path, near: int) -> Path:
    """A copy of the tiny subject recording another `keyframe_exclude` (its 2 s clip has a
    keyframe on every training frame: with training's 8, none is farther from the training
    blocks)."""
    dst = _copy_subject(tiny_subject, tmp_path)
    sj = dst / "subject.json"
    info = json.loads(sj.read_text())
    info["training"]["keyframe_exclude"] = near
    sj.write_text(json.dumps(info))
    return dst


def test_training_frames_are_blocks_drawn_without_their_keyframes(tiny_subject, tmp_path) -> None:
    """--frames training: a block before and one after the held-out block (outside its guard
    bands), each as long as it; the subject draws them without the keyframes taken within its
    keyframe_exclude frames of them (training's rule)."""
    from rtmotion.eval.sources import training_source
    from rtmotion.subject.split import guard_frames

    subject = load_subject(_with_keyframe_exclude(tiny_subject, tmp_path, 2))
    v0, v1 = subject.validation_range
    drawn, src = training_source(subject)
    blocks = src.info["frames"]
    assert src.mode == "training" and len(blocks) == 2 and src.total == 2 * (v1 - v0)
    guard = guard_frames(30)
    assert blocks[0][1] <= v0 - guard and blocks[1][0] >= v1 + guard
    assert all(e - s == v1 - v0 for s, e in blocks)
    items = list(src.items())
    assert [it.index for it in items] == [*range(*blocks[0]), *range(*blocks[1])]
    assert [it.cut for it in items] == [i == v1 - v0 for i in range(len(items))]
    kept = drawn.keyframes.frames
    assert len(kept) == len(subject.keyframes) - src.info["keyframes_left_out"] > 0
    for s, e in blocks:
        assert not ((kept >= s - 2) & (kept < e + 2)).any()
    assert len(subject.keyframes) == 32  # the subject itself is not changed
    # The poses are the training poses of those frames.
    seq = PoseSequence.load(tiny_subject.poses)
    crop_kps = subject.crop.keypoints_to_crop(seq.keypoints[blocks[1][0]], subject.resolution)
    assert items[v1 - v0].driving == pytest.approx(crop_kps)
    # With training's own 8 frames every keyframe of this short clip is that near: no fit
    # (it would score copies), said in one line.
    with pytest.raises(InputError, match="every keyframe was taken within 8 frames"):
        training_source(load_subject(tiny_subject.folder))


def test_a_cut_starts_the_generator_afresh(tiny_subject, tmp_path) -> None:
    """An item marked `cut` is drawn as the first frame of a new sequence: the second block of
    a training source scores exactly as that block evaluated alone."""
    from rtmotion.eval.sources import training_source

    subject = load_subject(_with_keyframe_exclude(tiny_subject, tmp_path, 2))
    drawn, src = training_source(subject)
    items = list(src.items())
    n = len(items) // 2
    both = run_evaluation(drawn, src, EvalOptions(pose_metrics=False))
    alone = run_evaluation(drawn, EvalSource("training", n, lambda: iter(items[n:])),
                           EvalOptions(pose_metrics=False))
    assert both["per_frame"]["step"][n] == "pose-only"  # no previous frame after the cut
    assert both["per_frame"]["full_ssim"][n:] == pytest.approx(alone["per_frame"]["full_ssim"], abs=1e-6)


def test_eval_frames_training_cli(tiny_subject, tmp_path: Path, capsys) -> None:
    folder = _with_keyframe_exclude(tiny_subject, tmp_path, 2)
    rep = tmp_path / "fit.json"
    rc, out, err = _eval(capsys, str(folder), "--frames", "training", "-o", str(rep))
    assert rc == 0, err
    assert "[training]" in out and "frames it trained on (" in out and "its fit" in out
    r = json.loads(rep.read_text())
    assert r["mode"] == "training" and r["frames"]["evaluated"] == 24
    assert 0.0 < r["metrics"]["body_ssim"]["mean"] <= 1.0
    # The training frames are the subject's own: other footage is a different question.
    rc, out, err = _eval(capsys, str(folder), "--frames", "training", "--video", str(tiny_subject.video))
    assert rc == 2 and "--frames training" in err and len(err.strip().splitlines()) == 1
    # Too short a clip to leave any keyframe away from the blocks: one line, exit 2.
    rc, out, err = _eval(capsys, str(tiny_subject.folder), "--frames", "training")
    assert rc == 2 and "every keyframe" in err and len(err.strip().splitlines()) == 1


def test_a_subject_trained_on_a_moving_camera_is_told(tiny_subject, tmp_path: Path, capsys,
                                                      caplog) -> None:
    """eval of a subject whose training clip's camera moved (its plate record in subject.json)
    says so under the scores of its own clip; a fixed camera's record says nothing."""
    import logging

    from rtmotion.train.background import CHANGED_WARN

    with caplog.at_level(logging.WARNING, logger="rtmotion.commands.eval"):
        rc, _, _ = _eval(capsys, str(tiny_subject.folder), "--max-frames", "2", "--no-pose")
    assert rc == 0 and "camera moves" not in caplog.text
    folder = _copy_subject(tiny_subject, tmp_path)
    sj = folder / "subject.json"
    info = json.loads(sj.read_text())
    info["training"]["scene_plate"] = {"frames_used": 64, "frames_segmented": 64, "residual": 6.0,
                                       "inpainted_fraction": 0.06, "changed_fraction": 2 * CHANGED_WARN}
    sj.write_text(json.dumps(info))
    with caplog.at_level(logging.WARNING, logger="rtmotion.commands.eval"):
        rc, out, _ = _eval(capsys, str(folder), "--max-frames", "2", "--no-pose")
    assert rc == 0 and "SSIM, body crop" in out
    (said,) = [r.getMessage() for r in caplog.records if "camera moves" in r.getMessage()]
    assert said.startswith("the camera moves in the clip this subject was trained on")
    assert f"{100 * 2 * CHANGED_WARN:.0f} % of them" in said and "held still" in said
