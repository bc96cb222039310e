"""rtmotion.runtime.onnx_layout: convolutions padded to ONNX Runtime's channel block give the
same outputs, and only the convolutions that need it are padded (real ONNX export and sessions)."""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from rtmotion.runtime.onnx_layout import CHANNEL_BLOCK, cpu_session_model, pad_conv_inputs


class _Net(nn.Module):
    """13 channels in (padded), an RGB-like 3-channel branch (too narrow: left), a grouped conv
    (left) and a 16-channel conv (a multiple: left)."""

    def __init__(self) -> None:
        super().__init__()
        self.wide = nn.Conv2d(13, 16, 3, padding=1)
        self.grouped = nn.Conv2d(16, 16, 3, padding=1, groups=4)
        self.plain = nn.Conv2d(16, 8, 1)
        self.rgb = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
        return self.plain(self.grouped(torch.relu(self.wide(x)))) + self.rgb(img)


def _export() -> bytes:
    torch.manual_seed(0)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Net().eval(), (torch.rand(1, 13, 12, 10), torch.rand(1, 3, 12, 10)), buf,
                          input_names=["x", "img"], output_names=["y"], opset_version=17,
                          dynamo=False, do_constant_folding=True)
    return buf.getvalue()


def _run(model: bytes, feeds: dict[str, np.ndarray]) -> np.ndarray:
    return ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def test_only_the_wide_ungrouped_conv_is_padded_and_the_outputs_agree() -> None:
    plain = _export()
    model = onnx.load_from_string(plain)
    assert pad_conv_inputs(model) == 1
    onnx.checker.check_model(model)
    weights = {t.name: t for t in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    cins = sorted(onnx.numpy_helper.to_array(weights[n.input[1]]).shape[1] for n in convs)
    assert cins == [3, 4, 16, 16]  # 13 -> 16; the RGB conv, the grouped one and 16 unchanged
    assert sum(n.op_type == "Pad" for n in model.graph.node) == 1
    rng = np.random.default_rng(1)
    feeds = {"x": rng.random((1, 13, 12, 10), np.float32), "img": rng.random((1, 3, 12, 10), np.float32)}
    np.testing.assert_allclose(_run(model.SerializeToString(), feeds), _run(plain, feeds), atol=1e-5)


def test_a_graph_that_needs_nothing_is_handed_on_as_it_is() -> None:
    padded = cpu_session_model(_export())
    assert isinstance(padded, bytes)
    again = onnx.load_from_string(padded)
    assert pad_conv_inputs(again) == 0  # every conv is a multiple of the block now
    assert cpu_session_model(padded) is padded
    assert CHANNEL_BLOCK == 8
