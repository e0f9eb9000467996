"""End-to-end dataset build throughput: demo videos -> Hub-ready dataset folder.

Renders a demo (target + sources), then builds it twice: cold (empty pose cache: detection on all
cores dominates) and warm (cache hit: what a rebuild after a consent change costs). Prints the
figures and writes JSON (default ``benchmarks/results/dataset_build_cpu.json``).

    python benchmarks/dataset_build.py [--target-seconds 20] [--source-seconds 10] [--size 256]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record import add_out_option, machine_record, write_record  # noqa: E402
from dataset.build import BuildOptions, build_dataset  # noqa: E402
from dataset.consent import write_synthetic_consent  # noqa: E402
from dataset.demo import generate_demo  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target-seconds", type=float, default=20.0, help="target clip length")
    parser.add_argument("--source-seconds", type=float, default=10.0, help="length of each source clip")
    parser.add_argument("--sources", type=int, default=2, help="number of source clips")
    parser.add_argument("--size", type=int, default=256, help="frame size in pixels")
    parser.add_argument("--workers", type=int, default=None, help="detector processes (default: all cores)")
    add_out_option(parser, "dataset_build_cpu.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        clips = generate_demo(
            root / "raw",
            seed=0,
            target_seconds=args.target_seconds,
            source_seconds=args.source_seconds,
            n_sources=args.sources,
            size=args.size,
            progress=False,
        )
        render_s = time.perf_counter() - t
        for subject in sorted({c.subject_id for c in clips}):
            roles: list[str] = [c.role for c in clips if c.subject_id == subject]
            write_synthetic_consent(root / "raw" / subject, subject, roles, signed=date(2026, 1, 1))
        n_frames = sum(c.n_frames for c in clips)
        runs = {}
        for name in ("cold_cache", "warm_cache"):
            options = BuildOptions(
                raw_dir=root / "raw",
                out_dir=root / "dataset",
                cache_dir=root / "cache",
                workers=args.workers,
                progress=False,
            )
            t = time.perf_counter()
            report = build_dataset(options).report
            seconds = time.perf_counter() - t
            runs[name] = {
                "seconds": seconds,
                "frames_per_s": n_frames / seconds,
                "stages_s": report["timings"],
            }
            print(
                f"{name:10s}: {seconds:6.1f} s, {n_frames / seconds:6.1f} frames/s end to end; stages {report['timings']}"
            )
    result = {
        "benchmark": "dataset_build",
        "machine": machine_record(),
        "frames": n_frames,
        "size": args.size,
        "workers": args.workers or os.cpu_count(),
        "render_frames_per_s": n_frames / render_s,
        "runs": runs,
    }
    print(f"demo rendering: {n_frames / render_s:.1f} frames/s")
    write_record(args.out, result)


if __name__ == "__main__":
    main()
