"""Losses of the synthesis stage: LSGAN, discriminator feature matching, VGG perceptual loss.

The weights λ_FM = 10 and λ_VGG = 10 of the paper's objective are applied by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import VGGFeatures

# Discriminator outputs: one list of features per scale (multi-scale), or one list (single PatchGAN).
DiscriminatorOutput = list[list[torch.Tensor]] | list[torch.Tensor]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _per_scale(outputs: DiscriminatorOutput) -> list[list[torch.Tensor]]:
    """Normalise a single discriminator's feature list to the multi-scale layout."""
    if not outputs:
        raise ValueError("empty discriminator output")
    if isinstance(outputs[0], torch.Tensor):
        return [cast(list[torch.Tensor], outputs)]
    return cast(list[list[torch.Tensor]], outputs)


def lsgan_loss(predictions: DiscriminatorOutput, target_is_real: bool) -> torch.Tensor:
    """Least-squares GAN loss: mean squared distance of each scale's prediction map to 1 or 0.

    Only the last tensor of each scale (the prediction map) is used; the result is the mean over
    scales. For the generator call it with the fake outputs and ``target_is_real=True``.
    """
    scales = _per_scale(predictions)
    total = torch.zeros((), device=scales[0][-1].device)
    for features in scales:
        prediction = features[-1]
        target = torch.full_like(prediction, 1.0 if target_is_real else 0.0)
        total = total + F.mse_loss(prediction, target)
    return total / len(scales)


def discriminator_loss(real: DiscriminatorOutput, fake: DiscriminatorOutput) -> torch.Tensor:
    """LSGAN loss of the discriminator: ``0.5 * (lsgan(real, True) + lsgan(fake, False))``.

    ``fake`` must come from generated images detached from the generator.
    """
    return 0.5 * (lsgan_loss(real, True) + lsgan_loss(fake, False))


def feature_matching_loss(fake_feats: DiscriminatorOutput, real_feats: DiscriminatorOutput) -> torch.Tensor:
    """L1 distance between the discriminator's intermediate features on fake and real inputs.

    Every feature but the last (the prediction map) counts; with ``n_layers + 1`` such features per
    scale each is weighted ``4 / (n_layers + 1)`` and each of the ``num_d`` scales ``1 / num_d``.
    Real features are detached (they are targets). Multiply by λ_FM (10) in the caller.
    """
    fake_scales = _per_scale(fake_feats)
    real_scales = _per_scale(real_feats)
    if len(fake_scales) != len(real_scales):
        raise ValueError(f"{len(fake_scales)} fake scales but {len(real_scales)} real scales")
    total = torch.zeros((), device=fake_scales[0][-1].device)
    for fake, real in zip(fake_scales, real_scales, strict=True):
        if len(fake) != len(real) or len(fake) < 2:
            raise ValueError(
                f"feature lists must match and hold >= 2 tensors, got {len(fake)} and {len(real)}"
            )
        layer_weight = 4.0 / (len(fake) - 1)
        for fake_feature, real_feature in zip(fake[:-1], real[:-1], strict=True):
            total = total + layer_weight * F.l1_loss(fake_feature, real_feature.detach())
    return total / len(fake_scales)


class VGGPerceptualLoss(nn.Module):
    """Weighted L1 distance between VGG features of a generated and a real image.

    Images are RGB in [-1, 1] (the generators' tanh range); they are mapped to ImageNet
    normalisation here. The real image's features are computed without gradients; the fake image's
    keep them. Layer ``i`` (relu1_1 … relu5_1) contributes ``layer_weights[i] * L1``. Multiply by
    λ_VGG (10) in the caller.

    Args:
        features: a frozen :class:`VGGFeatures` from :func:`synthesis.backbones.load_vgg`.
        layer_weights: weights of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        features: VGGFeatures,
        layer_weights: Sequence[float] = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0),
    ) -> None:
        super().__init__()
        if len(layer_weights) != len(VGGFeatures.LAYER_NAMES):
            raise ValueError(f"need {len(VGGFeatures.LAYER_NAMES)} layer weights, got {len(layer_weights)}")
        self.features = features
        self.layer_weights = tuple(float(weight) for weight in layer_weights)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def _normalise(self, image: torch.Tensor) -> torch.Tensor:
        # [-1, 1] -> [0, 1] -> ImageNet mean/std, what the VGG weights were trained on.
        return ((image + 1.0) * 0.5 - self.mean) / self.std

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        if fake.shape != real.shape:
            raise ValueError(f"fake {tuple(fake.shape)} and real {tuple(real.shape)} differ in shape")
        with torch.no_grad():
            real_features = self.features(self._normalise(real))
        fake_features = self.features(self._normalise(fake))
        total = torch.zeros((), device=fake.device)
        for weight, fake_feature, real_feature in zip(
            self.layer_weights, fake_features, real_features, strict=True
        ):
            total = total + weight * F.l1_loss(fake_feature, real_feature)
        return total
