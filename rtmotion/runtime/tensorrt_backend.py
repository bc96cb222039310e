"""TensorRT backend: runs a serialized TensorRT engine (`.plan`) on torch's CUDA buffers.

NOTE: no TensorRT could be installed where this project is developed and tested (neither on
the CPU machines nor on the lent GPU machines), so this runner has NOT run here; its tests run
where `tensorrt` imports and skip elsewhere. It is kept small and uses only the name-based I/O
API that TensorRT 10 and 11 share (features are detected, not versions):

- `engine.num_io_tensors` / `get_tensor_name` / `get_tensor_mode` / `get_tensor_dtype` /
  `get_tensor_shape` to discover the bindings by name (the graph's INPUT_NAMES / OUTPUT_NAMES);
- `context.set_tensor_address(name, ptr)` to bind torch CUDA tensors (no host copies);
- `context.execute_async_v3(stream)` on torch's current CUDA stream, so the engine is ordered
  with the torch work before and after it (flow, warp, blend) without a synchronize.

Engines are built by `rtmotion.export.tensorrt_build` from the ONNX graph: fp16 from a
strongly typed fp16 graph or the FP16 builder flag where it still exists (TensorRT 10),
INT8 from the Q/DQ graph (the only INT8 path TensorRT 11 has).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rtmotion.errors import InputError
from rtmotion.lazy import require
from rtmotion.models.generator import INPUT_NAMES, OUTPUT_NAMES
from rtmotion.runtime.base import GeneratorRunner


def import_tensorrt() -> Any:
    """The tensorrt module, or MissingDependencyError naming the extra."""
    return require("tensorrt", extra="tensorrt", purpose="the TensorRT backend")


def torch_dtype(trt: Any, dtype: Any) -> torch.dtype:
    """torch dtype of a TensorRT DataType (those an rtmotion engine's I/O can have)."""
    table = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
             "int8": torch.int8, "int32": torch.int32}
    for attr, tdt in table.items():
        if hasattr(trt, attr) and dtype == getattr(trt, attr):
            return tdt
    raise InputError(None, f"TensorRT engine I/O type {dtype} is not supported",
                     "rebuild the engine with `rtmotion build --clean`")


class TensorRTRunner(GeneratorRunner):
    """Runs a TensorRT engine built for this GPU.

    Args:
        path: the serialized engine (`.plan`).
        device: "cuda" / "cuda:N" (TensorRT runs on NVIDIA GPUs only).
        precision: what the engine was built in ("fp32", "fp16", "int8"), for reports.
    """

    name = "tensorrt"

    def __init__(self, path: str | Path, device: str | torch.device = "cuda",
                 precision: str = "fp16") -> None:
        super().__init__(device)
        if self.device.type != "cuda":
            raise InputError(None, f"the tensorrt backend needs a CUDA device, got {self.device}",
                             "use --device cuda, or --backend aoti/onnxruntime on the CPU")
        self._trt = import_tensorrt()
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(self.path, "TensorRT engine not found",
                             "build it with `rtmotion build SUBJECT --backend tensorrt`")
        self.precision = precision
        self._engine: Any = None
        self._context: Any = None
        self._inputs: dict[str, tuple[tuple[int, ...], torch.dtype]] = {}
        self._outputs: dict[str, tuple[tuple[int, ...], torch.dtype]] = {}

    @property
    def input_names(self) -> list[str]:
        return [n for n in INPUT_NAMES if n in self._inputs]

    def _open(self) -> None:
        trt = self._trt
        logger = trt.Logger(trt.Logger.WARNING)
        with torch.cuda.device(self.device):
            runtime = trt.Runtime(logger)
            engine = runtime.deserialize_cuda_engine(self.path.read_bytes())
            if engine is None:
                raise InputError(self.path, "TensorRT could not deserialize the engine (built by "
                                 "another TensorRT version or for another GPU?)",
                                 "rebuild it with `rtmotion build --clean`")
            if not hasattr(engine, "num_io_tensors"):
                raise InputError(None, "this TensorRT has no name-based I/O API (TensorRT < 10)",
                                 "install TensorRT 10 or newer")
            self._engine = engine
            self._context = engine.create_execution_context()
        ins, outs = {}, {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            shape = tuple(int(d) for d in engine.get_tensor_shape(name))
            dtype = torch_dtype(trt, engine.get_tensor_dtype(name))
            is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            (ins if is_input else outs)[name] = (shape, dtype)
        if set(outs) < set(OUTPUT_NAMES) or not set(ins) <= set(INPUT_NAMES) or "pose_maps" not in ins:
            raise InputError(self.path, f"not an rtmotion generator engine (inputs {sorted(ins)}, "
                             f"outputs {sorted(outs)})", "rebuild it with `rtmotion build --clean`")
        self._inputs, self._outputs = ins, outs

    def _close(self) -> None:
        self._context = None
        self._engine = None

    def _run_torch(self, feeds: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        ctx = self._context
        # Inputs made here are allocated on the current stream, and the engine runs on it: the
        # caching allocator cannot hand their memory out again before the engine has read it.
        keep = []
        for name, (shape, dtype) in self._inputs.items():
            x = feeds[name].to(self.device, dtype).contiguous()
            if tuple(x.shape) != shape:
                raise ValueError(f"{name} has shape {tuple(x.shape)}, the engine was built for {shape}")
            ctx.set_tensor_address(name, x.data_ptr())
            keep.append(x)
        out = {}
        for name, (shape, dtype) in self._outputs.items():
            out[name] = torch.empty(shape, dtype=dtype, device=self.device)
            ctx.set_tensor_address(name, out[name].data_ptr())
        stream = torch.cuda.current_stream(self.device)
        if not ctx.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"TensorRT engine {self.path} failed to run")
        del keep
        return out["frame"].float(), out["gate"].float()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "artifact": str(self.path)}
