"""Build the networks a configuration describes (training and transfer share these)."""

from __future__ import annotations

from typing import Any

from torch import nn

from .config import FaceConfig, ModelConfig
from .models import (
    FaceDiscriminator,
    FaceResidualGenerator,
    GlobalGenerator,
    LocalEnhancer,
    MultiscaleDiscriminator,
    TemporalGenerator,
)

STICK_CHANNELS = 3


def generator_in_channels(model: ModelConfig) -> int:
    # Temporal models see the stick figure and the previous frame, stacked on channels.
    return 2 * STICK_CHANNELS if model.temporal else STICK_CHANNELS


def discriminator_in_channels(model: ModelConfig) -> int:
    # Temporal D sees (x_{t-1}, x_t, y_{t-1}, y_t): 12 channels; per-frame D sees (x, y): 6.
    return 12 if model.temporal else 6


def build_global_generator(model: ModelConfig) -> GlobalGenerator:
    return GlobalGenerator(
        in_channels=generator_in_channels(model),
        out_channels=3,
        ngf=model.ngf,
        n_downsample=model.n_downsample,
        n_blocks=model.n_blocks,
        norm=model.norm,
    )


def build_generator(model: ModelConfig, kind: str) -> TemporalGenerator:
    """``kind`` "global" (global generator alone) or "local" (local enhancer around a global)."""
    if kind not in ("global", "local"):
        raise ValueError(f"generator kind must be 'global' or 'local', not {kind!r}")
    global_generator = build_global_generator(model)
    net: nn.Module = global_generator
    if kind == "local":
        net = LocalEnhancer(
            global_generator,
            in_channels=generator_in_channels(model),
            out_channels=3,
            ngf=model.local_ngf,
            n_blocks=model.local_blocks,
            norm=model.norm,
        )
    return TemporalGenerator(net, temporal=model.temporal)


def build_discriminator(model: ModelConfig, num_d: int) -> MultiscaleDiscriminator:
    return MultiscaleDiscriminator(
        discriminator_in_channels(model),
        ndf=model.ndf,
        n_layers=model.n_layers_d,
        num_d=num_d,
        norm=model.norm,
    )


def build_face_generator(face: FaceConfig) -> FaceResidualGenerator:
    return FaceResidualGenerator(
        in_channels=2 * STICK_CHANNELS,
        out_channels=3,
        ngf=face.ngf,
        n_downsample=face.n_downsample,
        n_blocks=face.n_blocks,
    )


def build_face_discriminator(face: FaceConfig) -> FaceDiscriminator:
    return FaceDiscriminator(in_channels=2 * STICK_CHANNELS, ndf=face.ndf, n_layers=face.n_layers_d)


def set_activation_checkpointing(module: nn.Module, enabled: bool) -> None:
    """Turn activation checkpointing of the generators inside ``module`` on or off (training memory)."""
    for inner in module.modules():
        if isinstance(inner, (GlobalGenerator, LocalEnhancer)):
            inner.activation_checkpointing = enabled


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def unwrap(module: Any) -> nn.Module:
    """The module inside a DDP / compile wrapper."""
    inner = getattr(module, "module", module)
    return getattr(inner, "_orig_mod", inner)


__all__ = [
    "build_discriminator",
    "build_face_discriminator",
    "build_face_generator",
    "build_generator",
    "build_global_generator",
    "discriminator_in_channels",
    "generator_in_channels",
    "set_requires_grad",
    "unwrap",
]
