"""``dancenow evaluate`` and ``dancenow ablation`` with really trained (tiny) models on the tiny
dataset: every metric of METHOD.md §5 on the held-out test split, the transfer-from-a-source metrics,
the three-variant ablation from its CLI, the results folders' files; and the one-line CLI error."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from synthesis.evaluate import SCHEMA, evaluate, evaluate_transfer

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
    assert saved["schema"] == SCHEMA and saved["mode"] == "held-out"
    per_frame = saved["per_frame"]
    assert len(per_frame["body_ssim"]) == len(per_frame["body_lpips"]) == 12
    assert len(per_frame["missed_detections"]) == 12 and len(per_frame["warping_error"]) == 12
    assert per_frame["warping_error"][0] is None and _finite(per_frame["warping_error"][1])
    assert sum(per_frame["body_ssim"]) / 12 == pytest.approx(metrics["body"]["ssim"])
    assert sum(per_frame["missed_detections"]) / 12 == pytest.approx(metrics["missed_detections"]["overall"])
    # The run's training logs sit beside the checkpoint: both curves are drawn.
    assert saved["curves"] == ["curves/per_frame.png", "curves/training.png"]
    for name in saved["curves"]:
        assert (out / name).read_bytes().startswith(b"\x89PNG")


def test_evaluate_a_transfer_from_a_source_clip(face_model: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "transfer-evaluation"
    results = evaluate_transfer(face_model, str(tiny_dataset), out=out, max_frames=10, progress=False)
    saved = json.loads((out / "results.json").read_text())
    assert saved == json.loads(json.dumps(results))
    assert saved["mode"] == "transfer" and saved["split"] is None and saved["frames"] == 10
    assert saved["source"]["name"].endswith("::demo-dancer-1/dance/source")
    assert saved["normalization"]["anchor"]  # the fitted parameters are recorded
    metrics = saved["metrics"]
    assert "body" not in metrics and "face" not in metrics  # no ground truth: no SSIM / LPIPS
    for part in ("body", "face", "hands", "overall"):
        assert _finite(metrics["missed_detections"][part])
    warp = metrics["temporal"]["warping_error"]
    assert _finite(warp["generated"]) and _finite(warp["real"]) and warp["real"] > 0  # the source moves
    assert len(saved["per_frame"]["warping_error"]) == 10
    table = (out / "results.md").read_text()
    assert "| pose dist. body | pose dist. face |" in table and "warp. err. source" in table
    assert "transferred onto" in table
    assert len(saved["samples"]) == 4 and all((out / name).is_file() for name in saved["samples"])


def test_ablation_command_trains_and_evaluates_three_variants(
    face_model: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    """One command on the tiny config: the face model's run is the T.S. variant (reused, not
    retrained); pix2pixHD is trained next to it; all three are evaluated held-out and on a transfer."""
    runs = face_model.parent.parent
    out = tmp_path / "ablation"
    cli = subprocess.run(
        [
            sys.executable, "-m", "dataset.cli", "ablation",
            "--config", str(ROOT / "ray_configs" / "tiny_test.yaml"),
            "--set", f"data.dataset={tiny_dataset}", "--set", f"runtime.output_dir={runs}",
            "--set", "name=tiny-face-model",
            "--out", str(out), "--max-frames", "8", "--transfer-frames", "8", "--quiet",
        ],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert "this stage already finished" in cli.stdout + cli.stderr  # T.S. and its face stage reused
    saved_config = yaml.safe_load((runs / "tiny-face-model-pix2pixhd" / "config.yaml").read_text())
    assert saved_config["model"]["temporal"] is False and saved_config["data"]["dataset"] == str(tiny_dataset)
    summary = json.loads((out / "ablation.json").read_text())
    assert summary["schema"] == "dancenow.ablation/1"
    assert [v["label"] for v in summary["variants"]] == ["pix2pixHD", "T.S.", "T.S. + Face"]
    pix2pixhd, ts, ts_face = summary["variants"]
    assert (
        pix2pixhd["held_out"]["model"]["temporal"] is False
        and pix2pixhd["held_out"]["model"]["face_gan"] is False
    )
    assert ts["held_out"]["model"]["temporal"] is True and ts["held_out"]["model"]["face_gan"] is False
    assert ts_face["held_out"]["model"]["face_gan"] is True and Path(ts_face["checkpoint"]) == face_model
    assert Path(pix2pixhd["checkpoint"]) == runs / "tiny-face-model-pix2pixhd" / "body.pt"
    # Same data and schedule: the same steps and the same training pairs.
    assert pix2pixhd["held_out"]["model"]["step"] == ts["held_out"]["model"]["step"]
    assert pix2pixhd["held_out"]["model"]["trained_on"] == ts["held_out"]["model"]["trained_on"]
    for variant in summary["variants"]:
        assert variant["held_out"]["frames"] == 8 and variant["transfer"]["frames"] == 8
        assert _finite(variant["held_out"]["metrics"]["body"]["ssim"])
        assert (out / variant["evaluation"]).is_file() and (out / variant["transfer_evaluation"]).is_file()
    markdown = (out / "ablation.md").read_text()
    assert markdown == summary["markdown"] and markdown in cli.stdout
    assert "| Model | body SSIM | (paper) | body LPIPS | (paper) |" in markdown
    assert "| T.S. + Face |" in markdown and "0.89807" in markdown and "2.29336" in markdown
    assert "## Transfer from a source" in markdown and "## What it says" in markdown
    assert summary["curves"] == ["curves/training.png", "curves/per_frame.png"]
    for name in summary["curves"]:
        assert (out / name).read_bytes().startswith(b"\x89PNG")


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
    # the reason, not torch's paragraph about its weights_only default
    assert "safe loader refused it: Unsupported operand" in lines[0] and "PyTorch 2.6" not in lines[0]
    assert not (tmp_path / "o").exists()
