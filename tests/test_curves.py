"""Curves as PNG for the results folders: training losses from a real log file and per-frame metrics."""

from __future__ import annotations

import json
from pathlib import Path

import cv2

from synthesis.evaluation.curves import plot_per_frame, plot_training_curves, read_training_log


def _log(path: Path, steps: int, scale: float) -> Path:
    lines = [json.dumps({"event": "start", "stage": "body", "resumed_at": 0})]
    for step in range(1, steps + 1):
        lines.append(
            json.dumps({"step": step, "d": scale / step, "g_gan": 0.5, "g_fm": 10 / step, "l1": 0.1})
        )
    path.write_text("\n".join(lines) + '\n{"step": 9, "d": 0.1')  # a line cut by an interrupted write
    return path


def test_training_curves_from_logs(tmp_path: Path) -> None:
    a, b = _log(tmp_path / "a.jsonl", 8, 1.0), _log(tmp_path / "b.jsonl", 5, 2.0)
    records = read_training_log(a)
    assert [r["step"] for r in records] == list(range(1, 9))  # start event and cut line skipped
    out = plot_training_curves(
        {"pix2pixHD": a, "T.S.": b, "missing": tmp_path / "none.jsonl"}, tmp_path / "t.png"
    )
    assert out == tmp_path / "t.png"
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 200 and image.shape[1] > 800  # 4 loss panels, 3 per row
    assert plot_training_curves({"x": tmp_path / "none.jsonl"}, tmp_path / "empty.png") is None
    assert not (tmp_path / "empty.png").exists()


def test_per_frame_curves_with_gaps(tmp_path: Path) -> None:
    series = {
        "T.S.": {"body_ssim": [0.5, 0.6, 0.7], "warping_error": [None, 0.01, 0.02]},
        "pix2pixHD": {"body_ssim": [0.4, 0.5, 0.6], "warping_error": [None, 0.03, 0.04]},
    }
    out = plot_per_frame(series, tmp_path / "curves" / "per_frame.png", {"body_ssim": "body SSIM"})
    assert out is not None and cv2.imread(str(out)) is not None
    assert plot_per_frame({"T.S.": {"warping_error": [None]}}, tmp_path / "none.png") is None
