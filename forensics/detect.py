"""``dancenow forensics detect``: is this video of a person synthesised? Per-frame and per-video.

Frames spread evenly over the video go through the pose detector (which finds the person and so
the crop), then the trained classifier. Each frame with a person gets the probability that it is
synthetic; the video's score is the sigmoid of the mean per-frame logit
(:func:`forensics.metrics.video_scores`), and the verdict compares it with the threshold calibrated
on validation videos at training time. A video in which no frame shows a person gets the verdict
"no person": the detector judges synthesised people, and says so rather than guess.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import DEFAULT_DETECTOR_PATH
from .crops import crop_square, person_boxes, spread_indices
from .metrics import video_scores
from .train import Detector, load_detector

SCHEMA = "dancenow.detection/1"
POSE_DETECTOR = "mediapipe-holistic"


def default_detector_path() -> Path:
    """The detector `make demo` trains (``outputs/runs/detector-demo/detector.pt``)."""
    return DEFAULT_DETECTOR_PATH


@dataclass
class DetectionReport:
    video: str
    detector: dict[str, Any]
    frames: int
    fps: float
    scored: list[dict[str, Any]] = field(default_factory=list)  # {"frame", "score" | None, "person"}
    person_found: bool = False
    score: float | None = None
    threshold: float = 0.5
    verdict: str = "no person"  # "synthetic", "real" or "no person"
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}

    def describe(self) -> str:
        return self.summary


def person_boxes_in(frames: np.ndarray, margin: float, *, consecutive: bool = False) -> np.ndarray:
    """Square person boxes ``(N, 3)`` (NaN rows: no person) found by the pose detector in ``frames``.

    Frames far apart are judged one by one (static mode): MediaPipe's tracking assumes neighbours,
    which ``consecutive`` frames are (then tracking, which is faster, is used).
    """
    from dataset.pose import get_detector

    with get_detector(POSE_DETECTOR, static_image_mode=not consecutive) as detector:
        poses = detector.detect(list(frames))
    return person_boxes(poses.body, margin)


def _summary(report: DetectionReport, n_people: int) -> str:
    where = f"{report.video}: {len(report.scored)} of {report.frames} frames judged"
    if not report.person_found:
        return (
            f"{where}; no person found in any of them: nothing for the detector to judge "
            "(it tells synthesised people from real ones)"
        )
    assert report.score is not None
    share = np.mean(
        [s["score"] >= report.detector["threshold"]["frame"] for s in report.scored if s["person"]]
    )
    return (
        f"{where}, a person in {n_people}; verdict {report.verdict.upper()}: score {report.score:.3f} "
        f"(threshold {report.threshold:.3f}); {share:.0%} of the frames with a person look synthetic"
    )


def detect_video(
    video: str | os.PathLike[str],
    model: str | os.PathLike[str] | Detector | None = None,
    *,
    max_frames: int = 64,
    progress: bool = False,
) -> DetectionReport:
    """Judge ``video`` with ``model`` (a detector checkpoint; default :func:`default_detector_path`).

    Raises :class:`dataset.video.VideoError` for a corrupt, empty or unreadable video and
    :class:`~forensics.train.DetectorCheckpointError` for a missing or wrong checkpoint.
    """
    from dataset.video import VideoReader

    detector = model if isinstance(model, Detector) else load_detector(model or default_detector_path())
    reader = VideoReader(str(video))
    count = len(reader)
    picks = spread_indices(count, max_frames if max_frames > 0 else count)
    frames = reader.get_batch(picks)
    boxes = person_boxes_in(frames, detector.config.model.crop_margin, consecutive=len(picks) == count)
    with_person = [i for i in range(len(picks)) if not np.isnan(boxes[i, 0])]
    scores = np.full(len(picks), np.nan)
    if with_person:
        crops = np.stack([crop_square(frames[i], boxes[i], detector.input_size) for i in with_person])
        scores[with_person] = detector.frame_scores(crops)
    report = DetectionReport(
        video=str(video),
        detector=detector.describe(),
        frames=count,
        fps=float(reader.info.fps),
        scored=[
            {"frame": int(f), "score": None if np.isnan(s) else round(float(s), 5), "person": not np.isnan(s)}
            for f, s in zip(picks, scores, strict=True)
        ],
        person_found=bool(with_person),
        threshold=float(detector.thresholds["video"]),
    )
    if with_person:
        report.score = round(video_scores(scores[with_person].tolist()), 5)
        report.verdict = "synthetic" if report.score >= report.threshold else "real"
    report.summary = _summary(report, len(with_person))
    return report


__all__ = ["SCHEMA", "DetectionReport", "default_detector_path", "detect_video"]
