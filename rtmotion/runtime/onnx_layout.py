"""ONNX Runtime's CPU convolutions want channel counts in multiples of 8: pad the ones that are not.

ONNX Runtime's fast CPU convolution (its NCHWc layout, blocks of 8 channels on AVX2) is used for
a convolution only when its input channel count is a multiple of the block. The generator's
first convolution sees every input stacked (25 pose channels + previous frame, its mask, the
keyframe inputs and the plate: 39 for demo-ada) at full resolution, so it falls back to the
plain path: 6.5 of the generator's ~28 ms in ONNX Runtime's profile on the 2-core dev CPU.
Padding that input with zero channels, and the weights with zero columns, computes the same sum
(a zero weight times a zero input adds 0; the fast path adds in another order: outputs within
2e-5) and lets the fast path run it: 4.1 ms in the profile, and the whole generator 2-4 % faster
once the Pad's copy is paid (`python tools/bench_onnx_layout.py`: 33.2 against 34.7 ms a call
on one thread; docs/BENCHMARKS.md, "Speed by design").

This is done to the graph a CPU session loads, in memory; the exported files stay as they are
(TensorRT builds from them and has its own layouts). Only float convolutions with plain weights
are padded: an INT8 Q/DQ graph's weights sit behind DequantizeLinear and are left alone. The
cost is paid when a session opens: demo-ada's 5.6 MB graph is parsed, padded and serialized once
more, 60-90 ms (the engine cache has imported `onnx` by then); a padded artifact in the engine
cache would save that, at the price of one more artifact, sidecar and parity check.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from rtmotion.lazy import CORE, require

log = logging.getLogger(__name__)

#: ONNX Runtime's NCHWc block on AVX2 (AVX-512: 16, of which 8 is a half; padding to 8 is what
#: the AVX2 machines this project runs on need, and harmless elsewhere).
CHANNEL_BLOCK = 8
#: Convolutions with at most this many input channels are left alone: ONNX Runtime has its own
#: path for narrow inputs (an RGB image), where padding would only add work.
MIN_CHANNELS = 8


def pad_conv_inputs(model: Any, block: int = CHANNEL_BLOCK) -> int:
    """Pad, in place, the input channels of `model`'s convolutions to a multiple of `block`.

    Args:
        model: an `onnx.ModelProto`.
        block: the channel multiple.
    Returns:
        How many convolutions were padded. A convolution is padded when it is not grouped, its
        weight is an initializer of rank 4 (float) and its input channels (more than
        `MIN_CHANNELS`) are not a multiple of `block`: its input goes through a Pad node adding
        zero channels, its weight gets zero columns.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    padded = 0
    for node in list(graph.node):
        if node.op_type != "Conv" or len(node.input) < 2 or node.input[1] not in inits:
            continue
        if any(a.name == "group" and a.i != 1 for a in node.attribute):
            continue
        weight = numpy_helper.to_array(inits[node.input[1]])
        if weight.ndim != 4 or weight.dtype.kind != "f":
            continue
        cin = weight.shape[1]
        extra = (-cin) % block
        if cin <= MIN_CHANNELS or extra == 0:
            continue
        zeros = np.zeros((weight.shape[0], extra, *weight.shape[2:]), weight.dtype)
        name = node.input[1]
        inits[name].CopyFrom(numpy_helper.from_array(np.concatenate([weight, zeros], axis=1), name))
        pads_name = f"{node.name or name}/channel_pads"
        graph.initializer.append(numpy_helper.from_array(
            np.array([0, 0, 0, 0, 0, extra, 0, 0], np.int64), pads_name))  # N C H W begins, ends
        out = f"{node.name or name}/channels_padded"
        pad = helper.make_node("Pad", [node.input[0], pads_name], [out], mode="constant",
                               name=f"{node.name or name}/pad_channels")
        graph.node.insert(list(graph.node).index(node), pad)
        node.input[0] = out
        padded += 1
    return padded


def cpu_session_model(model_or_path: bytes | str | Path) -> bytes | str:
    """What a CPU `InferenceSession` should load for a serialized model or an .onnx file: the
    model's bytes with its convolutions padded (`pad_conv_inputs`), or, when nothing needs
    padding, the bytes or the path (as str) as given."""
    onnx = require("onnx", extra=CORE, purpose="loading ONNX graphs into ONNX Runtime")
    given = model_or_path if isinstance(model_or_path, bytes) else str(model_or_path)
    model = onnx.load_from_string(given) if isinstance(given, bytes) else onnx.load(given)
    n = pad_conv_inputs(model)
    if n == 0:
        return given
    log.debug("padded the input channels of %d convolution(s) to multiples of %d", n, CHANNEL_BLOCK)
    return model.SerializeToString()
