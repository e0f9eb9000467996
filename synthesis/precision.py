"""Which precision the networks compute in: bf16 autocast only where the hardware runs it fast.

bf16 halves memory traffic and runs on the matrix units of recent GPUs (Ampere and later) and CPUs
(AVX512-BF16, AMX). A CPU without those instructions has no fast bf16 kernels: oneDNN falls back to
reference code, and a convolution step on an AVX2-only AMD EPYC took 33–51× as long in bf16 as in
fp32 (``benchmarks/bf16_cpu.py``). ``auto`` therefore picks bf16 only where it is native, and an
explicit ``bf16`` on such a CPU is kept (the user asked) with a one-line warning.
"""

from __future__ import annotations

import sys
from typing import Any

import torch

from .config import PRECISIONS

NO_NATIVE_BF16 = "no native bf16 (AVX512-BF16 or AMX on a CPU), so bf16 runs many times slower than fp32 here"


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 in hardware (so that bf16 autocast makes it faster)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        try:  # private but long-standing helpers; an older torch without them gets fp32
            return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
        except AttributeError:
            return False
    return False


def resolve_precision(requested: str, device: torch.device, *, warn: bool = True) -> str:
    """``fp32`` or ``bf16`` for ``requested`` (``auto``, ``fp32`` or ``bf16``) on ``device``."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision {requested!r}: use one of {', '.join(PRECISIONS)}")
    if requested == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if requested == "bf16" and warn and not native_bf16(device):
        print(
            f"precision bf16: this {device.type.upper()} has {NO_NATIVE_BF16}; use precision auto or fp32",
            file=sys.stderr,
            flush=True,
        )
    return requested


def autocast(precision: str, device: torch.device) -> Any:
    """The autocast context for a resolved ``precision`` (a no-op context for fp32)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def set_fast_cuda_math(enabled: bool) -> None:
    """cuDNN autotuning and TF32 matrix products (``enabled``, what training uses on CUDA), or
    PyTorch's defaults: no autotuning, TF32 for convolutions only (the benchmarks' fp32 baseline).

    Frame sizes are fixed for a whole run, so autotuning picks the fastest convolutions once.
    """
    torch.backends.cudnn.benchmark = enabled
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = True  # PyTorch's default for convolutions, kept in both
