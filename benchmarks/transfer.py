"""Transfer frames/s on this machine: a 256×256 demo dance onto the demo model.

Times ``synthesis.transfer.transfer`` end to end on a source video file (decode, pose detection on
all cores, smoothing, normalisation, stick figures, generator fed its previous frame, face residual,
H.264 encode), once with an empty pose cache (cold) and once with the poses cached (warm: the
synthesis part alone), in fp32 and, where the CPU has native bf16 (or with ``--bf16-anyway``), bf16.

    python benchmarks/transfer.py                 # needs `make demo` (model and dance videos)
    python benchmarks/transfer.py --model RUN/face.pt --source dance.mp4
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bf16_cpu import add_bf16_anyway_option, bf16_timed_here  # noqa: E402
from benchmarks.record import add_out_option, machine_record, write_record  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default=str(ROOT / "outputs" / "runs" / "demo" / "face.pt"), help="checkpoint"
    )
    parser.add_argument(
        "--source",
        default=str(ROOT / "outputs" / "demo" / "raw" / "demo-dancer-1" / "source" / "dance.mp4"),
        help="source video",
    )
    add_out_option(parser, "transfer_cpu.json")
    add_bf16_anyway_option(parser)
    args = parser.parse_args()
    for path in (args.model, args.source):
        if not Path(path).exists():
            print(f"{path}: missing; run `make demo` first or pass --model/--source", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="dancenow-bench-") as tmp:
        os.environ["DANCENOW_CACHE"] = tmp  # an empty pose cache: the first run detects every frame
        import torch

        from dataset.video import probe
        from synthesis.transfer import transfer

        time_bf16 = bf16_timed_here(args)
        info = probe(args.source)
        runs = []
        settings = [("cold", "fp32"), ("warm", "fp32")] + ([("warm", "bf16")] if time_bf16 else [])
        for label, precision in settings:
            result = transfer(
                args.model,
                args.source,
                Path(tmp) / f"{label}-{precision}.mp4",
                precision=precision,
                progress=False,
            )
            fps = result.frames_per_second
            runs.append(
                {
                    "cache": label,
                    "precision": precision,
                    "frames": result.frames,
                    "seconds": result.seconds,
                    "frames_per_s": fps,
                }
            )
            print(
                f"{label:>4} {precision}: {result.frames} frames in {result.seconds:.1f} s = {fps:.1f} frames/s",
                flush=True,
            )
    record = {
        "benchmark": "transfer",
        "machine": machine_record(torch_threads=torch.get_num_threads()),
        "source": {
            "path": str(Path(args.source).name),
            "width": info.width,
            "height": info.height,
            "frames": info.frame_count,
        },
        "model": str(args.model),
        "target_frames_per_s": 10.0,
        "runs": runs,
    }
    write_record(args.out, record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
