"""Export the generator to ONNX (static shapes, opset 17) and check it against torch.

The exported graph is `GeneratorForExport`: inputs "pose_maps" (B x Cp x H x W, [0, 1]),
"warped_prev" (B x 3 x H x W, [-1, 1]) and "prev_mask" (B x 1 x H x W, {0, 1}) -- the last two
only when the config uses them (`rtmotion.models.generator.input_names`) -- and outputs "frame"
(B x 3 x H x W, [-1, 1]) and "gate" (B x 1 x H x W, [0, 1]). All float32. Flow and warp are not
in the graph (they run before it), so TensorRT needs no plugin: the ops are Conv, Relu,
InstanceNormalization (or folded BatchNorm), Resize(nearest), Add, Concat, Slice, Mul, Sub,
Tanh, Sigmoid.

The graph carries its own description in the model's metadata: "rtmotion.generator_config"
(the GeneratorConfig as JSON), "rtmotion.input_names", "rtmotion.output_names",
"rtmotion.batch".

The TorchScript-based exporter (`dynamo=False`) is used with opset 17 (`OPSET`): it needs no
onnxscript, and gives a plain static graph. Both are passed explicitly (`dynamo=`,
`opset_version=`), as recent torch changes the defaults.

Parity: `check_onnx_parity` runs the graph in ONNX Runtime and the module in torch on the same
inputs -- recorded real ones (a calibration set) when given, else random ones in the real
ranges -- and raises ParityError above `atol` (the engine cache uses 2e-3, a quarter of one
8-bit grey level; measured: 5.5e-5 at 128x128 and 6e-4 at 256x256 for demo-ada, from ONNX
Runtime's own instance-norm and conv accumulation order; a wrong graph is off by far more).
"""

from __future__ import annotations

import copy
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from rtmotion.atomic import atomic_path
from rtmotion.errors import InputError, RtmotionError
from rtmotion.lazy import CORE, require
from rtmotion.models.generator import (
    OUTPUT_NAMES,
    GeneratorForExport,
    PoseGenerator,
    example_inputs,
    input_names,
)

log = logging.getLogger(__name__)

OPSET = 17


class ParityError(RtmotionError):
    """The exported graph's outputs differ from torch's by more than the tolerance."""


def export_generator_onnx(
    generator: PoseGenerator,
    path: str | Path,
    batch: int = 1,
    opset_version: int = OPSET,
) -> Path:
    """Write `generator` as an ONNX graph with static shapes at its config's resolution.

    The generator is copied to CPU float32 in eval mode (the caller's module is untouched; batch
    norm uses its running statistics and is folded into the convs by the exporter's constant
    folding). The file appears under `path` only when complete and valid (`onnx.checker`).

    Args:
        generator: a PoseGenerator (its `config` fixes channels and resolution).
        path: output .onnx file.
        batch: the static batch size.
        opset_version: ONNX opset (17 by default: InstanceNormalization, Resize, all native in
            TensorRT 8.6+).

    Returns:
        The path written.
    """
    onnx = require("onnx", extra=CORE, purpose="ONNX export")
    path = Path(path)
    cfg = generator.config
    model = GeneratorForExport(copy.deepcopy(generator).float().cpu().eval())
    inputs = tuple(example_inputs(cfg, batch=batch).values())
    with atomic_path(path) as tmp:
        with torch.no_grad(), warnings.catch_warnings():
            # Instance norm always normalises with the input's own statistics; the exporter's
            # "train=True" warning about it is expected.
            warnings.filterwarnings("ignore", message=".*instance_norm.*", category=UserWarning)
            # Shape checks inside torch modules become constants in the trace: that is what a
            # static-shape export wants. The TorchScript exporter also warns it is deprecated.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model,
                inputs,
                str(tmp),
                input_names=model.input_names,
                output_names=model.output_names,
                opset_version=opset_version,
                dynamo=False,
                do_constant_folding=True,
                dynamic_axes=None,  # static shapes for TensorRT
            )
        proto = onnx.load(str(tmp))
        meta = {
            "rtmotion.generator_config": json.dumps(cfg.to_dict()),
            "rtmotion.input_names": json.dumps(model.input_names),
            "rtmotion.output_names": json.dumps(model.output_names),
            "rtmotion.batch": str(batch),
        }
        for k, v in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = k, v
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
    log.info("exported generator (%s, batch %d) to %s", cfg.resolution, batch, path)
    return path


def _session(path: Path, threads: int = 0):
    ort = require("onnxruntime", extra=CORE, purpose="checking an ONNX export")
    if not path.is_file():
        raise InputError(path, "ONNX file not found", "export it first")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads if threads > 0 else 2
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def check_onnx_parity(
    generator: PoseGenerator, path: str | Path, atol: float = 1e-4, seed: int = 0,
    inputs: dict[str, np.ndarray] | None = None, threads: int = 0,
) -> float:
    """Run the ONNX graph (onnxruntime, CPU) and the torch module on the same inputs.

    Args:
        generator: the module the graph was exported from.
        path: the .onnx graph.
        atol: the largest absolute difference allowed (outputs are in [-1, 1] / [0, 1]).
        seed: for random inputs when `inputs` is None: the graph's static shapes and the
            ranges of real inputs (pose maps in [0, 1], warped frame in [-1, 1], a 0/1 mask).
        inputs: recorded real inputs by input name, N x C x H x W float32 each (e.g. a
            calibration set's `arrays`); run in batches of the graph's static batch size
            (N is cut to a multiple of it).
        threads: onnxruntime intra-op threads (0: 2).
    Returns:
        The largest absolute difference over both outputs and all inputs.
    Raises:
        ParityError: the difference exceeds `atol` (or the graph's inputs/outputs are not the
            ones this generator's config expects).
    """
    path = Path(path)
    sess = _session(path, threads)
    cfg = generator.config
    names = [i.name for i in sess.get_inputs()]
    if names != input_names(cfg):
        raise ParityError(f"{path}: graph inputs {names}, the generator expects {input_names(cfg)}")
    batch = int(sess.get_inputs()[0].shape[0])
    if inputs is None:
        batches = [{k: v.numpy() for k, v in example_inputs(cfg, batch=batch, seed=seed).items()}]
    else:
        n = (min(len(inputs[k]) for k in names) // batch) * batch
        if n == 0:
            raise ParityError(f"{path}: fewer recorded inputs than the graph's batch {batch}")
        batches = [{k: np.ascontiguousarray(inputs[k][i : i + batch], np.float32) for k in names}
                   for i in range(0, n, batch)]
    model = GeneratorForExport(copy.deepcopy(generator).float().cpu().eval())
    diff = 0.0
    for feeds in batches:
        onnx_out = sess.run(list(OUTPUT_NAMES), feeds)
        with torch.no_grad():
            torch_out = [t.numpy() for t in model(*(torch.from_numpy(feeds[k]) for k in names))]
        diff = max(diff, *(float(np.abs(a - b).max())
                           for a, b in zip(onnx_out, torch_out, strict=True)))
    log.info("ONNX parity %s: max abs diff %.3g over %d batch(es) of %s inputs (atol %.3g)",
             path, diff, len(batches), "random" if inputs is None else "recorded", atol)
    if not diff <= atol:
        raise ParityError(f"{path}: ONNX Runtime and torch differ by {diff:.3g} > {atol:.3g}")
    return diff
