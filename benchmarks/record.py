"""What every benchmark writes beside its figures: the machine they were measured on, and the JSON
file itself.

A figure is only comparable on the same machine (see README, Benchmarks), so each result names
the CPU model and the instruction sets that change our timings (AVX-512, native bf16 through
AVX512-BF16 or AMX), and the GPU when torch sees one. ``platform.processor()`` alone says only
"x86_64" on Linux, which cannot tell two machines apart.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

from dataset.files import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]

# The /proc/cpuinfo flags that move our CPU figures: vector width and bf16 in hardware.
CPU_FEATURES = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


def _cpuinfo() -> list[str]:
    path = Path("/proc/cpuinfo")
    return path.read_text().splitlines() if path.is_file() else []


def cpu_name() -> str:
    """The CPU's model name ("AMD EPYC", "Intel(R) Xeon(R) Platinum 8481C"), or its architecture."""
    names = [line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine()


def cpu_features() -> list[str]:
    """Which of ``CPU_FEATURES`` this CPU has (empty off Linux)."""
    flags = next((line.split(":", 1)[1].split() for line in _cpuinfo() if line.startswith("flags")), [])
    return [feature for feature in CPU_FEATURES if feature in flags]


def device_slug(device: Any) -> str:
    """``cpu``, or the GPU's name as a file-name part (``nvidia-h100-80gb-hbm3``)."""
    if device.type != "cuda":
        return "cpu"
    import torch

    return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(device).lower()).strip("-")


def machine_record(**extra: Any) -> dict[str, Any]:
    """The machine a benchmark ran on: CPU model, cores and features, Python, and torch and its GPU
    when the benchmark has imported torch; ``extra`` (threads, say) is added as given."""
    features = cpu_features()
    record: dict[str, Any] = {
        "cpu": cpu_name(),
        "cpus": os.cpu_count(),
        "cpu_features": features,
        "cpu_native_bf16": "avx512_bf16" in features or "amx_tile" in features,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    torch = sys.modules.get("torch")  # a benchmark that never needed torch does not pay its import
    if torch is not None:
        record["torch"] = torch.__version__
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            record["gpu"] = props.name
            record["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
    return record | extra


RESULTS = ROOT / "benchmarks" / "results"


def add_out_option(
    parser: argparse.ArgumentParser, file_name: str | None = None, *, by_device: str | None = None
) -> None:
    """Every benchmark's ``--out`` (alias ``--output``): where its JSON goes. The default is
    ``file_name`` under benchmarks/results/, or, for a script that names its file after the device
    it ran on, None (the script fills in ``by_device``, the pattern the help shows)."""
    if (file_name is None) == (by_device is None):
        raise ValueError("add_out_option: give file_name or by_device")
    shown = f"benchmarks/results/{file_name}" if file_name else f"benchmarks/results/{by_device}, by device"
    parser.add_argument(
        "--out",
        "--output",
        dest="out",
        type=Path,
        default=RESULTS / file_name if file_name else None,
        help=f"JSON results file (default: {shown})",
    )


def write_record(path: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Write ``record`` as indented JSON to ``path`` atomically (a stopped run leaves the previous
    file whole), creating its folder; says where."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    print(f"wrote {path}")
    return path
