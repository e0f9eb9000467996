"""Face discriminator: one 70×70 PatchGAN on the face crop and its stick-figure crop."""

from __future__ import annotations

import torch
from torch import nn

from .patch_discriminator import PatchDiscriminator


class FaceDiscriminator(nn.Module):
    """A single :class:`PatchDiscriminator` conditioned on the face crop of the stick figure.

    Args:
        in_channels: channels of the stick crop and the image crop together (3 + 3).
        ndf: channels of the first layer.
        n_layers: stride-2 layers (3 gives the 70×70 PatchGAN).
        norm: ``"instance"``, ``"batch"`` or ``"none"``.

    ``forward(stick_crop, image_crop)`` returns the discriminator's features, the last being the
    prediction map, like :class:`PatchDiscriminator`.
    """

    def __init__(
        self, in_channels: int = 6, ndf: int = 64, n_layers: int = 3, norm: str = "instance"
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.discriminator = PatchDiscriminator(in_channels, ndf, n_layers, norm)

    def forward(self, stick_crop: torch.Tensor, image_crop: torch.Tensor) -> list[torch.Tensor]:
        return self.discriminator(torch.cat((stick_crop, image_crop), dim=1))
