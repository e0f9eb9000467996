"""The human-readable build report (``build_report.md``) rendered from ``build_report.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render_markdown_report(report: dict[str, Any]) -> str:
    lines = [
        f"# Build report: {report['dataset']}",
        "",
        f"Built {report['built_at']}; consent checked as of {report['consent_checked_as_of']}; "
        f"detector `{report['detector']['name']}` {report['detector']['version']}; "
        f"smoothing `{report['smoothing']}`.",
        "",
        "## Subjects",
        "",
        "| subject | status | why | scopes | synthetic |",
        "|---|---|---|---|---|",
    ]
    for s in report["subjects"]:
        lines.append(
            f"| {s['subject_id']} | {s['status']} | {'; '.join(s['reasons'])} | "
            f"{', '.join(s['consent']['scopes'])} | {'yes' if s['consent']['synthetic'] else 'no'} |"
        )
    lines += ["", "## Clips", "", "| clip | included | why | frames | fps | person % | face % | hands % |"]
    lines.append("|---|---|---|---|---|---|---|---|")
    for c in report["clips"]:
        video, rates = c.get("video", {}), c.get("detection_rates", {})
        lines.append(
            f"| {c['clip']} | {'yes' if c['included'] else 'no'} | {c['reason']} | "
            f"{_fmt(video.get('frame_count'))} | {_fmt(video.get('fps'))} | "
            f"{_fmt(100 * rates['person'] if rates else None, 0)} | "
            f"{_fmt(100 * rates['face'] if rates else None, 0)} | "
            f"{_fmt(100 * rates['hands'] if rates else None, 0)} |"
        )
    with_truth = [c for c in report["clips"] if "ground_truth_error" in c]
    if with_truth:
        lines += [
            "",
            "## Detections against ground truth",
            "",
            "Mean distance between detected and true keypoints, over points found by both (body: the 12",
            "limb joints). Only generated clips have ground truth.",
            "",
            "| clip | body px | body % of height | body recall | face px | hands px | after smoothing: body px |",
            "|---|---|---|---|---|---|---|",
        ]
        for c in with_truth:
            raw, smooth = c["ground_truth_error"]["raw"], c["ground_truth_error"]["smoothed"]
            lines.append(
                f"| {c['clip']} | {_fmt(raw['body_px'], 2)} | {_fmt(raw['body_pct_of_height'], 2)} | "
                f"{_fmt(raw['body_recall'], 3)} | {_fmt(raw['face_px'], 2)} | {_fmt(raw['hands_px'], 2)} | "
                f"{_fmt(smooth['body_px'], 2)} |"
            )
    lines += ["", "## Splits", "", "| split | rows | frames |", "|---|---|---|"]
    lines += [f"| {k} | {v['rows']} | {v['frames']} |" for k, v in report["splits"].items()]
    removed = report["removed_since_previous_build"]
    if removed["subjects"] or removed["files"]:
        lines += [
            "",
            "## Removed since the previous build",
            "",
            f"Subjects: {', '.join(removed['subjects']) or 'none'}. Files: {', '.join(removed['files']) or 'none'}.",
            "The next `dancenow dataset publish` deletes them from the Hub repo.",
        ]
    timings = report.get("timings", {})
    if timings:
        lines += ["", "## Timings", ""]
        lines += [f"- {k}: {v:.1f}" for k, v in timings.items()]
        lines.append(f"- throughput: {report.get('throughput_frames_per_s', 0):.1f} frames/s end to end")
    return "\n".join(lines) + "\n"


def write_markdown_report(path: Path, report: dict[str, Any]) -> None:
    path.write_text(render_markdown_report(report), encoding="utf-8")
