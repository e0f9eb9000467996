"""Build -> ``datasets.load_dataset`` round trip on real files, consent exclusions, revocation, bad input.

One small demo (rendered by the real renderer, detected by the real MediaPipe detector) is built
once per module; tests that change the input work on copies and share the pose cache, so only the
first build pays for detection.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pytest
import yaml

from dataset.build import BuildError, BuildOptions, build_dataset, recover_interrupted_swap
from dataset.consent import ConsentError, write_synthetic_consent
from dataset.demo import generate_demo
from dataset.hub import plan_publish, write_ledger
from dataset.keypoints import PoseSequence
from dataset.pose import extract_poses, smooth_poses, write_openpose_json
from dataset.video import probe, read_frames, write_video

AS_OF = date(2026, 6, 1)
SIZE = 256


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("build")
    raw = root / "raw"
    clips = generate_demo(
        raw, seed=3, target_seconds=3.0, source_seconds=2.0, n_sources=2, size=SIZE, progress=False
    )
    for subject in sorted({c.subject_id for c in clips}):
        roles = [c.role for c in clips if c.subject_id == subject]
        write_synthetic_consent(raw / subject, subject, roles, signed=date(2026, 1, 1))
    return {"root": root, "raw": raw, "cache": root / "cache"}


def _options(ws: dict[str, Path], raw: Path, out: Path, **changes: Any) -> BuildOptions:
    options = BuildOptions(
        raw_dir=raw, out_dir=out, as_of=AS_OF, cache_dir=ws["cache"], workers=2, progress=False, crf=12
    )
    for key, value in changes.items():
        setattr(options, key, value)
    return options


@pytest.fixture(scope="module")
def built(workspace: dict[str, Path]) -> dict[str, Any]:
    out = workspace["root"] / "dataset"
    result = build_dataset(_options(workspace, workspace["raw"], out))
    return {"out": out, "report": result.report}


def _copy_raw(workspace: dict[str, Path], name: str) -> Path:
    copy = workspace["root"] / name
    shutil.copytree(workspace["raw"], copy)
    return copy


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_load_dataset_round_trip_is_frame_exact_with_identical_keypoints(
    workspace: dict[str, Path], built: dict[str, Any]
) -> None:
    ds = datasets.load_dataset(str(built["out"]))
    assert set(ds) == {"train", "test", "source"}
    assert ds["train"].num_rows == ds["test"].num_rows == 1 and ds["source"].num_rows == 2

    target_video = workspace["raw"] / "demo-target" / "target"
    original = next(target_video.glob("*.mp4"))
    n_total = probe(original).frame_count
    # The keypoints the build stored are the detector's (cached) output, smoothed, then split.
    expected = smooth_poses(
        extract_poses([original], cache_dir=workspace["cache"], progress=False)[str(original)], 30.0
    )

    for split in ("train", "test"):
        row = ds[split][0]
        n = row["frame_count"]
        assert np.asarray(row["body"]).shape == (n, 25, 3)
        assert np.asarray(row["face"]).shape == (n, 70, 3)
        assert np.asarray(row["hands"]).shape == (n, 2, 21, 3)
        start = row["start_frame"]
        assert np.array_equal(np.asarray(row["body"]), expected.body[start : start + n])
        assert np.array_equal(np.asarray(row["hands"]), expected.hands[start : start + n])
        decoder = row["video"]  # torchcodec, as datasets decodes it
        assert decoder.metadata.num_frames == n
        # The same frames through decord, from the bytes stored in the Parquet file: bit-identical.
        raw_bytes = ds[split].with_format("arrow")[0:1].column("video")[0].as_py()["bytes"]
        via_decord = read_frames(raw_bytes, [0, n - 1])
        assert np.array_equal(decoder[0].permute(1, 2, 0).numpy(), via_decord[0])
        assert np.array_equal(decoder[n - 1].permute(1, 2, 0).numpy(), via_decord[1])
        # And they are the original clip's frames start .. start + n (re-encoded once, near-lossless).
        source_frames = read_frames(original, [start, start + n - 1])
        assert np.abs(via_decord.astype(int) - source_frames).mean() < 3.0
    train_n = ds["train"][0]["frame_count"]
    assert ds["test"][0]["start_frame"] == train_n
    assert train_n + ds["test"][0]["frame_count"] == n_total
    assert ds["test"][0]["frame_count"] == round(0.2 * n_total)
    assert ds["train"][0]["consent_scope"] == ["training_target", "synthesis", "publish"]
    assert ds["source"][0]["role"] == "source" and ds["source"][0]["synthetic_subject"] is True


def test_card_report_and_detection_quality(built: dict[str, Any]) -> None:
    out, report = built["out"], built["report"]
    card = (out / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    assert header["license"] == "other" and header["license_link"] == "LICENSE.md"
    assert [f["split"] for f in header["configs"][0]["data_files"]] == ["train", "test", "source"]
    assert any("consent scopes" in field for field in header["extra_gated_fields"])
    for section in ("## Consent", "## Personal and Sensitive Information", "## Bias, Risks, and Limitations",
                    "## How it was made", "## How to load it"):  # fmt: skip
        assert section in card
    assert (out / "LICENSE.md").is_file() and (out / "build_report.md").is_file()
    names = sorted(p.relative_to(out).as_posix() for p in (out / "data").rglob("*.parquet"))
    assert [re.sub(r"-[0-9a-f]{12}\.parquet$", "", n) for n in names] == [
        "data/source/demo-dancer-1-00000",
        "data/source/demo-dancer-2-00000",
        "data/test/demo-target-00000",
        "data/train/demo-target-00000",
    ]
    # The card lists exactly these files (named by content, so a rebuild never reuses a stale cache).
    assert sorted(p for f in header["configs"][0]["data_files"] for p in f["path"]) == names
    assert all(s["status"] == "included" for s in report["subjects"])
    for clip in report["clips"]:
        assert clip["detection_rates"]["person"] >= 0.9, clip["clip"]
        error = clip["ground_truth_error"]["raw"]
        assert error["body_pct_of_height"] < 6.0, (clip["clip"], error)


def test_revocation_removes_subject_and_publish_plan_deletes_their_files(
    workspace: dict[str, Path], built: dict[str, Any]
) -> None:
    raw = _copy_raw(workspace, "raw-revoked")
    out = workspace["root"] / "dataset-revoked"
    shutil.copytree(built["out"], out)
    assert len(datasets.load_dataset(str(out))["source"]) == 2  # fills the `datasets` cache for this folder
    repo = "dancenow-test/demo"
    published = [f["path"] for f in built["report"]["files"]] + ["README.md", "LICENSE.md"]
    write_ledger(out, repo, published)  # as a real publish of the first build would have left it

    manifest_path = raw / "demo-dancer-1" / "consent.yaml"
    manifest = yaml.safe_load(manifest_path.read_text())
    manifest.update(revoked=True, revoked_date="2026-05-01")
    manifest_path.write_text(yaml.safe_dump(manifest))

    report = build_dataset(_options(workspace, raw, out)).report
    dancer = next(s for s in report["subjects"] if s["subject_id"] == "demo-dancer-1")
    assert dancer["status"] == "excluded" and dancer["reasons"] == ["consent revoked on 2026-05-01"]
    dancer_files = [f["path"] for f in built["report"]["files"] if "demo-dancer-1" in f["path"]]
    assert len(dancer_files) == 1
    assert report["removed_since_previous_build"] == {"subjects": ["demo-dancer-1"], "files": dancer_files}
    assert not (out / dancer_files[0]).exists()
    assert "demo-dancer-1" not in (out / "README.md").read_text()
    # Loaded back from a folder rebuilt in place: the revoked subject is gone (no stale cache).
    assert datasets.load_dataset(str(out))["source"]["subject_id"] == ["demo-dancer-2"]

    plan = plan_publish(out, repo)
    assert plan.delete == dancer_files and plan.squash_history
    assert "ledger" in plan.deletions_from
    assert {f["path"] for f in plan.upload} == {p for p in published if "dancer-1" not in p}

    # The same through the CLI's dry run, which must send nothing and print both lists.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_TOKEN": "hf_dummy_never_printed"}
    cli = [sys.executable, "-m", "dataset.cli"]
    dry = subprocess.run([*cli, "dataset", "publish", str(out), "--repo-id", repo, "--dry-run"],
                         capture_output=True, text=True, env=env)  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert f"- {dancer_files[0]}" in dry.stdout
    assert re.search(r"\+ data/train/demo-target-00000-[0-9a-f]{12}\.parquet", dry.stdout)
    assert "hf_dummy_never_printed" not in dry.stdout + dry.stderr
    # A real publish from here fails at the network call, with one clear line and nothing changed.
    real = subprocess.run([*cli, "dataset", "publish", str(out), "--repo-id", repo],
                          capture_output=True, text=True, env=env)  # fmt: skip
    assert real.returncode == 2
    assert (
        real.stderr.strip()
        .splitlines()[-1]
        .startswith("error: cannot publish to datasets/dancenow-test/demo")
    )
    assert "hf_dummy_never_printed" not in real.stdout + real.stderr


def test_expired_consent_excludes_at_the_next_build(workspace: dict[str, Path]) -> None:
    raw = _copy_raw(workspace, "raw-expiring")
    write_synthetic_consent(
        raw / "demo-dancer-2", "demo-dancer-2", ["source"], signed=date(2026, 1, 1), expires=date(2026, 3, 1)
    )
    report = build_dataset(_options(workspace, raw, workspace["root"] / "dataset-expired")).report
    dancer = next(c for c in report["clips"] if c["clip"].startswith("demo-dancer-2"))
    assert not dancer["included"] and dancer["reason"] == "consent expired on 2026-03-01"
    assert report["splits"]["source"]["rows"] == 1


def test_openpose_json_is_imported_instead_of_detected(workspace: dict[str, Path]) -> None:
    raw = _copy_raw(workspace, "raw-openpose")
    truth = PoseSequence.load(next((raw / "demo-dancer-2" / "ground_truth").glob("*.npz")))
    clip = next((raw / "demo-dancer-2" / "source").glob("*.mp4")).stem
    write_openpose_json(truth, raw / "demo-dancer-2" / "openpose" / clip, clip)
    out = workspace["root"] / "dataset-openpose"
    build_dataset(_options(workspace, raw, out, smoothing="none"))
    row = next(
        r for r in datasets.load_dataset(str(out), split="source") if r["subject_id"] == "demo-dancer-2"
    )
    assert row["keypoint_source"] == "openpose-json" and row["detector"] == "openpose"
    assert np.allclose(np.asarray(row["body"]), truth.body, atol=1e-3)


def test_failed_build_leaves_previous_dataset_intact(
    workspace: dict[str, Path], built: dict[str, Any]
) -> None:
    raw = _copy_raw(workspace, "raw-corrupt")
    out = workspace["root"] / "dataset-kept"
    shutil.copytree(built["out"], out)
    before = _tree(out)
    good = next((raw / "demo-dancer-2" / "source").glob("*.mp4"))
    corrupt = good.with_name("broken.mp4")
    corrupt.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(Exception, match=str(corrupt)) as err:
        build_dataset(_options(workspace, raw, out))
    assert "\n" not in str(err.value)
    assert _tree(out) == before
    assert not [p for p in out.parent.iterdir() if ".building-" in p.name or ".previous" in p.name]


def test_interrupted_swap_is_recovered(tmp_path: Path) -> None:
    out = tmp_path / "dataset"
    backup = tmp_path / ".dataset.previous"
    backup.mkdir()
    (backup / "build_report.json").write_text("{}")
    recover_interrupted_swap(out)  # a build died after moving the old dataset aside
    assert (out / "build_report.json").is_file() and not backup.exists()


def test_missing_consent_and_person_less_video_are_clear_errors(workspace: dict[str, Path]) -> None:
    raw = _copy_raw(workspace, "raw-no-consent")
    (raw / "demo-dancer-2" / "consent.yaml").unlink()
    with pytest.raises(ConsentError, match=r"demo-dancer-2/consent.yaml: consent manifest not found"):
        build_dataset(_options(workspace, raw, workspace["root"] / "never-1"))

    raw = _copy_raw(workspace, "raw-empty-stage")
    empty = raw / "demo-dancer-2" / "source" / "empty_stage.mp4"
    write_video(empty, [np.full((SIZE, SIZE, 3), 90, np.uint8)] * 20, fps=30)
    with pytest.raises(BuildError, match=r"empty_stage.mp4: a person was detected in only 0 of 20 frames"):
        build_dataset(_options(workspace, raw, workspace["root"] / "never-2"))
    assert not (workspace["root"] / "never-1").exists() and not (workspace["root"] / "never-2").exists()


def test_cli_info_and_demo_data(tmp_path: Path, built: dict[str, Any]) -> None:
    cli = [sys.executable, "-m", "dataset.cli"]
    info = subprocess.run(
        [*cli, "dataset", "info", str(built["out"]), "--json"], capture_output=True, text=True
    )
    assert info.returncode == 0, info.stderr
    summary = json.loads(info.stdout)
    assert summary["splits"]["source"]["rows"] == 2 and summary["files"] == 4
    # the clip ids `--clip` takes, with their split and length
    clips = summary["clips"]
    assert sum(c["split"] == "source" for c in clips) == 2
    assert sum(c["frames"] for c in clips) == sum(s["frames"] for s in summary["splits"].values())
    text = subprocess.run([*cli, "dataset", "info", str(built["out"])], capture_output=True, text=True)
    first = clips[0]
    assert (
        f"\n  - clip_id: {first['clip_id']}, split: {first['split']}, frames: {first['frames']}\n"
        in text.stdout
    )
    demo = subprocess.run(
        [*cli, "demo-data", "--out", str(tmp_path / "raw"), "--target-seconds", "0.5", "--source-seconds", "0.5",
         "--sources", "1", "--size", "128", "--no-progress"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["demo-dancer-1", "demo-target"]
    for subject in ("demo-dancer-1", "demo-target"):
        assert (tmp_path / "raw" / subject / "consent.yaml").is_file()
    bad = subprocess.run(
        [*cli, "dataset", "build", "--raw", str(tmp_path / "nowhere")], capture_output=True, text=True
    )
    last_line = bad.stderr.strip().splitlines()[-1]
    assert bad.returncode == 2 and last_line.startswith("error: ") and "nowhere" in last_line
