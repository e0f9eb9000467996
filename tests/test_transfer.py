"""Transfer with a really trained (tiny) model: playable H.264 with the right frame count, side by side,
the reproducibility record, sources from a video file (real detector) and from a dataset clip; model
publishing up to the network call."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dataset.video import VideoWriter, probe, read_frames
from forensics.provenance import verify_provenance
from forensics.watermark import detect_watermark
from synthesis.checkpoint import load_checkpoint
from synthesis.hub import ModelPublishError, download_model, publish_model
from synthesis.transfer import TransferError, transfer

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.ray
def test_transfer_of_a_dataset_clip_writes_a_playable_video(
    face_model: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.mp4"
    sbs = tmp_path / "sbs.mp4"
    with pytest.raises(
        TransferError, match=r"no clip 'nope'; its clips: demo-target/moves/train, .*; pass one"
    ):
        transfer(face_model, str(tiny_dataset), out, clip="nope", progress=False)
    result = transfer(face_model, str(tiny_dataset), out, side_by_side=sbs, progress=False)
    info = probe(out)
    assert info.codec == "h264" and info.frame_count == result.frames == 60  # 2 s at 30 fps
    assert (info.height, info.width) == (64, 64)
    frames = read_frames(out)
    assert frames.shape == (60, 64, 64, 3) and frames.std() > 1.0
    side = probe(sbs)
    assert side.frame_count == 60 and side.width == 3 * 64, "source | stick figure | output"
    record = json.loads(result.record.read_text())
    assert record["frames"] == 60 and record["model"]["face_gan"] is True
    assert record["source"]["name"].endswith("::demo-dancer-1/dance/source")
    assert len(record["per_frame_scale_translate"]) == 60
    assert record["normalization"]["scale_close"] > 0
    assert load_checkpoint(face_model)["data"]["fingerprint"] == record["model"]["data"]["fingerprint"]
    # Both videos carry the invisible mark and a signed provenance record naming the consents.
    for video in (out, sbs):
        assert detect_watermark(video).detected, video
        report = verify_provenance(video)
        assert report.intact, report.problems
        content = report.content or {}
        assert content["synthetic"] is True and content["video"]["frames"] == 60
        assert content["model"]["sha256"] == record["model"]["sha256"]
        for part, subject in (("target", "demo-target"), ("source", "demo-dancer-1")):
            consent = content[part]["consent"]
            assert consent["subject_id"] == subject and len(consent["consent_document_sha256"]) == 64
    assert record["watermark"] is True and record["provenance"] == [
        "out.mp4.provenance.json",
        "sbs.mp4.provenance.json",
    ]
    # The saved parameters reproduce the transfer.
    again = transfer(
        face_model, str(tiny_dataset), tmp_path / "again.mp4", normalization=result.record, progress=False
    )
    record_again = json.loads(again.record.read_text())
    assert record_again["normalization"] == record["normalization"]
    assert record_again["per_frame_scale_translate"] == record["per_frame_scale_translate"]
    with pytest.raises(TransferError, match="no normalisation parameters to reuse"):
        transfer(face_model, str(tiny_dataset), tmp_path / "x.mp4", normalization=sbs, progress=False)


@pytest.mark.ray
def test_transfer_from_a_video_file_runs_the_detector(
    face_model: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    video = next((tiny_dataset.parent / "raw").glob("demo-dancer-*/source/dance.mp4"))
    out = tmp_path / "from-video.mp4"
    result = transfer(face_model, str(video), out, max_frames=20, use_face=False, workers=1, progress=False)
    assert probe(out).frame_count == 20 and result.frames == 20
    record = json.loads(result.record.read_text())
    assert record["model"]["face_gan"] is False and record["source"]["name"] == str(video)
    provenance = verify_provenance(out)
    assert provenance.intact and (provenance.content or {})["source"]["consent"] is None  # a bare video file


def test_transfer_errors_are_clear(tmp_path: Path, face_model: Path) -> None:
    with pytest.raises(TransferError, match="no such video file or dataset"):
        transfer(face_model, str(tmp_path / "missing.mp4"), tmp_path / "o.mp4", progress=False)
    with pytest.raises(TransferError, match=r"o\.avi: the output is an H\.264 MP4 video; name it o\.mp4$"):
        transfer(face_model, str(tmp_path / "missing.mp4"), tmp_path / "o.avi", progress=False)

    # No person in view: the real detector finds nobody, and the error names the video.
    empty = tmp_path / "empty-room.mp4"
    with VideoWriter(empty, fps=30) as writer:
        for i in range(20):
            writer.write(np.full((96, 96, 3), 40 + 4 * i, np.uint8))
    with pytest.raises(
        TransferError, match=rf"^{re.escape(str(empty))}: .* no person is in view; use a video"
    ):
        transfer(face_model, str(empty), tmp_path / "o.mp4", workers=1, progress=False)
    assert not (tmp_path / "o.mp4").exists()


def test_model_publish_dry_run_and_offline_download(
    face_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = publish_model(face_model, "someone/demo-dancer-model", dry_run=True, staging=tmp_path / "stage")
    names = [f["path"] for f in plan.files]
    assert names == ["README.md", "config.yaml", "model.pt"]
    card = (tmp_path / "stage" / "README.md").read_text()
    assert card.startswith("---\nlicense: other") and "demo-target" in card and "## Responsible use" in card
    assert load_checkpoint(tmp_path / "stage" / "model.pt", stage="face")["step"] > 0
    with pytest.raises(ModelPublishError, match="ORG/NAME"):
        publish_model(face_model, "not-a-repo-id", dry_run=True, staging=tmp_path / "x")
    cli = subprocess.run(
        [sys.executable, "-m", "dataset.cli", "model", "publish", "--model", str(face_model),
         "--repo-id", "someone/m", "--dry-run", "--json"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["repo_id"] == "someone/m"
    # a real publish (no network here): the same one-line reason as a dataset's, never the token
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    with pytest.raises(
        ModelPublishError,
        match=r"^cannot publish to models/someone/m: the Hub cannot be reached .* rehearse with --dry-run$",
    ) as err:
        publish_model(face_model, "someone/m", staging=tmp_path / "stage2")
    assert "hf_secret_value" not in str(err.value)
    # a model downloaded earlier is used at once without network, from the Hub cache's own layout
    monkeypatch.setenv("DANCENOW_CACHE", str(tmp_path / "cache"))
    repo = tmp_path / "cache" / "hub" / "models--someone--demo-dancer-model"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    (repo / "snapshots" / ("0" * 40)).mkdir(parents=True)
    cached = repo / "snapshots" / ("0" * 40) / "model.pt"
    cached.write_bytes((tmp_path / "stage" / "model.pt").read_bytes())
    assert download_model("someone/demo-dancer-model") == cached
    with pytest.raises(
        ModelPublishError, match=r"^cannot download model.pt from models/someone/other: the Hub"
    ):
        download_model("someone/other")


def test_loading_a_model_by_repo_id_goes_to_the_hub(tmp_path: Path) -> None:
    # Both commands that load a model say why in one line: without network (as here) and with
    # HF_HUB_OFFLINE, which huggingface_hub reads when imported, so set for a fresh process as a
    # user would.
    offline = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for command, env in ((["transfer", "--source", "none.mp4"], offline), (["evaluate"], os.environ)):
        cli = subprocess.run(
            [sys.executable, "-m", "dataset.cli", *command, "--model", "someone/missing"],
            capture_output=True, text=True, cwd=tmp_path, env=env,
        )  # fmt: skip
        assert cli.returncode == 2, cli.stderr
        assert cli.stderr.strip() == (
            "error: cannot download model.pt from models/someone/missing: the Hub cannot be reached (no "
            "network, or HF_HUB_OFFLINE is set); check the repo id, your network and token (HF_TOKEN or "
            "`hf auth login`)"
        ), command
