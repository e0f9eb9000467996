"""The local enhancer of pix2pixHD: a full-resolution branch around a global generator."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint, checkpoint_sequential

from .blocks import ResidualBlock, check_padding_mode, conv_bias, init_gan_weights, norm_layer
from .global_generator import GlobalGenerator


class LocalEnhancer(nn.Module):
    """Generator at twice the global generator's resolution.

    The global generator sees the input average-pooled by 2 (3×3, stride 2, padding 1, padding not
    counted). A full-resolution branch encodes the input (7×7 convolution to ``ngf`` channels, then
    one stride-2 convolution to ``2 * ngf``); its features are added to the global generator's last
    features (``global_generator.forward_features``, which have ``2 * ngf`` channels at half the
    resolution), then ``n_blocks`` residual blocks, a transposed convolution back to full
    resolution, a 7×7 convolution to RGB and tanh.

    The global generator's own output convolution (``global_generator.head``) is unused here, so
    its parameters are set to ``requires_grad=False``: DistributedDataParallel would otherwise wait
    for gradients that never come. Training usually freezes the global generator for the first
    epochs: use :meth:`freeze_global`, which never re-enables the unused head.

    Args:
        global_generator: a (typically pretrained) :class:`GlobalGenerator` with
            ``ngf == 2 * ngf`` and ``in_channels == in_channels``.
        in_channels: input channels (6 with the temporal input, 3 without).
        out_channels: output channels.
        ngf: channels of the full-resolution branch.
        n_blocks: residual blocks after the sum.
        norm: ``"instance"``, ``"batch"`` or ``"none"``.
        padding_mode: padding of the 7×7 and residual convolutions.
    """

    def __init__(
        self,
        global_generator: GlobalGenerator,
        in_channels: int = 6,
        out_channels: int = 3,
        ngf: int = 32,
        n_blocks: int = 3,
        norm: str = "instance",
        padding_mode: str = "reflect",
    ) -> None:
        super().__init__()
        padding = check_padding_mode(padding_mode)
        if global_generator.ngf != 2 * ngf:
            raise ValueError(
                f"LocalEnhancer(ngf={ngf}) needs a global generator with ngf = 2 * {ngf} = {2 * ngf} "
                f"(its features are added to the enhancer's), got ngf={global_generator.ngf}"
            )
        if global_generator.in_channels != in_channels:
            raise ValueError(
                f"LocalEnhancer(in_channels={in_channels}) needs a global generator with the same "
                f"in_channels, got {global_generator.in_channels}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.ngf = ngf
        bias = conv_bias(norm)

        self.downsample_input = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, ngf, 7, padding=3, padding_mode=padding, bias=bias),
            norm_layer(norm, ngf),
            nn.ReLU(inplace=True),
            nn.Conv2d(ngf, 2 * ngf, 3, stride=2, padding=1, bias=bias),
            norm_layer(norm, 2 * ngf),
            nn.ReLU(inplace=True),
        )
        self.decoder = nn.Sequential(
            *[ResidualBlock(2 * ngf, norm, padding_mode) for _ in range(n_blocks)],
            nn.ConvTranspose2d(2 * ngf, ngf, 3, stride=2, padding=1, output_padding=1, bias=bias),
            norm_layer(norm, ngf),
            nn.ReLU(inplace=True),
            nn.Conv2d(ngf, out_channels, 7, padding=3, padding_mode=padding),
            nn.Tanh(),
        )
        self.encoder.apply(init_gan_weights)
        self.decoder.apply(init_gan_weights)
        # Assigned last so the initialisation above leaves the (possibly trained) global generator alone.
        self.global_generator = global_generator
        self.global_generator.head.requires_grad_(False)
        # runtime.activation_checkpointing: recompute the full-resolution stages in backward.
        self.activation_checkpointing = False

    def freeze_global(self, frozen: bool = True) -> None:
        """Stop (or restart) training the global generator; its unused head stays frozen."""
        self.global_generator.features.requires_grad_(not frozen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """RGB output in [-1, 1] at ``x``'s resolution.

        ``x``'s height and width must be divisible by ``2 ** (global_generator.n_downsample + 1)``.
        """
        factor = 2 ** (self.global_generator.n_downsample + 1)
        if x.dim() != 4 or x.shape[-2] % factor or x.shape[-1] % factor:
            raise ValueError(
                f"LocalEnhancer input must be (B, C, H, W) with H and W divisible by {factor}, "
                f"got {tuple(x.shape)}"
            )
        coarse = self.global_generator.forward_features(self.downsample_input(x))
        if self.activation_checkpointing and torch.is_grad_enabled():
            encoded = checkpoint(self.encoder, x, use_reentrant=False)
            return checkpoint_sequential(self.decoder, 2, encoded + coarse, use_reentrant=False)
        return self.decoder(self.encoder(x) + coarse)
