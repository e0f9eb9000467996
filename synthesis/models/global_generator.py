"""The global generator of pix2pixHD: an encoder, residual blocks and a mirrored decoder."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint_sequential

from .blocks import ResidualBlock, check_padding_mode, conv_bias, init_gan_weights, norm_layer


class GlobalGenerator(nn.Module):
    """Image-to-image generator: stick figure (plus previous frame) in, RGB frame out.

    Layout: 7×7 convolution to ``ngf`` channels; ``n_downsample`` stride-2 3×3 convolutions, each
    doubling the channels; ``n_blocks`` residual blocks; mirrored stride-2 transposed convolutions,
    each halving the channels; 7×7 convolution to ``out_channels``; tanh. Every hidden convolution is
    followed by the normalisation and a ReLU.

    The input's height and width must be divisible by ``2 ** n_downsample`` so the decoder returns
    exactly the input resolution.

    Args:
        in_channels: input channels (6: stick figure + previous generated frame; 3 without the
            temporal input).
        out_channels: output channels (3, RGB in [-1, 1]).
        ngf: channels after the first convolution.
        n_downsample: number of stride-2 downsampling (and upsampling) steps.
        n_blocks: number of residual blocks at the bottleneck.
        norm: ``"instance"``, ``"batch"`` or ``"none"``.
        padding_mode: padding of the 7×7 and residual convolutions; the stride-2 convolutions
            zero-pad, as in pix2pixHD.
    """

    def __init__(
        self,
        in_channels: int = 6,
        out_channels: int = 3,
        ngf: int = 64,
        n_downsample: int = 4,
        n_blocks: int = 9,
        norm: str = "instance",
        padding_mode: str = "reflect",
    ) -> None:
        super().__init__()
        padding = check_padding_mode(padding_mode)
        if n_downsample < 0 or n_blocks < 0:
            raise ValueError(f"n_downsample and n_blocks must be >= 0, got {n_downsample}, {n_blocks}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.ngf = ngf
        self.n_downsample = n_downsample
        bias = conv_bias(norm)

        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, ngf, 7, padding=3, padding_mode=padding, bias=bias),
            norm_layer(norm, ngf),
            nn.ReLU(inplace=True),
        ]
        channels = ngf
        for _ in range(n_downsample):
            layers += [
                nn.Conv2d(channels, channels * 2, 3, stride=2, padding=1, bias=bias),
                norm_layer(norm, channels * 2),
                nn.ReLU(inplace=True),
            ]
            channels *= 2
        layers += [ResidualBlock(channels, norm, padding_mode) for _ in range(n_blocks)]
        for _ in range(n_downsample):
            # output_padding=1 makes each transposed convolution exactly double the size.
            layers += [
                nn.ConvTranspose2d(
                    channels, channels // 2, 3, stride=2, padding=1, output_padding=1, bias=bias
                ),
                norm_layer(norm, channels // 2),
                nn.ReLU(inplace=True),
            ]
            channels //= 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Conv2d(ngf, out_channels, 7, padding=3, padding_mode=padding),
            nn.Tanh(),
        )
        self.apply(init_gan_weights)
        # Trade compute for memory in training: keep only segment boundaries, recompute the rest in
        # backward (runtime.activation_checkpointing).
        self.activation_checkpointing = False

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected input of shape (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        factor = 2**self.n_downsample
        if x.shape[-2] % factor or x.shape[-1] % factor:
            raise ValueError(
                f"input height and width must be divisible by 2**n_downsample = {factor}, "
                f"got {x.shape[-2]}×{x.shape[-1]}"
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Features before the output convolution: ``(B, ngf, H, W)`` at the input resolution.

        The local enhancer adds its own features to these.
        """
        self._check_input(x)
        if self.activation_checkpointing and torch.is_grad_enabled():
            segments = max(1, len(self.features) // 3)
            return checkpoint_sequential(self.features, segments, x, use_reentrant=False)
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """RGB output in [-1, 1], ``(B, out_channels, H, W)``."""
        return self.head(self.forward_features(x))
