"""Training of the temporal body GAN and the face GAN, as one Ray Train loop.

The same loop runs on 1 CPU worker or N GPU workers (DDP): :func:`train` starts a
``ray.train.torch.TorchTrainer`` whose every worker runs :func:`train_loop_per_worker`.

Stages and phases (METHOD §3–4):

- stage ``body``: phase ``global`` (global generator alone; at half resolution when a local
  enhancer follows), then, with ``model.local_enhancer``, ``local_fixed`` (local enhancer trained
  around the frozen global generator) and ``local`` (both);
- stage ``face``: the body generator and its discriminators frozen; ``face_d_only`` (only the face
  discriminator learns) then ``face`` (face residual generator and discriminator).

Each step draws consecutive pairs ``(t-1, t)``: ``G(x_{t-1}, 0)`` then ``G(x_t, G(x_{t-1}))``,
gradients through both; D sees the pair sequence. Learning rates are constant, then decay linearly
to zero over the last ``schedule.decay_fraction`` of each group of phases (global / local / face).

A checkpoint (every ``runtime.checkpoint_every`` steps and at the end of each phase) holds all
that resuming needs and goes to Ray with ``ray.train.report``; a run started again with the same
name continues from its latest checkpoint, at the exact step (the data order is a function of
seed and epoch, see ``synthesis.data``). Rank 0 alone writes the log (``STAGE-log.jsonl``),
samples (``samples/``) and checkpoints.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dataset.files import atomic_write_bytes, atomic_write_text

from .checkpoint import CHECKPOINT_FILE, CheckpointError, load_checkpoint, save_checkpoint
from .config import ConfigError, RuntimeConfig, TrainConfig, config_from_dict
from .data import (
    BatchList,
    PairDataset,
    data_fingerprint,
    epoch_batches,
    load_target_clips,
    steps_per_epoch,
    to_uint8_images,
)
from .face_box import crop_boxes, face_box_size, face_boxes
from .losses import VGGPerceptualLoss, discriminator_loss, feature_matching_loss, lsgan_loss
from .models import LocalEnhancer, TemporalGenerator, discriminator_input
from .networks import (
    build_discriminator,
    build_face_discriminator,
    build_face_generator,
    build_generator,
    set_activation_checkpointing,
    set_requires_grad,
    unwrap,
)
from .precision import autocast as autocast_for
from .precision import resolve_precision, set_fast_cuda_math
from .stick_figure import render_stick_figures

STAGES = ("body", "face")


class TrainingError(RuntimeError):
    """Training could not run or finish; the message says why and what to do."""


# ----------------------------------------------------------------------------------------------
# The plan: phases, steps and learning rates
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    name: str  # global | local_fixed | local | face_d_only | face
    group: str  # learning-rate schedule group: global | local | face
    steps: int
    height: int
    width: int


def plan_phases(config: TrainConfig, stage: str, epoch_steps: int) -> list[Phase]:
    """The phases of ``stage`` with their step counts (epochs × steps per epoch, rounded)."""
    s, h, w = config.schedule, config.data.height, config.data.width

    def steps(epochs: float) -> int:
        return max(0, round(epochs * epoch_steps))

    if stage == "body":
        if not config.model.local_enhancer:
            return [Phase("global", "global", steps(s.global_epochs), h, w)]
        fixed = min(s.local_fix_global_epochs, s.local_epochs)
        return [
            Phase("global", "global", steps(s.global_epochs), h // 2, w // 2),
            Phase("local_fixed", "local", steps(fixed), h, w),
            Phase("local", "local", steps(s.local_epochs) - steps(fixed), h, w),
        ]
    d_only = min(s.face_d_only_epochs, s.face_epochs)
    return [
        Phase("face_d_only", "face", steps(d_only), h, w),
        Phase("face", "face", steps(s.face_epochs) - steps(d_only), h, w),
    ]


class ConstantThenLinearDecay:
    """lr = base for the first (1 - decay_fraction) of a group's steps, then linearly down to 0."""

    def __init__(self, base_lr: float, total_steps: int, decay_fraction: float) -> None:
        self.base_lr = base_lr
        self.total = total_steps
        self.decay_steps = round(total_steps * decay_fraction)
        self.step_in_group = 0

    def lr(self) -> float:
        start = self.total - self.decay_steps
        if self.step_in_group < start or self.decay_steps == 0:
            return self.base_lr
        return self.base_lr * max(0.0, (self.total - self.step_in_group) / self.decay_steps)

    def apply(self, *optimizers: torch.optim.Optimizer) -> float:
        lr = self.lr()
        for opt in optimizers:
            for group in opt.param_groups:
                group["lr"] = lr
        return lr

    def state_dict(self) -> dict[str, Any]:
        return {
            "base_lr": self.base_lr,
            "total": self.total,
            "decay_steps": self.decay_steps,
            "step": self.step_in_group,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step_in_group = int(state["step"])


# ----------------------------------------------------------------------------------------------
# Models and optimisers of a phase
# ----------------------------------------------------------------------------------------------


@dataclass
class PhaseModels:
    """The raw modules of a phase (what checkpoints hold) and their training wrappers (DDP)."""

    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    wrapped: dict[str, nn.Module] = field(default_factory=dict)
    generator_kind: str = "global"
    frozen_body: nn.Module | None = None


def _adam(params: Any, config: TrainConfig, device: torch.device) -> torch.optim.Adam:
    o = config.optim
    # Fused Adam: one kernel per step instead of a loop over parameters (CPU and CUDA).
    return torch.optim.Adam(params, lr=o.lr, betas=(o.beta1, o.beta2), fused=device.type in ("cpu", "cuda"))


def _prepare(module: nn.Module, config: TrainConfig, device: torch.device) -> nn.Module:
    """Move to the device (channels_last if asked) and wrap in DDP when there are several workers."""
    import ray.train.torch

    module = module.to(device)
    if config.runtime.channels_last:
        module = module.to(memory_format=torch.channels_last)
    if not any(p.requires_grad for p in module.parameters()):
        return module
    wrapped = ray.train.torch.prepare_model(
        module, move_to_device=False, parallel_strategy_kwargs={"forward_sync_buffers": False}
    )
    if config.runtime.compile:
        wrapped = torch.compile(wrapped)  # type: ignore[assignment]
    return wrapped


def _inner_generator(module: nn.Module) -> nn.Module:
    """The global generator or local enhancer inside a (possibly wrapped) TemporalGenerator."""
    temporal = unwrap(module)
    assert isinstance(temporal, TemporalGenerator)
    return temporal.generator


def _local_enhancer(module: nn.Module) -> LocalEnhancer:
    enhancer = _inner_generator(module)
    assert isinstance(enhancer, LocalEnhancer)
    return enhancer


def build_phase_models(
    phase: Phase,
    config: TrainConfig,
    device: torch.device,
    previous: PhaseModels | None,
    body_state: dict[str, Any] | None,
) -> PhaseModels:
    """Fresh models for ``phase``, carrying over what the previous phase trained."""
    m = config.model
    if phase.name == "global":
        g = build_generator(m, "global")
        d = build_discriminator(m, m.num_d_global if m.local_enhancer else m.num_d)
        modules: dict[str, nn.Module] = {"generator": g, "discriminator": d}
        opts: dict[str, torch.optim.Optimizer] = {
            "generator": _adam(g.parameters(), config, device),
            "discriminator": _adam(d.parameters(), config, device),
        }
        return PhaseModels(modules, opts, generator_kind="global")
    if phase.name in ("local_fixed", "local"):
        if previous is not None and previous.generator_kind == "local":
            models = previous  # local_fixed → local: same networks, the global part joins the optimiser
        else:
            g = build_generator(m, "local")
            enhancer = _local_enhancer(g)
            if previous is not None:  # global → local_fixed: start from the trained global generator
                trained_global = _inner_generator(previous.modules["generator"])
                enhancer.global_generator.load_state_dict(trained_global.state_dict())
            d = build_discriminator(m, m.num_d)
            ids = {id(p) for p in enhancer.global_generator.parameters()}
            local_params = [p for p in g.parameters() if id(p) not in ids]
            models = PhaseModels(
                {"generator": g, "discriminator": d},
                {
                    "generator": _adam(local_params, config, device),
                    "discriminator": _adam(d.parameters(), config, device),
                },
                generator_kind="local",
            )
        enhancer = _local_enhancer(models.modules["generator"])
        enhancer.freeze_global(phase.name != "local")  # its unused output head stays frozen either way
        opt = models.optimizers["generator"]
        if phase.name == "local" and len(opt.param_groups) == 1:
            opt.add_param_group(
                {"params": [p for p in enhancer.global_generator.parameters() if p.requires_grad]}
            )
        return models
    # Face phases: the body generator is frozen; it comes from the body checkpoint.
    if previous is not None:
        previous.wrapped.clear()
        return previous
    assert body_state is not None
    body_config = config_from_dict(body_state["config"], origin=body_state.get("path", "body checkpoint"))
    kind = body_state.get("generator_kind", "global")
    body = build_generator(body_config.model, kind)
    body.load_state_dict(body_state["models"]["generator"])
    set_requires_grad(body, False)
    body.eval()
    gf, df = build_face_generator(config.face), build_face_discriminator(config.face)
    return PhaseModels(
        {"face_generator": gf, "face_discriminator": df},
        {
            "face_generator": _adam(gf.parameters(), config, device),
            "face_discriminator": _adam(df.parameters(), config, device),
        },
        generator_kind=kind,
        frozen_body=body.to(device),
    )


# ----------------------------------------------------------------------------------------------
# One training step
# ----------------------------------------------------------------------------------------------


@dataclass
class Batch:
    sticks: torch.Tensor  # (B, 2, 3, H, W) in [-1, 1]: frames t-1, t
    frames: torch.Tensor  # (B, 2, 3, H, W) in [-1, 1]
    body: torch.Tensor  # (B, 2, 25, 3) keypoints in pixels
    # This worker's share of the global batch × world size: 1 when the workers split it evenly. Losses
    # are scaled by it so DDP's average over workers is the gradient of the global batch's mean loss.
    loss_scale: float = 1.0


def to_batch(
    items: dict[str, torch.Tensor], phase: Phase, device: torch.device, loss_scale: float = 1.0
) -> Batch:
    """Device tensors of a loader batch, with no host synchronisation.

    Stick figures come drawn by the loader's worker processes (``data.render_sticks`` "loader": ahead
    of the step, so a GPU never waits on them) or are drawn here on the device in one call ("step").
    """
    frames = items["frames"].to(device, non_blocking=True)
    b, _, _, height, width = frames.shape
    # Copied straight from the loader's pinned memory; a new host tensor would be pageable, and a
    # copy from pageable memory makes the host wait for the GPU.
    body, face, hands = (
        items[k].to(device, non_blocking=True).flatten(0, 1) for k in ("body", "face", "hands")
    )
    images = frames.float().div_(127.5).sub_(1.0)
    if (height, width) != (phase.height, phase.width):  # the half-resolution global phase
        images = F.interpolate(images.flatten(0, 1), size=(phase.height, phase.width), mode="area").unflatten(
            0, (b, 2)
        )
        sx, sy = phase.width / width, phase.height / height  # Python numbers: no host-to-device copy
        body, face, hands = (
            torch.cat([p[..., :1] * sx, p[..., 1:2] * sy, p[..., 2:]], -1) for p in (body, face, hands)
        )
    if "sticks" in items:
        sticks = items["sticks"].to(device, non_blocking=True).flatten(0, 1).float().div_(127.5).sub_(1.0)
    else:
        sticks = render_stick_figures(body, face, hands, phase.height, phase.width).mul_(2.0).sub_(1.0)
    return Batch(
        sticks=sticks.unflatten(0, (b, 2)),
        frames=images,
        body=body.unflatten(0, (b, 2)),
        loss_scale=loss_scale,
    )


def _split_real_fake(
    features: list[list[torch.Tensor]],
) -> tuple[list[list[torch.Tensor]], list[list[torch.Tensor]]]:
    real = [[f.chunk(2)[0] for f in scale] for scale in features]
    fake = [[f.chunk(2)[1] for f in scale] for scale in features]
    return real, fake


def body_step(
    batch: Batch,
    models: PhaseModels,
    perceptual: VGGPerceptualLoss | None,
    config: TrainConfig,
    phase: Phase,
    autocast: Any,
) -> dict[str, torch.Tensor]:
    """One step of the temporal body GAN on a batch of consecutive pairs.

    Both losses are computed with the same D, as in pix2pixHD, but D sees the real sequences once:
    G makes the pair; D runs on real and (detached) fake sequences in one batch and back-propagates
    its loss; the real features it produced, detached, are the feature-matching targets; then G's
    losses go through D with D's parameters frozen, G steps, and D steps last.
    """
    temporal = config.model.temporal
    g_wrapped, d_wrapped = models.wrapped["generator"], models.wrapped["discriminator"]
    d_raw = models.modules["discriminator"]
    x_prev, x_t = batch.sticks[:, 0], batch.sticks[:, 1]
    y_prev, y_t = batch.frames[:, 0], batch.frames[:, 1]
    real_in = discriminator_input(x_prev, x_t, y_prev, y_t, temporal=temporal)

    with autocast:
        g_prev, g_t = g_wrapped(x_prev, x_t)  # G(x_{t-1}, 0), then G(x_t, G(x_{t-1})): one DDP forward
    fake = (g_prev.float(), g_t.float())

    # Discriminator loss: real and fake in one batch (instance norm is per sample, so this is exact).
    fake_in = discriminator_input(x_prev, x_t, fake[0].detach(), fake[1].detach(), temporal=temporal)
    set_requires_grad(d_raw, True)
    with autocast:
        features = d_wrapped(torch.cat([real_in, fake_in]))
    real_out, fake_out = _split_real_fake(features)
    loss_d = discriminator_loss(real_out, fake_out)
    models.optimizers["discriminator"].zero_grad(set_to_none=True)
    (loss_d * batch.loss_scale).backward()
    real_features = [[f.detach() for f in scale] for scale in real_out]

    # Generator: adversarial + feature matching + perceptual on both frames, D frozen.
    set_requires_grad(d_raw, False)
    with autocast:
        fake_features = d_raw(discriminator_input(x_prev, x_t, fake[0], fake[1], temporal=temporal))
    loss_gan = lsgan_loss(fake_features, True)
    loss_fm = feature_matching_loss(fake_features, real_features) * config.loss.lambda_fm
    loss_vgg = torch.zeros((), device=y_t.device)
    if perceptual is not None:
        weight = config.loss.lambda_vgg * (0.5 if phase.name == "global" else 1.0)
        with autocast:  # both frames in one VGG pass; ×2 because the loss is a mean over the batch
            loss_vgg = perceptual(torch.cat(fake), torch.cat([y_prev, y_t])).float() * (2 * weight)
    loss_g = loss_gan + loss_fm + loss_vgg
    models.optimizers["generator"].zero_grad(set_to_none=True)
    (loss_g * batch.loss_scale).backward()
    models.optimizers["generator"].step()
    set_requires_grad(d_raw, True)
    models.optimizers["discriminator"].step()
    l1 = (fake[1].detach() - y_t).abs().mean()
    return {"g_gan": loss_gan, "g_fm": loss_fm, "g_vgg": loss_vgg, "d": loss_d, "l1": l1}


def face_step(
    batch: Batch,
    models: PhaseModels,
    perceptual: VGGPerceptualLoss | None,
    config: TrainConfig,
    phase: Phase,
    autocast: Any,
) -> dict[str, torch.Tensor]:
    """One step of the face GAN on both frames of each pair: residual on the body output's face."""
    assert models.frozen_body is not None
    with torch.no_grad(), autocast:
        g_prev, g_t = models.frozen_body(batch.sticks[:, 0], batch.sticks[:, 1])
    sticks = batch.sticks.flatten(0, 1)
    real = batch.frames.flatten(0, 1)
    generated = torch.stack([g_prev.float(), g_t.float()], 1).flatten(0, 1)
    size = config.face.box_size or face_box_size(phase.height)
    corners, _valid = face_boxes(batch.body.flatten(0, 1), phase.height, phase.width, size)
    stick_f, gen_f, real_f = (crop_boxes(t, corners, size) for t in (sticks, generated, real))
    gf_wrapped, df_wrapped = models.wrapped["face_generator"], models.wrapped.get("face_discriminator")
    gf_raw, df_raw = models.modules["face_generator"], models.modules["face_discriminator"]
    zero = torch.zeros((), device=real.device)
    loss_gan = loss_fm = loss_vgg = zero
    if phase.name == "face_d_only":
        with torch.no_grad(), autocast:
            out_f = gen_f + gf_raw(stick_f, gen_f).float()
    else:
        with autocast:
            out_f = gen_f + gf_wrapped(stick_f, gen_f).float()
        set_requires_grad(df_raw, False)
        with autocast:
            fake_features = df_raw(stick_f, out_f)
            with torch.no_grad():
                real_features = df_raw(stick_f, real_f)
        loss_gan = lsgan_loss(fake_features, True)
        loss_fm = feature_matching_loss([fake_features], [real_features]) * config.loss.lambda_fm
        if perceptual is not None:
            with autocast:
                loss_vgg = (
                    perceptual(out_f, real_f).float() * config.loss.lambda_vgg * config.loss.face_vgg_weight
                )
        loss_g = loss_gan + loss_fm + loss_vgg
        models.optimizers["face_generator"].zero_grad(set_to_none=True)
        (loss_g * batch.loss_scale).backward()
        models.optimizers["face_generator"].step()
        set_requires_grad(df_raw, True)
    assert df_wrapped is not None
    with autocast:
        features = df_wrapped(torch.cat([stick_f, stick_f]), torch.cat([real_f, out_f.detach()]))
    real_out, fake_out = _split_real_fake([features])
    loss_d = discriminator_loss(real_out, fake_out)
    models.optimizers["face_discriminator"].zero_grad(set_to_none=True)
    (loss_d * batch.loss_scale).backward()
    models.optimizers["face_discriminator"].step()
    l1 = (out_f.detach() - real_f).abs().mean()
    return {"g_gan": loss_gan, "g_fm": loss_fm, "g_vgg": loss_vgg, "d": loss_d, "l1": l1}


# ----------------------------------------------------------------------------------------------
# Rank-0 outputs: log lines, sample images, checkpoints
# ----------------------------------------------------------------------------------------------


def write_sample(path: Path, columns: list[torch.Tensor]) -> None:
    """One PNG: a row per batch item (up to 4), a column per tensor (stick | generated | real)."""
    import cv2

    rows = [
        np.concatenate([to_uint8_images(c[:4])[i] for c in columns], axis=1)
        for i in range(min(4, columns[0].shape[0]))
    ]
    ok, png = cv2.imencode(".png", cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR))
    if ok:
        atomic_write_bytes(path, png.tobytes())


def _sample_columns(
    batch: Batch, models: PhaseModels, config: TrainConfig, phase: Phase
) -> list[torch.Tensor]:
    with torch.no_grad():
        if models.frozen_body is not None:
            _, g_t = models.frozen_body(batch.sticks[:, 0], batch.sticks[:, 1])
            size = config.face.box_size or face_box_size(phase.height)
            corners, _ = face_boxes(batch.body[:, 1], phase.height, phase.width, size)
            s_f, g_f, r_f = (
                crop_boxes(t, corners, size) for t in (batch.sticks[:, 1], g_t.float(), batch.frames[:, 1])
            )
            out = g_f + models.modules["face_generator"](s_f, g_f).float()
            return [s_f, g_f, out, r_f]
        _, g_t = models.modules["generator"](batch.sticks[:, 0], batch.sticks[:, 1])
    return [batch.sticks[:, 1], g_t.float(), batch.frames[:, 1]]


def reduce_mean(values: dict[str, torch.Tensor], count: int, world: int) -> dict[str, float]:
    """Mean over the interval and over workers (one all-reduce; the only host sync of a log step)."""
    keys = sorted(values)
    stacked = torch.stack([values[k].detach().float() for k in keys]) / max(1, count)
    if world > 1:
        import torch.distributed as dist

        dist.all_reduce(stacked)
        stacked /= world
    return dict(zip(keys, stacked.cpu().tolist(), strict=True))


# ----------------------------------------------------------------------------------------------
# The loop every worker runs
# ----------------------------------------------------------------------------------------------


def retain_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse instead of handing it back to the OS.

    A training step allocates and frees the same large activation buffers every time; by default
    glibc serves each with a fresh ``mmap`` and returns it on free, so every step pays page faults
    again. On the 2-core development machine that was 15–25 % of a 512×256 step on CPU. Returns
    False where the C library has no ``mallopt`` (not glibc); harmless there.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
        return bool(
            libc.mallopt(m_mmap_threshold, 1 << 30)
            and libc.mallopt(m_trim_threshold, 1 << 30)
            and libc.mallopt(m_top_pad, 256 << 20)
        )
    except (OSError, AttributeError, TypeError):
        return False


def start_worker(runtime: RuntimeConfig) -> tuple[int, int, torch.device]:
    """This Ray Train worker's rank, world size and device, with its CPU threads, seed and malloc
    behaviour set from ``runtime`` (every training loop starts here)."""
    import ray.train
    import ray.train.torch

    # Ray Train logs an INFO line per report and rank under a logger named after its file's path,
    # outside the "ray.train" tree that LoggingConfig sets, and workers' root logger passes INFO on:
    # keep warnings and errors (our progress lines are plain stdout).
    logging.getLogger().setLevel(logging.WARNING)
    context = ray.train.get_context()
    device = ray.train.torch.get_device()
    retain_freed_memory()
    if device.type == "cpu":
        torch.set_num_threads(runtime.cpus_per_worker)
    torch.manual_seed(runtime.seed)
    return context.get_world_rank(), context.get_world_size(), device


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    import ray.train
    import ray.train.torch

    from .backbones import load_vgg
    from .normalize import pose_statistics

    config = config_from_dict(loop_config["config"], origin="train loop")
    stage: str = loop_config["stage"]
    run_dir = Path(loop_config["run_dir"])
    rank, world, device = start_worker(config.runtime)
    is_chief = rank == 0
    if device.type == "cuda":
        set_fast_cuda_math(True)
    sticks_in_loader = config.data.render_sticks == "loader" or (
        config.data.render_sticks == "auto" and device.type == "cuda"
    )
    precision = resolve_precision(config.runtime.precision, device, warn=is_chief)
    autocast = autocast_for(precision, device)

    # 1. Data: the target's training split (its test split stays held out), as frame pairs.
    clips = load_target_clips(config.data.dataset, config.data.subject, split="train")
    fingerprint = data_fingerprint(clips)
    full = PairDataset(
        clips,
        config.data.height,
        config.data.width,
        max_frames=config.data.max_frames,
        cache_dir=config.data.cache_dir,
    )
    epoch_steps = steps_per_epoch(len(full), config.optim.batch_size, config.schedule.steps_per_epoch)
    phases = plan_phases(config, stage, epoch_steps)
    body_all = np.concatenate([c.poses.body for c in clips])
    target_stats = pose_statistics(body_all, (clips[0].height, clips[0].width), max_frames=5000).to_dict()
    data_record = {
        "dataset": config.data.dataset,
        "subject": clips[0].subject_id,
        "clips": [c.clip_id for c in clips],
        "fingerprint": fingerprint,
        "frame_size": [clips[0].height, clips[0].width],
        "pairs": len(full),
        "target_statistics": target_stats,
    }

    # 2. Perceptual loss backbone: real ImageNet weights or an error, never a random network.
    perceptual: VGGPerceptualLoss | None = None
    backbone: dict[str, Any] = {"name": "none", "source": "loss.lambda_vgg is 0", "weights_sha256": ""}
    if config.loss.lambda_vgg > 0:
        vgg, info = load_vgg(config.loss.backbone, warn=is_chief)
        perceptual = VGGPerceptualLoss(vgg).to(device)
        backbone = info.to_dict()

    # 3. Where to start: Ray's latest checkpoint of this run (resume), else the beginning.
    state: dict[str, Any] | None = None
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            state = load_checkpoint(Path(folder) / CHECKPOINT_FILE)
        if state["data"]["fingerprint"] != fingerprint:
            raise CheckpointError(
                f"run {config.name}: its checkpoint was trained on other data; choose a new run name"
            )
    body_state = load_checkpoint(loop_config["body_checkpoint"]) if stage == "face" else None
    log_path = run_dir / f"{stage}-log.jsonl"
    workers = _gather_worker_identities(rank, world, device)
    if is_chief:
        # Steps after the checkpoint (all of them when a failure came before the first) run again:
        # their log lines go, so that every step is logged once.
        rewind_log(log_path, int(state["step"]) if state else 0)
        log_line(log_path, {"event": "start", "stage": stage, "resumed_at": state["step"] if state else 0,
                             "workers": world, "worker_processes": workers, "device": str(device), "precision": precision,
                             "backbone": backbone, "phases": [p.__dict__ for p in phases],
                             "pairs": len(full), "time": time.time()})  # fmt: skip
        say(f"[{stage}] perceptual backbone: {backbone['name']} ({backbone['source']})")

    # 4. The phases, one after the other; each is epochs of steps over the pair permutation.
    group_totals: dict[str, int] = {}
    for p in phases:
        group_totals[p.group] = group_totals.get(p.group, 0) + p.steps
    models: PhaseModels | None = None
    global_step = session_steps = 0
    group_step: dict[str, int] = {}
    for index, phase in enumerate(phases):
        start_in_phase = 0
        resumed_here = state is not None and state["phase"] == phase.name
        if state is not None and not resumed_here and [p.name for p in phases].index(state["phase"]) > index:
            global_step += phase.steps  # finished before the checkpoint: skip, rebuild later from it
            group_step[phase.group] = group_step.get(phase.group, 0) + phase.steps
            continue
        models = build_phase_models(phase, config, device, models, body_state)
        if resumed_here:
            assert state is not None
            for name, module in models.modules.items():
                module.load_state_dict(state["models"][name])
            for name, opt in models.optimizers.items():
                opt.load_state_dict(state["optimizers"][name])
            start_in_phase = int(state["phase_step"])
            global_step = int(state["step"])
            group_step[phase.group] = int(state["schedulers"]["step_in_group"])
        for name, module in models.modules.items():
            set_activation_checkpointing(module, config.runtime.activation_checkpointing)
            models.wrapped[name] = _prepare(module, config, device)
        if models.frozen_body is not None:
            models.frozen_body.to(device)
        schedule = ConstantThenLinearDecay(
            config.optim.lr, group_totals[phase.group], config.schedule.decay_fraction
        )
        data = (
            full  # every phase reads the same pairs; a half-resolution phase resizes on the device (to_batch)
        )
        step_fn = face_step if stage == "face" else body_step

        sums: dict[str, torch.Tensor] = {}
        metrics: dict[str, float] = {}
        interval_steps, interval_start = 0, time.perf_counter()
        phase_step = start_in_phase
        while phase_step < phase.steps:
            epoch, offset = divmod(phase_step, epoch_steps)
            batches = epoch_batches(
                len(data), config.optim.batch_size, world, rank, config.runtime.seed, epoch, epoch_steps
            )
            n_this_epoch = min(epoch_steps, offset + (phase.steps - phase_step))
            data.stick_size = (phase.height, phase.width) if sticks_in_loader else None
            loader = torch.utils.data.DataLoader(
                data,
                batch_sampler=BatchList(batches[offset:n_this_epoch]),
                num_workers=config.data.loader_workers,
                pin_memory=device.type == "cuda",
                persistent_workers=False,
            )
            for items in loader:
                schedule.step_in_group = group_step.get(phase.group, 0)
                lr = schedule.apply(*models.optimizers.values())
                loss_scale = items["frames"].shape[0] * world / config.optim.batch_size
                batch = to_batch(items, phase, device, loss_scale)
                losses = step_fn(batch, models, perceptual, config, phase, autocast)
                for k, v in losses.items():  # weighted like the gradients: means over the global batch
                    sums[k] = sums.get(k, torch.zeros((), device=device)) + v.detach().float() * loss_scale
                phase_step += 1
                global_step += 1
                group_step[phase.group] = group_step.get(phase.group, 0) + 1
                interval_steps += 1
                phase_end = phase_step == phase.steps
                if global_step % config.runtime.log_every == 0 or phase_end:
                    metrics = reduce_mean(sums, interval_steps, world)
                    elapsed = time.perf_counter() - interval_start
                    images_per_s = interval_steps * config.optim.batch_size * 2 / max(elapsed, 1e-9)
                    if is_chief:
                        record = {"step": global_step, "phase": phase.name, "phase_step": phase_step,
                                  "phase_steps": phase.steps, "epoch": epoch, "lr": lr,
                                  "images_per_s": images_per_s, **metrics, "time": time.time()}  # fmt: skip
                        log_line(log_path, record)
                        losses_text = " ".join(f"{k} {v:.4f}" for k, v in metrics.items())
                        eta = (
                            (phase.steps - phase_step) * config.optim.batch_size * 2 / max(images_per_s, 1e-9)
                        )
                        say(f"[{stage}] {phase.name} {phase_step}/{phase.steps} (step {global_step}) "
                             f"{losses_text} lr {lr:.2e} {images_per_s:.2f} img/s, phase ETA {eta:.0f} s")  # fmt: skip
                    sums, interval_steps, interval_start = {}, 0, time.perf_counter()
                if is_chief and (global_step % config.runtime.sample_every == 0 or phase_end):
                    write_sample(
                        run_dir / "samples" / f"{stage}-{phase.name}-step{global_step:07d}.png",
                        _sample_columns(batch, models, config, phase),
                    )
                session_steps += 1
                stopping = (
                    config.runtime.stop_after_steps is not None
                    and session_steps >= config.runtime.stop_after_steps
                )
                if global_step % config.runtime.checkpoint_every == 0 or phase_end or stopping:
                    finished = phase_end and index == len(phases) - 1
                    record_state: dict[str, Any] = {
                        "stage": stage,
                        "phase": phase.name,
                        "phase_step": phase_step,
                        "step": global_step,
                        "finished": finished,
                        "generator_kind": models.generator_kind,
                        "config": config.model_dump(mode="json"),
                        "models": {k: unwrap(v).state_dict() for k, v in models.modules.items()},
                        "optimizers": {k: v.state_dict() for k, v in models.optimizers.items()},
                        "schedulers": {"step_in_group": group_step[phase.group], **schedule.state_dict()},
                        "backbone": backbone,
                        "data": data_record,
                        "metrics": metrics,
                        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    }
                    if body_state is not None:  # a face checkpoint carries its body generator too
                        record_state["models"]["generator"] = body_state["models"]["generator"]
                        record_state["body_config"] = body_state["config"]
                        record_state["body_step"] = body_state["step"]
                    report_checkpoint(
                        record_state,
                        {"step": global_step, "phase": phase.name, "finished": finished},
                        is_chief,
                    )
                if stopping:
                    if is_chief:
                        say(f"[{stage}] stopped after {session_steps} steps (runtime.stop_after_steps); "
                             "run the same command again to resume")  # fmt: skip
                    return
    if not phases or models is None:
        raise TrainingError(f"stage {stage}: the schedule has no steps; raise the schedule's epochs")


def say(text: str) -> None:
    """One progress line on the worker's stdout (Ray relays it to the driver).

    Not ``print``: Ray Train patches ``print`` in workers to tee into its logger as well, which
    shows every line twice on the console.
    """
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _gather_worker_identities(rank: int, world: int, device: torch.device) -> list[dict[str, Any]]:
    """Rank, Ray node, host and process id of every worker (in rank order): which machines took part."""
    import os
    import socket

    import ray

    me = {
        "rank": rank,
        "node_id": ray.get_runtime_context().get_node_id(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "device": str(device),
    }
    if world == 1:
        return [me]
    import torch.distributed as dist

    everyone: list[Any] = [None] * world
    dist.all_gather_object(everyone, me)
    return everyone


def rewind_log(path: Path, step: int) -> None:
    """Drop the log lines of steps after ``step`` (a resumed run does them again), atomically.

    After a failure the run goes back to its last checkpoint; without this, the steps between that
    checkpoint and the failure would appear twice in the log.
    """
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by the failure
            continue
        if record.get("step", 0) <= step:
            kept.append(line)
    atomic_write_text(path, "".join(f"{line}\n" for line in kept))


def log_line(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def report_checkpoint(state: dict[str, Any], metrics: dict[str, Any], is_chief: bool) -> None:
    """Every worker reports (Ray needs the same number of calls); rank 0 attaches the checkpoint."""
    import ray.train

    if not is_chief:
        ray.train.report(metrics)
        return
    with tempfile.TemporaryDirectory(prefix="dancenow-ckpt-") as folder:
        save_checkpoint(state, Path(folder) / CHECKPOINT_FILE)
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))


# ----------------------------------------------------------------------------------------------
# The driver
# ----------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    stage: str
    checkpoint: Path  # RUN_DIR/STAGE.pt (written once the stage has finished)
    run_dir: Path
    steps: int
    finished: bool


def _with_defaults(saved: dict[str, Any]) -> dict[str, Any]:
    """A saved config with the fields added since it was written filled in with their defaults, so
    that a run from an older version still matches the same settings today."""
    try:
        return config_from_dict(saved).model_dump(mode="json")
    except ConfigError:
        return saved


def _check_existing_run(config: TrainConfig, run_dir: Path) -> None:
    """Resuming is by run name; refuse to resume a run that trained a different model."""
    saved = run_dir / "config.yaml"
    if not saved.is_file():
        return
    import yaml

    old = _with_defaults(yaml.safe_load(saved.read_text(encoding="utf-8")) or {})
    new = config.model_dump(mode="json")
    for section in ("data", "model", "face"):
        if old.get(section) != new.get(section):
            raise ConfigError(
                f"{saved}: run {config.name!r} exists with different {section} settings; "
                "choose another name (--set name=...) or remove the run folder"
            )


def init_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect to ``address`` or start a local Ray, unless Ray is up already; True if this call did.

    Job processes log errors only: Ray Train's placement-group cleaner polls the state API, which
    needs the dashboard of ``ray[default]``, and without it warns every second. Our own progress
    lines are plain stdout and still show.
    """
    import ray

    if ray.is_initialized():
        return False
    ray.init(
        address=address,
        num_cpus=num_cpus,
        logging_level=logging.WARNING,
        logging_config=ray.LoggingConfig(log_level="ERROR"),
    )
    return True


def on_local_ray(runtime: RuntimeConfig) -> bool:
    """Whether training runs on a Ray of this machine alone (no ``runtime.ray_address`` or
    ``RAY_ADDRESS``): no other node can join it, or be drained or preempted."""
    return not (runtime.ray_address or os.environ.get("RAY_ADDRESS"))


@contextmanager
def preemption_watcher_off_locally(runtime: RuntimeConfig) -> Iterator[None]:
    """On a local Ray, Ray Train's preemption watcher has no node to watch; it only starts one more
    actor, which logs a warning about its restart policy at every start. Turned off there (unless
    RAY_TRAIN_ENABLE_PREEMPTION_WATCHER is set), kept on a cluster, where spot nodes are drained."""
    variable = "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"
    if not on_local_ray(runtime) or variable in os.environ:
        yield
        return
    os.environ[variable] = "0"  # read by Ray Train's controller when the run starts
    try:
        yield
    finally:
        os.environ.pop(variable, None)


def check_local_resources(runtime: RuntimeConfig) -> None:
    """On a local Ray (:func:`on_local_ray`), the fewest workers a run needs must fit the machine;
    Ray would otherwise wait for them forever and say nothing. A cluster's autoscaler may add
    nodes, so a cluster is left to Ray."""
    import ray

    if not on_local_ray(runtime):
        return
    workers = runtime.min_workers
    have = ray.cluster_resources()
    needs = {"CPU": workers * runtime.cpus_per_worker, "GPU": workers if runtime.use_gpu else 0}
    short = {kind: n for kind, n in needs.items() if n > have.get(kind, 0)}
    if short:
        wanted = ", ".join(f"{n} {kind}s" for kind, n in short.items())
        present = ", ".join(f"{int(have.get(kind, 0))} {kind}s" for kind in short)
        raise TrainingError(
            f"{workers} worker(s) × {runtime.cpus_per_worker} CPU(s){' and 1 GPU' if runtime.use_gpu else ''} "
            f"need {wanted}, and this machine's Ray has {present}: lower runtime.num_workers (--workers) or "
            "runtime.cpus_per_worker, or train on a cluster (runtime.ray_address)"
        )


def fit_on_ray(
    loop: Callable[[dict[str, Any]], None],
    loop_config: dict[str, Any],
    runtime: RuntimeConfig,
    *,
    name: str,
    storage: Path,
    what: str,
) -> Any:
    """Run ``loop`` on Ray Train workers as ``runtime`` says (workers, elastic range, GPUs, failures,
    checkpoints kept), in ``storage/name``; returns Ray's result. Starts a local Ray when none is up.

    A worker's error comes back as a :class:`TrainingError` with the first line of its cause.
    """
    import ray
    import ray.train
    from ray.train.torch import TorchTrainer

    started_ray = init_ray(runtime.ray_address)
    try:
        check_local_resources(runtime)
        trainer = TorchTrainer(
            loop,
            train_loop_config=loop_config,
            # Train V2's ScalingConfig (the runtime one) is elastic; mypy sees the V1 stub.
            scaling_config=ray.train.ScalingConfig(  # type: ignore[call-arg]
                num_workers=runtime.num_workers,  # type: ignore[arg-type]
                use_gpu=runtime.use_gpu,
                resources_per_worker={"CPU": runtime.cpus_per_worker},
                elastic_resize_monitor_interval_s=runtime.elastic_resize_interval_s,
            ),
            # Train V2's RunConfig (the runtime one) takes logging_config; mypy sees the V1 stub.
            run_config=ray.train.RunConfig(  # type: ignore[call-arg]
                name=name,
                storage_path=str(storage),
                checkpoint_config=ray.train.CheckpointConfig(num_to_keep=runtime.keep_checkpoints),
                failure_config=ray.train.FailureConfig(max_failures=runtime.max_failures),
                logging_config=ray.train.LoggingConfig(log_level="WARNING"),
            ),
        )
        try:
            with preemption_watcher_off_locally(runtime):
                result = trainer.fit()
        except Exception as exc:  # Ray wraps worker errors; surface the first line of the cause
            cause: BaseException = exc
            while cause.__cause__ is not None:
                cause = cause.__cause__
            text = str(cause).strip().splitlines()
            raise TrainingError(
                f"training {what} failed: {text[-1] if text else type(cause).__name__}"
            ) from exc
    finally:
        if started_ray:
            ray.shutdown()
    if result.checkpoint is None:
        raise TrainingError(f"training {what} ended without a checkpoint")
    return result


def train(config: TrainConfig, stage: str, *, body_checkpoint: str | None = None) -> TrainResult:
    """Run ``stage`` ("body" or "face") of ``config`` on Ray Train; returns the final checkpoint.

    Runs live in ``runtime.output_dir/NAME``: ``config.yaml``, ``STAGE-log.jsonl``, ``samples/``,
    Ray's own folder ``STAGE/`` (checkpoints) and, when the stage finishes, ``STAGE.pt``.
    Starting it again with the same name resumes from the latest checkpoint.
    """
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, not {stage!r}")
    # Ray workers do not share our working directory: make local paths absolute.
    config = config.model_copy(deep=True)
    if Path(config.data.dataset).exists():
        config.data.dataset = str(Path(config.data.dataset).resolve())
    if config.data.cache_dir:
        config.data.cache_dir = str(Path(config.data.cache_dir).expanduser().resolve())
    config.runtime.output_dir = str(Path(config.runtime.output_dir).resolve())
    load_target_clips(config.data.dataset, config.data.subject, split="train")  # fail here, not in a worker
    run_dir = config.run_dir
    _check_existing_run(config, run_dir)
    final = run_dir / f"{stage}.pt"
    if final.is_file():
        done = load_checkpoint(final)
        if done.get("finished") and _with_defaults(done["config"]) == config.model_dump(mode="json"):
            say(
                f"{final}: this stage already finished ({done['step']} steps); remove it or choose another name to retrain"
            )
            return TrainResult(
                stage=stage, checkpoint=final, run_dir=run_dir, steps=int(done["step"]), finished=True
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.yaml", config.to_yaml())
    loop_config: dict[str, Any] = {
        "config": config.model_dump(mode="json"),
        "stage": stage,
        "run_dir": str(run_dir),
    }
    if stage == "face":
        body = Path(body_checkpoint) if body_checkpoint else run_dir / "body.pt"
        load_checkpoint(body, stage="body")  # fail here, with a clear message, not inside a worker
        loop_config["body_checkpoint"] = str(body.resolve())

    result = fit_on_ray(
        train_loop_per_worker,
        loop_config,
        config.runtime,
        name=stage,
        storage=run_dir,
        what=f"{config.name}/{stage}",
    )
    with result.checkpoint.as_directory() as folder:
        state = load_checkpoint(Path(folder) / CHECKPOINT_FILE)
    state.pop("path", None)
    if state["finished"]:
        save_checkpoint(state, final)
    return TrainResult(
        stage=stage,
        checkpoint=final,
        run_dir=run_dir,
        steps=int(state["step"]),
        finished=bool(state["finished"]),
    )


__all__ = [
    "ConstantThenLinearDecay",
    "Phase",
    "TrainResult",
    "TrainingError",
    "body_step",
    "face_step",
    "fit_on_ray",
    "init_ray",
    "log_line",
    "plan_phases",
    "reduce_mean",
    "report_checkpoint",
    "retain_freed_memory",
    "rewind_log",
    "say",
    "start_worker",
    "train",
    "train_loop_per_worker",
]
