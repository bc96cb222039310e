"""The sequential inference core: target-frame poses in, frames of the target out.

`SubjectSynthesizer` turns one pose at a time into one frame of the subject's scene, keeping
the state EDN's temporal smoothing needs (its own previous output and the previous pose):

    for each frame t with keypoints kp_t (K x 3, pixels of the model's frame, i.e. the subject's
    crop at its resolution; already normalized to the target):
        maps_t   = pose_maps_torch(kp_t)                        1 x Cp x H x W in [0, 1]
        warped_t, mask_t = warp_previous(out_{t-1}, kp_{t-1}, kp_t)    analytic pose flow + warp
        ref_t    = nearest keyframe warped to kp_t (+ its mask, + it unwarped)  (subjects with
                   keyframes: rtmotion.pipeline.reference)
        out_t, gate_t   = generator(maps_t, warped_t, mask_t, *ref_t)   (a runtime backend)
        image_t  = out_t (+ face enhancer residual when the subject has one) -> uint8 RGB

The warp is the training code's own (`rtmotion.kernels.warp_torch.warp_previous`) with the subject's
recorded `pose_flow_config`, so inference feeds the generator what training did, with one
approximation: the torch step evaluates the pose flows (the previous output's and the
keyframe's) on the CPU on a grid `INFERENCE_FLOW_STRIDE` times coarser and upsamples them
bilinearly (the flow is smooth per limb). On demo-ada's held-out frames that scored the same
(body SSIM 0.9668 either way, PSNR 32.53 vs 32.52; docs/BENCHMARKS.md "Offline speed: the pose
flow's grid") for about a sixth less CPU per frame. Training warps exactly (stride 1); the CuPy step too.

State rules (these matter for live use, where a person walks in and out of view):
- First frame, and after `reset()`: no previous frame. The generator gets `warped_prev=None`
  (zeros with a zero validity mask), i.e. it draws the frame from the pose alone.
- A frame with no person (every confidence 0): the generator is NOT run. The synthesizer
  returns its last image again (a frozen frame rather than a flash), or, when there is none yet,
  the *blank scene*: the generator's output for an empty pose with no previous frame (for a
  trained subject, the empty background), computed once and cached. The temporal state is then
  dropped, so the next frame with a person starts afresh (no flow can be computed from a pose
  that does not exist, and warping a stale frame across a gap would smear it).
- The previous output kept for warping is the generator's frame *before* the face enhancer,
  as in training (the face stage trains on the generator's own sequential output).

Three-stage use (the offline pipeline runs them in three threads): the pose maps and the pose
flow depend only on the poses, not on the previous *output*, so `PosePreparer` computes them
for frame t while the synthesizer is still generating frame t-1; `FrameSynthesizer.draw
(prepared)` then only warps, runs the generator and blends (the temporal state moves on here);
`finish(drawn)` (the face enhancer, the uint8 frame) needs nothing of the state, so it runs a
frame behind `draw`. `generate(prepared)` is `finish(draw(prepared))`. The result is identical
to `__call__` (same functions, same order); when the preparer's idea of the previous pose
differs from the synthesizer's (it never does when both see every frame), the flow is
recomputed.

One synthesizer for every device: given `cuda=CudaOptions(...)` (what `make_synthesizer` does
on a GPU) it holds a `rtmotion.pipeline.cuda_synth.CudaLayer`, the CUDA-only part (its stream;
with the CuPy kernels the static-buffer step, captured in CUDA graphs). The rules, the state, the
reference, the face enhancer and the conversion are this module's, whatever the device.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np
import torch

from rtmotion.kernels.flow_numpy import PoseFlowConfig
from rtmotion.kernels.flow_torch import pose_flow_torch
from rtmotion.kernels.maps_numpy import PoseMapConfig
from rtmotion.kernels.maps_torch import pose_maps_torch
from rtmotion.kernels.warp_torch import (
    sample_in_frame_torch,
    shift_keypoints,
    warp_previous,
    warp_torch,
)
from rtmotion.models.face import FaceEnhancer, add_face_residual, crop_resize
from rtmotion.pipeline.cuda_synth import CudaLayer, CudaOptions
from rtmotion.pipeline.follow_frame import FollowPlacer, Placement
from rtmotion.pipeline.reference import Reference, ReferencePicker
from rtmotion.pose.boxes import face_crop_box
from rtmotion.runtime import get_backend
from rtmotion.runtime.base import CallStats, GeneratorRunner
from rtmotion.runtime.face_onnx import OnnxFaceEnhancer, face_for_runner
from rtmotion.subject import Subject
from rtmotion.subject.keyframes import KeyframeSet

log = logging.getLogger(__name__)

#: Grid step of the inference pose flows on the CPU (torch step): 2 evaluates a 64x64 grid for
#: a 128x128 frame (`rtmotion.kernels.flow_torch.pose_flow_torch`'s stride). 1: exact, as
#: training, and what a GPU computes (the flow costs it well under a millisecond).
INFERENCE_FLOW_STRIDE = 2


def default_flow_stride(device: torch.device) -> int:
    """The inference pose flow's grid step on `device`: `INFERENCE_FLOW_STRIDE` on the CPU,
    1 (exact) elsewhere."""
    return INFERENCE_FLOW_STRIDE if device.type == "cpu" else 1


def to_uint8_image(frame: torch.Tensor) -> np.ndarray:
    """1 x 3 x H x W (or 3 x H x W) float in [-1, 1] -> uint8 RGB (H, W, 3) (rounded, clamped).

    The inverse of training's `x / 127.5 - 1`."""
    f = frame[0] if frame.ndim == 4 else frame
    img = ((f.detach().float() + 1.0) * 127.5).round_().clamp_(0, 255).to(torch.uint8)
    return np.ascontiguousarray(img.permute(1, 2, 0).cpu().numpy())


@dataclass
class PreparedPose:
    """What `PosePreparer` computed for one frame.

    kp_np: float32 (K, 3) checked keypoints (model pixels of the frame drawn: the follow box's
    for a follow-crop subject); empty: no person in it;
    kp: 1 x K x 3 tensor; maps: 1 x Cp x H x W in [0, 1] (None when empty);
    prev_kp: 1 x K x 3 the flow starts from (None: no previous pose, the frame is pose-only);
    flow: 1 x H x W x 2 backward pose flow in pixels from prev_kp to kp (None with prev_kp None);
    reference: the appearance reference of this pose (None: the subject has no keyframes);
    placement: where a follow-crop subject's frame is drawn (None: the fixed crop);
    prev_origin: the previous frame's box origin the flow was shifted by (follow crop only).
    """

    kp_np: np.ndarray
    empty: bool
    kp: torch.Tensor | None = None
    maps: torch.Tensor | None = None
    prev_kp: torch.Tensor | None = None
    flow: torch.Tensor | None = None
    reference: Reference | None = None
    placement: Placement | None = None
    prev_origin: np.ndarray | None = None


@dataclass
class Drawn:
    """`FrameSynthesizer.draw`'s result for one frame, handed to `finish`.

    mode: "pose-only", "warped" (a frame drawn), "repeat" (no person: the last frame again) or
    "blank" (no person and no frame yet: the empty scene);
    frame: 1 x 3 x H x W float32 in [-1, 1], the generator's frame before the face enhancer;
    maps: 1 x Cp x H x W its pose maps; kp_np: float32 (K, 3) its keypoints;
    placement: where a follow-crop subject's frame is drawn (None: the fixed crop);
    image: the finished uint8 RGB (H, W, 3) when `draw` made it already (blank scene, CUDA);
    started: perf_counter() seconds when `draw` began (for `frame_stats`);
    keyframe: the keyframe its appearance reference used (into the subject's keyframes; None:
    no reference), for the full-resolution detail (`rtmotion.pipeline.detail`);
    keyframe_distance: how far its pose is from that keyframe (`Reference.distance`; None: no
    reference), for the count of poses the target never showed (`rtmotion.pipeline.coverage`).
    """

    mode: str
    frame: torch.Tensor | None = None
    maps: torch.Tensor | None = None
    kp_np: np.ndarray | None = None
    placement: Placement | None = None
    image: np.ndarray | None = None
    started: float = 0.0
    keyframe: int | None = None
    keyframe_distance: float | None = None


class FrameSynthesizer:
    """Stateful pose -> frame generation (see the module docstring): the ONE per-frame step,
    shared by inference (`SubjectSynthesizer`) and training's validation rollout
    (`rtmotion.train.step.rollout`), so validation and `rtmotion eval` compute the same thing.

    Args:
        runner: a `GeneratorRunner` of the generator (opened here if it is not).
        pose_map_config: how poses become conditioning maps (the generator's).
        pose_flow_config: the pose flow the generator was trained with (None: the defaults).
        face: a FaceEnhancer (eval mode, on the runner's device), its ONNX Runtime copy
            (`rtmotion.runtime.face_onnx`), or None.
        face_side: the subject's fixed face-box side in pixels (None: from each pose).
        keyframes: the subject's keyframes, for a generator with `use_reference` (None: none).
        follow: places each frame of a follow-crop subject (None: the fixed crop). Keypoints
            are then given in the fixed crop's model pixels, and each frame is drawn in its own
            box (`last_placement`).
        cuda: run with a `CudaLayer` (its stream; the CuPy step and CUDA graphs where they can
            run; see `rtmotion.pipeline.cuda_synth`); None: no layer (the plain step).
        flow_stride: grid step of the torch step's pose flows (module docstring; 1: exact;
            None: `default_flow_stride` of the runner's device).

    Attributes:
        cuda: the `CudaLayer` (None without `cuda` options).
        frame_stats: wall milliseconds per generated frame (the whole `generate`, the stream
            synchronized by the download on CUDA; from `draw`'s start to `finish`'s end, so a
            pipeline that runs them in two threads counts the wait between them); repeats and
            blanks not counted.
    """

    def __init__(self, runner: GeneratorRunner, pose_map_config: PoseMapConfig,
                 pose_flow_config: PoseFlowConfig | None = None, *,
                 face: FaceEnhancer | OnnxFaceEnhancer | None = None, face_side: int | None = None,
                 keyframes: KeyframeSet | None = None, follow: FollowPlacer | None = None,
                 cuda: CudaOptions | None = None, flow_stride: int | None = None) -> None:
        if flow_stride is not None and flow_stride < 1:
            raise ValueError(f"flow_stride must be >= 1, got {flow_stride}")
        self.runner = runner
        self.runner.open()
        self.device = self.runner.device
        self.pose_map_config = pose_map_config
        self.pose_flow_config = pose_flow_config
        self.size: tuple[int, int] = (int(pose_map_config.size[0]), int(pose_map_config.size[1]))  # W, H
        self.num_joints = int(pose_map_config.skel.num_joints)
        self.face = face
        self.face_side = face_side
        self.flow_stride = default_flow_stride(self.device) if flow_stride is None else int(flow_stride)
        self.reference = None if keyframes is None else \
            ReferencePicker(keyframes, self.device, pose_flow_config, self.flow_stride)
        self._prev_frame: torch.Tensor | None = None  # 1 x 3 x H x W in [-1, 1], before face
        self._prev_kp: torch.Tensor | None = None     # 1 x K x 3
        self._prev_kp_np: np.ndarray | None = None    # float32 (K, 3), the same pose
        self.follow = follow
        self._prev_origin: np.ndarray | None = None   # float32 (2,), follow crop only
        #: where the last frame was drawn (follow crop; None: the fixed crop)
        self.last_placement: Placement | None = None
        self._last_image: np.ndarray | None = None  # the last finished frame (`finish`'s side)
        self._drew = False  # a frame with a person was drawn since the reset (`draw`'s side)
        self._blank: np.ndarray | None = None
        #: what the last call did: "pose-only", "warped", "repeat" or "blank"
        self.last_mode = ""
        #: the last gate (1 x 1 x H x W, float32 in [0, 1]), None after a frame without a person
        self.last_gate: torch.Tensor | None = None
        #: the last frame's reference (`Drawn.keyframe`, `keyframe_distance`), set by the step
        self._last_reference: Reference | None = None
        self.frame_stats = CallStats()
        self.cuda = None if cuda is None else CudaLayer(
            self.runner, pose_map_config, pose_flow_config, cuda,
            with_reference=self.reference is not None, follow=follow is not None)

    @property
    def _cupy(self) -> bool:
        """The CUDA layer's CuPy step makes maps, flow and warp (not this class's torch step)."""
        return self.cuda is not None and self.cuda.cupy

    def _on_stream(self) -> contextlib.AbstractContextManager[Any]:
        """The CUDA layer's stream as the current one (nothing without a layer or on the CPU)."""
        return contextlib.nullcontext() if self.cuda is None else self.cuda.on_stream()

    # ---- lifecycle ----------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the previous frame and pose (a new, unrelated sequence follows)."""
        self._forget_previous()
        self._last_image = None
        self._drew = False
        self.last_mode = ""
        if self.follow is not None:
            self.follow.reset()

    def _forget_previous(self) -> None:
        """Drop the temporal state: the next frame with a person is pose-only."""
        self._prev_frame = None
        self._prev_kp = None
        self._prev_kp_np = None
        self._prev_origin = None
        self.last_gate = None

    def close(self) -> None:
        self.runner.close()

    def __enter__(self) -> FrameSynthesizer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def preparer(self) -> PosePreparer | KeypointPreparer:
        """The pose-only half of this synthesizer's step, to run ahead (one per sequence; the
        offline pipeline runs it in its own thread): `generate(preparer(kp))` gives the frame
        `self(kp)` gives. With the torch kernels the maps, pose flow and reference
        (`PosePreparer`); the CuPy step makes those on the GPU inside `generate` (cheaper there
        than the copy in would be), so its preparer only checks the keypoints."""
        return KeypointPreparer(self) if self._cupy else PosePreparer(self)

    # ---- one frame ----------------------------------------------------------------------
    def _check(self, keypoints: np.ndarray) -> np.ndarray:
        kp = np.asarray(keypoints, dtype=np.float32)
        if kp.shape != (self.num_joints, 3):
            raise ValueError(f"keypoints must be ({self.num_joints}, 3), got {kp.shape}")
        kp = np.nan_to_num(kp, nan=0.0, posinf=0.0, neginf=0.0)
        kp[~(kp[:, 2] > 0)] = 0.0
        return kp

    def _maps(self, kp: torch.Tensor) -> torch.Tensor:
        return pose_maps_torch(kp, self.pose_map_config)  # 1 x Cp x H x W in [0, 1]

    def blank_scene(self) -> np.ndarray:
        """The generator's frame for an empty pose and no previous frame (cached), uint8 RGB.
        A follow-crop subject's empty scene is the room itself: the plate of the last box."""
        if self.follow is not None:
            if self.last_placement is None:
                self.last_placement = self.follow(np.zeros((self.num_joints, 3), np.float32))
            return self.last_placement.plate.copy()
        if self._blank is None:
            with self._on_stream():
                kp = torch.zeros(1, self.num_joints, 3, device=self.device)
                frame, _ = self.runner(self._maps(kp), None, None)
                self._blank = to_uint8_image(frame)
        return self._blank.copy()

    @torch.no_grad()
    def __call__(self, keypoints: np.ndarray) -> np.ndarray:
        """Make the next frame.

        Args:
            keypoints: float (K, 3) x, y in pixels of the model's frame (W x H = the subject's
                resolution), confidence; missing joints (0, 0, 0).
        Returns:
            uint8 RGB (H, W, 3), a new array.
        """
        kp_np = self._check(keypoints)
        if not (kp_np[:, 2] > 0).any():
            return self.generate(PreparedPose(kp_np, True))
        with self._on_stream():
            return self.generate(self._person(kp_np, continuing=self._prev_frame is not None))

    def _person(self, kp_np: np.ndarray, continuing: bool) -> PreparedPose:
        """The pose-only inputs of a frame with a person (no flow): its placement (follow crop),
        keypoints on the device, maps, reference. The CuPy step makes them itself: nothing.
        continuing: the frame follows the previous one (the reference may fade between
        keyframes, `ReferencePicker`)."""
        if self._cupy:
            return PreparedPose(kp_np, False)
        placement = None
        if self.follow is not None:
            placement = self.follow(kp_np)
            kp_np = placement.keypoints
        kp = torch.from_numpy(kp_np)[None].to(self.device)  # 1 x K x 3
        origin = None if placement is None else placement.origin
        reference = None if self.reference is None else \
            self.reference(kp_np, kp, origin, continuing)
        return PreparedPose(kp_np, False, kp, self._maps(kp), reference=reference,
                            placement=placement)

    def _shift(self, origin: np.ndarray | None, prev_origin: np.ndarray | None
               ) -> torch.Tensor | None:
        """1 x 2 shift of the previous frame's warp (follow crop; None: the fixed crop)."""
        if origin is None or prev_origin is None:
            return None
        return torch.from_numpy(origin - prev_origin)[None].to(self.device)

    @torch.no_grad()
    def generate(self, prepared: PreparedPose) -> np.ndarray:
        """The next frame from a prepared pose (maps, and the flow when `PosePreparer` computed
        it ahead); `__call__` prepares inline. uint8 RGB (H, W, 3), a new array.
        `finish(draw(prepared))`: a pipeline may run the two halves in two threads."""
        return self.finish(self.draw(prepared))

    @torch.no_grad()
    def draw(self, prepared: PreparedPose) -> Drawn:
        """The stateful half of `generate`: the warp of the previous output and the generator
        (the temporal state moves on here). Call in frame order from one thread; hand each
        result to `finish` in the same order (another thread may)."""
        if prepared.empty:
            # No person: the temporal state goes, so the next person starts afresh (module doc).
            self._forget_previous()
            self.last_mode = "repeat" if self._drew else "blank"
            return Drawn(self.last_mode, image=None if self._drew else self.blank_scene(),
                         placement=self.last_placement)
        t0 = time.perf_counter()
        with self._on_stream():
            mode = "pose-only" if self._prev_frame is None else "warped"
            run = self._run_cupy if self._cupy else self._run_torch
            frame, gate, maps = run(mode, prepared)          # 1 x 3 x H x W float32 in [-1, 1]
            self.last_mode = mode
            self._prev_frame = frame
            self._prev_kp = prepared.kp
            self._prev_kp_np = prepared.kp_np
            self._prev_origin = None if prepared.placement is None else prepared.placement.origin
            self.last_placement = prepared.placement
            self.last_gate = gate
            self._drew = True
            ref = self._last_reference
            drawn = Drawn(mode, frame=frame, maps=maps, kp_np=prepared.kp_np,
                          placement=prepared.placement, started=t0,
                          keyframe=None if ref is None else int(ref.index[0]),
                          keyframe_distance=None if ref is None else ref.distance)
            if self._cupy:  # the CUDA layer's step ends on the host: finish has nothing to do
                drawn.image = self._finish_image(drawn)
        return drawn

    @torch.no_grad()
    def finish(self, drawn: Drawn) -> np.ndarray:
        """The stateless half of `generate`: the face enhancer and the uint8 frame (a repeat:
        the last finished frame again). Call in frame order. uint8 RGB (H, W, 3), a new array."""
        if drawn.mode == "repeat":
            assert self._last_image is not None
            return self._last_image.copy()
        if drawn.mode == "blank":
            assert drawn.image is not None
            return drawn.image
        image = drawn.image if drawn.image is not None else self._finish_image(drawn)
        self._last_image = image
        self.frame_stats.add((time.perf_counter() - drawn.started) * 1e3)
        return image.copy()

    def _finish_image(self, drawn: Drawn) -> np.ndarray:
        """The drawn frame with the face enhancer's residual, as uint8 RGB (H, W, 3)."""
        assert drawn.frame is not None and drawn.maps is not None and drawn.kp_np is not None
        with self._on_stream():
            frame = drawn.frame
            out = self._apply_face(frame, drawn.maps, drawn.kp_np) if self.face is not None else frame
            if self._cupy:
                assert self.cuda is not None
                return self.cuda.to_host(out if self.face is not None else None)
            return to_uint8_image(out)

    def _run_torch(self, mode: str, prepared: PreparedPose
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The torch step: the warp of the previous output (with the flow computed ahead when
        it was computed from this synthesizer's previous pose), the generator.
        Returns frame (float32), gate, maps."""
        kp, maps = prepared.kp, prepared.maps                # 1 x K x 3, 1 x Cp x H x W
        assert kp is not None and maps is not None
        ref = prepared.reference.inputs() if prepared.reference is not None else (None, None, None)
        self._last_reference = prepared.reference
        placement = prepared.placement
        plate = None if placement is None else \
            torch.from_numpy(placement.plate).to(self.device).permute(2, 0, 1)[None].float() \
            / 127.5 - 1.0                                    # 1 x 3 x H x W in [-1, 1]
        if mode == "pose-only":
            frame, gate = self.runner(maps, None, None, *ref, plate)  # pose (+ reference) only
            return frame.float(), gate, maps
        assert self._prev_frame is not None
        if prepared.flow is not None and prepared.prev_kp is not None and \
                torch.equal(prepared.prev_kp, self._prev_kp) and \
                _same(prepared.prev_origin, self._prev_origin):
            # warp_previous's own steps, with the flow computed ahead
            warped = warp_torch(self._prev_frame, prepared.flow.to(self._prev_frame.dtype))
            mask = sample_in_frame_torch(prepared.flow).to(self._prev_frame.dtype)
        else:
            # 1 x 3 x H x W in [-1, 1] (0 where invalid), 1 x 1 x H x W in {0, 1}
            origin = None if placement is None else placement.origin
            warped, mask = warp_previous(self._prev_frame, self._prev_kp, kp,
                                         self.pose_flow_config,
                                         self._shift(origin, self._prev_origin), self.flow_stride)
        frame, gate = self.runner(maps, warped, mask, *ref, plate)
        return frame.float(), gate, maps

    def _run_cupy(self, mode: str, prepared: PreparedPose
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The CUDA layer's CuPy step (fixed crop only), with this frame's reference computed
        here, eagerly (the nearest keyframe is a host-side choice). Returns frame, gate, maps."""
        assert self.cuda is not None
        kp_np = prepared.kp_np
        reference = prepared.reference
        if reference is None and self.reference is not None:
            kp = torch.from_numpy(kp_np)[None].to(self.device, non_blocking=True)  # 1 x K x 3
            reference = self.reference(kp_np, kp, continuing=mode == "warped")
        ref = reference.inputs() if reference is not None else (None, None, None)
        self._last_reference = reference
        return self.cuda.step(mode, kp_np, self._prev_kp_np, ref, to_uint8=self.face is None)

    def _apply_face(self, frame: torch.Tensor, maps: torch.Tensor, kp: np.ndarray) -> torch.Tensor:
        assert self.face is not None
        s = int(self.face.config.crop_size)
        box = face_crop_box(kp, self.size, s, scale=self.face.config.box_scale, side=self.face_side)
        if box is None:  # no face joint visible: nothing to enhance
            return frame
        _, residual = self.face(crop_resize(frame, [box], s), crop_resize(maps, [box], s))
        return add_face_residual(frame, residual, [box])


class SubjectSynthesizer(FrameSynthesizer):
    """`FrameSynthesizer` for a loaded subject bundle.

    Args:
        subject: a loaded `rtmotion.subject.Subject` (generator, pose map config, face...).
        runner: a `GeneratorRunner` of the subject's generator (e.g. from
            `rtmotion.runtime.get_backend`); opened here if it is not. None: a torch runner on
            `device` is made.
        device: where maps, flow and warp are computed when `runner` is None (otherwise the
            runner's device).
        use_face: apply the subject's face enhancer when it has one.
        cuda: as `FrameSynthesizer` (`make_synthesizer` gives it on a GPU).
        flow_stride: as `FrameSynthesizer` (1: the exact pose flows of training; None: by device).

    Use as a context manager (or call `close()`), which also closes the runner:

        with SubjectSynthesizer(subject) as synth:
            for kp in poses:             # (K, 3) each, model pixels
                image = synth(kp)        # uint8 RGB (H, W, 3)
    """

    def __init__(self, subject: Subject, runner: GeneratorRunner | None = None, *,
                 device: str | torch.device = "cpu", use_face: bool = True,
                 cuda: CudaOptions | None = None, flow_stride: int | None = None) -> None:
        self.subject = subject
        runner = runner if runner is not None else get_backend("torch", subject, device)
        runner.open()
        face = None
        if use_face and subject.face is not None:
            # A private copy: the subject's module stays where the caller put it.
            face = face_for_runner(copy.deepcopy(subject.face).float().to(runner.device).eval(),
                                   runner.name, runner.device)
        keyframes = subject.keyframes if subject.generator_config.use_reference else None
        super().__init__(runner, subject.pose_map_config, subject.pose_flow_config, face=face,
                         face_side=subject.face_side, keyframes=keyframes,
                         follow=follow_placer(subject), cuda=cuda, flow_stride=flow_stride)
        if tuple(self.size) != (int(subject.resolution[0]), int(subject.resolution[1])):
            raise ValueError(f"subject {subject.name}: pose maps {self.size} differ from its "
                             f"resolution {subject.resolution}")


class PosePreparer:
    """The pose-only half of a synthesizer step (maps + flow), run ahead in its own stage.

    Tracks the previous pose with the synthesizer's rules: a frame without a person, or
    `reset()`, forgets it (the next frame is pose-only)."""

    def __init__(self, synth: FrameSynthesizer) -> None:
        self.synth = synth
        self._prev_kp: torch.Tensor | None = None
        self._prev_origin: np.ndarray | None = None

    def reset(self) -> None:
        self._prev_kp = None
        self._prev_origin = None

    @torch.no_grad()
    def __call__(self, keypoints: np.ndarray) -> PreparedPose:
        s = self.synth
        kp_np = s._check(keypoints)
        if not (kp_np[:, 2] > 0).any():
            self._prev_kp = None
            self._prev_origin = None
            return PreparedPose(kp_np, True)
        # kp, maps, reference, placement
        prepared = s._person(kp_np, continuing=self._prev_kp is not None)
        kp = prepared.kp
        assert kp is not None
        origin = None if prepared.placement is None else prepared.placement.origin
        if self._prev_kp is not None:
            w, h = s.size
            shift = s._shift(origin, self._prev_origin)
            flow = pose_flow_torch(shift_keypoints(self._prev_kp.float(), shift), kp.float(),
                                   (w, h), s.pose_flow_config, s.flow_stride)
            prepared.flow = flow if shift is None else flow + shift.view(1, 1, 1, 2)
            prepared.prev_kp = self._prev_kp
            prepared.prev_origin = self._prev_origin
        self._prev_kp = kp
        self._prev_origin = origin
        return prepared


class KeypointPreparer:
    """The preparer of a synthesizer whose own step computes maps and flow (the CuPy one):
    checks the keypoints (`FrameSynthesizer._check`) and hands them on as a `PreparedPose`."""

    def __init__(self, synth: FrameSynthesizer) -> None:
        self.synth = synth

    def reset(self) -> None:
        """Nothing to forget: the synthesizer keeps the previous pose."""

    def __call__(self, keypoints: np.ndarray) -> PreparedPose:
        kp_np = self.synth._check(keypoints)                 # float32 (K, 3)
        return PreparedPose(kp_np, not bool((kp_np[:, 2] > 0).any()))


def make_synthesizer(subject: Subject, runner: GeneratorRunner | None = None,
                     device: str | torch.device = "cpu", use_face: bool = True,
                     cuda_graphs: bool = True) -> SubjectSynthesizer:
    """The synthesizer a pipeline should use for `subject` on the runner's device.

    Args:
        subject: a loaded Subject.
        runner: its generator runner (opened here if it is not); None: a torch runner on `device`.
        device: where to run when `runner` is None (otherwise the runner's device decides).
        use_face: apply the subject's face enhancer when it has one.
        cuda_graphs: on CUDA, capture the per-frame step in CUDA graphs where possible.
    Returns:
        A `SubjectSynthesizer`: on CUDA with its `CudaLayer` (one stream; CuPy kernels and
        graphs when available), elsewhere without one. Call with (K, 3) keypoints, get uint8
        RGB (H, W, 3); close (or use `with`) when done.
    """
    runner = runner if runner is not None else get_backend("torch", subject, device)
    cuda = CudaOptions(graphs=cuda_graphs) if runner.device.type == "cuda" else None
    return SubjectSynthesizer(subject, runner, use_face=use_face, cuda=cuda)


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Two box origins (float32 (2,) or None) are the same."""
    return (a is None and b is None) or (a is not None and b is not None and bool(np.array_equal(a, b)))


def follow_placer(subject: Subject) -> FollowPlacer | None:
    """The placer of a follow-crop subject (None: the subject draws its fixed crop)."""
    if subject.follow_crop is None:
        return None
    if subject.scene_plate is None:
        raise ValueError(f"subject {subject.name}: a follow crop needs the full-resolution plate "
                         "(scene.png); the bundle is incomplete")
    return FollowPlacer(subject.crop, subject.follow_crop, subject.scene_plate, subject.resolution)
