"""Pose fidelity of generated frames: pose distance and missed detections (paper Tables 3 and 4).

The pose detector is run on each generated frame and its keypoints (``detected``) are compared with
the input pose the frame was generated from (``reference``), both :class:`~dataset.keypoints.PoseSequence`
of the same length, frame ``t`` against frame ``t``. Both must be in the same pixel coordinates: all
distances are in **pixels at the evaluation resolution** (the resolution the detector ran at on the
generated frames; rescale the reference pose first if it came from a frame of another size).

- :func:`pose_distance`: mean L2 distance between corresponding keypoints, per part (body, face,
  hands) and overall, averaged over keypoints within a frame and then over frames. As in the paper,
  only poses where all joints are detected are compared: a frame counts for a part only when every
  *detectable* joint of that part is detected in both the reference and the detected pose; for
  ``overall``, only frames where all three parts qualify (the distance is then the mean over all
  their detectable keypoints).
- :func:`missed_detections`: mean number per image of keypoints detected in the reference but not in
  the detection on the generated frame, per part and overall (the sum of the parts).

"Detectable" is a boolean mask per part (``body`` ``(25,)``, ``face`` ``(70,)``, ``hands`` ``(2, 21)``):
the points the detector can produce at all. MediaPipe Holistic mapped to BODY_25 never reports the
small toes (BODY_25's 20 and 23), so requiring "all 25 body joints" would reject every frame;
:func:`mediapipe_holistic_detectable` gives that detector's mask. ``None`` means every point.

A keypoint counts as detected when its confidence is above zero and at least ``min_confidence``.
Results are plain dicts of floats (``None`` where no frame qualified), ready for JSON.
"""

from __future__ import annotations

import numpy as np

from dataset.keypoints import N_BODY, N_FACE, N_HAND, PoseSequence
from dataset.pose.mediapipe_holistic import DETECTABLE_BODY_POINTS

PARTS: tuple[str, ...] = ("body", "face", "hands")
_SHAPES: dict[str, tuple[int, ...]] = {"body": (N_BODY,), "face": (N_FACE,), "hands": (2, N_HAND)}

DetectableMask = dict[str, np.ndarray]


def all_detectable() -> DetectableMask:
    """Every keypoint of every part can be detected (e.g. OpenPose's own BODY_25 model)."""
    return {part: np.ones(shape, bool) for part, shape in _SHAPES.items()}


def mediapipe_holistic_detectable() -> DetectableMask:
    """The points :class:`~dataset.pose.mediapipe_holistic.HolisticDetector` can produce.

    Body: the BODY_25 points its mapping fills (direct correspondences and the derived neck and
    mid-hip), i.e. all but the small toes; face and hands: every point.
    """
    mask = all_detectable()
    body = np.zeros(N_BODY, bool)
    body[list(DETECTABLE_BODY_POINTS)] = True
    mask["body"] = body
    return mask


def _check(
    reference: PoseSequence, detected: PoseSequence, detectable: DetectableMask | None
) -> DetectableMask:
    if len(reference) != len(detected):
        raise ValueError(f"reference has {len(reference)} frames but detected has {len(detected)}")
    mask = all_detectable() if detectable is None else detectable
    for part, shape in _SHAPES.items():
        if part not in mask:
            raise ValueError(f"detectable mask has no entry for {part!r}")
        if np.shape(mask[part]) != shape:
            raise ValueError(f"detectable[{part!r}] has shape {np.shape(mask[part])}, expected {shape}")
    return {part: np.asarray(mask[part], bool).reshape(-1) for part in PARTS}


def _points(seq: PoseSequence, part: str) -> np.ndarray:
    """``(T, K, 3)`` float64, hands flattened to 42 points (left hand first)."""
    arr = np.asarray(getattr(seq, part), np.float64)
    return arr.reshape(arr.shape[0], -1, 3)


def _is_detected(points: np.ndarray, min_confidence: float) -> np.ndarray:
    conf = points[..., 2]
    return (conf > 0) & (conf >= min_confidence)


def pose_distance(
    reference: PoseSequence,
    detected: PoseSequence,
    *,
    min_confidence: float = 0.1,
    detectable: DetectableMask | None = None,
) -> dict[str, float | None]:
    """Mean keypoint L2 distance (pixels) between ``detected`` and ``reference``, per part and overall.

    Returns ``{part: distance, f"{part}_frames": frames used}`` for ``body``, ``face``, ``hands`` and
    ``overall``. A part's distance is the mean over its detectable keypoints in a frame, then over the
    frames where all of them are detected in both poses; ``overall`` uses the frames where all parts
    qualify, averaging over all detectable keypoints. The distance is ``None`` when no frame qualifies.
    """
    mask = _check(reference, detected, detectable)
    n = len(reference)
    result: dict[str, float | None] = {}
    sums = np.zeros(n)
    counts = np.zeros(n)
    all_ok = np.ones(n, bool)
    for part in PARTS:
        ref = _points(reference, part)[:, mask[part]]
        det = _points(detected, part)[:, mask[part]]
        ok = (_is_detected(ref, min_confidence) & _is_detected(det, min_confidence)).all(axis=1)
        dist = np.linalg.norm(ref[..., :2] - det[..., :2], axis=-1)  # (T, K)
        if dist.shape[1] == 0:  # a part with nothing detectable says nothing
            result[part], result[f"{part}_frames"] = None, 0.0
            continue
        result[part] = float(dist[ok].mean(axis=1).mean()) if ok.any() else None
        result[f"{part}_frames"] = float(ok.sum())
        sums += dist.sum(axis=1)
        counts += dist.shape[1]
        all_ok &= ok
    all_ok &= counts > 0
    result["overall"] = float((sums[all_ok] / counts[all_ok]).mean()) if all_ok.any() else None
    result["overall_frames"] = float(all_ok.sum())
    return result


def missed_per_frame(
    reference: PoseSequence,
    detected: PoseSequence,
    *,
    min_confidence: float = 0.1,
    detectable: DetectableMask | None = None,
) -> dict[str, np.ndarray]:
    """Per frame, the number of keypoints detected in ``reference`` but missed in ``detected``.

    Returns ``{"body", "face", "hands", "overall"}``, each ``(T,)`` int (``overall`` the sum of the
    parts, both hands counted in ``hands``); points outside ``detectable`` are not counted.
    """
    mask = _check(reference, detected, detectable)
    result: dict[str, np.ndarray] = {}
    total = np.zeros(len(reference), np.int64)
    for part in PARTS:
        ref = _is_detected(_points(reference, part)[:, mask[part]], min_confidence)
        det = _is_detected(_points(detected, part)[:, mask[part]], min_confidence)
        result[part] = (ref & ~det).sum(axis=1).astype(np.int64)
        total += result[part]
    result["overall"] = total
    return result


def missed_detections(
    reference: PoseSequence,
    detected: PoseSequence,
    *,
    min_confidence: float = 0.1,
    detectable: DetectableMask | None = None,
) -> dict[str, float]:
    """Mean number per image of keypoints detected in ``reference`` but missed in ``detected``.

    Returns ``{"body", "face", "hands", "overall"}`` (``overall`` is the sum of the parts, both hands
    counted in ``hands``); points outside ``detectable`` are not counted. An empty sequence gives 0.
    """
    return mean_missed(
        missed_per_frame(reference, detected, min_confidence=min_confidence, detectable=detectable)
    )


def mean_missed(per_frame: dict[str, np.ndarray]) -> dict[str, float]:
    """:func:`missed_per_frame`'s counts as means per image (0 for an empty sequence)."""
    return {part: float(counts.mean()) if len(counts) else 0.0 for part, counts in per_frame.items()}
