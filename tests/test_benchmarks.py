"""The benchmark scripts stay runnable: each imports and explains itself, results name their machine
and are written whole, and one real benchmark runs end to end. No figure is checked here: targets
live in the benchmarks' own output (see README, Benchmarks)."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks.record import CPU_FEATURES, machine_record, write_record
from synthesis.precision import native_bf16

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if p.stem not in {"__init__", "record"})


def test_every_benchmark_script_is_listed() -> None:
    # A new script joins this list by itself; the list is checked so that the glob cannot go empty.
    assert {"train_throughput", "scaling", "train_step", "data_loading", "detection"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_benchmark_imports_and_explains_its_options(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = importlib.import_module(f"benchmarks.{name}")
    monkeypatch.setattr(sys, "argv", [f"benchmarks/{name}.py", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        module.main()
    assert exit_info.value.code == 0
    usage = " ".join(capsys.readouterr().out.split())  # argparse wraps help lines
    assert "--out OUT, --output OUT" in usage, usage
    default = re.search(r"JSON results file \(default: (.+?\.json)", usage)
    assert default, usage
    # the results folder once, and a real file name (or the by-device pattern the script fills in)
    assert re.fullmatch(r"benchmarks/results/[\w{},<> -]+\.json", default.group(1)), default.group(1)


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="reads the CPU from Linux's /proc")
def test_the_machine_record_names_the_cpu_and_what_changes_its_figures() -> None:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    record = machine_record(threads=2)
    assert record["cpu"] and record["cpu"] in cpuinfo  # the model name, not just "x86_64"
    flags = set(next(line for line in cpuinfo.splitlines() if line.startswith("flags")).split(":")[1].split())
    assert record["cpu_features"] == [f for f in CPU_FEATURES if f in flags]
    # The same answer as the one `runtime.precision: auto` acts on.
    assert record["cpu_native_bf16"] == native_bf16(torch.device("cpu"))
    assert record["torch"] == torch.__version__  # torch is imported here
    assert record["threads"] == 2


def test_results_are_written_whole_and_read_back(tmp_path: Path) -> None:
    out = tmp_path / "results" / "x.json"
    write_record(out, {"benchmark": "x", "rows": [1]})
    write_record(out, {"benchmark": "x", "rows": [1, 2]})
    assert json.loads(out.read_text()) == {"benchmark": "x", "rows": [1, 2]}
    with pytest.raises(TypeError):  # not JSON: the previous file stays as it was
        write_record(out, {"benchmark": "x", "rows": object()})
    assert json.loads(out.read_text())["rows"] == [1, 2]
    assert [p.name for p in out.parent.iterdir()] == ["x.json"]  # no temporary file left behind


def test_the_stick_figure_benchmark_runs_and_writes_its_record(tmp_path: Path) -> None:
    out = tmp_path / "stick_figures.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "stick_figures.py"), "--repeats", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert f"wrote {out}" in run.stdout
    record = json.loads(out.read_text())
    assert record["benchmark"] == "stick_figures"
    assert record["machine"]["cpu"] == machine_record()["cpu"]
    assert {(c["width"], c["height"], c["batch"]) for c in record["cases"]} >= {(1024, 512, 8), (128, 128, 1)}
    assert all(c["frames_per_second"] > 0 for c in record["cases"])
