"""Cached loaders: every file the pages show is read once per change (keyed by path and mtime).

``st.cache_data`` for what is small and picklable (JSON, tables, reports), ``st.cache_resource``
for decoders and decoded frames (shared, never copied). Every path reaching here was resolved by
:func:`dashboard.files.resolve`; the functions take strings so the cache keys are cheap.
"""

from __future__ import annotations

import gc
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from . import charts, media
from .files import Discovery, allowed_roots, discover, inside, read_json, resolve

DISCOVERY_TTL_S = 20  # a new run appears within this many seconds


def mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def roots() -> tuple[Path, ...]:
    return allowed_roots()


@st.cache_data(ttl=DISCOVERY_TTL_S, show_spinner="Looking through the results folders…")
def _discovery(root_names: tuple[str, ...]) -> Discovery:
    return discover([Path(r) for r in root_names])


def discovery() -> Discovery:
    return _discovery(tuple(str(r) for r in roots()))


def refresh() -> None:
    """Forget the listing of the results folders (the next page lists them again)."""
    _discovery.clear()


@st.cache_data(max_entries=256, show_spinner=False)
def _json(path: str, _mtime: float) -> Any:
    return read_json(Path(path))


def checked(path: Path) -> Path:
    """``path`` resolved inside the roots (:class:`~dashboard.files.PathRefused` otherwise): every
    file a loader opens passes here, so a symbolic link inside a results folder cannot lead out."""
    return resolve(path, roots())


def json_file(path: Path) -> Any:
    path = checked(path)
    return _json(str(path), mtime(path))


@st.cache_data(max_entries=64, show_spinner=False)
def _text(path: str, _mtime: float) -> str:
    return Path(path).read_text(encoding="utf-8")


def text_file(path: Path) -> str:
    path = checked(path)
    return _text(str(path), mtime(path))


@st.cache_data(max_entries=32, show_spinner=False)
def _training_log(path: str, _mtime: float) -> list[dict[str, float]]:
    from synthesis.evaluation.curves import read_training_log

    return read_training_log(path)


def training_log(path: Path) -> list[dict[str, float]]:
    path = checked(path)
    return _training_log(str(path), mtime(path))


# --------------------------------------------------------------------------------------------------
# Datasets


@st.cache_data(max_entries=16, show_spinner="Reading the dataset's clip list…")
def _clip_index(folder: str, _mtime: float) -> list[dict[str, Any]]:
    return media.clip_index(Path(folder), roots())


def clip_index(folder: Path) -> list[dict[str, Any]]:
    return _clip_index(str(folder), mtime(folder / "data"))


@st.cache_resource(max_entries=8, show_spinner="Reading the clip…")
def _clip(shard: str, clip_id: str, _mtime: float) -> media.ClipData:
    return media.read_clip(Path(shard), clip_id)


def clip(shard: Path, clip_id: str) -> media.ClipData:
    shard = checked(shard)
    return _clip(str(shard), clip_id, mtime(shard))


def clip_of(folder: Path, clip_id: str) -> media.ClipData | None:
    row = next((r for r in clip_index(folder) if r["clip_id"] == clip_id), None)
    return None if row is None else clip(Path(row["shard"]), clip_id)


# --------------------------------------------------------------------------------------------------
# Video frames. A source key is ("file", path) or ("clip", dataset folder, clip id).

SourceKey = tuple[str, ...]


@st.cache_resource(max_entries=16, show_spinner=False)
def _frames(key: SourceKey, _mtime: float) -> media.Frames:
    if key[0] == "file":
        return media.Frames(key[1])
    data = clip_of(Path(key[1]), key[2])
    if data is None:
        raise KeyError(f"{key[1]}: no clip {key[2]!r}")
    return media.Frames(data.video)


def frames(key: SourceKey) -> media.Frames:
    checked(Path(key[1]))
    return _frames(key, mtime(Path(key[1])))


@st.cache_resource(max_entries=48, show_spinner=False)  # at most ~300 MB of 256×256 frames
def _chunk(key: SourceKey, index: int, _mtime: float) -> np.ndarray:
    chunk = frames(key).chunk(index)
    chunk.flags.writeable = False  # shared between sessions
    return chunk


def frame(key: SourceKey, index: int) -> np.ndarray:
    """Frame ``index`` of a source (clamped to its length)."""
    n = len(frames(key))
    index = max(0, min(index, n - 1))
    return _chunk(key, index // media.CHUNK, mtime(Path(key[1])))[index % media.CHUNK]


def video_bytes(key: SourceKey) -> bytes | str:
    """What ``st.video`` plays for a source: the file's path, or a dataset clip's bytes."""
    if key[0] == "file":
        return key[1]
    data = clip_of(Path(key[1]), key[2])
    return b"" if data is None else data.video


# --------------------------------------------------------------------------------------------------
# Forensics checks (the learned detector is optional until forensics.detect lands)


@st.cache_data(max_entries=512, show_spinner=False)
def _watermark(path: str, _mtime: float, max_frames: int) -> dict[str, Any]:
    from forensics.watermark import detect_watermark

    report = detect_watermark(path, max_frames=max_frames)
    return {**report.to_dict(), "detected": bool(report.detected), "describe": report.describe()}


def watermark(path: Path, max_frames: int = 64) -> dict[str, Any]:
    path = checked(path)
    return _watermark(str(path), mtime(path), max_frames)


@st.cache_data(max_entries=512, show_spinner=False)
def _provenance(path: str, _mtime: float, _record_mtime: float) -> dict[str, Any]:
    from forensics.provenance import verify_provenance

    report = verify_provenance(path)
    return {
        **report.to_dict(),
        "found": bool(report.found),
        "intact": bool(report.intact),
        "describe": report.describe(),
    }


def provenance(path: Path) -> dict[str, Any]:
    path = checked(path)
    record = Path(f"{path}.provenance.json")
    if record.exists() and not inside(record.resolve(), roots()):
        message = "provenance record: outside the dashboard's folders, not read"
        return {"found": False, "intact": False, "describe": message}
    return _provenance(str(path), mtime(path), mtime(record))


def detector_module() -> Any:
    """``forensics.detect`` when it exists, else None (the learned detector is not there yet)."""
    try:
        from forensics import detect
    except ModuleNotFoundError as exc:
        if exc.name in ("forensics.detect",):
            return None
        raise
    return detect


_detect_lock = threading.Lock()  # one detection at a time: it uses every core


@st.cache_data(max_entries=64, show_spinner="Running the detector…")
def _detection(
    path: str, _mtime: float, detector: str, _detector_mtime: float, max_frames: int
) -> dict[str, Any]:
    detect = detector_module()
    if detect is None:
        raise RuntimeError("the learned detector (forensics.detect) is not installed")
    with _detect_lock:
        report = detect.detect_video(path, model=detector, max_frames=max_frames, progress=False)
    return {**report.to_dict(), "describe": report.describe()}


def detection(path: Path, detector: Path, max_frames: int = 64) -> dict[str, Any]:
    path, detector = checked(path), checked(detector)
    return _detection(str(path), mtime(path), str(detector), mtime(detector), max_frames)


def detect_uploaded(path: Path, detector: Path, max_frames: int = 64) -> dict[str, Any]:
    """Not cached on disk paths: the upload's temporary file is gone after the request."""
    detect = detector_module()
    if detect is None:
        raise RuntimeError("the learned detector (forensics.detect) is not installed")
    with _detect_lock:
        report = detect.detect_video(str(path), model=str(detector), max_frames=max_frames, progress=False)
    return {**report.to_dict(), "describe": report.describe()}


def _chart_key(lines: tuple[charts.Line, ...], options: dict[str, Any]) -> str:
    # Streamlit's own argument hashing walks every point (0.05 s for a per-frame chart); the text
    # of the points hashes in a millisecond.
    return hashlib.sha1(repr((lines, sorted(options.items()))).encode()).hexdigest()


@st.cache_resource(max_entries=32, show_spinner=False)  # about 1 MB of pixels each
def _line_chart(key: str, _lines: tuple[charts.Line, ...], _options: dict[str, Any]) -> charts.Chart:
    return charts.line_chart(_lines, **_options)


def line_chart(lines: tuple[charts.Line, ...], **options: Any) -> charts.Chart:
    """A drawn line chart (:func:`dashboard.charts.line_chart`) to paint a cursor on."""
    return _line_chart(_chart_key(lines, options), lines, options)


@st.cache_data(max_entries=256, show_spinner=False)
def _chart_png(key: str, _lines: tuple[charts.Line, ...], _options: dict[str, Any]) -> bytes:
    return charts.line_chart(_lines, **_options).png()


def chart_png(lines: tuple[charts.Line, ...], **options: Any) -> bytes:
    """A drawn line chart as a PNG file's bytes."""
    return _chart_png(_chart_key(lines, options), lines, options)


def warm_up() -> None:
    """Import the heavy modules (torch through synthesis) in the background once per server, so the
    first page that needs them does not wait for the import."""
    if os.environ.get("DANCENOW_DASHBOARD_NO_WARMUP"):
        return
    _start_warm_up()


@st.cache_resource(show_spinner=False)
def _start_warm_up() -> threading.Thread:
    def work() -> None:
        from matplotlib.backends import backend_agg  # noqa: F401  (the charts)

        import synthesis.ablation
        import synthesis.face_box
        import synthesis.normalize
        import synthesis.stick_figure  # noqa: F401

        # Keep the imported modules' objects out of later full collections: with torch loaded,
        # each one otherwise scans them all (about 0.15 s on 2 cores), stalling whatever page runs.
        gc.freeze()

    thread = threading.Thread(target=work, name="dashboard-warm-up", daemon=True)
    thread.start()
    return thread


@st.cache_data(max_entries=64, show_spinner=False)
def _transfer(path: str, _mtime: float, _discovered: int) -> media.TransferView:
    datasets = [item.path for item in discovery().of("dataset")]
    return media.transfer_view(Path(path), roots(), datasets)


def transfer(path: Path) -> media.TransferView:
    return _transfer(str(path), mtime(path), len(discovery().items))


@st.cache_data(max_entries=16, show_spinner=False)
def _forensics_videos(folder: str, _mtime: float) -> list[Path | None]:
    from .records import video_path

    results = read_json(Path(folder) / "results.json")
    return [video_path(entry, results, Path(folder), roots()) for entry in results.get("videos") or []]


def forensics_videos(folder: Path) -> list[Path | None]:
    """The video file of each entry of a forensics results folder (None outside the roots)."""
    return _forensics_videos(str(folder), mtime(folder / "results.json"))


def detector_checkpoint() -> tuple[Path | None, str]:
    """The learned detector's checkpoint, inside the roots: the newest forensics results' detector,
    else ``forensics.detect.default_detector_path()``; None and the reason when there is none."""
    from .files import PathRefused, resolve

    detect = detector_module()
    if detect is None:
        return None, "the learned detector (forensics.detect) is not installed yet"
    candidates: list[tuple[str, Path | None]] = []
    for item in sorted(discovery().of("forensics"), key=lambda f: f.date, reverse=True):
        results = json_file(item.path / "results.json")
        candidates.append((str((results.get("detector") or {}).get("path") or ""), item.path))
    candidates.append((str(detect.default_detector_path()), None))
    reasons = []
    for name, base in candidates:
        if not name:
            continue
        try:
            return resolve(name, roots(), base=base), ""
        except PathRefused as exc:
            reasons.append(str(exc))
    return None, "no detector checkpoint inside the dashboard's folders" + (
        f" ({reasons[-1]})" if reasons else ""
    )
