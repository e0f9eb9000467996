"""The frame classifier: an ImageNet trunk, global average pooling and one logit (synthetic vs real).

Wang et al. 2020 fine-tune an ImageNet ResNet-50 this way; MobileNetV2 is the default here because
its weights ship in a package (offline) and it runs several times faster on a CPU. Inputs are RGB
person crops in [0, 1]; the ImageNet normalisation happens inside, so callers never forget it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class SyntheticFrameClassifier(nn.Module):
    """``forward(x)`` → logits ``(B,)``, positive = synthetic.

    Args:
        trunk: convolutional feature extractor giving ``(B, feature_dim, h, w)``.
        feature_dim: channels of the trunk's output.
        dropout: dropout before the linear layer.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, trunk: nn.Module, feature_dim: int, dropout: float = 0.2) -> None:
        super().__init__()
        self.trunk = trunk
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, 1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.trunk((images - self.mean) / self.std)
        return self.head(self.dropout(features.mean(dim=(2, 3)))).squeeze(1)


def build_classifier(
    backbone: str, dropout: float = 0.2, *, pretrained: bool = True
) -> tuple[SyntheticFrameClassifier, dict[str, str] | None]:
    """A classifier on ``backbone``: ImageNet weights when ``pretrained`` (returns where they came
    from), else the bare architecture for loading a trained detector's weights into."""
    from .backbone import build_trunk, load_pretrained_trunk

    if pretrained:
        trunk, dim, info = load_pretrained_trunk(backbone)
        return SyntheticFrameClassifier(trunk, dim, dropout), info.to_dict()
    trunk, dim = build_trunk("mobilenet_v2" if backbone == "auto" else backbone)
    return SyntheticFrameClassifier(trunk, dim, dropout), None


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 crops → (N, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255)


__all__ = ["SyntheticFrameClassifier", "build_classifier", "images_to_tensor"]
