"""`Session`: one subject on one engine, the only way a pipeline makes frames.

    with open_session(subject, EngineRequest(backend="auto"), hold_frames=15) as session:
        for kp in driving_poses:                 # (K, 3) each, the subject's model pixels
            image = session.generate(session.prepare(kp))   # uint8 RGB (H, W, 3)

With `full_frame` the session returns the subject's whole camera frame (demo-ada: 512x512, or
any size asked for) instead of the generator's model frame: `rtmotion.pipeline.canvas` composes
each model frame onto the full-resolution background plate (convert, live and bench do this;
eval and calibration work in the model frame).

`open_session` opens the engine the request asks for (`rtmotion.export.open_requested`: built
on first use into the engine cache, `auto` resolved and explained in the log), picks the
synthesizer for the engine's device (`make_synthesizer`: the CUDA one on a GPU, the plain one
elsewhere), and owns the no-person rule. `convert`, `run_live`, `rtmotion bench`,
`rtmotion eval`, calibration recording and the demo all generate through a session, so every
command scores and ships the same step.

The step has three parts, so that a pipeline can overlap them in threads:

- `prepare(keypoints)` (pose-only; the offline pipeline runs it one frame ahead): the no-person
  rule decides what is drawn (the pose, the last pose held, or the empty scene) and the
  synthesizer's preparer computes what needs only the pose (maps, pose flow, the appearance
  reference). One thread calls it, in frame order.
- `draw(prepared)` (warp of the previous output, generator, blend: the temporal state moves
  on): one thread calls it, in the same order.
- `finish(drawn)` (face enhancer, uint8, the full frame around it: stateless, so the offline
  pipeline runs it a frame behind `draw` on the other core): in the same order.

`generate(prepared)` is `finish(draw(prepared))` (live, eval and recording call it).

The no-person rule: with `hold_frames` (convert, live) a person missing for up to that many
frames keeps their last pose, and a longer absence shows the subject's empty scene and drops
the temporal state (`rtmotion.pipeline.gaps`); without it (eval, recording) a frame without a
person goes to the synthesizer as it is, which repeats its last image (or draws the empty
scene when there is none yet).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np

from rtmotion.engine_request import EAGER_CPU, EngineRequest
from rtmotion.export.engine import EngineChoice, open_requested
from rtmotion.pipeline.canvas import Canvas, canvas_geometry
from rtmotion.pipeline.detail import DetailLayer, Sharpen
from rtmotion.pipeline.follow_frame import Placement
from rtmotion.pipeline.gaps import ABSENT, BLANK, PERSON, GapCounts, PersonGapPolicy
from rtmotion.pipeline.synthesize import (
    Drawn,
    PreparedPose,
    SubjectSynthesizer,
    make_synthesizer,
)
from rtmotion.runtime.base import GeneratorRunner
from rtmotion.subject import Subject

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """`Session.prepare`'s result for one frame, handed to `Session.generate`.

    Attributes:
        state: PERSON, HELD (the last pose again), BLANK (the empty scene) or ABSENT (no
            person, and no hold rule: the synthesizer repeats its last image).
        reset: the synthesizer forgets its previous frame before this one.
        pose: what the synthesizer's preparer computed (None for BLANK).
    """

    state: str
    reset: bool
    pose: PreparedPose | None


class Session:
    """A subject's synthesizer on an opened engine, with the no-person rule (module docstring).

    Made by `open_session`; close it (or use `with`) to free the engine.

    Attributes:
        subject: the loaded subject.
        synth: the synthesizer (a `SubjectSynthesizer`; with its `CudaLayer` on a GPU).
        choice: what `open_engine` picked and why (None when the caller gave the runner).
        gaps: frames drawn without a person so far (held / blank), with a hold rule.
        canvas: composes the model frame into the full frame (None: frames are model frames).
        detail: the keyframes' full-resolution detail added to the full frames
            (`rtmotion.pipeline.detail`; None: the person is only enlarged).
    """

    def __init__(self, subject: Subject, synth: SubjectSynthesizer, choice: EngineChoice | None,
                 hold_frames: int | None = None, canvas: Canvas | None = None,
                 detail: DetailLayer | None = None) -> None:
        self.subject = subject
        #: adds the keyframes' full-resolution detail to full frames (None: enlarged only)
        self.detail = detail
        self._last_sharpen: Sharpen | None = None  # the last frame's (a repeat keeps it)
        self.synth = synth
        self.choice = choice
        self.canvas = canvas
        self._policy = PersonGapPolicy(hold_frames) if hold_frames is not None else None
        self._preparer = synth.preparer()
        # A follow-crop subject draws each frame in its own box: without a full-frame canvas
        # its frames are placed back into the subject's fixed crop (the model frame callers see),
        # through the camera frame (`in_reference_frame`).
        self._in_reference_frame = subject.follow_crop is not None and canvas is None
        self._camera_canvas: Canvas | None = None
        self._last_drawn: np.ndarray | None = None  # the last frame as the generator drew it
        self._last_camera: np.ndarray | None = None  # it on the camera frame, once composed
        self._last_placement: Placement | None = None  # where it was drawn (follow crop)
        self._last_pose_distance: float | None = None  # its pose to the nearest keyframe

    # ---- the step ---------------------------------------------------------------------------
    def prepare(self, keypoints: np.ndarray) -> Prepared:
        """The pose-only half of the step (one thread, frame order).

        Args:
            keypoints: float (K, 3) x, y in the subject's model pixels, confidence; a frame
                without a person has every confidence 0.
        """
        kp = np.asarray(keypoints, np.float32)
        if self._policy is None:
            state = PERSON if (kp[:, 2] > 0).any() else ABSENT
            return Prepared(state, False, self._preparer(kp))
        kp, state = self._policy(kp)
        reset = self._policy.needs_reset
        if reset:
            self._preparer.reset()
        return Prepared(state, reset, None if state == BLANK else self._preparer(kp))

    def generate(self, prepared: Prepared) -> np.ndarray:
        """The rest of the step (one thread, frame order): uint8 RGB (H, W, 3) at
        `output_size`, a new array. `finish(draw(prepared))`."""
        return self.finish(self.draw(prepared))

    def draw(self, prepared: Prepared) -> Drawn:
        """The stateful part of `generate` (one thread, frame order): the warp of the previous
        output and the generator (`FrameSynthesizer.draw`)."""
        if prepared.reset:
            self.synth.reset()
        if prepared.state == BLANK or prepared.pose is None:
            return Drawn("blank", image=self.synth.blank_scene(), placement=self.synth.last_placement)
        return self.synth.draw(prepared.pose)

    def finish(self, drawn: Drawn) -> np.ndarray:
        """The rest (frame order; it may run in another thread than `draw`, a frame behind it):
        the face enhancer, the uint8 frame, and with a canvas the full frame around it. uint8
        RGB (H, W, 3) at `output_size`, a new array."""
        image = self.synth.finish(drawn)
        self._last_drawn = image
        self._last_placement = drawn.placement
        self._last_pose_distance = drawn.keyframe_distance
        self._last_camera = None
        self._last_sharpen = self._sharpen(drawn, image)
        if self._in_reference_frame:
            # The model frame is the generator's (what eval's model-frame rows score): no detail.
            camera = self._camera(image, drawn.placement, None)
            if self._last_sharpen is None:  # the camera frame too: `last_camera_frame` reuses it
                self._last_camera = camera
                camera.setflags(write=False)
            return self.subject.crop.crop_image(camera, self.subject.resolution)
        return image if self.canvas is None else \
            self.canvas.compose(image, drawn.placement, self._last_sharpen)

    @property
    def last_pose_distance(self) -> float | None:
        """How far (body heights) the pose of the last frame `finish` made is from the subject's
        nearest keyframe, the one its appearance reference was warped from
        (`Drawn.keyframe_distance`): over `rtmotion.pipeline.coverage.NEW_POSE_DISTANCE`, a pose
        the target's clip did not show. None where no reference was used (a repeated picture,
        the empty scene, a subject without keyframes). For a caller that runs the step in one
        thread; a pipeline reads its `Drawn`."""
        return self._last_pose_distance

    def _sharpen(self, drawn: Drawn, image: np.ndarray) -> Sharpen | None:
        """The full-resolution detail of this frame (`DetailLayer.for_frame`), or None."""
        if self.detail is None:
            return None
        if drawn.mode == "repeat":  # the same picture again: the same detail
            return self._last_sharpen
        if drawn.keyframe is None or drawn.kp_np is None:
            return None
        return self.detail.for_frame(image, drawn.kp_np, drawn.keyframe,
                                     None if drawn.placement is None else drawn.placement.origin)

    def _camera(self, image: np.ndarray, placement: Placement | None,
                sharpen: Sharpen | None) -> np.ndarray:
        """`image` composed onto the subject's camera frame at the camera's size."""
        if self._camera_canvas is None:
            self._camera_canvas = subject_canvas(self.subject)
        return self._camera_canvas.compose(image, placement, sharpen)

    def last_camera_frame(self) -> np.ndarray:
        """The last frame `generate` made, composed onto the subject's whole camera frame at
        the camera's size (what `convert` writes without --size), whatever this session
        returns: uint8 RGB (H_cam, W_cam, 3), read-only (composed once per frame). eval scores
        it against the real camera frame.

        A follow-crop subject's frame in its fixed crop (a session without `full_frame`) is
        this frame cropped as the real frames are (`CropBox.crop_image`: area-averaged), so
        the generated and the real model frames are made the same way from the camera frame."""
        if self._last_drawn is None:
            raise RuntimeError("no frame generated yet")
        if self._last_camera is None:  # composed once per frame (eval asks after generate did)
            self._last_camera = self._camera(self._last_drawn, self._last_placement,
                                             self._last_sharpen)
            self._last_camera.setflags(write=False)  # shared by every caller of this frame
        return self._last_camera

    def __call__(self, keypoints: np.ndarray) -> np.ndarray:
        """Both halves in the caller's thread: (K, 3) keypoints -> uint8 RGB (H, W, 3)."""
        return self.generate(self.prepare(keypoints))

    def reset(self) -> None:
        """Forget the previous frame and pose (an unrelated sequence follows)."""
        self._preparer.reset()
        self.synth.reset()

    # ---- what it is ---------------------------------------------------------------------------
    @property
    def output_size(self) -> tuple[int, int]:
        """(W, H) of the frames `generate` returns."""
        if self.canvas is not None:
            return self.canvas.size
        return (int(self.subject.resolution[0]), int(self.subject.resolution[1]))

    def keypoints_to_output(self, keypoints: np.ndarray) -> np.ndarray:
        """float (K, 3) in model pixels -> pixels of the frames `generate` returns."""
        if self.canvas is None:
            return np.asarray(keypoints, np.float32)
        return self.canvas.geometry.keypoints_to_output(keypoints)

    @property
    def runner(self) -> GeneratorRunner:
        return self.synth.runner

    @property
    def last_mode(self) -> str:
        """What the last `generate` did: "pose-only", "warped", "repeat" or "blank"."""
        return self.synth.last_mode

    @property
    def gaps(self) -> GapCounts:
        return self._policy.counts if self._policy is not None else GapCounts()

    def describe(self) -> str:
        """"onnxruntime int8 on cpu" (the summaries' generator line)."""
        if self.choice is not None:
            return describe_choice(self.choice)
        r = self.runner
        return f"{r.name} {r.precision} on {r.device}"

    def info(self) -> dict[str, Any]:
        """{"backend", "device", "precision"} of the runner, for JSON reports."""
        return self.runner.describe()

    # ---- lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        """Close the synthesizer and its engine (idempotent)."""
        self.synth.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def open_session(subject: Subject, request: EngineRequest = EAGER_CPU, *,
                 hold_frames: int | None = None, use_face: bool = True, cuda_graphs: bool = True,
                 runner: GeneratorRunner | None = None,
                 wrap: Any = None, full_frame: bool | tuple[int, int] = False,
                 detail: bool = True) -> Session:
    """Open the engine `request` asks for and the synthesizer of its device (module docstring).

    Args:
        subject: a loaded subject.
        request: backend, precision, device, engine dir, threads (`EAGER_CPU`: torch fp32 on
            the CPU, nothing built).
        hold_frames: frames a missing person keeps their last pose before the empty scene
            (None: no hold rule; see the module docstring).
        use_face: apply the subject's face enhancer when it has one.
        cuda_graphs: on CUDA, capture the per-frame step in CUDA graphs where possible.
        runner: a runner to use instead of opening one (tests, tools); `request` is then unused.
        wrap: called on the opened runner, returns the runner the synthesizer drives (e.g.
            `RecordingRunner`, which keeps every input it is fed).
        full_frame: False: frames are the generator's model frame; True: the subject's whole
            camera frame at its size; (W, H): the whole frame at that size (`subject_canvas`).
        detail: add the keyframes' full-resolution detail to the whole frames (those and
            `last_camera_frame`), when the subject has it (`rtmotion.pipeline.detail`).
    Raises:
        InputError / MissingDependencyError: a request that cannot run here (one line).
    """
    canvas = subject_canvas(subject, None if full_frame is True else full_frame) \
        if full_frame is not False else None
    choice = None
    if runner is None:
        runner, choice = open_requested(subject, request)
        log.info("generator: %s", choice.reason)
    if wrap is not None:
        runner = wrap(runner)
    try:
        synth = make_synthesizer(subject, runner, use_face=use_face, cuda_graphs=cuda_graphs)
    except BaseException:
        runner.close()
        raise
    layer = None
    if detail and subject.keyframe_detail is not None and subject.keyframes is not None:
        layer = DetailLayer(subject.keyframes, subject.keyframe_detail, subject.pose_flow_config)
    return Session(subject, synth, choice, hold_frames, canvas, layer)


def subject_canvas(subject: Subject, size: tuple[int, int] | None = None) -> Canvas:
    """The canvas of a subject's full frame at `size` (None: its camera frame's size)."""
    geometry = canvas_geometry(subject.crop, subject.resolution, size)
    if subject.follow_crop is not None:  # each frame brings the plate of its box
        return Canvas(geometry, subject.scene_plate)
    plate = subject.model_plate() if subject.scene_plate is not None else None
    return Canvas(geometry, subject.scene_plate if plate is not None else None, plate)


def hold_frames(seconds: float, fps: float) -> int:
    """Frames in `seconds` of a `fps` source (the hold rule counts frames)."""
    return round(float(seconds) * float(fps))


def describe_choice(choice: EngineChoice) -> str:
    """"onnxruntime int8 on cpu" (the summary's backend line)."""
    return f"{choice.backend} {choice.precision} on {choice.device}"


def synthesize_sequence(subject: Subject, poses: np.ndarray | Iterable[np.ndarray],
                        request: EngineRequest = EAGER_CPU, *,
                        use_face: bool = True) -> Iterator[np.ndarray]:
    """Generate one frame per pose, in order, through a session (a generator; the engine
    closes at the end).

    Args:
        subject: a loaded Subject.
        poses: float (T, K, 3) in model pixels (or an iterable of (K, 3) arrays).
        request: the generator runtime (compiled engines are built on first use).
        use_face: apply the subject's face enhancer when it has one.
    Yields:
        uint8 RGB (H, W, 3) per pose.
    """
    with open_session(subject, request, use_face=use_face) as session:
        for kp in poses:
            yield session(kp)
