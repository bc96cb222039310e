"""The target's clean background plate: the scene without the person, from the training frames.

EDN films the target with a fixed camera, so every pixel of the background is seen whenever
the person is elsewhere. The plate is the per-pixel median of the training frames, each frame
counting only where the person is NOT: a generous mask drawn from its pose (thick bones, the
torso, the head, the shadow under the feet), joined with the person's segmentation
(`rtmotion.pose.segmentation`, grown by `SEGMENT_MARGIN`) where a segmenter is given. The
skeleton alone misses what is not a bone (a long dress, loose hair): a person who barely moves
then leaves a faint silhouette in the median. Pixels the person covers in every sampled frame
are filled by OpenCV inpainting (Telea) and reported, so the user knows how much was guessed.

The generator takes the plate as a constant input (`GeneratorConfig.background_plate`: a buffer
of the network, so it travels in generator.pt and is a constant of the ONNX graph). It then only
has to draw the person and their shadow; without the plate a small generator must also
re-invent the room every frame, which a short training does badly (blurred, drifting floors).

A moving camera breaks the median: `estimate_background_plate` measures how well the unmasked
pixels agree with the plate and the trainer warns when they do not (use --no-background-plate).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rtmotion.io import VideoInfo, frames_at

log = logging.getLogger(__name__)

#: Sizes of the person mask, as fractions of the person's height in the frame (keypoint extent).
BONE_WIDTH = 0.16  # limbs are drawn this thick (a forearm is ~0.05; clothes and blur widen it)
HEAD_RADIUS = 0.11  # around the nose / head joints (hair, hats)
SHADOW_HEIGHT = 0.07  # the shadow ellipse under the feet, half-height
SHADOW_WIDEN = 0.15  # ... and how far it reaches beyond the outermost foot
MASK_MARGIN = 0.04  # extra dilation of the whole mask
#: The segmentation's silhouette grows by this fraction of the person's height (its edge is
#: soft, and motion blur and anti-aliasing spread the person a little beyond it).
SEGMENT_MARGIN = 0.03
#: With a segmentation the skeleton mask is drawn this much thinner: it only has to catch what
#: the segmentation missed (a fast hand), and a tighter mask leaves fewer pixels that no frame
#: shows free (guessed by inpainting) when the person barely moves.
SEGMENTED_THICKNESS = 0.5
#: With a segmenter at most this many frames vote (each costs a segmentation, ~35 ms at
#: 512x512 on a 2-core CPU); 60 gave the synthetic plates below 0.4/255 mean error.
SEGMENTED_FRAMES = 64

#: A median absolute residual (0..255) above this on the unmasked pixels suggests a moving
#: camera or changing light: the plate is then a poor guess of the background.
RESIDUAL_WARN = 6.0
#: A pixel whose colour is off the plate's by more than this (0..255, any channel) has changed:
#: more than noise or compression moves a fixed camera's background.
CHANGED_LEVELS = 24.0
#: More than this share of changed unmasked pixels also says the camera moved. The median
#: residual alone misses it in a dark room (most pixels black whatever the camera does):
#: measured on a handheld clip in a dark studio (stage lights, black curtains), residual 6.0
#: (not over RESIDUAL_WARN) but 25 % of the background changed; fixed cameras 0.2-2.5 %
#: (tools/camera_motion.py, docs/BENCHMARKS.md "... a moving camera named").
CHANGED_WARN = 0.10


@dataclass(frozen=True)
class BackgroundPlate:
    """A plate and how it was made.

    Attributes:
        image: uint8 (H, W, 3) RGB, the plate at the model's resolution.
        inpainted: bool (H, W), True where no sampled frame showed the background (guessed).
        frames_used: how many frames went into the median.
        inpainted_fraction: share of the pixels no sampled frame showed free (filled by inpainting).
        residual: median absolute difference (0..255) between the plate and the unmasked pixels of
            the sampled frames; small for a fixed camera, large for a moving one.
        changed_fraction: share of those pixels that differ from the plate by more than
            CHANGED_LEVELS in some channel (a moving camera in a dark room: the residual stays low).
        frames_segmented: of `frames_used`, how many had a segmentation joined to the skeleton
            mask (0 without a segmenter).
    """

    image: np.ndarray
    inpainted: np.ndarray
    frames_used: int
    inpainted_fraction: float
    residual: float
    frames_segmented: int = 0
    changed_fraction: float = 0.0

    @property
    def looks_static(self) -> bool:
        """Whether the frames agree with the plate as a fixed camera's do."""
        return self.residual <= RESIDUAL_WARN and self.changed_fraction <= CHANGED_WARN

    def summary(self) -> dict[str, float | int]:
        return {"frames_used": self.frames_used,
                "frames_segmented": self.frames_segmented,
                "inpainted_fraction": round(self.inpainted_fraction, 5),
                "residual": round(self.residual, 3),
                "changed_fraction": round(self.changed_fraction, 4)}

    def motion_note(self) -> str:
        """How far the frames are from the plate, in words (for the warnings)."""
        return (f"the room's pixels differ from its plate by a median of {self.residual:.1f}/255, "
                f"{100 * self.changed_fraction:.0f} % of them by more than {CHANGED_LEVELS:.0f} "
                f"levels (a fixed camera: under {RESIDUAL_WARN:.0f} and {100 * CHANGED_WARN:.0f} %)")


def recorded_motion_note(summary: dict[str, Any] | None) -> str | None:
    """`BackgroundPlate.motion_note` of a plate recorded by `BackgroundPlate.summary` (subject.json
    "training"), when that plate says the camera moved; None when it looks static or nothing was
    recorded (a summary from before `changed_fraction` was kept is judged by its residual)."""
    if not summary:
        return None
    plate = BackgroundPlate(image=np.zeros((1, 1, 3), np.uint8), inpainted=np.zeros((1, 1), bool),
                            frames_used=int(summary.get("frames_used", 0)),
                            inpainted_fraction=float(summary.get("inpainted_fraction", 0.0)),
                            residual=float(summary.get("residual", 0.0)),
                            changed_fraction=float(summary.get("changed_fraction", 0.0)))
    return None if plate.looks_static else plate.motion_note()


def training_motion_note(training: dict[str, Any]) -> str | None:
    """`recorded_motion_note` of a subject's training record (subject.json "training"): its
    camera-resolution plate ("scene_plate", the follow crop's) or else its model-frame plate
    ("background_plate", the fixed crop's)."""
    return recorded_motion_note(training.get("scene_plate") or training.get("background_plate"))


def pose_usable(keypoints: np.ndarray, min_confidence: float = 0.3) -> bool:
    """Whether a frame's float (K, 3) pose tells where the person is (4+ joints visible)."""
    return int((keypoints[:, 2] >= min_confidence).sum()) >= 4


def person_mask(keypoints: np.ndarray, bones: tuple[tuple[int, int], ...], size: tuple[int, int],
                min_confidence: float = 0.3, thickness: float = 1.0) -> np.ndarray | None:
    """Where the person (and their shadow) may be in one frame.

    Args:
        keypoints: float (K, 3): x, y in pixels of the frame, confidence.
        bones: (parent, child) joint index pairs (the skeleton's bones).
        size: (W, H) of the frame.
        min_confidence: joints below this are ignored.
        thickness: scales the bone width, head radius and margin (below 1 where a segmentation
            draws the silhouette and the skeleton only has to catch what it missed).

    Returns:
        bool (H, W), True on the person; None when fewer than 4 joints are visible (where the
        person is cannot be told, so the frame must not vote).
    """
    w, h = size
    if not pose_usable(keypoints, min_confidence):
        return None
    ok = keypoints[:, 2] >= min_confidence
    pts = keypoints[ok, :2]
    height = max(float(pts[:, 1].max() - pts[:, 1].min()), 0.1 * h)
    mask = np.zeros((h, w), np.uint8)
    thick = max(2, int(round(BONE_WIDTH * thickness * height)))
    for a, b in bones:
        if ok[a] and ok[b]:
            pa = tuple(int(round(v)) for v in keypoints[a, :2])
            pb = tuple(int(round(v)) for v in keypoints[b, :2])
            cv2.line(mask, pa, pb, 1, thickness=thick)
    # Torso: the hull of the visible joints between shoulders and hips is solid, not stick-like.
    cv2.fillConvexPoly(mask, _torso_hull(keypoints, ok), 1)
    head = pts[np.argmin(pts[:, 1])]  # the highest visible joint
    cv2.circle(mask, (int(round(head[0])), int(round(head[1]))),
               max(2, int(round(HEAD_RADIUS * thickness * height))), 1, thickness=-1)
    # Shadow / contact region under the lowest joints.
    low = pts[:, 1].max()
    feet = pts[pts[:, 1] >= low - 0.1 * height]
    cx = float(feet[:, 0].mean())
    half_w = float(feet[:, 0].max() - feet[:, 0].min()) / 2 + SHADOW_WIDEN * height
    cv2.ellipse(mask, (int(round(cx)), int(round(low))),
                (max(2, int(round(half_w))), max(2, int(round(SHADOW_HEIGHT * height)))),
                0, 0, 360, 1, thickness=-1)
    margin = max(1, int(round(MASK_MARGIN * thickness * height)))
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1,) * 2))
    return mask.astype(bool)


#: A person segmentation of one uint8 RGB (H, W, 3) frame: bool (H, W), or None (no person).
Segmenter = Callable[[np.ndarray], "np.ndarray | None"]


def join_segmentation(mask: np.ndarray, segment: np.ndarray | None,
                      keypoints: np.ndarray) -> np.ndarray:
    """The skeleton mask joined with the grown segmentation (bool (H, W) each).

    Args:
        mask: bool (H, W), the skeleton mask (`person_mask`).
        segment: bool (H, W), the segmentation; None leaves `mask` as it is.
        keypoints: float (K, 3) of the frame (the person's height sets the margin).
    """
    if segment is None or not segment.any():
        return mask
    ok = keypoints[:, 2] > 0
    h = mask.shape[0]
    height = max(float(np.ptp(keypoints[ok, 1])) if ok.any() else 0.0, 0.1 * h)
    r = max(1, int(round(SEGMENT_MARGIN * height)))
    grown = cv2.dilate(segment.astype(np.uint8),
                       cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
    return mask | grown.astype(bool)


def _torso_hull(keypoints: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """int32 (N, 1, 2) convex hull of the visible torso joints (the whole body's if too few)."""
    # BODY25: neck 1, shoulders 2 / 5, mid hip 8, hips 9 / 12.
    torso = [j for j in (1, 2, 5, 8, 9, 12) if j < len(ok) and ok[j]]
    idx = torso if len(torso) >= 3 else list(np.flatnonzero(ok))
    pts = np.round(keypoints[idx, :2]).astype(np.int32)
    return cv2.convexHull(pts[:, None, :])


def estimate_background_plate(
    frames: np.ndarray,
    keypoints: np.ndarray,
    bones: tuple[tuple[int, int], ...],
    indices: np.ndarray | None = None,
    max_frames: int = 240,
    rows_per_chunk: int = 64,
    segmenter: Segmenter | None = None,
) -> BackgroundPlate:
    """The masked per-pixel median of sampled frames (see the module docstring).

    Args:
        frames: uint8 (T, H, W, 3) RGB (a memory map is fine: only sampled frames are read).
        keypoints: float (T, K, 3) in pixels of `frames`.
        bones: the skeleton's bones (joint index pairs).
        indices: frames allowed to vote (e.g. the training frames only); default all.
        max_frames: at most this many (`SEGMENTED_FRAMES` with a segmenter), evenly spread over
            `indices` (more add little to a median).
        rows_per_chunk: image rows processed at once (bounds memory: chunk x frames x W x 3 floats).
        segmenter: person segmentation joined to each frame's skeleton mask
            (`rtmotion.pose.segmentation.PersonSegmenter.mask`); None: the skeleton mask alone.

    Returns:
        BackgroundPlate. Raises ValueError when no frame has a usable pose.
    """
    t, h, w, _ = frames.shape
    idx = np.arange(t) if indices is None else np.asarray(indices, dtype=np.int64)
    if segmenter is not None:
        max_frames = min(max_frames, SEGMENTED_FRAMES)
    if len(idx) > max_frames:
        idx = idx[np.linspace(0, len(idx) - 1, max_frames).round().astype(np.int64)]
    picked, masks = [], []
    segmented = 0
    for i in idx:
        if not pose_usable(keypoints[i]):  # where the person is cannot be told: no vote
            continue
        seg = segmenter(np.asarray(frames[i])) if segmenter is not None else None
        has_seg = seg is not None and bool(seg.any())
        # with a silhouette, a thinner skeleton beside it (it only catches what that missed)
        m = person_mask(keypoints[i], bones, (w, h),
                        thickness=SEGMENTED_THICKNESS if has_seg else 1.0)
        assert m is not None  # pose_usable said so
        if has_seg:
            m = join_segmentation(m, seg, keypoints[i])
            segmented += 1
        picked.append(int(i))
        masks.append(m)
    if not picked:
        raise ValueError("no frame with a usable pose to estimate the background from")
    stack_masks = np.stack(masks)  # N x H x W bool, True = person
    plate = np.zeros((h, w, 3), np.float32)
    free_any = ~stack_masks.all(axis=0)  # H x W
    residuals: list[np.ndarray] = []
    changed = seen = 0
    for y0 in range(0, h, rows_per_chunk):
        y1 = min(h, y0 + rows_per_chunk)
        chunk = np.asarray(frames[picked, y0:y1], dtype=np.float32)  # N x r x W x 3
        chunk[stack_masks[:, y0:y1]] = np.nan
        free = free_any[y0:y1]
        med = np.zeros(chunk.shape[1:], np.float32)
        if free.any():
            med[free] = np.nanmedian(chunk[:, free], axis=0)
        plate[y0:y1] = med
        diff = np.abs(chunk - med[None])  # NaN where masked
        residuals.append(diff[~np.isnan(diff)][::7])  # a thinned sample is enough for a median
        unmasked = ~np.isnan(diff[..., 0])  # N x r x W (a masked pixel is NaN in every channel)
        changed += int(((np.nan_to_num(diff, nan=0.0).max(axis=-1) > CHANGED_LEVELS) & unmasked).sum())
        seen += int(unmasked.sum())
    image = np.clip(np.round(plate), 0, 255).astype(np.uint8)
    holes = ~free_any
    if holes.any():
        image = cv2.inpaint(image, holes.astype(np.uint8), 5, cv2.INPAINT_TELEA)
    res = np.concatenate(residuals) if residuals else np.zeros(1, np.float32)
    return BackgroundPlate(image=image, inpainted=holes, frames_used=len(picked),
                           inpainted_fraction=float(holes.mean()),
                           residual=float(np.median(res)) if res.size else 0.0,
                           frames_segmented=segmented, changed_fraction=changed / max(seen, 1))


def estimate_scene_plate(
    video: str | Path,
    keypoints: np.ndarray,
    bones: tuple[tuple[int, int], ...],
    indices: np.ndarray,
    max_frames: int = 120,
    max_bytes: int = 400 * 2**20,
    segmenter: Segmenter | None = None,
) -> BackgroundPlate:
    """The plate at the camera frame's own resolution (what the output frame is composed on,
    `rtmotion.pipeline.canvas`), by the same masked median as `estimate_background_plate`.

    Args:
        video: the target video.
        keypoints: float (T, K, 3) in source pixels, one pose per video frame from frame 0.
        bones: the skeleton's bones.
        indices: frames allowed to vote (the training frames).
        max_frames: at most this many frames, evenly spread over `indices`...
        max_bytes: ... and no more than this much decoded video held at once (fewer frames for
            a large frame size; a median needs few).
        segmenter: as in `estimate_background_plate`.
    Raises:
        InputError (from rtmotion.io) when the video cannot be decoded; ValueError when no
        sampled frame has a usable pose.
    """
    info = VideoInfo.from_path(video)
    per_frame = int(info.width) * int(info.height) * 3
    n = max(8, min(int(max_frames), int(max_bytes) // max(per_frame, 1)))
    if segmenter is not None:
        n = min(n, SEGMENTED_FRAMES)
    idx = np.asarray(indices, dtype=np.int64)
    if len(idx) > n:
        idx = idx[np.linspace(0, len(idx) - 1, n).round().astype(np.int64)]
    frames: list[np.ndarray] = []
    kept: list[int] = []
    for frame in frames_at(video, idx.tolist()):
        frames.append(frame.image)
        kept.append(frame.index)
    if not frames:
        raise ValueError("no frame could be read to estimate the background from")
    return estimate_background_plate(np.stack(frames), np.asarray(keypoints)[kept], bones,
                                     max_frames=len(frames), segmenter=segmenter)
