"""rtmotion.models: the generator, face enhancer, discriminators and losses (torch only).

One network per file, each built from a dataclass in `rtmotion.models.config`:
generator.PoseGenerator (GeneratorConfig), face.FaceEnhancer (FaceConfig),
discriminator.MultiScalePatchDiscriminator / TemporalDiscriminator (DiscriminatorConfig),
losses, flops (params / FLOPs / timing), pix2pixhd_reference (the baseline).
"""

from rtmotion.models.config import (
    DEFAULT_PRESET,
    GENERATOR_PRESETS,
    DiscriminatorConfig,
    FaceConfig,
    GeneratorConfig,
    generator_preset,
)
from rtmotion.models.generator import GeneratorForExport, PoseGenerator, build_generator

__all__ = [
    "DEFAULT_PRESET",
    "GENERATOR_PRESETS",
    "DiscriminatorConfig",
    "FaceConfig",
    "GeneratorConfig",
    "GeneratorForExport",
    "PoseGenerator",
    "build_generator",
    "generator_preset",
]
