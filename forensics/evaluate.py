"""``dancenow forensics evaluate``: the detector's figures in the standard protocol.

On the test videos of the detector's data (motion never trained on): AP, ROC AUC, accuracy at the
calibrated threshold and EER (:mod:`forensics.metrics`, scikit-learn), at frame level (one crop)
and at video level (a segment of ``segment_frames`` frames, scored by its mean logit); for
generators seen in training and for held-out generators, each against the same real test videos.
The robustness table repeats the video-level figures after JPEG and H.264 re-encoding, halving the
resolution and Gaussian blur, applied to the whole frames before the person is cropped.

Person boxes come from the poses that made (synthetic) or annotate (real) each frame, so the figures
measure the classifier; `dancenow forensics detect` finds the person with the pose detector.

Writes a results folder (schema ``dancenow.forensics/1``): ``results.json``, ``results.md`` and
``curves/roc_pr.png``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dataset.files import atomic_write_text

from .crops import crop_square, fill_missing_boxes, gaussian_blur, h264, jpeg, rescale, spread_indices
from .data import DetectorData, DetectorVideo, load_detector_data
from .metrics import curve_points, detection_metrics, video_scores
from .train import Detector, load_detector

SCHEMA = "dancenow.forensics/1"
GROUPS = ("seen", "held_out")
GROUP_TITLES = {"seen": "generators seen in training", "held_out": "held-out generators"}


@dataclass(frozen=True)
class Condition:
    """A degradation of whole frames: ``apply(frames, fps)`` → frames, and the scale it resizes by."""

    name: str
    label: str
    apply: Callable[[np.ndarray, float], np.ndarray]
    scale: float = 1.0


def _per_frame(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray, float], np.ndarray]:
    return lambda frames, fps: np.stack([fn(f) for f in frames])


CONDITIONS: dict[str, Condition] = {
    c.name: c
    for c in (
        Condition("clean", "as made (H.264, crf 18)", lambda frames, fps: frames),
        Condition("jpeg-75", "JPEG quality 75", _per_frame(lambda f: jpeg(f, 75))),
        Condition("jpeg-50", "JPEG quality 50", _per_frame(lambda f: jpeg(f, 50))),
        Condition("h264-500k", "H.264 at 500 kbit/s", lambda frames, fps: h264(frames, 500_000, fps)),
        Condition("h264-250k", "H.264 at 250 kbit/s", lambda frames, fps: h264(frames, 250_000, fps)),
        Condition(
            "resize-0.5", "resized to half size", _per_frame(lambda f: rescale(f, 0.5, back=False)), 0.5
        ),
        Condition("blur-1", "Gaussian blur σ 1", _per_frame(lambda f: gaussian_blur(f, 1.0))),
        Condition("blur-2", "Gaussian blur σ 2", _per_frame(lambda f: gaussian_blur(f, 2.0))),
    )
}


class ForensicsEvaluationError(ValueError):
    """The evaluation cannot run; the message names the input and the fix."""


def _score_video(
    detector: Detector,
    data: DetectorData,
    video: DetectorVideo,
    frames: np.ndarray,
    condition: Condition,
    frames_per_segment: int,
) -> list[dict[str, Any]]:
    """Per segment of ``video`` (its decoded ``frames``) under ``condition``: the frames judged and
    their scores."""
    frames = condition.apply(frames, video.fps)
    boxes = fill_missing_boxes(np.load(data.folder / video.boxes)) * (
        condition.scale,
        condition.scale,
        condition.scale,
    )
    segments = []
    for start, stop in video.segments(data.segment_frames):
        picks = [
            i for i in spread_indices(stop - start, frames_per_segment, start) if not np.isnan(boxes[i, 0])
        ]
        if not picks:
            continue
        crops = np.stack([crop_square(frames[i], boxes[i], detector.input_size) for i in picks])
        segments.append(
            {"segment": [start, stop], "frames": picks, "frame_scores": detector.frame_scores(crops).tolist()}
        )
    return segments


def _metrics(items: list[dict[str, Any]], thresholds: dict[str, float]) -> dict[str, Any]:
    frame_labels = [it["label"] for it in items for _ in it["frame_scores"]]
    frame_scores = [s for it in items for s in it["frame_scores"]]
    return {
        "frame": detection_metrics(frame_labels, frame_scores, thresholds["frame"]),
        "video": detection_metrics(
            [it["label"] for it in items], [it["score"] for it in items], thresholds["video"]
        ),
    }


def _groups(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    real = [it for it in items if it["group"] == "real"]
    return {group: real + [it for it in items if it["group"] == group] for group in GROUPS}


def evaluate_detector(
    model: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    data_folder: str | os.PathLike[str] | None = None,
    conditions: list[str] | None = None,
    frames_per_segment: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate the detector ``model`` on its data's test videos; writes and returns the results."""
    from tqdm.auto import tqdm

    from dataset.video import VideoReader

    from .curves import plot_roc_pr

    started = time.perf_counter()
    detector = load_detector(model)
    data = load_detector_data(data_folder or detector.state["data_folder"])
    names = conditions or list(CONDITIONS)
    unknown = [n for n in names if n not in CONDITIONS]
    if unknown:
        raise ForensicsEvaluationError(f"unknown condition(s) {unknown}; choose from {list(CONDITIONS)}")
    if "clean" not in names:
        names = ["clean", *names]
    per_segment = frames_per_segment or detector.config.data.frames_per_segment
    tests = [v for v in data.videos if v.split == "test"]
    if not any(v.label == 0 for v in tests) or not any(v.label == 1 for v in tests):
        raise ForensicsEvaluationError(
            f"{data.folder}: the test videos lack real or synthetic ones; rebuild the data"
        )
    thresholds = detector.thresholds

    by_condition: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    bar = tqdm(total=len(names) * len(tests), unit="video", desc="forensics evaluate", disable=not progress)
    for video in tests:
        # Decoded once for every condition: a condition returns new frames and leaves these as they are.
        frames = VideoReader(str(data.folder / video.path)).get_batch(range(video.frames))
        for name in names:
            for seg in _score_video(detector, data, video, frames, CONDITIONS[name], per_segment):
                score = video_scores(seg["frame_scores"])
                by_condition[name].append(
                    {
                        "id": f"{video.id}@{seg['segment'][0]}",
                        "video": video.path,
                        "label": "synthetic" if video.label else "real",
                        "generator": video.generator,
                        "group": video.group,
                        "motion": video.motion,
                        **seg,
                        "score": round(score, 5),
                        "verdict": "synthetic" if score >= thresholds["video"] else "real",
                        "frame_scores": [round(s, 5) for s in seg["frame_scores"]],
                    }
                )
            bar.update(1)
    bar.close()

    def numeric(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [it | {"label": 1 if it["label"] == "synthetic" else 0} for it in items]

    clean = _groups(numeric(by_condition["clean"]))
    metrics = {group: _metrics(items, thresholds) for group, items in clean.items()}
    robustness = []
    for name in names:
        groups = _groups(numeric(by_condition[name]))
        robustness.append(
            {"condition": name, "label": CONDITIONS[name].label}
            | {group: _metrics(items, thresholds)["video"] for group, items in groups.items()}
        )
    points = {
        group: curve_points([it["label"] for it in items], [it["score"] for it in items])
        for group, items in clean.items()
    }
    out = Path(out)
    (out / "curves").mkdir(parents=True, exist_ok=True)
    extra = {
        f"{GROUP_TITLES[g]} (video)": f" AP {metrics[g]['video']['ap']:.3f}"
        if metrics[g]["video"]["ap"] is not None
        else ""
        for g in GROUPS
    }
    plot_roc_pr(
        {f"{GROUP_TITLES[g]} (video)": points[g] for g in GROUPS},
        out / "curves" / "roc_pr.png",
        labels_extra=extra,
    )
    results = {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "detector": detector.describe(),
        "data": {
            "folder": str(data.folder.resolve()),
            "segment_frames": data.segment_frames,
            "frames_per_segment": per_segment,
            "frame_size": list(data.size),
            "test_videos": len(tests),
        },
        "generators": {
            "seen": [g["name"] for g in data.manifest["generators"] if not g["held_out"]],
            "held_out": [g["name"] for g in data.manifest["generators"] if g["held_out"]],
            "details": data.manifest["generators"],
        },
        "metrics": metrics,
        "robustness": robustness,
        "curves": {"png": "curves/roc_pr.png", "points": points},
        "videos": by_condition["clean"],
        "seconds": round(time.perf_counter() - started, 1),
    }
    atomic_write_text(out / "results.json", json.dumps(results, indent=1))
    atomic_write_text(out / "results.md", markdown_report(results))
    return results


def _cell(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def metrics_table(results: dict[str, Any]) -> str:
    """The main table: AP, ROC AUC, accuracy at the threshold and EER, frame and video level."""
    lines = [
        "| test set | level | real | synthetic | AP | ROC AUC | accuracy | balanced acc. | EER | threshold |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for group in GROUPS:
        for level in ("frame", "video"):
            m = results["metrics"][group][level]
            lines.append(
                f"| {GROUP_TITLES[group]} | {level} | {m['n_real']} | {m['n_synthetic']} | {_cell(m['ap'])} | "
                f"{_cell(m['roc_auc'])} | {_cell(m['accuracy'])} | {_cell(m['balanced_accuracy'])} | "
                f"{_cell(m['eer'])} | {_cell(m['threshold'])} |"
            )
    return "\n".join(lines)


def robustness_table(results: dict[str, Any]) -> str:
    """Video-level AP and accuracy per degradation, seen and held-out generators."""
    lines = [
        "| condition | AP seen | accuracy seen | AP held-out | accuracy held-out |",
        "|---|---|---|---|---|",
    ]
    for row in results["robustness"]:
        lines.append(
            f"| {row['label']} | {_cell(row['seen']['ap'])} | {_cell(row['seen']['accuracy'])} | "
            f"{_cell(row['held_out']['ap'])} | {_cell(row['held_out']['accuracy'])} |"
        )
    return "\n".join(lines)


def markdown_report(results: dict[str, Any]) -> str:
    detector = results["detector"]
    data = results["data"]
    gens = results["generators"]
    return "\n".join(
        [
            "# Detector evaluation",
            "",
            f"Detector `{detector['path']}` ({detector['backbone']}, {detector['input_size']} px person crops), "
            f"trained on {', '.join(gens['seen'])}; held out: {', '.join(gens['held_out'])}. "
            f"Test motion never seen in training; a video is a segment of {data['segment_frames']} frames "
            f"({data['frames_per_segment']} judged), scored by its mean logit.",
            "",
            metrics_table(results),
            "",
            "## Robustness (video level)",
            "",
            robustness_table(results),
            "",
            "![ROC and precision-recall](curves/roc_pr.png)",
            "",
        ]
    )


__all__ = [
    "CONDITIONS",
    "SCHEMA",
    "Condition",
    "ForensicsEvaluationError",
    "evaluate_detector",
    "markdown_report",
    "metrics_table",
    "robustness_table",
]
