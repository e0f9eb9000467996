"""The detector's metrics (forensics/metrics.py) against scikit-learn and hand-computed values, and
the ROC / precision–recall figure (forensics/curves.py). Label 1 = synthetic, 0 = real."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    recall_score,
    roc_auc_score,
)

from forensics.curves import plot_roc_pr
from forensics.metrics import (
    calibrate_threshold,
    curve_points,
    detection_metrics,
    equal_error_rate,
    video_scores,
)

# Tiny example. Sorted by score: 0.8 (synthetic), 0.4 (real), 0.35 (synthetic), 0.1 (real).
# AUC: of the 4 (synthetic, real) pairs only (0.35, 0.4) is misordered → 3/4 = 0.75.
# AP: precision 1 at recall 0.5 (0.8), 2/3 at recall 1 (0.35) → 0.5·1 + 0.5·2/3 = 0.8333.
# At threshold 0.5: verdicts [0, 0, 0, 1] → real 2/2, synthetic 1/2, accuracy 3/4, balanced 0.75.
TINY_LABELS = [0, 0, 1, 1]
TINY_SCORES = [0.1, 0.4, 0.35, 0.8]


def _random_set(n: int = 400, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.4).astype(int)
    scores = 1.0 / (1.0 + np.exp(-(rng.normal(size=n) + 1.5 * (2 * labels - 1))))
    return labels, scores


def test_tiny_example_by_hand() -> None:
    m = detection_metrics(TINY_LABELS, TINY_SCORES, threshold=0.5)
    assert m["n"] == 4 and m["n_real"] == 2 and m["n_synthetic"] == 2
    assert m["roc_auc"] == pytest.approx(0.75)
    assert m["ap"] == pytest.approx(5 / 6)
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["real_accuracy"] == pytest.approx(1.0)
    assert m["synthetic_accuracy"] == pytest.approx(0.5)
    assert m["balanced_accuracy"] == pytest.approx(0.75)
    assert m["threshold"] == 0.5 and "note" not in m
    # ROC (drop_intermediate=False): FPR 0, 0, .5, .5, 1 and TPR 0, .5, .5, 1, 1 at thresholds
    # inf, .8, .4, .35, .1; FPR − FNR = 0 exactly at threshold 0.4 → EER 0.5 there.
    assert m["eer"] == pytest.approx(0.5) and m["eer_threshold"] == pytest.approx(0.4)
    json.dumps(m)  # plain Python


def test_metrics_agree_with_sklearn() -> None:
    labels, scores = _random_set()
    threshold = 0.42
    m = detection_metrics(labels, scores, threshold)
    verdicts = (scores >= threshold).astype(int)
    assert m["ap"] == pytest.approx(average_precision_score(labels, scores))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert m["accuracy"] == pytest.approx(accuracy_score(labels, verdicts))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(labels, verdicts))
    assert m["synthetic_accuracy"] == pytest.approx(recall_score(labels, verdicts, pos_label=1))
    assert m["real_accuracy"] == pytest.approx(recall_score(labels, verdicts, pos_label=0))
    assert m["n_synthetic"] == int(labels.sum()) and m["n_real"] == int((1 - labels).sum())
    assert 0.0 < m["eer"] < 0.5 and 0.0 <= m["eer_threshold"] <= 1.0
    json.dumps(m)


def test_eer_separable_and_by_hand() -> None:
    eer, threshold = equal_error_rate([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert eer == 0.0 and 0.2 < threshold <= 0.8
    # labels [0, 0, 0, 1, 1], scores [.1, .2, .6, .5, .9]. roc_curve (drop_intermediate=False):
    #   threshold  inf   .9    .6    .5    .2    .1
    #   FPR        0     0     1/3   1/3   2/3   1
    #   TPR        0     1/2   1/2   1     1     1
    #   FPR − FNR  −1   −1/2  −1/6   1/3   2/3   1
    # The sign changes between thresholds .6 and .5, at w = (1/6) / (1/6 + 1/3) = 1/3 of the way:
    # FPR = 1/3 + w·0 = 1/3, FNR = 1 − (1/2 + w·1/2) = 1/3 → EER 1/3; threshold .6 + w·(.5 − .6) = 0.56667.
    eer, threshold = equal_error_rate([0, 0, 0, 1, 1], [0.1, 0.2, 0.6, 0.5, 0.9])
    assert eer == pytest.approx(1 / 3)
    assert threshold == pytest.approx(0.6 - 0.1 / 3)
    with pytest.raises(ValueError, match="both classes"):
        equal_error_rate([1, 1], [0.2, 0.9])


def test_calibrate_threshold() -> None:
    labels = [0, 0, 0, 1, 1, 1]
    scores = [0.05, 0.1, 0.7, 0.75, 0.9, 0.95]  # separable, but not at 0.5
    threshold = calibrate_threshold(labels, scores)
    assert threshold == pytest.approx(0.725)  # the only midpoint that separates
    m = detection_metrics(labels, scores, threshold)
    assert m["accuracy"] == 1.0 and m["balanced_accuracy"] == 1.0
    # Tiny example: balanced accuracy .75 at candidates .225, .5 and .6 (.5 at .375) → the tie goes to 0.5.
    assert calibrate_threshold(TINY_LABELS, TINY_SCORES) == 0.5
    assert calibrate_threshold([1, 1, 1], [0.1, 0.2, 0.3]) == 0.5  # one class
    labels_r, scores_r = _random_set(seed=8)
    best = calibrate_threshold(labels_r, scores_r)
    best_bal = detection_metrics(labels_r, scores_r, best)["balanced_accuracy"]
    for other in np.linspace(0.01, 0.99, 99):
        assert detection_metrics(labels_r, scores_r, float(other))["balanced_accuracy"] <= best_bal + 1e-12


def test_one_class_input() -> None:
    m = detection_metrics([1, 1, 1], [0.2, 0.7, 0.9], threshold=0.5)
    assert m["ap"] is None and m["roc_auc"] is None and m["eer"] is None and m["eer_threshold"] is None
    assert m["note"] == "only synthetic items: AP, ROC AUC and EER need both classes"
    assert m["accuracy"] == pytest.approx(2 / 3) and m["synthetic_accuracy"] == pytest.approx(2 / 3)
    assert m["real_accuracy"] is None and m["balanced_accuracy"] == pytest.approx(2 / 3)
    m = detection_metrics([0, 0], [0.2, 0.7], threshold=0.5)
    assert m["note"].startswith("only real items") and m["real_accuracy"] == 0.5 and m["ap"] is None
    json.dumps(m)
    assert curve_points([0, 0], [0.2, 0.7]) == {"roc": None, "pr": None}


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="empty"):
        detection_metrics([], [], 0.5)
    with pytest.raises(ValueError, match="NaN"):
        detection_metrics([0, 1], [0.2, float("nan")], 0.5)
    with pytest.raises(ValueError, match="NaN"):
        curve_points([0, 1], [float("nan"), 0.3])
    with pytest.raises(ValueError, match="empty"):
        calibrate_threshold([], [])
    with pytest.raises(ValueError, match="differ in length"):
        detection_metrics([0, 1, 1], [0.2, 0.3], 0.5)
    with pytest.raises(ValueError, match="0 \\(real\\) or 1"):
        detection_metrics([0, 2], [0.2, 0.3], 0.5)
    with pytest.raises(ValueError):
        video_scores([])
    with pytest.raises(ValueError, match="NaN"):
        video_scores([0.2, float("nan")])


def test_curve_points_thinned() -> None:
    labels, scores = _random_set(n=2000)
    curves = curve_points(labels, scores, max_points=50)
    roc, pr = curves["roc"], curves["pr"]
    assert roc is not None and pr is not None
    assert 2 <= len(roc["fpr"]) == len(roc["tpr"]) <= 50
    assert 2 <= len(pr["precision"]) == len(pr["recall"]) <= 50
    assert (roc["fpr"][0], roc["tpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0.0, 0.0, 1.0, 1.0)
    assert pr["recall"][0] == 1.0 and (pr["recall"][-1], pr["precision"][-1]) == (0.0, 1.0)
    assert all(a <= b for a, b in zip(roc["fpr"], roc["fpr"][1:], strict=False))
    assert all(v == round(v, 5) for v in roc["tpr"] + pr["precision"])
    json.dumps(curves)
    small = curve_points(TINY_LABELS, TINY_SCORES)
    assert small["roc"] == {"fpr": [0.0, 0.0, 0.5, 0.5, 1.0], "tpr": [0.0, 0.5, 0.5, 1.0, 1.0]}


def test_video_scores() -> None:
    assert video_scores([0.5, 0.5]) == pytest.approx(0.5)
    assert video_scores([0.8]) == pytest.approx(0.8)
    # the geometric mean of the odds: odds 99, 1, 1 → 99^(1/3) → 0.822 (mean probability 0.663)
    assert video_scores([0.99, 0.5, 0.5]) == pytest.approx(99 ** (1 / 3) / (1 + 99 ** (1 / 3)))
    assert video_scores([0.0, 1.0]) == pytest.approx(0.5)  # clipped symmetrically
    assert math.isfinite(video_scores([0.0, 0.0])) and video_scores([0.0]) == pytest.approx(1e-6)
    previous = -1.0
    for p in np.linspace(0.0, 1.0, 21):
        score = video_scores([0.3, float(p), 0.6])
        assert score > previous
        previous = score


def test_plot_roc_pr_writes_png(tmp_path: Path) -> None:
    labels, scores = _random_set()
    seen = curve_points(labels, scores)
    held_labels, held_scores = _random_set(seed=11)
    held = dict(curve_points(held_labels, held_scores * 0.9))
    held["ap"] = average_precision_score(held_labels, held_scores)
    curves = {
        "seen generators (video)": seen,
        "held-out generators (video)": held,
        "one class only": curve_points([1, 1], [0.3, 0.8]),
        "missing": None,
    }
    out = plot_roc_pr(
        curves, tmp_path / "sub" / "roc_pr.png", labels_extra={"seen generators (video)": " AUC 0.9"}
    )
    assert out == tmp_path / "sub" / "roc_pr.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(out)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.shape[0] > 300 and image.shape[1] > 1.5 * image.shape[0]  # two panels side by side
    assert image[..., :3].std() > 0.05  # something drawn, not a blank canvas
    assert not list((tmp_path / "sub").glob("*.tmp"))
