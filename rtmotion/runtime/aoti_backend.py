"""AOTInductor backend: runs a generator compiled ahead of time into a `.pt2` package.

The package is made by `rtmotion.export.aoti` (`torch.export.export` of the generator, then
`torch._inductor.aoti_compile_and_package`): native code for one device kind (CPU with this
machine's ISA, or CUDA for one GPU architecture), fixed input shapes, fixed precision. It is
loaded here with `torch._inductor.aoti_load_package` and called with torch tensors in the
order of `input_names`; it returns (frame, gate).

Only packages this machine built into the engine cache should be loaded (the cache checks
that before handing the path here): a package from another CPU or GPU may crash the process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rtmotion.errors import InputError
from rtmotion.runtime.base import GeneratorRunner

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class AotiRunner(GeneratorRunner):
    """Runs an AOTInductor `.pt2` generator package.

    Args:
        path: the `.pt2` file.
        input_names: the package's inputs in order (a prefix of INPUT_NAMES; recorded in the
            engine's sidecar at build time).
        device: the device the package was compiled for ("cpu" or "cuda[:N]").
        precision: the dtype the package computes in ("fp32"; "fp16"/"bf16" for CUDA packages).
            Inputs are cast to it; outputs come back as float32.
        threads: for CPU packages, torch intra-op threads to set on open (0 = leave as is).
    """

    name = "aoti"

    def __init__(self, path: str | Path, input_names: list[str] | tuple[str, ...],
                 device: str | torch.device = "cpu", precision: str = "fp32",
                 threads: int = 0) -> None:
        super().__init__(device)
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(self.path, "AOTInductor package not found",
                             "build it with `rtmotion build SUBJECT --backend aoti`")
        if precision not in _DTYPES:
            raise InputError(None, f"the aoti backend runs fp32, fp16 or bf16, not '{precision}'",
                             "use --precision fp32")
        self.precision = precision
        self._dtype = _DTYPES[precision]
        self._input_names = tuple(input_names)
        self._threads = int(threads)
        self._model: Any = None

    @property
    def input_names(self) -> list[str]:
        return list(self._input_names)

    def _open(self) -> None:
        if self._threads > 0 and self.device.type == "cpu":
            torch.set_num_threads(self._threads)
        index = self.device.index if self.device.type == "cuda" and self.device.index is not None else -1
        try:
            self._model = torch._inductor.aoti_load_package(str(self.path), device_index=index)
        except Exception as e:  # a damaged zip, another torch's package: one clear line
            raise InputError(self.path, f"cannot load the AOTInductor package "
                             f"({str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__})",
                             "rebuild it with `rtmotion build --clean`") from None

    def _close(self) -> None:
        self._model = None

    def _run_torch(self, feeds: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        # The package was traced with contiguous tensors of this dtype on this device.
        args = [feeds[n].to(self.device, self._dtype).contiguous() for n in self._input_names]
        with torch.inference_mode():
            out = self._model(*args)
        frame, gate = out[0], out[1]  # B x 3 x H x W in [-1, 1], B x 1 x H x W in [0, 1]
        return frame.float(), gate.float()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "artifact": str(self.path)}
