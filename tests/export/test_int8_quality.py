"""The SSIM that gates INT8 engines (`ssim_uint8`) against independent oracles: closed forms
(identical images, constant images, a constant offset), pytorch_msssim (the eval metric, another
implementation of the same Wang et al. 2004 SSIM) and a plain numpy/scipy SSIM written here; and
`to_uint8`, the frame conversion it is fed with, on known values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import correlate

from rtmotion.eval.metrics import ssim as eval_ssim
from rtmotion.export.int8 import INT8_MIN_SSIM, ssim_uint8, to_uint8
from tests.ssim_oracle import numpy_ssim

C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def _pair(rng: np.random.Generator, sigma: float, shape=(40, 48, 3)) -> tuple[np.ndarray, np.ndarray]:
    """A smooth picture and a noisy copy of it."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    base = np.stack([120 + 80 * np.sin(xx / 5.0 + k) * np.cos(yy / 7.0) for k in range(shape[2])], -1)
    a = np.clip(base, 0, 255).astype(np.uint8)
    b = np.clip(base + rng.normal(0, sigma, shape), 0, 255).astype(np.uint8)
    return a, b


def test_identical_images_score_one() -> None:
    a, _ = _pair(np.random.default_rng(0), 0.0)
    assert ssim_uint8(a, a) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("p,q", [(0, 255), (100, 140), (30, 200), (128, 128)])
def test_constant_images_follow_the_closed_form(p: int, q: int) -> None:
    """No variance anywhere: SSIM is the luminance term (2pq + C1) / (p^2 + q^2 + C1)."""
    a = np.full((24, 24, 3), p, np.uint8)
    b = np.full((24, 24, 3), q, np.uint8)
    want = (2 * p * q + C1) / (p * p + q * q + C1)
    # float32 local variances (E[x^2] - mu^2 of values near 255^2) are exact to about 1e-2
    assert ssim_uint8(a, b) == pytest.approx(want, abs=1e-3)


def test_a_constant_offset_only_costs_luminance() -> None:
    """b = a + d on a picture whose local mean is m everywhere (a checkerboard): contrast and
    structure are intact, so SSIM = (2 m (m + d) + C1) / (m^2 + (m + d)^2 + C1)."""
    yy, xx = np.mgrid[0:33, 0:33]
    a = np.where((yy + xx) % 2 == 0, 90, 110).astype(np.uint8)[..., None].repeat(3, -1)
    b = a + np.uint8(40)
    m = float(correlate(a[..., 0].astype(float), np.full((11, 11), 1 / 121))[16, 16])
    got = ssim_uint8(a, b)
    # the checkerboard's Gaussian-weighted mean is 100 within a fraction of a level
    lo = min((2 * mm * (mm + 40) + C1) / (mm**2 + (mm + 40) ** 2 + C1) for mm in (m - 1, m + 1))
    assert lo - 1e-3 < got < 1.0 - 0.05


@pytest.mark.parametrize("sigma", [3.0, 12.0, 40.0])
def test_agrees_with_two_independent_ssims(sigma: float) -> None:
    a, b = _pair(np.random.default_rng(int(sigma)), sigma)
    got = ssim_uint8(a, b)
    assert got == pytest.approx(numpy_ssim(a, b), abs=1e-4)
    assert got == pytest.approx(eval_ssim(a, b), abs=1e-4)
    assert got < 0.999


def test_falls_with_noise_and_averages_a_batch() -> None:
    rng = np.random.default_rng(5)
    pairs = [_pair(rng, s) for s in (2.0, 8.0, 30.0)]
    scores = [ssim_uint8(a, b) for a, b in pairs]
    assert scores[0] > scores[1] > scores[2] > 0
    batch_a, batch_b = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    assert ssim_uint8(batch_a, batch_b) == pytest.approx(np.mean(scores), abs=1e-6)
    # symmetric, as the formula is
    assert ssim_uint8(*pairs[1]) == pytest.approx(ssim_uint8(pairs[1][1], pairs[1][0]), abs=1e-6)


def test_the_int8_bound_is_below_one_and_noise_crosses_it() -> None:
    """INT8's gate rejects a visibly noisy frame and accepts a nearly exact one."""
    rng = np.random.default_rng(9)
    assert ssim_uint8(*_pair(rng, 1.0)) >= INT8_MIN_SSIM > ssim_uint8(*_pair(rng, 25.0))


def test_to_uint8_known_values_and_layout() -> None:
    frames = np.zeros((2, 3, 4, 5), np.float32)
    frames[0, 0] = -1.0          # black red channel
    frames[0, 1] = 1.0           # full green
    frames[0, 2] = 0.0           # mid blue: 127.5 rounds to even 128
    frames[1] = 2.0              # out of range: clipped
    frames[1, 2, 3, 4] = -3.0
    out = to_uint8(frames)
    assert out.shape == (2, 4, 5, 3) and out.dtype == np.uint8
    assert (out[0, ..., 0] == 0).all() and (out[0, ..., 1] == 255).all() and (out[0, ..., 2] == 128).all()
    assert (out[1, ..., :2] == 255).all() and out[1, 3, 4, 2] == 0 and out[1, 0, 0, 2] == 255
    assert to_uint8(np.full((1, 3, 1, 1), -0.5, np.float32))[0, 0, 0, 0] == 64    # 63.75
    assert to_uint8(np.full((1, 3, 1, 1), 0.25, np.float32))[0, 0, 0, 0] == 159    # 159.375


@pytest.mark.parametrize("p,q", [(0, 2), (0, 5), (1, 3)])
def test_dark_constant_images_weigh_c1_exactly(p: int, q: int) -> None:
    """On dark flat images the luminance term is decided by C1 = (0.01 * 255)^2 (no rounding
    to hide behind: float32 is exact on such small levels)."""
    a = np.full((16, 16, 3), p, np.uint8)
    b = np.full((16, 16, 3), q, np.uint8)
    assert ssim_uint8(a, b) == pytest.approx((2 * p * q + C1) / (p * p + q * q + C1), abs=1e-5)


# --- quantize_int8, make_reader, dequantize_input_types and int8_quality on a one-Conv graph ---
# (the real generator's graphs are built in test_int8_tensorrt.py and test_engine_parity.py;
# a hand-made graph of one biased Conv and a tanh quantizes in well under a second)

def _conv_graph(path, channels: int = 3, size: int = 8) -> None:
    """fp32 ONNX: frame = tanh(conv3x3(pose_maps) + bias), `channels` in and out."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = (rng.normal(0, 0.3, (channels, channels, 3, 3))).astype(np.float32)
    bias = np.linspace(-0.2, 0.2, channels).astype(np.float32)
    nodes = [helper.make_node("Conv", ["pose_maps", "w", "b"], ["y"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Tanh", ["y"], ["frame"], name="tanh")]
    shape = [1, channels, size, size]
    graph = helper.make_graph(nodes, "one_conv",
                              [helper.make_tensor_value_info("pose_maps", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("frame", TensorProto.FLOAT, shape)],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(bias, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _cal(frames: int = 5, lo: float = -0.5, hi: float = 2.0, seed: int = 1, size: int = 8):
    from rtmotion.export.calibration import CalibrationSet

    x = np.random.default_rng(seed).uniform(lo, hi, (frames, 3, size, size)).astype(np.float32)
    x[0, 0, 0, 0], x[-1, -1, -1, -1] = lo, hi     # the exact extremes, in the first and last frame
    return CalibrationSet({"pose_maps": x})


def _initializers(path) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}


def _input_quantizer(path) -> tuple[float, np.ndarray]:
    """(scale, zero point) of the QuantizeLinear that reads the graph input."""
    import onnx

    inits = _initializers(path)
    node = next(n for n in onnx.load(str(path)).graph.node
                if n.op_type == "QuantizeLinear" and n.input[0] == "pose_maps")
    return float(inits[node.input[1]]), inits[node.input[2]]


def test_make_reader_yields_every_frame_once_then_rewinds() -> None:
    from rtmotion.export.int8 import make_reader

    cal = _cal(frames=3)
    reader = make_reader(cal, ["pose_maps"])
    got = [reader.get_next() for _ in range(4)]
    assert got[3] is None and reader.get_next() is None
    for i in range(3):
        assert list(got[i]) == ["pose_maps"]
        np.testing.assert_array_equal(got[i]["pose_maps"], cal.arrays["pose_maps"][i:i + 1])
    reader.rewind()
    np.testing.assert_array_equal(reader.get_next()["pose_maps"], cal.arrays["pose_maps"][:1])


def test_onnxruntime_flavour_is_u8s8_with_minmax_ranges(tmp_path) -> None:
    """U8S8: the input's activation range is MinMax over every calibration frame (scale =
    (max - min) / 255, the zero point where 0 falls), the weights per output channel and
    symmetric int8, the bias an int32 initializer behind a DequantizeLinear, the tanh left
    float; the graph runs close to fp32 on average."""
    import onnx
    import onnxruntime as ort

    from rtmotion.export.int8 import dequantize_input_types, quantize_int8

    fp32, out = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    _conv_graph(fp32)
    cal = _cal(lo=-0.5, hi=2.0)
    assert quantize_int8(fp32, str(out), cal) == out
    scale, zero = _input_quantizer(out)
    assert scale == pytest.approx(2.5 / 255, rel=1e-6)
    assert zero.dtype == np.uint8 and int(zero) == round(0.5 / scale)
    inits = _initializers(out)
    w_scales = [v for k, v in inits.items() if k.startswith("w") and "scale" in k]
    assert len(w_scales) == 1 and w_scales[0].shape == (3,)          # per channel
    w_q = [v for k, v in inits.items() if k.startswith("w") and v.dtype == np.int8 and v.ndim == 4]
    assert len(w_q) == 1 and np.abs(w_q[0]).max() == 127               # symmetric, full range
    w = _initializers(fp32)["w"]                                       # scale max |w_c| / 127
    np.testing.assert_allclose(w_scales[0], np.abs(w).reshape(3, -1).max(1) / 127, rtol=1e-6)
    assert not inits["w_zero_point"].any()
    types = dequantize_input_types(out)
    assert sorted(types.values()) == ["INT32", "INT8", "UINT8", "UINT8"], types
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert ops.count("Conv") == 1 and ops.count("Tanh") == 1 and ops[-1] == "Tanh"
    feeds = cal.feeds(2, ["pose_maps"])
    ref, q8 = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
               for p in (fp32, out))
    assert np.abs(ref - q8).max() > 0 and np.abs(ref - q8).mean() < 0.05


def test_tensorrt_flavour_is_symmetric_s8s8_with_float_biases(tmp_path) -> None:
    """Signed symmetric activations (zero point 0, scale = max |x| / 127), and the bias stays a
    float initializer: every DequantizeLinear reads 8-bit data, as TensorRT requires."""
    from rtmotion.export.int8 import TENSORRT_DQ_INPUT_TYPES, dequantize_input_types, quantize_int8

    fp32, out = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    _conv_graph(fp32)
    quantize_int8(fp32, out, _cal(lo=-0.5, hi=2.0), flavour="tensorrt")
    scale, zero = _input_quantizer(out)
    assert zero.dtype == np.int8 and int(zero) == 0
    assert scale == pytest.approx(2.0 / 127, rel=1e-6)
    types = dequantize_input_types(out)
    assert sorted(types.values()) == ["INT8", "INT8", "INT8"] and set(types.values()) <= TENSORRT_DQ_INPUT_TYPES
    assert _initializers(out)["b"].dtype == np.float32


def test_quantize_int8_refuses_an_unknown_flavour_and_an_empty_set(tmp_path) -> None:
    from rtmotion.errors import InputError
    from rtmotion.export.calibration import CalibrationSet
    from rtmotion.export.int8 import quantize_int8

    fp32 = tmp_path / "fp32.onnx"
    _conv_graph(fp32)
    with pytest.raises(InputError) as ei:
        quantize_int8(fp32, tmp_path / "a.onnx", _cal(), flavour="fp8")
    assert "unknown INT8 flavour 'fp8'" in str(ei.value)
    assert "use one of ('onnxruntime', 'tensorrt')" in str(ei.value)
    empty = CalibrationSet({"pose_maps": np.zeros((0, 3, 8, 8), np.float32)})
    with pytest.raises(InputError) as ei:
        quantize_int8(fp32, tmp_path / "b.onnx", empty)
    assert "the calibration set is empty" in str(ei.value)
    assert "record it with `rtmotion calibrate`" in str(ei.value)
    assert not (tmp_path / "a.onnx").exists() and not (tmp_path / "b.onnx").exists()


def test_dequantize_input_types_reads_zero_points_and_initializers(tmp_path) -> None:
    """A hand-made Q/DQ graph: a QuantizeLinear with an int8 zero point, one with none (uint8,
    the ONNX default) and one with an empty zero-point name; a DQ of an int32 initializer; a DQ
    of a tensor nobody defines (UNKNOWN); an unnamed DQ is keyed by its output."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from rtmotion.export.int8 import dequantize_input_types

    inits = [numpy_helper.from_array(np.float32(0.1), "s"), numpy_helper.from_array(np.int8(0), "z8"),
             numpy_helper.from_array(np.zeros(3, np.int32), "bias_q")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z8"], ["xq8"], name="q8"),
             helper.make_node("QuantizeLinear", ["x", "s"], ["xqu"], name="qu"),
             helper.make_node("QuantizeLinear", ["x", "s", ""], ["xqe"], name="qe"),
             helper.make_node("DequantizeLinear", ["xq8", "s", "z8"], ["d1"], name="dq_int8"),
             helper.make_node("DequantizeLinear", ["xqu", "s"], ["d2"], name="dq_uint8"),
             helper.make_node("DequantizeLinear", ["xqe", "s"], ["d3"], name="dq_empty"),
             helper.make_node("DequantizeLinear", ["bias_q", "s"], ["d4"], name="dq_bias"),
             helper.make_node("DequantizeLinear", ["nowhere", "s"], ["d5"], name="dq_unknown"),
             helper.make_node("DequantizeLinear", ["xq8", "s", "z8"], ["d6"])]
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info(f"d{i}", TensorProto.FLOAT, [3])
                               for i in range(1, 7)], inits)
    path = tmp_path / "qdq.onnx"
    onnx.save(helper.make_model(graph), str(path))
    assert dequantize_input_types(path) == {
        "dq_int8": "INT8", "dq_uint8": "UINT8", "dq_empty": "UINT8", "dq_bias": "INT32",
        "dq_unknown": "UNKNOWN", "d6": "INT8"}
    assert dequantize_input_types(str(path))["dq_bias"] == "INT32"


def test_int8_quality_against_a_per_frame_oracle(tmp_path) -> None:
    """Each held-out frame through both graphs: mean and worst SSIM of the uint8 frames (the
    eval metric as oracle), the largest difference, the count and the bound; a graph against
    itself is exact."""
    import onnxruntime as ort

    from rtmotion.export.int8 import int8_quality, quantize_int8

    fp32, out = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    _conv_graph(fp32, size=16)
    from rtmotion.export.calibration import CalibrationSet

    rng = np.random.default_rng(3)
    cal = CalibrationSet({"pose_maps": rng.uniform(-1, 1, (4, 3, 16, 16)).astype(np.float32)})
    held = CalibrationSet({"pose_maps": rng.uniform(-1, 1, (3, 3, 16, 16)).astype(np.float32)})
    quantize_int8(fp32, out, cal)
    q = int8_quality(fp32, out, held, threads=1)
    s = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (fp32, out)]
    ssims, diffs = [], []
    for i in range(3):
        ref, q8 = (x.run(["frame"], held.feeds(i))[0] for x in s)
        diffs.append(np.abs(ref - q8).max())
        ssims.append(eval_ssim(to_uint8(ref)[0], to_uint8(q8)[0]))
    assert set(q) == {"ssim_vs_fp32", "ssim_min", "max_abs_diff", "frames", "bound", "within_bound"}
    assert q["frames"] == 3 and q["bound"] == INT8_MIN_SSIM
    assert q["ssim_vs_fp32"] == pytest.approx(np.mean(ssims), abs=2e-5)
    assert q["ssim_min"] == pytest.approx(min(ssims), abs=2e-5) and q["ssim_min"] < q["ssim_vs_fp32"]
    assert q["max_abs_diff"] == pytest.approx(max(diffs), abs=1e-5) and q["max_abs_diff"] > 0
    assert q["within_bound"] is bool(q["ssim_vs_fp32"] >= INT8_MIN_SSIM)
    same = int8_quality(fp32, fp32, held)
    assert same == {"ssim_vs_fp32": 1.0, "ssim_min": 1.0, "max_abs_diff": 0.0, "frames": 3,
                    "bound": INT8_MIN_SSIM, "within_bound": True}


# --- the quantization recipe, the sessions of the quality check, refusals and logs, in full ---

def _tail_graph(path, size: int = 8) -> None:
    """fp32 ONNX with an elementwise tail and two outputs, the gate listed first (as a real
    generator lists frame first): gate = sigmoid(y * y), frame = tanh(y * y), y = conv3x3(x)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).normal(0, 0.3, (3, 3, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["pose_maps", "w", "b"], ["y"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Mul", ["y", "y"], ["z"], name="mul"),
             helper.make_node("Sigmoid", ["z"], ["gate"], name="sigmoid"),
             helper.make_node("Tanh", ["z"], ["frame"], name="tanh")]
    shape = [1, 3, size, size]
    graph = helper.make_graph(nodes, "tail", [helper.make_tensor_value_info("pose_maps", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("gate", "frame")],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.zeros(3, np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _with_extra_input(cal):
    """The same frames plus a `warped_prev` array the one-Conv graphs do not take: feeding by
    the graph's input names must leave it out (onnxruntime refuses an unknown input)."""
    from rtmotion.export.calibration import CalibrationSet

    x = cal.arrays["pose_maps"]
    return CalibrationSet({"pose_maps": x, "warped_prev": np.zeros_like(x)})


def test_only_the_convolutions_are_quantized_and_the_tail_stays_float(tmp_path) -> None:
    """op_types Conv: one QuantizeLinear for the conv's input and one for its output (the
    quantizer's QDQ pair around the conv); the Mul, sigmoid and tanh read float tensors and no
    QuantizeLinear follows them."""
    import onnx

    from rtmotion.export.int8 import quantize_int8

    fp32, out = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    _tail_graph(fp32)
    quantize_int8(fp32, out, _cal())
    nodes = onnx.load(str(out)).graph.node
    assert [n.op_type for n in nodes if n.op_type not in ("QuantizeLinear", "DequantizeLinear")] == \
        ["Conv", "Mul", "Sigmoid", "Tanh"]
    assert sorted(n.input[0] for n in nodes if n.op_type == "QuantizeLinear") == ["pose_maps", "y"]
    producer = {o: n.op_type for n in nodes for o in n.output}
    for n in nodes:
        if n.op_type in ("Sigmoid", "Tanh"):
            assert producer[n.input[0]] == "Mul"


def test_the_quantizer_gets_the_documented_recipe(tmp_path, monkeypatch) -> None:
    """Options whose onnxruntime default happens to be the same today are still passed as the
    module's docstring says (QDQ, Conv only, per channel, int8 weights, MinMax, CPU calibration,
    symmetric weights, the flavour's activations and bias), the graph is pre-processed without
    symbolic shape inference into a private `rtmotion-int8-*` folder that is gone afterwards."""
    import onnxruntime.quantization as ortq

    from rtmotion.export.int8 import quantize_int8

    pre_calls, static_calls = [], []
    real_pre, real_static = ortq.quant_pre_process, ortq.quantize_static

    def pre(src, dst, **kw):
        pre_calls.append((src, dst, kw))
        return real_pre(src, dst, **kw)

    def static(src, dst, reader, **kw):
        static_calls.append((src, dst, kw))
        return real_static(src, dst, reader, **kw)

    monkeypatch.setattr(ortq, "quant_pre_process", pre)
    monkeypatch.setattr(ortq, "quantize_static", static)
    fp32 = tmp_path / "fp32.onnx"
    _conv_graph(fp32)
    for flavour, symmetric in (("onnxruntime", False), ("tensorrt", True)):
        pre_calls.clear()
        static_calls.clear()
        out = tmp_path / f"{flavour}.onnx"
        quantize_int8(fp32, out, _cal(), flavour=flavour)
        [(src, dst, kw)] = pre_calls
        from pathlib import Path

        assert src == str(fp32) and Path(dst).name == "pre.onnx" and kw == {"skip_symbolic_shape": True}
        assert Path(dst).parent.name.startswith("rtmotion-int8-") and not Path(dst).parent.exists()
        [(src2, dst2, kw2)] = static_calls
        assert src2 == dst and dst2 == str(out)
        assert kw2 == {
            "quant_format": ortq.QuantFormat.QDQ, "op_types_to_quantize": ["Conv"], "per_channel": True,
            "activation_type": ortq.QuantType.QInt8 if symmetric else ortq.QuantType.QUInt8,
            "weight_type": ortq.QuantType.QInt8, "calibrate_method": ortq.CalibrationMethod.MinMax,
            "calibration_providers": ["CPUExecutionProvider"],
            "extra_options": {"ActivationSymmetric": symmetric, "WeightSymmetric": True,
                              "QuantizeBias": not symmetric}}


def test_quantize_int8_logs_what_it_did(tmp_path, caplog) -> None:
    from rtmotion.export.int8 import quantize_int8

    fp32, out = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    _conv_graph(fp32)
    with caplog.at_level("INFO", logger="rtmotion.export.int8"):
        quantize_int8(fp32, out, _cal(frames=4), flavour="tensorrt")
    assert [r.getMessage() for r in caplog.records if r.name == "rtmotion.export.int8"] == [
        f"quantized {fp32} -> {out} (tensorrt, 4 calibration frames)"]


def test_quantize_int8_refusals_in_full(tmp_path) -> None:
    from rtmotion.errors import InputError
    from rtmotion.export.calibration import CalibrationSet
    from rtmotion.export.int8 import quantize_int8

    fp32 = tmp_path / "fp32.onnx"
    _conv_graph(fp32)
    with pytest.raises(InputError) as ei:
        quantize_int8(fp32, tmp_path / "a.onnx", _cal(), flavour="fp8")
    assert (ei.value.path, ei.value.problem, ei.value.hint) == (
        None, "unknown INT8 flavour 'fp8'", "use one of ('onnxruntime', 'tensorrt')")
    empty = CalibrationSet({"pose_maps": np.zeros((0, 3, 8, 8), np.float32)})
    with pytest.raises(InputError) as ei:
        quantize_int8(fp32, tmp_path / "b.onnx", empty)
    assert (ei.value.path, ei.value.problem, ei.value.hint) == (
        None, "the calibration set is empty", "record it with `rtmotion calibrate`")


def test_a_missing_onnxruntime_is_named_with_its_purpose(tmp_path, monkeypatch) -> None:
    """`onnxruntime` is a dependency of rtmotion itself (extra CORE = ()): the message says so."""
    import sys

    from rtmotion.errors import MissingDependencyError
    from rtmotion.export.int8 import int8_quality, make_reader

    monkeypatch.setitem(sys.modules, "onnxruntime.quantization", None)
    with pytest.raises(MissingDependencyError) as ei:
        make_reader(_cal(), ["pose_maps"])
    assert str(ei.value) == ("onnxruntime is not installed, but INT8 quantization needs it (install it "
                             "with: pip install onnxruntime (rtmotion itself depends on it))")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingDependencyError) as ei:
        int8_quality(tmp_path / "a.onnx", tmp_path / "b.onnx", _cal())
    assert str(ei.value) == ("onnxruntime is not installed, but checking INT8 quality needs it "
                             "(install it with: pip install onnxruntime (rtmotion itself depends on it))")


def test_inputs_are_fed_by_the_graphs_input_names(tmp_path) -> None:
    """A set that also holds an input the graph does not take (a generator without the
    previous-frame input) calibrates and is measured on the graph's own inputs."""
    import onnxruntime as ort

    from rtmotion.export.int8 import int8_quality, make_reader, quantize_int8

    fp32, out = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    _conv_graph(fp32, size=16)
    cal = _with_extra_input(_cal(size=16))
    reader = make_reader(cal, ["pose_maps"])
    assert list(reader.get_next()) == ["pose_maps"]
    quantize_int8(fp32, out, cal)
    plain = tmp_path / "plain.onnx"
    quantize_int8(fp32, plain, _cal(size=16))
    assert out.read_bytes() == plain.read_bytes()     # the same ranges: the extra array is unused
    q = int8_quality(fp32, out, cal, threads=1)
    s = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (fp32, out)]
    diffs = [np.abs(np.subtract(*(x.run(["frame"], cal.feeds(i, ["pose_maps"]))[0] for x in s))).max()
             for i in range(len(cal))]
    assert q["frames"] == len(cal) and q["max_abs_diff"] == round(float(max(diffs)), 5)


def test_int8_quality_compares_the_frame_output(tmp_path) -> None:
    """The generator's first output is `frame` (OUTPUT_NAMES[0]); a graph listing another output
    first is still judged on its frames, the numbers rounded to 5 decimals."""
    import onnxruntime as ort

    from rtmotion.export.int8 import int8_quality, quantize_int8

    fp32, out = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    _tail_graph(fp32, size=16)
    from rtmotion.export.calibration import CalibrationSet

    rng = np.random.default_rng(5)     # numbers whose 6th decimal is not 0
    quantize_int8(fp32, out, CalibrationSet({"pose_maps": rng.uniform(-1, 1, (4, 3, 16, 16)).astype(np.float32)}))
    held = CalibrationSet({"pose_maps": rng.uniform(-1, 1, (3, 3, 16, 16)).astype(np.float32)})
    q = int8_quality(fp32, out, held)
    s = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (fp32, out)]
    ssims, diffs = [], []
    for i in range(3):
        ref, q8 = (x.run(["frame"], held.feeds(i))[0] for x in s)
        diffs.append(float(np.abs(ref - q8).max()))
        ssims.append(ssim_uint8(to_uint8(ref)[0], to_uint8(q8)[0]))
    want = {"ssim_vs_fp32": float(np.mean(ssims)), "ssim_min": min(ssims), "max_abs_diff": max(diffs)}
    for key, value in want.items():    # rounded to exactly 5 decimals
        assert round(value, 6) != round(value, 5)
        assert q[key] == round(value, 5), key


def test_int8_quality_sessions_run_on_the_cpu_with_the_threads_asked(tmp_path, monkeypatch) -> None:
    import onnxruntime as ort

    from rtmotion.export.int8 import int8_quality

    fp32 = tmp_path / "fp32.onnx"
    _conv_graph(fp32, size=16)
    seen = []
    real = ort.InferenceSession

    def session(path, sess_options=None, providers=None, **kw):
        seen.append((sess_options.intra_op_num_threads if sess_options is not None else None, providers, kw))
        return real(path, sess_options, providers=providers, **kw)

    monkeypatch.setattr(ort, "InferenceSession", session)
    for threads, want in ((None, 0), (0, 0), (1, 1), (3, 3)):
        seen.clear()
        int8_quality(fp32, fp32, _cal(frames=1, size=16), **({} if threads is None else {"threads": threads}))
        assert seen == [(want, ["CPUExecutionProvider"], {})] * 2, (threads, seen)


def test_int8_quality_bound_is_inclusive(tmp_path, monkeypatch) -> None:
    """A mean SSIM exactly at INT8_MIN_SSIM passes the gate; one step below does not."""
    import rtmotion.export.int8 as int8

    fp32 = tmp_path / "fp32.onnx"
    _conv_graph(fp32)
    monkeypatch.setattr(int8, "ssim_uint8", lambda a, b: INT8_MIN_SSIM)
    q = int8.int8_quality(fp32, fp32, _cal(frames=2))
    assert (q["ssim_vs_fp32"], q["ssim_min"], q["within_bound"]) == (INT8_MIN_SSIM, INT8_MIN_SSIM, True)
    monkeypatch.setattr(int8, "ssim_uint8", lambda a, b: np.nextafter(INT8_MIN_SSIM, 0.0))
    assert int8.int8_quality(fp32, fp32, _cal(frames=2))["within_bound"] is False


def test_int8_quality_of_an_empty_held_out_set_measures_nothing(tmp_path) -> None:
    """No frame: nothing measured, so both SSIMs are 0.0 and the INT8 gate stays shut (this
    raised from np.min before, although the mean was already guarded)."""
    from rtmotion.export.calibration import CalibrationSet
    from rtmotion.export.int8 import int8_quality

    fp32 = tmp_path / "fp32.onnx"
    _conv_graph(fp32)
    empty = CalibrationSet({"pose_maps": np.zeros((0, 3, 8, 8), np.float32)})
    assert int8_quality(fp32, fp32, empty) == {
        "ssim_vs_fp32": 0.0, "ssim_min": 0.0, "max_abs_diff": 0.0, "frames": 0,
        "bound": INT8_MIN_SSIM, "within_bound": False}


def test_dequantize_input_types_reads_only_the_graph_not_its_weights(tmp_path) -> None:
    """A Q/DQ graph whose initializers live in an external data file is read without that file
    (only names and element types are needed); a zero point that is no initializer (a graph
    input here) leaves the ONNX default, uint8."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from rtmotion.export.int8 import dequantize_input_types

    inits = [numpy_helper.from_array(np.full(4096, 0.1, np.float32), "s"),
             numpy_helper.from_array(np.zeros(4096, np.int8), "w_q"),
             numpy_helper.from_array(np.zeros(4096, np.int8), "z8")]
    nodes = [helper.make_node("DequantizeLinear", ["w_q", "s", "z8"], ["w"], name="dq_w"),
             helper.make_node("QuantizeLinear", ["x", "s", "zin"], ["xq"], name="q_in"),
             helper.make_node("DequantizeLinear", ["xq", "s", "zin"], ["xd"], name="dq_in")]
    graph = helper.make_graph(nodes, "ext",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4096]),
                               helper.make_tensor_value_info("zin", TensorProto.INT8, [4096])],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, [4096]) for n in ("w", "xd")],
                              inits)
    path = tmp_path / "ext.onnx"
    onnx.save(helper.make_model(graph), str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.data", size_threshold=0)
    (tmp_path / "ext.data").unlink()
    assert dequantize_input_types(path) == {"dq_w": "INT8", "dq_in": "UINT8"}
