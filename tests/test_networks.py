"""Shapes, gradients and wiring of the synthesis networks (tiny sizes, CPU)."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from synthesis.models import (
    FaceDiscriminator,
    FaceResidualGenerator,
    GlobalGenerator,
    LocalEnhancer,
    MultiscaleDiscriminator,
    PatchDiscriminator,
    ResidualBlock,
    TemporalGenerator,
    conv_bias,
    discriminator_input,
    norm_layer,
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _assert_gradients_everywhere(module: nn.Module, loss: torch.Tensor) -> None:
    """Every trainable parameter of ``module`` receives a non-zero gradient from ``loss``."""
    module.zero_grad(set_to_none=True)
    loss.backward()
    missing = [
        name
        for name, parameter in module.named_parameters()
        if parameter.requires_grad and (parameter.grad is None or not parameter.grad.abs().sum() > 0)
    ]
    assert not missing, f"no gradient reaches {missing}"
    assert any(parameter.requires_grad for parameter in module.parameters())


def _weighted(output: torch.Tensor) -> torch.Tensor:
    # A random linear read-out avoids gradients that cancel by symmetry (e.g. the mean of a tanh).
    return (output * torch.randn_like(output)).sum()


# --- shared blocks -----------------------------------------------------------------------------------


def test_norm_factory_and_bias_rule() -> None:
    assert isinstance(norm_layer("instance", 4), nn.InstanceNorm2d)
    assert isinstance(norm_layer("batch", 4), nn.BatchNorm2d)
    assert isinstance(norm_layer("none", 4), nn.Identity)
    assert conv_bias("none") and not conv_bias("instance") and not conv_bias("batch")
    with pytest.raises(ValueError, match="norm must be one of"):
        norm_layer("group", 4)
    with pytest.raises(ValueError, match="padding_mode"):
        ResidualBlock(4, padding_mode="mirror")


def test_residual_block_keeps_shape_and_adds_its_input() -> None:
    block = ResidualBlock(8, norm="none", padding_mode="replicate")
    x = torch.randn(2, 8, 12, 20)
    assert block(x).shape == x.shape
    # With the residual branch silenced the block is the identity.
    for parameter in block.parameters():
        nn.init.zeros_(parameter)
    assert torch.equal(block(x), x)


# --- global generator --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("in_channels", "ngf", "n_downsample", "n_blocks", "size", "norm", "padding_mode"),
    [
        (6, 8, 2, 1, (64, 96), "instance", "reflect"),
        (3, 8, 3, 2, (64, 128), "batch", "zeros"),
        (6, 16, 4, 1, (128, 64), "none", "replicate"),
    ],
)
def test_global_generator_shapes_and_gradients(
    in_channels: int,
    ngf: int,
    n_downsample: int,
    n_blocks: int,
    size: tuple[int, int],
    norm: str,
    padding_mode: str,
) -> None:
    net = GlobalGenerator(in_channels, 3, ngf, n_downsample, n_blocks, norm, padding_mode)
    assert net.ngf == ngf
    x = torch.randn(2, in_channels, *size)
    features = net.forward_features(x)
    assert features.shape == (2, ngf, *size)
    y = net(x)
    assert y.shape == (2, 3, *size)
    assert y.abs().max() <= 1.0  # tanh
    _assert_gradients_everywhere(net, _weighted(y))


def test_global_generator_rejects_sizes_it_cannot_reproduce() -> None:
    net = GlobalGenerator(6, 3, ngf=8, n_downsample=3, n_blocks=1)
    with pytest.raises(ValueError, match="divisible by 2\\*\\*n_downsample = 8"):
        net(torch.randn(1, 6, 64, 60))
    with pytest.raises(ValueError, match="\\(B, 6, H, W\\)"):
        net(torch.randn(1, 3, 64, 64))


# --- local enhancer ----------------------------------------------------------------------------------


def test_local_enhancer_doubles_the_resolution_the_global_generator_sees() -> None:
    global_net = GlobalGenerator(6, 3, ngf=16, n_downsample=2, n_blocks=1)
    enhancer = LocalEnhancer(global_net, in_channels=6, ngf=8, n_blocks=1)
    assert enhancer.global_generator is global_net
    seen: list[torch.Tensor] = []
    global_net.features.register_forward_hook(lambda module, args, output: seen.append(args[0]))

    x = torch.randn(2, 6, 64, 96)
    y = enhancer(x)
    assert y.shape == (2, 3, 64, 96)
    assert y.abs().max() <= 1.0
    # The global generator works on the input average-pooled by 2 (3×3, stride 2, padding not counted).
    assert seen[0].shape == (2, 6, 32, 48)
    expected = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
    torch.testing.assert_close(seen[0], expected)


def test_local_enhancer_gradients_reach_both_branches_and_head_is_frozen() -> None:
    global_net = GlobalGenerator(3, 3, ngf=16, n_downsample=2, n_blocks=1)
    enhancer = LocalEnhancer(global_net, in_channels=3, ngf=8, n_blocks=2)
    # The global generator's output convolution is unused: frozen so DDP does not wait for it.
    assert not any(p.requires_grad for p in global_net.head.parameters())
    y = enhancer(torch.randn(2, 3, 32, 64))
    _assert_gradients_everywhere(enhancer, _weighted(y))
    assert all(p.grad is not None for p in global_net.features.parameters())

    enhancer.freeze_global()
    assert not any(p.requires_grad for p in global_net.parameters())
    assert all(p.requires_grad for p in enhancer.encoder.parameters())
    enhancer.freeze_global(False)
    assert all(p.requires_grad for p in global_net.features.parameters())
    assert not any(p.requires_grad for p in global_net.head.parameters())


def test_local_enhancer_rejects_mismatched_generators() -> None:
    with pytest.raises(ValueError, match="ngf = 2 \\* 16 = 32"):
        LocalEnhancer(GlobalGenerator(6, 3, ngf=16, n_downsample=2, n_blocks=1), ngf=16)
    with pytest.raises(ValueError, match="in_channels"):
        LocalEnhancer(GlobalGenerator(3, 3, ngf=16, n_downsample=2, n_blocks=1), in_channels=6, ngf=8)
    enhancer = LocalEnhancer(GlobalGenerator(6, 3, ngf=16, n_downsample=2, n_blocks=1), ngf=8, n_blocks=1)
    with pytest.raises(ValueError, match="divisible by 8"):
        enhancer(torch.randn(1, 6, 64, 68))


# --- discriminators ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("n_layers", "size"), [(3, (64, 128)), (2, (96, 64)), (4, (128, 128))])
def test_patch_discriminator_returns_every_feature(n_layers: int, size: tuple[int, int]) -> None:
    net = PatchDiscriminator(12, ndf=8, n_layers=n_layers)
    outputs = net(torch.randn(2, 12, *size))
    assert len(outputs) == n_layers + 2
    assert [o.shape[1] for o in outputs] == [min(8 * 2**i, 512) for i in range(n_layers + 1)] + [1]
    assert all(o.shape[0] == 2 for o in outputs)
    _assert_gradients_everywhere(net, _weighted(outputs[-1]))


@pytest.mark.parametrize(("n_layers", "expected"), [(3, 70), (2, 34)])
def test_patch_discriminator_receptive_field(n_layers: int, expected: int) -> None:
    assert PatchDiscriminator.receptive_field(n_layers) == expected
    # Measured: the input pixels that one central prediction depends on. No normalisation here,
    # since instance norm's statistics would couple every output to the whole image.
    net = PatchDiscriminator(3, ndf=4, n_layers=n_layers, norm="none").double()
    x = torch.randn(1, 3, 160, 160, dtype=torch.float64, requires_grad=True)
    prediction = net(x)[-1]
    h, w = prediction.shape[-2:]
    prediction[0, 0, h // 2, w // 2].backward()
    assert x.grad is not None
    rows = torch.nonzero(x.grad.abs().sum(dim=(0, 1)).sum(dim=1))
    cols = torch.nonzero(x.grad.abs().sum(dim=(0, 1)).sum(dim=0))
    assert int(rows.max() - rows.min() + 1) == expected
    assert int(cols.max() - cols.min() + 1) == expected


@pytest.mark.parametrize(
    ("num_d", "n_layers", "size"), [(3, 3, (64, 128)), (2, 2, (96, 64)), (1, 3, (64, 64))]
)
def test_multiscale_discriminator_scales(num_d: int, n_layers: int, size: tuple[int, int]) -> None:
    net = MultiscaleDiscriminator(12, ndf=8, n_layers=n_layers, num_d=num_d)
    x = torch.randn(2, 12, *size)
    outputs = net(x)
    assert len(outputs) == num_d
    assert all(len(scale) == n_layers + 2 for scale in outputs)
    # Scale k is its own discriminator applied to the input average-pooled k times.
    pooled = x
    for k, scale in enumerate(outputs):
        if k:
            pooled = F.avg_pool2d(pooled, 3, stride=2, padding=1, count_include_pad=False)
        reference = net.discriminators[k](pooled)
        for got, want in zip(scale, reference, strict=True):
            torch.testing.assert_close(got, want)
    first_sizes = [scale[0].shape[-2:] for scale in outputs]
    assert all(a[0] > b[0] for a, b in itertools.pairwise(first_sizes))
    loss = sum(_weighted(scale[-1]) for scale in outputs)
    assert isinstance(loss, torch.Tensor)
    _assert_gradients_everywhere(net, loss)


# --- temporal wrapper --------------------------------------------------------------------------------


def _temporal_pair(batch: int = 2, size: tuple[int, int] = (32, 64)) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(batch, 3, *size, requires_grad=True), torch.randn(batch, 3, *size)


def test_temporal_pair_feeds_first_output_into_second() -> None:
    generator = GlobalGenerator(6, 3, ngf=8, n_downsample=2, n_blocks=1)
    model = TemporalGenerator(generator, temporal=True)
    stick_prev, stick_t = _temporal_pair()
    y_prev, y_t = model(stick_prev, stick_t)
    assert y_prev.shape == y_t.shape == (2, 3, 32, 64)
    with torch.no_grad():
        # First frame of a pair: zeros as the previous frame.
        torch.testing.assert_close(
            y_prev, generator(torch.cat((stick_prev, torch.zeros_like(stick_prev)), 1))
        )
        torch.testing.assert_close(y_t, generator(torch.cat((stick_t, y_prev), 1)))
        torch.testing.assert_close(model.step(stick_prev), y_prev)
        torch.testing.assert_close(model.step(stick_t, y_prev), y_t)

    # A loss on y_t alone reaches the computation of y_prev (no detach).
    _weighted(y_t).backward()
    assert stick_prev.grad is not None and stick_prev.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in generator.parameters())


def test_temporal_pair_uses_a_given_previous_frame() -> None:
    generator = GlobalGenerator(6, 3, ngf=8, n_downsample=2, n_blocks=1)
    model = TemporalGenerator(generator)
    stick_prev, stick_t = _temporal_pair()
    previous = torch.rand(2, 3, 32, 64) * 2 - 1
    with torch.no_grad():
        y_prev, _ = model(stick_prev, stick_t, previous)
        torch.testing.assert_close(y_prev, generator(torch.cat((stick_prev, previous), 1)))
        assert not torch.allclose(y_prev, model.step(stick_prev))


def test_temporal_wrapper_around_local_enhancer() -> None:
    enhancer = LocalEnhancer(GlobalGenerator(6, 3, ngf=16, n_downsample=2, n_blocks=1), ngf=8, n_blocks=1)
    model = TemporalGenerator(enhancer)
    stick_prev, stick_t = _temporal_pair(size=(64, 32))
    y_prev, y_t = model(stick_prev, stick_t)
    assert y_prev.shape == y_t.shape == (2, 3, 64, 32)
    _assert_gradients_everywhere(model, _weighted(y_t))


def test_activation_checkpointing_gives_the_same_outputs_and_gradients() -> None:
    """Recomputing activations in backward (runtime.activation_checkpointing) changes memory, not maths."""
    from synthesis.networks import set_activation_checkpointing

    enhancer = LocalEnhancer(GlobalGenerator(6, 3, ngf=16, n_downsample=2, n_blocks=2), ngf=8, n_blocks=2)
    model = TemporalGenerator(enhancer)
    stick_prev, stick_t = _temporal_pair(size=(64, 32))
    readout = torch.randn(2, 3, 64, 32)
    results = []
    for enabled in (False, True):
        set_activation_checkpointing(model, enabled)
        assert (
            enhancer.activation_checkpointing is enhancer.global_generator.activation_checkpointing is enabled
        )
        model.zero_grad(set_to_none=True)
        y_prev, y_t = model(stick_prev, stick_t)
        ((y_prev + y_t) * readout).sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((y_t.detach(), grads))
    (out_a, grads_a), (out_b, grads_b) = results
    torch.testing.assert_close(out_b, out_a)
    assert grads_a.keys() == grads_b.keys() and grads_a
    for name, grad in grads_a.items():
        torch.testing.assert_close(grads_b[name], grad, msg=name)


def test_non_temporal_generates_frames_independently() -> None:
    generator = GlobalGenerator(3, 3, ngf=8, n_downsample=2, n_blocks=1)
    model = TemporalGenerator(generator, temporal=False)
    stick_prev, stick_t = _temporal_pair()
    y_prev, y_t = model(stick_prev, stick_t)
    with torch.no_grad():
        torch.testing.assert_close(y_prev, generator(stick_prev))
        torch.testing.assert_close(y_t, generator(stick_t))
        torch.testing.assert_close(model.step(stick_t, y_prev), y_t)  # previous ignored
    _weighted(y_t).backward()
    assert stick_prev.grad is None  # y_t does not depend on frame t-1


def test_temporal_wrapper_checks_channels() -> None:
    with pytest.raises(ValueError, match="takes 6 input channels, got 3"):
        TemporalGenerator(GlobalGenerator(3, 3, ngf=8, n_downsample=2, n_blocks=1), temporal=True)
    with pytest.raises(ValueError, match="takes 3 input channels, got 6"):
        TemporalGenerator(GlobalGenerator(6, 3, ngf=8, n_downsample=2, n_blocks=1), temporal=False)


def test_discriminator_input_layouts() -> None:
    x_prev, x_t, y_prev, y_t = (torch.full((2, 3, 8, 16), float(v)) for v in range(4))
    temporal = discriminator_input(x_prev, x_t, y_prev, y_t, temporal=True)
    assert temporal.shape == (2, 12, 8, 16)
    assert temporal[:, ::3, 0, 0].tolist() == [[0, 1, 2, 3]] * 2  # (x_{t-1}, x_t, y_{t-1}, y_t)

    per_frame = discriminator_input(x_prev, x_t, y_prev, y_t, temporal=False)
    assert per_frame.shape == (4, 6, 8, 16)
    assert per_frame[:, ::3, 0, 0].tolist() == [[0, 2], [0, 2], [1, 3], [1, 3]]  # (x, y) per frame
    assert MultiscaleDiscriminator(6, ndf=8, num_d=2)(per_frame)[0][-1].shape[0] == 4


# --- face stage --------------------------------------------------------------------------------------


def test_face_generator_residual_per_sample() -> None:
    net = FaceResidualGenerator(6, 3, ngf=8, n_downsample=3, n_blocks=2)
    stick, image = torch.randn(3, 3, 64, 64), torch.rand(3, 3, 64, 64) * 2 - 1
    residual = net(stick, image)
    assert residual.shape == (3, 3, 64, 64)
    assert residual.abs().max() <= 1.0
    # Instance norm keeps samples independent: changing sample 1 leaves sample 0's residual alone.
    other = image.clone()
    other[1] = 0
    with torch.no_grad():
        torch.testing.assert_close(net(stick, other)[0], residual[0].detach())
    _assert_gradients_everywhere(net, _weighted(image + residual))
    with pytest.raises(ValueError, match="same batch size and size"):
        net(stick, image[:2])


def test_face_discriminator_is_one_patchgan_on_the_concatenated_crops() -> None:
    net = FaceDiscriminator(6, ndf=8, n_layers=3)
    stick, image = torch.randn(3, 3, 64, 64), torch.randn(3, 3, 64, 64)
    outputs = net(stick, image)
    assert isinstance(outputs, list) and len(outputs) == 5
    assert outputs[-1].shape[:2] == (3, 1)
    reference = net.discriminator(torch.cat((stick, image), 1))
    torch.testing.assert_close(outputs[-1], reference[-1])
    _assert_gradients_everywhere(net, _weighted(outputs[-1]))
