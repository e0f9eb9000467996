"""Detection frames/s on this machine: the learned detector, classifier alone and end to end.

1. Classifier: person crops (the detector's input size) per second through the trained
   classifier, at several batch sizes, on the CPU (and the GPU when there is one).
2. End to end: ``forensics.detect.detect_video`` on a video, judging every frame
   (``--max-frames 0``) or a spread sample: decode, pose detection (finds the person), crops,
   classifier. Frames judged per second, and the share the pose detector takes.

    python benchmarks/detection.py                 # needs `make demo` (detector and a transfer)
    python benchmarks/detection.py --model RUN/detector.pt --video VIDEO --repeats 3
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record import RESULTS, add_out_option, machine_record, write_record  # noqa: E402


def classifier_rate(detector: Any, device: str, batch: int, repeats: int) -> float:
    import numpy as np
    import torch

    from forensics.classifier import images_to_tensor

    size = detector.input_size
    crops = np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    model = detector.model.to(device)
    best = 0.0
    with torch.inference_mode():
        for _ in range(repeats + 1):  # the first run warms up
            start = time.perf_counter()
            torch.sigmoid(model(images_to_tensor(crops).to(device))).cpu()
            if device == "cuda":
                torch.cuda.synchronize()
            best = max(best, batch / (time.perf_counter() - start))
    model.to("cpu")
    return best


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default="outputs/runs/detector-demo/detector.pt", help="detector checkpoint"
    )
    parser.add_argument("--video", default="outputs/demo/transfer/demo-dancer-1.mp4", help="video to judge")
    parser.add_argument("--max-frames", type=int, nargs="+", default=[64, 0], help="frames judged (0 = all)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64], help="classifier batch sizes")
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting (best kept)")
    add_out_option(parser, by_device="detection_{cpu,cuda}.json")
    args = parser.parse_args()

    import torch

    import forensics.detect as detect
    from forensics.train import load_detector

    for path in (args.model, args.video):
        if not Path(path).is_file():
            print(f"{path}: missing; run `make demo` first (or pass --model / --video)", file=sys.stderr)
            return 2
    detector = load_detector(args.model)
    devices = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    classifier = {
        device: {str(b): round(classifier_rate(detector, device, b, args.repeats), 1) for b in args.batches}
        for device in devices
    }
    for device, rates in classifier.items():
        print(
            f"classifier on {device}: " + ", ".join(f"batch {b}: {r:.0f} crops/s" for b, r in rates.items())
        )

    # End to end, with the pose detector's share measured by wrapping it.
    original = detect.person_boxes_in
    pose_seconds = [0.0]

    def timed_boxes(*a: Any, **k: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            pose_seconds[0] += time.perf_counter() - start

    detect.person_boxes_in = timed_boxes
    end_to_end = []
    for max_frames in args.max_frames:
        best: dict[str, Any] | None = None
        for _ in range(args.repeats):
            pose_seconds[0] = 0.0
            start = time.perf_counter()
            report = detect.detect_video(args.video, detector, max_frames=max_frames)
            seconds = time.perf_counter() - start
            run = {
                "max_frames": max_frames,
                "frames_judged": len(report.scored),
                "seconds": round(seconds, 3),
                "frames_per_s": round(len(report.scored) / seconds, 1),
                "pose_share": round(pose_seconds[0] / seconds, 3),
                "verdict": report.verdict,
                "score": report.score,
            }
            if best is None or run["frames_per_s"] > best["frames_per_s"]:
                best = run
        assert best is not None
        end_to_end.append(best)
        print(f"detect_video, {best['frames_judged']} frames judged: {best['frames_per_s']:.1f} frames/s "
              f"(pose detector {best['pose_share']:.0%} of the time); verdict {best['verdict']}")  # fmt: skip
    detect.person_boxes_in = original

    record = {
        "benchmark": "detection",
        "machine": machine_record(cpu_threads=torch.get_num_threads()),
        "detector": {
            "path": args.model,
            "input_size": detector.input_size,
            "backbone": (detector.state.get("backbone") or {}).get("name"),
        },
        "video": args.video,
        "classifier_crops_per_s": classifier,
        "end_to_end": end_to_end,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_record(args.out or RESULTS / f"detection_{'cuda' if len(devices) > 1 else 'cpu'}.json", record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
