"""Face residual generator: refines the face crop of a generated frame."""

from __future__ import annotations

import torch
from torch import nn

from .global_generator import GlobalGenerator


class FaceResidualGenerator(nn.Module):
    """Predicts a residual ``r`` for the face crop of a generated frame.

    A :class:`GlobalGenerator` (release sizes: ngf 64, 3 downsamples, 5 residual blocks) takes the
    face crop of the stick figure and the face crop of the body generator's output, concatenated
    (6 channels). The refined face is ``image_crop + r``; the caller forms it, so the residual can be
    inspected and regularised on its own. ``r`` comes out of a tanh, so it lies in [-1, 1].

    Args:
        in_channels: channels of the two crops together (3 + 3).
        out_channels: channels of the residual.
        ngf: channels after the first convolution.
        n_downsample: stride-2 steps; crop sides must be divisible by ``2 ** n_downsample``.
        n_blocks: residual blocks.
        norm: ``"instance"``, ``"batch"`` or ``"none"``.
    """

    def __init__(
        self,
        in_channels: int = 6,
        out_channels: int = 3,
        ngf: int = 64,
        n_downsample: int = 3,
        n_blocks: int = 5,
        norm: str = "instance",
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.generator = GlobalGenerator(in_channels, out_channels, ngf, n_downsample, n_blocks, norm)

    def forward(self, stick_crop: torch.Tensor, image_crop: torch.Tensor) -> torch.Tensor:
        """Residual ``(B, out_channels, h, w)`` for the crops ``(B, 3, h, w)`` each."""
        if stick_crop.shape[0] != image_crop.shape[0] or stick_crop.shape[-2:] != image_crop.shape[-2:]:
            raise ValueError(
                f"stick and image crops must have the same batch size and size, got "
                f"{tuple(stick_crop.shape)} and {tuple(image_crop.shape)}"
            )
        return self.generator(torch.cat((stick_crop, image_crop), dim=1))
