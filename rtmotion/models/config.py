"""Dataclass configurations of rtmotion's networks and losses.

Every network is built from one of these, and checkpoints store `to_dict()` next to the weights
so a checkpoint describes itself (nanoGPT habit). `from_dict` rejects unknown keys with a clear
error instead of silently ignoring them (a typo in a config must not train the wrong model).

This module imports only the standard library.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any, TypeVar

_T = TypeVar("_T")

NORMS = ("instance", "batch", "none")
UPSAMPLES = ("nearest_conv", "transposed")
SKIPS = ("add", "concat", "none")
RES_BLOCKS = ("plain", "dwsep")
FULL_RES = ("dense", "separable")
GAN_MODES = ("hinge", "lsgan")


def _from_dict(cls: type[_T], data: dict[str, Any]) -> _T:
    """Build dataclass `cls` from a plain dict (as written by `to_dict`), tuples restored."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {unknown} (known: {sorted(names)})")
    kwargs = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            v = data[f.name]
            # JSON turns tuples into lists; the configs use tuples for sizes.
            kwargs[f.name] = tuple(v) if isinstance(v, list) else v
    return cls(**kwargs)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {choices}")


@dataclass(frozen=True)
class GeneratorConfig:
    """The pose-to-image generator (`rtmotion.models.generator.PoseGenerator`).

    Attributes:
        resolution: (W, H) in pixels of the frames it makes; both must be divisible by
            2**n_down. The network itself is fully convolutional; the resolution fixes the
            static shapes of the ONNX export and the FLOPs reported.
        pose_channels: number of conditioning channels (`PoseMapConfig(...).num_channels`,
            24 bones + 1 face = 25 by default), each float in [0, 1].
        base_channels: channels at full resolution; doubled at each downsampling.
        max_channels: cap on the channel count at the low resolutions.
        n_down: number of stride-2 downsamplings (the bottleneck is at 1 / 2**n_down).
        n_res: residual blocks at the bottleneck.
        res_block: "plain" (two dense 3x3 convs) or "dwsep" (inverted residual: 1x1 expand,
            depthwise 3x3, 1x1 project; far fewer FLOPs at wide bottlenecks).
        expand: expansion ratio of "dwsep" blocks.
        dec_blocks: extra plain residual blocks after each decoder upsampling (quality knob).
        skip: how encoder features reach the decoder: "add" (cheap), "concat" + 1x1 fuse, "none".
        full_res: the convolutions at full resolution (the stem and the last decoder refinement;
            a third of the "small" preset's FLOPs at 128x128): "dense" (3x3 convs) or
            "separable" (the stem a 1x1 then a depthwise 3x3, the refinement a depthwise 3x3
            then a 1x1: the same receptive field for ~1/7 of their MACs).
        use_prev: feed the warped previous output frame and predict the soft gate (EDN temporal
            smoothing + Soft-Gated Warping). False: the gate is identically 0.
        use_prev_mask: also feed a (B, 1, H, W) validity mask of the warped previous frame
            (1 = valid, 0 = no previous frame / sampled outside the frame); the gate is
            multiplied by it, so an invalid pixel can never take the warped value.
        norm: "instance" (pix2pixHD's choice; ONNX InstanceNormalization, a native layer in
            TensorRT >= 8.6), "batch" (folds into the convs at export: fastest), "none".
        upsample: "nearest_conv" (nearest x2 then 3x3 conv: no checkerboard) or "transposed".
        gate_bias_init: initial bias of the gate logit (0 -> gate starts at 0.5).
        background_plate: the network holds the target's clean background plate (a 1 x 3 x H x W
            buffer at `resolution`, saved with the weights; rtmotion.train.background) and sees
            it as 3 more input channels, so it only has to draw the person. A constant of the
            ONNX graph, not an input: the plate belongs to the subject like the weights do.
        use_reference: feed the subject's appearance reference (GEO / Liquid Warping GAN): the
            keyframe nearest in pose warped to the current pose (`ref_warped`, 3 channels), its
            warp validity (`ref_mask`, 1) and the keyframe as it is (`ref_image`, 3). The frame
            is then a soft choice per pixel among four candidates (the warped previous output,
            the warped keyframe, the unwarped keyframe, the network's own image), weights from a
            masked softmax, so real pixels pass through where they fit instead of being redrawn.
            Needs `use_prev` and `use_prev_mask`.
        reference_bias_init: initial logit of the warped-keyframe candidate (the others start at
            0): 2.0 makes an untrained generator return ~70 % of the warped keyframe, so training
            starts from the reference's look and learns where to leave it.
        plate_input: the background plate of each frame is an input (`plate`, 3 channels in
            [-1, 1]: the subject's full-resolution plate cropped with the frame's follow box,
            `rtmotion.subject.follow`) and one more candidate of the frame (its own logit), so
            the room is passed through as it is and the network only draws the person. For a
            crop that moves with the person; excludes `background_plate` (a fixed plate).
            Needs `use_reference`.
    """

    resolution: tuple[int, int] = (256, 256)
    pose_channels: int = 25
    base_channels: int = 32
    max_channels: int = 256
    n_down: int = 3
    n_res: int = 4
    res_block: str = "dwsep"
    expand: int = 2
    dec_blocks: int = 0
    skip: str = "add"
    full_res: str = "dense"
    use_prev: bool = True
    use_prev_mask: bool = True
    norm: str = "instance"
    upsample: str = "nearest_conv"
    gate_bias_init: float = 0.0
    background_plate: bool = False
    use_reference: bool = False
    reference_bias_init: float = 2.0
    plate_input: bool = False

    def __post_init__(self) -> None:
        w, h = self.resolution
        step = 2**self.n_down
        if w <= 0 or h <= 0 or w % step or h % step:
            raise ValueError(
                f"resolution {self.resolution} must be positive and divisible by 2**n_down={step}"
            )
        if self.pose_channels < 1 or self.base_channels < 1 or self.n_down < 0 or self.n_res < 0:
            raise ValueError(f"invalid GeneratorConfig sizes: {self}")
        _check_choice("norm", self.norm, NORMS)
        _check_choice("upsample", self.upsample, UPSAMPLES)
        _check_choice("skip", self.skip, SKIPS)
        _check_choice("res_block", self.res_block, RES_BLOCKS)
        _check_choice("full_res", self.full_res, FULL_RES)
        if self.use_reference and not (self.use_prev and self.use_prev_mask):
            raise ValueError("use_reference needs use_prev and use_prev_mask")
        if self.plate_input and (self.background_plate or not self.use_reference):
            raise ValueError("plate_input needs use_reference and excludes background_plate")

    @property
    def in_channels(self) -> int:
        """Channels of the network's input tensor: pose maps (+ warped prev RGB (+ mask))
        (+ background plate RGB) (+ warped keyframe RGB, its mask, keyframe RGB) (+ plate RGB)."""
        prev = 3 + int(self.use_prev_mask) if self.use_prev else 0
        ref = 7 if self.use_reference else 0
        plate = 3 if self.background_plate or self.plate_input else 0
        return self.pose_channels + prev + plate + ref

    @property
    def out_channels(self) -> int:
        """Channels of the network's head: RGB (+ prev gate logit) (+ warped / unwarped
        keyframe logits) (+ plate logit)."""
        return 3 + int(self.use_prev) + 2 * int(self.use_reference) + int(self.plate_input)

    def channels(self) -> list[int]:
        """Channel count at each level, full resolution first (length n_down + 1)."""
        return [min(self.base_channels * 2**i, self.max_channels) for i in range(self.n_down + 1)]

    def with_(self, **changes: Any) -> GeneratorConfig:
        """A copy with some fields changed (e.g. `.with_(resolution=(512, 512))`)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists in JSON; `from_dict` restores them)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        """Inverse of `to_dict`; raises ValueError on unknown keys or invalid values."""
        return _from_dict(cls, data)


# Named sizes. "small" is the default; FLOPs/params/CPU time of each are in
# tools/model_size.py's report (numbers in the docstring of rtmotion/models/generator.py).
GENERATOR_PRESETS: dict[str, GeneratorConfig] = {
    # For tests, CPU training of the demo subject and slow machines (~2% of pix2pixHD's FLOPs).
    "tiny": GeneratorConfig(base_channels=16, max_channels=128, n_down=3, n_res=3),
    # The default: real time at 256 and 512 (< 5% of pix2pixHD's FLOPs at every resolution).
    # Dense at full resolution: the separable form (`full_res`) was 14 % faster in ONNX Runtime
    # fp32 but drew a worse demo-ada (docs/BENCHMARKS.md "A cheaper full-resolution path").
    "small": GeneratorConfig(base_channels=24, max_channels=256, n_down=4, n_res=6),
    # More capacity where the person's appearance is composed: plain residual blocks at 1/16.
    "base": GeneratorConfig(
        base_channels=32, max_channels=256, n_down=4, n_res=9, res_block="plain"
    ),
}
DEFAULT_PRESET = "small"


def generator_preset(
    name: str = DEFAULT_PRESET, resolution: tuple[int, int] | None = None, **changes: Any
) -> GeneratorConfig:
    """The named preset, optionally at another resolution / with other fields changed."""
    if name not in GENERATOR_PRESETS:
        raise ValueError(f"unknown generator preset {name!r} (known: {sorted(GENERATOR_PRESETS)})")
    cfg = GENERATOR_PRESETS[name]
    if resolution is not None:
        changes["resolution"] = tuple(resolution)
    return cfg.with_(**changes) if changes else cfg


@dataclass(frozen=True)
class FaceConfig:
    """The optional face enhancer (`rtmotion.models.face.FaceEnhancer`), EDN's face GAN.

    Attributes:
        crop_size: side in pixels of the square crop the enhancer works on (fixed: static shapes).
        pose_channels: conditioning channels cropped along with the frame.
        base_channels: channels at the crop's full resolution.
        n_down: downsamplings inside the enhancer.
        n_res: residual blocks at its bottleneck.
        norm: as in GeneratorConfig.
        box_scale: crop side = box_scale x head size (see `rtmotion.pose.boxes.face_crop_box`), unless a fixed side is given.
    """

    crop_size: int = 64
    pose_channels: int = 25
    base_channels: int = 32
    n_down: int = 2
    n_res: int = 3
    norm: str = "instance"
    box_scale: float = 2.2

    def __post_init__(self) -> None:
        if self.crop_size % (2**self.n_down):
            raise ValueError(f"crop_size {self.crop_size} must be divisible by 2**n_down")
        _check_choice("norm", self.norm, NORMS)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaceConfig:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class DiscriminatorConfig:
    """A multi-scale PatchGAN (pix2pixHD's D; also the temporal D's body).

    Attributes:
        num_scales: discriminators, each on the input average-pooled once more.
        base_channels: channels of the first conv (ndf).
        n_layers: stride-2 conv layers of each PatchGAN (3 -> 70x70 receptive field).
        norm: "instance", "batch" or "none" (spectral norm usually goes with "none").
        spectral_norm: wrap every conv in torch's spectral norm.
    """

    num_scales: int = 2
    base_channels: int = 64
    n_layers: int = 3
    norm: str = "instance"
    spectral_norm: bool = False

    def __post_init__(self) -> None:
        _check_choice("norm", self.norm, NORMS)
        if self.num_scales < 1 or self.n_layers < 1:
            raise ValueError(f"invalid DiscriminatorConfig sizes: {self}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiscriminatorConfig:
        return _from_dict(cls, data)


__all__ = [
    "DEFAULT_PRESET",
    "DiscriminatorConfig",
    "FaceConfig",
    "GENERATOR_PRESETS",
    "GeneratorConfig",
    "generator_preset",
]
