"""Hub publishing up to the network call: plans, ledger, token handling and offline errors.

The Hub is unreachable from the test machines; everything before the first request is real code
on real folders, and the request itself is shown to fail with a clear message.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dataset.build import REPORT_JSON
from dataset.hub import LEDGER, PublishError, dataset_info, plan_publish, publish, read_ledger, write_ledger
from synthesis.data import DataError, load_target_clips


def _folder(tmp_path: Path, files: list[str]) -> Path:
    folder = tmp_path / "dataset"
    for rel in [*files, REPORT_JSON, ".dancenow/notes.txt", "build_report.md"]:
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x" * 10)
    report = {"dataset": "d", "files": [{"path": f, "bytes": 10} for f in files if f.startswith("data/")]}
    (folder / REPORT_JSON).write_text(json.dumps(report))
    return folder


def test_plan_uploads_card_licence_and_data_only(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ["README.md", "LICENSE.md", "data/train/a-00000.parquet"])
    plan = plan_publish(folder, "org/name")
    assert [f["path"] for f in plan.upload] == ["LICENSE.md", "README.md", "data/train/a-00000.parquet"]
    assert plan.delete == [] and plan.deletions_from == "none (first publish)" and not plan.squash_history


def test_remote_listing_drives_deletions_but_never_outside_data(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ["README.md", "data/train/a-00000.parquet"])
    remote = [
        ".gitattributes",
        "README.md",
        "notes/extra.md",
        "data/train/a-00000.parquet",
        "data/source/b-00000.parquet",
    ]
    plan = plan_publish(folder, "org/name", remote_files=remote)
    assert plan.delete == ["data/source/b-00000.parquet"] and plan.squash_history
    assert "- data/source/b-00000.parquet" in plan.describe()


def test_ledger_is_per_repo(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ["data/train/a-00000.parquet"])
    write_ledger(folder, "org/one", ["data/train/a-00000.parquet", "data/train/gone-00000.parquet"])
    assert read_ledger(folder, "org/two") is None
    assert plan_publish(folder, "org/one").delete == ["data/train/gone-00000.parquet"]
    assert (folder / LEDGER).is_file()


@pytest.mark.parametrize("repo_id", ["name-only", "a/b/c", "/name", "org/"])
def test_bad_repo_ids_are_refused(tmp_path: Path, repo_id: str) -> None:
    folder = _folder(tmp_path, ["data/train/a-00000.parquet"])
    with pytest.raises(PublishError, match="ORG/NAME"):
        plan_publish(folder, repo_id)


def test_not_a_dataset_folder(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="not a built dataset"):
        plan_publish(tmp_path, "org/name")
    with pytest.raises(PublishError, match="not a dancenow dataset folder"):
        dataset_info(str(tmp_path))


def test_publish_without_token_and_offline_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _folder(tmp_path, ["data/train/a-00000.parquet"])
    # No network here (HF_HUB_OFFLINE would only count if set before huggingface_hub is imported):
    # these are the real connection failures a user without network sees.
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no saved login
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(PublishError, match="no Hugging Face token"):
        publish(folder, "org/name")
    dry = publish(folder, "org/name", dry_run=True)  # a dry run needs no token
    assert dry.token.startswith("none found")
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    with pytest.raises(PublishError, match=r"cannot publish to datasets/org/name") as err:
        publish(folder, "org/name")
    assert "hf_secret_value" not in str(err.value)
    assert read_ledger(folder, "org/name") is None  # nothing recorded as published
    with pytest.raises(PublishError, match=r"^cannot read datasets/org/name: the Hub cannot be reached"):
        dataset_info("org/name")
    # loading a dataset by repo id: the same one-line reason, from one request to the Hub (datasets
    # alone retries for about 23 s, then raises a ConnectionError)
    with pytest.raises(DataError, match=r"^org/name: cannot load it from the Hub: the Hub cannot be reached"):
        load_target_clips("org/name", split="test")


def test_a_dataset_cached_earlier_is_still_loaded_without_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets

    from synthesis.data import _check_hub_dataset

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path)
    with pytest.raises(DataError, match=r"^org/name: cannot load it from the Hub: the Hub cannot be reached"):
        _check_hub_dataset("org/name")
    # where datasets keeps what it prepared from a Hub repo: ORG___NAME/CONFIG/VERSION/HASH
    (tmp_path / "org___name" / "default" / "0.0.0" / "0123abcd").mkdir(parents=True)
    _check_hub_dataset("org/name")  # no error: datasets falls back to that copy


def test_a_repo_id_is_told_from_a_path() -> None:
    from dataset.hub import looks_like_repo_id

    for repo_id in ("org/name", "your-org/dance.v2", "a_b/c-d"):
        assert looks_like_repo_id(repo_id), repo_id
    for path in (
        "/data",
        "./data",
        "org/",
        "a/b/c",
        "org/na me",
        "-org/name",
        "org/name.",
        "o" * 50 + "/" + "n" * 50,
    ):
        assert not looks_like_repo_id(path), path
    # a missing absolute path is named as such, not sent to the Hub as a repo id
    with pytest.raises(DataError, match=r"^/nonexistent: neither a dataset folder nor a Hub repo id"):
        load_target_clips("/nonexistent", split="train")


def test_a_folder_that_is_not_a_dancenow_dataset(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from dataset.video import VideoWriter

    # datasets itself reads a folder of videos as a "videofolder" with a train split
    videos = tmp_path / "videos"
    videos.mkdir()
    with VideoWriter(videos / "dance.mp4", fps=30) as writer:
        for _ in range(3):
            writer.write(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(
        DataError, match=rf"^{videos}: not a dancenow dataset \(no Parquet files in it\); build one"
    ):
        load_target_clips(str(videos), split="train")
    other = tmp_path / "other"
    other.mkdir()
    pq.write_table(pa.table({"clip_id": ["a"], "text": ["b"]}), other / "train.parquet")
    with pytest.raises(DataError, match=rf"^{other}: not a dancenow dataset \(no column subject_id, role, "):
        load_target_clips(str(other), split="train")
