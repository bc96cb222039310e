"""`rtmotion train` end to end on a short synthetic clip (ground-truth poses, tiny model, CPU)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rtmotion.cli import main
from rtmotion.pose.posefile import PoseSequence
from rtmotion.subject import load_subject
from rtmotion.subject.split import guard_frames, heldout_block
from rtmotion.train.checkpoint import load_checkpoint, save_checkpoint
from rtmotion.train.face_stage import face_crop_for_side
from rtmotion.train.machine_settings import RESUME_WARMUP_STEPS

#: Small and quick; --gan: with the discriminators, as a GPU trains (a CPU's default is without
#: them, `machine_settings.CPU_ADVERSARIAL`: test_without_gan_no_discriminator_runs, the slow
#: default-settings test and the eval tests' subjects run that path).
FAST = ["--preset", "tiny", "--resolution", "64", "--device", "cpu", "--workers", "0",
        "--batch-size", "2", "--d-channels", "16", "--d-scales", "1", "--save-every", "8",
        "--sample-every", "8", "--log-every", "4", "--min-pose-frames", "30", "--gan"]


#: Tests that are not about the background plate skip the person segmentation of its frames
#: (about 2 s a run; the default is tested by `trained` and the follow-crop bundle).
NO_SEG = "--no-person-segmentation"


def _train(clip, out: Path, *extra: str) -> int:
    return main(["-q", "train", "--video", str(clip.video), "--poses", str(clip.poses),
                 "-o", str(out), *FAST, *extra])


@pytest.fixture(scope="module")
def trained(dancer_clip, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train") / "subjects" / "ada"
    # The fixed crop (the follow crop, the default, has its own test below).
    assert _train(dancer_clip, out, "--steps", "16", "--no-follow-crop") == 0
    return out


def test_bundle_loads_and_generates(trained: Path, dancer_clip) -> None:
    for name in ("subject.json", "generator.pt", "pose_stats.json", "preview.png",
                 "checkpoints/last.pt", "cache/frames.npy", "samples/step_0000016.png"):
        assert (trained / name).is_file(), name
    assert list((trained / "tb").glob("events.out.tfevents.*"))
    info = json.loads((trained / "subject.json").read_text())
    assert info["training"]["steps"] == 16 and info["name"] == "ada"
    assert set(info["training"]["final_losses"]) >= {"l1", "ssim", "gan", "fm", "tgan", "d", "dt"}
    # The background plate (default): estimated, held by the generator, shown as an image.
    assert info["generator"]["background_plate"] and info["background"] == "background.png"
    assert info["training"]["background_plate"]["frames_used"] > 10
    # The person's segmentation joined the skeleton mask (the default) in most frames.
    plate = info["training"]["background_plate"]
    assert plate["frames_segmented"] >= 0.8 * plate["frames_used"], plate
    import cv2

    plate_png = cv2.imread(str(trained / "background.png"))[..., ::-1]
    n = dancer_clip.num_frames
    # the held-out tenth is the clip's middle (`heldout_block`)
    v0, v1 = heldout_block(n, 0.1)
    assert info["validation"] == {"start": v0, "end": v1} and 0 < v0 < v1 < n
    s = load_subject(trained)
    assert s.resolution == (64, 64) and s.stats.size == (64, 64)
    # The appearance reference (default): keyframes of the training frames only, at the model's
    # resolution, equal to the cached frames they were taken from.
    assert s.generator_config.use_reference and info["keyframes"]["count"] == len(s.keyframes)
    assert 8 <= len(s.keyframes) <= 32
    # none from the held-out block or its guard bands
    guard = guard_frames(dancer_clip.fps)
    near = np.abs(s.keyframes.frames[:, None] - np.arange(v0 - guard, v1 + guard)[None]).min(1)
    assert (near > 0).all(), s.keyframes.frames
    cached = np.load(trained / "cache" / "frames.npy", mmap_mode="r")
    np.testing.assert_array_equal(s.keyframes.images, cached[s.keyframes.frames])
    # ... and at the camera's resolution: the fixed crop's box of the video frame (the output
    # frame's full-resolution detail), which a full-frame session uses.
    from rtmotion.io import VideoReader
    from rtmotion.pipeline.session import open_session

    d = s.keyframe_detail
    assert d is not None and d.size == (s.crop.width, s.crop.height)
    with VideoReader(dancer_clip.video) as reader:
        video = {fr.index: fr.image for fr in reader}
    k = len(d) // 2
    assert np.abs(d.images[k].astype(int) - s.crop.crop_image(video[int(d.frames[k])], d.size)).mean() < 2.0
    with open_session(s, full_frame=True) as session:
        assert session.detail is not None
        frame = session(np.load(trained / "cache" / "poses.npy")[int(d.frames[k])])
    assert frame.shape == (256, 256, 3)
    held = ((s.generator.background[0].float().permute(1, 2, 0) + 1) * 127.5).round()
    assert np.abs(held.numpy() - plate_png).max() <= 1  # fp16 weights: within one level
    # The same plate at the camera's resolution, which the full output frame is composed on:
    # the room of the 256x256 video (the 64 px plate is it, shrunk).
    assert info["scene_plate"] == "scene.png" and s.scene_plate.shape == (256, 256, 3)
    crop_of_scene = s.crop.crop_image(s.scene_plate, (64, 64)).astype(int)
    assert np.abs(crop_of_scene - plate_png).mean() < 4
    from rtmotion.kernels.maps_torch import pose_maps_torch

    kp = np.load(trained / "cache" / "poses.npy")[:1]
    maps = pose_maps_torch(torch.from_numpy(kp), s.pose_map_config)
    with torch.no_grad():
        frame, gate, _ = s.generator(maps, None)
    assert frame.shape == (1, 3, 64, 64) and torch.isfinite(frame).all()
    assert frame.min() >= -1 and frame.max() <= 1
    # The crop holds the person: every visible ground-truth joint is inside it.
    vis = dancer_clip.seq.keypoints[..., 2] > 0
    xs, ys = dancer_clip.seq.keypoints[..., 0][vis], dancer_clip.seq.keypoints[..., 1][vis]
    c = s.crop
    assert c.x0 <= xs.min() and xs.max() < c.x1 and c.y0 <= ys.min() and ys.max() < c.y1


def test_follow_crop_bundle(dancer_clip, tmp_path: Path, monkeypatch, capsys) -> None:
    """The default: a box that follows the person, cut from every frame around its pose; the
    keyframes keep their boxes' origins, the room comes from the scene plate, and the bundle
    draws through a session."""
    from rtmotion.pipeline.session import open_session
    from rtmotion.subject.follow import origin_model
    from rtmotion.train import trainer

    # A counting spy on the scene plate's estimate (seconds of segmented frames on real video).
    estimates: list[str] = []
    estimate = trainer.estimate_scene_plate

    def counted(video: Path, *a: Any, **k: Any) -> Any:
        estimates.append(str(video))
        return estimate(video, *a, **k)

    monkeypatch.setattr(trainer, "estimate_scene_plate", counted)
    out = tmp_path / "follow"
    assert _train(dancer_clip, out, "--steps", "4", NO_SEG) == 0
    assert estimates == [str(dancer_clip.video)]
    info = json.loads((out / "subject.json").read_text())
    # How the scene plate was made is recorded: a fixed camera's frames agree with it.
    from rtmotion.train.background import CHANGED_WARN, RESIDUAL_WARN

    made = info["training"]["scene_plate"]
    assert made["frames_used"] > 10 and made["residual"] <= RESIDUAL_WARN, made
    assert made["changed_fraction"] <= CHANGED_WARN
    s = load_subject(out)
    f = s.follow_crop
    assert f is not None and info["follow_crop"]["size"] == list(f.size)
    assert f.size[1] < 0.9 * s.crop.height and s.generator_config.plate_input
    assert not s.generator_config.background_plate and s.scene_plate.shape == (256, 256, 3)
    boxes = np.load(out / "cache" / "boxes.npy")
    cached = np.load(out / "cache" / "frames.npy", mmap_mode="r")
    poses = np.load(out / "cache" / "poses.npy")
    from rtmotion.io import VideoReader
    from rtmotion.subject.crop import CropBox

    with VideoReader(dancer_clip.video) as reader:
        video = [fr.image for fr in reader]
    for i in s.keyframes.frames[:3]:
        box = CropBox(*boxes[i], boxes[i][0] + f.size[0], boxes[i][1] + f.size[1], (256, 256))
        np.testing.assert_array_equal(cached[i], box.crop_image(video[i], (64, 64)))
        np.testing.assert_allclose(poses[i], box.keypoints_to_crop(dancer_clip.seq.keypoints[i],
                                                                   (64, 64)), atol=1e-4)
        k = int(np.flatnonzero(s.keyframes.frames == i)[0])
        np.testing.assert_allclose(s.keyframes.origins[k], origin_model(box, (64, 64)), rtol=1e-5)
        np.testing.assert_array_equal(s.keyframes.images[k], cached[i])
        # The same box at the camera's resolution: the output frame's full-resolution detail.
        assert s.keyframe_detail.size == f.size  # (a box under 768 px: its own size)
        detail = box.crop_image(video[i], f.size).astype(int)
        assert np.abs(s.keyframe_detail.images[k] - detail).mean() < 2.0  # JPEG
    assert np.array_equal(s.keyframe_detail.frames, s.keyframes.frames)
    assert info["keyframe_detail"] == {"file": "keyframe_detail.npz", "size": list(f.size)}
    # Pose statistics stay in the fixed crop (the frame normalization and sessions work in):
    # the person's height there, not in the (larger-scaled) follow box.
    fixed = s.crop.keypoints_to_crop(dancer_clip.seq.keypoints, (64, 64))
    vis = fixed[..., 2] > 0
    height = np.nanmax(np.where(vis, fixed[..., 1], np.nan), 1) - \
        np.nanmin(np.where(vis, fixed[..., 1], np.nan), 1)
    follow_h = poses[..., 1].max(1) - np.where(poses[..., 2] > 0, poses[..., 1], np.inf).min(1)
    assert np.median(follow_h) > 1.1 * np.median(height)
    assert abs(s.stats.height_far - np.median(height)) < 0.25 * np.median(height)
    with open_session(s, full_frame=True) as session:
        frame = session(fixed[-1])
    assert frame.shape == (256, 256, 3)
    # The checkpoint keeps the room the plate inputs were cut from, and a resumed run trains on
    # and ships that one without estimating a new one (the checkpoint's plate is marked, so the
    # two cannot agree by chance).
    last = out / "checkpoints" / "last.pt"
    ck = load_checkpoint(last)
    np.testing.assert_array_equal(ck["scene_plate"].numpy(), s.scene_plate)
    state = {k: v for k, v in ck.items() if k not in ("kind", "version", "rtmotion_version")}
    marked = ck["scene_plate"].clone()
    marked[:8, :8] = torch.tensor([255, 0, 255], dtype=torch.uint8)
    save_checkpoint(last, dict(state, scene_plate=marked))
    assert _train(dancer_clip, out, "--steps", "5", "--resume", NO_SEG) == 0
    assert len(estimates) == 1  # not estimated again
    # ... and its record comes from the checkpoint with it
    assert json.loads((out / "subject.json").read_text())["training"]["scene_plate"] == made
    np.testing.assert_array_equal(load_subject(out).scene_plate, marked.numpy())
    np.testing.assert_array_equal(load_checkpoint(last)["scene_plate"].numpy(), marked.numpy())
    # A checkpoint saved without a plate: the resumed run estimates it (the same room again).
    save_checkpoint(last, {k: v for k, v in state.items() if k != "scene_plate"})
    assert _train(dancer_clip, out, "--steps", "6", "--resume", NO_SEG) == 0
    assert len(estimates) == 2
    np.testing.assert_array_equal(load_subject(out).scene_plate, s.scene_plate)
    # A plate of another frame size (another video under the same work dir): refused, named.
    capsys.readouterr()
    save_checkpoint(last, dict(state, scene_plate=ck["scene_plate"][:128]))
    assert main(["train", "--video", str(dancer_clip.video), "--poses", str(dancer_clip.poses),
                 "-o", str(out), *FAST, "--steps", "7", "--resume", NO_SEG]) == 2
    err = capsys.readouterr().err
    assert "its scene plate is 256x128, this video's frames 256x256" in err and "last.pt" in err
    assert len(estimates) == 2


def test_a_moving_camera_is_named_before_training_and_in_the_verdict(dancer_clip, tmp_path: Path,
                                                                     caplog) -> None:
    """A camera that tilts (here: every frame a pixel further, poses moved with it) puts the room
    somewhere else in every frame: `train` says so before it trains, records the plate's
    disagreement, and its verdict names the camera instead of "train longer"."""
    import logging

    from rtmotion.train.background import CHANGED_WARN
    from tests.moving_camera import write_tilting_clip

    video, poses = write_tilting_clip(dancer_clip, tmp_path)
    out = tmp_path / "S"
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "train", "--video", str(video), "--poses", str(poses), "-o", str(out),
                     *FAST, "--steps", "2", NO_SEG]) == 0
    messages = [r.getMessage() for r in caplog.records]
    (before,) = [m for m in messages if "THE CAMERA MOVES" in m]
    assert before.startswith("tilt.mp4: ") and "tripod" in before
    (verdict,) = [m for m in messages if m.startswith("NOT USABLE")]
    assert "The camera moves in this clip" in verdict and "Train longer" not in verdict
    assert messages.index(before) < messages.index(verdict)
    made = json.loads((out / "subject.json").read_text())["training"]["scene_plate"]
    assert made["changed_fraction"] > CHANGED_WARN, made


def test_resume_continues_and_reuses_cache(trained: Path, dancer_clip, caplog) -> None:
    import logging

    key_mtime = (trained / "cache" / "key.json").stat().st_mtime_ns
    last = trained / "checkpoints" / "last.pt"
    first = load_checkpoint(last)
    assert first["step"] == 16
    with caplog.at_level(logging.WARNING, logger="rtmotion.train.trainer"):
        assert _train(dancer_clip, trained, "--steps", "20", "--resume", NO_SEG) == 0
    assert not [r for r in caplog.records if "held-out score" in r.getMessage()]
    ck = load_checkpoint(last)
    assert ck["step"] == 20
    assert not torch.equal(ck["generator"]["head.weight"], first["generator"]["head.weight"])
    info = json.loads((trained / "subject.json").read_text())
    assert info["training"]["steps"] == 20
    assert (trained / "cache" / "key.json").stat().st_mtime_ns == key_mtime  # cache hit
    # each run is recorded with the steps it trained and its options (a resumed run may change
    # --lr: the top-level "lr" is the last run's)
    runs = info["training"]["runs"]
    assert [r["steps"] for r in runs] == [[0, 16], [16, 20]]
    assert [r["steps"] for r in ck["runs"]] == [[0, 16], [16, 20]]  # (minutes: at its save)
    assert all(r["lr"] == info["training"]["lr"] and r["face_steps"] == [0, 0] and r["minutes"] > 0
               for r in runs)
    # The checkpoint knows which frames it held out; one from before that (which held out the
    # last tenth) is resumed with a warning that the held-out score is no longer fair.
    assert ck["validation"] == [info["validation"]["start"], info["validation"]["end"]]
    # (it recorded no runs either: the one run it knows comes from its config)
    save_checkpoint(last, {k: v for k, v in ck.items()
                           if k not in ("kind", "version", "rtmotion_version", "validation", "runs")})
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rtmotion.train.trainer"):
        assert _train(dancer_clip, trained, "--steps", "21", "--resume", NO_SEG, "--lr", "1e-4") == 0
    (msg,) = [r.getMessage() for r in caplog.records if "held-out score" in r.getMessage()]
    assert "the last tenth (an older rtmotion)" in msg and "train without --resume" in msg
    runs = json.loads((trained / "subject.json").read_text())["training"]["runs"]
    assert [(r["steps"], r["lr"]) for r in runs] == [([0, 20], ck["config"]["lr"]), ([20, 21], 1e-4)]


def test_resume_from_another_model_is_refused(trained: Path, dancer_clip, capsys) -> None:
    rc = main(["train", "--video", str(dancer_clip.video), "--poses", str(dancer_clip.poses),
               "-o", str(trained), *FAST, NO_SEG, "--preset", "base", "--steps", "30", "--resume"])
    err = capsys.readouterr().err
    assert rc == 2 and "another generator config" in err and "last.pt" in err


def test_too_few_pose_frames(dancer_clip, tmp_path: Path, capsys) -> None:
    seq = dancer_clip.seq
    kp = seq.keypoints.copy()
    kp[20:] = 0  # the person leaves after 20 frames
    poses = tmp_path / "few.npz"
    seq.with_keypoints(kp).save(poses)
    out = tmp_path / "s"
    rc = main(["train", "--video", str(dancer_clip.video), "--poses", str(poses), "-o", str(out),
               "--preset", "tiny", "--resolution", "64", "--steps", "1", "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2 and f"only 20 of {len(seq)} frames have a usable pose" in err
    assert "at least 50" in err and err.count("\n") == 1
    assert not (out / "cache" / "frames.npy").exists()  # refused before the slow work


def test_unwritable_output(dancer_clip, tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = main(["train", "--video", str(dancer_clip.video), "--poses", str(dancer_clip.poses),
               "-o", str(blocker / "subj"), "--steps", "1", "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 3 and "cannot create folder" in err


def test_pose_file_of_another_video(dancer_clip, tmp_path: Path, capsys) -> None:
    seq = dancer_clip.seq
    other = tmp_path / "other.npz"
    PoseSequence(seq.keypoints * 2, seq.skeleton, seq.fps, (512, 512), seq.timestamps).save(other)
    rc = main(["train", "--video", str(dancer_clip.video), "--poses", str(other),
               "-o", str(tmp_path / "s"), "--steps", "1", "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2 and "512x512" in err


def test_face_stage(dancer_clip, tmp_path: Path, caplog) -> None:
    import logging

    out = tmp_path / "face"
    assert _train(dancer_clip, out, "--steps", "2", "--face", "--face-steps", "3", NO_SEG) == 0
    s = load_subject(out)
    assert s.face is not None and not s.face.training and s.face_side and s.face_side >= 8
    assert json.loads((out / "subject.json").read_text())["training"]["face_steps"] == 3
    c = s.face_config.crop_size
    with torch.no_grad():
        enhanced, residual = s.face(torch.zeros(1, 3, c, c), torch.zeros(1, s.face_config.pose_channels, c, c))
    assert enhanced.shape == (1, 3, c, c)
    assert residual.abs().sum() > 0  # trained away from the zero init
    # the crop follows the face box's side (not a fixed 64)
    assert c == face_crop_for_side(s.face_side) and c < 1.5 * s.face_side + 8
    # a resumed face stage keeps its checkpoint's crop, whatever --face-crop says, and says so
    # in one line when the flag asked for another
    def face_warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records
                if r.name == "rtmotion.train.face_stage" and r.levelno >= logging.WARNING]

    with caplog.at_level(logging.WARNING, logger="rtmotion.train.face_stage"):
        assert _train(dancer_clip, out, "--steps", "2", "--face", "--face-steps", "4",
                      "--face-crop", "40", "--resume", NO_SEG) == 0
    assert face_warnings() == [
        f"--face-crop 40 not used: the resumed face stage keeps its checkpoint's {c} px crop (its "
        "enhancer was trained on that crop); train without --resume for another crop"]
    again = load_subject(out)
    assert again.face_config.crop_size == c
    assert json.loads((out / "subject.json").read_text())["training"]["face_steps"] == 4
    # the checkpoint's own crop asked for again: nothing to say
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rtmotion.train.face_stage"):
        assert _train(dancer_clip, out, "--steps", "2", "--face", "--face-steps", "5",
                      "--face-crop", str(c), "--resume", NO_SEG) == 0
    assert face_warnings() == [] and load_subject(out).face_config.crop_size == c


def test_face_crop_for_side(dancer_clip, tmp_path: Path, capsys) -> None:
    # 1.5 x the side, rounded up to a multiple of 8, at least 16
    assert [face_crop_for_side(s) for s in (8, 16, 17, 21, 24, 25, 85)] == [16, 24, 32, 32, 40, 40, 128]
    assert face_crop_for_side(22, n_down=4) == 48  # 33 -> whole after four halvings
    assert _train(dancer_clip, tmp_path / "x", "--face", "--face-crop", "30") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "face_crop must be a multiple of 4 and at least 8, got 30" in err[0]
    assert not (tmp_path / "x").exists()


@pytest.mark.mediapipe
def test_without_poses_extracts_with_mediapipe_once(dancer_clip, tmp_path: Path, monkeypatch) -> None:
    """No --poses: real MediaPipe extraction, cached (the second run does not extract again)."""
    out = tmp_path / "mp"
    base = ["-q", "train", "--video", str(dancer_clip.video), "-o", str(out), *FAST, NO_SEG,
            "--steps", "1"]
    assert main(base) == 0
    npz = out / "cache" / "extracted.npz"
    seq = PoseSequence.load(npz)
    assert len(seq) == dancer_clip.num_frames and seq.detected.all()
    assert "mediapipe" in seq.extractor
    # MediaPipe agrees with the ground truth within a few pixels (256 px frames).
    gt = dancer_clip.seq.keypoints
    both = (seq.keypoints[..., 2] > 0) & (gt[..., 2] > 0)
    err = np.linalg.norm(seq.keypoints[..., :2] - gt[..., :2], axis=-1)[both]
    assert np.median(err) < 10
    mtime = npz.stat().st_mtime_ns
    assert main(base[:-1] + ["2", "--resume"]) == 0
    assert npz.stat().st_mtime_ns == mtime
    source = json.loads((out / "subject.json").read_text())["source_video"]
    assert source["pose_source"] == "mediapipe" and source["pose_file"] == str(npz.resolve())
    # eval drives the held-out frames with the poses training extracted: no second extraction
    import rtmotion.eval.sources as sources
    from rtmotion.eval.sources import heldout_source

    def no_extraction(*a, **k):
        raise AssertionError("eval extracted the poses again")

    monkeypatch.setattr(sources, "extract_video", no_extraction)
    held = heldout_source(load_subject(out))
    assert held.info["poses"] == f"{npz.resolve()} (the poses training used)"
    v0 = json.loads((out / "subject.json").read_text())["validation"]["start"]
    first = next(iter(held.items()))
    assert first.index == v0 and (first.driving[:, 2] > 0).sum() >= 8


def test_without_background_plate(dancer_clip, tmp_path: Path) -> None:
    out = tmp_path / "noplate"
    assert _train(dancer_clip, out, "--steps", "2", "--no-background-plate", NO_SEG) == 0
    info = json.loads((out / "subject.json").read_text())
    assert not info["generator"]["background_plate"] and info["background"] is None
    assert info["training"]["background_plate"] is None
    assert not (out / "background.png").exists()
    assert "background" not in load_subject(out).generator.state_dict()


def test_without_person_segmentation(dancer_clip, tmp_path: Path) -> None:
    out = tmp_path / "noseg"
    assert _train(dancer_clip, out, "--steps", "2", "--no-follow-crop",
                  "--no-person-segmentation") == 0
    plate = json.loads((out / "subject.json").read_text())["training"]["background_plate"]
    assert plate["frames_segmented"] == 0 and plate["frames_used"] > 10


def test_without_gan_no_discriminator_runs(dancer_clip, tmp_path: Path) -> None:
    out = tmp_path / "nogan"
    assert _train(dancer_clip, out, "--steps", "3", "--no-gan", NO_SEG) == 0
    t = json.loads((out / "subject.json").read_text())["training"]
    assert t["adversarial"] is False and t["steps"] == 3
    assert set(t["final_losses"]) == {"l1", "ssim", "gate"}  # no GAN, FM or discriminator loss
    # The discriminators were never updated: their optimizer holds no state.
    assert load_checkpoint(out / "checkpoints" / "last.pt")["opt_d"]["state"] == {}
    assert load_subject(out).generator is not None


def test_the_ssim_loss_on_the_body_box(dancer_clip, tmp_path: Path) -> None:
    """--ssim-region body --ssim-weight 3: the SSIM loss is measured on each frame's body box
    (eval's region) and weighs 3; both are recorded. The default: the whole frame, weight 1."""
    out = tmp_path / "bodyssim"
    assert _train(dancer_clip, out, "--steps", "2", "--ssim-region", "body", "--ssim-weight", "3",
                  NO_SEG) == 0
    t = json.loads((out / "subject.json").read_text())["training"]
    assert t["ssim_region"] == "body" and t["weight_ssim"] == 3.0 and t["final_losses"]["ssim"] > 0
    assert t["keyframe_exclude"] == 8                       # the default, recorded
    from rtmotion.train.config import TrainConfig

    assert (TrainConfig().ssim_region, TrainConfig().weight_ssim) == ("frame", 1.0)
    with pytest.raises(ValueError, match="ssim_region"):
        TrainConfig(ssim_region="face")


def test_time_limit_stops_early(dancer_clip, tmp_path: Path) -> None:
    out = tmp_path / "timed"
    assert _train(dancer_clip, out, "--steps", "100000", "--minutes", "0.02", NO_SEG) == 0
    t = json.loads((out / "subject.json").read_text())["training"]
    assert 1 <= t["steps"] < 100000 and t["minutes"] < 0.5
    assert t["final_losses"]  # flushed even though the run stopped between logs


def test_bad_video_leaves_no_output_folder(tmp_path, capsys) -> None:
    """Inputs are checked before any output folder is made."""
    from rtmotion.cli import main

    out = tmp_path / "subjects" / "x"
    bad = tmp_path / "not_a_video.mp4"
    bad.write_text("hello")
    for video in (tmp_path / "missing.mp4", bad):
        rc = main(["-q", "train", "--video", str(video), "-o", str(out), "--device", "cpu"])
        err = capsys.readouterr().err
        assert rc == 2 and str(video) in err and len(err.strip().splitlines()) == 1
        assert not out.exists() and not (tmp_path / "subjects").exists()


def test_without_reference_and_with_gaps(dancer_clip, tmp_path: Path) -> None:
    out = tmp_path / "noref"
    assert _train(dancer_clip, out, "--steps", "4", "--keyframes", "0", "--max-gap", "4", NO_SEG) == 0
    s = load_subject(out)
    assert not s.generator_config.use_reference and s.keyframes is None
    assert not (out / "keyframes.npz").exists()
    assert s.info["training"]["max_gap"] == 4


def test_clip_length_three_and_lr_decay(dancer_clip, tmp_path: Path) -> None:
    """Clips of 3: the generator is fed its own blended output; the run records the length.
    The decayed learning rate reaches the optimizers (and so their saved state)."""
    out = tmp_path / "clips"
    assert _train(dancer_clip, out, "--steps", "2", "--clip-length", "3",
                  "--lr", "1e-3", "--lr-decay-steps", "2", NO_SEG) == 0
    t = json.loads((out / "subject.json").read_text())["training"]
    assert t["clip_length"] == 3 and t["steps"] == 2
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    assert ckpt["config"]["clip_length"] == 3
    for opt in ("opt_g", "opt_d"):  # the last step (step index 1 of 2) ran at lr * (2 - 1) / 2
        assert ckpt[opt]["param_groups"][0]["lr"] == pytest.approx(5e-4)


def test_the_bundle_is_scored_and_a_poor_score_is_flagged(trained: Path, dancer_clip, caplog,
                                                         monkeypatch) -> None:
    """train records the held-out score and the fit in subject.json; a score under the usable
    level makes the command say so loudly, with the command that continues the training. (16
    steps of the reference generator on this clip already score about 0.85, so the levels are
    raised here.)"""
    import logging

    import rtmotion.eval.quality as quality
    from rtmotion.commands.train import _recorded_quality, _score
    from rtmotion.train.config import TrainConfig

    q = json.loads((trained / "subject.json").read_text())["quality"]
    assert q["frames"] > 0 and 0.3 < q["heldout_body_ssim"] < 1.0
    assert q["usable"] == (q["heldout_body_ssim"] >= quality.USABLE_BODY_SSIM
                           and q["heldout_face_ssim"] >= quality.USABLE_FACE_SSIM)
    # How new the held-out poses are, from the poses training used (the synthetic dance repeats
    # its moves: not new).
    novelty = q["pose_novelty"]
    assert 0 < novelty["heldout"] < 0.2 and novelty["new_moves"] is False, novelty
    # The fit: the training frames before and after the held-out block, as many as it holds.
    fit = q["training_fit"]
    assert fit["frames"] == 2 * q["frames"] and 0.3 < fit["body_ssim"] <= 1.0
    assert q["converged"] == (fit["body_ssim"] >= quality.CONVERGED_FIT_BODY_SSIM
                              and fit["face_ssim"] >= quality.CONVERGED_FIT_FACE_SSIM)
    monkeypatch.setattr(quality, "USABLE_BODY_SSIM", 0.999)
    # Its fit under the level: not converged, train longer, whatever the held-out score.
    monkeypatch.setattr(quality, "CONVERGED_FIT_BODY_SSIM", 0.9999)
    cfg = TrainConfig(video=str(dancer_clip.video), output=str(trained), steps=16)
    with caplog.at_level(logging.WARNING, logger="rtmotion.commands.train"):
        _score(cfg, trained, "cpu", 16)
    (msg,) = [r.getMessage() for r in caplog.records if "NOT CONVERGED" in r.getMessage()]
    assert f"on frames it trained on body SSIM {fit['body_ssim']:.3f}" in msg
    assert msg.endswith(f"Train longer: rtmotion train --video {dancer_clip.video} -o {trained} "
                        "--resume --minutes 20 --steps 32")
    # Its fit over the levels, the held-out score under: learned the clip, not those poses.
    monkeypatch.setattr(quality, "CONVERGED_FIT_BODY_SSIM", 0.0)
    monkeypatch.setattr(quality, "CONVERGED_FIT_FACE_SSIM", 0.0)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rtmotion.commands.train"):
        _score(cfg, trained, "cpu", 16)
    (msg,) = [r.getMessage() for r in caplog.records if "NOT USABLE on new poses" in r.getMessage()]
    assert "Train longer" not in msg and "--resume --minutes 20" in msg
    # Without a fit (a clip too short to leave keyframes away from its training blocks) the
    # held-out score decides alone.
    monkeypatch.setattr(quality, "training_fit", lambda *a, **k: None)
    caplog.clear()
    cfg = TrainConfig(video=str(dancer_clip.video), output=str(trained), steps=16)
    with caplog.at_level(logging.WARNING, logger="rtmotion.commands.train"):
        _score(cfg, trained, "cpu", 16)
    (msg,) = [r.getMessage() for r in caplog.records if "NOT CONVERGED" in r.getMessage()]
    assert f"-o {trained} --resume --minutes 20 --steps 32" in msg
    assert f"body SSIM {q['heldout_body_ssim']:.3f}" in msg
    again = json.loads((trained / "subject.json").read_text())["quality"]
    assert again["usable"] is False and again["heldout_body_ssim"] == pytest.approx(q["heldout_body_ssim"])
    # A --resume that did not raise the score it started from: "more minutes are unlikely to
    # help", and why (the score it started from is read before training rewrites subject.json).
    cfg = TrainConfig(video=str(dancer_clip.video), output=str(trained), steps=16, resume=True)
    before = _recorded_quality(cfg)
    assert before is not None and before.body_ssim == pytest.approx(q["heldout_body_ssim"])
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rtmotion.commands.train"):
        _score(cfg, trained, "cpu", 16, before)
    (msg,) = [r.getMessage() for r in caplog.records if "NOT CONVERGED" in r.getMessage()]
    assert f"moved it only from {before.body_ssim:.3f}: more minutes are unlikely to help" in msg
    assert f"rtmotion eval {trained} --samples DIR" in msg and "--resume --minutes 20" in msg
    # Held-out poses far from every trained one: the warning says the score measures new moves
    # (here any distance counts as far), whether or not the run was resumed.
    import rtmotion.subject.split as split

    monkeypatch.setattr(split, "NEW_MOVES_RATIO", 0.0)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rtmotion.commands.train"):
        _score(cfg, trained, "cpu", 16)
    (msg,) = [r.getMessage() for r in caplog.records if "NOT CONVERGED" in r.getMessage()]
    assert "show moves the rest of it does not" in msg
    assert f"held-out poses {novelty['heldout']:.3f} body heights" in msg and "--resume" in msg


def test_the_fit_tells_not_converged_from_not_usable_on_new_poses(tmp_path: Path) -> None:
    """The warning a score calls for (`_verdict`), with the scores real 8 s clips measured
    (docs/BENCHMARKS.md "Fit on the training frames")."""
    from rtmotion.commands.train import _verdict
    from rtmotion.eval.quality import CONVERGED_FIT_BODY_SSIM, Fit, Quality
    from rtmotion.subject.split import PoseNovelty

    cmd = "rtmotion train --video v.mp4 -o S --resume --minutes 20"
    easy = PoseNovelty(0.049, 0.036, 0.062)                   # 1.4x: not new moves
    # A home dance after 2 minutes: the held-out frames pass, the training frames do not.
    two_minutes = Quality(0.879, 0.826, 13, easy, Fit(0.882, 0.797, 26, ((22, 35), (92, 105))))
    assert two_minutes.usable and two_minutes.converged is False
    msg = _verdict(two_minutes, cmd, tmp_path / "S")
    assert msg.startswith("NOT CONVERGED") and msg.endswith(f"Train longer: {cmd}")
    assert "on frames it trained on body SSIM 0.882" in msg and "softer" in msg
    assert f"under {CONVERGED_FIT_BODY_SSIM:.2f}" in msg
    # The same clip after 20 minutes: nothing to warn about.
    assert _verdict(Quality(0.879, 0.825, 13, easy, Fit(0.940, 0.840, 26)), cmd, tmp_path) is None
    # A slow yoga clip after 2 minutes: body learned (held-out 0.950, fit 0.943), the face not
    # (fit 0.734; 0.873 after 20 minutes): not converged, by the face.
    yoga = PoseNovelty(0.011, 0.016, 0.02)
    msg = _verdict(Quality(0.950, 0.841, 24, yoga, Fit(0.943, 0.734, 48)), cmd, tmp_path)
    assert msg.startswith("NOT CONVERGED") and "it is under 0.80 face SSIM: it has not" in msg
    assert "body SSIM" not in msg.split("it is under")[1] and msg.endswith(f"Train longer: {cmd}")
    assert _verdict(Quality(0.959, 0.870, 24, yoga, Fit(0.967, 0.873, 48)), cmd, tmp_path) is None
    # Both parts short: both named.
    assert "it is under 0.90 body SSIM and under 0.80 face SSIM" in _verdict(two_minutes, cmd, tmp_path)
    # A resumed run whose face rose: train longer still; whose face did not: stalled.
    face_was = Quality(0.950, 0.841, 24, yoga, Fit(0.943, 0.734, 48))
    assert not Quality(0.95, 0.85, 24, yoga, Fit(0.95, 0.76, 48)).fit_stalled_since(face_was)
    face_stuck = Quality(0.95, 0.85, 24, yoga, Fit(0.95, 0.738, 48))
    assert face_stuck.fit_stalled_since(face_was)
    msg = _verdict(face_stuck, cmd, tmp_path, before=face_was)
    assert "under 0.80 face SSIM, and this resumed run hardly raised it" in msg and "--face" in msg
    # A fashion model turning to the side: it learned the clip (fit 0.922) but not the
    # held-out turn, which the 2D pose distance does not see (0.7x).
    turn = Quality(0.737, 0.742, 24, PoseNovelty(0.020, 0.028, 0.082), Fit(0.922, 0.882, 48))
    msg = _verdict(turn, cmd, tmp_path / "S")
    assert msg.startswith("NOT USABLE on new poses") and "Train longer" not in msg
    assert "a turn to the side" in msg and "raises that little" in msg
    assert f"rtmotion eval {tmp_path / 'S'} --samples DIR" in msg and msg.endswith(cmd)
    # New moves seen nowhere else in the clip: the warning names them.
    new = Quality(0.773, 0.282, 20, PoseNovelty(0.135, 0.080, 0.158), Fit(0.937, 0.818, 40))
    msg = _verdict(new, cmd, tmp_path / "S")
    assert msg.startswith("NOT USABLE on new poses") and "held-out poses 0.135 body heights" in msg
    # Not learned and not usable: train longer first.
    msg = _verdict(Quality(0.762, 0.29, 20, None, Fit(0.854, 0.315, 40)), cmd, tmp_path)
    assert msg.startswith("NOT CONVERGED") and "softer" not in msg and msg.endswith(cmd)
    # A camera that moved: that is what the warning names, whatever the fit (a handheld clip in
    # a dark studio: held-out 0.508, fit 0.883), with the command that continues last.
    camera = "the room's pixels differ from its plate by a median of 6.0/255, 25 % of them ..."
    for fit in (Fit(0.883, 0.867, 48), Fit(0.95, 0.9, 48)):
        msg = _verdict(Quality(0.508, 0.647, 24, easy, fit), cmd, tmp_path, camera=camera)
        assert msg.startswith("NOT USABLE: held-out body SSIM 0.508") and camera in msg
        assert "tripod" in msg and "Train longer" not in msg and msg.endswith(cmd)
    assert _verdict(Quality(0.879, 0.825, 13, easy, Fit(0.940, 0.840, 26)), cmd, tmp_path,
                    camera=camera) is None   # usable all the same: nothing to warn about here
    # A resumed run whose fit stayed under the level and hardly rose: more minutes will not
    # finish it; one whose fit rose: train longer still.
    stuck = Quality(0.82, 0.7, 13, easy, Fit(0.885, 0.8, 26))
    msg = _verdict(stuck, cmd, tmp_path / "S", before=two_minutes)
    assert msg.startswith("NOT CONVERGED") and "under 0.90 body SSIM, and this resumed run hardly " \
        "raised it (before it: on frames it trained on body SSIM 0.882" in msg
    assert "--preset base" in msg and "Train longer" not in msg
    assert stuck.fit_stalled_since(two_minutes) and not two_minutes.fit_stalled_since(Quality(0.8, 0.8, 13))
    rising = Quality(0.82, 0.7, 13, easy, Fit(0.895, 0.8, 26))
    assert _verdict(rising, cmd, tmp_path, before=two_minutes).endswith(f"Train longer: {cmd}")
    # No fit (a clip too short to leave keyframes away from the training blocks): the held-out
    # score decides alone, as before.
    assert _verdict(Quality(0.879, 0.826, 13, easy), cmd, tmp_path) is None
    assert "look like a blur" in _verdict(Quality(0.6, 0.3, 13, easy), cmd, tmp_path)
    # subject.json's record reads back.
    assert Quality.from_dict(two_minutes.to_dict()) == two_minutes
    assert two_minutes.to_dict()["converged"] is False
    assert two_minutes.to_dict()["training_fit"]["blocks"] == [[22, 35], [92, 105]]


def test_a_stalled_score_is_told_from_a_rising_one() -> None:
    from rtmotion.eval.quality import STALLED_GAIN, USABLE_BODY_SSIM, Quality

    before = Quality(0.745, 0.27, 20)
    assert Quality(0.751, 0.28, 20).stalled_since(before)                  # fresh8, resumed
    assert not Quality(0.745 + 2 * STALLED_GAIN, 0.3, 20).stalled_since(before)   # still rising
    assert not Quality(USABLE_BODY_SSIM, 0.9, 20).stalled_since(before)     # usable: nothing to say
    assert not Quality(0.7, 0.3, 20).stalled_since(Quality(None, None, 0))  # no earlier score
    assert Quality.from_dict(before.to_dict()) == before


# slow (13-18 s: two budgeted runs): the planner itself is unit-tested in test_machine_settings.py
@pytest.mark.slow
def test_minutes_fit_the_steps_and_a_resume_keeps_the_checkpoints_settings(dancer_clip, tmp_path: Path,
                                                                            caplog) -> None:
    """--minutes without --steps on the CPU: the steps and a linear LR decay are planned from the
    measured step time; --resume with no model flag continues the checkpoint's model (not the
    machine's recipe) and plans its own budget."""
    import logging

    out = tmp_path / "budget"
    with caplog.at_level(logging.INFO):
        assert _train(dancer_clip, out, "--minutes", "0.06", NO_SEG) == 0
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "s per step (calibrated estimate)" in text and "steps fit in --minutes 0.06" in text
    t = json.loads((out / "subject.json").read_text())["training"]
    assert t["fitted_to_minutes"] and t["steps"] >= 1
    if t["steps"] >= 6:  # measured and re-planned (a loaded machine may give only a few steps)
        assert "measured" in text
        lr = load_checkpoint(out / "checkpoints" / "last.pt")["opt_g"]["param_groups"][0]["lr"]
        assert lr < 0.5 * t["lr"]  # decayed from the starting rate subject.json records
    first = t["steps"]
    caplog.clear()
    resume = ["-q", "train", "--video", str(dancer_clip.video), "--poses", str(dancer_clip.poses),
              "-o", str(out), "--device", "cpu", "--min-pose-frames", "30", "--d-scales", "1",
              "--sample-every", "0", "--minutes", "0.04", "--resume", "--shape-frame"]
    with caplog.at_level(logging.INFO):
        assert main(resume) == 0
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "resolution 64x64 (checkpoint)" in text and "d channels 16 (checkpoint)" in text
    info = json.loads((out / "subject.json").read_text())
    # (--shape-frame does not reshape it: a resumed run keeps its checkpoint's frame)
    assert tuple(info["resolution"]) == (64, 64) and info["training"]["steps"] > first
    # its fitted decay starts again from the resume step, behind a warm-up from 0 (restarting
    # at the full rate made the discriminator collapse)
    cfg = load_checkpoint(out / "checkpoints" / "last.pt")["config"]
    assert cfg["lr_warmup_start"] == first and cfg["lr_warmup_steps"] == RESUME_WARMUP_STEPS


@pytest.mark.parametrize("crop", ["--follow-crop", "--no-follow-crop"])
def test_person_weight(dancer_clip, tmp_path: Path, crop: str) -> None:
    """Both crops weight the person: a follow crop by each frame's own plate, the fixed crop by
    the generator's; the run records the weight."""
    out = tmp_path / "weighted"
    assert _train(dancer_clip, out, "--steps", "2", "--person-weight", "4", crop, NO_SEG) == 0
    t = json.loads((out / "subject.json").read_text())["training"]
    assert t["person_weight"] == 4.0 and np.isfinite(t["final_losses"]["l1"])


def test_person_weight_below_one_is_refused(dancer_clip, tmp_path: Path, capsys) -> None:
    out = tmp_path / "w"
    assert _train(dancer_clip, out, "--steps", "2", "--person-weight", "0.5") == 2
    err = capsys.readouterr().err
    assert "person_weight must be at least 1" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("flag, value, said", [("--lr", "-1e-3", "lr must be a positive number"),
                                                ("--lr", "nan", "lr must be a positive number"),
                                                ("--ssim-weight", "-1", "weight_ssim must be >= 0")])
def test_a_negative_rate_or_weight_is_refused(dancer_clip, tmp_path: Path, capsys, flag: str,
                                              value: str, said: str) -> None:
    """A negative learning rate or loss weight would train the model away from its target:
    refused in one line before anything is written."""
    out = tmp_path / "neg"
    assert _train(dancer_clip, out, "--steps", "2", f"{flag}={value}") == 2
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_shape_frame_trains_and_converts_in_the_persons_shape(dancer_clip, tmp_path: Path) -> None:
    """--shape-frame: the model frame of about --resolution's pixels in the standing dancer's
    (portrait) shape, which the bundle records and a conversion through ONNX Runtime draws."""
    from rtmotion.io import VideoInfo

    out = tmp_path / "shaped"
    assert _train(dancer_clip, out, "--steps", "2", "--shape-frame", NO_SEG) == 0
    info = json.loads((out / "subject.json").read_text())
    w, h = info["resolution"]
    assert w < h and w % 8 == 0 and h % 8 == 0 and 0.9 * 64 * 64 <= w * h <= 1.05 * 64 * 64
    s = load_subject(out)
    assert s.generator_config.resolution == (w, h)
    fw, fh = s.follow_crop.size
    assert abs(fw / fh - w / h) < 0.02                 # the follow box has the frame's shape
    # the checkpoint records the final frame (a resume keeps it, and does not shape it again)
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")["config"]
    assert tuple(ckpt["resolution"]) == (w, h) and ckpt["shape_frame"] is False
    video = tmp_path / "shaped.mp4"
    assert main(["-q", "convert", "-t", str(out), "-s", str(dancer_clip.poses), "-o", str(video),
                 "--end", "6", "--backend", "onnxruntime"]) == 0
    got = VideoInfo.from_path(video)
    camera = info["source_video"]
    assert (got.width, got.height) == (camera["width"], camera["height"])
    assert got.frame_count == 6


def test_a_resolution_the_generator_cannot_take_is_refused_before_any_work(dancer_clip, tmp_path: Path,
                                                                          capsys) -> None:
    out = tmp_path / "odd"
    assert _train(dancer_clip, out, "--resolution", "100", "--shape-frame") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--resolution 100x100" in err
    assert "multiples of 8, e.g. 96x96" in err                       # the tiny preset's stride
    assert not out.exists()
