"""Per-clip keypoint quality: how often each part was detected, and distance to ground truth.

Ground truth exists for the generated demo subject (the renderer knows where every joint is), so
the build report can say how far the real detector's keypoints are from the truth.
"""

from __future__ import annotations

import numpy as np

from .keypoints import BODY, PoseSequence, detected

# A frame "has a person" when at least this many body keypoints were detected.
MIN_BODY_POINTS_FOR_PERSON = 4

# Main limb joints, present in every layout we import (no feet, no face points).
MAIN_BODY_JOINTS = tuple(
    BODY[name]
    for name in (
        "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
        "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle",
    )
)  # fmt: skip


def person_mask(poses: PoseSequence) -> np.ndarray:
    """``(T,)`` True where a person (enough body keypoints) was detected."""
    return np.asarray(detected(poses.body).sum(axis=1) >= MIN_BODY_POINTS_FOR_PERSON)


def detection_rates(poses: PoseSequence) -> dict[str, float]:
    """Fraction of frames in which each part was found (a hand counts when either hand is)."""
    n = max(len(poses), 1)
    return {
        "person": float(person_mask(poses).sum() / n),
        "face": float(detected(poses.face).any(axis=1).sum() / n),
        "hands": float(detected(poses.hands).any(axis=(1, 2)).sum() / n),
    }


def _mean_distance(pred: np.ndarray, truth: np.ndarray) -> tuple[float | None, int]:
    both = detected(pred) & detected(truth)
    if not both.any():
        return None, 0
    dist = np.linalg.norm(pred[..., :2] - truth[..., :2], axis=-1)
    return float(dist[both].mean()), int(both.sum())


def compare_to_ground_truth(pred: PoseSequence, truth: PoseSequence) -> dict[str, float | int | None]:
    """Mean pixel distance of detected keypoints to the truth, per part, over points both have.

    Also relative to the subject's height (the truth's vertical extent of the main body joints,
    per frame), which makes figures comparable across resolutions.
    """
    if len(pred) != len(truth):
        raise ValueError(f"{len(pred)} detected frames but {len(truth)} ground-truth frames")
    body_px, body_n = _mean_distance(pred.body[:, MAIN_BODY_JOINTS], truth.body[:, MAIN_BODY_JOINTS])
    face_px, face_n = _mean_distance(pred.face, truth.face)
    hands_px, hands_n = _mean_distance(pred.hands, truth.hands)
    ys = np.where(detected(truth.body), truth.body[..., 1], np.nan)
    with np.errstate(all="ignore"):
        heights = np.nanmax(ys, axis=1) - np.nanmin(ys, axis=1)
    height = float(np.nanmedian(heights)) if np.isfinite(heights).any() else None
    visible_truth = detected(truth.body[:, MAIN_BODY_JOINTS]).sum()
    return {
        "body_px": body_px,
        "body_pct_of_height": None if body_px is None or not height else 100.0 * body_px / height,
        "body_recall": float(body_n / visible_truth) if visible_truth else None,
        "face_px": face_px,
        "hands_px": hands_px,
        "face_points_compared": face_n,
        "hand_points_compared": hands_n,
        "subject_height_px": height,
    }
