"""INT8: a Q/DQ ONNX graph from real calibration inputs, and its quality against fp32.

`quantize_int8` runs `onnxruntime.quantization.quantize_static` on the fp32 graph: QDQ format
(explicit QuantizeLinear/DequantizeLinear pairs: what ONNX Runtime fuses into integer kernels
and the only INT8 input TensorRT 11 accepts), per-channel symmetric weights, activation ranges
from a `CalibrationDataReader` over recorded generator inputs (`rtmotion.export.calibration`).
Only the convolutions are quantized (op_types Conv): they are nearly all the FLOPs, and leaving
the elementwise tail (tanh, sigmoid, the gated blend) in float keeps the output's [-1, 1] range
and the gate exact at its ends.

Two flavours, because the two runtimes want different activation encodings:
- "onnxruntime": unsigned 8-bit activations with a zero point (U8S8: the fast path of ONNX
  Runtime's x86 integer kernels);
- "tensorrt": signed symmetric 8-bit activations (zero point 0: what TensorRT requires), and
  the biases left in float (`QuantizeBias: False`). ONNX Runtime's quantizer otherwise turns a
  Conv's bias into an int32 initializer behind a DequantizeLinear, and TensorRT's ONNX parser
  accepts DequantizeLinear only on 8-bit (and 4-bit / fp8) inputs, not int32 (onnx-tensorrt
  issue #850): such a graph never builds. TensorRT fuses the float bias into the INT8 conv
  itself. `dequantize_input_types` lists what a graph feeds its DequantizeLinear nodes.

`int8_quality` compares the INT8 graph with the fp32 graph on held-out recorded inputs: SSIM of
the output frames as uint8 images (the project's quality measure), plus the largest absolute
difference. `INT8_MIN_SSIM` is the bound `auto` precision uses.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from rtmotion.errors import InputError
from rtmotion.export.calibration import CalibrationSet
from rtmotion.lazy import CORE, require
from rtmotion.models.generator import OUTPUT_NAMES
from rtmotion.models.losses import ssim_map

log = logging.getLogger(__name__)

#: `auto` precision uses INT8 only when the mean SSIM of its frames against fp32's frames, on
#: held-out recorded inputs, is at least this. 0.98 is where differences stop being visible
#: side by side on the demo subject (a trained generator's own held-out SSIM against the real
#: frames is about 0.86, so this bound keeps INT8's loss an order of magnitude below the model's).
INT8_MIN_SSIM = 0.98

FLAVOURS = ("onnxruntime", "tensorrt")


def _quantization() -> Any:
    return require("onnxruntime.quantization", extra=CORE, purpose="INT8 quantization",
                   package="onnxruntime")


def make_reader(cal: CalibrationSet, input_names: list[str]) -> Any:
    """An onnxruntime `CalibrationDataReader` yielding the set's frames one by one."""
    q = _quantization()

    class _Reader(q.CalibrationDataReader):
        def __init__(self) -> None:
            self._i = 0

        def get_next(self) -> dict[str, np.ndarray] | None:
            if self._i >= len(cal):
                return None
            feeds = cal.feeds(self._i, input_names)
            self._i += 1
            return feeds

        def rewind(self) -> None:
            self._i = 0

    return _Reader()


def quantize_int8(fp32_onnx: str | Path, out: str | Path, cal: CalibrationSet,
                  flavour: str = "onnxruntime") -> Path:
    """Write the INT8 Q/DQ graph of `fp32_onnx` to `out` (the caller makes `out` atomic).

    Args:
        fp32_onnx: the exported fp32 graph.
        out: where to write the Q/DQ graph.
        cal: recorded inputs (calibration frames only; keep evaluation frames out).
        flavour: "onnxruntime" (U8S8) or "tensorrt" (S8S8 symmetric).
    """
    q = _quantization()
    if flavour not in FLAVOURS:
        raise InputError(None, f"unknown INT8 flavour {flavour!r}", f"use one of {FLAVOURS}")
    names = [i.name for i in onnx.load(str(fp32_onnx), load_external_data=False).graph.input]
    if len(cal) == 0:
        raise InputError(None, "the calibration set is empty", "record it with `rtmotion calibrate`")
    symmetric = flavour == "tensorrt"
    with tempfile.TemporaryDirectory(prefix="rtmotion-int8-") as tmp:
        # Shape inference + graph clean-up first, as onnxruntime's quantizer recommends.
        pre = Path(tmp) / "pre.onnx"
        q.quant_pre_process(str(fp32_onnx), str(pre), skip_symbolic_shape=True)
        q.quantize_static(
            str(pre), str(out), make_reader(cal, names),
            quant_format=q.QuantFormat.QDQ,
            op_types_to_quantize=["Conv"],
            per_channel=True,
            activation_type=q.QuantType.QInt8 if symmetric else q.QuantType.QUInt8,
            weight_type=q.QuantType.QInt8,
            calibrate_method=q.CalibrationMethod.MinMax,
            calibration_providers=["CPUExecutionProvider"],
            extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True,
                           # int32 bias DQ nodes: ONNX Runtime fuses them, TensorRT refuses them
                           "QuantizeBias": not symmetric},
        )
    log.info("quantized %s -> %s (%s, %d calibration frames)", fp32_onnx, out, flavour, len(cal))
    return Path(out)


#: the input types TensorRT's ONNX parser accepts on a DequantizeLinear (8-bit integers and, in
#: newer releases, 4-bit and fp8): an int32 input (a quantized bias) makes the build fail.
TENSORRT_DQ_INPUT_TYPES = frozenset({"INT8", "UINT8", "INT4", "UINT4", "FLOAT8E4M3FN"})


def dequantize_input_types(qdq_onnx: str | Path) -> dict[str, str]:
    """{DequantizeLinear node name: the element type of its quantized input} of a Q/DQ graph,
    e.g. "INT8", or "INT32" for a quantized bias. The input is an initializer (weights, bias)
    or the output of a QuantizeLinear (activations), whose type is its zero point's."""
    graph = onnx.load(str(qdq_onnx), load_external_data=False).graph
    types = {i.name: i.data_type for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "QuantizeLinear":  # no zero point: uint8 (the ONNX default)
            zero = node.input[2] if len(node.input) > 2 and node.input[2] else None
            types[node.output[0]] = types.get(zero, onnx.TensorProto.UINT8) if zero else \
                onnx.TensorProto.UINT8
    out = {}
    for node in graph.node:
        if node.op_type == "DequantizeLinear":
            dtype = types.get(node.input[0])
            out[node.name or node.output[0]] = (onnx.TensorProto.DataType.Name(dtype)
                                                if dtype is not None else "UNKNOWN")
    return out


def ssim_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03) of two
    uint8 images H x W x 3 (or N x H x W x 3), averaged over channels; data range 255."""
    x = torch.from_numpy(np.asarray(a, np.float32)).reshape(-1, *a.shape[-3:]).permute(0, 3, 1, 2)
    y = torch.from_numpy(np.asarray(b, np.float32)).reshape(-1, *b.shape[-3:]).permute(0, 3, 1, 2)
    return float(ssim_map(x, y, data_range=255.0).mean())


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """N x 3 x H x W float in [-1, 1] -> N x H x W x 3 uint8 (as the pipeline writes frames)."""
    return np.clip(np.round((frames + 1.0) * 127.5), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def int8_quality(fp32_onnx: str | Path, int8_onnx: str | Path, held_out: CalibrationSet,
                 threads: int = 0) -> dict[str, Any]:
    """Quality of the INT8 graph against the fp32 graph on held-out recorded inputs.

    Returns {"ssim_vs_fp32": mean SSIM of the uint8 frames, "ssim_min": the worst frame's,
    "max_abs_diff": largest |frame difference| in [-1, 1] units, "frames": count,
    "bound": INT8_MIN_SSIM, "within_bound": bool}. An empty held-out set measures nothing:
    both SSIMs 0.0, max_abs_diff 0.0, frames 0, and never within the bound.
    """
    ort = require("onnxruntime", extra=CORE, purpose="checking INT8 quality")
    opts = ort.SessionOptions()
    if threads > 0:
        opts.intra_op_num_threads = threads
    sessions = [ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
                for p in (fp32_onnx, int8_onnx)]
    names = [i.name for i in sessions[0].get_inputs()]
    ssims, max_diff = [], 0.0
    for i in range(len(held_out)):
        feeds = held_out.feeds(i, names)
        ref, q8 = (s.run([OUTPUT_NAMES[0]], feeds)[0] for s in sessions)
        max_diff = max(max_diff, float(np.abs(ref - q8).max()))
        ssims.append(ssim_uint8(to_uint8(ref)[0], to_uint8(q8)[0]))
    mean = float(np.mean(ssims)) if ssims else 0.0
    worst = float(np.min(ssims)) if ssims else 0.0
    return {"ssim_vs_fp32": round(mean, 5), "ssim_min": round(worst, 5),
            "max_abs_diff": round(max_diff, 5), "frames": len(ssims), "bound": INT8_MIN_SSIM,
            "within_bound": bool(mean >= INT8_MIN_SSIM)}
