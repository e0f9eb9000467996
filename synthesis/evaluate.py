"""``dancenow evaluate``: the paper's Tables 1–4 (METHOD.md §5) for one trained model.

**Held-out mode** (:func:`evaluate`). On the target subject's held-out ``test`` frames, the pose of
each real frame (scaled to the model's resolution) is the input; the generator runs as in transfer
(first frame with no previous output, then fed its own), plus the face residual when the checkpoint
has a face GAN; the real frame is the ground truth. Measured, all at the model's resolution:

- image quality: SSIM and LPIPS per frame on the crop to the input pose's bounding box (body) and on
  the face box (face), means over frames;
- pose fidelity: the dataset's pose detector (MediaPipe Holistic) on the generated frames, compared
  with the input pose: pose distance (pixels) and missed detections per image;
- temporal coherence (beyond the paper): flow-warping error with flow from the real video, and
  frame-difference statistics of the generated video against the real one's.

**Transfer mode** (:func:`evaluate_transfer`). A source's motion (a video file or a dataset clip) is
normalised to the target as ``dancenow transfer`` does; there is no ground truth, so only the pose
fidelity (against the normalised input pose) and the temporal metrics are measured. The temporal
reference is the *source video moved into the target's frame* by the same per-frame normalisation
(``cv2.warpAffine``): it has the motion the output should have, so its optical flow drives the
warping error, and its own warping error and frame statistics are the floor to compare with (the
bodies differ, so the floor is looser than a real target video's).

Both write a results folder (the schema is in the README, "Results folders"): ``results.json``
(everything, with the model's sha256, per-frame series and timings), ``results.md`` (the paper's
table layout), ``samples/*.png`` (input stick figure | generated | reference) and ``curves/*.png``.
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
from .data import (
    Clip,
    DataError,
    MissingSplitError,
    cached_frames,
    load_target_clips,
    scale_keypoints,
    to_uint8_images,
)
from .evaluation.curves import plot_per_frame, plot_training_curves
from .evaluation.image_quality import LPIPSMetric, MetricWeightsError, crop_to_box, pose_bounding_boxes, ssim
from .evaluation.pose_fidelity import (
    mean_missed,
    mediapipe_holistic_detectable,
    missed_per_frame,
    pose_distance,
)
from .evaluation.temporal import compare_temporal, summarize_warping_error, warping_error_per_frame
from .face_box import crop_boxes, face_boxes
from .normalize import frame_affines
from .transfer import (
    CHUNK,
    TransferError,
    TransferModel,
    generated_chunks,
    load_transfer_model,
    normalized_input,
    resolve_source,
)

SCHEMA = "dancenow.evaluation/1"
DETECTOR = "mediapipe-holistic"  # the detector `dancenow dataset build` uses by default
SSIM_MIN_SIDE = 11  # SSIM's 11×11 window
LPIPS_MIN_SIDE = 32  # AlexNet / VGG pooling needs at least this many pixels
N_SAMPLES = 4

# (column header, path into the results' metrics, digits)
Column = tuple[str, tuple[str, ...], int]
TABLE_COLUMNS: tuple[Column, ...] = (
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
# Paper Tables 3 and 4: per part.
POSE_COLUMNS: tuple[Column, ...] = tuple(
    (f"{title} {part}", (key, part), 4)
    for title, key in (("pose dist.", "pose_distance"), ("missed", "missed_detections"))
    for part in ("body", "face", "hands", "overall")
)
# Transfers from a source: no ground truth, so pose fidelity and temporal coherence only.
TRANSFER_COLUMNS: tuple[Column, ...] = (
    *POSE_COLUMNS,
    ("warp. err.", ("temporal", "warping_error", "generated"), 5),
    ("warp. err. source", ("temporal", "warping_error", "real"), 5),
    ("frame diff. ratio", ("temporal", "statistics", "frame_difference", "ratio"), 4),
)
PER_FRAME_TITLES = {
    "body_ssim": "body SSIM (higher is better)",
    "body_lpips": "body LPIPS (lower is better)",
    "missed_detections": "missed keypoints (lower is better)",
    "warping_error": "warping error (lower is steadier)",
}


class EvaluationError(ValueError):
    """The evaluation cannot run; the message names the input and the fix."""


def _load_model(model: str | os.PathLike[str]) -> TransferModel:
    try:
        return load_transfer_model(model)
    except CheckpointError as exc:
        raise EvaluationError(str(exc)) from None
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise EvaluationError(
            f"{model}: not a complete dancenow model ({type(exc).__name__}: {exc}); "
            "pass a body.pt or face.pt written by `dancenow train`"
        ) from None


def variant_label(net: TransferModel) -> str:
    """The paper's name of the model's variant: pix2pixHD (no temporal input), T.S., + Face."""
    label = "T.S." if net.config.model.temporal else "pix2pixHD"
    return f"{label} + Face" if net.face_generator is not None else label


def _test_clips(dataset: str, subject: str | None) -> list[Clip]:
    try:
        clips = load_target_clips(dataset, subject, split="test")
    except MissingSplitError as exc:
        raise EvaluationError(
            f"{exc}; evaluation needs the target's held-out test frames: rebuild the dataset with "
            "`dancenow dataset build --test-fraction 0.2` or pass another --dataset"
        ) from None
    except DataError as exc:
        raise EvaluationError(str(exc)) from None
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
    real: np.ndarray  # (T, H, W, 3) uint8: the real frames, or the source moved into the target's frame


def run_generator(net: TransferModel, poses: PoseSequence, bar: Any) -> tuple[np.ndarray, np.ndarray]:
    """Stick figures and generated frames ``(T, H, W, 3)`` uint8 for ``poses`` at the model's resolution."""
    generated, sticks_out = [], []
    with torch.inference_mode():
        for sticks, frames in generated_chunks(net, poses):
            generated.append(to_uint8_images(frames))
            sticks_out.append(to_uint8_images(sticks))
            if bar is not None:
                bar.update(len(frames))
    return np.concatenate(sticks_out), np.concatenate(generated)


def _generate(net: TransferModel, clip: Clip, n: int, bar: Any) -> _ClipRun:
    size = (net.config.data.height, net.config.data.width)
    real = np.array(cached_frames(clip, *size)[:n])  # a writable copy of the memory map
    if len(real) < n:
        raise EvaluationError(
            f"test clip {clip.clip_id}: {len(real)} decoded frames but {len(clip.poses)} keypoint rows; "
            "rebuild the dataset with `dancenow dataset build`"
        )
    src = (clip.height, clip.width)
    reference = PoseSequence(
        *(scale_keypoints(getattr(clip.poses, p)[:n], src, size) for p in ("body", "face", "hands"))
    )
    sticks, generated = run_generator(net, reference, bar)
    return _ClipRun(clip.clip_id, reference, sticks, generated, real)


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


def _quality(
    generated: torch.Tensor, real: torch.Tensor, lpips: LPIPSMetric
) -> tuple[np.ndarray, np.ndarray]:
    """SSIM and LPIPS per item of one pair of batches (N, 3, h, w)."""
    s = ssim(*_at_least(generated, real, SSIM_MIN_SIDE))
    d = lpips(*_at_least(generated, real, LPIPS_MIN_SIDE))
    return s.double().numpy().reshape(-1), d.double().numpy().reshape(-1)


def _image_quality(
    runs: Sequence[_ClipRun], box: int, lpips: LPIPSMetric, bar: Any
) -> tuple[dict[str, dict[str, float | int | None]], dict[str, list[float]]]:
    """Mean SSIM / LPIPS of body and face crops, and the body's per-frame values."""
    values: dict[str, list[np.ndarray]] = {
        "body_ssim": [],
        "body_lpips": [],
        "face_ssim": [],
        "face_lpips": [],
    }
    for run in runs:
        gen, real = _to_tensor(run.generated), _to_tensor(run.real)
        height, width = gen.shape[-2:]
        body = torch.from_numpy(run.reference.body)
        boxes = pose_bounding_boxes(body, height, width)
        for g, r in zip(crop_to_box(gen, boxes), crop_to_box(real, boxes), strict=True):
            s, d = _quality(g[None], r[None], lpips)
            values["body_ssim"].append(s)
            values["body_lpips"].append(d)
            if bar is not None:
                bar.update(1)
        corners, valid = face_boxes(body, height, width, box)
        if bool(valid.any()):
            s, d = _quality(
                crop_boxes(gen, corners, box)[valid], crop_boxes(real, corners, box)[valid], lpips
            )
            values["face_ssim"].append(s)
            values["face_lpips"].append(d)
    flat = {key: np.concatenate(v) if v else np.zeros(0) for key, v in values.items()}
    means = {
        part: {
            "ssim": float(flat[f"{part}_ssim"].mean()) if len(flat[f"{part}_ssim"]) else None,
            "lpips": float(flat[f"{part}_lpips"].mean()) if len(flat[f"{part}_lpips"]) else None,
            "frames": len(flat[f"{part}_ssim"]),
        }
        for part in ("body", "face")
    }
    return means, {"body_ssim": flat["body_ssim"].tolist(), "body_lpips": flat["body_lpips"].tolist()}


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


def _pose_fidelity(runs: Sequence[_ClipRun], bar: Any) -> dict[str, Any]:
    detected, version = _detect(runs, bar)
    reference = PoseSequence.concatenate([r.reference for r in runs])
    detectable = mediapipe_holistic_detectable()
    missed = missed_per_frame(reference, detected, detectable=detectable)
    return {
        "pose_distance": pose_distance(reference, detected, detectable=detectable),
        "missed_detections": mean_missed(missed),
        "missed_per_frame": missed["overall"].tolist(),
        "detector": {"name": DETECTOR, "version": version},
    }


def _fidelity_and_temporal(
    runs: Sequence[_ClipRun], progress: bool, timings: dict[str, float]
) -> tuple[dict[str, Any], dict[str, list[Any]], dict[str, str]]:
    """The stages both modes share, pose fidelity and temporal coherence: their metrics, per-frame
    series and the detector used."""
    total = sum(len(r.generated) for r in runs)
    with _stage("pose_detection", "detect poses", total, progress, timings) as bar:
        fidelity = _pose_fidelity(runs, bar)
    with _stage("temporal", "temporal", 0, False, timings):
        temporal, warps = _temporal(runs)
    metrics = {
        "pose_distance": fidelity["pose_distance"],
        "missed_detections": fidelity["missed_detections"],
        "temporal": temporal,
    }
    per_frame = {"missed_detections": fidelity["missed_per_frame"], "warping_error": warps}
    return metrics, per_frame, fidelity["detector"]


def _weighted_mean(values: Sequence[Any], weights: Sequence[int]) -> Any:
    """Mean of nested dicts of numbers, weighted per entry; None where any value is None."""
    first = values[0]
    if isinstance(first, dict):
        return {key: _weighted_mean([v[key] for v in values], weights) for key in first}
    if any(v is None for v in values):
        return None
    return float(sum(float(v) * w for v, w in zip(values, weights, strict=True)) / max(sum(weights), 1))


def _temporal(runs: Sequence[_ClipRun]) -> tuple[dict[str, Any], list[float | None]]:
    """Warping error and frame statistics per clip and overall, and the per-frame warping error
    (``None`` at each clip's first frame, which has no predecessor)."""
    per_clip, series = [], []
    for run in runs:
        warps = warping_error_per_frame(run.generated, run.real)
        per_clip.append(
            {
                "warping_error": summarize_warping_error(warps),
                "statistics": compare_temporal(run.generated, run.real),
            }
        )
        series += [None] * min(len(run.generated), 1) + warps["generated"].tolist()
    # Consecutive-frame metrics: a clip of n frames gives n - 1 pairs.
    weights = [max(len(r.generated) - 1, 0) for r in runs]
    if sum(weights) == 0:
        weights = [1] * len(runs)
    overall = _weighted_mean(per_clip, weights)
    overall["per_clip"] = {r.clip_id: m for r, m in zip(runs, per_clip, strict=True)}
    return dict(overall), series


def metric_at(results: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path`` in ``results["metrics"]`` (None where any key is missing)."""
    value: Any = results["metrics"]
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def format_metric(value: Any, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table_rows(rows: Sequence[tuple[str, dict[str, Any]]], columns: Sequence[Column]) -> str:
    """A Markdown table: one row per ``(label, results)``, one column per metric."""
    lines = [
        "| Model | " + " | ".join(name for name, _, _ in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for label, results in rows:
        cells = [format_cell(results, path, digits) for _, path, digits in columns]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_cell(results: dict[str, Any], path: tuple[str, ...], digits: int) -> str:
    text = format_metric(metric_at(results, path), digits)
    if path[0] == "pose_distance" and text != "–":  # a mean over 1 frame says little: show how many
        frames = metric_at(results, (*path[:-1], f"{path[-1]}_frames"))
        text += f" ({frames:.0f} fr.)"
    return text


def describe_setting(results: dict[str, Any]) -> str:
    """One sentence on what the numbers were measured on, and in which units."""
    h, w = results["resolution"]
    if results["mode"] == "transfer":
        what = (
            f"{results['frames']} frames of {results['source']['name']} transferred onto {results['subject']}"
        )
    else:
        what = f"{results['frames']} held-out test frames of {results['subject']} ({', '.join(results['clips'])})"
    lpips = f"LPIPS {results['lpips']['net']}; " if results.get("lpips") else ""
    return (
        f"{what} at {w}×{h}; {lpips}pose distance in pixels at {w}×{h}, over the frames (fr.) where every "
        "detectable joint of the part was found (– where none was); warping error in [0, 1] units (lower is steadier)."
    )


def markdown_table(results: dict[str, Any]) -> str:
    """The paper's table layout (METHOD.md §5) for this model, temporal columns appended, then the
    per-part pose tables (paper Tables 3 and 4); for a transfer, pose fidelity and temporal only."""
    row = [(results["model"]["label"], results)]
    if results["mode"] == "transfer":
        body = table_rows(row, TRANSFER_COLUMNS)
    else:
        body = table_rows(row, TABLE_COLUMNS) + "\n\n" + table_rows(row, POSE_COLUMNS)
    return f"{body}\n\n{describe_setting(results)}\n"


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
        name = f"{run.clip_id.replace('/', '_').replace(':', '_')}-{t:05d}.png"
        atomic_write_bytes(
            folder / name, _png(np.concatenate([run.sticks[t], run.generated[t], run.real[t]], 1))
        )
        names.append(f"samples/{name}")
    return names


def training_logs(checkpoint: str | os.PathLike[str]) -> dict[str, Path]:
    """The training logs beside a local checkpoint (``RUN/{body,face}-log.jsonl``), by stage."""
    run = Path(checkpoint).parent
    return {
        stage: run / f"{stage}-log.jsonl"
        for stage in ("body", "face")
        if (run / f"{stage}-log.jsonl").is_file()
    }


def _write_curves(out: Path, label: str, per_frame: dict[str, list[Any]], checkpoint: str) -> list[str]:
    curves = []
    if plot_per_frame({label: per_frame}, out / "curves" / "per_frame.png", PER_FRAME_TITLES):
        curves.append("curves/per_frame.png")
    if plot_training_curves(training_logs(checkpoint), out / "curves" / "training.png"):
        curves.append("curves/training.png")
    return curves


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


def _model_record(net: TransferModel) -> dict[str, Any]:
    path = net.state["path"]
    data = net.state["data"]
    return {
        "path": path,
        "sha256": sha256_file(path),
        "label": f"{net.config.name} ({variant_label(net)})",
        "variant": variant_label(net),
        "run": net.config.name,
        "stage": net.state.get("stage") or ("face" if net.face_generator is not None else "body"),
        "step": net.state.get("step"),
        "temporal": net.config.model.temporal,
        "face_gan": net.face_generator is not None,
        "trained_on": {k: v for k, v in data.items() if k != "target_statistics"},
    }


def _finish(
    out: Path,
    net: TransferModel,
    runs: Sequence[_ClipRun],
    metrics: dict[str, Any],
    per_frame: dict[str, list[Any]],
    fields: dict[str, Any],
    timings: dict[str, float],
    started: float,
) -> dict[str, Any]:
    """Write samples, curves, results.json and results.md; returns the results."""
    out.mkdir(parents=True, exist_ok=True)
    with _stage("write", "write", 0, False, timings):
        samples = _write_samples(runs, out / "samples")
        model = _model_record(net)
        curves = _write_curves(out, model["variant"], per_frame, model["path"])
    timings["total"] = time.perf_counter() - started
    height, width = net.config.data.height, net.config.data.width
    total = sum(len(r.generated) for r in runs)
    results: dict[str, Any] = {
        "schema": SCHEMA,
        "model": model,
        **fields,
        "clips": [r.clip_id for r in runs],
        "frames": total,
        "frames_per_clip": {r.clip_id: len(r.generated) for r in runs},
        "resolution": [height, width],
        "units": {
            "pose_distance": f"pixels at {width}x{height}",
            "missed_detections": "keypoints per image",
            "warping_error": "mean absolute error in [0, 1] units over non-occluded pixels",
        },
        "face_box": net.face_box,
        "metrics": metrics,
        "per_frame": per_frame,
        "samples": samples,
        "curves": curves,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "generation_frames_per_s": total / max(timings["generate"], 1e-9),
        "frames_per_s": total / max(timings["total"], 1e-9),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_text(out / "results.json", json.dumps(results, indent=1))
    what = "transfer from a source" if results["mode"] == "transfer" else "held-out test frames"
    atomic_write_text(
        out / "results.md", f"# Evaluation of {model['label']}: {what}\n\n{markdown_table(results)}"
    )
    return results


def evaluate(
    model: str | os.PathLike[str],
    dataset: str | None = None,
    *,
    out: str | os.PathLike[str],
    max_frames: int | None = None,
    lpips_net: str = "alex",
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate ``model`` on its target's held-out test frames; writes the results folder ``out``.

    Returns the contents of ``results.json``; :func:`markdown_table` makes its table.
    """
    started = time.perf_counter()
    out = Path(out)
    if max_frames is not None and max_frames < 1:
        raise EvaluationError(f"--max-frames must be at least 1, got {max_frames}")
    net = _load_model(model)
    data = net.state["data"]
    if not dataset and "dataset" not in data:
        raise EvaluationError(f"{net.state['path']}: the checkpoint records no dataset; pass --dataset")
    dataset = str(dataset or data["dataset"])
    clips = _test_clips(dataset, data.get("subject"))
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
        runs = [_generate(net, clip, n, bar) for clip, n in plan]
    with _stage("image_quality", "SSIM/LPIPS", total, progress, timings) as bar:
        quality, quality_per_frame = _image_quality(runs, net.face_box, lpips, bar)
    common, common_per_frame, detector = _fidelity_and_temporal(runs, progress, timings)
    metrics = {"body": quality["body"], "face": quality["face"], **common}
    per_frame = {**quality_per_frame, **common_per_frame}
    fields = {
        "mode": "held-out",
        "dataset": dataset,
        "split": "test",
        "subject": clips[0].subject_id,
        "lpips": {"net": lpips.net, "backbone_source": lpips.backbone_source, "min_side": LPIPS_MIN_SIDE},
        "ssim_min_side": SSIM_MIN_SIDE,
        "detector": detector,
        "reference": "the real held-out frames",
    }
    return _finish(out, net, runs, metrics, per_frame, fields, timings, started)


def _source_in_target_frame(
    video: str | bytes, affines: np.ndarray, target_size: tuple[int, int], size: tuple[int, int]
) -> np.ndarray:
    """The source's first ``len(affines)`` frames moved into the target's frame at the model's ``size``."""
    import cv2

    from dataset.video import VideoReader

    height, width = size
    to_model = np.diag([width / target_size[1], height / target_size[0], 1.0])
    frames: list[np.ndarray] = []
    for batch in VideoReader(video).iter_batches(CHUNK, 0, len(affines)):
        for frame in batch:
            matrix = (to_model @ np.vstack([affines[len(frames)], [0, 0, 1]]))[:2]
            frames.append(
                cv2.warpAffine(
                    np.ascontiguousarray(frame),
                    matrix,
                    (width, height),
                    flags=cv2.INTER_AREA if matrix[0, 0] < 1 else cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE,
                )
            )
    if len(frames) < len(affines):
        raise EvaluationError(f"source: {len(frames)} decoded frames but {len(affines)} pose rows")
    return np.stack(frames)


def evaluate_transfer(
    model: str | os.PathLike[str],
    source: str,
    *,
    clip: str | None = None,
    out: str | os.PathLike[str],
    max_frames: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate a transfer of ``source``'s motion (video file or dataset clip) onto ``model``'s target.

    No ground truth exists, so: pose distance and missed detections against the normalised input
    pose, and warping error / frame statistics against the source moved into the target's frame.
    Writes the results folder ``out`` and returns the contents of its ``results.json``.
    """
    started = time.perf_counter()
    out = Path(out)
    if max_frames is not None and max_frames < 1:
        raise EvaluationError(f"--max-frames must be at least 1, got {max_frames}")
    net = _load_model(model)
    try:
        motion = resolve_source(source, clip, progress=progress)
    except TransferError as exc:
        raise EvaluationError(str(exc)) from None
    poses = motion.poses if max_frames is None else motion.poses.slice(0, min(max_frames, len(motion.poses)))
    if len(poses) < 1:
        raise EvaluationError(f"{motion.name}: no frames to evaluate")
    try:
        model_input, params, transforms = normalized_input(net, poses, motion.size, name=motion.name)
    except TransferError as exc:
        raise EvaluationError(str(exc)) from None
    size = (net.config.data.height, net.config.data.width)
    timings = {"load": time.perf_counter() - started}

    with _stage("generate", "generate", len(poses), progress, timings) as bar:
        sticks, generated = run_generator(net, model_input, bar)
        reference_video = _source_in_target_frame(
            motion.video, frame_affines(transforms, params), net.target_size, size
        )
    # A dataset source's clip id, or a video file's stem, names the samples.
    name = motion.name.split("::", 1)[1] if "::" in motion.name else Path(motion.name).stem
    runs = [_ClipRun(name, model_input, sticks, generated, reference_video)]
    metrics, per_frame, detector = _fidelity_and_temporal(runs, progress, timings)
    fields = {
        "mode": "transfer",
        "dataset": net.state["data"].get("dataset"),
        "split": None,
        "subject": net.state["data"].get("subject") or "the model's target",
        "source": {"name": motion.name, "clip": clip, "frame_size": list(motion.size), "fps": motion.fps},
        "normalization": params.to_dict(),
        "detector": detector,
        "reference": "the source video moved into the target's frame by the per-frame normalisation",
    }
    return _finish(out, net, runs, metrics, per_frame, fields, timings, started)


__all__ = [
    "SCHEMA",
    "EvaluationError",
    "describe_setting",
    "evaluate",
    "evaluate_transfer",
    "format_cell",
    "markdown_table",
    "metric_at",
    "table_rows",
    "variant_label",
]
