"""PatchGAN discriminator that also returns its intermediate features (for feature matching)."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import conv_bias, init_gan_weights, norm_layer

# 4×4 kernels padded by 2 (as pix2pixHD): the maps stay larger than with padding 1, so the coarsest
# scale of a multi-scale discriminator still works on small training crops.
_KERNEL = 4
_PADDING = 2
_MAX_CHANNELS = 512


class PatchDiscriminator(nn.Module):
    """Fully convolutional discriminator that scores overlapping patches of its input.

    Layers: a stride-2 4×4 convolution to ``ndf`` channels with LeakyReLU(0.2) (no normalisation);
    ``n_layers - 1`` further stride-2 convolutions doubling the channels (at most 512), each with
    normalisation and LeakyReLU; one stride-1 convolution (doubling again, at most 512) with
    normalisation and LeakyReLU; a stride-1 convolution to one channel (the prediction map, no
    activation: the LSGAN loss regresses it to 1 or 0).

    With ``n_layers = 3`` each prediction sees a 70×70 patch of the input (the 70×70 PatchGAN).

    Args:
        in_channels: channels of the input (conditioning and image concatenated).
        ndf: channels of the first layer.
        n_layers: number of stride-2 layers.
        norm: ``"instance"``, ``"batch"`` or ``"none"``.

    ``forward`` returns the ``n_layers + 2`` outputs of all layers, in order; the last is the
    prediction map ``(B, 1, h, w)``, the others are the features matched by the feature matching loss.
    """

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: str = "instance") -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        self.in_channels = in_channels
        self.n_layers = n_layers
        bias = conv_bias(norm)

        blocks: list[nn.Module] = [
            nn.Sequential(
                nn.Conv2d(in_channels, ndf, _KERNEL, stride=2, padding=_PADDING),
                nn.LeakyReLU(0.2, inplace=True),
            )
        ]
        channels = ndf
        for index in range(1, n_layers + 1):
            # The last of these keeps the resolution (stride 1), as in the 70×70 PatchGAN.
            stride = 2 if index < n_layers else 1
            out = min(channels * 2, _MAX_CHANNELS)
            blocks.append(
                nn.Sequential(
                    nn.Conv2d(channels, out, _KERNEL, stride=stride, padding=_PADDING, bias=bias),
                    norm_layer(norm, out),
                    nn.LeakyReLU(0.2, inplace=True),
                )
            )
            channels = out
        blocks.append(nn.Sequential(nn.Conv2d(channels, 1, _KERNEL, stride=1, padding=_PADDING)))
        self.blocks = nn.ModuleList(blocks)
        self.apply(init_gan_weights)

    @staticmethod
    def receptive_field(n_layers: int = 3) -> int:
        """Side in pixels of the input patch that one prediction sees."""
        strides = [2] * n_layers + [1, 1]
        field = 1
        for stride in reversed(strides):
            field = (field - 1) * stride + _KERNEL
        return field

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs: list[torch.Tensor] = []
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        return outputs
