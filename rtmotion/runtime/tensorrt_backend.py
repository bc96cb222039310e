"""TensorRT backend: runs a serialized TensorRT engine (`.plan`) on torch's CUDA buffers.

NOTE: no TensorRT could be installed where this project is developed and tested (neither on
the CPU machines nor on the lent GPU machines), so this runner has NOT run here; its tests run
where `tensorrt` imports and skip elsewhere. It is kept small and uses only the name-based I/O
API that TensorRT 10 and 11 share (features are detected, not versions):

- `engine.num_io_tensors` / `get_tensor_name` / `get_tensor_mode` / `get_tensor_dtype` /
  `get_tensor_shape` to discover the bindings by name (the graph's INPUT_NAMES / OUTPUT_NAMES);
- `context.set_tensor_address(name, ptr)` to bind torch CUDA tensors (no host copies);
- `context.execute_async_v3(stream)` on torch's current CUDA stream when the caller runs on a
  stream of its own (the CUDA synthesizer), so the engine is ordered with the torch work before
  and after it without a synchronize. On the legacy default stream (a plain call, a benchmark)
  TensorRT adds a `cudaStreamSynchronize` around every enqueue ("Using default stream in
  enqueueV3() may lead to performance issues"), so the runner then enqueues on a stream it owns,
  ordered after the default stream's work and before what the caller queues next (events, no
  host wait).

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


def check_engine_io(inputs: set[str] | list[str], outputs: set[str] | list[str]) -> str | None:
    """Why an engine with these input / output tensor names is not an rtmotion generator
    engine (None: it is). Every output the runner returns (OUTPUT_NAMES: "frame", "gate") must
    be there, the inputs must be a subset of INPUT_NAMES and include "pose_maps"."""
    ins, outs = set(inputs), set(outputs)
    missing = [n for n in OUTPUT_NAMES if n not in outs]
    if missing:
        return f"outputs {sorted(outs)} lack {', '.join(missing)}"
    unknown = sorted(ins - set(INPUT_NAMES))
    if unknown:
        return f"inputs {sorted(ins)} include unknown {', '.join(unknown)}"
    if "pose_maps" not in ins:
        return f"inputs {sorted(ins)} lack pose_maps"
    return None


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
        self._stream: Any = None

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
        why = check_engine_io(ins, outs)
        if why is not None:
            raise InputError(self.path, f"not an rtmotion generator engine ({why})",
                             "rebuild it with `rtmotion build --clean`")
        self._inputs, self._outputs = ins, outs
        self._stream = torch.cuda.Stream(self.device)

    def _close(self) -> None:
        self._context = None
        self._engine = None
        self._stream = None

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
        caller = torch.cuda.current_stream(self.device)
        # the legacy default stream (handle 0): TensorRT would synchronize around the enqueue
        own = caller.cuda_stream == 0 and self._stream is not None
        stream = self._stream if own else caller
        if own:
            stream.wait_stream(caller)  # inputs written on the default stream first
        if not ctx.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"TensorRT engine {self.path} failed to run")
        if own:
            caller.wait_stream(stream)  # the caller's next work waits for the engine
            for t in (*keep, *out.values()):
                t.record_stream(stream)  # not reused before the engine is done with them
        del keep
        return out["frame"].float(), out["gate"].float()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "artifact": str(self.path)}
