"""The real-time pose-to-image generator with soft-gated temporal blending (torch only).

EDN's generator sees the pose of frame t and its own previous output; here the previous output
is first warped to the current pose by the analytic pose flow (Soft-Gated Warping-GAN; the flow
and the warp run outside this network, so the exported graph needs no TensorRT plugin). The
network predicts a new frame and a soft gate, and returns

    frame = gate * warped_prev + (1 - gate) * synthesized

Inputs (all float32 or float16, N x C x H x W):
    pose_maps:   B x Cp x H x W in [0, 1]  (mapped to [-1, 1] inside the network)
    warped_prev: B x 3 x H x W in [-1, 1]  (the previous output warped to the current pose)
    prev_mask:   B x 1 x H x W in {0, 1}   (1 = the warped pixel is valid; 0 on the first frame
                 or where the warp sampled outside the frame). Optional in `forward` (default:
                 ones when warped_prev is given, zeros when it is not); a static-shape input of
                 the ONNX export when `use_prev_mask`. The gate is multiplied by it, so an
                 invalid pixel always takes the synthesized value, and the warped frame is
                 multiplied by it before entering the network (what lies under a zero mask is
                 never seen, so a dropped previous frame in training looks like a blank one).
First frame / no previous frame: pass `warped_prev=None` (or zeros with a zero mask).

With `config.background_plate` the network also holds the subject's clean background plate
(buffer `background`, 1 x 3 x H x W in [-1, 1], set with `set_background`) and sees it as 3 more
input channels; it is part of the weights, so callers and the ONNX inputs do not change.

With `config.use_reference` the generator also gets the subject's appearance reference (GEO,
Liquid Warping GAN): the keyframe nearest in pose warped to this pose (`ref_warped`), where that
warp is valid (`ref_mask`) and the keyframe unwarped (`ref_image`). Its head then gives three
logits, and the frame is a per-pixel masked softmax (`choose`) over four candidates:

    frame = w_prev * warped_prev + w_ref * ref_warped + w_key * ref_image + w_own * synthesized

with `gate` = w_prev. Real pixels of the target pass through where they fit, instead of being
redrawn from memory (blurred); the network draws what no keyframe shows. An untrained network
starts near the warped keyframe (`reference_bias_init`), so training is short.

With `config.plate_input` (a subject whose model frame follows the person, `rtmotion.subject.
follow`) the room behind each frame's box is an input, `plate` (B x 3 x H x W in [-1, 1]), seen
as 3 channels and a fifth candidate with its own logit: the background passes through as it
is, wherever the box has moved to.

Network: a U-Net (rtmotion.models.blocks.UNetBody): 3x3 stem (separable with `full_res`),
`n_down` stride-2 convs, `n_res` residual blocks at the bottleneck, nearest-upsampling decoder
with additive skips, and a 3x3 head giving 3 RGB channels (tanh) + 1 gate logit (sigmoid).

Measured with tools/model_size.py (GFLOPs = 2 x MACs per frame, convolutions only; CPU: torch
2.13, 2 threads, eager; GPU: H100, torch 2.11, fp32, CUDA-graph replay, batch 1):

    preset     params   GFLOPs 128/256/512   % of pix2pixHD   CPU ms 256   H100 ms 256 / 512
    tiny       0.37M    0.61 / 2.45 / 9.80        2.1%            41          0.5 / 1.1
    small      2.80M    1.46 / 5.86 / 23.4        4.9%            79          0.7 / 1.5
    base       12.5M    3.47 / 13.9 / 55.5       11.6%           132          1.0 / 1.9
    pix2pixHD  182.5M   29.8 / 119 / 476          100%           1035         2.9 / 6.2

"small" with separable convolutions at full resolution (`config.full_res="separable"`): 2.79M
params, 1.14 / 4.58 / 18.3 GFLOPs at 128/256/512; not a preset's choice (it drew a worse
demo-ada; docs/BENCHMARKS.md "A cheaper full-resolution path").

At batch 1 on an H100 these small networks are latency-bound (many small kernels; instance
norm is a separate kernel): with norm="none" (what a folded batch norm costs) "small" takes
0.44 / 0.74 ms in fp16 at 256 / 512 against 1.7 / 4.5 ms for pix2pixHD.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rtmotion.models.blocks import UNetBody
from rtmotion.models.config import GeneratorConfig


class PoseGenerator(nn.Module):
    """Pose maps (+ warped previous output) -> (frame, gate, synthesized).

    Built from a `GeneratorConfig`; `self.config` travels with checkpoints (`config.to_dict()`).
    """

    def __init__(self, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or GeneratorConfig()
        chans = config.channels()
        self.body = UNetBody(
            config.in_channels,
            chans,
            n_res=config.n_res,
            res_block=config.res_block,
            expand=config.expand,
            norm=config.norm,
            skip=config.skip,
            upsample=config.upsample,
            dec_blocks=config.dec_blocks,
            full_res=config.full_res,
        )
        self.head = nn.Conv2d(chans[0], config.out_channels, 3, 1, 1)  # RGB (+ gate logits)
        if config.use_prev:
            with torch.no_grad():
                self.head.bias[3].fill_(config.gate_bias_init)
        if config.use_reference:
            with torch.no_grad():
                self.head.bias[4].fill_(config.reference_bias_init)  # warped keyframe
                self.head.bias[5].fill_(0.0)                         # unwarped keyframe
        if config.plate_input:
            with torch.no_grad():
                self.head.bias[6].fill_(0.0)                         # the frame's plate
        if config.background_plate:
            w, h = config.resolution
            # Mid-grey until set: a generator built for a plate but never given one is usable.
            self.register_buffer("background", torch.zeros(1, 3, h, w))

    def set_background(self, plate: Any) -> None:
        """Store the background plate: uint8 H x W x 3 RGB (numpy or torch) at the config's
        resolution, or a float 1 x 3 x H x W tensor already in [-1, 1]."""
        if not self.config.background_plate:
            raise ValueError("this generator was built without background_plate")
        t = torch.as_tensor(plate)
        if t.dtype == torch.uint8:
            t = t.permute(2, 0, 1)[None].float() / 127.5 - 1.0
        if tuple(t.shape) != tuple(self.background.shape):
            raise ValueError(f"background plate has shape {tuple(t.shape)}, the generator needs "
                             f"{tuple(self.background.shape)} (uint8 H x W x 3 at its resolution)")
        with torch.no_grad():
            self.background.copy_(t.to(self.background.device, self.background.dtype))

    def forward(
        self,
        pose_maps: torch.Tensor,
        warped_prev: torch.Tensor | None = None,
        prev_mask: torch.Tensor | None = None,
        ref_warped: torch.Tensor | None = None,
        ref_mask: torch.Tensor | None = None,
        ref_image: torch.Tensor | None = None,
        plate: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Make one frame per batch item.

        Args:
            pose_maps: B x Cp x H x W, float in [0, 1].
            warped_prev: B x 3 x H x W, float in [-1, 1], or None (no previous frame).
            prev_mask: B x 1 x H x W, float in {0, 1} (or [0, 1]), or None (see module doc).
            ref_warped, ref_mask, ref_image (`use_reference` only): the nearest keyframe warped
                to this pose (B x 3 x H x W in [-1, 1]), where that warp is valid (B x 1 x H x W
                in [0, 1]: inside the keyframe and no ghost of its own person,
                `rtmotion.pipeline.reference`) and the keyframe unwarped (B x 3 x H x W in
                [-1, 1]). None: no
                reference (zeros, mask 0: neither keyframe candidate can be chosen).
            plate (`plate_input` only): B x 3 x H x W in [-1, 1], the background plate of this
                frame's box (`rtmotion.subject.follow`), a candidate everywhere. None: zeros.

        Returns:
            frame: B x 3 x H x W in [-1, 1], gate * warped_prev + (1 - gate) * synthesized.
            gate: B x 1 x H x W in [0, 1] (identically 0 when `use_prev` is False).
            synthesized: B x 3 x H x W in [-1, 1], the network's own image.
        """
        cfg = self.config
        b, c, h, w = pose_maps.shape
        # Under ONNX tracing, shapes are static and already checked by the exporter's inputs.
        if not torch.jit.is_tracing() and c != cfg.pose_channels:
            raise ValueError(f"pose_maps has {c} channels, the generator expects {cfg.pose_channels}")
        x = pose_maps * 2.0 - 1.0  # B x Cp x H x W in [-1, 1]
        plate_in = []
        if cfg.plate_input:
            # None: zeros (as the runners feed it); a follow-crop subject always has a plate.
            plate = x.new_zeros(b, 3, h, w) if plate is None else plate
            plate_ok = x.new_ones(b, 1, h, w)
            plate_in = [plate]
        elif cfg.background_plate:
            if not torch.jit.is_tracing() and (h, w) != tuple(self.background.shape[2:]):
                raise ValueError(f"pose_maps are {w}x{h} but this generator's background plate is "
                                 f"{self.background.shape[3]}x{self.background.shape[2]}")
            plate_in = [self.background.to(x.dtype).expand(b, -1, -1, -1)]
        if not cfg.use_prev:
            synthesized = torch.tanh(self.head(self.body(torch.cat([x, *plate_in], dim=1))))
            gate = torch.zeros_like(synthesized[:, :1])  # B x 1 x H x W
            return synthesized, gate, synthesized
        if warped_prev is None:
            warped_prev = x.new_zeros(b, 3, h, w)
            prev_mask = x.new_zeros(b, 1, h, w)
        elif prev_mask is None:
            prev_mask = x.new_ones(b, 1, h, w)
        # Invalid pixels are zeroed here, not left to the caller: the network then never sees
        # what lies under a zero mask, so training (where a dropped previous frame may still
        # hold a real image) and inference (where it is blank) agree.
        inputs = [x, warped_prev * prev_mask]
        if cfg.use_prev_mask:
            inputs.append(prev_mask * 2.0 - 1.0)
        inputs += plate_in
        if not cfg.use_reference:
            out = self.head(self.body(torch.cat(inputs, dim=1)))  # B x 4 x H x W
            synthesized = torch.tanh(out[:, :3])  # B x 3 x H x W in [-1, 1]
            gate = torch.sigmoid(out[:, 3:4]) * prev_mask  # B x 1 x H x W in [0, 1]
            frame = blend(gate, warped_prev, synthesized)
            return frame, gate, synthesized
        if ref_warped is None or ref_image is None:
            ref_warped, ref_image = x.new_zeros(b, 3, h, w), x.new_zeros(b, 3, h, w)
            ref_mask = x.new_zeros(b, 1, h, w)
        elif ref_mask is None:
            ref_mask = x.new_ones(b, 1, h, w)
        inputs += [ref_warped * ref_mask, ref_mask * 2.0 - 1.0, ref_image]
        out = self.head(self.body(torch.cat(inputs, dim=1)))  # B x (6 or 7) x H x W
        synthesized = torch.tanh(out[:, :3])                   # B x 3 x H x W in [-1, 1]
        # The unwarped keyframe is a candidate whenever there is a reference at all (any pixel
        # of its warp valid); zero inputs mean "no reference".
        has_ref = torch.amax(ref_mask, dim=(2, 3), keepdim=True)          # B x 1 x 1 x 1
        masks = [prev_mask, ref_mask, has_ref.expand_as(ref_mask)]
        candidates = [warped_prev, ref_warped, ref_image]
        if cfg.plate_input:
            masks.append(plate_ok)
            candidates.append(plate)
        weights = choose(out[:, 3:], torch.cat(masks, 1))
        gate = weights[:, 0:1]                                            # B x 1 x H x W
        frame = weights[:, 0:1] * candidates[0]
        for i, c in enumerate(candidates[1:], 1):
            frame = frame + weights[:, i:i + 1] * c
        frame = frame + weights[:, -1:] * synthesized
        return frame, gate, synthesized


def blend(gate: torch.Tensor, warped_prev: torch.Tensor, synthesized: torch.Tensor) -> torch.Tensor:
    """Soft-gated blend: gate * warped_prev + (1 - gate) * synthesized (B x 3 x H x W).

    Written in this form (not synthesized + gate * (warped_prev - synthesized)) because it is
    exact at both ends: gate = 1 gives warped_prev bit for bit, gate = 0 gives synthesized.
    """
    return gate * warped_prev + (1.0 - gate) * synthesized


def choose(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Per-pixel weights of the candidates of a frame: a masked softmax.

    Args:
        logits: B x M x H x W, the head's logits of M candidates (previous frame, warped
            keyframe, unwarped keyframe); the network's own image is a further candidate with a
            fixed logit 0.
        masks: B x M x H x W in [0, 1], where each candidate may be chosen.
    Returns:
        B x (M + 1) x H x W weights summing to 1 per pixel, the own image last; a masked
        candidate gets exactly 0. With M = 1 and a binary mask this is the sigmoid gate
        `sigmoid(l) * mask` of the generator without a reference.
    """
    full = torch.cat([logits, torch.zeros_like(logits[:, :1])], dim=1)
    # softmax(full) * mask, renormalized, is exp(full) * mask / sum(exp(full) * mask): written
    # out, the softmax's own denominator cancels, and ONNX Runtime's Softmax over the channel
    # axis of an NCHW tensor (a transpose each way: 1.9 of the generator's ~30 ms at 128x128 on
    # one CPU core) becomes a few element-wise ops. The max is subtracted for exp's range.
    e = torch.exp(full - full.amax(dim=1, keepdim=True))
    p = e * torch.cat([masks, torch.ones_like(masks[:, :1])], dim=1)
    return p / p.sum(dim=1, keepdim=True)  # the own image's share is > 0: never 0 / 0


#: Revision of the computation `forward` writes into an exported graph. Bump it when the graph
#: changes form for the same weights (an engine built from the old form still gives the same
#: frames, but slower or otherwise worse): it is part of every engine's cache key, so cached
#: engines are rebuilt once. 2: `choose` without a Softmax node (2026-12-03).
GRAPH_REVISION = 2


#: Every input a generator graph may take, in order (a model takes a prefix of these): the one
#: definition used by the ONNX export, the engines and the runners.
INPUT_NAMES: tuple[str, ...] = ("pose_maps", "warped_prev", "prev_mask", "ref_warped", "ref_mask",
                                "ref_image", "plate")

#: Channels of each input.
INPUT_CHANNELS: dict[str, int] = {"warped_prev": 3, "prev_mask": 1, "ref_warped": 3,
                                  "ref_mask": 1, "ref_image": 3, "plate": 3}


def input_names(config: GeneratorConfig) -> list[str]:
    """Names of the ONNX export's inputs, in order."""
    names = ["pose_maps"]
    if config.use_prev:
        names.append("warped_prev")
        if config.use_prev_mask:
            names.append("prev_mask")
    if config.use_reference:
        names += ["ref_warped", "ref_mask", "ref_image"]
    if config.plate_input:
        names.append("plate")
    return names


#: The generator graph's outputs (ONNX, engines, runners).
OUTPUT_NAMES: tuple[str, ...] = ("frame", "gate")


def input_shapes(config: GeneratorConfig, batch: int = 1) -> dict[str, tuple[int, int, int, int]]:
    """Static shapes of the export's inputs by name (N x C x H x W)."""
    w, h = config.resolution
    chans = {"pose_maps": config.pose_channels, **INPUT_CHANNELS}
    return {n: (batch, chans[n], h, w) for n in input_names(config)}


def example_inputs(
    config: GeneratorConfig,
    batch: int = 1,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Random inputs in the right ranges, by export input name (for export, parity, timing)."""
    g = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for name, shape in input_shapes(config, batch).items():
        t = torch.rand(shape, generator=g)
        if name in ("warped_prev", "ref_warped", "ref_image", "plate"):
            t = t * 2 - 1
        elif name in ("prev_mask", "ref_mask"):
            t = (t > 0.2).float()
        out[name] = t.to(device=device, dtype=dtype)
    return out


class GeneratorForExport(nn.Module):
    """What inference runs: named inputs -> (frame, gate); no `synthesized` output.

    Inputs in order `input_names(config)`: "pose_maps", then (when `use_prev`) "warped_prev",
    then (when `use_prev_mask`) "prev_mask", then (when `use_reference`) "ref_warped",
    "ref_mask", "ref_image", then (when `plate_input`) "plate". Outputs: "frame", "gate".
    """

    def __init__(self, generator: PoseGenerator) -> None:
        super().__init__()
        self.generator = generator
        self.input_names = input_names(generator.config)
        self.output_names = list(OUTPUT_NAMES)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if len(inputs) != len(self.input_names):
            raise ValueError(f"expected inputs {self.input_names}, got {len(inputs)} tensors")
        frame, gate, _ = self.generator(*inputs)
        return frame, gate


def build_generator(config: GeneratorConfig | dict | None = None) -> PoseGenerator:
    """PoseGenerator from a config or its `to_dict()` (as stored in checkpoints)."""
    if isinstance(config, dict):
        config = GeneratorConfig.from_dict(config)
    return PoseGenerator(config)
