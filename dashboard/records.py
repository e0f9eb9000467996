"""Tables and series from the forensics and evaluation records (pure functions, no Streamlit).

The forensics results folder (schema ``dancenow.forensics/1``) is written by the forensics
evaluation; its layout is in the README ("Results folders"). The detection report of one video
(schema ``dancenow.detection/1``) comes from ``forensics.detect.detect_video``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .files import PathRefused, resolve

METRIC_COLUMNS = (
    ("n", "n"),
    ("real", "n_real"),
    ("synthetic", "n_synthetic"),
    ("AP", "ap"),
    ("ROC AUC", "roc_auc"),
    ("accuracy", "accuracy"),
    ("balanced acc.", "balanced_accuracy"),
    ("EER", "eer"),
    ("threshold", "threshold"),
)
GROUPS = (("seen", "generators seen in training"), ("held_out", "held-out generators"))


def threshold_of(detector: dict[str, Any], level: str = "frame") -> float | None:
    """The detector's decision threshold at ``level`` (a number, or one per level in a dict)."""
    value = detector.get("threshold")
    if isinstance(value, dict):
        value = value.get(level)
    return float(value) if isinstance(value, int | float) else None


def describe_threshold(detector: dict[str, Any]) -> str:
    value = detector.get("threshold")
    if isinstance(value, dict):
        return ", ".join(f"{level} {v}" for level, v in value.items())
    return str(value)


def _cell(value: Any) -> Any:
    """A number for a table cell (None, shown empty, where it was not measured)."""
    return round(value, 4) if isinstance(value, float) else value


def metrics_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (generator group, level): the detector's metrics."""
    rows = []
    metrics = results.get("metrics") or {}
    for group, title in GROUPS:
        for level in ("frame", "video"):
            m = (metrics.get(group) or {}).get(level)
            if not isinstance(m, dict):
                continue
            rows.append(
                {
                    "generators": title,
                    "level": level,
                    **{name: _cell(m.get(key)) for name, key in METRIC_COLUMNS},
                }
            )
    return rows


def robustness_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per processing condition: AP, ROC AUC and accuracy on seen and held-out generators."""
    rows = []
    for entry in results.get("robustness") or []:
        row: dict[str, Any] = {"condition": entry.get("label") or entry.get("condition")}
        for group, _ in GROUPS:
            m = entry.get(group) or {}
            for name, key in (("AP", "ap"), ("ROC AUC", "roc_auc"), ("accuracy", "accuracy")):
                row[f"{name} ({group.replace('_', '-')})"] = _cell(m.get(key))
        rows.append(row)
    return rows


def curve_points(
    results: dict[str, Any],
) -> tuple[dict[str, list[tuple[float, float]]], dict[str, list[tuple[float, float]]]]:
    """ROC points (fpr, tpr) and precision-recall points (recall, precision), per generator group."""
    roc: dict[str, list[tuple[float, float]]] = {}
    pr: dict[str, list[tuple[float, float]]] = {}
    points = (results.get("curves") or {}).get("points") or {}
    for group, title in GROUPS:
        curves = points.get(group) or {}
        r = curves.get("roc") or {}
        if r.get("fpr"):
            roc[title] = list(zip(r["fpr"], r.get("tpr") or [], strict=False))
        p = curves.get("pr") or {}
        if p.get("recall"):
            pr[title] = list(zip(p["recall"], p.get("precision") or [], strict=False))
    return roc, pr


def video_path(
    entry: dict[str, Any], results: dict[str, Any], folder: Path, roots: Sequence[Path]
) -> Path | None:
    """The video file a results entry names: relative to the detector data's folder
    (``data.folder``), else to the results folder or the roots; None outside the roots."""
    name = str(entry.get("video") or "")
    data_folder = (results.get("data") or {}).get("folder")
    for base in ([data_folder] if data_folder else []) + [str(folder)]:
        try:
            return resolve(name, roots, base=resolve(base, roots))
        except PathRefused:
            continue
    return None


def video_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for entry in results.get("videos") or []:
        verdict = entry.get("verdict")
        label = entry.get("label")
        segment = entry.get("segment") or [None, None]
        rows.append(
            {
                "id": entry.get("id"),
                "label": label,
                "generator": entry.get("generator") or "–",
                "group": entry.get("group"),
                "score": _cell(entry.get("score")),
                "verdict": verdict,
                "correct": "✓"
                if verdict == label
                else ("–" if verdict not in ("real", "synthetic") else "✗"),
                "frames": f"{segment[0]}–{segment[1]}" if segment[0] is not None else "",
                "video": entry.get("video"),
            }
        )
    return rows


def frame_scores(entry: dict[str, Any]) -> list[tuple[int, float]]:
    """``(frame, score)`` of a results entry: at its ``frames`` (the video's frame indices judged),
    else spread evenly over its ``segment``."""
    scores = entry.get("frame_scores") or []
    frames = entry.get("frames")
    if not isinstance(frames, list) or len(frames) != len(scores):
        start, stop = (entry.get("segment") or [0, len(scores)])[:2]
        start, span, n = int(start or 0), max(int(stop or len(scores)) - int(start or 0), 1), len(scores)
        frames = [start + (k if n == span else round(k * (span - 1) / max(n - 1, 1))) for k in range(n)]
    return [(int(f), float(s)) for f, s in zip(frames, scores, strict=True) if s is not None]


def detection_scores(report: dict[str, Any]) -> list[tuple[int, float]]:
    """``(frame, score)`` of a detection report (frames with no person have no score)."""
    return [
        (int(s["frame"]), float(s["score"])) for s in report.get("scored") or [] if s.get("score") is not None
    ]


def verdict_line(
    detection: dict[str, Any] | None, watermark: dict[str, Any], provenance: dict[str, Any]
) -> tuple[str, str]:
    """The overall verdict on one video and its severity (``error`` synthetic, ``success`` real,
    ``warning`` undecided): the learned detector's, with the provenance marks beside it."""
    marks = []
    if watermark.get("detected"):
        marks.append("carries dancenow's invisible watermark")
    if provenance.get("intact"):
        marks.append("has an intact signed provenance record")
    elif provenance.get("found"):
        marks.append("has a provenance record that does not match it")
    if detection is not None and detection.get("verdict") in ("synthetic", "real"):
        score = detection.get("score")
        text = f"Verdict: {detection['verdict']} (detector score {score:.3f}, threshold {detection.get('threshold')})"
        if marks:
            text += "; it " + " and ".join(marks)
        severity = "error" if detection["verdict"] == "synthetic" or watermark.get("detected") else "success"
        return text, severity
    if marks:
        return "Verdict: synthetic, made by dancenow: it " + " and ".join(marks), "error"
    reason = "no person found for the detector" if detection is not None else "no learned detector available"
    return f"Verdict: no dancenow marks found ({reason}); this says nothing about other generators", "warning"
