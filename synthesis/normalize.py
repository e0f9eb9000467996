"""Global pose normalisation: put the source dancer's poses into the target video's frame.

Everybody Dance Now transfers motion from a source video to a target subject filmed elsewhere:
different camera, different framing, a taller or shorter person. Before the stick figures are drawn,
every source pose is mapped by a per-frame scale and vertical translation so that the figure has the
target's body size *at the target's position in depth* (docs: ``shared/design/METHOD.md`` §2):

1. For each video, per frame: the head (nose, else the ears' midpoint), the ankle row ``y`` (the
   larger of the two ankle rows: the foot nearest the camera) and the ``height`` (head to the mean
   of the two ankles).
2. Two anchors per video: ``close`` = the largest ankle row, ``far`` = ``median - d`` where ``d`` is
   the largest ``median - y`` below ``frac * (close - median)`` (robust to jumps), and the tallest
   height within 5 % of the close–far range of each anchor.
3. If the source's range is shorter, the target's range is shrunk to that length about its
   midpoint. ``scale_close``/``scale_far`` are the target/source height ratios at the anchors.
4. A source frame with ankle row ``y`` gets ``p = (y - far_s) / (close_s - far_s)``,
   ``target_y = far_t + p (close_t - far_t)`` and ``scale = scale_far + p (scale_close - scale_far)``;
   its keypoints are scaled about the anchor (source centre column, ankle row of the first valid
   source frame), shifted so that its ankle row lands on ``target_y``, and the source's centre column
   is moved onto the target's. Frames that cannot be measured reuse the previous frame's transform.

Two details differ from a literal reading of METHOD.md, both so that the feet stay on the target's
floor: ``translate`` is ``target_y - ay - scale (y - ay)`` rather than ``target_y - y`` (equal on the
anchor row; otherwise the literal form leaves the feet ``(scale - 1)(y - ay)`` off ``target_y``), and
``p`` is clamped to [0, 1] for the scale only (a jump above the far anchor keeps the far scale instead
of shrinking the dancer, and still rises by the mapped amount).

The release's version of this step was fragile. Here every statistic degrades to something sensible
and says so in ``notes``: a missing ankle is replaced by the other foot or a heel/toe, a subject who
never moves in depth gets a single scale, a sitting or cropped subject is measured head→mid-hip,
head→neck or down to the lowest detected point, in *both* videos the same way (each
:class:`PoseStatistics` carries the other measures in ``alternatives``), and only a video with nothing
measurable at all raises :class:`NormalizationError`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from dataset.keypoints import BODY, N_BODY, PoseSequence

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

logger = logging.getLogger(__name__)

# Height measures, in order of preference. "ankles" is the paper's; the other two exist for subjects
# whose feet are never visible (sitting, or framed from the knees or waist up).
# "neck" serves subjects framed from the waist up: it is short (noisier) but, unlike the bounding box,
# measures the same body segment in a cropped and a full-body video.
MEASURES: tuple[str, ...] = ("ankles", "hip", "neck", "bbox")
MEASURE_DESCRIPTIONS: dict[str, str] = {
    "ankles": "from the head to the ankles (rows are ankle rows)",
    "hip": "from the head to the mid-hip (BODY 8, else the midpoint of the two hips; rows are mid-hip rows)",
    "neck": "from the head to the neck (BODY 1, else the midpoint of the shoulders; rows are neck rows)",
    "bbox": "from the head down to the lowest detected body point (the bounding box's bottom row)",
}
_MEASURE_PARTS: dict[str, str] = {
    "ankles": "an ankle (or heel/big toe)",
    "hip": "the hips",
    "neck": "the neck or shoulders",
    "bbox": "any body point below it",
}

MIN_VALID_FRAMES = 10  # fewer valid frames than this gives a note: the anchors rest on very little data
ANCHOR_WINDOW = 0.05  # the tallest height is taken among frames within 5 % of the range of an anchor
CLOSE_HEIGHT_TOLERANCE = 0.10  # target close height this far below its tallest → use the tallest
MIN_RANGE_FRACTION = 0.01  # a close–far range under 1 % of the frame height counts as "no depth motion"
MIN_RANGE_PX = 1.0
MIN_HEIGHT_PX = 1.0  # a head within a pixel of the feet is a detection error, not a body
MEASURE_COVERAGE = 0.5  # a measure is used only if it covers at least half as many frames as the best
PROFILE_BIN = 0.25  # pixel rows of the stored height profile (used to re-measure a shrunk range)

_NOSE, _REAR, _LEAR = BODY["Nose"], BODY["REar"], BODY["LEar"]
_MIDHIP, _RHIP, _LHIP = BODY["MidHip"], BODY["RHip"], BODY["LHip"]
_NECK, _RSHOULDER, _LSHOULDER = BODY["Neck"], BODY["RShoulder"], BODY["LShoulder"]
# Each foot's stand-ins for its ankle, best first: the heel and big toe sit a few pixels lower than
# the ankle but on the same foot, which keeps the "foot nearest the camera" meaning of the row.
_RFOOT = (BODY["RAnkle"], BODY["RHeel"], BODY["RBigToe"])
_LFOOT = (BODY["LAnkle"], BODY["LHeel"], BODY["LBigToe"])


class NormalizationError(ValueError):
    """Nothing usable for normalisation could be estimated; the message says what and how to fix it."""


@dataclass
class PoseStatistics:
    """Per-video statistics of where the subject stands (rows) and how tall it appears (pixels).

    ``close``, ``far``, ``median_ankle`` and ``first_ankle_row`` are rows of the measure's reference
    point: ankle rows normally, mid-hip or bounding-box-bottom rows when ``measure`` says so.
    """

    close: float
    far: float
    height_close: float
    height_far: float
    tallest: float
    median_ankle: float
    first_ankle_row: float
    frame_size: tuple[int, int]  # (height, width)
    n_frames: int
    n_valid: int
    notes: list[str] = field(default_factory=list)
    # Extensions beyond the paper's statistics:
    measure: str = "ankles"  # one of MEASURES: how heights and rows were measured
    # Tallest height per PROFILE_BIN of rows, so fit_normalization can re-measure heights at the
    # anchors of a shrunk range without the per-frame data.
    profile_rows: list[float] = field(default_factory=list)
    profile_heights: list[float] = field(default_factory=list)
    # The same video measured the other ways that were possible, so that two videos can always be
    # compared with the same measure (e.g. a seated source against a standing target).
    alternatives: dict[str, PoseStatistics] = field(default_factory=dict)

    @property
    def depth_range(self) -> float:
        return self.close - self.far

    def to_dict(self) -> dict[str, Any]:
        return {
            "close": float(self.close),
            "far": float(self.far),
            "height_close": float(self.height_close),
            "height_far": float(self.height_far),
            "tallest": float(self.tallest),
            "median_ankle": float(self.median_ankle),
            "first_ankle_row": float(self.first_ankle_row),
            "frame_size": [int(self.frame_size[0]), int(self.frame_size[1])],
            "n_frames": int(self.n_frames),
            "n_valid": int(self.n_valid),
            "notes": list(self.notes),
            "measure": self.measure,
            "profile_rows": [float(v) for v in self.profile_rows],
            "profile_heights": [float(v) for v in self.profile_heights],
            "alternatives": {name: stats.to_dict() for name, stats in self.alternatives.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PoseStatistics:
        height, width = d["frame_size"]
        return cls(
            close=float(d["close"]),
            far=float(d["far"]),
            height_close=float(d["height_close"]),
            height_far=float(d["height_far"]),
            tallest=float(d["tallest"]),
            median_ankle=float(d["median_ankle"]),
            first_ankle_row=float(d["first_ankle_row"]),
            frame_size=(int(height), int(width)),
            n_frames=int(d["n_frames"]),
            n_valid=int(d["n_valid"]),
            notes=[str(n) for n in d.get("notes", [])],
            measure=str(d.get("measure", "ankles")),
            profile_rows=[float(v) for v in d.get("profile_rows", [])],
            profile_heights=[float(v) for v in d.get("profile_heights", [])],
            alternatives={
                str(name): PoseStatistics.from_dict(sub) for name, sub in d.get("alternatives", {}).items()
            },
        )


@dataclass
class NormalizationParams:
    """Everything needed to normalise source poses reproducibly (stored alongside a transfer)."""

    source: PoseStatistics  # statistics in the measure actually used (may be an alternative)
    target: PoseStatistics
    scale_close: float
    scale_far: float
    target_close: float  # target anchors after the range shrink
    target_far: float
    anchor: tuple[float, float]  # (x, y) in source pixels about which keypoints are scaled
    notes: list[str] = field(default_factory=list)
    # The source never moves in depth: one scale for every frame and target_y = target_close for a
    # frame standing at the source's close row (see fit_normalization).
    single_scale: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source.to_dict(),
            "target": self.target.to_dict(),
            "scale_close": float(self.scale_close),
            "scale_far": float(self.scale_far),
            "target_close": float(self.target_close),
            "target_far": float(self.target_far),
            "anchor": [float(self.anchor[0]), float(self.anchor[1])],
            "notes": list(self.notes),
            "single_scale": bool(self.single_scale),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NormalizationParams:
        ax, ay = d["anchor"]
        return cls(
            source=PoseStatistics.from_dict(d["source"]),
            target=PoseStatistics.from_dict(d["target"]),
            scale_close=float(d["scale_close"]),
            scale_far=float(d["scale_far"]),
            target_close=float(d["target_close"]),
            target_far=float(d["target_far"]),
            anchor=(float(ax), float(ay)),
            notes=[str(n) for n in d.get("notes", [])],
            single_scale=bool(d.get("single_scale", False)),
        )


# --------------------------------------------------------------------------------------------------
# Per-frame measurements (vectorised over all frames)


@dataclass
class _Measured:
    """Per-frame reference row and height under one measure, and counts of the fallbacks used."""

    row: FloatArray  # (T,)
    height: FloatArray  # (T,)
    valid: BoolArray  # (T,)
    counts: dict[str, int] = field(default_factory=dict)


def _confident(body: np.ndarray, min_confidence: float) -> BoolArray:
    conf = body[..., 2]
    # conf > 0 as well: with min_confidence 0 an undetected (0, 0, 0) point must still not count.
    return np.asarray((conf > 0) & (conf >= min_confidence))


def _first_detected(
    xy: FloatArray, ok: BoolArray, indices: tuple[int, ...]
) -> tuple[FloatArray, BoolArray, IntArray]:
    """Per frame, the first confident point among ``indices``: (point (T, 2), found (T,), rank (T,))."""
    candidates = ok[:, list(indices)]
    found = np.asarray(candidates.any(axis=1))
    rank = np.argmax(candidates, axis=1)  # index of the first True; 0 when none (masked by found)
    point = xy[np.arange(xy.shape[0]), np.asarray(indices)[rank]]
    return point, found, rank


def _measure(body: np.ndarray, min_confidence: float, measure: str) -> _Measured:
    if measure not in MEASURES:
        raise ValueError(f"unknown height measure {measure!r}; expected one of {MEASURES}")
    xy = np.asarray(body[..., :2], np.float64)
    ok = _confident(body, min_confidence)

    nose_ok, rear_ok, lear_ok = ok[:, _NOSE], ok[:, _REAR], ok[:, _LEAR]
    both_ears = rear_ok & lear_ok
    one_ear = np.where(rear_ok[:, None], xy[:, _REAR], xy[:, _LEAR])
    ears = np.where(both_ears[:, None], (xy[:, _REAR] + xy[:, _LEAR]) / 2, one_ear)
    head = np.where(nose_ok[:, None], xy[:, _NOSE], ears)
    head_ok = nose_ok | rear_ok | lear_ok

    counts: dict[str, int] = {}
    if measure == "ankles":
        right, right_ok, right_rank = _first_detected(xy, ok, _RFOOT)
        left, left_ok, left_rank = _first_detected(xy, ok, _LFOOT)
        both = right_ok & left_ok
        # One foot missing: keep the frame and use the foot that is there (the release dropped it).
        foot = np.where(both[:, None], (right + left) / 2, np.where(right_ok[:, None], right, left))
        row = np.where(both, np.maximum(right[:, 1], left[:, 1]), np.where(right_ok, right[:, 1], left[:, 1]))
        height = np.hypot(*(head - foot).T)
        valid = head_ok & (right_ok | left_ok) & (height > MIN_HEIGHT_PX)
        counts["one_foot"] = int((valid & ~both).sum())
        counts["foot_substitute"] = int(
            (valid & ((right_ok & (right_rank > 0)) | (left_ok & (left_rank > 0)))).sum()
        )
    elif measure == "hip":
        mid_ok = ok[:, _MIDHIP]
        hips_ok = ok[:, _RHIP] & ok[:, _LHIP]
        hip = np.where(mid_ok[:, None], xy[:, _MIDHIP], (xy[:, _RHIP] + xy[:, _LHIP]) / 2)
        row = hip[:, 1]
        height = np.hypot(*(head - hip).T)
        valid = head_ok & (mid_ok | hips_ok) & (height > MIN_HEIGHT_PX)
        counts["hips_midpoint"] = int((valid & ~mid_ok).sum())
    elif measure == "neck":
        neck_ok = ok[:, _NECK]
        shoulders_ok = ok[:, _RSHOULDER] & ok[:, _LSHOULDER]
        neck = np.where(neck_ok[:, None], xy[:, _NECK], (xy[:, _RSHOULDER] + xy[:, _LSHOULDER]) / 2)
        row = neck[:, 1]
        height = np.hypot(*(head - neck).T)
        valid = head_ok & (neck_ok | shoulders_ok) & (height > MIN_HEIGHT_PX)
        counts["shoulders_midpoint"] = int((valid & ~neck_ok).sum())
    else:  # bbox
        rows = np.where(ok, xy[..., 1], -np.inf)
        row = rows.max(axis=1)
        height = row - head[:, 1]
        valid = head_ok & (height > MIN_HEIGHT_PX)
        row = np.where(valid, row, 0.0)
        height = np.where(valid, height, 0.0)

    counts["ears_for_head"] = int((valid & ~nose_ok & both_ears).sum())
    counts["one_ear_for_head"] = int((valid & ~nose_ok & ~both_ears).sum())
    return _Measured(np.asarray(row, np.float64), np.asarray(height, np.float64), np.asarray(valid), counts)


# --------------------------------------------------------------------------------------------------
# Statistics


def _min_range(frame_height: float) -> float:
    return max(MIN_RANGE_PX, MIN_RANGE_FRACTION * frame_height)


def _tallest_near(rows: FloatArray, heights: FloatArray, anchor: float, tolerance: float) -> float:
    """Tallest height among rows within ``tolerance`` of ``anchor``; the nearest rows if none are."""
    distance = np.abs(rows - anchor)
    near = distance <= tolerance + 1e-9
    if not near.any():  # e.g. a median between two observed rows: take the closest observed rows
        near = distance <= distance.min() + 1e-9
    return float(heights[near].max())


def _profile(rows: FloatArray, heights: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Tallest height per PROFILE_BIN of rows (sorted rows), a compact stand-in for per-frame data."""
    binned = np.round(rows / PROFILE_BIN) * PROFILE_BIN
    unique, inverse = np.unique(binned, return_inverse=True)
    tallest = np.full(unique.shape, -np.inf)
    np.maximum.at(tallest, inverse, heights)
    return unique, tallest


def _check_body(body: np.ndarray) -> np.ndarray:
    body = np.asarray(body)
    if body.ndim != 3 or body.shape[1:] != (N_BODY, 3):
        raise ValueError(f"body must have shape (T, {N_BODY}, 3), got {body.shape}")
    return body


def _check_frame_size(frame_size: tuple[int, int]) -> tuple[int, int]:
    height, width = (int(v) for v in frame_size)
    if height <= 0 or width <= 0:
        raise ValueError(f"frame_size must be (height, width) in pixels, got {frame_size}")
    return height, width


def _statistics(
    measured: _Measured,
    measure: str,
    frame_size: tuple[int, int],
    *,
    frac: float,
    max_frames: int | None,
    seed: int,
) -> PoseStatistics:
    n_frames = int(measured.valid.shape[0])
    valid_idx = np.flatnonzero(measured.valid)
    n_valid = int(valid_idx.size)
    notes: list[str] = []

    chosen = valid_idx
    if max_frames is not None and n_valid > max_frames:
        # Sample among the valid frames (not all frames) so that the sample size is what was asked for.
        rng = np.random.default_rng(seed)
        chosen = np.sort(rng.choice(valid_idx, size=max_frames, replace=False))
        notes.append(
            f"statistics use a deterministic sample of {max_frames} of the {n_valid} valid frames (seed {seed})"
        )
    rows = measured.row[chosen]
    heights = measured.height[chosen]

    close = float(rows.max())
    median = float(np.median(rows))
    # far: the farthest position that is not an outlier. Rows more than frac·(close − median) above
    # the median are ignored (jumps, detections of the head as a foot).
    above = median - rows
    in_window = (above > 0) & (above < frac * (close - median))
    far = median - float(above[in_window].max()) if in_window.any() else median
    depth = close - far
    tolerance = ANCHOR_WINDOW * depth
    height_close = _tallest_near(rows, heights, close, tolerance)
    height_far = _tallest_near(rows, heights, far, tolerance)
    tallest = float(heights.max())
    profile_rows, profile_heights = _profile(rows, heights)

    what = {
        "ankles": "ankle rows",
        "hip": "mid-hip rows",
        "neck": "neck rows",
        "bbox": "bounding-box bottom rows",
    }[measure]
    if n_valid < MIN_VALID_FRAMES:
        notes.append(
            f"only {n_valid} of {n_frames} frames could be measured {MEASURE_DESCRIPTIONS[measure]}; the "
            f"statistics rest on those {n_valid} and may be noisy (at least {MIN_VALID_FRAMES} are advisable)"
        )
    if depth < _min_range(frame_size[0]):
        far_off = float(np.mean(above > _min_range(frame_size[0])))
        extra = (
            f" ({far_off:.0%} of frames sit well above the median row: jumps, or a subject spending most of "
            "the video nearest the camera)"
            if far_off >= 0.1
            else ""
        )
        notes.append(
            f"the {what} hardly change (close {close:.1f}, far {far:.1f}: range {depth:.1f} px, under "
            f"{_min_range(frame_size[0]):.1f} px): the subject does not move towards or away from the camera, "
            f"so this video has a single body size{extra}"
        )
    if counts := measured.counts:
        if counts.get("one_foot", 0):
            k = counts["one_foot"]
            scope = "every valid frame has" if k == n_valid else f"{k} of {n_valid} valid frames have"
            notes.append(
                f"{scope} only one foot detected: those frames are kept, their ankle row and height use the "
                "detected foot instead of both"
            )
        if counts.get("foot_substitute", 0):
            notes.append(
                f"{counts['foot_substitute']} of {n_valid} valid frames use a heel or big toe in place of an "
                "undetected ankle of the same foot (a few pixels lower than the ankle)"
            )
        if counts.get("hips_midpoint", 0):
            notes.append(
                f"{counts['hips_midpoint']} of {n_valid} valid frames use the midpoint of the two hips "
                "(MidHip not detected)"
            )
        if counts.get("shoulders_midpoint", 0):
            notes.append(
                f"{counts['shoulders_midpoint']} of {n_valid} valid frames use the midpoint of the two "
                "shoulders (Neck not detected)"
            )
        if counts.get("ears_for_head", 0):
            notes.append(
                f"{counts['ears_for_head']} of {n_valid} valid frames place the head at the ears' midpoint "
                "(nose not detected)"
            )
        if counts.get("one_ear_for_head", 0):
            notes.append(
                f"{counts['one_ear_for_head']} of {n_valid} valid frames place the head at the only detected "
                "ear (no nose, one ear)"
            )

    return PoseStatistics(
        close=close,
        far=far,
        height_close=height_close,
        height_far=height_far,
        tallest=tallest,
        median_ankle=median,
        first_ankle_row=float(measured.row[valid_idx[0]]),
        frame_size=frame_size,
        n_frames=n_frames,
        n_valid=n_valid,
        notes=notes,
        measure=measure,
        profile_rows=profile_rows.tolist(),
        profile_heights=profile_heights.tolist(),
    )


def pose_statistics(
    body: np.ndarray,
    frame_size: tuple[int, int],
    *,
    min_confidence: float = 0.2,
    frac: float = 0.5,
    max_frames: int | None = None,
    seed: int = 0,
) -> PoseStatistics:
    """Statistics of one video's body keypoints ``(T, 25, 3)`` for :func:`fit_normalization`.

    A point counts when its confidence is at least ``min_confidence``. The returned statistics use
    the preferred measure that covers enough frames (ankles, else mid-hip, else bounding-box bottom;
    see :data:`MEASURES`) and carry the other possible measures in ``alternatives``. With
    ``max_frames``, at most that many valid frames, drawn with ``seed``, feed the statistics (the
    release used 5k for the target and 20k for the source).

    Raises :class:`NormalizationError` when no frame has a head and anything measurable below it.
    """
    body = _check_body(body)
    frame_size = _check_frame_size(frame_size)
    if not frac > 0:
        raise ValueError(f"frac must be positive, got {frac}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be at least 1, got {max_frames}")
    n_frames = int(body.shape[0])
    if n_frames == 0:
        raise NormalizationError(
            "cannot estimate pose statistics: the pose sequence has no frames; extract poses from the video first"
        )

    measured = {m: _measure(body, min_confidence, m) for m in MEASURES}
    counts = {m: int(measured[m].valid.sum()) for m in MEASURES}
    best = max(counts.values())
    if best == 0:
        n_head = int(
            (_confident(body, min_confidence)[:, [_NOSE, _REAR, _LEAR]]).any(axis=1).sum()  # any head point
        )
        if n_head == 0:
            raise NormalizationError(
                f"cannot estimate pose statistics: none of the {n_frames} frames has a head (nose or ear) "
                f"detected with confidence ≥ {min_confidence}, so no person is in view; use a video that shows "
                "the dancer, check that these keypoints belong to it, or (from Python) lower min_confidence"
            )
        raise NormalizationError(
            f"cannot estimate pose statistics: {n_head} of {n_frames} frames have a head but none has an ankle, "
            f"heel, toe, hip, neck, shoulder or any body point below the head with confidence ≥ {min_confidence}; "
            "use a video that shows at least the upper body, or lower min_confidence"
        )

    # Prefer the paper's ankle measure, but not when it covers far fewer frames than another: ankles
    # seen in 3 % of a seated video would give anchors from a handful of untypical frames.
    primary = next(m for m in MEASURES if counts[m] > 0 and counts[m] >= MEASURE_COVERAGE * best)
    all_stats = {
        m: _statistics(measured[m], m, frame_size, frac=frac, max_frames=max_frames, seed=seed)
        for m in MEASURES
        if counts[m] > 0
    }
    stats = all_stats.pop(primary)
    stats.alternatives = all_stats
    if primary != "ankles":
        skipped = MEASURES[: MEASURES.index(primary)]
        why = ", ".join(f"{_MEASURE_PARTS[m]} in only {counts[m]}" for m in skipped)
        stats.notes.insert(
            0,
            f"the head is detected together with {why} of {n_frames} frames (a sitting subject, or one cropped "
            f"at the knees or waist?), so body height is measured {MEASURE_DESCRIPTIONS[primary]} "
            f"in {counts[primary]} frames",
        )
    return stats


# --------------------------------------------------------------------------------------------------
# Fitting the source → target mapping


def _common_measure(source: PoseStatistics, target: PoseStatistics) -> tuple[PoseStatistics, PoseStatistics]:
    """The two videos' statistics under one shared measure, so that their heights are comparable."""

    def available(stats: PoseStatistics) -> dict[str, PoseStatistics]:
        return {stats.measure: stats, **{k: v for k, v in stats.alternatives.items() if k != stats.measure}}

    src, tgt = available(source), available(target)
    # Start from the less preferred of the two primary measures (the best both videos can support),
    # then try the measures after it, then before it.
    start = max(MEASURES.index(source.measure), MEASURES.index(target.measure))
    for measure in (*MEASURES[start:], *MEASURES[:start][::-1]):
        if measure in src and measure in tgt:
            return src[measure], tgt[measure]
    raise NormalizationError(
        f"cannot compare the source (measured {source.measure}, alternatives {sorted(source.alternatives)}) with "
        f"the target (measured {target.measure}, alternatives {sorted(target.alternatives)}): no height measure "
        "is available in both; recompute both with pose_statistics"
    )


def fit_normalization(source: PoseStatistics, target: PoseStatistics) -> NormalizationParams:
    """The per-video constants of the source → target mapping (METHOD.md §2), with notes on fallbacks."""
    src, tgt = _common_measure(source, target)
    notes = [f"source: {n}" for n in src.notes] + [f"target: {n}" for n in tgt.notes]
    if src.measure != source.measure or tgt.measure != target.measure:
        notes.append(
            f"the source is measured {MEASURE_DESCRIPTIONS[source.measure]} and the target "
            f"{MEASURE_DESCRIPTIONS[target.measure]}; both are measured {MEASURE_DESCRIPTIONS[src.measure]} "
            "so that their heights are comparable"
        )
    elif src.measure != "ankles":
        notes.append(f"both videos are measured {MEASURE_DESCRIPTIONS[src.measure]}")
    if src.measure == "bbox":
        notes.append(
            "bounding-box heights are comparable only if both videos frame the subject the same way (same crop); "
            "check the result, or use videos where the hips or neck are detected"
        )

    anchor = (src.frame_size[1] / 2, src.first_ankle_row)
    if src.depth_range < _min_range(src.frame_size[0]):
        # p is undefined: one scale for the whole video, from the tallest (upright) heights, and the
        # source's close row placed on the target's close row. Rows off the close row (jumps) keep their
        # offset, scaled, so a static dancer who jumps still jumps.
        scale = tgt.tallest / src.tallest
        notes.append(
            f"the source hardly moves in depth (range {src.depth_range:.1f} px), so the close/far interpolation is "
            f"undefined: a single scale {scale:.4g} (target tallest {tgt.tallest:.1f} / source tallest "
            f"{src.tallest:.1f} px) is used and the source's row {src.close:.1f} maps to the target's close row "
            f"{tgt.close:.1f}"
        )
        return NormalizationParams(
            source=src,
            target=tgt,
            scale_close=scale,
            scale_far=scale,
            target_close=tgt.close,
            target_far=tgt.close,
            anchor=anchor,
            notes=notes,
            single_scale=True,
        )

    target_close, target_far = tgt.close, tgt.far
    height_close, height_far, tallest = tgt.height_close, tgt.height_far, tgt.tallest
    if src.depth_range < tgt.depth_range:
        # The source covers less depth than the target: map it onto the middle of the target's range,
        # the same length, and re-measure the target's heights at the new anchors.
        middle = (tgt.close + tgt.far) / 2
        target_close, target_far = middle + src.depth_range / 2, middle - src.depth_range / 2
        if tgt.profile_rows:
            rows = np.asarray(tgt.profile_rows, np.float64)
            heights = np.asarray(tgt.profile_heights, np.float64)
            tolerance = ANCHOR_WINDOW * src.depth_range + PROFILE_BIN / 2
            height_close = _tallest_near(rows, heights, target_close, tolerance)
            height_far = _tallest_near(rows, heights, target_far, tolerance)
            # "Overall tallest" of the shrunk range: frames no closer than its close anchor. Frames
            # closer than that are taller by perspective and would wrongly trigger the 10 % rule.
            not_closer = rows <= target_close + tolerance
            tallest = float(heights[not_closer].max()) if not_closer.any() else height_close
            measured_note = "its heights are re-measured at those anchors"
        else:
            measured_note = "no height profile was stored, so its heights at the original anchors are kept"
        notes.append(
            f"the source's depth range ({src.depth_range:.1f} px) is shorter than the target's "
            f"({tgt.depth_range:.1f} px): the target's range is shrunk about its midpoint {middle:.1f} to "
            f"[{target_far:.1f}, {target_close:.1f}] and {measured_note}"
        )

    if target_close - target_far < _min_range(tgt.frame_size[0]):
        # The target stands still in depth: both anchors are the same place, so the same (tallest) height.
        height_close = height_far = tallest
        notes.append(
            f"the target hardly moves in depth (range {target_close - target_far:.1f} px): its tallest height "
            f"{tallest:.1f} px is used at both anchors, so the source is kept near row {target_close:.1f}"
        )
    elif height_close < (1 - CLOSE_HEIGHT_TOLERANCE) * tallest:
        # Close to the camera the target may be cropped or crouching; its tallest height is a better guess.
        notes.append(
            f"the target's height at its close anchor ({height_close:.1f} px) is more than "
            f"{CLOSE_HEIGHT_TOLERANCE:.0%} below its tallest ({tallest:.1f} px), so the tallest is used"
        )
        height_close = tallest

    return NormalizationParams(
        source=src,
        target=tgt,
        scale_close=height_close / src.height_close,
        scale_far=height_far / src.height_far,
        target_close=target_close,
        target_far=target_far,
        anchor=anchor,
        notes=notes,
    )


# --------------------------------------------------------------------------------------------------
# Applying it


def _forward_fill(values: FloatArray, valid: BoolArray) -> FloatArray:
    """Invalid entries take the previous valid one; leading invalid entries the first valid one."""
    idx = np.where(valid, np.arange(valid.shape[0]), -1)
    np.maximum.accumulate(idx, out=idx)
    idx[idx < 0] = int(np.argmax(valid))
    return values[idx]


def frame_transforms(
    body: np.ndarray, params: NormalizationParams, *, min_confidence: float = 0.2
) -> np.ndarray:
    """Per-frame ``(scale, translate)`` ``(T, 2)``: ``y' = ay + scale (y - ay) + translate``.

    ``translate`` puts the frame's reference row (its ankle row) exactly on ``target_y``, which makes
    it ``target_y - ay - scale (y - ay)``: METHOD.md's ``target_y - y`` whenever ``y`` is the anchor
    row or the scale is 1, and without the drift ``(scale - 1)(y - ay)`` otherwise.
    """
    body = _check_body(body)
    n_frames = int(body.shape[0])
    if n_frames == 0:
        return np.zeros((0, 2), np.float64)
    src = params.source
    measured = _measure(body, min_confidence, src.measure)
    row, valid = measured.row, measured.valid
    if not valid.any():
        # Nothing measurable in this sequence: treat every frame as standing on the anchor row.
        logger.warning(
            "none of the %d frames can be measured %s; all use the transform of a subject on the anchor row %.1f",
            n_frames,
            MEASURE_DESCRIPTIONS[src.measure],
            params.anchor[1],
        )
        row = np.full(n_frames, params.anchor[1])
        valid = np.ones(n_frames, bool)

    if params.single_scale:
        scale = np.full(n_frames, params.scale_close)
        target_y = params.target_close + scale * (row - src.close)
    else:
        p = (row - src.far) / (src.close - src.far)
        # The scale is not extrapolated beyond the anchors: a jump (p < 0) would otherwise shrink the
        # dancer, and with a short source range even flip the sign of the scale.
        p_scale = np.clip(p, 0.0, 1.0)
        scale = params.scale_far + p_scale * (params.scale_close - params.scale_far)
        target_y = params.target_far + p * (params.target_close - params.target_far)
    anchor_y = params.anchor[1]
    translate = target_y - anchor_y - scale * (row - anchor_y)

    n_invalid = int((~valid).sum())
    if n_invalid and n_invalid < n_frames:
        logger.info(
            "%d of %d frames cannot be measured %s; they reuse the previous frame's scale and translation",
            n_invalid,
            n_frames,
            MEASURE_DESCRIPTIONS[src.measure],
        )
    return np.stack([_forward_fill(scale, valid), _forward_fill(translate, valid)], axis=1)


def frame_affines(transforms: np.ndarray, params: NormalizationParams) -> np.ndarray:
    """Per-frame affine maps ``(T, 2, 3)`` float64 from source to target pixels, ``[[s, 0, bx], [0, s, by]]``.

    The same map :func:`normalize_to_target` applies to the keypoints; ``cv2.warpAffine`` with it moves
    a source frame's pixels into the target's frame.
    """
    scale = transforms[:, 0]
    anchor_x, anchor_y = params.anchor
    centre_x = params.target.frame_size[1] / 2  # the source's centre column lands on the target's
    affines = np.zeros((transforms.shape[0], 2, 3), np.float64)
    affines[:, 0, 0] = affines[:, 1, 1] = scale
    affines[:, 0, 2] = centre_x - scale * anchor_x
    affines[:, 1, 2] = anchor_y - scale * anchor_y + transforms[:, 1]
    return affines


def _apply(points: np.ndarray, transforms: np.ndarray, params: NormalizationParams) -> np.ndarray:
    """Transform detected points ``(T, ..., 3)``; undetected ones stay (0, 0, 0)."""
    shape = (transforms.shape[0],) + (1,) * (points.ndim - 2)
    # Per frame the map is affine, x' = s·x + bx and y' = s·y + by: fold the constants in float64
    # once per frame, then apply them in the points' float32 (one pass over face and hands).
    affines = frame_affines(transforms, params).astype(points.dtype)
    scale_p = affines[:, 0, 0].reshape(shape)
    offset_x = affines[:, 0, 2].reshape(shape)
    offset_y = affines[:, 1, 2].reshape(shape)
    detected = points[..., 2] > 0
    out = points.copy()
    out[..., 0] = np.where(detected, scale_p * points[..., 0] + offset_x, 0)
    out[..., 1] = np.where(detected, scale_p * points[..., 1] + offset_y, 0)
    return out


def normalize_to_target(
    poses: PoseSequence, params: NormalizationParams, *, min_confidence: float = 0.2
) -> tuple[PoseSequence, np.ndarray]:
    """Map source ``poses`` into the target video's pixel frame.

    Returns the normalised sequence (body, face and hands, confidences unchanged, undetected points
    still ``(0, 0, 0)``) and the per-frame ``(scale, translate)`` array ``(T, 2)`` (see
    :func:`frame_transforms`). Frames that cannot be measured reuse the previous frame's transform;
    frames before the first measurable one use that frame's.
    """
    transforms = frame_transforms(poses.body, params, min_confidence=min_confidence)
    normalised = PoseSequence(
        _apply(poses.body, transforms, params),
        _apply(poses.face, transforms, params),
        _apply(poses.hands, transforms, params),
    )
    return normalised, transforms
