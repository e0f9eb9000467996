"""Data-parallel scaling of body training: N Ray Train workers against 1, at the same global batch.

Three measurements, for every worker count N:

1. real training: ``synthesis.train.train`` on a local Ray cluster and the demo dataset, N workers
   sharing the global batch (``optim.batch_size``), logging every step; the step time is the median
   gap between consecutive log lines after the warm-up steps. On CPU the workers share the machine's
   cores (``runtime.cpus_per_worker`` = cores // N), so the ideal is t_N == t_1; on GPU each worker
   has its own GPU and the ideal is t_N == t_1 / N.
2. communication alone: N processes (torch.multiprocessing, not Ray) all-reduce fp32 buckets
   (DDP-like, ``--bucket-mb``) as large as the trainable generator and discriminator, once each per
   step as DDP does; gloo with 1 thread per process on CPU, NCCL on GPU.
3. computation alone: ``synthesis.train.body_step`` in this process at N's per-worker batch with N's
   threads per worker (no Ray, no data loading, no all-reduce).

The summary splits the N-worker step into compute(N) + all-reduce(N) and compares it with training.

    python benchmarks/scaling.py                        # N = 1,2 on CPU; 1..GPUs (powers of 2) on CUDA
    python benchmarks/scaling.py --steps 8 --warmup 2   # a quick look
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
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
from synthesis.backbones import load_vgg  # noqa: E402
from synthesis.config import TrainConfig, load_config  # noqa: E402
from synthesis.losses import VGGPerceptualLoss  # noqa: E402
from synthesis.networks import build_discriminator, build_generator  # noqa: E402
from synthesis.precision import autocast as autocast_for  # noqa: E402
from synthesis.precision import resolve_precision  # noqa: E402
from synthesis.train import body_step, build_phase_models, init_ray, plan_phases, train  # noqa: E402

DEFINITIONS = {
    "s_per_step": "median wall time between consecutive per-step log lines (rank 0), warm-up steps dropped",
    "images_per_s": "2 * global_batch / s_per_step (each pair is two generated frames)",
    "images_per_s_per_worker": "images_per_s / workers",
    "slowdown": "t_N / t_1 at the same global batch (1.0 = no cost for splitting the batch)",
    "resources": "compute units of N workers / of 1 worker: 1 on CPU (the same cores shared), N on GPU",
    "efficiency": "t_1 / (resources * t_N): 1.0 = ideal; on CPU = 1 / slowdown, on GPU classic strong scaling",
    "allreduce_ms": "median time of one step's all-reduces (generator and discriminator gradients, once each)",
    "compute_s": "median body_step time in one process at the per-worker batch and threads, no communication",
    "predicted_s": "compute_s(N) + allreduce_ms(N) / 1000",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def step_times(log_path: Path, warmup: int) -> list[float]:
    """Gaps between consecutive step log lines, for the steps after ``warmup``."""
    records = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines() if line]
    steps = sorted((r["step"], r["time"]) for r in records if "step" in r and "event" not in r)
    return [t - t_prev for (_, t_prev), (step, t) in itertools.pairwise(steps) if step > warmup]


def train_run(args: argparse.Namespace, base: list[str], workers: int, cpus: int, gpu: bool) -> list[float]:
    """Real training with ``workers`` Ray workers; returns the timed steps' durations (s)."""
    output_dir = tempfile.mkdtemp(prefix="dancenow-scaling-")
    overrides = [
        f"name=scaling-n{workers}",
        f"runtime.output_dir={output_dir}",
        f"runtime.num_workers={workers}",
        f"runtime.cpus_per_worker={cpus}",
        f"runtime.use_gpu={str(gpu).lower()}",
        "runtime.log_every=1",
        "runtime.checkpoint_every=1000000000",
        "runtime.sample_every=1000000000",
        f"runtime.stop_after_steps={args.steps}",
        "schedule.global_epochs=1",
        f"schedule.steps_per_epoch={args.steps + 1}",  # the phase outlasts the session: no phase-end work
    ]
    try:
        result = train(load_config(args.config, [*base, *overrides]), "body")
        return step_times(result.run_dir / "body-log.jsonl", args.warmup)
    finally:
        shutil.rmtree(output_dir, ignore_errors=True)


def trainable_params(config: TrainConfig) -> dict[str, int]:
    g = build_generator(config.model, "global")
    d = build_discriminator(config.model, config.model.num_d)
    return {
        name: sum(p.numel() for p in m.parameters() if p.requires_grad)
        for name, m in (("generator", g), ("discriminator", d))
    }


def _allreduce_worker(
    rank: int, world: int, port: int, sizes: list[int], iters: int, warmup: int, cuda: bool, queue: Any
) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    if cuda:
        torch.cuda.set_device(rank)
    device = torch.device("cuda", rank) if cuda else torch.device("cpu")
    dist.init_process_group(
        "nccl" if cuda else "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    buckets = [torch.randn(n, device=device) for n in sizes]
    times = []
    for i in range(warmup + iters):
        dist.barrier()
        start = time.perf_counter()
        for bucket in buckets:
            dist.all_reduce(bucket)
        if cuda:
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    if rank == 0:
        queue.put(times)
    dist.destroy_process_group()


def allreduce(params: dict[str, int], workers: int, cuda: bool, args: argparse.Namespace) -> dict[str, Any]:
    """Median ms of one step's all-reduces over ``workers`` processes: each model's grads in buckets."""
    import torch.multiprocessing as mp

    per_bucket = int(args.bucket_mb * 2**20) // 4
    sizes = [min(per_bucket, n - start) for n in params.values() for start in range(0, n, per_bucket)]
    queue = mp.get_context("spawn").SimpleQueue()
    mp.spawn(
        _allreduce_worker,
        args=(workers, free_port(), sizes, args.allreduce_iters, 3, cuda, queue),
        nprocs=workers,
    )
    times = queue.get()
    return {"workers": workers, "backend": "nccl" if cuda else "gloo", "buckets": len(sizes),
            "megabytes": 4 * sum(sizes) / 2**20, "allreduce_ms": 1000 * statistics.median(times)}  # fmt: skip


def compute_s(
    config: TrainConfig,
    batch_size: int,
    threads: int,
    device: torch.device,
    perceptual: Any,
    args: argparse.Namespace,
) -> float:
    """Median time of ``body_step`` alone at ``batch_size`` with ``threads`` torch threads."""
    torch.set_num_threads(threads)
    phase = plan_phases(config, "body", args.compute_steps + args.warmup)[0]
    models = build_phase_models(phase, config, device, None, None)
    for name, module in models.modules.items():
        module.to(device)
        models.wrapped[name] = (
            module.to(memory_format=torch.channels_last) if config.runtime.channels_last else module
        )
    cpu_batch = make_batch(phase.height, phase.width, batch_size)
    batch = dataclasses.replace(
        cpu_batch, sticks=cpu_batch.sticks.to(device), frames=cpu_batch.frames.to(device)
    )
    # auto: bf16 where the device has it in hardware (an AVX2-only CPU runs bf16 many times slower)
    autocast = autocast_for(resolve_precision(config.runtime.precision, device), device)
    times = []
    for i in range(args.warmup + args.compute_steps):
        start = time.perf_counter()
        loss_d = body_step(batch, models, perceptual, config, phase, autocast)["d"]
        float(loss_d.detach())  # the step is finished when its loss is on the host
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def print_summary(rows: list[dict[str, Any]], params: dict[str, int], bucket_mb: float) -> None:
    head = ("workers", "cpus/w", "batch/w", "s/step", "img/s", "img/s/w", "slowdown", "effic.",
            "compute s", "allred ms", "pred. s")  # fmt: skip
    print("\n" + " ".join(f"{h:>9}" for h in head))
    for r in rows:
        cells = [r["workers"], r["cpus_per_worker"], r["per_worker_batch"]]
        cells += [f"{r[k]:.3f}" for k in ("s_per_step", "images_per_s", "images_per_s_per_worker")]
        cells += [f"{r[k]:.3f}" for k in ("slowdown", "efficiency", "compute_s")]
        cells += [f"{r['allreduce_ms']:.1f}", f"{r['predicted_s']:.3f}"]
        print(" ".join(f"{c:>9}" for c in cells))
    print(f"all-reduce payload: generator {params['generator']:,} + discriminator "
          f"{params['discriminator']:,} fp32 parameters, {bucket_mb:g} MB buckets")  # fmt: skip
    one = rows[0]
    for r in rows[1:]:
        n, reduce_s = r["workers"], r["allreduce_ms"] / 1000
        split = r["compute_s"] - one["compute_s"]
        rest = r["s_per_step"] - one["s_per_step"] - split - reduce_s
        print(f"{n} workers: predicted compute({r['cpus_per_worker']} thr, B/{n}) {r['compute_s']:.3f} s "
              f"+ all-reduce {reduce_s:.3f} s = {r['predicted_s']:.3f} s; measured {r['s_per_step']:.3f} s. "
              f"Overhead vs 1 worker x {one['cpus_per_worker']} thr: {r['s_per_step'] - one['s_per_step']:+.3f} s "
              f"= batch/thread split {split:+.3f} + all-reduce {reduce_s:.3f} + rest (Ray, data, contention) "
              f"{rest:+.3f}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--config", default=str(ROOT / "ray_configs" / "demo_cpu.yaml"), help="training config (YAML)")
    add("--workers", default="auto", help="comma-separated worker counts, 1 first; auto = 1,2 on CPU, "
        "1..GPUs (powers of 2) on CUDA")  # fmt: skip
    add(
        "--batch",
        type=int,
        default=4,
        help="global batch (pairs per step over all workers), the same for every N",
    )
    add("--steps", type=int, default=24, help="training steps per run (runtime.stop_after_steps)")
    add("--warmup", type=int, default=4, help="first steps (and body_step calls) left out of every timing")
    add("--compute-steps", type=int, default=8, help="timed body_step calls per compute-only measurement")
    add("--allreduce-iters", type=int, default=30, help="timed steps of all-reduces per worker count")
    add("--bucket-mb", type=float, default=25.0, help="all-reduce bucket size in MB (DDP's default: 25)")
    add("--cores", type=int, default=len(os.sched_getaffinity(0)), help="CPUs for Ray, shared by the workers")
    add_out_option(parser, by_device="scaling_<cpu or GPU name>.json")
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    dataset = Path(load_config(args.config).data.dataset)
    dataset = dataset if dataset.is_absolute() else ROOT / dataset
    if not dataset.is_dir():
        print(
            f"{dataset}: no dataset; make it with `make demo` (or `dancenow demo-data` then `dancenow dataset build`)"
        )
        return 1
    base = [f"data.dataset={dataset}", f"optim.batch_size={args.batch}"]
    config = load_config(args.config, base)
    most = torch.cuda.device_count() if cuda else 2
    auto = [n for n in (1, 2, 4, 8, 16, 32, 64) if n <= most]
    counts = auto if args.workers == "auto" else [int(n) for n in args.workers.split(",")]
    if counts[0] != 1 or any(n > args.batch or args.cores // n < 1 for n in counts):
        parser.error(f"--workers {counts}: start at 1; each N needs an item of --batch and a core")
    cpus = {n: args.cores // n for n in counts}  # on GPU: each worker's host threads

    # 1. Real training on one local Ray cluster, a run per worker count.
    import ray

    runs: dict[int, list[float]] = {}
    init_ray(num_cpus=args.cores)
    try:
        for n in counts:
            print(f"--- training: {n} worker(s) x {cpus[n]} CPU(s), global batch {args.batch}", flush=True)
            runs[n] = train_run(args, base, n, cpus[n], cuda)
    finally:
        ray.shutdown()

    # 2. All-reduce alone (N processes); 3. compute alone (this process, N's batch and threads).
    params = trainable_params(config)
    comm = {n: allreduce(params, n, cuda, args) for n in counts if n > 1}
    perceptual = None
    if config.loss.lambda_vgg > 0:
        perceptual = VGGPerceptualLoss(load_vgg(config.loss.backbone)[0]).to(device)

    rows = []
    t1 = statistics.median(runs[1])
    for n in counts:
        t, batch = statistics.median(runs[n]), -(-args.batch // n)
        compute = compute_s(config, batch, cpus[n], device, perceptual, args)
        resources = n if cuda else n * cpus[n] / cpus[1]
        reduce_ms = comm[n]["allreduce_ms"] if n > 1 else 0.0
        rows.append({"workers": n, "cpus_per_worker": cpus[n], "per_worker_batch": batch, "s_per_step": t,
                     "min_s_per_step": min(runs[n]), "steps_timed": len(runs[n]),
                     "images_per_s": 2 * args.batch / t, "images_per_s_per_worker": 2 * args.batch / t / n,
                     "slowdown": t / t1, "resources": resources, "efficiency": t1 / (resources * t),
                     "compute_s": compute, "allreduce_ms": reduce_ms, "allreduce": comm.get(n),
                     "predicted_s": compute + reduce_ms / 1000})  # fmt: skip
    print_summary(rows, params, args.bucket_mb)

    name = torch.cuda.get_device_name(0) if cuda else cpu_name()
    record = {
        "benchmark": "scaling",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": {
            "type": device.type,
            "name": name,
            "gpus": torch.cuda.device_count() if cuda else 0,
            "cores": args.cores,
        },
        "machine": machine_record(),
        "ray": ray.__version__,
        "config": os.path.relpath(args.config, ROOT),
        "precision": resolve_precision(config.runtime.precision, device, warn=False),
        "global_batch": args.batch,
        "steps": args.steps,
        "warmup_steps": args.warmup,
        "trainable_params": params,
        "definitions": DEFINITIONS,
        "results": rows,
    }
    write_record(args.out or RESULTS / f"scaling_{device_slug(device)}.json", record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
