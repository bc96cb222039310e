"""ONNX Runtime backend: runs a built generator graph (.onnx) in an InferenceSession.

The runner only loads and runs: the graph is made by `rtmotion.export` (`rtmotion export`,
`rtmotion build --backend onnxruntime`, or `rtmotion.export.open_engine`). It runs fp32 graphs
and INT8 Q/DQ graphs (QuantizeLinear/DequantizeLinear pairs; onnxruntime fuses them into
integer kernels on the CPU) alike: the precision is the graph's own.

Execution providers: CPUExecutionProvider for device "cpu"; CUDAExecutionProvider (then CPU as
fallback for unsupported nodes) for "cuda[:N]", which needs the onnxruntime-gpu package.
Inputs and outputs cross through host memory (numpy).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rtmotion.errors import InputError
from rtmotion.lazy import CORE, require
from rtmotion.models.generator import INPUT_NAMES, OUTPUT_NAMES
from rtmotion.runtime.base import GeneratorRunner
from rtmotion.runtime.onnx_layout import cpu_session_model

log = logging.getLogger(__name__)


def _ort() -> Any:
    return require("onnxruntime", extra=CORE, purpose="the onnxruntime backend")


class OnnxRunner(GeneratorRunner):
    """Runs an ONNX generator graph with inputs `INPUT_NAMES` (those it has) and outputs
    `OUTPUT_NAMES`.

    Args:
        path: an .onnx file written by `rtmotion.export` (fp32 or INT8 Q/DQ).
        device: "cpu" or "cuda[:N]" (CUDA needs onnxruntime-gpu).
        threads: intra-op threads for the CPU provider (0 = onnxruntime's default).
        precision: what the graph computes in ("fp32" or "int8"), for reports only.
    """

    name = "onnxruntime"

    def __init__(self, path: str | Path, device: str | torch.device = "cpu", threads: int = 0,
                 precision: str = "fp32") -> None:
        super().__init__(device)
        _ort()
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(self.path, "ONNX file not found",
                             "export it with `rtmotion export` or build it with `rtmotion build`")
        self.precision = precision
        self._threads = int(threads)
        self._session: Any = None
        self._input_names: tuple[str, ...] = ()
        self._providers = self._pick_providers()

    def _pick_providers(self) -> list[Any]:
        ort = _ort()
        if self.device.type == "cpu":
            return ["CPUExecutionProvider"]
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise InputError(None, "the installed onnxruntime has no CUDA execution provider",
                             "install onnxruntime-gpu, or use --device cpu")
        return [("CUDAExecutionProvider", {"device_id": self.device.index or 0}),
                "CPUExecutionProvider"]

    @property
    def input_names(self) -> list[str]:
        return list(self._input_names)

    def _open(self) -> None:
        ort = _ort()
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self._threads > 0:
            opts.intra_op_num_threads = self._threads
        # No spinning: by default the worker threads busy-wait after each run, taking the cores
        # from the pipeline's other stages (pose, prepare, encode) running beside the generator.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            # CPU: convolutions padded to ONNX Runtime's channel block (`onnx_layout`)
            model = cpu_session_model(self.path) if self.device.type == "cpu" else str(self.path)
            self._session = ort.InferenceSession(model, opts, providers=self._providers)
        except Exception as e:  # onnxruntime raises its own exception types for a bad graph
            raise InputError(self.path, f"not a loadable ONNX graph ({str(e).splitlines()[0][:160]})",
                             "re-export it with `rtmotion export`") from None
        names = [i.name for i in self._session.get_inputs()]
        outs = [o.name for o in self._session.get_outputs()]
        if not names or names != list(INPUT_NAMES[: len(names)]) or outs[:2] != list(OUTPUT_NAMES):
            raise InputError(self.path, f"not an rtmotion generator graph (inputs {names}, "
                             f"outputs {outs})", "export it with `rtmotion export`")
        self._input_names = tuple(names)

    def _close(self) -> None:
        self._session = None

    def _run_numpy(self, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        frame, gate = self._session.run(list(OUTPUT_NAMES), feeds)
        return np.asarray(frame, dtype=np.float32), np.asarray(gate, dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        providers = self._session.get_providers() if self._session is not None else self._providers
        return {**super().describe(), "artifact": str(self.path),
                "providers": [p if isinstance(p, str) else p[0] for p in providers]}
