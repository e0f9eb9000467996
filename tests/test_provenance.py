"""Signed provenance records on a real H.264 file: intact when untouched, and every kind of
tampering shows (a changed field, a re-encoded or edited video, a forged key id); the CLI reports
watermark and record in one command."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dataset.video import VideoWriter, read_frames
from forensics.provenance import (
    ProvenanceError,
    record_path,
    signing_key_path,
    verify_provenance,
    write_provenance,
)
from forensics.watermark import FrameMarker

ROOT = Path(__file__).resolve().parents[1]
FIELDS = {
    "synthetic": True,
    "model": {"path": "runs/demo/face.pt", "sha256": "ab" * 32},
    "source": {"clip": "x"},
}


def _video(path: Path, frames: np.ndarray, mark: bool = True, crf: int = 18) -> Path:
    marker = FrameMarker()
    with VideoWriter(path, fps=30, crf=crf) as writer:
        for frame in frames:
            writer.write(marker.mark(frame) if mark else frame)
    return path


@pytest.fixture(scope="module")
def frames(tiny_dataset: Path) -> np.ndarray:
    clip = sorted((tiny_dataset.parent / "raw").rglob("*.mp4"))[0]
    return read_frames(clip)[:30]


def test_untouched_record_is_intact_and_tampering_shows(frames: np.ndarray, tmp_path: Path) -> None:
    video = _video(tmp_path / "made.mp4", frames)
    path = write_provenance(video, FIELDS)
    assert path == record_path(video) == tmp_path / "made.mp4.provenance.json"
    report = verify_provenance(video)
    assert report.intact and report.signature_valid and report.video_matches and not report.problems
    content = json.loads(path.read_text())
    assert content["schema"] == "dancenow.provenance/1" and content["video"]["frames"] == 30
    assert content["signature"]["key_id"] == report.key_id and "intact, signed by key" in report.describe()
    # The key was created on first use, owner-only, and is reused.
    assert stat.S_IMODE(os.stat(signing_key_path()).st_mode) == 0o600
    assert verify_provenance(video, write_provenance(video, FIELDS)).key_id == report.key_id

    changed = dict(content, model={"path": "someone-else.pt", "sha256": "cd" * 32})
    path.write_text(json.dumps(changed))
    tampered = verify_provenance(video)
    assert tampered.found and not tampered.signature_valid and not tampered.intact
    assert "changed after signing" in tampered.describe()

    forged = dict(content, signature=dict(content["signature"], key_id="0" * 16))
    path.write_text(json.dumps(forged))
    assert not verify_provenance(video).signature_valid

    path.write_text(json.dumps(content))
    _video(video, frames, crf=28)  # the same frames re-encoded under the same name
    reencoded = verify_provenance(video)
    assert reencoded.signature_valid and not reencoded.video_matches and not reencoded.intact
    assert "re-encoded or edited" in reencoded.describe()

    path.write_text("{not json")
    assert verify_provenance(video).problems[0].startswith("unreadable record")
    assert not verify_provenance(video, tmp_path / "none.json").found


def test_a_bad_signing_key_is_a_clear_error(
    frames: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    monkeypatch.setenv("DANCENOW_SIGNING_KEY", str(bad))
    with pytest.raises(ProvenanceError, match=r"bad\.pem"):
        write_provenance(_video(tmp_path / "v.mp4", frames), FIELDS)


def test_cli_verify_reports_mark_and_record(frames: np.ndarray, tmp_path: Path) -> None:
    marked = _video(tmp_path / "marked.mp4", frames)
    write_provenance(marked, FIELDS)
    plain = _video(tmp_path / "plain.mp4", frames, mark=False)

    def verify(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dataset.cli", "forensics", "verify", *args],
            capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip

    out = verify(str(marked))
    assert out.returncode == 0, out.stderr
    assert "watermark present: 32/32 bits" in out.stdout and "provenance record: intact" in out.stdout
    report = json.loads(verify(str(plain), "--json").stdout)
    assert report["watermark"]["detected"] is False and report["provenance"]["found"] is False
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00" * 300)
    bad = verify(str(corrupt))
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "corrupt.mp4" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
