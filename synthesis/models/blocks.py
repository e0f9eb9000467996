"""Pieces shared by the synthesis networks: normalisation factory, residual block, initialisation."""

from __future__ import annotations

from typing import Literal, cast

import torch
from torch import nn

NORM_KINDS = ("instance", "batch", "none")
PADDING_MODES = ("reflect", "replicate", "zeros", "circular")
PaddingMode = Literal["reflect", "replicate", "zeros", "circular"]


def check_norm(norm: str) -> str:
    """Return ``norm`` if it names a supported normalisation, else raise a ValueError."""
    if norm not in NORM_KINDS:
        raise ValueError(f"norm must be one of {NORM_KINDS}, got {norm!r}")
    return norm


def check_padding_mode(padding_mode: str) -> PaddingMode:
    """Return ``padding_mode`` if ``nn.Conv2d`` accepts it, else raise a ValueError."""
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    return cast(PaddingMode, padding_mode)


def norm_layer(norm: str, channels: int) -> nn.Module:
    """Build the normalisation layer named by ``norm`` for ``channels`` feature maps.

    ``"instance"`` is ``InstanceNorm2d`` without affine parameters and without running statistics
    (pix2pixHD's choice: every image is normalised on its own, in training and at inference);
    ``"batch"`` is ``BatchNorm2d``; ``"none"`` is the identity.
    """
    check_norm(norm)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


def conv_bias(norm: str) -> bool:
    """Whether a convolution followed by ``norm`` should have a bias.

    Instance and batch normalisation subtract the per-channel mean, which cancels a bias exactly: the
    bias would be a parameter that never receives a gradient, so it is left out.
    """
    return check_norm(norm) == "none"


class ResidualBlock(nn.Module):
    """Two 3×3 convolutions with normalisation and a ReLU between them, added to the input.

    There is no activation after the addition, so the block can pass its input through unchanged.

    Args:
        channels: number of input (and output) feature maps.
        norm: ``"instance"``, ``"batch"`` or ``"none"``.
        padding_mode: padding of the 3×3 convolutions (``"reflect"`` avoids dark borders).
    """

    def __init__(self, channels: int, norm: str = "instance", padding_mode: str = "reflect") -> None:
        super().__init__()
        padding = check_padding_mode(padding_mode)
        bias = conv_bias(norm)
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode=padding, bias=bias),
            norm_layer(norm, channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode=padding, bias=bias),
            norm_layer(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def init_gan_weights(module: nn.Module) -> None:
    """Initialise a network the way the pix2pix family does: N(0, 0.02) convolution weights.

    Batch-norm scales start at N(1, 0.02); biases start at zero. Apply with ``net.apply(...)``.
    """
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
