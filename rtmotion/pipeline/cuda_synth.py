"""What only CUDA has, under the one synthesizer: the stream, pinned buffers, the CuPy step,
CUDA graphs.

`rtmotion.pipeline.synthesize.FrameSynthesizer` is the per-frame step for every device (its
rules, state, face enhancer and outputs); given `cuda=CudaOptions(...)` it holds a `CudaLayer`
that changes only *where* the work runs:

- one CUDA stream per synthesizer (so one per pipeline); the whole step is queued on it;
- with the CuPy kernels (`kernels="cupy"`, or "auto" where `cupy_status` says they work) the
  keypoints go up once per frame: the small per-bone parameter arrays of the maps and flow
  kernels are computed on the host (numpy), written into one pinned host buffer and copied to
  one static device buffer with a non-blocking copy; conditioning maps, pose flow and warp are
  the CuPy kernels writing into static device buffers; the generator runs on the same stream;
  the output is converted to uint8 HWC by one kernel (`frames.cu`) and comes back once, through
  a pinned host buffer;
- after `warmup` eager frames of a mode (first frame "pose-only", later frames "warped"), that
  mode's CuPy step (maps, flow, warp, validity mask, generator, conversion to uint8) is captured
  in a `torch.cuda.CUDAGraph` and replayed: one launch per frame instead of hundreds. Shapes are
  static (batch 1, the subject's resolution), so two graphs cover every frame.

The no-person rules, the face enhancer (whose crop box depends on the pose) and the appearance
reference (the nearest keyframe is a host-side choice) stay in `FrameSynthesizer`, eager, on
the same stream; the reference is copied into static buffers the captured step reads.

Graphs need the CuPy kernels (the torch maps/flow make small host-to-device copies that a
capture forbids) and a capturable runner (`runner.capturable`; captures call it inside
`runner.untimed()`); otherwise the CuPy step runs eagerly (logged once). With the torch kernels
(the CPU, CUDA without a working CuPy, a follow-crop subject) the layer is only the stream: the
synthesizer runs its own torch step, so the CPU tests run the very per-frame code a GPU
without CuPy runs.

The CuPy step has not run on a GPU yet (written in sessions without one): `tools/gpu_check.sh`
runs its tests (`tests/pipeline/test_cuda_synth_gpu.py`) and measures it.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
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
from rtmotion.runtime.base import GeneratorRunner

log = logging.getLogger(__name__)

KERNELS = ("auto", "torch", "cupy")
MODES = ("pose-only", "warped")

#: the three reference inputs (ref_warped, ref_mask, ref_image), or none
RefInputs = tuple[torch.Tensor, torch.Tensor, torch.Tensor] | tuple[None, None, None]


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


@dataclass(frozen=True)
class CudaOptions:
    """How a synthesizer uses a CUDA device (ignored parts on the CPU: no stream, no graphs).

    graphs: capture each mode's CuPy step in a CUDA graph after `warmup` eager frames (only on
        CUDA, with the CuPy kernels and a capturable runner).
    kernels: "auto" (CuPy on CUDA when it works, else torch), "torch" or "cupy".
    warmup: eager frames of a mode before it is captured (compiles the CuPy kernels and lets
        cuDNN pick its algorithms outside the capture).
    """

    graphs: bool = True
    kernels: str = "auto"
    warmup: int = 2


class CudaLayer:
    """The CUDA-only part of a synthesizer (module docstring).

    Args:
        runner: the synthesizer's (opened) runner; its device decides.
        pose_map_config, pose_flow_config: the synthesizer's.
        options: `CudaOptions`.
        with_reference: the generator takes the appearance reference (static buffers for it).
        follow: the subject draws a follow crop (the CuPy step draws the fixed crop only, so the
            torch kernels are used).

    Attributes:
        kernels: the kernels in use ("torch" / "cupy").
        stream: the synthesizer's CUDA stream (None on the CPU).
        graphs_enabled: whether steps are captured at all.
    """

    def __init__(self, runner: GeneratorRunner, pose_map_config: PoseMapConfig,
                 pose_flow_config: PoseFlowConfig | None, options: CudaOptions, *,
                 with_reference: bool = False, follow: bool = False) -> None:
        self.runner = runner
        self.device = runner.device
        self.pose_map_config = pose_map_config
        self.pose_flow_config = pose_flow_config
        self.size = (int(pose_map_config.size[0]), int(pose_map_config.size[1]))  # W, H
        self.kernels = choose_kernels(self.device, "torch" if follow else options.kernels)
        is_cuda = self.device.type == "cuda"
        self.warmup = max(int(options.warmup), 1)
        self.graphs_enabled = bool(options.graphs) and is_cuda and self.kernels == "cupy" \
            and runner.capturable
        if options.graphs and is_cuda and not self.graphs_enabled:
            log.info("CUDA graphs off: they need the CuPy kernels (have %s) and a capturable "
                     "runner (have %s)", self.kernels, runner.name)
        self.stream: torch.cuda.Stream | None = None
        if is_cuda:
            self.stream = torch.cuda.Stream(self.device)
            self.stream.wait_stream(torch.cuda.current_stream(self.device))  # weights are there
        self._graphs: dict[str, torch.cuda.CUDAGraph] = {}
        self._graph_out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._eager_count = dict.fromkeys(MODES, 0)
        if self.cupy:
            self._init_buffers(with_reference)

    @property
    def cupy(self) -> bool:
        """The step is the CuPy one (`step`); otherwise the synthesizer's torch step runs."""
        return self.kernels == "cupy"

    @property
    def graph_modes(self) -> tuple[str, ...]:
        """The modes captured so far ("pose-only", "warped")."""
        return tuple(sorted(self._graphs))

    def on_stream(self) -> contextlib.AbstractContextManager[Any]:
        """The synthesizer's CUDA stream as the current one (nothing on the CPU)."""
        return contextlib.nullcontext() if self.stream is None else torch.cuda.stream(self.stream)

    # ---- buffers of the CuPy step -----------------------------------------------------------
    def _init_buffers(self, with_reference: bool) -> None:
        """Static device buffers (torch tensors) and their CuPy views, made once; pinned host
        buffers for the copies in and out (asynchronous DMA)."""
        cupy = import_cupy()
        w, h = self.size
        cfg = self.pose_map_config
        dev = self.device
        self._img_host = torch.zeros((1, h, w, 3), dtype=torch.uint8, pin_memory=True)
        self._img_dev = torch.zeros((1, h, w, 3), dtype=torch.uint8, device=dev)
        # Static reference inputs (ref_warped, ref_mask, ref_image), written before each step.
        self._ref_dev: RefInputs = (None, None, None)
        if with_reference:
            self._ref_dev = (torch.zeros((1, 3, h, w), device=dev),
                             torch.zeros((1, 1, h, w), device=dev),
                             torch.zeros((1, 3, h, w), device=dev))
        zeros = np.zeros((1, int(cfg.skel.num_joints), 3), np.float32)
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

    def _upload(self, kp_np: np.ndarray, prev_kp_np: np.ndarray | None, reference: RefInputs
                ) -> None:
        """Host parameters of this frame -> pinned buffer -> static device buffer (async); the
        reference (computed eagerly by the synthesizer) into its static buffers."""
        host = self._params_host.numpy()
        m, f = self._n_maps, self._n_flow
        host[:m] = pose_maps_params(kp_np[None], self.pose_map_config).ravel()
        if prev_kp_np is not None:
            params, bg, _ = pose_flow_params(prev_kp_np[None], kp_np[None], self.size,
                                             self.pose_flow_config)
            host[m:m + f] = params.ravel()
            host[m + f:] = bg.ravel()
        self._params_dev.copy_(self._params_host, non_blocking=True)
        for buf, value in zip(self._ref_dev, reference):
            if buf is not None and value is not None:
                buf.copy_(value)

    # ---- the CuPy step ------------------------------------------------------------------------
    def _cupy_step(self, mode: str, to_uint8: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole GPU step of one frame on the current stream, on static buffers only
        (capturable): maps, [flow, warp, mask], generator, prev <- frame, uint8 when asked.

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
        if to_uint8:
            with torch_stream(self.device.index or 0, stream):
                float_to_frames_cupy(frame, out=cp["img"])
        return frame, gate

    def _capture(self, mode: str, to_uint8: bool) -> None:
        """Capture `mode`'s step in a CUDA graph (the capture records work, it runs none)."""
        graph = torch.cuda.CUDAGraph()
        # No sync inside a capture, and the capture's call is not a generator run (untimed).
        # Each graph gets its own memory pool (a few MB of activations): the two modes' graphs
        # are replayed in any order, which a shared pool does not allow.
        with self.runner.untimed(), \
                torch.cuda.graph(graph, stream=self.stream, capture_error_mode="thread_local"):
            out = self._cupy_step(mode, to_uint8)
        self._graphs[mode] = graph
        self._graph_out[mode] = out
        log.debug("captured the %s step in a CUDA graph", mode)

    def step(self, mode: str, kp_np: np.ndarray, prev_kp_np: np.ndarray | None,
             reference: RefInputs, to_uint8: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One frame with a person (CuPy kernels, on the current stream): eager for the first
        `warmup` frames of a mode, then the mode's graph replayed.

        Args:
            mode: "pose-only" or "warped" (then `prev_kp_np` is the previous pose).
            kp_np: float32 (K, 3) the pose; reference: this frame's reference inputs.
            to_uint8: convert the frame to uint8 inside the step (no face enhancer follows).
        Returns:
            frame (1 x 3 x H x W float32 in [-1, 1]), gate (1 x 1 x H x W; a private copy when
            it is a graph's output), maps (1 x Cp x H x W, the static buffer).
        """
        self._upload(kp_np, prev_kp_np if mode == "warped" else None, reference)
        if not self.graphs_enabled:
            frame, gate = self._cupy_step(mode, to_uint8)
            return frame, gate, self._maps_dev
        if mode not in self._graphs:
            if self._eager_count[mode] < self.warmup:
                self._eager_count[mode] += 1
                frame, gate = self._cupy_step(mode, to_uint8)
                return frame, gate, self._maps_dev
            self._capture(mode, to_uint8)
        self._graphs[mode].replay()
        frame, gate = self._graph_out[mode]
        return frame, gate.clone(), self._maps_dev

    def to_host(self, out: torch.Tensor | None) -> np.ndarray:
        """The frame as uint8 RGB (H, W, 3) on the host, through the pinned buffer: `out`
        (1 x 3 x H x W in [-1, 1], e.g. after the face enhancer) converted here, or None: the
        one the step converted. Synchronizes the stream."""
        if out is not None:
            float_to_frames_torch(out, out=self._img_dev)
        self._img_host.copy_(self._img_dev, non_blocking=True)
        assert self.stream is not None
        self.stream.synchronize()
        return self._img_host[0].numpy().copy()
