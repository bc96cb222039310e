"""The TensorRT flavour of the INT8 Q/DQ graph: what TensorRT's ONNX parser requires of it.

TensorRT cannot be installed here, so the rule it enforces is checked on the graph itself:
every DequantizeLinear must take an 8-bit input (onnx-tensorrt #850: an int32 input, which is
what ONNX Runtime's quantizer makes of a Conv bias by default, fails the parse), and the
activations must be symmetric (zero point 0). The ONNX Runtime flavour is built too, to show
the check really sees int32 bias DQ nodes where they exist."""

from __future__ import annotations

import onnx
import pytest
import torch
from onnx import numpy_helper

from rtmotion.export.builder import EngineBuilder
from rtmotion.export.cache import EngineCache
from rtmotion.export.int8 import TENSORRT_DQ_INPUT_TYPES, dequantize_input_types


@pytest.fixture(scope="module")
def graphs(tiny_subject, calibration_root, tmp_path_factory, torch_thread_limiter):
    builder = EngineBuilder(tiny_subject.generator, "tiny", torch.device("cpu"),
                            EngineCache(tmp_path_factory.mktemp("engines")),
                            calibration_root / "tiny")
    with torch_thread_limiter():
        return builder.onnxruntime_int8("tensorrt"), builder.onnxruntime_int8("onnxruntime")


def test_tensorrt_flavour_has_only_8bit_dequantize_inputs(graphs) -> None:
    trt, _ = graphs
    types = dequantize_input_types(trt.path)
    assert types and set(types.values()) <= TENSORRT_DQ_INPUT_TYPES, types
    assert "INT32" not in types.values()
    # biases stay float, and the activations are symmetric signed 8-bit (zero point 0)
    model = onnx.load(str(trt.path))
    inits = {i.name: i for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    biased = [n for n in convs if len(n.input) > 2 and n.input[2]]
    assert biased, "the tiny generator has Conv biases: the check would be empty otherwise"
    for n in biased:
        assert inits[n.input[2]].data_type == onnx.TensorProto.FLOAT
    for n in model.graph.node:
        if n.op_type == "QuantizeLinear":
            zero = inits[n.input[2]]
            assert zero.data_type == onnx.TensorProto.INT8
            assert not numpy_helper.to_array(zero).any()
    assert trt.sidecar["quality"]["frames"] == 3   # still measured against fp32


def test_onnxruntime_flavour_quantizes_biases_which_tensorrt_refuses(graphs) -> None:
    _, ort = graphs
    types = dequantize_input_types(ort.path)
    assert "INT32" in types.values()              # the check sees what onnx-tensorrt rejects
    assert not set(types.values()) <= TENSORRT_DQ_INPUT_TYPES
    assert "UINT8" in types.values()              # U8S8: unsigned activations
