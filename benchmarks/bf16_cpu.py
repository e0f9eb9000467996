"""Whether bf16 autocast pays on this CPU: a small convolution stack in fp32 and in bf16.

Six 3×3 convolutions of 64 channels with ReLU at 64×64, batch 2, forward and backward, timed in
fp32 and under bf16 autocast (median of --repeats after a warm-up each), on --threads threads. It
also records what ``synthesis.precision`` decides here: ``native_bf16`` (AVX512-BF16 or AMX) and
what ``runtime.precision: auto`` resolves to. On a CPU without native bf16, oneDNN has no fast bf16
kernels and the ratio shows why ``auto`` picks fp32 there. Usage::

    python benchmarks/bf16_cpu.py [--threads 1] [--repeats 3] [--out PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record import add_out_option, machine_record, write_record  # noqa: E402
from synthesis.precision import NO_NATIVE_BF16, autocast, native_bf16, resolve_precision  # noqa: E402

CPU = torch.device("cpu")


def add_bf16_anyway_option(parser: argparse.ArgumentParser) -> None:
    """The option of every benchmark with bf16 parts; without it they skip bf16 where it is slow."""
    parser.add_argument(
        "--bf16-anyway",
        action="store_true",
        help="time bf16 also on a CPU without native bf16 (there it runs 30-50x slower than fp32)",
    )


def bf16_timed_here(args: argparse.Namespace) -> bool:
    """Whether a benchmark times its bf16 parts on this CPU (native bf16, or ``--bf16-anyway``);
    says so on stderr when it does not."""
    if args.bf16_anyway or native_bf16(CPU):
        return True
    print(f"bf16 skipped: this CPU has {NO_NATIVE_BF16} (--bf16-anyway times it)", file=sys.stderr)
    return False


def step_seconds(net: nn.Module, x: torch.Tensor, precision: str, repeats: int) -> float:
    """Median seconds of one forward and backward pass under ``precision``."""
    times = []
    for i in range(repeats + 1):  # the first pass is a warm-up
        started = time.perf_counter()
        with autocast(precision, CPU):
            loss = net(x).float().mean()
        loss.backward()
        if i:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per precision")
    add_out_option(parser, "bf16_cpu.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = nn.Sequential(*[nn.Sequential(nn.Conv2d(64, 64, 3, padding=1), nn.ReLU()) for _ in range(6)])
    x = torch.randn(2, 64, 64, 64)
    seconds = {p: step_seconds(net, x, p, args.repeats) for p in ("fp32", "bf16")}
    result = {
        "benchmark": "bf16_cpu",
        "machine": machine_record(threads=args.threads),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": native_bf16(CPU),
        "auto_resolves_to": resolve_precision("auto", CPU),
        "step": "6 conv3x3 64ch + ReLU at 64x64, batch 2, forward + backward",
        "seconds": {p: round(s, 4) for p, s in seconds.items()},
        "bf16_over_fp32": round(seconds["bf16"] / seconds["fp32"], 2),
    }
    print(
        f"fp32 {seconds['fp32']:.3f} s, bf16 {seconds['bf16']:.3f} s ({result['bf16_over_fp32']}x); "
        f"native bf16: {result['native_bf16']}; auto -> {result['auto_resolves_to']}"
    )
    write_record(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
