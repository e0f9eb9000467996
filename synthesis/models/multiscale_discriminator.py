"""Several PatchGAN discriminators on the image at decreasing resolutions."""

from __future__ import annotations

import torch
from torch import nn

from .patch_discriminator import PatchDiscriminator


class MultiscaleDiscriminator(nn.Module):
    """``num_d`` independent :class:`PatchDiscriminator` s on the input downsampled ×1, ×2, ×4, …

    The coarse scales judge global structure with the same 70×70 patch size, the fine scale judges
    detail. Downsampling is a 3×3 average pool, stride 2, padding 1, padding not counted.

    Args:
        in_channels: channels of the input (conditioning and image concatenated).
        ndf: channels of each discriminator's first layer.
        n_layers: stride-2 layers of each discriminator.
        num_d: number of scales.
        norm: ``"instance"``, ``"batch"`` or ``"none"``.

    ``forward`` returns one list of features per scale (see :class:`PatchDiscriminator`), index 0
    the full resolution, then ×2 downsampled, ×4, …
    """

    def __init__(
        self, in_channels: int, ndf: int = 64, n_layers: int = 3, num_d: int = 3, norm: str = "instance"
    ) -> None:
        super().__init__()
        if num_d < 1:
            raise ValueError(f"num_d must be >= 1, got {num_d}")
        self.in_channels = in_channels
        self.num_d = num_d
        self.n_layers = n_layers
        self.discriminators = nn.ModuleList(
            PatchDiscriminator(in_channels, ndf, n_layers, norm) for _ in range(num_d)
        )
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        outputs: list[list[torch.Tensor]] = []
        for index, discriminator in enumerate(self.discriminators):
            if index > 0:
                x = self.downsample(x)
            outputs.append(discriminator(x))
        return outputs
