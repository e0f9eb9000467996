"""Metrics of the learned real-vs-synthetic detector, as JSON-ready plain Python.

Label convention everywhere: ``1`` = synthetic (the positive class), ``0`` = real. A score is the
detector's probability that the item is synthetic (higher = more synthetic); a verdict calls an item
synthetic when ``score >= threshold``.

- :func:`detection_metrics`: AP, ROC AUC, EER and accuracies at a threshold.
- :func:`calibrate_threshold`: the verdict threshold, chosen on a validation set (best balanced accuracy).
- :func:`equal_error_rate`: the EER and the score threshold where it is reached.
- :func:`curve_points`: ROC and precision–recall curves, thinned for JSON and plotting
  (:func:`forensics.curves.plot_roc_pr` draws them).
- :func:`video_scores`: one video's score from its frames' scores (sigmoid of the mean logit).

scikit-learn computes whatever it offers (``roc_curve``, ``precision_recall_curve``,
``average_precision_score``, ``roc_auc_score``, ``confusion_matrix``); numpy does the rest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

PROBABILITY_EPS = 1e-6  # video_scores clips frame probabilities to [eps, 1 - eps] before the logit


def _validated(labels: ArrayLike, scores: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """``labels`` (0/1) and ``scores`` as 1-D arrays of equal, non-zero length with finite scores."""
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1:
        raise ValueError(f"labels and scores must be 1-D, got shapes {y.shape} and {s.shape}")
    if y.size != s.size:
        raise ValueError(f"labels and scores differ in length: {y.size} labels, {s.size} scores")
    if y.size == 0:
        raise ValueError("no items: labels and scores are empty, the metrics need at least one item")
    if not np.all(np.isfinite(s)):
        bad = int(np.count_nonzero(~np.isfinite(s)))
        raise ValueError(f"{bad} of {s.size} scores are NaN or infinite; scores must be probabilities")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError(f"labels must be 0 (real) or 1 (synthetic), got values {sorted(set(y.tolist()))}")
    return y.astype(np.int64), s


def _one_class_note(y: NDArray[np.int64]) -> str | None:
    """Why the two-class metrics are undefined, or None when both classes are present."""
    if np.all(y == 1):
        return "only synthetic items: AP, ROC AUC and EER need both classes"
    if np.all(y == 0):
        return "only real items: AP, ROC AUC and EER need both classes"
    return None


def equal_error_rate(labels: ArrayLike, scores: ArrayLike) -> tuple[float, float]:
    """The equal error rate and the score threshold at which it is reached: ``(eer, threshold)``.

    Definition: take the ROC from ``sklearn.metrics.roc_curve(labels, scores,
    drop_intermediate=False)``, the points ``(FPR_i, TPR_i)`` at thresholds ``t_i`` (decreasing; the
    first, ``inf``, is clipped to 1). Along it ``g_i = FPR_i − (1 − TPR_i)`` (false-positive rate
    minus false-negative rate) never decreases, from −1 at ``(0, 0)`` to +1 at ``(1, 1)``. Let ``i``
    be the first index with ``g_i >= 0``. If ``g_i = 0`` the EER is ``FPR_i`` and the threshold
    ``t_i``. Otherwise the crossing lies on the segment from point ``i − 1`` to point ``i``, at
    ``w = −g_{i−1} / (g_i − g_{i−1})`` of the way; there FPR = FNR, the EER is
    ``FPR_{i−1} + w · (FPR_i − FPR_{i−1})`` and the threshold ``t_{i−1} + w · (t_i − t_{i−1})``,
    clipped to [0, 1]. On a perfectly separable set the EER is 0 and the threshold the lowest
    synthetic score (the first point of the ``g = 0`` run).

    Raises ValueError when only one class is present (the ROC needs both), on empty or NaN input.
    """
    y, s = _validated(labels, scores)
    note = _one_class_note(y)
    if note is not None:
        raise ValueError(f"EER undefined: {note}")
    fpr, tpr, thresholds = roc_curve(y, s, drop_intermediate=False)
    thresholds = np.clip(thresholds, 0.0, 1.0)  # the first threshold is inf
    g = fpr - (1.0 - tpr)
    i = int(np.argmax(g >= 0.0))  # g[-1] = 1, so there is one
    if g[i] == 0.0 or i == 0:
        return float(fpr[i]), float(thresholds[i])
    w = -g[i - 1] / (g[i] - g[i - 1])
    eer = fpr[i - 1] + w * (fpr[i] - fpr[i - 1])
    threshold = thresholds[i - 1] + w * (thresholds[i] - thresholds[i - 1])
    return float(eer), float(np.clip(threshold, 0.0, 1.0))


def calibrate_threshold(labels: ArrayLike, scores: ArrayLike) -> float:
    """The verdict threshold (``score >= threshold`` → synthetic) chosen on a validation set.

    Candidates are the midpoints between consecutive distinct sorted scores, plus 0.5; the one with
    the highest balanced accuracy ((TPR + TNR) / 2) wins, ties going to the candidate closest to 0.5
    (then to the lower one). With only one class present, balanced accuracy cannot weigh the two
    errors against each other and 0.5 is returned. Raises ValueError on empty or NaN input.
    """
    y, s = _validated(labels, scores)
    if _one_class_note(y) is not None:
        return 0.5
    distinct = np.unique(s)
    candidates = np.unique(np.append((distinct[:-1] + distinct[1:]) / 2.0, 0.5))
    synthetic = np.sort(s[y == 1])
    real = np.sort(s[y == 0])
    tpr = (synthetic.size - np.searchsorted(synthetic, candidates, side="left")) / synthetic.size
    tnr = np.searchsorted(real, candidates, side="left") / real.size
    balanced = (tpr + tnr) / 2.0
    best = np.flatnonzero(np.isclose(balanced, balanced.max(), rtol=0.0, atol=1e-12))
    # candidates are sorted, so argmin picks the lower of two equally close to 0.5
    return float(candidates[best[np.argmin(np.abs(candidates[best] - 0.5))]])


def detection_metrics(labels: ArrayLike, scores: ArrayLike, threshold: float) -> dict[str, Any]:
    """The detector's metrics on one set, as JSON-ready plain Python.

    Keys: ``n``, ``n_real``, ``n_synthetic``; ``ap`` (average precision, synthetic positive),
    ``roc_auc``, ``eer`` and ``eer_threshold`` (:func:`equal_error_rate`); at ``threshold``
    (``score >= threshold`` → synthetic): ``accuracy``, ``real_accuracy`` (TNR),
    ``synthetic_accuracy`` (TPR) and ``balanced_accuracy`` (their mean); ``threshold``.

    With one class present ``ap``, ``roc_auc``, ``eer`` and ``eer_threshold`` are None and ``note``
    says why; the absent class's accuracy is None and ``balanced_accuracy`` is the present class's
    accuracy (the mean over the classes present). Raises ValueError on empty input, NaN scores,
    labels other than 0/1 or a non-finite threshold.
    """
    y, s = _validated(labels, scores)
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    predicted = (s >= threshold).astype(np.int64)
    (tn, fp), (fn, tp) = confusion_matrix(y, predicted, labels=[0, 1]).tolist()
    n_real, n_synthetic = tn + fp, fn + tp
    real_accuracy = tn / n_real if n_real else None
    synthetic_accuracy = tp / n_synthetic if n_synthetic else None
    present = [a for a in (real_accuracy, synthetic_accuracy) if a is not None]
    result: dict[str, Any] = {
        "n": int(y.size),
        "n_real": int(n_real),
        "n_synthetic": int(n_synthetic),
        "ap": None,
        "roc_auc": None,
        "accuracy": float((tn + tp) / y.size),
        "balanced_accuracy": float(sum(present) / len(present)),
        "real_accuracy": None if real_accuracy is None else float(real_accuracy),
        "synthetic_accuracy": None if synthetic_accuracy is None else float(synthetic_accuracy),
        "eer": None,
        "eer_threshold": None,
        "threshold": float(threshold),
    }
    note = _one_class_note(y)
    if note is not None:
        result["note"] = note
        return result
    eer, eer_threshold = equal_error_rate(y, s)
    result["ap"] = float(average_precision_score(y, s))
    result["roc_auc"] = float(roc_auc_score(y, s))
    result["eer"] = eer
    result["eer_threshold"] = eer_threshold
    return result


def _thinned(values: NDArray[np.float64], keep: NDArray[np.intp]) -> list[float]:
    return [round(float(v), 5) for v in values[keep]]


def _keep(n: int, max_points: int) -> NDArray[np.intp]:
    """At most ``max_points`` indices of ``n``, evenly spread, always the first and the last."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max_points)).astype(np.intp))


def curve_points(
    labels: ArrayLike, scores: ArrayLike, max_points: int = 200
) -> dict[str, dict[str, list[float]] | None]:
    """ROC and precision–recall curves for JSON and :func:`forensics.curves.plot_roc_pr`.

    ``{"roc": {"fpr": [...], "tpr": [...]}, "pr": {"precision": [...], "recall": [...]}}`` from
    ``sklearn.metrics.roc_curve`` and ``precision_recall_curve`` (in their order: ROC from (0, 0),
    PR from recall 1 down to the point (recall 0, precision 1)), each thinned to at most
    ``max_points`` evenly spread points (first and last kept) and rounded to 5 decimals. With one
    class present both parts are None. Raises ValueError on empty or NaN input, or ``max_points < 2``.
    """
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2 (the first and last points), got {max_points}")
    y, s = _validated(labels, scores)
    if _one_class_note(y) is not None:
        return {"roc": None, "pr": None}
    fpr, tpr, _ = roc_curve(y, s)
    precision, recall, _ = precision_recall_curve(y, s)
    roc_keep = _keep(fpr.size, max_points)
    pr_keep = _keep(precision.size, max_points)
    return {
        "roc": {"fpr": _thinned(fpr, roc_keep), "tpr": _thinned(tpr, roc_keep)},
        "pr": {"precision": _thinned(precision, pr_keep), "recall": _thinned(recall, pr_keep)},
    }


def video_scores(frame_scores: Sequence[float]) -> float:
    """One video's score from its frames' probabilities: the sigmoid of their mean logit.

    Each probability is clipped to [1e-6, 1 − 1e-6], turned into its logit ``log(p / (1 − p))``, the
    logits averaged and the mean mapped back through the sigmoid (the geometric mean of the odds).
    Why not the mean probability: the logit is the frame's log-likelihood ratio (synthetic vs real,
    for a calibrated frame classifier with equal priors), so adding logits is the product-of-
    likelihood-ratios rule for evidence from independent frames; dividing by the frame count tempers
    it (frames of one video are far from independent) and keeps the score on the frame scale whatever
    the video's length. It also weighs confident frames more: frames [0.99, 0.5, 0.5] give 0.82,
    their mean probability 0.66, while a 0.5 frame (no evidence) adds a logit of 0. The clip keeps one
    frame at exactly 0 or 1 from deciding the video alone. [0.5, 0.5] gives 0.5; the score grows with
    any frame's score. Raises ValueError on no frames or NaN scores.
    """
    p = np.asarray(frame_scores, dtype=np.float64)
    if p.ndim != 1 or p.size == 0:
        raise ValueError(f"video_scores needs a non-empty 1-D sequence of frame scores, got shape {p.shape}")
    if np.isnan(p).any():
        raise ValueError(f"{int(np.isnan(p).sum())} of {p.size} frame scores are NaN")
    p = np.clip(p, PROBABILITY_EPS, 1.0 - PROBABILITY_EPS)
    mean_logit = float(np.mean(np.log(p) - np.log1p(-p)))
    return 1.0 / (1.0 + math.exp(-mean_logit))


__all__ = [
    "calibrate_threshold",
    "curve_points",
    "detection_metrics",
    "equal_error_rate",
    "video_scores",
]
