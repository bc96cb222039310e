"""Synthetic dancer videos with exact ground-truth poses.

High level: `render_sequence` (frames iterator + `PoseSequence`) and `write_dancer_video`
(an MP4, optionally with a beat, plus the pose file). Retargeting ground truth: compute one
motion's angles with `motion_angles` and pass the same `angles=` to two characters; each is
rendered with its own bone lengths and the same joint angles.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from rtmotion.atomic import check_writable
from rtmotion.io import VideoWriter, rate_text
from rtmotion.pose.posefile import PoseSequence
from rtmotion.progress import progress
from rtmotion.synthetic.audio import write_beat
from rtmotion.synthetic.body import BodyPose, Camera, pose_body
from rtmotion.synthetic.characters import Character, get_character
from rtmotion.synthetic.motion import MotionAngles, motion_angles
from rtmotion.synthetic.origin import SyntheticOrigin
from rtmotion.synthetic.render import Renderer

log = logging.getLogger(__name__)


def _fps(fps: Fraction | int | float) -> Fraction:
    f = Fraction(fps).limit_denominator(1001) if isinstance(fps, float) else Fraction(fps)
    if f <= 0:
        raise ValueError(f"fps must be positive, got {fps!r}")
    return f


def source_name(character: str | Character, angles: MotionAngles) -> str:
    """The `source` string stored in pose files, e.g. "synthetic:ada/dance/seed0"."""
    name = character if isinstance(character, str) else character.name
    return SyntheticOrigin(name, angles.name or "custom", angles.seed).source_text()


def render_pose(character: str | Character, angles: np.ndarray, size: tuple[int, int] = (256, 256),
                camera: Camera | None = None, background: str | None = None,
                renderer: Renderer | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One frame of one pose row (see `motion.DOFS`, `motion.angles_from_dict`).

    Returns (uint8 RGB (H, W, 3) image, float32 (25, 3) BODY25 ground truth).
    """
    r = renderer or Renderer(character, size, camera=camera, background=background)
    body = pose_body(r.character, angles)
    return r.render(body), r.keypoints(body)


def render_sequence(
    character: str | Character,
    motion: str = "dance",
    seconds: float = 4.0,
    size: tuple[int, int] = (256, 256),
    fps: Fraction | int | float = 30,
    seed: int = 0,
    background: str | None = None,
    camera: Camera | None = None,
    angles: MotionAngles | None = None,
    supersample: int = 2,
) -> tuple[Iterator[np.ndarray], PoseSequence]:
    """Render a character dancing.

    Args:
        character: a name from `CHARACTERS` or a `Character`.
        motion, seconds, fps, seed: which motion (`MOTIONS`) and its sampling; ignored when
            `angles` is given (its own frame rate and length are used).
        size: (width, height) in pixels.
        background: a name from `BACKGROUNDS` (default: the character's own).
        camera: the pinhole camera (default `Camera()`: fixed tripod in front of the dancer).
        angles: precomputed character-independent motion (`motion_angles(...)`), e.g. to
            render the same motion on another character (retargeting ground truth).
        supersample: anti-aliasing canvas scale (2 default, 1 fastest).

    Returns:
        (frames, poses): `frames` lazily yields T uint8 RGB (H, W, 3) images; `poses` is the
        ground truth, a `PoseSequence` of T frames (skeleton "body25", extractor "synthetic",
        keypoints in pixels of these frames). The poses are computed up front; a frame is drawn
        only when the iterator reaches it.

    ValueError names an unknown character, motion or background.
    """
    char = get_character(character)
    if angles is None:
        angles = motion_angles(motion, seconds, _fps(fps), seed)
    renderer = Renderer(char, size, camera=camera, background=background, supersample=supersample)
    bodies: list[BodyPose] = [pose_body(char, row) for row in angles.values]
    kps = np.stack([renderer.keypoints(b) for b in bodies]) if bodies else np.zeros((0, 25, 3))
    seq = PoseSequence(
        keypoints=kps,
        skeleton="body25",
        fps=angles.fps,
        size=renderer.size,
        timestamps=angles.timestamps,
        source=source_name(char.name, angles),
        extractor="synthetic",
    )

    def frames() -> Iterator[np.ndarray]:
        for b in bodies:
            yield renderer.render(b)

    return frames(), seq


def write_dancer_video(
    path: str | Path,
    character: str | Character = "ada",
    motion: str = "dance",
    seconds: float = 4.0,
    size: tuple[int, int] = (256, 256),
    fps: Fraction | int | float = 30,
    seed: int = 0,
    poses_path: str | Path | None = None,
    audio: bool = False,
    background: str | None = None,
    camera: Camera | None = None,
    angles: MotionAngles | None = None,
    show_progress: bool = False,
    crf: int = 18,
) -> PoseSequence:
    """Render a dancer to an H.264 MP4 at `path` (atomic), optionally with a beat track muxed in
    (`audio=True`: kick on the motion's beat, AAC 44.1 kHz) and the ground truth saved to
    `poses_path` (.npz). Returns the ground-truth `PoseSequence`.

    Arguments as `render_sequence`. OutputError if `path` cannot be written (before any work).
    """
    check_writable(path)
    if poses_path is not None:
        check_writable(poses_path)
    if angles is None:
        angles = motion_angles(motion, seconds, _fps(fps), seed)
    frames, seq = render_sequence(character, size=size, background=background, camera=camera,
                                  angles=angles)
    tempo = angles.tempo_bpm
    duration = len(seq) / float(seq.fps)
    with tempfile.TemporaryDirectory(prefix="rtmotion-synth-") as tmp:
        audio_from = None
        if audio:
            audio_from = write_beat(Path(tmp) / "beat.m4a", tempo, duration + 0.5, seed=seed)
        it: Iterator[np.ndarray] = frames
        bar = None
        if show_progress:
            bar = progress(total=len(seq), desc=f"synth {Path(path).name}")
        try:
            # Self-describing file: a subject trained on it records where it came from, so
            # `rtmotion eval` can re-render ground truth (`SyntheticOrigin.tag`).
            char = character if isinstance(character, Character) else get_character(character)
            tag = SyntheticOrigin.parse(seq.source, background or char.background).tag()
            with VideoWriter(path, seq.fps, seq.size, audio_from=audio_from, crf=crf,
                             metadata={"comment": tag}) as w:
                for img in it:
                    w.write(img)
                    if bar is not None:
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()
    if poses_path is not None:
        seq.save(poses_path)
    log.info("wrote %s (%d frames, %s fps%s)", path, len(seq), rate_text(seq.fps), ", with beat" if audio else "")
    return seq
