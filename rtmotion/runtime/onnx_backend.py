"""ONNX Runtime backend: runs the generator's ONNX graph in an InferenceSession.

The graph is either given (an .onnx file written by `rtmotion.export.onnx_export`) or exported
from a subject's generator when the runner opens: into `cache_dir` under a name that hashes the
weights and config (so a second run reuses it), or, without `cache_dir`, into a temporary folder
removed on `close()`.

Execution providers: CPUExecutionProvider for device "cpu"; CUDAExecutionProvider (then CPU as
fallback for unsupported nodes) for "cuda[:N]", which needs the onnxruntime-gpu package.
Inputs and outputs cross through host memory (numpy); IO binding of device tensors is left for
the TensorRT-era pipeline.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rtmotion.errors import InputError, MissingDependencyError
from rtmotion.models.generator import INPUT_NAMES, OUTPUT_NAMES
from rtmotion.runtime.base import GeneratorRunner

log = logging.getLogger(__name__)


def generator_digest(generator: nn.Module) -> str:
    """Short hex digest of a generator's config and weights (the ONNX cache key)."""
    h = hashlib.sha256()
    config = getattr(generator, "config", None)
    if config is not None and hasattr(config, "to_dict"):
        h.update(json.dumps(config.to_dict(), sort_keys=True).encode())
    for name, t in sorted(generator.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def export_cached(generator: nn.Module, cache_dir: str | Path) -> Path:
    """The generator's ONNX graph in `cache_dir`, exported only if not already there."""
    from rtmotion.export.onnx_export import export_generator_onnx

    cache_dir = Path(cache_dir)
    path = cache_dir / f"generator-{generator_digest(generator)}.onnx"
    if path.is_file():
        log.debug("reusing cached ONNX graph %s", path)
        return path
    log.info("exporting the generator to ONNX: %s", path)
    return export_generator_onnx(generator, path)


class OnnxRunner(GeneratorRunner):
    """Runs an ONNX generator graph with inputs `INPUT_NAMES` (those it has) and outputs
    `OUTPUT_NAMES`.

    Args:
        model: path of an .onnx file, or a generator nn.Module (exported on open).
        device: "cpu" or "cuda[:N]" (CUDA needs onnxruntime-gpu).
        cache_dir: where an exported graph is kept between runs (None: a temporary folder).
        threads: intra-op threads for the CPU provider (0 = onnxruntime's default).
    """

    name = "onnxruntime"

    def __init__(self, model: str | Path | nn.Module, device: str | torch.device = "cpu",
                 cache_dir: str | Path | None = None, threads: int = 0) -> None:
        super().__init__(device)
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise MissingDependencyError("onnxruntime", "dev", "the onnxruntime backend") from None
        if isinstance(model, nn.Module):
            self._module: nn.Module | None = model
            self.path: Path | None = None
        else:
            self._module = None
            self.path = Path(model)
            if not self.path.is_file():
                raise InputError(self.path, "ONNX file not found", "export it with `rtmotion export`")
        self._cache_dir = None if cache_dir is None else Path(cache_dir)
        self._tmpdir: Path | None = None
        self._threads = int(threads)
        self._session: Any = None
        self._input_names: tuple[str, ...] = ()
        self._providers = self._pick_providers()

    def _pick_providers(self) -> list[Any]:
        import onnxruntime as ort

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
        import onnxruntime as ort

        if self._module is not None:
            if self._cache_dir is not None:
                self.path = export_cached(self._module, self._cache_dir)
            else:
                self._tmpdir = Path(tempfile.mkdtemp(prefix="rtmotion-onnx-"))
                self.path = export_cached(self._module, self._tmpdir)
        assert self.path is not None
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self._threads > 0:
            opts.intra_op_num_threads = self._threads
        try:
            self._session = ort.InferenceSession(str(self.path), opts, providers=self._providers)
        except Exception as e:  # onnxruntime raises its own exception types for a bad graph
            raise InputError(self.path, f"not a loadable ONNX graph ({e})",
                             "re-export it with `rtmotion export`") from None
        names = [i.name for i in self._session.get_inputs()]
        outs = [o.name for o in self._session.get_outputs()]
        if not names or names != list(INPUT_NAMES[: len(names)]) or outs[:2] != list(OUTPUT_NAMES):
            raise InputError(self.path, f"not an rtmotion generator graph (inputs {names}, "
                             f"outputs {outs})", "export it with `rtmotion export`")
        self._input_names = tuple(names)

    def _close(self) -> None:
        self._session = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def _run_numpy(self, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        frame, gate = self._session.run(list(OUTPUT_NAMES), feeds)
        return np.asarray(frame, dtype=np.float32), np.asarray(gate, dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        providers = self._session.get_providers() if self._session is not None else self._providers
        return {**super().describe(), "onnx": str(self.path) if self.path else None,
                "providers": [p if isinstance(p, str) else p[0] for p in providers]}
