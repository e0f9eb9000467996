"""Evaluation frames/s on this machine: ``dancenow evaluate`` on the demo model's held-out test frames.

Times ``synthesis.evaluate.evaluate`` end to end (model and LPIPS load, generation fed its previous
frame, SSIM/LPIPS, pose detection on the generated frames, temporal coherence, samples) on at most
--max-frames test frames, --repeats times per LPIPS backbone, into a temporary folder. Per run: each
stage's seconds, frames/s (frames / stage seconds) and share of the total, the stage that dominates,
and end-to-end frames/s; the best run per backbone is the one with the highest end-to-end frames/s.

The decoded test frames come from the frame cache under $DANCENOW_CACHE (default
~/.cache/dancenow), left as it is: when it does not yet hold them, the first run (run index 0)
includes decoding them; each run records the frame-cache files it added.

    python benchmarks/evaluation.py               # needs `make demo` (model and dataset)
    python benchmarks/evaluation.py --model RUN/face.pt --lpips alex vgg --max-frames 120
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record import RESULTS, add_out_option, machine_record, write_record  # noqa: E402


def frame_cache_files() -> set[str]:
    from dataset.files import cache_root

    folder = cache_root("frames")
    return {p.name for p in folder.glob("*.npy")} if folder.is_dir() else set()


def summarise(result: dict[str, Any], run: int, cache_added: list[str]) -> dict[str, Any]:
    """One run's figures from ``evaluate``'s results: every stage in ``timings_s``, whatever its keys."""
    frames = int(result["frames"])
    timings = {k: float(v) for k, v in result["timings_s"].items()}
    total = timings.get("total") or sum(timings.values())
    stages: dict[str, dict[str, Any]] = {
        name: {
            "seconds": seconds,
            "frames_per_s": frames / seconds if seconds > 0 else None,
            "share": seconds / total if total > 0 else None,
        }
        for name, seconds in timings.items()
        if name != "total"
    }
    dominant = max(stages, key=lambda name: stages[name]["seconds"]) if stages else None
    return {
        "run": run,
        "frame_cache_files_added": cache_added,
        "may_include_cache_fill": bool(cache_added),
        "frames": frames,
        "stages": stages,
        "total_s": total,
        "unaccounted_s": total - sum(s["seconds"] for s in stages.values()),
        "dominant_stage": dominant,
        "dominant_share": stages[dominant]["share"] if dominant else None,
        "generation_frames_per_s": result["generation_frames_per_s"],
        "frames_per_s": result["frames_per_s"],
    }


def print_run(net: str, record: dict[str, Any]) -> None:
    print(
        f"lpips {net}, run {record['run']}: {record['frames']} frames in {record['total_s']:.1f} s = "
        f"{record['frames_per_s']:.2f} frames/s end to end; dominant: {record['dominant_stage']} "
        f"({100 * (record['dominant_share'] or 0):.0f} %)"
        + (" [includes frame-cache fill]" if record["may_include_cache_fill"] else ""),
        flush=True,
    )
    for name, stage in record["stages"].items():
        fps = "–" if stage["frames_per_s"] is None else f"{stage['frames_per_s']:.2f}"
        share = "–" if stage["share"] is None else f"{100 * stage['share']:.0f} %"
        print(f"  {name:<15} {stage['seconds']:8.2f} s  {fps:>9} frames/s  {share:>5}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default=str(ROOT / "outputs" / "runs" / "demo" / "face.pt"), help="checkpoint"
    )
    parser.add_argument("--dataset", default=None, help="dataset (default: the one the checkpoint records)")
    parser.add_argument(
        "--max-frames", type=int, default=240, help="test frames evaluated per run (default: 240)"
    )
    parser.add_argument("--repeats", type=int, default=2, help="runs per LPIPS backbone (default: 2)")
    parser.add_argument(
        "--lpips",
        nargs="+",
        default=["alex"],
        choices=["alex", "vgg"],
        help="LPIPS backbones, one set of runs each (default: alex)",
    )
    add_out_option(parser, by_device="evaluation_{cpu,cuda}.json")
    args = parser.parse_args()
    if args.max_frames < 1 or args.repeats < 1:
        parser.error("--max-frames and --repeats must be at least 1")
    if not Path(args.model).exists():
        print(f"{args.model}: missing; run `make demo` first or pass --model", file=sys.stderr)
        return 2

    import torch

    from synthesis.evaluate import EvaluationError, evaluate

    cuda = torch.cuda.is_available()
    out = args.out or RESULTS / f"evaluation_{'cuda' if cuda else 'cpu'}.json"
    results: dict[str, Any] = {}
    last: dict[str, Any] = {}
    run_index = 0  # over all backbones: only the first run of the process can fill the frame cache
    with tempfile.TemporaryDirectory(prefix="dancenow-bench-") as tmp:
        for net in args.lpips:
            runs = []
            for _ in range(args.repeats):
                before = frame_cache_files()
                try:
                    last = evaluate(
                        args.model,
                        args.dataset,
                        out=Path(tmp) / f"{net}-{run_index}",
                        max_frames=args.max_frames,
                        lpips_net=net,
                        progress=False,
                    )
                except EvaluationError as exc:
                    print(f"evaluate: {exc}", file=sys.stderr)
                    return 1
                record = summarise(last, run_index, sorted(frame_cache_files() - before))
                runs.append(record)
                print_run(net, record)
                run_index += 1
            best = max(runs, key=lambda r: r["frames_per_s"])
            results[net] = {"best_run": best["run"], "best": best, "runs": runs}
            print(
                f"lpips {net}: best {best['frames_per_s']:.2f} frames/s end to end (run {best['run']}), "
                f"generation {best['generation_frames_per_s']:.2f} frames/s",
                flush=True,
            )
    record = {
        "benchmark": "evaluation",
        "machine": machine_record(torch_threads=torch.get_num_threads()),
        "model": str(args.model),
        "dataset": last.get("dataset"),
        "subject": last.get("subject"),
        "resolution": last.get("resolution"),
        "max_frames": args.max_frames,
        "repeats": args.repeats,
        "frame_cache": "left as it is; a run with frame_cache_files_added includes decoding test frames",
        "lpips": results,
    }
    write_record(out, record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
