"""Does bf16 autocast cost quality? The same model trained in fp32 and in bf16, compared on held-out frames.

Trains the demo configuration's body generator (global phase) for ``--steps`` steps in this
process on the demo dataset's train split, once in fp32 and once with bf16 autocast, from the same
seed and on the same batches; then evaluates both in fp32 on pairs of the target's held-out test
split: L1 and VGG perceptual distance of the generated frame to the real frame, and time per step.
On a CPU without native bf16 it does nothing unless given ``--bf16-anyway`` (bf16 would take
over an hour there, and `auto` never trains in bf16 on such a CPU).

    python benchmarks/precision_quality.py                      # needs `make demo`'s dataset
    python benchmarks/precision_quality.py --dataset PATH --steps 100
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import default_collate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bf16_cpu import add_bf16_anyway_option, bf16_timed_here  # noqa: E402
from benchmarks.record import add_out_option, machine_record, write_record  # noqa: E402
from synthesis.backbones import load_vgg  # noqa: E402
from synthesis.config import load_config  # noqa: E402
from synthesis.data import PairDataset, epoch_batches, load_target_clips  # noqa: E402
from synthesis.losses import VGGPerceptualLoss  # noqa: E402
from synthesis.train import Phase, body_step, build_phase_models, to_batch  # noqa: E402


def run(
    precision: str,
    args: argparse.Namespace,
    train: PairDataset,
    test: PairDataset,
    perceptual: VGGPerceptualLoss,
) -> dict[str, float]:
    config = load_config(
        args.config, [f"runtime.precision={precision}", "optim.batch_size=1", "runtime.num_workers=1"]
    )
    device = torch.device("cpu")
    phase = Phase("global", "global", args.steps, config.data.height, config.data.width)
    torch.manual_seed(config.runtime.seed)
    models = build_phase_models(phase, config, device, None, None)
    models.wrapped.update(models.modules)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    order = epoch_batches(len(train), 1, 1, 0, config.runtime.seed, 0, min(args.steps, len(train)))
    started = time.perf_counter()
    for i in range(args.steps):
        items = default_collate([train[j] for j in order[i % len(order)]])
        body_step(to_batch(items, phase, device), models, perceptual, config, phase, autocast)
    seconds_per_step = (time.perf_counter() - started) / args.steps
    generator = models.modules["generator"]
    l1 = vgg = 0.0
    picks = torch.linspace(0, len(test) - 1, args.eval_pairs).round().long().tolist()
    with torch.no_grad():
        for j in picks:
            batch = to_batch(default_collate([test[j]]), phase, device)
            _, fake = generator(batch.sticks[:, 0], batch.sticks[:, 1])
            l1 += float((fake - batch.frames[:, 1]).abs().mean())
            vgg += float(perceptual(fake, batch.frames[:, 1]))
    return {"seconds_per_step": seconds_per_step, "test_l1": l1 / len(picks), "test_vgg": vgg / len(picks)}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dataset", default=str(ROOT / "outputs" / "demo" / "dataset"), help="dataset folder"
    )
    parser.add_argument("--config", default=str(ROOT / "ray_configs" / "demo_cpu.yaml"), help="model config")
    parser.add_argument("--steps", type=int, default=150, help="training steps per precision")
    parser.add_argument("--eval-pairs", type=int, default=32, help="held-out pairs to evaluate")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    add_out_option(parser, "precision_quality_cpu.json")
    add_bf16_anyway_option(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not bf16_timed_here(args):
        # its bf16 half would take over an hour here, and the question (does bf16 cost quality?)
        # only matters where bf16 is what `auto` trains in
        print("precision_quality: nothing to compare without bf16; no JSON written", file=sys.stderr)
        return 0
    config = load_config(args.config)
    if not Path(args.dataset).exists():
        print(f"{args.dataset}: no dataset; run `make demo` first or pass --dataset", file=sys.stderr)
        return 2
    train = PairDataset(load_target_clips(args.dataset, split="train"), config.data.height, config.data.width)
    test = PairDataset(load_target_clips(args.dataset, split="test"), config.data.height, config.data.width)
    vgg, info = load_vgg(config.loss.backbone)
    perceptual = VGGPerceptualLoss(vgg)
    results = {}
    for precision in ("fp32", "bf16"):
        results[precision] = run(precision, args, train, test, perceptual)
        r = results[precision]
        print(
            f"{precision}: {r['seconds_per_step']:.3f} s/step, held-out L1 {r['test_l1']:.4f}, VGG {r['test_vgg']:.3f}",
            flush=True,
        )
    record = {
        "benchmark": "precision_quality",
        "machine": machine_record(threads=args.threads),
        "config": str(Path(args.config).name),
        "backbone": info.to_dict(),
        "steps": args.steps,
        "eval_pairs": args.eval_pairs,
        "results": results,
        "bf16_vs_fp32": {
            "speedup": results["fp32"]["seconds_per_step"] / results["bf16"]["seconds_per_step"],
            "test_l1_ratio": results["bf16"]["test_l1"] / results["fp32"]["test_l1"],
            "test_vgg_ratio": results["bf16"]["test_vgg"] / results["fp32"]["test_vgg"],
        },
    }
    print(json.dumps(record["bf16_vs_fp32"]))
    write_record(args.out, record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
