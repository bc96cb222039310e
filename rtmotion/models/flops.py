"""Parameters, FLOPs and CPU time per frame of a network (torch only).

FLOPs come from `torch.utils.flop_counter.FlopCounterMode`, which counts matrix multiplies and
convolutions (2 FLOPs per multiply-add; a 3x3 conv from Cin to Cout on an H x W output is
2 * 9 * Cin * Cout * H * W FLOPs, biases not counted). Normalizations, activations, resizes and
element-wise ops are not counted: they are memory-bound and a few percent of the total for these
networks. All numbers are per frame (batch 1).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from rtmotion.models.generator import PoseGenerator, input_shapes
from rtmotion.models.pix2pixhd_reference import Pix2PixHDGlobalGenerator


@dataclass(frozen=True)
class ModelStats:
    """Size of one network at one input shape.

    Attributes:
        params: trainable + frozen parameter count.
        flops: FLOPs of one forward pass at batch 1 (2 x multiply-adds, convs/matmuls only).
    """

    params: int
    flops: int

    @property
    def gflops(self) -> float:
        return self.flops / 1e9

    def to_dict(self) -> dict:
        return {**asdict(self), "gflops": self.gflops}


def count_params(module: nn.Module) -> int:
    """Number of parameters (all of them, trainable or not)."""
    return sum(p.numel() for p in module.parameters())


def count_flops(module: nn.Module, *inputs: torch.Tensor) -> int:
    """FLOPs of `module(*inputs)` as counted by FlopCounterMode (no grad, module as is)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*inputs)
    return int(counter.get_total_flops())


def model_stats(module: nn.Module, *inputs: torch.Tensor) -> ModelStats:
    """Params and FLOPs of `module` on `inputs` (give batch-1 inputs for per-frame numbers)."""
    return ModelStats(params=count_params(module), flops=count_flops(module, *inputs))


def generator_stats(config) -> ModelStats:  # config: GeneratorConfig
    """Params and per-frame FLOPs of a PoseGenerator built from `config` at its resolution.

    Built and run on torch's "meta" device: shapes only, no memory or compute, so this is
    instant even for large resolutions.
    """
    with torch.device("meta"):
        gen = PoseGenerator(config).eval()
        inputs = [torch.zeros(s) for s in input_shapes(config, batch=1).values()]
    return model_stats(gen, *inputs)


def pix2pixhd_stats(resolution: tuple[int, int], pose_channels: int = 25) -> ModelStats:
    """Params and per-frame FLOPs of pix2pixHD's global generator (EDN's input: pose maps + the
    previous frame, `pose_channels + 3` channels) at (W, H), on the meta device."""
    w, h = resolution
    with torch.device("meta"):
        net = Pix2PixHDGlobalGenerator(pose_channels + 3).eval()
        x = torch.zeros(1, pose_channels + 3, h, w)
    return model_stats(net, x)


def time_forward(
    module: nn.Module,
    inputs: Sequence[torch.Tensor],
    warmup: int = 2,
    reps: int = 5,
    cuda_graph: bool = False,
) -> list[float]:
    """Wall-clock milliseconds of each of `reps` forward passes (after `warmup`), no grad.

    On CUDA the device is synchronized around each pass. With `cuda_graph` (CUDA only) the
    forward pass is captured once in a CUDA graph and replayed: this removes Python/launch
    overhead, which dominates eager timings of small networks at batch 1 and is what a compiled
    engine (TensorRT) also removes. The caller sets torch's thread count.
    """
    cuda = any(t.is_cuda for t in inputs)
    if cuda_graph and not cuda:
        raise ValueError("cuda_graph needs CUDA inputs")
    times: list[float] = []
    with torch.inference_mode():
        run = lambda: module(*inputs)  # noqa: E731
        if cuda_graph:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):  # warm cuDNN autotuning and allocations outside the capture
                    run()
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                run()
            run = graph.replay
        for i in range(warmup + reps):
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            run()
            if cuda:
                torch.cuda.synchronize()
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1e3)
    return times


def median_ms(times: Sequence[float]) -> float:
    """Median of a list of timings (ms)."""
    return float(statistics.median(times))
