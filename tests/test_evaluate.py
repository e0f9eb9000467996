"""``dancenow evaluate`` with a really trained (tiny) face model on the tiny dataset's test split:
every metric of METHOD.md §5, the Markdown table, the samples; and the one-line CLI error."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from synthesis.evaluate import evaluate

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.ray


def _finite(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def test_evaluate_writes_every_metric_the_table_and_samples(face_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "evaluation"
    results = evaluate(face_model, out=out, max_frames=12, progress=False)
    saved = json.loads((out / "results.json").read_text())
    assert saved == json.loads(json.dumps(results))
    assert saved["frames"] == 12 and saved["split"] == "test" and saved["resolution"] == [64, 64]
    assert saved["model"]["face_gan"] is True and len(saved["model"]["sha256"]) == 64
    assert saved["units"]["pose_distance"] == "pixels at 64x64" and saved["lpips"]["net"] == "alex"
    metrics = saved["metrics"]
    for part in ("body", "face"):
        assert _finite(metrics[part]["ssim"]) and -1 <= metrics[part]["ssim"] <= 1
        assert _finite(metrics[part]["lpips"]) and metrics[part]["lpips"] >= 0
    assert metrics["body"]["frames"] == 12
    for part in ("body", "face", "hands", "overall"):
        assert _finite(metrics["missed_detections"][part]) and metrics["missed_detections"][part] >= 0
    # A barely trained model's frames may show no detectable person: distances are then None.
    for part in ("body", "face", "hands", "overall"):
        value = metrics["pose_distance"][part]
        assert value is None or _finite(value)
    warp = metrics["temporal"]["warping_error"]
    assert _finite(warp["generated"]) and _finite(warp["real"]) and 0 <= warp["non_occluded"] <= 1
    assert _finite(metrics["temporal"]["statistics"]["frame_difference"]["generated"])
    assert saved["timings_s"]["total"] > 0 and saved["frames_per_s"] > 0
    table = (out / "results.md").read_text()
    assert (
        "| Model | body SSIM | body LPIPS | face SSIM | face LPIPS | pose dist. overall | missed overall |"
        in table
    )
    assert "tiny-face-model (T.S. + Face)" in table
    samples = sorted((out / "samples").glob("*.png"))
    assert samples and [f"samples/{p.name}" for p in samples] == sorted(saved["samples"])
    assert samples[0].read_bytes().startswith(b"\x89PNG")


def test_evaluating_a_corrupt_checkpoint_is_a_one_line_cli_error(tmp_path: Path) -> None:
    bad = tmp_path / "BAD.pt"
    bad.write_bytes(b"not a checkpoint")
    cli = subprocess.run(
        [sys.executable, "-m", "dataset.cli", "evaluate", "--model", str(bad), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert cli.returncode == 2, cli.stderr
    lines = cli.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(bad) in lines[0]
    assert not (tmp_path / "o").exists()
