"""Training throughput, model FLOPs utilisation (MFU) and peak memory of the paper's configurations.

For each configuration, one training step (``synthesis.train.body_step`` or ``face_step``, batch
1 per device unless --batch) is timed in up to three variants, side by side in the same run:

- baseline: fp32, contiguous (NCHW) tensors, no compile, Adam without ``fused``/``foreach``: the
  same model without the optimisations;
- optimised: bf16 autocast where the device has bf16 in hardware (``runtime.precision: auto``: a
  GPU, or a CPU with AVX512-BF16 or AMX; fp32 elsewhere, where bf16 runs many times slower),
  channels_last modules and perceptual loss, fused Adam (what ``build_phase_models`` gives);
- optimised+compile: the same with ``torch.compile`` of each trained module (--compile; default on
  CUDA only). Warm-up steps absorb the compilation.

Configurations (--configs): ``global512`` (paper_global_512x256.yaml, phase global, 512x256),
``local1024`` (paper_1024x512.yaml, phase local: local enhancer and global generator training,
3 discriminator scales, 1024x512) and ``face1024`` (paper_1024x512.yaml, phase face, with a freshly
built frozen body generator). With --activation-checkpointing (default) local1024 is also run with
``runtime.activation_checkpointing=true``, in the optimised variants, to show the memory it saves.

Figures per row: seconds per step and images/s per device (a step trains on batch pairs = 2 x batch
images); model FLOPs per step (forward + backward, counted once per configuration with
``torch.utils.flop_counter.FlopCounterMode`` over one real baseline step, recomputation by
activation checkpointing not included) and MFU = FLOPs per step / step time / peak FLOP/s; peak
memory and whether it fits 24 GiB.

- CUDA: the peak is the GPU's dense bf16 tensor-core peak from a table (measured with a large bf16
  matmul when the GPU is not in it), used for the fp32 and bf16 variants alike; memory is
  ``torch.cuda.max_memory_allocated`` / ``max_memory_reserved`` over the timed steps; time is the
  timed loop's wall time between two ``torch.cuda.synchronize`` calls, over the steps.
- CPU: the peak is measured (a 2048x2048 matmul in fp32 and in bf16 with the current threads) and
  MFU is against the measured peak of the variant's dtype; each row runs in a child process whose
  peak RSS is reported as a CPU-side estimate of the step's memory; time is the median step, the
  loss read back on the host every step.

    python benchmarks/train_throughput.py                        # all configurations, table + JSON
    python benchmarks/train_throughput.py --configs global512 --steps 1 --warmup 0   # a quick look
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record import (  # noqa: E402
    RESULTS,
    add_out_option,
    cpu_name,
    device_slug,
    machine_record,
    write_record,
)
from benchmarks.train_step import make_batch  # noqa: E402
from dataset.keypoints import BODY  # noqa: E402
from synthesis.backbones import load_vgg  # noqa: E402
from synthesis.config import TrainConfig, load_config  # noqa: E402
from synthesis.losses import VGGPerceptualLoss  # noqa: E402
from synthesis.networks import build_generator, set_activation_checkpointing  # noqa: E402
from synthesis.precision import autocast as autocast_for  # noqa: E402
from synthesis.precision import resolve_precision, set_fast_cuda_math  # noqa: E402
from synthesis.train import (  # noqa: E402
    Phase,
    body_step,
    build_phase_models,
    face_step,
    retain_freed_memory,
)

GIB = 2**30


@dataclass(frozen=True)
class Setup:
    label: str
    yaml: str
    phase: str  # global | local | face (the phase's name and its schedule group)
    height: int
    width: int
    overrides: tuple[str, ...] = ()


SETUPS = {
    "global512": Setup("512x256 global", "paper_global_512x256.yaml", "global", 256, 512),
    "local1024": Setup("1024x512 local", "paper_1024x512.yaml", "local", 512, 1024),
    "face1024": Setup("1024x512 face", "paper_1024x512.yaml", "face", 512, 1024),
    "local1024+ckpt": Setup(
        "1024x512 local, act. ckpt",
        "paper_1024x512.yaml",
        "local",
        512,
        1024,
        ("runtime.activation_checkpointing=true",),
    ),
}
_OPTIMISED = ("runtime.precision=auto", "runtime.channels_last=true")
VARIANTS: dict[str, tuple[str, ...]] = {
    "baseline": ("runtime.precision=fp32", "runtime.channels_last=false", "runtime.compile=false"),
    "optimised": (*_OPTIMISED, "runtime.compile=false"),
    "optimised+compile": (*_OPTIMISED, "runtime.compile=true"),
}
# Dense bf16 tensor-core peaks (no sparsity), matched in order against torch.cuda.get_device_name.
CUDA_BF16_PEAKS = [
    (r"H100.*PCIe", 756e12),
    (r"H100 (SXM|80GB HBM3)", 989.4e12),
    (r"H200", 989.4e12),
    (r"A100", 312e12),
    (r"L40S", 362e12),
    (r"A10G", 125e12),
    (r"\bL4\b", 121e12),
    (r"RTX 4090", 165e12),
]


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int, reps: int) -> float:
    """Achievable FLOP/s: the fastest of ``reps`` n×n matmuls."""
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    best = float("inf")
    for _ in range(reps + 1):  # the first is a warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def peak_flops(device: torch.device) -> dict[str, dict[str, Any]]:
    """The peak each variant's MFU is taken against, by dtype, with where the figure comes from."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for pattern, value in CUDA_BF16_PEAKS:
            if re.search(pattern, name):
                source = f"table: dense bf16 tensor-core peak of {name}, used for fp32 and bf16 variants"
                return {"bf16": {"flops": value, "source": source}}
        value = matmul_peak(device, torch.bfloat16, 8192, 20)
        source = f"measured: 8192x8192 bf16 matmul ({name} not in the table), used for fp32 and bf16 variants"
        return {"bf16": {"flops": value, "source": source}}
    threads = torch.get_num_threads()
    return {
        name: {
            "flops": matmul_peak(device, dtype, 2048, 5),
            "source": f"measured: 2048x2048 {name} matmul, {threads} threads",
        }
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))
    }


def plain_adam(opt: torch.optim.Optimizer, config: TrainConfig) -> torch.optim.Adam:
    """Adam over the same parameter groups, neither fused nor foreach (the baseline's optimiser)."""
    o = config.optim
    groups = [{"params": group["params"]} for group in opt.param_groups]
    return torch.optim.Adam(groups, lr=o.lr, betas=(o.beta1, o.beta2), foreach=False, fused=False)


def measure(
    key: str, variant: str, device: torch.device, steps: int, warmup: int, batch_size: int, count_flops: bool
) -> dict[str, Any]:
    """Build the models of one configuration and variant, then time ``steps`` training steps."""
    from torch.utils.flop_counter import FlopCounterMode

    setup = SETUPS[key]
    overrides = [f"optim.batch_size={batch_size}", *setup.overrides, *VARIANTS[variant]]
    config = load_config(ROOT / "ray_configs" / setup.yaml, overrides)
    assert (config.data.height, config.data.width) == (setup.height, setup.width), setup.yaml
    phase = Phase(setup.phase, setup.phase, steps + warmup, setup.height, setup.width)
    body_state = None
    if setup.phase == "face":  # a freshly initialised body generator stands in for a trained one
        body = build_generator(config.model, "local")
        body_state = {
            "config": config.model_dump(mode="json"),
            "generator_kind": "local",
            "models": {"generator": body.state_dict()},
        }
    if device.type == "cuda":  # the baseline keeps PyTorch's defaults; training autotunes and uses TF32
        set_fast_cuda_math(variant != "baseline")
    models = build_phase_models(phase, config, device, None, body_state)
    for name, module in models.modules.items():
        set_activation_checkpointing(module, config.runtime.activation_checkpointing)
        module.to(device)
        if config.runtime.channels_last:
            module.to(memory_format=torch.channels_last)
        models.wrapped[name] = torch.compile(module) if config.runtime.compile else module  # type: ignore[assignment]
    if variant == "baseline":
        models.optimizers = {name: plain_adam(opt, config) for name, opt in models.optimizers.items()}
    vgg, info = load_vgg(config.loss.backbone)
    perceptual = VGGPerceptualLoss(vgg).to(device)
    if config.runtime.channels_last:
        perceptual.to(memory_format=torch.channels_last)
    # auto: bf16 where the device has it in hardware (an AVX2-only CPU runs bf16 many times slower)
    autocast = autocast_for(resolve_precision(config.runtime.precision, device), device)
    batch = make_batch(setup.height, setup.width, batch_size)
    # A standing subject's nose near the top centre, so the face boxes land inside the frame.
    batch.body[..., BODY["Nose"], :] = torch.tensor([setup.width / 2, setup.height / 6, 1.0])
    batch.sticks, batch.frames, batch.body = (t.to(device) for t in (batch.sticks, batch.frames, batch.body))
    step_fn = face_step if setup.phase == "face" else body_step

    def step() -> dict[str, torch.Tensor]:
        return step_fn(batch, models, perceptual, config, phase, autocast)

    flops = None
    if count_flops:  # one real step under the counter; it stands for the first warm-up step
        with FlopCounterMode(display=False) as counter:
            step()["d"].item()
        flops, warmup = counter.get_total_flops(), max(0, warmup - 1)
    for _ in range(warmup):
        step()["d"].item()
    figures: dict[str, Any] = {}
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
        step_s = (time.perf_counter() - start) / steps
        figures["max_memory_allocated_gib"] = torch.cuda.max_memory_allocated(device) / GIB
        figures["max_memory_reserved_gib"] = torch.cuda.max_memory_reserved(device) / GIB
        figures["cuda_math"] = (
            "cudnn.benchmark, TF32 matmuls and convolutions"
            if torch.backends.cudnn.benchmark
            else "PyTorch defaults: no cudnn.benchmark, TF32 for convolutions only"
        )
    else:
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            step()["d"].item()  # the step is finished when its loss is on the host
            times.append(time.perf_counter() - start)
        step_s = statistics.median(times)
    trainable = {p for opt in models.optimizers.values() for g in opt.param_groups for p in g["params"]}
    return {
        "step_s": step_s,
        "images_per_s": 2 * batch_size / step_s,
        "flops_per_step": flops,
        "backbone": info.name,
        "trainable_params_m": sum(p.numel() for p in trainable) / 1e6,
        **figures,
    }


def run_in_child(args: argparse.Namespace, key: str, variant: str, count_flops: bool) -> dict[str, Any]:
    """One CPU row in a fresh process, so that its peak RSS is that row's alone."""
    spec = f"{key}:{variant}:{int(count_flops)}"
    command = [sys.executable, str(Path(__file__).resolve()), "--device", "cpu", "--child", spec]
    command += ["--steps", str(args.steps), "--warmup", str(args.warmup)]
    command += ["--threads", str(args.threads), "--batch", str(args.batch)]
    out = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def child_main(args: argparse.Namespace) -> int:
    key, variant, count_flops = args.child.split(":")
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB  # ru_maxrss is in KiB
    result = measure(
        key, variant, torch.device("cpu"), args.steps, args.warmup, args.batch, count_flops == "1"
    )
    result["rss_at_start_gib"] = rss_start
    result["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB
    print(json.dumps(result), flush=True)
    return 0


def device_record(device: torch.device, threads: int) -> dict[str, Any]:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return {"type": "cuda", "name": name, "capability": list(torch.cuda.get_device_capability(device))}
    return {"type": "cpu", "name": f"{cpu_name()} ({os.cpu_count()} CPUs)", "threads": threads}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where to run (default: auto = CUDA if available, else CPU)",
    )
    parser.add_argument(
        "--configs",
        default="global512,local1024,face1024",
        help="comma list of global512, local1024, face1024 (default: all three)",
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="timed steps per row (default: CUDA 20, CPU 2)"
    )
    parser.add_argument(
        "--warmup", type=int, default=None, help="untimed steps first (default: CUDA 10, CPU 1)"
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="torch CPU threads, CPU runs only (default: 2)"
    )
    parser.add_argument(
        "--batch", type=int, default=1, help="pairs per step per device, 2 images each (default: 1)"
    )
    parser.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also time the optimised+compile variant (default: on for CUDA, off for CPU)",
    )
    parser.add_argument(
        "--activation-checkpointing",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run local1024 with runtime.activation_checkpointing=true (optimised variants; default: on)",
    )
    add_out_option(parser, by_device="train_throughput_<cpu or GPU name>.json")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)  # KEY:VARIANT:COUNT_FLOPS
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if cuda else "cpu")
    args.steps = args.steps if args.steps is not None else (20 if cuda else 2)
    args.warmup = args.warmup if args.warmup is not None else (10 if cuda else 1)
    if not cuda:
        torch.set_num_threads(args.threads)
    retained = retain_freed_memory()  # as the training workers do
    if args.child:
        return child_main(args)
    compile_on = cuda if args.compile is None else args.compile
    keys = [k.strip() for k in args.configs.split(",") if k.strip()]
    unknown = [k for k in keys if k not in SETUPS or "+" in k]
    if unknown or not keys:
        raise SystemExit(f"--configs: unknown {unknown}; choose from global512, local1024, face1024")
    if args.activation_checkpointing and "local1024" in keys:
        keys.insert(keys.index("local1024") + 1, "local1024+ckpt")
    out = args.out or RESULTS / f"train_throughput_{device_slug(device)}.json"
    peaks = peak_flops(device)
    for dtype, peak in peaks.items():
        print(f"peak {dtype}: {peak['flops'] / 1e12:.2f} TFLOP/s ({peak['source']})", flush=True)

    # Every configuration's plain variants first, the compiled ones after: compiling takes minutes
    # on a GPU, and the JSON is rewritten after each row, so a run cut short keeps the comparisons.
    plan = []
    for key in keys:
        variants = ["optimised"] if "+" in key else ["baseline", "optimised"]
        plan += [(key, variant) for variant in variants]
    if compile_on:
        plan += [(key, "optimised+compile") for key in keys]
    settings = {
        "steps": args.steps,
        "warmup": args.warmup,
        "batch_per_device": args.batch,
        "compile": compile_on,
        "malloc_retains_freed_memory": retained,
    }
    rows: list[dict[str, Any]] = []
    flops_of: dict[str, float] = {}
    for key, variant in plan:
        base = key.split("+")[0]  # model FLOPs of the checkpointed run: its configuration's, no recompute
        count = base not in flops_of
        if cuda:
            gc.collect()
            torch._dynamo.reset()
            torch.cuda.empty_cache()
            result = measure(key, variant, device, args.steps, args.warmup, args.batch, count)
            memory = result["max_memory_reserved_gib"]
        else:
            result = run_in_child(args, key, variant, count)
            memory = result["peak_rss_gib"]
        if count:
            flops_of[base] = result["flops_per_step"]
        precision = "fp32" if variant == "baseline" else resolve_precision("auto", device, warn=False)
        peak = peaks["bf16"] if cuda or precision == "bf16" else peaks["fp32"]
        flops = flops_of[base]
        row = {
            "config": key,
            "label": SETUPS[key].label,
            "variant": variant,
            "precision": precision,
            "batch_per_device": args.batch,
            **result,
            "flops_per_step": flops,
            "achieved_tflop_per_s": flops / result["step_s"] / 1e12,
            "mfu": flops / result["step_s"] / peak["flops"],
            "mfu_peak": peak["source"],
            "peak_memory_gib": memory,
            "fits_24gb": memory < 24,
        }
        rows.append(row)
        print(
            f"{row['label']:<26} {variant:<18} {row['step_s']:8.3f} s/step {row['images_per_s']:8.2f} img/s "
            f"MFU {row['mfu']:6.1%} {memory:6.2f} GiB",
            flush=True,
        )
        record = make_record(device, args.threads, settings, peaks, rows, complete=len(rows) == len(plan))
        write_record(out, record)  # after every row: a run cut short keeps the rows done
    print_summary(record, cuda)
    return 0


def make_record(
    device: torch.device,
    threads: int,
    settings: dict[str, Any],
    peaks: dict[str, dict[str, Any]],
    rows: list[dict[str, Any]],
    complete: bool,
) -> dict[str, Any]:
    """The JSON record of the rows so far, with the speed-ups and what checkpointing saves."""
    cuda = device.type == "cuda"

    def find(key: str, variant: str) -> dict[str, Any] | None:
        return next((r for r in rows if r["config"] == key and r["variant"] == variant), None)

    speedups = {
        key: {r["variant"]: r["images_per_s"] / base["images_per_s"] for r in rows if r["config"] == key}
        for key in dict.fromkeys(r["config"] for r in rows)
        if (base := find(key, "baseline")) is not None
    }
    checkpointing = {}
    for r in rows:
        plain = find("local1024", r["variant"]) if r["config"] == "local1024+ckpt" else None
        if plain is not None:
            checkpointing[r["variant"]] = {
                "peak_memory_gib_without": plain["peak_memory_gib"],
                "peak_memory_gib_with": r["peak_memory_gib"],
                "memory_saved_gib": plain["peak_memory_gib"] - r["peak_memory_gib"],
                "step_time_ratio": r["step_s"] / plain["step_s"],
            }
    return {
        "benchmark": "train_throughput",
        "complete": complete,
        "device": device_record(device, threads),
        "machine": machine_record(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": settings,
        "peak_flops": peaks,
        "notes": {
            "images_per_s": "per device: 2 x batch images per step / step time",
            "flops_per_step": "model FLOPs of one step (forward + backward), FlopCounterMode over one real fp32 "
            "baseline step of the configuration (face: with the frozen body generator's forward); activation "
            "checkpointing's recomputation is not counted",
            "mfu": (
                "flops_per_step / step_s / the dense bf16 tensor-core peak, for fp32 and bf16 variants alike"
                if cuda
                else "flops_per_step / step_s / the measured CPU matmul peak of the variant's dtype"
            ),
            "peak_memory_gib": (
                "torch.cuda.max_memory_reserved over the timed steps"
                if cuda
                else "peak RSS of the row's own process (ru_maxrss): a CPU-side estimate of the step's memory, "
                "Python and torch included (rss_at_start_gib)"
            ),
            "timing": (
                "wall time of the timed steps between two torch.cuda.synchronize calls, per step"
                if cuda
                else "median step time, the loss read on the host every step"
            ),
            "baseline": "fp32, NCHW, Adam neither fused nor foreach, no compile"
            + ("; PyTorch's default CUDA math (no cudnn.benchmark, TF32 convolutions)" if cuda else ""),
        },
        "rows": rows,
        "speedups": speedups,
        "activation_checkpointing": checkpointing,
    }


def print_summary(record: dict[str, Any], cuda: bool) -> None:
    rows = record["rows"]
    memory_title = "reserved GiB" if cuda else "peak RSS GiB"
    print(
        f"\n{record['device']['name']}, torch {record['torch']}, batch {record['settings']['batch_per_device']}"
    )
    header = f"{'config':<26} {'variant':<18} {'s/step':>8} {'img/s':>8} {'GFLOP/step':>11} {'MFU':>7} {memory_title:>13} {'<24GiB':>6}"
    print(header + "\n" + "-" * len(header))
    for r in rows:
        print(
            f"{r['label']:<26} {r['variant']:<18} {r['step_s']:8.3f} {r['images_per_s']:8.2f} "
            f"{r['flops_per_step'] / 1e9:11.1f} {r['mfu']:7.2%} {r['peak_memory_gib']:13.2f} {'yes' if r['fits_24gb'] else 'no':>6}"
        )
    for key, by_variant in record["speedups"].items():
        text = ", ".join(f"{v} {s:.2f}x" for v, s in by_variant.items() if v != "baseline")
        print(f"speedup over baseline, {SETUPS[key].label}: {text}")
    for variant, c in record["activation_checkpointing"].items():
        print(
            f"activation checkpointing, 1024x512 local, {variant}: {c['peak_memory_gib_without']:.2f} -> "
            f"{c['peak_memory_gib_with']:.2f} GiB, {c['step_time_ratio']:.2f}x the step time"
        )
    if not cuda:
        print("MFU against the measured matmul peak of the variant's dtype; peak RSS of each row's process "
              "is a CPU-side estimate of the step's memory (it includes Python and torch, see rss_at_start_gib)")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
