"""The per-frame synthesizer for CUDA: data crosses the bus once each way, work is one graph.

`CudaFrameSynthesizer` has `FrameSynthesizer`'s interface, rules and outputs (read
`rtmotion.pipeline.synthesize`): keypoints (K, 3) in, uint8 RGB (H, W, 3) out, the same state
rules for the first frame, `reset()` and frames without a person. What changes is where the
work runs:

- one CUDA stream per synthesizer (so one per pipeline); everything below is queued on it;
- keypoints go up once per frame: the small per-bone parameter arrays of the maps and flow
  kernels are computed on the host (numpy), written into one pinned host buffer and copied
  to one static device buffer with a non-blocking copy;
- conditioning maps, pose flow and warp are the CuPy kernels (`kernels="cupy"`) writing into
  static device buffers, launched on the synthesizer's stream; the generator runs on the same
  stream; the output is converted to uint8 HWC by one kernel (`frames.cu`) and comes back once,
  through a pinned host buffer;
- after `warmup` eager frames of a mode (first frame "pose-only", later frames "warped"), that
  mode's whole step (maps, flow, warp, validity mask, generator, conversion to uint8) is
  captured in a `torch.cuda.CUDAGraph` and replayed: one launch per frame instead of hundreds.
  Shapes are static (batch 1, the subject's resolution), so two graphs cover every frame.
- the no-person rules and the face enhancer (whose crop box depends on the pose) run outside
  the graphs, eagerly, on the same stream; so does the appearance reference of a subject with
  keyframes (the nearest keyframe is a host-side choice): FrameSynthesizer's own `_reference`,
  copied into static buffers the captured step reads.

Graphs need the CuPy kernels (the torch maps/flow make small host-to-device copies that a
capture forbids) and a capturable runner (`runner.capturable`: the torch one); otherwise the
CuPy step runs eagerly (logged once). With the torch kernels (the CPU, or CUDA without a
working CuPy) the class IS `FrameSynthesizer`: its own `__call__` / `generate` / `preparer`,
run on this synthesizer's stream on CUDA, so the CPU tests run the very per-frame code a GPU
without CuPy runs. What is CUDA-only is the CuPy layer above: static and pinned buffers, the
stream, graph capture and replay.

That layer has not run on a GPU yet (written in sessions without one): `tools/gpu_check.sh`
runs its tests (`tests/pipeline/test_cuda_synth_gpu.py`) and measures it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import numpy as np
import torch

from rtmotion.kernels.cupy_kernels import (
    cupy_status,
    float_to_frames_cupy,
    import_cupy,
    launch_pose_flow,
    launch_pose_maps,
    pose_flow_params,
    pose_maps_params,
    torch_stream,
    warp_cupy,
)
from rtmotion.kernels.flow_numpy import PoseFlowConfig
from rtmotion.kernels.frames_torch import float_to_frames_torch
from rtmotion.kernels.maps_numpy import PoseMapConfig
from rtmotion.kernels.warp_torch import sample_in_frame_torch
from rtmotion.models.face import FaceEnhancer
from rtmotion.pipeline.follow_frame import FollowPlacer
from rtmotion.pipeline.synthesize import (
    FrameSynthesizer,
    PosePreparer,
    PreparedPose,
    SubjectSynthesizer,
)
from rtmotion.runtime import get_backend
from rtmotion.runtime.base import CallStats, GeneratorRunner
from rtmotion.subject import Subject
from rtmotion.subject.keyframes import KeyframeSet

log = logging.getLogger(__name__)

KERNELS = ("auto", "torch", "cupy")
MODES = ("pose-only", "warped")


def choose_kernels(device: torch.device, kernels: str = "auto") -> str:
    """"torch" or "cupy" for `kernels` on `device` ("auto": CuPy on CUDA when it works).

    "auto" takes CuPy only when `cupy_status` compiled and ran a test kernel here, so a CuPy
    built for another CUDA falls back to the torch kernels (logged) instead of crashing at the
    first frame. Raises ValueError for an unknown name or "cupy" where CuPy cannot run."""
    if kernels not in KERNELS:
        raise ValueError(f"unknown kernels {kernels!r} (choose {', '.join(KERNELS)})")
    if device.type != "cuda":
        if kernels == "cupy":
            raise ValueError(f"kernels='cupy' (the CuPy kernels) needs a CUDA device, not {device}")
        return "torch"
    if kernels == "torch":
        return "torch"
    ok, why = cupy_status()
    if kernels == "cupy" and not ok:
        raise ValueError(f"kernels='cupy' cannot run here: {why}")
    if not ok:
        log.info("CuPy kernels not used: %s; using the torch kernels", why)
    return "cupy" if ok else "torch"


class CudaFrameSynthesizer(FrameSynthesizer):
    """`FrameSynthesizer` with static buffers, one stream and CUDA graphs (module docstring).

    Args:
        runner, pose_map_config, pose_flow_config, face, face_side, keyframes, follow: as
            `FrameSynthesizer` (a follow crop runs with the torch kernels).
        cuda_graphs: capture each mode's step in a CUDA graph after `warmup` eager frames
            (only on CUDA, with the CuPy kernels and a torch runner; otherwise ignored).
        kernels: "auto" (CuPy on CUDA when available, else torch), "torch" or "cupy".
        warmup: eager frames of a mode before it is captured (compiles the CuPy kernels and
            lets cuDNN pick its algorithms outside the capture).

    Attributes:
        frame_stats: wall milliseconds per generated frame (upload to download, the stream
            synchronized at the end, so GPU time is included); repeats and blanks not counted.
        kernels: the kernels in use ("torch" / "cupy").
        graphs_enabled: whether steps are captured at all.
    """

    def __init__(self, runner: GeneratorRunner, pose_map_config: PoseMapConfig,
                 pose_flow_config: PoseFlowConfig | None = None, *,
                 face: FaceEnhancer | None = None, face_side: int | None = None,
                 cuda_graphs: bool = True, kernels: str = "auto", warmup: int = 2,
                 keyframes: KeyframeSet | None = None, follow: FollowPlacer | None = None) -> None:
        super().__init__(runner, pose_map_config, pose_flow_config, face=face, face_side=face_side,
                         keyframes=keyframes, follow=follow)
        # The CuPy step draws the fixed crop only: a follow crop takes FrameSynthesizer's step
        # (torch kernels) on this synthesizer's stream.
        self.kernels = choose_kernels(self.device, "torch" if follow is not None else kernels)
        self.is_cuda = self.device.type == "cuda"
        self.warmup = max(int(warmup), 1)
        self.frame_stats = CallStats()
        self.graphs_enabled = bool(cuda_graphs) and self.is_cuda and self.kernels == "cupy" \
            and self.runner.capturable
        if cuda_graphs and self.is_cuda and not self.graphs_enabled:
            log.info("CUDA graphs off: they need the CuPy kernels (have %s) and a capturable "
                     "runner (have %s)", self.kernels, self.runner.name)
        self.stream: torch.cuda.Stream | None = None
        if self.is_cuda:
            self.stream = torch.cuda.Stream(self.device)
            self.stream.wait_stream(torch.cuda.current_stream(self.device))  # weights are there
        self._prev_kp_np: np.ndarray | None = None
        self._graphs: dict[str, torch.cuda.CUDAGraph] = {}
        self._graph_out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._eager_count = dict.fromkeys(MODES, 0)
        if self.kernels == "cupy":
            self._init_cupy_buffers()

    # ---- buffers of the CuPy path -----------------------------------------------------------
    def _init_cupy_buffers(self) -> None:
        """Static device buffers (torch tensors) and their CuPy views, made once; pinned host
        buffers for the copies in and out (asynchronous DMA)."""
        cupy = import_cupy()
        w, h = self.size
        cfg = self.pose_map_config
        dev = self.device
        self._img_host = torch.zeros((1, h, w, 3), dtype=torch.uint8, pin_memory=True)
        self._img_dev = torch.zeros((1, h, w, 3), dtype=torch.uint8, device=dev)
        # Static reference inputs (ref_warped, ref_mask, ref_image), written before each step.
        self._ref_dev: tuple[torch.Tensor, ...] | tuple[None, None, None] = (None, None, None)
        if self.reference is not None:
            self._ref_dev = (torch.zeros((1, 3, h, w), device=dev),
                             torch.zeros((1, 1, h, w), device=dev),
                             torch.zeros((1, 3, h, w), device=dev))
        zeros = np.zeros((1, self.num_joints, 3), np.float32)
        maps_p = pose_maps_params(zeros, cfg)                               # 1 x P x 8
        flow_p, bg, self._flow_consts = pose_flow_params(zeros, zeros, (w, h), self.pose_flow_config)
        self._n_maps, self._n_flow = maps_p.size, flow_p.size
        n = self._n_maps + self._n_flow + bg.size
        self._params_host = torch.zeros(n, dtype=torch.float32, pin_memory=True)
        self._params_dev = torch.zeros(n, dtype=torch.float32, device=dev)
        self._channel_dev = torch.as_tensor(cfg.primitives.channel.astype(np.int32), device=dev)
        self._maps_dev = torch.zeros((1, cfg.num_channels, h, w), dtype=torch.float32, device=dev)
        self._flow_dev = torch.zeros((1, h, w, 2), dtype=torch.float32, device=dev)
        self._warped_dev = torch.zeros((1, 3, h, w), dtype=torch.float32, device=dev)
        self._mask_dev = torch.zeros((1, 1, h, w), dtype=torch.float32, device=dev)
        self._prev_dev = torch.zeros((1, 3, h, w), dtype=torch.float32, device=dev)
        torch.cuda.synchronize(dev)  # the buffers exist before CuPy views them
        p = self._params_dev
        m, f = self._n_maps, self._n_flow
        as_cp = cupy.from_dlpack
        self._cp = {
            "maps_params": as_cp(p[:m].view(maps_p.shape)),
            "flow_params": as_cp(p[m:m + f].view(flow_p.shape)),
            "bg": as_cp(p[m + f:].view(bg.shape)),
            "channel": as_cp(self._channel_dev),
            "maps": as_cp(self._maps_dev),
            "flow": as_cp(self._flow_dev),
            "warped": as_cp(self._warped_dev),
            "prev": as_cp(self._prev_dev),
            "img": as_cp(self._img_dev),
        }

    def _upload_params(self, kp_np: np.ndarray, warped: bool) -> None:
        """Host parameters of this frame -> pinned buffer -> static device buffer (async)."""
        host = self._params_host.numpy()
        m, f = self._n_maps, self._n_flow
        host[:m] = pose_maps_params(kp_np[None], self.pose_map_config).ravel()
        if warped:
            assert self._prev_kp_np is not None
            params, bg, _ = pose_flow_params(self._prev_kp_np[None], kp_np[None], self.size,
                                             self.pose_flow_config)
            host[m:m + f] = params.ravel()
            host[m + f:] = bg.ravel()
        self._params_dev.copy_(self._params_host, non_blocking=True)

    def _cupy_step(self, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole GPU step of one frame on the current stream, on static buffers only
        (capturable): maps, [flow, warp, mask], generator, prev <- frame, uint8 when no face.

        Returns the generator's frame (1 x 3 x H x W float32 in [-1, 1]) and gate (1 x 1 x H x W)."""
        cp = self._cp
        stream = torch.cuda.current_stream(self.device).cuda_stream
        with torch_stream(self.device.index or 0, stream):
            launch_pose_maps(cp["maps_params"], cp["channel"], cp["maps"], self.pose_map_config)
            if mode == "warped":
                launch_pose_flow(cp["flow_params"], cp["bg"], cp["flow"], self._flow_consts)
                warp_cupy(cp["prev"], cp["flow"], out=cp["warped"])
        if mode == "warped":
            self._mask_dev.copy_(sample_in_frame_torch(self._flow_dev))     # 1 x 1 x H x W
            frame, gate = self.runner(self._maps_dev, self._warped_dev, self._mask_dev,
                                      *self._ref_dev)
        else:
            frame, gate = self.runner(self._maps_dev, None, None, *self._ref_dev)
        # 1 x 3 x H x W float32, contiguous (a torch op: inside a capture it allocates from the
        # graph's pool; CuPy must never allocate there)
        frame = frame.float().contiguous()
        self._prev_dev.copy_(frame)  # the warp of this step has read prev already (same stream)
        if self.face is None:
            with torch_stream(self.device.index or 0, stream):
                float_to_frames_cupy(frame, out=cp["img"])
        return frame, gate

    def _capture(self, mode: str) -> None:
        """Capture `mode`'s step in a CUDA graph (the capture records work, it runs none)."""
        graph = torch.cuda.CUDAGraph()
        # No sync inside a capture, and the capture's call is not a generator run (untimed).
        # Each graph gets its own memory pool (a few MB of activations): the two modes' graphs
        # are replayed in any order, which a shared pool does not allow.
        with self.runner.untimed(), \
                torch.cuda.graph(graph, stream=self.stream, capture_error_mode="thread_local"):
            out = self._cupy_step(mode)
        self._graphs[mode] = graph
        self._graph_out[mode] = out
        log.debug("captured the %s step in a CUDA graph", mode)

    def _run_cupy(self, mode: str, kp_np: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        self._upload_params(kp_np, mode == "warped")
        self._upload_reference(kp_np)
        if not self.graphs_enabled:
            return self._cupy_step(mode)
        if mode not in self._graphs:
            if self._eager_count[mode] < self.warmup:
                self._eager_count[mode] += 1
                return self._cupy_step(mode)
            self._capture(mode)
        self._graphs[mode].replay()
        return self._graph_out[mode]

    def _upload_reference(self, kp_np: np.ndarray) -> None:
        """Write this frame's reference into the static buffers (eager, outside any graph)."""
        if self.reference is None:
            return
        kp = torch.from_numpy(kp_np)[None].to(self.device, non_blocking=True)  # 1 x K x 3
        ref = self._reference(kp_np, kp)
        assert ref is not None
        for buf, value in zip(self._ref_dev, ref.inputs()):
            assert buf is not None
            buf.copy_(value)

    # ---- one frame ----------------------------------------------------------------------------
    def reset(self) -> None:
        super().reset()
        self._prev_kp_np = None

    def blank_scene(self) -> np.ndarray:
        with self._on_stream():
            return super().blank_scene()

    @property
    def graph_modes(self) -> tuple[str, ...]:
        """The modes captured so far ("pose-only", "warped")."""
        return tuple(sorted(self._graphs))

    def _on_stream(self) -> contextlib.AbstractContextManager[Any]:
        """This synthesizer's CUDA stream as the current one (nothing on the CPU)."""
        return contextlib.nullcontext() if self.stream is None else torch.cuda.stream(self.stream)

    @torch.no_grad()
    def __call__(self, keypoints: np.ndarray) -> np.ndarray:
        """Make the next frame (same contract as `FrameSynthesizer.__call__`).

        Args:
            keypoints: float (K, 3) x, y in pixels of the model's frame, confidence.
        Returns:
            uint8 RGB (H, W, 3), a new array.
        """
        if self.kernels == "torch":  # FrameSynthesizer's own step, on this synthesizer's stream
            with self._on_stream():
                return super().__call__(keypoints)
        kp_np = self._check(keypoints)
        if not (kp_np[:, 2] > 0).any():  # no person: the rules of FrameSynthesizer, no GPU step
            self._prev_kp_np = None
            return self._no_person()
        t0 = time.perf_counter()
        mode = "pose-only" if self._prev_frame is None else "warped"
        with self._on_stream():
            image = self._step(mode, kp_np)
        self.last_mode = mode
        self._prev_kp_np = kp_np
        self._last_image = image
        self.frame_stats.add((time.perf_counter() - t0) * 1e3)
        return image.copy()

    def preparer(self) -> PosePreparer | KeypointPreparer:
        """With the CuPy kernels this class makes maps and flow on the GPU inside its own step
        (cheaper there than the copy in would be): its preparer only checks the keypoints. With
        the torch kernels it is FrameSynthesizer's (`PosePreparer`)."""
        return KeypointPreparer(self) if self.kernels == "cupy" else super().preparer()

    @torch.no_grad()
    def generate(self, prepared: PreparedPose) -> np.ndarray:
        """The second half of the step (`FrameSynthesizer.generate`'s contract): with the CuPy
        kernels the same frame as `self(prepared.kp_np)` (what a `PosePreparer` computed ahead
        is not used); with the torch kernels FrameSynthesizer's own `generate`.

        Returns:
            uint8 RGB (H, W, 3), a new array.
        """
        if self.kernels == "cupy":
            return self(prepared.kp_np)
        t0 = time.perf_counter()
        with self._on_stream():
            image = super().generate(prepared)
        if not prepared.empty:
            self.frame_stats.add((time.perf_counter() - t0) * 1e3)
        return image

    def _step(self, mode: str, kp_np: np.ndarray) -> np.ndarray:
        """One frame with a person on the current stream (CuPy kernels) -> uint8 (H, W, 3) on
        the host."""
        frame, gate = self._run_cupy(mode, kp_np)
        self._prev_frame = self._prev_dev
        self.last_gate = gate.clone() if self.graphs_enabled else gate
        if self.face is not None:
            out = self._apply_face(frame, self._maps_dev, kp_np)
            float_to_frames_torch(out, out=self._img_dev)
        self._img_host.copy_(self._img_dev, non_blocking=True)
        assert self.stream is not None
        self.stream.synchronize()
        return self._img_host[0].numpy().copy()


class KeypointPreparer:
    """The preparer of a synthesizer whose own step computes maps and flow: checks the
    keypoints (`FrameSynthesizer._check`) and hands them on as a `PreparedPose`."""

    def __init__(self, synth: FrameSynthesizer) -> None:
        self.synth = synth

    def reset(self) -> None:
        """Nothing to forget: the synthesizer keeps the previous pose."""

    def __call__(self, keypoints: np.ndarray) -> PreparedPose:
        kp_np = self.synth._check(keypoints)                 # float32 (K, 3)
        return PreparedPose(kp_np, not bool((kp_np[:, 2] > 0).any()))


class CudaSubjectSynthesizer(SubjectSynthesizer, CudaFrameSynthesizer):
    """`SubjectSynthesizer` (subject bundle, face copy, size check) on `CudaFrameSynthesizer`.

    Args:
        subject, runner, device, use_face: as `SubjectSynthesizer`.
        cuda_graphs, kernels, warmup: as `CudaFrameSynthesizer`.
    """

    def __init__(self, subject: Subject, runner: GeneratorRunner | None = None, *,
                 device: str | torch.device = "cpu", use_face: bool = True,
                 cuda_graphs: bool = True, kernels: str = "auto", warmup: int = 2) -> None:
        # SubjectSynthesizer.__init__ hands these on to the next __init__ in the MRO
        # (CudaFrameSynthesizer's).
        super().__init__(subject, runner, device=device, use_face=use_face,
                         cuda_graphs=cuda_graphs, kernels=kernels, warmup=warmup)


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
        On CUDA a `CudaSubjectSynthesizer` (static buffers, one stream, CuPy kernels and graphs
        when available); elsewhere a plain `SubjectSynthesizer`. Both are `SubjectSynthesizer`s:
        call with (K, 3) keypoints, get uint8 RGB (H, W, 3); close (or use `with`) when done.
    """
    runner = runner if runner is not None else get_backend("torch", subject, device)
    if runner.device.type != "cuda":
        return SubjectSynthesizer(subject, runner, use_face=use_face)
    return CudaSubjectSynthesizer(subject, runner, use_face=use_face, cuda_graphs=cuda_graphs)
