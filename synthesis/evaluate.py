"""``dancenow evaluate``: the paper's Tables 1–4 (METHOD.md §5) for one trained model.

On the target subject's held-out ``test`` frames, the pose of each real frame (scaled to the model's
resolution) is the input; the generator runs as in transfer (first frame with no previous output,
then fed its own), plus the face residual when the checkpoint has a face GAN; the real frame is the
ground truth. Measured, all at the model's resolution:

- image quality: SSIM and LPIPS per frame on the crop to the input pose's bounding box (body) and on
  the face box (face), means over frames;
- pose fidelity: the dataset's pose detector (MediaPipe Holistic) on the generated frames, compared
  with the input pose: pose distance (pixels) and missed detections per image;
- temporal coherence (beyond the paper): flow-warping error with flow from the real video, and
  frame-difference statistics of the generated video against the real one's.

Writes ``OUT/results.json`` (everything, with the model's sha256 and timings), ``OUT/results.md``
(the paper's table layout) and ``OUT/samples/*.png`` (input stick figure | generated | real).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dataset.files import atomic_write_bytes, atomic_write_text, sha256_file
from dataset.keypoints import PoseSequence

from .checkpoint import CheckpointError
from .data import Clip, DataError, cached_frames, load_target_clips, scale_keypoints, to_uint8_images
from .evaluation.image_quality import LPIPSMetric, MetricWeightsError, crop_to_box, pose_bounding_boxes, ssim
from .evaluation.pose_fidelity import mediapipe_holistic_detectable, missed_detections, pose_distance
from .evaluation.temporal import compare_temporal, warping_error
from .face_box import crop_boxes, face_box_size, face_boxes
from .stick_figure import render_stick_figures
from .transfer import CHUNK, TransferModel, generate_frames, load_transfer_model

DETECTOR = "mediapipe-holistic"  # the detector `dancenow dataset build` uses by default
SSIM_MIN_SIDE = 11  # SSIM's 11×11 window
LPIPS_MIN_SIDE = 32  # AlexNet / VGG pooling needs at least this many pixels
N_SAMPLES = 4

# (column header, path into the results' metrics, digits)
TABLE_COLUMNS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("body SSIM", ("body", "ssim"), 5),
    ("body LPIPS", ("body", "lpips"), 5),
    ("face SSIM", ("face", "ssim"), 5),
    ("face LPIPS", ("face", "lpips"), 5),
    ("pose dist. overall", ("pose_distance", "overall"), 4),
    ("missed overall", ("missed_detections", "overall"), 4),
    ("warp. err.", ("temporal", "warping_error", "generated"), 5),
    ("warp. err. real", ("temporal", "warping_error", "real"), 5),
    ("frame diff. ratio", ("temporal", "statistics", "frame_difference", "ratio"), 4),
)


class EvaluationError(ValueError):
    """The evaluation cannot run; the message names the input and the fix."""


def _load_model(model: str | os.PathLike[str]) -> TransferModel:
    try:
        net = load_transfer_model(model)
    except CheckpointError as exc:
        raise EvaluationError(str(exc)) from None
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise EvaluationError(
            f"{model}: not a complete dancenow model ({type(exc).__name__}: {exc}); "
            "pass a body.pt or face.pt written by `dancenow train`"
        ) from None
    if "dataset" not in net.state["data"]:
        raise EvaluationError(f"{net.state['path']}: the checkpoint records no dataset; pass --dataset")
    return net


def _test_clips(dataset: str, subject: str | None) -> list[Clip]:
    try:
        clips = load_target_clips(dataset, subject, split="test")
    except DataError as exc:
        raise EvaluationError(
            f"{exc}; evaluation needs the target's held-out test frames: rebuild the dataset with "
            "`dancenow dataset build --test-fraction 0.2` or pass another --dataset"
        ) from None
    clips = [c for c in clips if len(c.poses) > 0]
    if not clips:
        raise EvaluationError(
            f"{dataset}: the target's test clips hold no frames; rebuild with --test-fraction"
        )
    return clips


@dataclass
class _ClipRun:
    clip_id: str
    reference: PoseSequence  # input poses at the model's resolution
    sticks: np.ndarray  # (T, H, W, 3) uint8
    generated: np.ndarray  # (T, H, W, 3) uint8
    real: np.ndarray  # (T, H, W, 3) uint8


def _generate(net: TransferModel, clip: Clip, n: int, size: tuple[int, int], box: int, bar: Any) -> _ClipRun:
    height, width = size
    real = np.array(cached_frames(clip, height, width)[:n])  # a writable copy of the memory map
    if len(real) < n:
        raise EvaluationError(
            f"test clip {clip.clip_id}: {len(real)} decoded frames but {len(clip.poses)} keypoint rows; "
            "rebuild the dataset with `dancenow dataset build`"
        )
    src = (clip.height, clip.width)
    body, face, hands = (
        scale_keypoints(getattr(clip.poses, p)[:n], src, size) for p in ("body", "face", "hands")
    )
    generated, sticks_out = [], []
    previous: torch.Tensor | None = None
    with torch.inference_mode():
        for start in range(0, n, CHUNK):
            stop = min(start + CHUNK, n)
            sticks = render_stick_figures(
                body[start:stop], face[start:stop], hands[start:stop], height, width
            )
            sticks = sticks * 2 - 1
            frames, previous = generate_frames(net, sticks, body[start:stop], box, previous)
            generated.append(to_uint8_images(frames))
            sticks_out.append(to_uint8_images(sticks))
            if bar is not None:
                bar.update(stop - start)
    return _ClipRun(
        clip.clip_id,
        PoseSequence(body, face, hands),
        np.concatenate(sticks_out),
        np.concatenate(generated),
        real,
    )


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 → (N, 3, H, W) float in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1


def _at_least(a: torch.Tensor, b: torch.Tensor, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Upsample both (N, 3, h, w) batches alike (bilinear) so that their short side is at least ``side``."""
    short = min(a.shape[-2:])
    if short >= side:
        return a, b
    scale = side / short
    shape = (max(side, round(a.shape[-2] * scale)), max(side, round(a.shape[-1] * scale)))
    return tuple(F.interpolate(x, size=shape, mode="bilinear", align_corners=False) for x in (a, b))  # type: ignore[return-value]


def _quality(generated: torch.Tensor, real: torch.Tensor, lpips: LPIPSMetric) -> tuple[float, float]:
    """SSIM and LPIPS of one pair of batches (N, 3, h, w), summed over the batch."""
    s = ssim(*_at_least(generated, real, SSIM_MIN_SIDE)).sum().item()
    d = lpips(*_at_least(generated, real, LPIPS_MIN_SIDE)).sum().item()
    return float(s), float(d)


def _image_quality(
    runs: Sequence[_ClipRun], box: int, lpips: LPIPSMetric, bar: Any
) -> dict[str, dict[str, float | int | None]]:
    sums = {"body": [0.0, 0.0, 0], "face": [0.0, 0.0, 0]}
    for run in runs:
        gen, real = _to_tensor(run.generated), _to_tensor(run.real)
        height, width = gen.shape[-2:]
        body = torch.from_numpy(run.reference.body)
        boxes = pose_bounding_boxes(body, height, width)
        for g, r in zip(crop_to_box(gen, boxes), crop_to_box(real, boxes), strict=True):
            s, d = _quality(g[None], r[None], lpips)
            sums["body"][0] += s
            sums["body"][1] += d
            sums["body"][2] += 1
            if bar is not None:
                bar.update(1)
        corners, valid = face_boxes(body, height, width, box)
        if bool(valid.any()):
            s, d = _quality(
                crop_boxes(gen, corners, box)[valid], crop_boxes(real, corners, box)[valid], lpips
            )
            sums["face"][0] += s
            sums["face"][1] += d
            sums["face"][2] += int(valid.sum())
    return {
        part: {
            "ssim": s / n if n else None,
            "lpips": d / n if n else None,
            "frames": int(n),
        }
        for part, (s, d, n) in sums.items()
    }


def _detect(runs: Sequence[_ClipRun], bar: Any) -> tuple[PoseSequence, str]:
    from dataset.pose.base import get_detector

    parts = []
    with get_detector(DETECTOR) as detector:
        for run in runs:  # one track per clip, as the dataset build runs it on a video

            def frames(run: _ClipRun = run) -> Any:
                for frame in run.generated:
                    yield frame
                    if bar is not None:
                        bar.update(1)

            parts.append(detector.detect(frames()))
        version = detector.version
    return PoseSequence.concatenate(parts), version


def _weighted_mean(values: Sequence[Any], weights: Sequence[int]) -> Any:
    """Mean of nested dicts of numbers, weighted per entry; None where any value is None."""
    first = values[0]
    if isinstance(first, dict):
        return {key: _weighted_mean([v[key] for v in values], weights) for key in first}
    if any(v is None for v in values):
        return None
    return float(sum(float(v) * w for v, w in zip(values, weights, strict=True)) / max(sum(weights), 1))


def _temporal(runs: Sequence[_ClipRun]) -> dict[str, Any]:
    per_clip = [
        {
            "warping_error": warping_error(r.generated, r.real),
            "statistics": compare_temporal(r.generated, r.real),
        }
        for r in runs
    ]
    # Consecutive-frame metrics: a clip of n frames gives n - 1 pairs.
    weights = [max(len(r.generated) - 1, 0) for r in runs]
    if sum(weights) == 0:
        weights = [1] * len(runs)
    overall = _weighted_mean(per_clip, weights)
    overall["per_clip"] = {r.clip_id: m for r, m in zip(runs, per_clip, strict=True)}
    return dict(overall)


def _lookup(results: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = results["metrics"]
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def markdown_table(results: dict[str, Any]) -> str:
    """The paper's table layout (METHOD.md §5): one row for this model, temporal columns appended."""
    header = "| Model | " + " | ".join(name for name, _, _ in TABLE_COLUMNS) + " |"
    rule = "|---|" + "---|" * len(TABLE_COLUMNS)
    cells = []
    for _, path, digits in TABLE_COLUMNS:
        value = _lookup(results, path)
        cells.append("–" if value is None else f"{value:.{digits}f}")
    row = f"| {results['model']['label']} | " + " | ".join(cells) + " |"
    h, w = results["resolution"]
    note = (
        f"\n{results['frames']} held-out test frames of {results['subject']} ({', '.join(results['clips'])}) "
        f"at {w}×{h}; LPIPS {results['lpips']['net']}; pose distance in pixels at {w}×{h}; "
        "warping error in [0, 1] units (lower is steadier).\n"
    )
    return "\n".join([header, rule, row]) + "\n" + note


def _png(image: np.ndarray) -> bytes:
    import cv2

    ok, data = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
    if not ok:
        raise EvaluationError("could not encode a sample PNG")
    return bytes(data.tobytes())


def _write_samples(runs: Sequence[_ClipRun], folder: Path) -> list[str]:
    index = [(i, t) for i, r in enumerate(runs) for t in range(len(r.generated))]
    picks = sorted({index[round(k)] for k in np.linspace(0, len(index) - 1, min(N_SAMPLES, len(index)))})
    names = []
    for i, t in picks:
        run = runs[i]
        name = f"{run.clip_id.replace('/', '_')}-{t:05d}.png"
        atomic_write_bytes(
            folder / name, _png(np.concatenate([run.sticks[t], run.generated[t], run.real[t]], 1))
        )
        names.append(f"samples/{name}")
    return names


@contextmanager
def _stage(name: str, desc: str, total: int, progress: bool, timings: dict[str, float]) -> Iterator[Any]:
    """A progress bar over ``total`` frames (None with progress off); the stage's time goes to ``timings``."""
    tick = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="frame", desc=desc)
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()
        timings[name] = time.perf_counter() - tick


def evaluate(
    model: str | os.PathLike[str],
    dataset: str | None = None,
    *,
    out: str | os.PathLike[str],
    max_frames: int | None = None,
    lpips_net: str = "alex",
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate ``model`` on its target's held-out test frames; writes ``out/results.{json,md}`` and samples.

    Returns the contents of ``results.json``; :func:`markdown_table` makes its table.
    """
    started = time.perf_counter()
    out = Path(out)
    if max_frames is not None and max_frames < 1:
        raise EvaluationError(f"--max-frames must be at least 1, got {max_frames}")
    net = _load_model(model)
    data = net.state["data"]
    dataset = str(dataset or data["dataset"])
    clips = _test_clips(dataset, data.get("subject"))
    height, width = net.config.data.height, net.config.data.width
    box = net.config.face.box_size or face_box_size(height)
    try:
        lpips = LPIPSMetric(lpips_net)
    except (ValueError, MetricWeightsError) as exc:
        raise EvaluationError(f"LPIPS ({lpips_net}): {exc}") from None
    timings = {"load": time.perf_counter() - started}

    budget = sum(len(c.poses) for c in clips) if max_frames is None else max_frames
    plan: list[tuple[Clip, int]] = []
    for clip in clips:
        n = min(len(clip.poses), budget - sum(k for _, k in plan))
        if n > 0:
            plan.append((clip, n))
    total = sum(n for _, n in plan)

    with _stage("generate", "generate", total, progress, timings) as bar:
        runs = [_generate(net, clip, n, (height, width), box, bar) for clip, n in plan]
    with _stage("image_quality", "SSIM/LPIPS", total, progress, timings) as bar:
        quality = _image_quality(runs, box, lpips, bar)
    with _stage("pose_detection", "detect poses", total, progress, timings) as bar:
        detected, detector_version = _detect(runs, bar)
        reference = PoseSequence.concatenate([r.reference for r in runs])
        detectable = mediapipe_holistic_detectable()
        distance = pose_distance(reference, detected, detectable=detectable)
        missed = missed_detections(reference, detected, detectable=detectable)

    tick = time.perf_counter()
    temporal = _temporal(runs)
    timings["temporal"] = time.perf_counter() - tick

    out.mkdir(parents=True, exist_ok=True)
    samples = _write_samples(runs, out / "samples")
    timings["total"] = time.perf_counter() - started
    path = net.state["path"]
    stage = net.state.get("stage") or ("face" if net.face_generator is not None else "body")
    results: dict[str, Any] = {
        "model": {
            "path": path,
            "sha256": sha256_file(path),
            "label": f"{net.config.name} ({'T.S. + Face' if net.face_generator is not None else 'T.S.'})",
            "run": net.config.name,
            "stage": stage,
            "step": net.state.get("step"),
            "face_gan": net.face_generator is not None,
            "trained_on": {k: v for k, v in data.items() if k != "target_statistics"},
        },
        "dataset": dataset,
        "split": "test",
        "subject": clips[0].subject_id,
        "clips": [r.clip_id for r in runs],
        "frames": total,
        "frames_per_clip": {r.clip_id: len(r.generated) for r in runs},
        "resolution": [height, width],
        "units": {
            "pose_distance": f"pixels at {width}x{height}",
            "missed_detections": "keypoints per image",
            "warping_error": "mean absolute error in [0, 1] units over non-occluded pixels",
        },
        "face_box": box,
        "lpips": {"net": lpips.net, "backbone_source": lpips.backbone_source, "min_side": LPIPS_MIN_SIDE},
        "ssim_min_side": SSIM_MIN_SIDE,
        "detector": {"name": DETECTOR, "version": detector_version},
        "metrics": {
            "body": quality["body"],
            "face": quality["face"],
            "pose_distance": distance,
            "missed_detections": missed,
            "temporal": temporal,
        },
        "samples": samples,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "generation_frames_per_s": total / max(timings["generate"], 1e-9),
        "frames_per_s": total / max(timings["total"], 1e-9),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    table = markdown_table(results)
    atomic_write_text(out / "results.json", json.dumps(results, indent=1))
    atomic_write_text(out / "results.md", f"# Evaluation of {results['model']['label']}\n\n{table}")
    return results


__all__ = ["EvaluationError", "evaluate", "markdown_table"]
