"""Training-step time of the temporal body GAN, against the reference figures in STACK.md.

Reference (measured on the 2-core development machine with the paper's public release): global
generator ngf 64, 4 downsamples, 9 blocks; 2 discriminator scales; VGG loss; batch 1; fp32:
5.6 s per iteration at 256×128 and 12.0 s at 512×256 (width × height). We time our own
``synthesis.train.body_step`` (one temporal pair: two generator passes, D on real and fake
sequences, feature matching, VGG on both frames, both optimiser steps) at the same configuration,
in fp32 and in bf16 autocast (+ channels_last), and the demo configuration's images/s. bf16 is
timed only where the CPU has it natively (AVX512-BF16 or AMX) or with ``--bf16-anyway``.

    python benchmarks/train_step.py                   # prints a table, writes the JSON
    python benchmarks/train_step.py --quick           # fewer repetitions
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bf16_cpu import add_bf16_anyway_option, bf16_timed_here  # noqa: E402
from benchmarks.record import add_out_option, machine_record, write_record  # noqa: E402
from synthesis.backbones import VGGFeatures, load_vgg  # noqa: E402
from synthesis.config import load_config  # noqa: E402
from synthesis.losses import VGGPerceptualLoss  # noqa: E402
from synthesis.train import Batch, Phase, body_step, build_phase_models, retain_freed_memory  # noqa: E402

REFERENCE_S = {"256x128": 5.6, "512x256": 12.0}  # STACK.md, fp32, 2 threads, batch 1


def make_batch(height: int, width: int, batch: int) -> Batch:
    generator = torch.Generator().manual_seed(0)
    sticks = torch.rand(batch, 2, 3, height, width, generator=generator) * 2 - 1
    frames = torch.rand(batch, 2, 3, height, width, generator=generator) * 2 - 1
    body = torch.zeros(batch, 2, 25, 3)
    return Batch(sticks=sticks, frames=frames, body=body)


def vgg19_for_timing() -> VGGFeatures:
    """VGG19's architecture with random weights: only to time the paper's backbone like for like
    (its ImageNet weights are not available offline here; training never uses random weights)."""
    import torchvision

    return VGGFeatures("vgg19", torchvision.models.vgg19(weights=None).features.state_dict())


def time_steps(
    config_overrides: list[str], height: int, width: int, steps: int, warmup: int, vgg_arch: str = "loaded"
) -> dict[str, Any]:
    config = load_config(ROOT / "ray_configs" / "paper_global_512x256.yaml", config_overrides)
    device = torch.device("cpu")
    phase = Phase("global", "global", steps + warmup, height, width)
    models = build_phase_models(phase, config, device, None, None)
    for name, module in models.modules.items():
        if config.runtime.channels_last:
            module.to(memory_format=torch.channels_last)
        models.wrapped[name] = module
    if vgg_arch == "vgg19":
        vgg, backbone = vgg19_for_timing(), "vgg19 (architecture only, for timing)"
    else:
        vgg, info = load_vgg(config.loss.backbone)
        backbone = info.name
    perceptual = VGGPerceptualLoss(vgg)
    if config.runtime.channels_last:
        perceptual.to(memory_format=torch.channels_last)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.runtime.precision == "bf16")
    batch = make_batch(height, width, config.optim.batch_size)
    times = []
    for i in range(steps + warmup):
        start = time.perf_counter()
        losses = body_step(batch, models, perceptual, config, phase, autocast)
        float(losses["d"].detach())  # the step is finished when its loss is on the host
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "steps": steps,
        "backbone": backbone,
        "g_params_m": sum(p.numel() for p in models.modules["generator"].parameters()) / 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the reference used 2)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per configuration")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--quick", action="store_true", help="3 timed steps, 1 warm-up, 256x128 only")
    add_out_option(parser, "train_step_cpu.json")
    parser.add_argument("--sizes", default="256x128,512x256", help="comma-separated WIDTHxHEIGHT sizes")
    add_bf16_anyway_option(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    retained = retain_freed_memory()  # as the training workers do
    steps, warmup = (3, 1) if args.quick else (args.steps, args.warmup)
    sizes = ["256x128"] if args.quick else args.sizes.split(",")
    fp32, bf16 = ["runtime.precision=fp32"], ["runtime.precision=bf16"]
    variants: dict[str, tuple[list[str], str]] = {
        "fp32": (fp32, "loaded"),
        "bf16": (bf16, "loaded"),
        "bf16+channels_last": ([*bf16, "runtime.channels_last=true"], "loaded"),
        "fp32, VGG19": (fp32, "vgg19"),
        "bf16, VGG19": (bf16, "vgg19"),
    }
    time_bf16 = bf16_timed_here(args)
    if not time_bf16:
        variants = {name: v for name, v in variants.items() if not name.startswith("bf16")}
    results = []
    for size in sizes:
        width, height = (int(v) for v in size.split("x"))
        for name, (overrides, vgg_arch) in variants.items():
            size_overrides = [f"data.height={height}", f"data.width={width}"]
            figures = time_steps([*overrides, *size_overrides], height, width, steps, warmup, vgg_arch)
            speedup = REFERENCE_S[size] / figures["median_s"]
            row = {
                "size": size,
                "variant": name,
                **figures,
                "reference_s": REFERENCE_S[size],
                "speedup_vs_reference": speedup,
            }
            results.append(row)
            print(
                f"{size:>8} {name:<20} {figures['median_s']:6.2f} s/step  ({speedup:.2f}× the reference {REFERENCE_S[size]} s)",
                flush=True,
            )

    demo = load_config(ROOT / "ray_configs" / "demo_cpu.yaml")
    demo_overrides = [
        f"model.{k}={v}"
        for k, v in demo.model.model_dump().items()
        if k in ("ngf", "n_downsample", "n_blocks", "ndf", "num_d", "n_layers_d")
    ]
    demo_precision = "bf16" if time_bf16 else "fp32"  # what `auto` trains the demo in here
    demo_overrides += [f"runtime.precision={demo_precision}", f"optim.batch_size={demo.per_worker_batch}"]
    figures = time_steps(demo_overrides, demo.data.height, demo.data.width, steps, warmup)
    images_per_s = 2 * demo.per_worker_batch / figures["median_s"]
    print(
        f"demo config {demo.data.height}x{demo.data.width} {demo_precision}: {figures['median_s']:.3f} s/step, {images_per_s:.1f} images/s per worker"
    )
    record = {
        "benchmark": "train_step",
        "machine": machine_record(threads=args.threads),
        "malloc_retains_freed_memory": retained,
        "reference": "STACK.md: the paper's public release, same configuration, fp32, 2 threads, batch 1",
        "bf16_timed": time_bf16,
        "results": results,
        "demo": {
            "size": f"{demo.data.width}x{demo.data.height}",
            "precision": demo_precision,
            **figures,
            "images_per_s_per_worker": images_per_s,
        },
    }
    write_record(args.out, record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
