"""Networks of the synthesis stage (pix2pixHD family): generators, discriminators, temporal wrapper."""

from .blocks import ResidualBlock, conv_bias, init_gan_weights, norm_layer
from .face_discriminator import FaceDiscriminator
from .face_generator import FaceResidualGenerator
from .global_generator import GlobalGenerator
from .local_enhancer import LocalEnhancer
from .multiscale_discriminator import MultiscaleDiscriminator
from .patch_discriminator import PatchDiscriminator
from .temporal import TemporalGenerator, discriminator_input

__all__ = [
    "FaceDiscriminator",
    "FaceResidualGenerator",
    "GlobalGenerator",
    "LocalEnhancer",
    "MultiscaleDiscriminator",
    "PatchDiscriminator",
    "ResidualBlock",
    "TemporalGenerator",
    "conv_bias",
    "discriminator_input",
    "init_gan_weights",
    "norm_layer",
]
