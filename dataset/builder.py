"""The Hugging Face dataset builder: staged clips (mp4 + keypoints) -> ``datasets`` rows.

:class:`DanceDatasetBuilder` is a ``datasets.GeneratorBasedBuilder`` used in-process (the Hub no
longer runs loading scripts). It reads a *staging manifest*, a JSON file that ``dataset.build``
writes, listing one row per clip segment with the paths of its re-encoded video and keypoints.
The published folder holds only Parquet and a card, so ``datasets.load_dataset(folder_or_repo)``
needs no code of ours.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets

from .keypoints import N_BODY, N_FACE, N_HAND, PoseSequence

SPLITS = ("train", "test", "source")

FEATURES = datasets.Features(
    {
        "clip_id": datasets.Value("string"),
        "subject_id": datasets.Value("string"),
        "role": datasets.Value("string"),  # "target" or "source"
        "split": datasets.Value("string"),
        "source_video": datasets.Value("string"),  # the original file the segment was cut from
        "start_frame": datasets.Value("int32"),  # first frame of the segment in that file
        "fps": datasets.Value("float32"),
        "width": datasets.Value("int32"),
        "height": datasets.Value("int32"),
        "frame_count": datasets.Value("int32"),
        "video": datasets.Video(),
        "body": datasets.Array3D(shape=(None, N_BODY, 3), dtype="float32"),
        "face": datasets.Array3D(shape=(None, N_FACE, 3), dtype="float32"),
        "hands": datasets.Array4D(shape=(None, 2, N_HAND, 3), dtype="float32"),
        "keypoint_source": datasets.Value("string"),  # "detector" or "openpose-json"
        "detector": datasets.Value("string"),
        "detector_version": datasets.Value("string"),
        "smoothing": datasets.Value("string"),
        "consent_scope": datasets.List(datasets.Value("string")),
        "consent_document_sha256": datasets.Value("string"),
        "synthetic_subject": datasets.Value("bool"),
        "license": datasets.Value("string"),
    }
)


class DanceDatasetConfig(datasets.BuilderConfig):
    """Points the builder at a staging manifest written by ``dataset.build``."""

    def __init__(self, staging_manifest: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.staging_manifest = staging_manifest


class DanceDatasetBuilder(datasets.GeneratorBasedBuilder):
    """Consented target and source dance clips with per-frame body, face and hand keypoints."""

    BUILDER_CONFIG_CLASS = DanceDatasetConfig
    VERSION = datasets.Version("1.0.0")
    config: DanceDatasetConfig

    def _manifest(self) -> dict[str, Any]:
        path = Path(self.config.staging_manifest)
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return manifest

    def _info(self) -> datasets.DatasetInfo:
        manifest = self._manifest() if self.config.staging_manifest else {}
        return datasets.DatasetInfo(
            description=manifest.get("description", "Consented dance clips with per-frame keypoints."),
            features=FEATURES,
            license=manifest.get("license", ""),
        )

    def _split_generators(self, dl_manager: Any) -> list[datasets.SplitGenerator]:
        rows = self._manifest()["rows"]
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"rows": [r for r in rows if r["split"] == split]})
            for split in SPLITS
            if any(r["split"] == split for r in rows)
        ]

    def _generate_examples(self, rows: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
        for row in rows:
            poses = PoseSequence.load(row["keypoints_path"])
            video_path = Path(row["video_path"])
            example = {key: row[key] for key in FEATURES if key not in ("video", "body", "face", "hands")}
            # Bytes are embedded so the Parquet files are self-contained on the Hub.
            example["video"] = {
                "bytes": video_path.read_bytes(),
                "path": row["clip_id"].replace("/", "_") + ".mp4",
            }
            example["body"], example["face"], example["hands"] = poses.body, poses.face, poses.hands
            yield row["clip_id"], example
