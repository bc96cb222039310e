"""The subject's face enhancer in ONNX Runtime (CPU), beside a compiled generator.

With a compiled generator on the CPU (ONNX Runtime, AOTInductor) the face enhancer was the one
network left in eager torch: ~10 ms of a frame on 2 cores, about half the generator's time. The
enhancer is small and its input is a fixed-size crop, so it is exported when a session opens
(in memory, a second or so: it is not worth an engine file) and run by ONNX Runtime; its output
is checked against torch on random inputs first, and torch keeps the job if they differ.
Measured in docs/BENCHMARKS.md (`rtmotion bench`).
"""

from __future__ import annotations

import copy
import io
import logging
import warnings
from typing import Any

import numpy as np
import torch

from rtmotion.lazy import CORE, require
from rtmotion.models.config import FaceConfig
from rtmotion.models.face import FaceEnhancer
from rtmotion.runtime.onnx_layout import cpu_session_model

log = logging.getLogger(__name__)

#: Largest |ONNX - torch| residual accepted (residuals are a few hundredths in [-1, 1] units).
FACE_ATOL = 1e-4
#: The TorchScript exporter at opset 17, as the generator's export (`rtmotion.export.onnx_export`).
OPSET = 17


class OnnxFaceEnhancer:
    """A `FaceEnhancer` in an ONNX Runtime session; called like it (eval mode, CPU tensors).

    Args:
        face: the enhancer (any device / dtype: a float32 CPU copy is exported).
        threads: intra-op threads (1 by default: a 64 px crop does not pay for a second).
    Raises:
        RuntimeError: the exported graph does not match torch within `FACE_ATOL`.
    """

    def __init__(self, face: FaceEnhancer, threads: int = 1) -> None:
        ort = require("onnxruntime", extra=CORE, purpose="the face enhancer in ONNX Runtime")
        module = copy.deepcopy(face).float().cpu().eval()
        self.config: FaceConfig = module.config
        s, cp = int(self.config.crop_size), int(self.config.pose_channels)
        g = torch.Generator().manual_seed(0)
        example = (torch.rand(1, 3, s, s, generator=g) * 2 - 1, torch.rand(1, cp, s, s, generator=g))
        buf = io.BytesIO()
        with torch.no_grad(), warnings.catch_warnings():
            # Expected: instance norm's "training mode" note, the tracer's constant shapes, the
            # TorchScript exporter's deprecation (the generator's export says the same).
            warnings.simplefilter("ignore")
            torch.onnx.export(module, example, buf, input_names=["frame_crop", "pose_crop"],
                              output_names=["enhanced", "residual"], opset_version=OPSET,
                              dynamo=False, do_constant_folding=True)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = int(threads)
        # No spinning: its worker threads would otherwise busy-wait after each call and take
        # the cores from the generator's session and the pipeline's other stages.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session: Any = ort.InferenceSession(cpu_session_model(buf.getvalue()), opts,
                                                  providers=["CPUExecutionProvider"])
        with torch.no_grad():
            want = module(*example)[1].numpy()
        got = self._run(example[0].numpy(), example[1].numpy())[1]
        self.max_abs_diff = float(np.abs(got - want).max())
        if not self.max_abs_diff <= FACE_ATOL:
            raise RuntimeError(f"face enhancer in ONNX Runtime differs from torch by "
                               f"{self.max_abs_diff:.2g} (> {FACE_ATOL})")

    def _run(self, frame_crop: np.ndarray, pose_crop: np.ndarray) -> list[np.ndarray]:
        return self._session.run(None, {"frame_crop": np.ascontiguousarray(frame_crop, np.float32),
                                        "pose_crop": np.ascontiguousarray(pose_crop, np.float32)})

    def __call__(self, frame_crop: torch.Tensor, pose_crop: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """As `FaceEnhancer.forward` (B x 3 x s x s in [-1, 1], B x Cp x s x s in [0, 1]) ->
        (enhanced, residual), float32 CPU tensors; the graph's batch is 1, so a batch is run
        item by item."""
        outs = [self._run(frame_crop[i:i + 1].detach().float().cpu().numpy(),
                          pose_crop[i:i + 1].detach().float().cpu().numpy())
                for i in range(frame_crop.shape[0])]
        enhanced = torch.from_numpy(np.concatenate([o[0] for o in outs]))
        residual = torch.from_numpy(np.concatenate([o[1] for o in outs]))
        return enhanced, residual


def face_for_runner(face: FaceEnhancer, runner_name: str, device: torch.device
                    ) -> FaceEnhancer | OnnxFaceEnhancer:
    """The face enhancer a synthesizer should run beside a generator runner: ONNX Runtime with
    a compiled generator on the CPU, the torch module otherwise (eager torch generators, GPUs,
    and `rtmotion eval`'s torch runs keep the reference computation)."""
    if device.type != "cpu" or runner_name == "torch":
        return face
    try:
        onnx_face = OnnxFaceEnhancer(face)
    except Exception as e:  # an exporter or onnxruntime failure must not stop a session
        log.warning("face enhancer stays in torch (%s)", str(e).splitlines()[0][:160])
        return face
    log.info("face enhancer: onnxruntime (max |diff| vs torch %.1g)", onnx_face.max_abs_diff)
    return onnx_face
