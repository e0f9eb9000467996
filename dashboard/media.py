"""What the pages show, read from disk without Streamlit (so it is testable and cacheable).

- Dataset folders are read straight from their Parquet shards with pyarrow (the card's ``configs``
  name them per split): a clip's metadata without its video, one clip's video bytes and keypoints
  with a row filter. ``datasets.load_dataset`` would copy the whole dataset into its cache first,
  which is neither read-only nor fast.
- Videos are decoded frame-exactly with :class:`dataset.video.VideoReader`, a chunk of
  :data:`CHUNK` consecutive frames at a time (one seek per chunk; a slider or the play button then
  reads from memory).
- A transfer (:class:`TransferView`) is its record plus where its videos are, the source's
  keypoints where a dataset holds them, and the per-frame normalisation, from which the face boxes
  and the held-out "real" frame in the output's frame are computed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .files import PathRefused, read_json, resolve

CHUNK = 32
CLIP_COLUMNS = (
    "clip_id", "subject_id", "role", "split", "source_video", "start_frame", "fps", "width", "height",
    "frame_count", "keypoint_source", "consent_scope", "synthetic_subject", "license",
)  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Dataset folders


def split_files(folder: Path, roots: Sequence[Path]) -> dict[str, list[Path]]:
    """Parquet shards per split: as the card's YAML ``configs`` lists them, else ``data/SPLIT/*.parquet``."""
    import yaml

    card = folder / "README.md"
    out: dict[str, list[Path]] = {}
    if card.is_file():
        text = resolve(card, roots).read_text(encoding="utf-8")
        if text.startswith("---"):
            try:
                meta = yaml.safe_load(text.split("---", 2)[1]) or {}
            except yaml.YAMLError:
                meta = {}
            for config in meta.get("configs") or []:
                for entry in config.get("data_files") or []:
                    paths = entry.get("path")
                    for name in [paths] if isinstance(paths, str) else paths or []:
                        out.setdefault(str(entry.get("split")), []).append(folder / str(name))
    if not out:
        for shard in sorted((folder / "data").glob("*/*.parquet")):
            out.setdefault(shard.parent.name, []).append(shard)
    return out


def clip_index(folder: Path, roots: Sequence[Path]) -> list[dict[str, Any]]:
    """One row per clip segment of every split (no video bytes, no keypoints), with its shard."""
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for split, shards in split_files(folder, roots).items():
        for shard in shards:
            path = resolve(shard, roots)
            names = set(pq.read_schema(path).names)
            table = pq.read_table(path, columns=[c for c in CLIP_COLUMNS if c in names])
            for row in table.to_pylist():
                row.setdefault("split", split)
                row["shard"] = str(path)
                rows.append(row)
    return rows


@dataclass
class ClipData:
    clip_id: str
    meta: dict[str, Any]
    video: bytes
    body: np.ndarray  # (T, 25, 3) pixels of the clip's frames
    face: np.ndarray  # (T, 70, 3)
    hands: np.ndarray  # (T, 2, 21, 3)


def _array(column: Any, shape: tuple[int, ...]) -> np.ndarray:
    values = np.array(column, dtype=np.float32) if column is not None else np.zeros((0,))
    return values.reshape((-1, *shape)) if values.size else np.zeros((0, *shape), np.float32)


def read_clip(shard: Path, clip_id: str) -> ClipData:
    """One clip's video bytes and keypoints from its Parquet shard (only that row is decoded)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(shard, filters=pc.field("clip_id") == clip_id)
    if table.num_rows == 0:
        raise KeyError(f"{shard}: no clip {clip_id!r}")
    row = table.slice(0, 1)
    meta = {c: row.column(c)[0].as_py() for c in CLIP_COLUMNS if c in row.column_names}
    video = row.column("video")[0].as_py()
    data = video.get("bytes") if isinstance(video, dict) else video

    def flat(name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in row.column_names:
            return np.zeros((0, *shape), np.float32)
        column = row.column(name).combine_chunks()
        values = column.storage if hasattr(column, "storage") else column
        while hasattr(values, "flatten") and hasattr(values, "offsets"):
            values = values.flatten()
        return _array(values.to_numpy(zero_copy_only=False), shape)

    return ClipData(
        clip_id=clip_id,
        meta=meta,
        video=bytes(data or b""),
        body=flat("body", (25, 3)),
        face=flat("face", (70, 3)),
        hands=flat("hands", (2, 21, 3)),
    )


# --------------------------------------------------------------------------------------------------
# Video frames


class Frames:
    """Frame-exact access to one video (a path or bytes), :data:`CHUNK` frames decoded at a time."""

    def __init__(self, source: str | bytes) -> None:
        from dataset.video import VideoReader

        self.reader = VideoReader(source, num_threads=1)
        self.info = self.reader.info
        self._lock = threading.Lock()  # decord readers are not safe across threads (sessions)

    def __len__(self) -> int:
        return len(self.reader)

    def chunk(self, index: int) -> np.ndarray:
        lo = index * CHUNK
        hi = min(lo + CHUNK, len(self))
        with self._lock:
            return self.reader.get_batch(range(lo, hi))


def panel(frame: np.ndarray, index: int, count: int) -> np.ndarray:
    """Panel ``index`` of ``count`` equal-width panels side by side in ``frame``."""
    width = frame.shape[1] // count
    return frame[:, index * width : (index + 1) * width]


def resize(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    import cv2

    if frame.shape[:2] == (height, width):
        return frame
    return np.ascontiguousarray(cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA))


def overlay_keypoints(
    frame: np.ndarray, body: np.ndarray, face: np.ndarray, hands: np.ndarray, parts: Sequence[str]
) -> np.ndarray:
    """``frame`` with the chosen parts' keypoints drawn over it by the training's stick-figure renderer."""
    from synthesis.stick_figure import stick_figure_images

    h, w = frame.shape[:2]
    zero = {"body": np.zeros_like(body), "face": np.zeros_like(face), "hands": np.zeros_like(hands)}
    shown = {
        name: array if name in parts else zero[name]
        for name, array in (("body", body), ("face", face), ("hands", hands))
    }
    figure = stick_figure_images(shown["body"][None], shown["face"][None], shown["hands"][None], h, w)[0]
    alpha = (figure.max(axis=2, keepdims=True) > 0).astype(np.float32)
    return (frame * (1 - alpha) + figure * alpha).astype(np.uint8)


# --------------------------------------------------------------------------------------------------
# Transfers


@dataclass
class TransferView:
    """A transfer record and everything the side-by-side view needs, each path checked."""

    record_path: Path
    record: dict[str, Any]
    output: Path | None
    side_by_side: Path | None
    source_path: Path | None  # a video file source
    source_clip: tuple[Path, str] | None  # (dataset folder, clip id) of a dataset source
    clip_meta: dict[str, Any] = field(default_factory=dict)  # role, split, subject of a dataset source
    problems: list[str] = field(default_factory=list)
    source_file: Path | None = None  # a video file with the source's frames (the raw video of a clip)

    @property
    def frames(self) -> int:
        return int(self.record.get("frames") or 0)

    @property
    def fps(self) -> float:
        return float(self.record.get("fps") or 30.0)

    @property
    def resolution(self) -> tuple[int, int]:
        h, w = self.record.get("resolution") or (0, 0)
        return int(h), int(w)

    @property
    def held_out(self) -> bool:
        """The source is one of the target subject's own clips (a held-out test clip): the source,
        moved into the output's frame, is the real frame the output should look like."""
        target = ((self.record.get("model") or {}).get("data") or {}).get("subject")
        return (
            bool(self.clip_meta)
            and self.clip_meta.get("role") == "target"
            and (target is None or self.clip_meta.get("subject_id") == target)
        )


def transfer_view(record_path: Path, roots: Sequence[Path], datasets: Sequence[Path]) -> TransferView:
    """Read a ``.transfer.json`` and locate its videos and its source (``datasets``: the dataset
    folders found under the roots, searched for a video-file source's keypoints)."""
    record = read_json(resolve(record_path, roots))
    base = record_path.parent
    problems: list[str] = []

    def locate(name: Any) -> Path | None:
        if not name:
            return None
        try:
            return resolve(str(name), roots, base=base)
        except PathRefused as exc:
            problems.append(str(exc))
            return None

    output = locate(record.get("output"))
    side = locate(record.get("side_by_side"))
    source = record.get("source") or {}
    name = str(source.get("name") or "")
    source_path = None
    source_clip = None
    if "::" in name:
        folder, clip = name.rsplit("::", 1)
        where = locate(folder)
        if where is not None:
            source_clip = (where, clip)
    elif name:
        source_path = locate(name)
        if source_path is not None:  # a raw video: a dataset under the roots may hold its keypoints
            source_clip = _clip_of_video(source_path, datasets, roots)
    view = TransferView(record_path, record, output, side, source_path, source_clip, problems=problems)
    view.source_file = source_path
    if source_clip is not None:
        view.clip_meta = _clip_meta(source_clip, roots)
        if source_path is None:
            view.source_file = _video_of_clip(*source_clip, roots)
    return view


def _build_clips(folder: Path, roots: Sequence[Path]) -> list[dict[str, Any]]:
    report = folder / "build_report.json"
    return list(read_json(resolve(report, roots)).get("clips") or []) if report.is_file() else []


def _video_of_clip(folder: Path, clip_id: str, roots: Sequence[Path]) -> Path | None:
    """The raw video a dataset clip was cut from, when the clip starts at its first frame."""
    for clip in _build_clips(folder, roots):
        rows = clip.get("rows") or []
        if any(r.get("clip_id") == clip_id and int(r.get("start_frame", 0)) == 0 for r in rows):
            try:
                return resolve(str(clip.get("source_path") or ""), roots, base=folder)
            except PathRefused:
                return None
    return None


def _clip_of_video(video: Path, datasets: Sequence[Path], roots: Sequence[Path]) -> tuple[Path, str] | None:
    for folder in datasets:
        for clip in _build_clips(folder, roots):
            try:
                raw = resolve(str(clip.get("source_path") or ""), roots, base=folder)
            except PathRefused:
                continue
            rows = clip.get("rows") or []
            if raw == video and len(rows) == 1 and int(rows[0].get("start_frame", 0)) == 0:
                return folder, str(rows[0]["clip_id"])
    return None


def _clip_meta(source_clip: tuple[Path, str], roots: Sequence[Path]) -> dict[str, Any]:
    folder, clip_id = source_clip
    try:
        rows = clip_index(folder, roots)
    except (OSError, ValueError, PathRefused):
        return {}
    return next((r for r in rows if r["clip_id"] == clip_id), {})


def frame_affine(view: TransferView, index: int) -> np.ndarray | None:
    """The ``(2, 3)`` map from source pixels to output pixels at frame ``index`` (None if unrecorded)."""
    from synthesis.normalize import NormalizationParams, frame_affines

    per_frame = view.record.get("per_frame_scale_translate") or []
    if not per_frame or "normalization" not in view.record:
        return None
    params = NormalizationParams.from_dict(view.record["normalization"])
    transform = np.asarray([per_frame[min(index, len(per_frame) - 1)]], np.float64)
    affine = frame_affines(transform, params)[0]
    th, tw = params.target.frame_size
    h, w = view.resolution
    scale = np.array([[w / tw], [h / th]])  # the target's pixels to the model's
    return np.asarray(affine * scale)


def move_points(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    out = points.astype(np.float32).copy()
    seen = out[..., 2] > 0
    xy = out[..., :2] @ affine[:, :2].T + affine[:, 2]
    out[..., :2] = np.where(seen[..., None], xy, 0)
    return out


def move_frame(frame: np.ndarray, affine: np.ndarray, height: int, width: int) -> np.ndarray:
    """A source frame moved into the output's frame by the transfer's normalisation."""
    import cv2

    return np.ascontiguousarray(
        cv2.warpAffine(frame, affine.astype(np.float64), (width, height), flags=cv2.INTER_AREA)
    )


def face_crop(frame: np.ndarray, body: np.ndarray) -> np.ndarray | None:
    """The face box (the face GAN's, :mod:`synthesis.face_box`) of ``frame``; None without a face."""
    from synthesis.face_box import face_box_size, face_boxes

    h, w = frame.shape[:2]
    size = min(face_box_size(h), h, w)
    corners, valid = face_boxes(body[None].astype(np.float32), h, w, size)
    if not bool(valid[0]):
        return None
    x0, y0 = (int(v) for v in corners[0])
    return np.ascontiguousarray(frame[y0 : y0 + size, x0 : x0 + size])


__all__ = [
    "CHUNK",
    "ClipData",
    "Frames",
    "TransferView",
    "clip_index",
    "face_crop",
    "frame_affine",
    "move_frame",
    "move_points",
    "overlay_keypoints",
    "panel",
    "read_clip",
    "resize",
    "split_files",
    "transfer_view",
]
