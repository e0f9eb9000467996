"""``dancenow dataset build``: raw videos + consent manifests -> a Hub-ready dataset folder.

Input layout (one folder per subject, named by its subject id)::

    RAW/
      alice/
        consent.yaml                 # see dataset.consent
        consent_form_alice.pdf       # the signed document the manifest hashes
        target/standard_moves.mp4    # clips in which alice is the target
        source/salsa.mp4             # clips in which alice provides motion
        openpose/salsa/*.json        # optional: OpenPose keypoints to import instead of detecting
        ground_truth/salsa.npz       # optional: true keypoints (the generated demo has them)

Output (written atomically: a failed or interrupted build leaves the previous dataset intact)::

    OUT/
      README.md                      # dataset card: YAML (license, configs, gating) + documentation
      LICENSE.md
      data/{train,test,source}/<subject>-00000-<hash>.parquet  # one file set per subject: revocation
                                                               # deletes exactly that subject's files
      build_report.json, build_report.md                 # what was included or excluded, and why

Each target clip is split in time: the first part goes to ``train``, the last ``test_fraction``
to ``test`` (the paper's protocol); source clips form the ``source`` split. Every segment is
re-encoded once to H.264 (yuv420p, constant frame rate) so that frame ``i`` of the stored video is
exactly row ``i`` of its keypoints, whatever decoder reads it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from .consent import MANIFEST_NAME, ROLES, ConsentError, ConsentManifest, decide, load_consent
from .files import sha256_file
from .keypoints import PoseSequence
from .quality import compare_to_ground_truth, detection_rates
from .video import VideoError, VideoReader, VideoWriter, probe

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm")
STATE_DIR = ".dancenow"  # carried from build to build (e.g. the publish ledger); never uploaded
REPORT_JSON = "build_report.json"
DEFAULT_LICENSE = "other"
LICENSE_NAME = "dancenow-consented-motion-data"
MAX_SHARD_BYTES = 500 * 1024 * 1024


class BuildError(RuntimeError):
    """A build that cannot go ahead; the message names the file and what to do."""


@dataclass
class BuildOptions:
    raw_dir: Path
    out_dir: Path
    name: str = "dancenow-dance"
    test_fraction: float = 0.2
    as_of: date | None = None  # the date consent is checked against; today by default
    detector: str = "mediapipe-holistic"
    workers: int | None = None
    backend: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    cache_dir: Path | None = None
    smoothing: Literal["auto", "median", "gaussian", "none"] = "auto"
    min_person_rate: float = 0.5
    license: str = DEFAULT_LICENSE
    crf: int = 18
    progress: bool = True


@dataclass
class ClipInput:
    subject_id: str
    role: str
    path: Path
    openpose_dir: Path | None = None
    ground_truth: Path | None = None

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def key(self) -> str:
        return f"{self.subject_id}/{self.role}/{self.name}"


@dataclass
class BuildResult:
    out_dir: Path
    report: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)


def _log(message: str) -> None:
    print(f"[dataset build] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# 1. What is there: subjects, manifests and clips


def discover(raw_dir: Path) -> tuple[dict[str, tuple[Path, ConsentManifest]], list[ClipInput]]:
    """Validate every subject folder's manifest and list its clips (errors name the file)."""
    if not raw_dir.is_dir():
        raise BuildError(f"{raw_dir}: input folder not found; pass --raw RAW (or run `dancenow demo-data`)")
    manifests: dict[str, tuple[Path, ConsentManifest]] = {}
    clips: list[ClipInput] = []
    for subject_dir in sorted(p for p in raw_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        subject_clips = []
        for role in ROLES:
            role_dir = subject_dir / role
            if not role_dir.is_dir():
                continue
            for path in sorted(role_dir.iterdir()):
                if path.suffix.lower() not in VIDEO_EXTENSIONS:
                    continue
                openpose = subject_dir / "openpose" / path.stem
                truth = subject_dir / "ground_truth" / f"{path.stem}.npz"
                subject_clips.append(
                    ClipInput(
                        subject_dir.name,
                        role,
                        path,
                        openpose if openpose.is_dir() else None,
                        truth if truth.is_file() else None,
                    )
                )
        if not subject_clips:
            continue
        manifest_path = subject_dir / MANIFEST_NAME
        manifest = load_consent(manifest_path)  # raises ConsentError naming the file and field
        if manifest.subject_id != subject_dir.name:
            raise ConsentError(
                f"{manifest_path}: field 'subject_id' is {manifest.subject_id!r} but the folder is "
                f"{subject_dir.name!r}; rename the folder or fix the manifest"
            )
        manifests[manifest.subject_id] = (manifest_path, manifest)
        clips.extend(subject_clips)
    if not clips:
        raise BuildError(
            f"{raw_dir}: no clips found; expected RAW/<subject_id>/target/*.mp4 or "
            f"RAW/<subject_id>/source/*.mp4 with RAW/<subject_id>/{MANIFEST_NAME}"
        )
    return manifests, clips


# ---------------------------------------------------------------------------------------------
# 2. Keypoints


def _keypoints(
    clips: list[ClipInput], infos: dict[str, Any], options: BuildOptions
) -> dict[str, PoseSequence]:
    from .pose import extract_poses, load_openpose_dir

    poses: dict[str, PoseSequence] = {}
    to_detect = [c for c in clips if c.openpose_dir is None]
    if to_detect:
        _log(f"detecting poses in {len(to_detect)} clip(s) with {options.detector}")
        detected = extract_poses(
            [c.path for c in to_detect],
            detector=options.detector,
            workers=options.workers,
            backend=options.backend,
            ray_address=options.ray_address,
            cache_dir=options.cache_dir,
            progress=options.progress,
        )
        for clip in to_detect:
            poses[clip.key] = detected[str(clip.path)]
    for clip in clips:
        if clip.openpose_dir is None:
            continue
        _log(f"importing OpenPose keypoints for {clip.key} from {clip.openpose_dir}")
        imported = load_openpose_dir(clip.openpose_dir)
        expected = infos[clip.key].frame_count
        if len(imported) != expected:
            raise BuildError(
                f"{clip.openpose_dir}: {len(imported)} OpenPose JSON frames but {clip.path} has {expected} "
                "frames; export keypoints for every frame of the video"
            )
        poses[clip.key] = imported
    return poses


def _check_person(clip: ClipInput, poses: PoseSequence, min_rate: float) -> dict[str, float]:
    rates = detection_rates(poses)
    if rates["person"] < min_rate:
        found = round(rates["person"] * len(poses))
        raise BuildError(
            f"{clip.path}: a person was detected in only {found} of {len(poses)} frames "
            f"({100 * rates['person']:.0f}%, minimum {100 * min_rate:.0f}%); the subject must be visible "
            f"and whole in the clip: trim or remove it, or supply OpenPose keypoints in "
            f"{clip.path.parent.parent / 'openpose' / clip.name}/"
        )
    return rates


# ---------------------------------------------------------------------------------------------
# 3. Segments: split, re-encode, save keypoints


def split_point(n_frames: int, test_fraction: float) -> int:
    """First test frame of a target clip: the last ``test_fraction`` of it is held out."""
    if not 0 <= test_fraction < 1:
        raise BuildError(f"--test-fraction must be in [0, 1), got {test_fraction}")
    n_test = round(n_frames * test_fraction)
    if test_fraction > 0 and n_frames >= 2:
        n_test = min(max(n_test, 1), n_frames - 1)
    return n_frames - n_test


def _segments(clip: ClipInput, n_frames: int, test_fraction: float) -> list[tuple[str, int, int]]:
    if clip.role == "source":
        return [("source", 0, n_frames)]
    k = split_point(n_frames, test_fraction)
    return [(split, lo, hi) for split, lo, hi in (("train", 0, k), ("test", k, n_frames)) if hi > lo]


def _stage_clip(
    clip: ClipInput,
    poses: PoseSequence,
    staging: Path,
    options: BuildOptions,
    bar: tqdm[Any] | None,
) -> list[dict[str, Any]]:
    reader = VideoReader(clip.path)
    info = reader.info
    rows = []
    for split, lo, hi in _segments(clip, len(reader), options.test_fraction):
        clip_id = f"{clip.subject_id}/{clip.name}/{split}"
        stem = clip_id.replace("/", "__")
        video_path = staging / "videos" / f"{stem}.mp4"
        with VideoWriter(video_path, info.fps, crf=options.crf) as writer:
            for batch in reader.iter_batches(64, lo, hi):
                writer.write_batch(batch)
                if bar is not None:
                    bar.update(len(batch))
        keypoints_path = staging / "keypoints" / f"{stem}.npz"
        poses.slice(lo, hi).save(keypoints_path)
        rows.append(
            {
                "clip_id": clip_id,
                "subject_id": clip.subject_id,
                "role": clip.role,
                "split": split,
                "source_video": f"{clip.subject_id}/{clip.role}/{clip.path.name}",
                "start_frame": lo,
                "fps": info.fps,
                "width": info.width,
                "height": info.height,
                "frame_count": hi - lo,
                "video_path": str(video_path),
                "keypoints_path": str(keypoints_path),
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------
# 4. Parquet in the Hub's layout


def _regroup_parquet(prepared: Path, data_dir: Path) -> dict[Path, str]:
    """Rewrite the builder's per-split Parquet as ``data/<split>/<subject>-NNNNN-<sha256[:12]>.parquet``.

    Per-subject files make revocation a deletion of named files, on disk and on the Hub. The
    schema (with the Hugging Face feature metadata) is kept, so ``load_dataset`` restores the
    ``Video`` and array features.
    """
    import pyarrow.parquet as pq

    written: list[Path] = []
    writers: dict[tuple[str, str], Any] = {}
    sizes: dict[tuple[str, str], int] = defaultdict(int)
    shard_index: dict[tuple[str, str], int] = defaultdict(int)
    try:
        for source in sorted(prepared.glob("*.parquet")):
            parquet = pq.ParquetFile(source)
            schema = parquet.schema_arrow
            for batch in parquet.iter_batches(batch_size=4):
                for subject in sorted(set(batch.column("subject_id").to_pylist())):
                    mask = [s == subject for s in batch.column("subject_id").to_pylist()]
                    part = batch.filter(mask)
                    split = part.column("split")[0].as_py()
                    key = (split, subject)
                    if key in writers and sizes[key] > MAX_SHARD_BYTES:
                        writers.pop(key).close()
                        shard_index[key] += 1
                        sizes[key] = 0
                    if key not in writers:
                        path = data_dir / split / f"{subject}-{shard_index[key]:05d}.parquet"
                        path.parent.mkdir(parents=True, exist_ok=True)
                        writers[key] = pq.ParquetWriter(path, schema)
                        written.append(path)
                    writers[key].write_batch(part, row_group_size=1)
                    sizes[key] += part.nbytes
    finally:
        for writer in writers.values():
            writer.close()
    # Name every file by its content: the card lists these exact names, and `datasets` keys its
    # local cache on the card's paths (not on file contents), so a rebuilt folder must not reuse a
    # name whose content changed, or `load_dataset(folder)` would return the old rows.
    named = {}
    for path in written:
        sha = sha256_file(path)
        final = path.with_name(f"{path.stem}-{sha[:12]}.parquet")
        path.rename(final)
        named[final] = sha
    return named


# ---------------------------------------------------------------------------------------------
# 5. Atomic replacement of the output folder


def _backup_path(out_dir: Path) -> Path:
    return out_dir.with_name(f".{out_dir.name}.previous")


def recover_interrupted_swap(out_dir: Path) -> None:
    """If a build died between moving the old dataset aside and moving the new one in, undo it."""
    backup = _backup_path(out_dir)
    if backup.exists() and not out_dir.exists():
        backup.rename(out_dir)
    elif backup.exists():
        shutil.rmtree(backup)


def replace_dir(new_dir: Path, out_dir: Path) -> None:
    backup = _backup_path(out_dir)
    if out_dir.exists():
        out_dir.rename(backup)
    new_dir.rename(out_dir)
    shutil.rmtree(backup, ignore_errors=True)


def _previous_report(out_dir: Path) -> dict[str, Any] | None:
    path = out_dir / REPORT_JSON
    if not path.is_file():
        return None
    try:
        report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None
    return report


# ---------------------------------------------------------------------------------------------
# The build


def build_dataset(options: BuildOptions) -> BuildResult:
    """Build the dataset folder; raise :class:`BuildError`/:class:`ConsentError` on bad input."""
    from .builder import DanceDatasetBuilder
    from .card import write_card, write_license
    from .pose import smooth_poses
    from .pose.base import detector_version
    from .report import write_markdown_report

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    raw_dir, out_dir = Path(options.raw_dir), Path(options.out_dir)
    as_of = options.as_of or date.today()
    recover_interrupted_swap(out_dir)
    if out_dir.exists() and not (out_dir / REPORT_JSON).is_file() and any(out_dir.iterdir()):
        raise BuildError(
            f"{out_dir}: exists and is not a dancenow dataset (no {REPORT_JSON}); choose another --out "
            "or empty it: a build replaces its output folder"
        )
    previous = _previous_report(out_dir)

    _log(f"checking consent in {raw_dir} as of {as_of}")
    manifests, clips = discover(raw_dir)
    decisions = {clip.key: decide(manifests[clip.subject_id][1], clip.role, as_of) for clip in clips}
    included: list[ClipInput] = []
    for clip in clips:
        decision = decisions[clip.key]
        if decision.included:
            included.append(clip)
        else:
            _log(f"excluded {clip.key}: {decision.reason}")
    if not included:
        reasons = "; ".join(f"{key}: {d.reason}" for key, d in decisions.items())
        raise BuildError(
            f"{raw_dir}: no clip passed the consent check ({reasons}); nothing to build (the previous "
            "dataset, if any, is unchanged; to withdraw a published dataset entirely, delete its Hub repo)"
        )
    timings["consent_s"] = time.perf_counter() - t_start

    t = time.perf_counter()
    infos = {clip.key: probe(clip.path) for clip in included}
    raw_poses = _keypoints(included, infos, options)
    timings["keypoints_s"] = time.perf_counter() - t
    detector_name, version_of_detector = options.detector, detector_version(options.detector)

    clip_reports: dict[str, dict[str, Any]] = {}
    smoothed: dict[str, PoseSequence] = {}
    for clip in included:
        info = infos[clip.key]
        raw = raw_poses[clip.key]
        if len(raw) != info.frame_count:
            raise BuildError(f"{clip.path}: {len(raw)} keypoint frames for {info.frame_count} video frames")
        rates = _check_person(clip, raw, options.min_person_rate)
        method = options.smoothing
        seq = raw if method == "none" else smooth_poses(raw, info.fps, method=method)
        smoothed[clip.key] = seq
        entry: dict[str, Any] = {"video": info.to_dict(), "detection_rates": rates}
        entry["keypoint_source"] = "openpose-json" if clip.openpose_dir else "detector"
        if clip.ground_truth is not None:
            truth = PoseSequence.load(clip.ground_truth)
            entry["ground_truth_error"] = {
                "raw": compare_to_ground_truth(raw, truth),
                "smoothed": compare_to_ground_truth(seq, truth),
            }
        clip_reports[clip.key] = entry

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(out_dir.parent / f".{out_dir.name}.building-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    new_dir = work / "dataset"
    staging = work / "staging"
    try:
        t = time.perf_counter()
        total_frames = sum(infos[c.key].frame_count for c in included)
        rows: list[dict[str, Any]] = []
        with tqdm(total=total_frames, unit="frame", desc="re-encoding", disable=not options.progress) as bar:
            for clip in included:
                manifest = manifests[clip.subject_id][1]
                decision = decisions[clip.key]
                staged = _stage_clip(clip, smoothed[clip.key], staging, options, bar)
                for row in staged:
                    row.update(
                        keypoint_source=clip_reports[clip.key]["keypoint_source"],
                        detector=detector_name if clip.openpose_dir is None else "openpose",
                        detector_version=version_of_detector if clip.openpose_dir is None else "imported",
                        smoothing=options.smoothing,
                        consent_scope=list(decision.scopes),
                        consent_document_sha256=manifest.consent_document.sha256,
                        synthetic_subject=manifest.synthetic,
                        license=options.license,
                    )
                rows.extend(staged)
                clip_reports[clip.key]["rows"] = [
                    {k: r[k] for k in ("clip_id", "split", "start_frame", "frame_count")} for r in staged
                ]
        timings["reencode_s"] = time.perf_counter() - t

        t = time.perf_counter()
        _log("writing Parquet shards")
        staging_manifest = staging / "rows.json"
        staging_manifest.write_text(
            json.dumps({"rows": rows, "license": options.license, "description": options.name}, indent=1),
            encoding="utf-8",
        )
        builder = DanceDatasetBuilder(
            cache_dir=str(staging / "hf_cache"),
            staging_manifest=str(staging_manifest),
            config_name="default",
        )
        prepared = staging / "prepared"
        builder.download_and_prepare(output_dir=str(prepared), file_format="parquet")
        data_files = _regroup_parquet(prepared, new_dir / "data")
        timings["parquet_s"] = time.perf_counter() - t

        included_subjects = sorted({c.subject_id for c in included})
        subjects = []
        for subject_id, (_, manifest) in sorted(manifests.items()):
            subject_decisions = [decisions[c.key] for c in clips if c.subject_id == subject_id]
            subjects.append(
                {
                    "subject_id": subject_id,
                    "status": "included" if subject_id in included_subjects else "excluded",
                    "reasons": sorted({d.reason for d in subject_decisions}),
                    "consent": manifest.public_record(),
                    "revoked": manifest.revoked,
                }
            )
        files = [
            {"path": str(p.relative_to(new_dir)), "bytes": p.stat().st_size, "sha256": sha}
            for p, sha in sorted(data_files.items())
        ]
        previous_files = {f["path"] for f in (previous or {}).get("files", [])}
        previous_subjects = {
            s["subject_id"] for s in (previous or {}).get("subjects", []) if s["status"] == "included"
        }
        report: dict[str, Any] = {
            "dataset": options.name,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "consent_checked_as_of": as_of.isoformat(),
            "raw_dir": str(raw_dir),
            "detector": {"name": detector_name, "version": version_of_detector},
            "smoothing": options.smoothing,
            "test_fraction": options.test_fraction,
            "license": options.license,
            "subjects": subjects,
            "clips": [
                {
                    "clip": c.key,
                    "source_path": str(c.path),
                    "included": decisions[c.key].included,
                    "reason": decisions[c.key].reason,
                    **clip_reports.get(c.key, {}),
                }
                for c in clips
            ],
            "splits": {
                split: {
                    "rows": sum(1 for r in rows if r["split"] == split),
                    "frames": sum(r["frame_count"] for r in rows if r["split"] == split),
                }
                for split in ("train", "test", "source")
            },
            "files": files,
            "removed_since_previous_build": {
                "subjects": sorted(previous_subjects - set(included_subjects)),
                "files": sorted(previous_files - {f["path"] for f in files}),
            },
        }
        write_license(new_dir, options.license)
        write_card(new_dir, report)
        old_state = out_dir / STATE_DIR
        if old_state.is_dir():
            shutil.copytree(old_state, new_dir / STATE_DIR)
        timings["total_s"] = time.perf_counter() - t_start
        report["timings"] = timings
        report["throughput_frames_per_s"] = total_frames / timings["total_s"]
        (new_dir / REPORT_JSON).write_text(json.dumps(report, indent=2), encoding="utf-8")
        write_markdown_report(new_dir / "build_report.md", report)
        replace_dir(new_dir, out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _log(f"wrote {out_dir} ({len(rows)} rows, {len(data_files)} Parquet files) in {timings['total_s']:.1f} s")
    return BuildResult(out_dir, report, rows)


__all__ = [
    "BuildError",
    "BuildOptions",
    "BuildResult",
    "VideoError",
    "build_dataset",
    "discover",
    "split_point",
]
