"""Temporal smoothing: a generator conditioned on its own previous frame, and the matching D input."""

from __future__ import annotations

import torch
from torch import nn


class TemporalGenerator(nn.Module):
    """Runs a generator on a pair of consecutive frames, feeding the first output into the second.

    With ``temporal=True`` the wrapped generator takes 6 channels, the stick figure and the previous
    generated frame:

        y_prev = G(cat(stick_prev, previous or zeros))
        y_t    = G(cat(stick_t, y_prev))

    ``y_prev`` is not detached: the loss on ``y_t`` also trains G through its role as the producer
    of the previous frame, as in the paper. Both generator calls happen inside one ``forward`` so a
    DistributedDataParallel wrapper sees one forward (and one gradient reduction) per training pair.

    With ``temporal=False`` (the pix2pixHD baseline) the wrapped generator takes 3 channels and the
    two frames are generated independently.

    Args:
        generator: a :class:`GlobalGenerator` or :class:`LocalEnhancer` (anything mapping
            ``(B, C, H, W)`` to ``(B, 3, H, W)``); its ``in_channels``, where it has one, must be
            6 when temporal and 3 otherwise.
        temporal: whether the previous frame is an input.
    """

    def __init__(self, generator: nn.Module, temporal: bool = True) -> None:
        super().__init__()
        expected = 6 if temporal else 3
        in_channels = getattr(generator, "in_channels", None)
        if in_channels is not None and in_channels != expected:
            kind = "temporal (stick figure + previous frame)" if temporal else "non-temporal (stick figure)"
            raise ValueError(f"a {kind} generator takes {expected} input channels, got {in_channels}")
        self.generator = generator
        self.temporal = temporal

    def step(self, stick: torch.Tensor, previous: torch.Tensor | None = None) -> torch.Tensor:
        """Generate one frame; ``previous`` is the last generated frame (zeros when ``None``).

        Used at transfer time, feeding each output back as the next ``previous``. Without the
        temporal input ``previous`` is ignored.
        """
        if not self.temporal:
            return self.generator(stick)
        if previous is None:
            previous = torch.zeros_like(stick)
        return self.generator(torch.cat((stick, previous), dim=1))

    def forward(
        self, stick_prev: torch.Tensor, stick_t: torch.Tensor, previous: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Generate ``(y_prev, y_t)`` for the stick figures of frames t-1 and t."""
        y_prev = self.step(stick_prev, previous)
        y_t = self.step(stick_t, y_prev)
        return y_prev, y_t


def discriminator_input(
    stick_prev: torch.Tensor,
    stick_t: torch.Tensor,
    image_prev: torch.Tensor,
    image_t: torch.Tensor,
    temporal: bool,
) -> torch.Tensor:
    """What the discriminator sees for a pair of frames (real images or generated ones).

    Temporal: the 12-channel sequence ``(x_{t-1}, x_t, y_{t-1}, y_t)``, so D can judge the
    transition. Non-temporal: the 6-channel pairs ``(x_{t-1}, y_{t-1})`` and ``(x_t, y_t)`` stacked
    along the batch (2B samples), so D judges each frame on its own.
    """
    if temporal:
        return torch.cat((stick_prev, stick_t, image_prev, image_t), dim=1)
    return torch.cat(
        (torch.cat((stick_prev, image_prev), dim=1), torch.cat((stick_t, image_t), dim=1)), dim=0
    )
