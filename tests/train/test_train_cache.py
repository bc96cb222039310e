"""Dataset cache (hit / miss / rebuild), the split, and the too-few-pose-frames error."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

from rtmotion.errors import InputError
from rtmotion.pose.posefile import PoseSequence
from rtmotion.subject.crop import compute_crop_box
from rtmotion.subject.split import guard_frames, heldout_block, training_mask
from rtmotion.train.cache import build_cache, read_json_object, write_json_atomic
from rtmotion.train.dataset import ClipDataset, clip_ends, make_split


def test_cache_hit_miss_and_rebuild(dancer_clip, tmp_path) -> None:
    seq = dancer_clip.seq
    crop = compute_crop_box(seq.keypoints, seq.size)
    video = tmp_path / "v.mp4"
    video.write_bytes(dancer_clip.video.read_bytes())
    folder = tmp_path / "cache"

    t0 = time.perf_counter()
    first = build_cache(video, seq, crop, (64, 64), folder, "gt", show_progress=False)
    t_build = time.perf_counter() - t0
    assert not first.hit
    assert first.frames.shape == (len(seq), 64, 64, 3) and first.frames.dtype == np.uint8
    assert first.poses.shape == seq.keypoints.shape
    assert first.frames.std() > 10  # real picture content, not zeros
    # frame i is the video's frame i, cropped and resized: decoded here, one by one
    from rtmotion.io import VideoReader

    with VideoReader(video) as r:
        decoded = [f.image for f in r]
    assert len(decoded) == len(seq)
    for i, img in enumerate(decoded):
        np.testing.assert_array_equal(first.frames[i], crop.crop_image(img, (64, 64)), err_msg=f"frame {i}")
    # consecutive frames differ, so a frame/pose off-by-one could not pass the check above
    assert min(np.abs(first.frames[i].astype(int) - first.frames[i + 1].astype(int)).mean()
               for i in range(len(seq) - 1)) > 0.05
    np.testing.assert_allclose(first.poses, crop.keypoints_to_crop(seq.keypoints, (64, 64)))

    mtime = (folder / "frames.npy").stat().st_mtime_ns
    t0 = time.perf_counter()
    second = build_cache(video, seq, crop, (64, 64), folder, "gt", show_progress=False)
    t_hit = time.perf_counter() - t0
    assert second.hit and (folder / "frames.npy").stat().st_mtime_ns == mtime
    assert t_hit < t_build
    np.testing.assert_array_equal(np.asarray(second.frames), np.asarray(first.frames))

    # Another resolution, other poses, or a touched video: rebuilt.
    assert not build_cache(video, seq, crop, (32, 32), folder, "gt", show_progress=False).hit
    assert build_cache(video, seq, crop, (32, 32), folder, "gt", show_progress=False).hit
    moved = seq.with_keypoints(seq.keypoints + np.float32([1, 0, 0]) * (seq.keypoints[..., 2:] > 0))
    assert not build_cache(video, moved, crop, (32, 32), folder, "gt", show_progress=False).hit
    st = video.stat()
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert not build_cache(video, moved, crop, (32, 32), folder, "gt", show_progress=False).hit


def test_interrupted_build_is_not_reused(dancer_clip, tmp_path) -> None:
    seq = dancer_clip.seq
    crop = compute_crop_box(seq.keypoints, seq.size)
    folder = tmp_path / "cache"
    build_cache(dancer_clip.video, seq, crop, (32, 32), folder, "gt", show_progress=False)
    (folder / "key.json").unlink()  # what an interrupted rebuild leaves
    assert not build_cache(dancer_clip.video, seq, crop, (32, 32), folder, "gt",
                           show_progress=False).hit


def test_json_object_helpers(tmp_path) -> None:
    """The cache's key files (and the people count's): written through a temporary file, read
    back only as a JSON object; anything else is no key (None), never an exception."""
    path = tmp_path / "deep" / "key.json"
    write_json_atomic(path, {"a": 1, "b": [1, 2]})  # its folder created
    assert read_json_object(path) == {"a": 1, "b": [1, 2]}
    assert [p.name for p in path.parent.iterdir()] == ["key.json"]  # no temporary left
    assert read_json_object(tmp_path / "missing.json") is None
    for text in ('{"a": 1', "[1, 2]", '"key"', "", "\xff"):
        path.write_text(text, encoding="latin-1")
        assert read_json_object(path) is None, text


def test_cache_key_not_an_object_is_rebuilt(dancer_clip, tmp_path) -> None:
    """A key.json holding JSON that is not an object (a hand-edited or foreign file) is a stale
    key: the cache is rebuilt (it raised AttributeError on `.items()`)."""
    seq = dancer_clip.seq
    crop = compute_crop_box(seq.keypoints, seq.size)
    folder = tmp_path / "cache"
    build_cache(dancer_clip.video, seq, crop, (32, 32), folder, "gt", show_progress=False)
    (folder / "key.json").write_text("[1, 2, 3]\n", encoding="utf-8")
    again = build_cache(dancer_clip.video, seq, crop, (32, 32), folder, "gt", show_progress=False)
    assert not again.hit and read_json_object(folder / "key.json") == again.key


def test_pose_size_mismatch(dancer_clip, tmp_path) -> None:
    seq = dancer_clip.seq
    other = PoseSequence(seq.keypoints, seq.skeleton, seq.fps, (512, 512), seq.timestamps)
    crop = compute_crop_box(other.keypoints, other.size)
    with pytest.raises(InputError, match="poses were made for 512x512"):
        build_cache(dancer_clip.video, other, crop, (32, 32), tmp_path / "c", "x", show_progress=False)


def test_split_holds_out_a_middle_block_with_guard_bands_and_skips_empty_frames() -> None:
    kp = np.zeros((100, 25, 3), np.float32)
    kp[..., 2] = 1
    kp[20, :, 2] = 0  # no person in frame 20
    sp = make_split(kp, val_fraction=0.1, min_pose_frames=50, fps=20.0)
    assert sp.val_range == (45, 55)  # the middle tenth
    guard = guard_frames(20.0)
    assert guard == 5  # 0.25 s at 20 fps
    pairs = set(sp.pairs.tolist())
    # nothing trains on the block or within 5 frames of it: frames 40..59
    assert not any(40 <= t <= 60 for t in pairs)  # a pair (t-1, t) touching 40..59
    assert {39, 61}.issubset(pairs)  # the last pair before the band, the first after
    assert 20 not in pairs and 21 not in pairs  # neither (19, 20) nor (20, 21)
    assert sp.usable == 99
    expected = np.ones(100, bool)
    expected[20] = False
    expected[40:60] = False
    np.testing.assert_array_equal(sp.train, expected)


def test_heldout_block_sizes() -> None:
    assert heldout_block(200, 0.1) == (90, 110)
    assert heldout_block(201, 0.1) == (90, 110)
    assert heldout_block(100, 0.0) == (0, 0)
    assert guard_frames(25.0) == 6 and guard_frames(2.0) == 1  # at least one frame
    ok = np.ones(10, bool)
    np.testing.assert_array_equal(training_mask(ok, (0, 0), 3), ok)  # nothing held out
    np.testing.assert_array_equal(training_mask(ok, (0, 2), 3), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])


def test_too_few_pose_frames() -> None:
    kp = np.zeros((80, 25, 3), np.float32)
    kp[:30, :, 2] = 1
    with pytest.raises(InputError, match=r"only 30 of 80 frames have a usable pose.*at least 50"):
        make_split(kp, min_pose_frames=50, video="clip.mp4")


def test_clip_dataset_items(dancer_clip, tmp_path) -> None:
    seq = dancer_clip.seq
    crop = compute_crop_box(seq.keypoints, seq.size)
    cache = build_cache(dancer_clip.video, seq, crop, (32, 32), tmp_path / "c", "gt", show_progress=False)
    sp = make_split(cache.poses, min_pose_frames=10)
    assert np.array_equal(clip_ends(sp.pairs, 2), sp.pairs)
    ends = clip_ends(sp.pairs, 3)
    ds = ClipDataset(cache.folder / "frames.npy", cache.poses, ends, 3)
    item = ds[3]
    t = int(ends[3])
    assert item["frames"].shape == (3, 3, 32, 32) and str(item["frames"].dtype) == "torch.uint8"
    assert item["keypoints"].shape == (3, 25, 3) and int(item["index"]) == t
    for j in range(3):
        np.testing.assert_array_equal(item["frames"][j].permute(1, 2, 0).numpy(), cache.frames[t - 2 + j])
        np.testing.assert_array_equal(item["keypoints"][j].numpy(), cache.poses[t - 2 + j])
    import pickle

    assert pickle.loads(pickle.dumps(ds))._frames is None  # workers reopen the memory map


def test_clip_ends_need_every_pair_of_the_clip() -> None:
    pairs = np.array([1, 2, 3, 5, 6, 7, 8, 20], np.int64)  # frame 4 and 9..19 have no person
    assert clip_ends(pairs, 2).tolist() == pairs.tolist()
    assert clip_ends(pairs, 3).tolist() == [2, 3, 6, 7, 8]
    assert clip_ends(pairs, 4).tolist() == [3, 7, 8]
    assert clip_ends(pairs, 6).tolist() == []
    with pytest.raises(ValueError, match="at least 2"):
        clip_ends(pairs, 1)


def test_gapped_clips_draw_gaps_and_stay_on_valid_frames(dancer_clip, tmp_path) -> None:
    seq = dancer_clip.seq
    crop = compute_crop_box(seq.keypoints, seq.size)
    cache = build_cache(dancer_clip.video, seq, crop, (32, 32), tmp_path / "c", "gt", show_progress=False)
    sp = make_split(cache.poses, min_pose_frames=10)
    ends = clip_ends(sp.pairs, 3)
    valid = sp.train.copy()
    valid[5] = False  # a frame a gapped clip must never use
    with pytest.raises(ValueError, match="valid frames"):
        ClipDataset(cache.folder / "frames.npy", cache.poses, ends, 3, max_gap=4)
    ds = ClipDataset(cache.folder / "frames.npy", cache.poses, ends, 3, max_gap=4, valid=valid)
    torch.manual_seed(0)
    seen_gaps = set()
    for i in range(len(ds)):
        item = ds[i]
        idx = item["indices"].numpy()
        t = int(item["index"])
        assert idx[-1] == t and len(idx) == 3
        gaps = np.diff(idx)
        assert ((gaps >= 1) & (gaps <= 4)).all()
        consecutive = (gaps == 1).all()
        assert consecutive or valid[idx].all()          # a gapped clip only on valid frames
        seen_gaps.update(gaps.tolist())
        for j, f in enumerate(idx):                       # frames and poses are those frames
            np.testing.assert_array_equal(item["frames"][j].permute(1, 2, 0).numpy(), cache.frames[f])
            np.testing.assert_array_equal(item["keypoints"][j].numpy(), cache.poses[f])
    assert seen_gaps == {1, 2, 3, 4}
