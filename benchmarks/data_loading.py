"""Pairs per second the training DataLoader delivers: can it keep a GPU fed?

Times what ``train_loop_per_worker`` runs before each step, on a real dataset: ``PairDataset``
reading frame pairs from the memory-mapped frame cache and drawing their stick figures in the
DataLoader's worker processes (``data.render_sticks: loader``, the GPU default), through
``torch.utils.data.DataLoader`` with ``BatchList`` batches of one pair (the paper configs' per-GPU
batch), at each size and number of loader processes. Per setting it reports:

- the first batch's latency (loader processes start afresh every epoch, as in training), and
- steady pairs/s after it, i.e. the fastest training step (in pairs/s per GPU) the loader keeps up
  with. ``benchmarks/train_throughput.py`` gives the step's own rate on the same machine.

Filling the frame cache (decoding the clip once per size) is timed separately: training does it
once, before the first step.

    python benchmarks/data_loading.py                 # needs `make demo`'s dataset
    python benchmarks/data_loading.py --dataset PATH --split train --workers 0,4,8
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record import add_out_option, machine_record, write_record  # noqa: E402
from synthesis.data import BatchList, DataError, PairDataset, load_target_clips  # noqa: E402


def time_loader(data: PairDataset, workers: int, batches: int, seed: int) -> dict[str, Any]:
    """First-batch latency and steady pairs/s of ``batches`` single-pair batches in random order."""
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:batches].tolist()
    loader = torch.utils.data.DataLoader(
        data,
        batch_sampler=BatchList([[i] for i in order]),
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
    )
    start = time.perf_counter()
    arrivals = []
    for items in loader:
        assert items["sticks"].dtype == torch.uint8  # drawn in the loader, as the step expects
        arrivals.append(time.perf_counter())
    first = arrivals[0] - start
    steady = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else float("nan")
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    return {
        "workers": workers,
        "batches": len(arrivals),
        "first_batch_s": round(first, 3),
        "pairs_per_s": round(steady, 1),
        "median_gap_ms": round(1000 * statistics.median(gaps), 2) if gaps else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dataset", default=str(ROOT / "outputs" / "demo" / "dataset"), help="dataset folder or Hub id"
    )
    parser.add_argument(
        "--split",
        default="test",
        help="target split to read (the demo's test clip: 720 frames, a smaller cache)",
    )
    parser.add_argument("--sizes", default="512x256,1024x512", help="comma-separated WIDTHxHEIGHT sizes")
    parser.add_argument("--workers", default="0,1,2,4", help="comma-separated loader process counts")
    parser.add_argument("--batches", type=int, default=300, help="single-pair batches per setting")
    add_out_option(parser, "data_loading_cpu.json")
    args = parser.parse_args()
    try:
        clips = load_target_clips(args.dataset, split=args.split)
    except DataError as exc:
        print(f"{exc} (the default is `make demo`'s dataset; or pass --dataset)", file=sys.stderr)
        return 2
    rows: list[dict[str, Any]] = []
    # A fresh frame cache, so that the cache fill is timed and the user's cache is left alone.
    with tempfile.TemporaryDirectory(prefix="dancenow-bench-frames-") as cache:
        for size in args.sizes.split(","):
            width, height = (int(v) for v in size.split("x"))
            start = time.perf_counter()
            data = PairDataset(clips, height, width, cache_dir=cache)
            fill = time.perf_counter() - start
            frames = sum(len(c.poses) for c in clips)
            print(
                f"{size}: frame cache of {frames} frames filled in {fill:.1f} s ({frames / fill:.0f} frames/s)"
            )
            data.stick_size = (height, width)
            for workers in (int(w) for w in args.workers.split(",")):
                row = {"size": size, **time_loader(data, workers, args.batches, seed=len(rows))}
                rows.append({**row, "cache_fill_s": round(fill, 2)})
                print(
                    f"{size:>9} {workers} loader processes: {row['pairs_per_s']:7.1f} pairs/s "
                    f"(first batch after {row['first_batch_s']:.2f} s)",
                    flush=True,
                )
    record = {
        "benchmark": "data_loading",
        "machine": machine_record(),
        "dataset": args.dataset,
        "split": args.split,
        "clips": [c.clip_id for c in clips],
        "batch": "one pair (2 frames + 2 stick figures, uint8)",
        "sticks": "drawn in the loader processes (data.render_sticks: loader)",
        "results": rows,
    }
    write_record(args.out, record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
