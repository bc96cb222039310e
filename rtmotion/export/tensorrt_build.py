"""TensorRT engines from the generator's ONNX graph (fp32, fp16, INT8 Q/DQ).

NOTE: TensorRT cannot be installed where this project is developed (no registry here carries
the libraries) and the lent GPU machines have none: this builder has NOT run here. It is kept
small, uses only features detected on the installed module (TensorRT 10 and 11 differ):

- the network is created from the ONNX parser; with `NetworkDefinitionCreationFlag.
  STRONGLY_TYPED` where it exists (TensorRT >= 9), precision is the graph's own: an fp16 graph
  (`to_fp16_graph`) for fp16, the Q/DQ graph for INT8 (TensorRT 11 removed the INT8 calibrator
  and the FP16/INT8 builder flags; this path works on 10 and 11 alike);
- without strong typing (older builders) the FP16 flag is set where `trt.BuilderFlag.FP16`
  still exists, and INT8 uses the explicit Q/DQ scales of the graph;
- TF32 is TensorRT's default for float32 layers (`BuilderFlag.TF32`); an "fp32" engine clears
  it, so fp32 means fp32 and its parity check against torch (1e-3) can hold;
- `builder.build_serialized_network` (TensorRT >= 8) gives the plan bytes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from rtmotion.engine_request import BACKEND_PRECISIONS
from rtmotion.errors import InputError, RtmotionError
from rtmotion.export.cache import EngineBuildError
from rtmotion.runtime.tensorrt_backend import import_tensorrt

log = logging.getLogger(__name__)

TRT_PRECISIONS = BACKEND_PRECISIONS["tensorrt"]  # the backend x precision table's row


__all__ = ["EngineBuildError", "TRT_PRECISIONS", "build_tensorrt", "tensorrt_version",
           "to_fp16_graph"]


def tensorrt_version() -> str | None:
    """The installed TensorRT's version, or None when it does not import."""
    try:
        return str(import_tensorrt().__version__)
    except RtmotionError:
        return None


def to_fp16_graph(fp32_onnx: str | Path, out: str | Path) -> Path:
    """An fp16 copy of the graph for strongly typed builds: float initializers become float16,
    and Cast nodes keep the graph's inputs and outputs float32 (callers feed float32)."""
    model = onnx.load(str(fp32_onnx))
    graph = model.graph
    # Resize's roi and scales stay float32 whatever the data's type (the ONNX spec).
    keep = {n for node in graph.node if node.op_type == "Resize" for n in node.input[1:3]}
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT and init.name not in keep:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16),
                                                  init.name))
    for node in graph.node:  # constants folded into nodes
        if node.op_type == "Constant" and node.output[0] not in keep:
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type == TensorProto.FLOAT:
                    attr.t.CopyFrom(numpy_helper.from_array(
                        numpy_helper.to_array(attr.t).astype(np.float16), attr.t.name))
    casts = []
    for inp in graph.input:  # float32 in -> Cast -> float16 inside
        inner = f"{inp.name}__fp16"
        for node in graph.node:
            node.input[:] = [inner if n == inp.name else n for n in node.input]
        casts.append(helper.make_node("Cast", [inp.name], [inner], to=TensorProto.FLOAT16))
    for out_vi in graph.output:  # float16 inside -> Cast -> float32 out
        inner = f"{out_vi.name}__fp16"
        for node in graph.node:  # the producer, and any consumer inside the graph
            node.output[:] = [inner if n == out_vi.name else n for n in node.output]
            node.input[:] = [inner if n == out_vi.name else n for n in node.input]
        casts.append(helper.make_node("Cast", [inner], [out_vi.name], to=TensorProto.FLOAT))
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts[: len(graph.input)] + nodes + casts[len(graph.input):])
    del graph.value_info[:]  # stale float32 annotations; TensorRT infers types
    onnx.save(model, str(out))
    return Path(out)


def build_tensorrt(onnx_path: str | Path, out: str | Path, precision: str,
                   device: torch.device, workspace_gib: float = 2.0) -> dict[str, Any]:
    """Build a serialized engine at `out` from `onnx_path` (fp32 graph for fp32/fp16 with the
    builder flag, fp16 graph for strongly typed fp16, Q/DQ graph for int8).

    Returns sidecar fields: {"tensorrt": version, "strongly_typed": bool, "tf32": bool}.
    """
    trt = import_tensorrt()
    if precision not in TRT_PRECISIONS:
        raise InputError(None, f"TensorRT builds {', '.join(TRT_PRECISIONS)}, not '{precision}'")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    strongly_typed = hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")
    if strongly_typed:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    elif hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):  # TensorRT < 10
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"{onnx_path}: TensorRT cannot parse the graph ({errors[:300]})")
    config = builder.create_builder_config()
    if hasattr(config, "set_memory_pool_limit"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    tf32 = hasattr(trt.BuilderFlag, "TF32")
    if precision == "fp32" and tf32:
        config.clear_flag(trt.BuilderFlag.TF32)  # on by default: fp32 layers would run TF32
        tf32 = False
    if not strongly_typed:
        if precision == "fp16" and hasattr(trt.BuilderFlag, "FP16"):
            config.set_flag(trt.BuilderFlag.FP16)
        if precision == "int8" and hasattr(trt.BuilderFlag, "INT8"):
            config.set_flag(trt.BuilderFlag.INT8)  # scales come from the graph's Q/DQ nodes
    with torch.cuda.device(device):
        plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EngineBuildError(f"{onnx_path}: TensorRT failed to build a {precision} engine "
                               "(see the TensorRT log above)")
    Path(out).write_bytes(bytes(plan))
    return {"tensorrt": str(trt.__version__), "strongly_typed": strongly_typed, "tf32": tf32}
