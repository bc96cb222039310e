"""What `rtmotion eval` compares against: streams of (driving pose, real frame) pairs in the
subject's model frame (its fixed crop, resized to its resolution).

Four sources:

- `heldout_source`: the subject's own held-out block (the validation frame range recorded in
  subject.json) of its source video, with the poses it was trained with (the recorded pose
  file when present: the --poses file, or the MediaPipe extraction `train` cached in its work
  dir, so nothing is extracted twice; synthetic ground truth when the source is a synthetic
  dancer; otherwise MediaPipe on those frames). When the source video is gone but was a synthetic dancer (e.g. a
  shipped demo subject), the held-out frames are rendered again from the recorded character,
  motion and seed.
- `training_source`: blocks of the frames the subject trained on, each as long as the held-out
  block, drawn as training drew them (without their own keyframes): the subject's fit, which
  says whether it has finished learning the clip (`rtmotion.eval.quality`).
- `video_source`: another video of the target (`--video`, `--poses`), same camera as the
  training video: cropped with the subject's fixed crop box.
- `transfer_source` (synthetic ground truth): the subject's character performing a motion
  (by default another seed of the same motion: unseen movement), driven by ANOTHER character
  doing it: by default the other character's rendered video goes through `convert`'s own
  pose path (MediaPipe, the offline filter, normalization into the target's frame:
  `rtmotion.pipeline.offline.driving_poses`), or (`driving="exact"`) its exact poses are
  normalized, or (`driving="target"`) the target's own poses of the true frames, extracted the
  same way (no normalization: the bound a perfect normalization would reach; docs/BENCHMARKS.md
  "Bone retargeting by default": 0.950 against 0.900 for the default), and the real frame is
  the target character
  rendered with the same joint angles and its own bone lengths. It measures the whole transfer:
  the normalization's error (different proportions: the normalized pose is not exactly the
  target's true pose, reported as `driving_pose_error`) plus the generator's. The generator
  learned the pose estimator's joint conventions (MediaPipe's ankles sit a few pixels above the
  renderer's), so exact poses mix conventions and understate what `convert` makes
  (docs/BENCHMARKS.md: 0.847 exact vs 0.881 through MediaPipe on demo-ada).
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from rtmotion.errors import InputError
from rtmotion.eval.metrics import psnr
from rtmotion.io import VideoInfo, VideoReader, VideoWriter, frames_at
from rtmotion.pose.extract import extract_video
from rtmotion.pose.extractors import get_extractor
from rtmotion.pose.filters import (
    OFFLINE_FILTER,
    FilterParams,
    smooth_keypoints,
    smooth_sequence,
)
from rtmotion.pose.normalize import normalize_sequence
from rtmotion.pose.posefile import PoseSequence
from rtmotion.subject import CropBox, Subject
from rtmotion.subject.crop import usable_frames
from rtmotion.subject.split import fit_blocks, guard_frames, pose_novelty, training_mask
from rtmotion.synthetic import (
    BACKGROUNDS,
    CHARACTERS,
    MOTIONS,
    Renderer,
    motion_angles,
    pose_body,
)
from rtmotion.synthetic.generate import write_dancer_video
from rtmotion.synthetic.motion import MotionAngles
from rtmotion.synthetic.origin import SyntheticOrigin

log = logging.getLogger(__name__)

#: How `transfer_source` gets its driving poses (see the module docstring).
TRANSFER_DRIVING: tuple[str, ...] = ("extracted", "exact", "target")

#: Frames of the transfer test when --max-frames is not given (4 s at 30 fps).
DEFAULT_TRANSFER_FRAMES = 120

@dataclass
class EvalItem:
    """One frame to evaluate.

    Attributes:
        index: frame index in its source (video frame number / motion frame).
        driving: float32 (K, 3) the pose the generator gets, model pixels.
        real: uint8 RGB (H, W, 3) the true frame, model size.
        truth: float32 (K, 3) the true pose of `real` in model pixels when it differs from
            `driving` (transfer), else None.
        camera: uint8 RGB the whole true camera frame (what `real` was cropped from), for the
            scores at the output frame; None where it is not kept.
        cut: the frame does not follow the previous item (a new block of frames starts): the
            generator starts afresh, as on a new clip, and the flicker run breaks.
    """

    index: int
    driving: np.ndarray
    real: np.ndarray
    truth: np.ndarray | None = None
    camera: np.ndarray | None = None
    cut: bool = False


@dataclass
class EvalSource:
    """A stream of `EvalItem`s plus what it is (for the report)."""

    mode: str
    total: int
    items: Callable[[], Iterator[EvalItem]]
    info: dict[str, Any] = field(default_factory=dict)


def _subject_json(subject: Subject) -> Path:
    return Path(subject.path) / "subject.json"


def _recorded_video(subject: Subject) -> Path | None:
    """The source video subject.json records (it may be gone), or None when it records none.
    (`Path("")` would be ".", which reads as a name.)"""
    path = subject.source_video.get("path")
    return Path(str(path)) if path else None


def _video_here(subject: Subject) -> Path | None:
    """The subject's recorded source video when the file is here, else None."""
    video = _recorded_video(subject)
    return video if video is not None and video.is_file() else None


def _given_pose_file(subject: Subject) -> Path | None:
    """The --poses file training was given (`pose_source` "file:PATH"), else None."""
    src = str(subject.source_video.get("pose_source") or "")
    return Path(src[5:]) if src.startswith("file:") else None


def _pose_file_of(subject: Subject) -> Path | None:
    """The pose file the subject was trained on: the --poses file, else `source_video.pose_file`
    (written by `train` for the poses it extracted too: WORK_DIR/cache/extracted.npz); None
    when neither is recorded."""
    given = _given_pose_file(subject)
    if given is not None:
        return given
    recorded = str(subject.source_video.get("pose_file") or "")
    return Path(recorded) if recorded else None


def synthetic_origin(subject: Subject) -> SyntheticOrigin | None:
    """The synthetic dancer a subject was trained on, or None for real footage.

    Read from subject.json's source_video ("origin" / "synthetic": "synthetic:NAME/MOTION/seedN",
    "background"), else from the `source` field of the recorded pose file when it is still here.
    """
    sv = subject.source_video
    text = sv.get("origin") or sv.get("synthetic")  # text, or a structured record (a dict)
    if not text:  # a ground-truth pose file names its dancer (an extraction names the video)
        pf = _given_pose_file(subject)
        if pf is not None and pf.is_file():
            try:
                text = PoseSequence.load(pf).source
            except InputError:
                text = None
    origin = SyntheticOrigin.parse(text)
    if origin is None or origin.character not in CHARACTERS:
        return None
    bg = sv.get("background")
    return origin.with_background(bg if bg in BACKGROUNDS else None)


def _source_fps(subject: Subject) -> Fraction:
    try:
        return Fraction(str(subject.source_video.get("fps") or "30"))
    except (ValueError, ZeroDivisionError):
        raise InputError(_subject_json(subject), "damaged: source_video.fps is not a number") from None


def _crop(subject: Subject) -> tuple[CropBox, tuple[int, int]]:
    return subject.crop, (int(subject.resolution[0]), int(subject.resolution[1]))


def _origin_angles(subject: Subject, origin: SyntheticOrigin) -> MotionAngles:
    """The motion angles of the whole source video (same frames as the video)."""
    fps = _source_fps(subject)
    n = int(subject.source_video.get("frame_count") or 0)
    if n <= 0:
        raise InputError(_subject_json(subject), "damaged: source_video.frame_count missing")
    angles = motion_angles(origin.motion, n / float(fps), fps, origin.seed)
    if len(angles) != n:
        log.warning("re-made motion has %d frames, the source video %d", len(angles), n)
    return angles


def source_frames(subject: Subject, indices: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(video index, uint8 RGB (H, W, 3) camera frame) of the subject's own source video at
    `indices` (sorted), in order: read from the video when it is here, else rendered again for a
    synthetic subject (with its recorded background). InputError (one line) when neither is
    possible."""
    want = np.asarray(indices, dtype=np.int64)
    video = _video_here(subject)
    if video is not None:
        for frame in frames_at(video, want.tolist()):
            yield frame.index, frame.image
        return
    origin = synthetic_origin(subject)
    if origin is None:
        raise InputError(_recorded_video(subject) or _subject_json(subject),
                         "the subject's source video is not here",
                         "put the video back where subject.json's source_video.path says")
    angles = _origin_angles(subject, origin)
    r = Renderer(origin.character, subject.crop.frame_size, background=origin.background)
    for t in want:
        if t < len(angles):
            yield int(t), r.render(pose_body(r.character, angles.values[int(t)]))


def detect_background(origin: SyntheticOrigin, angles: MotionAngles, size: tuple[int, int],
                      video: Path | None) -> str | None:
    """The background the synthetic source video was rendered with.

    The recorded one if any; else, when the video is here, the one whose re-render of frame 0
    matches the video's frame 0 best (PSNR); else the character's default (None).
    """
    if origin.background is not None or video is None or not video.is_file():
        return origin.background
    with VideoReader(video, end=1, threaded=False) as reader:
        first = next(iter(reader), None)
    if first is None or first.image.shape[:2] != (size[1], size[0]):
        return None
    best, best_db = None, -1.0
    for bg in BACKGROUNDS:
        r = Renderer(origin.character, size, background=bg)
        db = psnr(r.render(pose_body(r.character, angles.values[0])), first.image)
        if db > best_db:
            best, best_db = bg, db
    log.info("synthetic source: background %r matches frame 0 best (%.1f dB)", best, best_db)
    if best_db < 25.0:
        log.warning("no background re-renders the source video's first frame well (best %.1f dB): "
                    "ground-truth frames may differ from the training scene", best_db)
    return best


# ---- held-out ---------------------------------------------------------------------------------

def trained_on_estimated_poses(subject: Subject) -> bool:
    """True when the subject was trained on poses from a pose estimator (MediaPipe), not on a
    synthetic dancer's ground truth (recorded in subject.json as `source_video.pose_extractor`,
    or `pose_source` "mediapipe" for an extraction the trainer ran itself)."""
    sv = subject.source_video
    extractor = str(sv.get("pose_extractor") or "")
    if extractor:
        return not extractor.startswith("synthetic")
    return str(sv.get("pose_source") or "") == "mediapipe"


def _extract_rendered(origin: SyntheticOrigin, angles: MotionAngles, bg: str | None, crop: CropBox,
                      res: tuple[int, int], start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Render frames start..end-1 once: MediaPipe's poses of them, gap-filled and smoothed as
    `rtmotion extract` does by default, in crop pixels (T, K, 3), and the frames' crops at the
    camera's resolution, uint8 (T, H, W, 3) (the evaluation scores these; rendering twice would
    double the slowest part)."""
    r = Renderer(origin.character, crop.frame_size, background=bg)
    log.info("extracting the re-rendered frames' poses with MediaPipe (%d frames)",
             end - start)
    raw, frames = [], []
    with get_extractor("mediapipe") as extractor:
        for t in range(start, end):
            img = r.render(pose_body(r.character, angles.values[t]))
            raw.append(extractor(img))
            frames.append(img)
    times = np.arange(len(raw)) / float(angles.fps)  # seconds
    # The filter `rtmotion extract` applies by default (zero-phase), which made the poses the
    # subject was trained on; the causal live filter lags, and the subject then draws every
    # frame a little behind the real one (demo-ada: body SSIM 0.919 instead of 0.955).
    params = FilterParams(method=OFFLINE_FILTER)
    full, _ = smooth_keypoints(np.stack(raw), times, crop.frame_size[1], params)
    return crop.keypoints_to_crop(full, res), np.stack(frames)


def heldout_source(subject: Subject, max_frames: int | None = None) -> EvalSource:
    """The subject's held-out validation frames (see module docstring)."""
    v0, v1 = (int(v) for v in subject.validation_range)
    if v1 - v0 < 1:
        raise InputError(_subject_json(subject), "records no held-out validation frames",
                         "evaluate on other footage of the target with --video and --poses")
    return _own_frames_source(subject, (v0, v1), "heldout", max_frames)


def training_source(subject: Subject, max_frames: int | None = None) -> tuple[Subject, EvalSource]:
    """Blocks of the frames the subject trained on (`rtmotion.subject.split.fit_blocks`: one
    before and one after the held-out block, each as long as it), played one after the other
    (each starts afresh: `EvalItem.cut`), and the subject as training drew those frames: without
    the keyframes taken within its `keyframe_exclude` frames of them (training never handed a
    frame its own picture; inference would, and the score would measure a copy).

    What it measures is the subject's fit: how well it draws poses it trained on, against the
    held-out block's poses it never saw. `max_frames` caps the frames of all blocks together.

    Raises InputError when the subject records no held-out block (the blocks' length), no
    block of training frames that long exists, or every keyframe lies that near the blocks (a
    clip of a few seconds: the frames would be drawn from copies of themselves).
    """
    v0, v1 = (int(v) for v in subject.validation_range)
    if v1 - v0 < 1:
        raise InputError(_subject_json(subject), "records no held-out validation frames: the "
                         "training blocks are as long as that block", "evaluate with --video")
    blocks = fit_blocks(_training_frames(subject), (v0, v1))
    if not blocks:
        raise InputError(_subject_json(subject), f"no run of {v1 - v0} training frames of its "
                         "source video lies outside the held-out block",
                         "evaluate the held-out frames (the default)")
    near = int((subject.info.get("training") or {}).get("keyframe_exclude", 0) or 0)
    drawn_as_trained = subject
    if subject.keyframes is not None:
        kept = subject.keyframes.without_near(blocks, near)
        if kept is None:
            raise InputError(_subject_json(subject), f"every keyframe was taken within {near} "
                             f"frames of the training blocks {blocks}: they would be drawn from "
                             "copies of themselves", "train on a longer clip")
        drawn_as_trained = dataclasses.replace(subject, keyframes=kept)
    per_block = None if not max_frames else max(1, int(max_frames) // len(blocks))
    sources = [_own_frames_source(subject, b, "training", per_block) for b in blocks]

    def items() -> Iterator[EvalItem]:
        for k, source in enumerate(sources):
            for i, item in enumerate(source.items()):
                yield dataclasses.replace(item, cut=True) if k and not i else item

    info = {**sources[0].info, "frames": [list(b) for b in blocks],
            "keyframes_left_out": 0 if subject.keyframes is None
            else len(subject.keyframes) - len(drawn_as_trained.keyframes)}
    return drawn_as_trained, EvalSource("training", sum(s.total for s in sources), items, info)


def _training_frames(subject: Subject) -> np.ndarray:
    """bool (T,) the frames of the source video training used (`training_mask`): from the poses
    training used when they are here, else every frame outside the held-out block and its guard
    bands (the video's or the synthetic motion's frame count)."""
    block = (int(subject.validation_range[0]), int(subject.validation_range[1]))
    pose_file = _pose_file_of(subject)
    if pose_file is not None and pose_file.is_file():
        seq = PoseSequence.load(pose_file)
        return training_mask(usable_frames(seq.keypoints), block, guard_frames(float(seq.fps)))
    n = int(subject.source_video.get("frame_count") or 0)
    video = _video_here(subject)
    if n <= 0 and video is not None:
        n = VideoInfo.from_path(video).frame_count
    return training_mask(np.ones(n, bool), block, guard_frames(_source_fps(subject)))


def _own_frames_source(subject: Subject, block: tuple[int, int], mode: str,
                       max_frames: int | None) -> EvalSource:
    """Frames `block` (start, end: end exclusive) of the subject's own source video with the
    poses it trained with (see module docstring); `mode` "heldout" adds how new the block's poses
    are to training (`pose_novelty`)."""
    v0, v1 = block
    what = "held-out" if mode == "heldout" else "training"
    if max_frames:
        v1 = min(v1, v0 + int(max_frames))
    crop, res = _crop(subject)
    video = _recorded_video(subject)  # named in the report and in the error
    here = _video_here(subject)
    origin = synthetic_origin(subject)
    info: dict[str, Any] = {"frames": [v0, v1], "video": str(video or "")}

    # Driving poses: the recorded pose file, else synthetic ground truth, else MediaPipe.
    pose_file = _pose_file_of(subject)
    kps: np.ndarray | None = None
    if pose_file is not None and pose_file.is_file():
        seq = PoseSequence.load(pose_file)
        if len(seq) < v1 or tuple(seq.size) != tuple(crop.frame_size):
            raise InputError(pose_file, f"pose file ({len(seq)} frames of {seq.size}) does not "
                             f"cover the {what} frames {v0}..{v1} of {crop.frame_size} video",
                             "give --video and --poses explicitly")
        kps = crop.keypoints_to_crop(seq.keypoints[v0:v1], res)
        info["poses"] = f"{pose_file} (the poses training used)"
        # What the score measures: how new the whole held-out block's poses are to training.
        novelty = None if mode != "heldout" else pose_novelty(
            seq.keypoints, usable_frames(seq.keypoints), block, float(seq.fps))
        if novelty is not None:
            info["pose_novelty"] = novelty.to_dict()
    elif pose_file is not None:
        log.info("the poses training used (%s) are gone: extracting the %s frames' poses again",
                 pose_file, what)
    angles = bg = None
    if origin is not None:
        angles = _origin_angles(subject, origin)
        bg = detect_background(origin, angles, crop.frame_size, here)
        info["synthetic"] = {"character": origin.character, "motion": origin.motion,
                             "seed": origin.seed, "background": bg}
        if kps is None and not trained_on_estimated_poses(subject):
            r = Renderer(origin.character, crop.frame_size, background=bg)
            full = np.stack([r.keypoints(pose_body(r.character, angles.values[t]))
                             for t in range(v0, min(v1, len(angles)))])
            kps = crop.keypoints_to_crop(full, res)
            info["poses"] = "synthetic ground truth"
    if here is not None:
        vinfo = VideoInfo.from_path(here)
        if vinfo.size != tuple(crop.frame_size):
            raise InputError(here, f"is {vinfo.width}x{vinfo.height}, the subject was trained on "
                             f"{crop.frame_size[0]}x{crop.frame_size[1]} frames",
                             "the subject's source video was replaced; give --video and --poses")
        if kps is None:
            log.info("no recorded poses: extracting the %s frames' poses with MediaPipe", what)
            seq, _ = extract_video(here, start=v0, end=v1, workers=1, show_progress=False)
            kps = crop.keypoints_to_crop(seq.keypoints, res)
            info["poses"] = "mediapipe (re-extracted)"
        n = min(len(kps), v1 - v0, max(0, vinfo.frame_count - v0))

        def items() -> Iterator[EvalItem]:
            with VideoReader(here, start=v0, end=v0 + n) as reader:
                for i, fr in enumerate(reader):
                    if i >= n:
                        break
                    yield EvalItem(v0 + i, kps[i], crop.crop_image(fr.image, res), camera=fr.image)

        return EvalSource(mode, n, items, info)
    if origin is None:
        raise InputError(video or _subject_json(subject),
                         f"the subject's source video (where the {what} frames are) is not here",
                         "give held-out footage of the target with --video and --poses")
    # Synthetic source without its video: render the frames again.
    assert angles is not None
    log.info("source video %s not here: re-rendering the %s frames of %s", video, what, origin)
    crops: np.ndarray | None = None  # uint8 T x H x W x 3 camera frames, when already rendered
    if kps is None:
        # Trained on estimated poses: drive with the same estimator's poses of the re-rendered
        # frames, which is what a user's subject gets (ground truth would flatter or hurt it).
        kps, crops = _extract_rendered(origin, angles, bg, crop, res, v0, min(v1, len(angles)))
        info["poses"] = "mediapipe (re-extracted from the re-rendered frames)"
    n = min(len(kps), v1 - v0, max(0, len(angles) - v0))
    info["video"] = "re-rendered (synthetic)"

    def rendered() -> Iterator[EvalItem]:
        r = Renderer(origin.character, crop.frame_size, background=bg)
        for i in range(n):
            if crops is not None:
                camera = crops[i]
            else:
                camera = r.render(pose_body(r.character, angles.values[v0 + i]))
            yield EvalItem(v0 + i, kps[i], crop.crop_image(camera, res), camera=camera)

    return EvalSource(mode, n, rendered, info)


# ---- another video of the target --------------------------------------------------------------

def video_source(subject: Subject, video: str | Path, poses: str | Path | None,
                 max_frames: int | None = None) -> EvalSource:
    """Held-out footage of the target from the same camera set-up (cropped like training)."""
    video = Path(video)
    vinfo = VideoInfo.from_path(video)  # InputError: missing / not a video
    crop, res = _crop(subject)
    if vinfo.size != tuple(crop.frame_size):
        raise InputError(video, f"is {vinfo.width}x{vinfo.height}, the subject's camera frame is "
                         f"{crop.frame_size[0]}x{crop.frame_size[1]}",
                         "evaluate on footage filmed like the training video")
    if poses is not None:
        seq = PoseSequence.load(poses)
        # An estimated frame count (MKV, WebM) is checked while decoding instead.
        if len(seq) != vinfo.frame_count and vinfo.frame_count_exact:
            raise InputError(poses, f"has {len(seq)} poses but {video} has {vinfo.frame_count} "
                             "frames", "give the pose file extracted from this video")
        if tuple(seq.size) != vinfo.size:
            raise InputError(poses, f"poses are for {seq.size[0]}x{seq.size[1]} frames, {video} is "
                             f"{vinfo.width}x{vinfo.height}", "give the pose file of this video")
        if seq.skeleton != subject.pose_map_config.skeleton:
            raise InputError(poses, f"skeleton {seq.skeleton!r}, the subject uses "
                             f"{subject.pose_map_config.skeleton!r}", "re-extract the poses")
        full = seq.keypoints
        pose_info = str(poses)
    else:
        end = vinfo.frame_count if not max_frames else min(vinfo.frame_count, int(max_frames))
        log.info("no --poses: extracting %d frames' poses with MediaPipe", end)
        seq, _ = extract_video(video, end=end, workers=1, show_progress=False)
        full = seq.keypoints
        pose_info = "mediapipe"
    n = len(full) if not max_frames else min(len(full), int(max_frames))
    kps = crop.keypoints_to_crop(full[:n], res)

    def items() -> Iterator[EvalItem]:
        count = 0
        with VideoReader(video, end=n) as reader:
            for i, fr in enumerate(reader):
                if i >= n:
                    break
                count += 1
                yield EvalItem(i, kps[i], crop.crop_image(fr.image, res), camera=fr.image)
        if count < n:
            raise InputError(video, f"decoded {count} frames but the poses have {n}",
                             "the video is truncated or not the one the poses came from")

    return EvalSource("video", n, items, {"video": str(video), "poses": pose_info})


# ---- transfer with synthetic ground truth -----------------------------------------------------

def transfer_source(subject: Subject, other: str, motion: str | None = None, seed: int | None = None,
                    max_frames: int | None = None, driving: str = "extracted",
                    mode: str = "auto") -> EvalSource:
    """The target character doing another character's motion (see module docstring).

    driving: "extracted" (the other character's video through convert's pose path), "exact"
    (its renderer poses, normalized) or "target" (the target's own extracted poses of the true
    frames: no normalization, the bound); mode: the normalization mode (`rtmotion.pose.normalize`)."""
    if driving not in TRANSFER_DRIVING:
        raise ValueError(f"driving must be one of {TRANSFER_DRIVING}, got {driving!r}")
    origin = synthetic_origin(subject)
    if origin is None:
        raise InputError(_subject_json(subject), "was not trained on a synthetic dancer, so there "
                         "is no ground truth for --transfer-character",
                         "use it with subjects trained on `rtmotion synth` videos")
    if other not in CHARACTERS:
        raise InputError(None, f"--transfer-character {other!r}: unknown character",
                         f"choose from: {', '.join(c for c in CHARACTERS if c != origin.character)}")
    if other == origin.character:
        raise InputError(None, f"--transfer-character {other!r} is the subject's own character",
                         "choose another character, whose motion the subject will copy")
    motion = motion or origin.motion
    if motion not in MOTIONS:
        raise InputError(None, f"--transfer-motion {motion!r}: unknown", f"choose from: {', '.join(MOTIONS)}")
    seed = origin.seed + 1 if seed is None else int(seed)
    crop, res = _crop(subject)
    fps = _source_fps(subject)
    n = int(max_frames) if max_frames else DEFAULT_TRANSFER_FRAMES
    angles = motion_angles(motion, n / float(fps), fps, seed)
    n = len(angles)
    bg = detect_background(origin, _origin_angles(subject, origin), crop.frame_size,
                           _video_here(subject))
    tgt_r = Renderer(origin.character, crop.frame_size, background=bg)
    bodies = [pose_body(tgt_r.character, row) for row in angles.values]
    if driving == "extracted":
        driving_seq = _extracted_driving(subject, other, motion, angles, crop.frame_size, mode)
    elif driving == "target":
        driving_seq = _extracted_target(tgt_r, bodies, angles, crop, res)
    else:
        # The driving character's exact poses in the (same) camera frame.
        src_r = Renderer(other, crop.frame_size)
        src_kp = np.stack([src_r.keypoints(pose_body(src_r.character, row)) for row in angles.values])
        src_seq = PoseSequence(src_kp, "body25", angles.fps, crop.frame_size, angles.timestamps,
                               source=f"synthetic:{other}/{motion}/seed{seed}", extractor="synthetic")
        driving_seq = normalize_sequence(src_seq, subject.stats, mode=mode)
    if tuple(driving_seq.size) != tuple(res):
        raise InputError(_subject_json(subject), f"pose statistics are for {driving_seq.size} frames, "
                         f"the model makes {res}", "retrain the subject")
    truth = crop.keypoints_to_crop(np.stack([tgt_r.keypoints(b) for b in bodies]), res)
    drv = driving_seq.keypoints

    def items() -> Iterator[EvalItem]:
        for t, body in enumerate(bodies):
            camera = tgt_r.render(body)
            yield EvalItem(t, drv[t], crop.crop_image(camera, res), truth[t], camera)

    info = {"character": origin.character, "driven_by": other, "motion": motion, "seed": seed,
            "background": bg, "normalization": driving_seq.extractor,
            "driving_poses": {"extracted": "pose estimator, as convert", "exact": "exact",
                              "target": "the target's own, pose estimator (no normalization)"}[driving]}
    return EvalSource("transfer", n, items, info)


def _extracted_target(renderer: Renderer, bodies: list[Any], angles: MotionAngles, crop: CropBox,
                      res: tuple[int, int]) -> PoseSequence:
    """The target's own poses of the true frames, through convert's pose path without the
    normalization (MediaPipe, the offline filter), in model pixels."""
    with tempfile.TemporaryDirectory(prefix="rtmotion-transfer-") as tmp:
        video = Path(tmp) / "target.mp4"
        with VideoWriter(video, angles.fps, crop.frame_size) as writer:
            for body in bodies:
                writer.write(renderer.render(body))
        raw, _ = extract_video(video, workers=1, show_progress=False, person=None)
    kp = smooth_sequence(raw, OFFLINE_FILTER).keypoints
    if len(kp) != len(bodies):
        raise InputError(None, f"the rendered target video gave {len(kp)} poses for {len(bodies)} "
                         "frames", "report this: the renderer and the reader disagree")
    return PoseSequence(crop.keypoints_to_crop(kp, res), raw.skeleton, angles.fps, res, angles.timestamps,
                        source="transfer:target", extractor=f"{raw.extractor}+own")


def _extracted_driving(subject: Subject, other: str, motion: str, angles: MotionAngles,
                       size: tuple[int, int], mode: str) -> PoseSequence:
    """The driving poses `convert` would use for `other` doing `angles`: its video rendered in
    the subject's camera frame, then MediaPipe, the offline filter and the normalization."""
    from rtmotion.pipeline.offline import driving_poses  # eval sits above the pipeline

    with tempfile.TemporaryDirectory(prefix="rtmotion-transfer-") as tmp:
        video = Path(tmp) / f"{other}.mp4"
        write_dancer_video(video, other, motion, size=size, fps=angles.fps, angles=angles)
        poses = driving_poses(subject, video, mode=mode, workers=1, show_progress=False,
                              person=None)  # one synthetic dancer: nobody else to look for
    n = len(angles)
    if len(poses.driving) != n:
        raise InputError(None, f"the rendered {other} video gave {len(poses.driving)} poses for "
                         f"{n} frames", "report this: the renderer and the reader disagree")
    return poses.driving
