"""bf16 autocast only where the hardware has it (synthesis/precision.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from synthesis.precision import autocast, native_bf16, resolve_precision

CPU = torch.device("cpu")


def _cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="reads the CPU's flags from Linux's /proc")
def test_native_bf16_matches_the_cpu_flags() -> None:
    assert native_bf16(CPU) == bool(_cpu_flags() & {"avx512_bf16", "amx_bf16", "amx_tile"})


def test_auto_picks_bf16_only_where_it_is_native(capsys: pytest.CaptureFixture[str]) -> None:
    assert resolve_precision("auto", CPU) == ("bf16" if native_bf16(CPU) else "fp32")
    assert resolve_precision("fp32", CPU) == "fp32"
    # An explicit bf16 is kept; on a CPU without native bf16 the user is told what it costs.
    assert resolve_precision("bf16", CPU) == "bf16"
    warned = capsys.readouterr().err
    assert ("no native bf16" in warned) == (not native_bf16(CPU))
    with pytest.raises(ValueError, match="precision 'fp16': use one of auto, fp32, bf16"):
        resolve_precision("fp16", CPU)


def test_the_autocast_context_follows_the_resolved_precision() -> None:
    layer = torch.nn.Linear(4, 4)
    x = torch.randn(2, 4)
    with autocast("fp32", CPU):
        assert layer(x).dtype == torch.float32
    with autocast("bf16", CPU):
        assert layer(x).dtype == torch.bfloat16
