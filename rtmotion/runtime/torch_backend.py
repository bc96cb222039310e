"""PyTorch backend: runs the generator's nn.Module eagerly under torch.inference_mode.

Precision: "fp32" everywhere; "fp16" / "bf16" on CUDA only (the module's weights are cast on a
private copy; outputs come back as float32). CPU half precision is refused: it is slower than
fp32 on most CPUs and not what a benchmark should report.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from rtmotion.errors import InputError
from rtmotion.models.generator import INPUT_NAMES, input_names
from rtmotion.runtime.base import PRECISIONS, GeneratorRunner

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class TorchRunner(GeneratorRunner):
    """Runs `module(pose_maps, warped_prev) -> (frame, gate, ...)` on `device`.

    Args:
        module: the generator (e.g. `Subject.generator`); it is not modified: `open()` makes an
            eval-mode copy on the device in the chosen precision, `close()` drops it.
        device: "cpu", "cuda", "cuda:N".
        precision: "fp32", "fp16" or "bf16" (the latter two on CUDA only).
    """

    name = "torch"
    capturable = True  # a call queues torch work on the current stream only

    def __init__(self, module: nn.Module, device: str | torch.device = "cpu",
                 precision: str = "fp32") -> None:
        super().__init__(device)
        if precision not in PRECISIONS:
            raise InputError(None, f"unknown precision '{precision}'", f"use one of {', '.join(PRECISIONS)}")
        if precision != "fp32" and self.device.type != "cuda":
            raise InputError(None, f"precision {precision} needs a CUDA device (got {self.device})",
                             "use fp32 on CPU")
        self._source = module
        self.precision = precision
        self._dtype = _DTYPES[precision]
        self._module: nn.Module | None = None
        config = getattr(module, "config", None)
        if config is not None:
            self._input_names = tuple(input_names(config))
        else:  # a plain module taking pose maps, previous frame and mask (tests, wrappers)
            self._input_names = INPUT_NAMES[:3]

    def _open(self) -> None:
        module = copy.deepcopy(self._source).eval()
        self._module = module.to(device=self.device, dtype=self._dtype)
        self._module.requires_grad_(False)

    def _close(self) -> None:
        self._module = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    @property
    def input_names(self) -> list[str]:
        return list(self._input_names)

    def _run_torch(self, feeds: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        assert self._module is not None
        # pose_maps B x Cp x H x W in [0, 1], warped_prev B x 3 x H x W in [-1, 1], prev_mask B x 1
        args = [feeds[n].to(self.device, self._dtype, non_blocking=True) for n in self._input_names]
        with torch.inference_mode():
            out = self._module(*args)
        frame, gate = out[0], out[1]  # B x 3 x H x W in [-1, 1], B x 1 x H x W in [0, 1]
        return frame.float(), gate.float()

