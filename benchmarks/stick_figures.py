"""Stick-figure rendering throughput: :func:`synthesis.stick_figure.render_stick_figures` on this CPU.

Renders the demo dancer's ground-truth poses (``dataset.demo``, eight frames spread over the target
routine; a built-in standing figure if the demo is unavailable), fitted to each canvas the way a
training set would be (scaled to the canvas height, centred), at 128×128, 256×256, 512×256 and
1024×512 (width × height, as pix2pixHD names its sizes), batch 1 and 8. For each case: a warm-up
call, then ``--repeats`` timed calls; the median wall time gives frames per second. The fastest
call is kept too (``best_ms``): on a shared machine it is the better guide to the code's own cost.

Context measured alongside, so the figures can be read on a shared or slow machine:

- ``allocate_output_ms``: the median time of just ``torch.zeros`` of the output's shape. On some
  machines (virtualised ones with expensive page faults) touching fresh memory dominates at high
  resolution, and no renderer that returns a new tensor can beat it.
- ``cv2_reference_frames_per_second``: OpenCV drawing the same segments frame by frame (``cv2.line``, anti-aliased,
  integer widths) plus the conversion to a float tensor, i.e. what a per-frame OpenCV renderer in
  a data loader would cost. It is a yardstick, not a fallback the project uses.
- ``other_processes_cpu_seconds``: CPU time other processes used during the run (``/proc/stat``
  busy time minus ours); a large value means the figures were taken on a contended machine.

Targets: at 256×256, batch 8, comfortably above 200 frames/s on 2 threads; at 512×256 negligible next
to a multi-second training step. Usage::

    python benchmarks/stick_figures.py [--threads 2] [--repeats 9] [--device cpu] [--out PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record import RESULTS, add_out_option, machine_record, write_record  # noqa: E402
from synthesis.stick_figure import (  # noqa: E402
    SEGMENT_COLOURS,
    SEGMENT_KINDS,
    SEGMENT_POINTS,
    line_widths,
    render_stick_figures,
)

SIZES = ((128, 128), (256, 256), (512, 256), (1024, 512))  # (width, height)
BATCHES = (1, 8)
DESIGN = 256  # the demo poses are rendered on a 256×256 canvas


# --------------------------------------------------------------------------------------------------
# Poses


def _demo_poses(n: int) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], str] | None:
    try:
        from dataset.demo import make_subjects, render_frames

        subject = make_subjects(seed=0, n_sources=0, target_seconds=12.0)[0]
        fps = 30.0
        frames = np.linspace(0, subject.n_frames(fps) - 1, n).round().astype(int).tolist()
        _images, truth = render_frames(subject, size=DESIGN, fps=fps, frames=frames)
    except Exception as exc:  # the demo is optional here; say why it was skipped
        print(f"demo dancer unavailable ({type(exc).__name__}: {exc}); using a built-in figure")
        return None
    return (truth.body, truth.face, truth.hands), "demo dancer (dataset.demo target routine, ground truth)"


def _builtin_poses(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A standing figure swaying its arms: every body, face and hand point detected."""
    rng = np.random.default_rng(0)
    body = np.zeros((n, 25, 3), np.float32)
    xy = [(128, 40), (128, 60), (108, 60), (100, 90), (96, 120), (148, 60), (156, 90), (160, 120),
          (128, 130), (116, 130), (114, 180), (112, 225), (140, 130), (142, 180), (144, 225),
          (124, 36), (132, 36), (118, 38), (138, 38), (150, 235), (154, 233), (142, 230),
          (106, 235), (102, 233), (114, 230)]  # fmt: skip
    body[:, :, :2] = np.array(xy, np.float32) + rng.normal(0, 3, (n, 25, 2))
    body[:, :, 2] = 1
    angles = np.linspace(0, 2 * np.pi, 70, endpoint=False)
    face = np.stack([128 + 9 * np.cos(angles), 40 + 11 * np.sin(angles), np.ones(70)], -1)
    face = np.broadcast_to(face, (n, 70, 3)).astype(np.float32)
    hands = np.zeros((n, 2, 21, 3), np.float32)
    for h, wrist in enumerate((body[:, 7], body[:, 4])):
        offsets = np.array([(0, 0)] + [(f * 2 - 4, 2 + 2.5 * j) for f in range(5) for j in range(4)])
        hands[:, h, :, :2] = wrist[:, None, :2] + offsets
        hands[:, h, :, 2] = 1
    return body, face, hands


def fit_to_canvas(
    poses: tuple[np.ndarray, np.ndarray, np.ndarray], width: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale ``DESIGN``-pixel poses to the canvas height and centre them horizontally."""
    scale = height / DESIGN
    shift = (width - DESIGN * scale) / 2
    out = []
    for points in poses:
        p = points.astype(np.float32).copy()
        p[..., 0] = p[..., 0] * scale + shift
        p[..., 1] *= scale
        out.append(p)
    return out[0], out[1], out[2]


# --------------------------------------------------------------------------------------------------
# Timing


def _busy_seconds() -> float | None:
    """Busy CPU seconds of the whole machine so far (``/proc/stat``), or None where unavailable."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _timings(call: Callable[[], Any], repeats: int, sync: Callable[[], None]) -> list[float]:
    call()  # warm-up: first-call set-up (tables on the device, allocator) is not what we measure
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        sync()
        times.append(time.perf_counter() - start)
    return times


def _median_seconds(call: Callable[[], Any], repeats: int, sync: Callable[[], None]) -> float:
    return statistics.median(_timings(call, repeats, sync))


def cv2_render(
    body: np.ndarray, face: np.ndarray, hands: np.ndarray, height: int, width: int
) -> torch.Tensor:
    """The same segments drawn frame by frame with OpenCV, returned like the torch renderer's."""
    import cv2

    limb, thin = line_widths(height)
    thickness = {0: max(1, round(limb)), 1: max(1, round(thin)), 2: -1}
    colours = [tuple(255.0 * c for c in colour) for colour in SEGMENT_COLOURS]
    frames = np.zeros((body.shape[0], height, width, 3), np.uint8)
    points = np.concatenate([body, face, hands.reshape(body.shape[0], -1, 3)], 1)
    for frame, p in zip(frames, points, strict=True):
        for (i, j), colour, kind in zip(SEGMENT_POINTS, colours, SEGMENT_KINDS, strict=True):
            if p[i, 2] <= 0.1 or p[j, 2] <= 0.1:
                continue
            a = (round(float(p[i, 0])), round(float(p[i, 1])))
            if kind == 2:
                cv2.circle(frame, a, max(1, round(thin)), colour, -1, cv2.LINE_AA)
            else:
                b = (round(float(p[j, 0])), round(float(p[j, 1])))
                cv2.line(frame, a, b, colour, thickness[kind], cv2.LINE_AA)
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--repeats", type=int, default=9, help="timed calls per case (median)")
    parser.add_argument("--device", default="cpu", help="torch device to render on (default cpu)")
    parser.add_argument("--no-cv2", action="store_true", help="skip the OpenCV yardstick")
    add_out_option(parser, by_device="stick_figures_<cpu or cuda>.json")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    output = args.out or RESULTS / f"stick_figures_{device.type}.json"
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    n = max(BATCHES)
    demo = _demo_poses(n)
    design, source = demo if demo is not None else (_builtin_poses(n), "built-in standing figure")
    cases = []
    busy_start, own_start = _busy_seconds(), time.process_time()
    for width, height in SIZES:
        for b in BATCHES:
            body, face, hands = fit_to_canvas((design[0][:b], design[1][:b], design[2][:b]), width, height)
            tensors = [torch.from_numpy(p).to(device) for p in (body, face, hands)]

            def render(t: list[torch.Tensor] = tensors, h: int = height, w: int = width) -> torch.Tensor:
                return render_stick_figures(t[0], t[1], t[2], h, w)

            def allocate(b: int = b, h: int = height, w: int = width) -> torch.Tensor:
                return torch.zeros(b, 3, h, w, device=device)

            times = _timings(render, args.repeats, sync)
            seconds = statistics.median(times)
            case: dict[str, Any] = {
                "width": width,
                "height": height,
                "batch": b,
                "median_ms": round(1000 * seconds, 3),
                "frames_per_second": round(b / seconds, 1),
                # The fastest call: what the code does when no other process takes the cores.
                "best_ms": round(1000 * min(times), 3),
                "allocate_output_ms": round(1000 * _median_seconds(allocate, args.repeats, sync), 3),
            }
            if not args.no_cv2 and device.type == "cpu":

                def draw_cv2(
                    p: tuple[np.ndarray, ...] = (body, face, hands), h: int = height, w: int = width
                ) -> Any:
                    return cv2_render(p[0], p[1], p[2], h, w)

                cv2_seconds = _median_seconds(draw_cv2, args.repeats, sync)
                case["cv2_reference_frames_per_second"] = round(b / cv2_seconds, 1)
            cases.append(case)
            line = f"{width:5d}×{height:<4d} batch {b}: {case['median_ms']:8.2f} ms  {case['frames_per_second']:8.1f} frames/s"
            line += f"  (zeros alone {case['allocate_output_ms']:.2f} ms"
            if "cv2_reference_frames_per_second" in case:
                line += f"; cv2 per frame {case['cv2_reference_frames_per_second']:.1f} frames/s"
            print(line + ")", flush=True)
    busy_end, own_end = _busy_seconds(), time.process_time()
    other = None
    if busy_start is not None and busy_end is not None:
        other = round(max(0.0, (busy_end - busy_start) - (own_end - own_start)), 2)

    result = {
        "benchmark": "stick_figures",
        "machine": machine_record(
            torch_threads=torch.get_num_threads(),
            device=str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
            load_average_at_end=[round(v, 2) for v in os.getloadavg()],
            other_processes_cpu_seconds=other,
        ),
        "poses": source,
        "repeats": args.repeats,
        "sizes": "width×height",
        "cases": cases,
    }
    write_record(output, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
