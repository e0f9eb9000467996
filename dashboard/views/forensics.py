"""Forensics: the detector's ROC and precision–recall curves, its robustness, per-video verdicts with
the provenance marks, and a verdict on an uploaded video.

An upload is checked for size and type, written to a temporary folder that is removed as soon as
the verdict is in, and never stored anywhere else.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard import loaders, records, ui
from dashboard.files import Found, max_upload_mb, resolve

VIDEO_TYPES = ("mp4", "mov", "m4v", "mkv", "webm", "avi")
AUTO_CHECK = 8  # check the marks of at most this many videos on opening; more on request


def looks_like_video(data: bytes) -> bool:
    """Whether ``data`` starts like an MP4/MOV (``ftyp``), Matroska/WebM or AVI file."""
    head = data[:16]
    return (
        head[4:8] == b"ftyp"
        or head[:4] == b"\x1a\x45\xdf\xa3"
        or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")
    )


def check_upload(name: str, data: bytes, limit_mb: int) -> str | None:
    """Why an upload is refused (None when it is accepted)."""
    suffix = Path(name).suffix.lower().lstrip(".")
    if suffix not in VIDEO_TYPES:
        return f"{name}: not a video file type this page takes ({', '.join(VIDEO_TYPES)})"
    if len(data) > limit_mb << 20:
        return f"{name}: {len(data) / 2**20:.1f} MB is over the {limit_mb} MB limit"
    if not looks_like_video(data):
        return f"{name}: the content is not an MP4/MOV, Matroska/WebM or AVI video"
    return None


def judge_upload(name: str, data: bytes, record: bytes | None) -> dict[str, Any]:
    """Watermark, provenance (with the uploaded record, if any) and the learned detector's verdict
    on an uploaded video, in a temporary folder that is removed before returning."""
    from forensics.provenance import verify_provenance
    from forensics.watermark import detect_watermark

    out: dict[str, Any] = {"name": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    with tempfile.TemporaryDirectory(prefix="dancenow-upload-") as folder:
        video = Path(folder) / f"upload{Path(name).suffix.lower()}"
        video.write_bytes(data)
        record_path = None
        if record is not None:
            record_path = Path(folder) / "upload.provenance.json"
            record_path.write_bytes(record)
        try:
            mark = detect_watermark(video)
            out["watermark"] = {
                **mark.to_dict(),
                "detected": bool(mark.detected),
                "describe": mark.describe(),
            }
            report = verify_provenance(video, record_path)
            out["provenance"] = {**report.to_dict(), "found": report.found, "intact": report.intact}
            out["provenance"]["describe"] = (
                report.describe().replace(str(report.record), "uploaded record")
                if report.found
                else "provenance record: none uploaded"
            )
            out["provenance"].pop("record", None)
            detector, why = loaders.detector_checkpoint()
            if detector is None:
                out["detection"], out["detector_note"] = None, why
            else:
                detection = loaders.detect_uploaded(video, detector)
                for key in ("describe", "summary"):
                    detection[key] = str(detection.get(key) or "").replace(str(video), name)
                out["detection"] = {**detection, "video": name}
        except (
            OSError,
            ValueError,
            RuntimeError,
        ) as exc:  # VideoError, DetectorCheckpointError: one line, shown
            out["error"] = f"{name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    out["temporary_folder_removed"] = not Path(folder).exists()
    return out


def render() -> None:
    st.title("Forensics")
    requested = ui.requested_path()
    found = loaders.discovery()
    items = sorted(found.of("forensics"), key=lambda f: f.date, reverse=True)
    if not items:
        st.info(
            "No detector evaluation found (a results folder with `results.json` of schema "
            "`dancenow.forensics/1`). The provenance checks and uploads below work without one."
        )
    item = ui.pick("Detector evaluation", items, requested, key="forensics-results")
    if item is not None:
        _results(item)
    _upload()


def _results(item: Found) -> None:
    results = loaders.json_file(item.path / "results.json")
    detector = results.get("detector") or {}
    generators = results.get("generators") or {}
    st.caption(
        f"Detector `{detector.get('path')}` ({detector.get('backbone')}, {detector.get('input_size')} px crops, "
        f"threshold {records.describe_threshold(detector)}); generators seen in training: "
        f"{', '.join(map(str, generators.get('seen') or [])) or '–'}; held out: "
        f"{', '.join(map(str, generators.get('held_out') or [])) or '–'}; made {results.get('created')}"
    )
    st.subheader("Detection")
    ui.table(records.metrics_rows(results))
    _curves(item, results)
    st.subheader("Robustness (video level)")
    ui.table(records.robustness_rows(results))
    _videos(item, results)


def _curves(item: Found, results: dict[str, Any]) -> None:
    roc, pr = records.curve_points(results)
    if not roc and not pr:
        return
    st.subheader("ROC and precision–recall")
    left, right = st.columns(2)
    for lines, x, y, title, where in (
        (roc, "false positive rate", "true positive rate", "ROC", left),
        (pr, "recall", "precision", "Precision–recall", right),
    ):
        if lines:
            ui.chart(
                list(lines.items()), where, title=title, x_label=x, y_label=y, x_limits=(0, 1),
                y_limits=(0, 1.02), step=True, diagonal=title == "ROC", size=(5.0, 4.0),
            )  # fmt: skip
    png = (results.get("curves") or {}).get("png")
    if not png:
        return
    box, is_open = ui.lazy_expander("The curves as the evaluation drew them", key="forensics-png")
    if is_open:
        try:
            box.image(str(resolve(str(png), loaders.roots(), base=item.path)))
        except ValueError as exc:
            ui.refuse(str(exc))


def _videos(item: Found, results: dict[str, Any]) -> None:
    rows = records.video_rows(results)
    if not rows:
        return
    st.subheader("Per-video verdicts")
    paths = loaders.forensics_videos(item.path)
    files = sorted({p for p in paths if p is not None})
    key = f"forensics-marks-{item.path}"
    check = len(files) <= AUTO_CHECK or st.session_state.get(key, False)
    if not check:
        st.button(
            f"Check the watermark and provenance of the {len(files)} videos",
            on_click=lambda: st.session_state.update({key: True}),
        )
    marks: dict[Path, tuple[str, str]] = {}
    if check:
        progress = (
            st.progress(0.0, text="Checking the provenance marks…") if len(files) > AUTO_CHECK else None
        )
        for i, file in enumerate(files):
            mark = loaders.watermark(file)
            prov = loaders.provenance(file)
            marks[file] = (
                f"present ({mark.get('matched_bits')}/{mark.get('bits')})" if mark["detected"] else "absent",
                "intact" if prov["intact"] else ("not intact" if prov["found"] else "none"),
            )
            if progress is not None:
                progress.progress((i + 1) / len(files))
        if progress is not None:
            progress.empty()
    for row, where in zip(rows, paths, strict=True):
        if where is None:
            checked = ("file outside the dashboard's folders",) * 2
        else:
            checked = marks.get(where, ("not checked", "not checked"))
        row["watermark"], row["provenance"] = checked
    order = ["id", "label", "generator", "group", "score", "verdict", "correct", "watermark", "provenance"]
    ui.table(rows, columns=[*order, "frames", "video"])
    missing = sum(p is None for p in paths)
    if missing:
        st.caption(f"{missing} videos are not inside the dashboard's folders: their marks are not checked.")
    _one_video(results, rows, paths)


def _one_video(results: dict[str, Any], rows: list[dict[str, Any]], paths: list[Path | None]) -> None:
    """One judged video: played from its segment, its per-frame scores against the threshold."""
    choice = st.selectbox(
        "Look at one video",
        list(range(len(rows))),
        format_func=lambda i: (
            f"{rows[i]['id']}: {rows[i]['label']}, judged {rows[i]['verdict']} ({rows[i]['score']})"
        ),
        key="forensics-video",
    )
    entry = (results.get("videos") or [])[int(choice or 0)]
    path = paths[int(choice or 0)]
    if path is None:
        ui.refuse(f"{entry.get('video')}: outside the dashboard's folders")
        return
    info = loaders.frames(("file", str(path))).info
    start = int((entry.get("segment") or [0])[0])
    left, right = st.columns([1, 2])
    left.video(str(path), start_time=int(start / info.fps))
    left.caption(f"{rows[int(choice or 0)]['video']} from frame {start}")
    threshold = records.threshold_of(results.get("detector") or {}, "frame")
    ui.score_chart(
        {str(entry.get("id")): records.frame_scores(entry)}, start, threshold, info.frame_count, right
    )


def _upload() -> None:
    limit = max_upload_mb()
    st.subheader("Check a video")
    st.caption(
        f"Upload a video ({', '.join(VIDEO_TYPES)}, at most {limit} MB) and, optionally, its "
        "`.provenance.json`. It is judged in a temporary folder that is deleted straight after; nothing is kept."
    )
    video = st.file_uploader("Video", type=list(VIDEO_TYPES), max_upload_size=limit, key="forensics-upload")
    record = st.file_uploader(
        "Its provenance record (optional)", type=["json"], max_upload_size=1, key="forensics-record"
    )
    if video is None:
        return
    data = video.getvalue()
    refused = check_upload(video.name, data, limit)
    if refused:
        ui.refuse(refused)
        return
    record_bytes = record.getvalue() if record is not None else None
    digest = hashlib.sha256(data + (record_bytes or b"")).hexdigest()
    verdicts = st.session_state.setdefault("forensics-verdicts", {})
    if digest not in verdicts:
        with st.spinner("Judging the video…"):
            verdicts[digest] = judge_upload(video.name, data, record_bytes)
    show_verdict(verdicts[digest])


def show_verdict(result: dict[str, Any]) -> None:
    if "error" in result:
        ui.refuse(f"Cannot judge it: {result['error']}")
        return
    text, severity = records.verdict_line(result.get("detection"), result["watermark"], result["provenance"])
    getattr(st, severity)(text)
    lines = [f"- {result['watermark']['describe']}", f"- {result['provenance']['describe']}"]
    detection = result.get("detection")
    if detection is not None:
        lines.append(f"- detector: {detection.get('describe') or detection.get('summary')}")
    else:
        lines.append(f"- detector: not run ({result.get('detector_note')})")
    lines.append(
        f"- {result['name']}: {result['bytes'] / 2**20:.2f} MB, sha256 {result['sha256'][:16]}…; temporary copy deleted"
    )
    st.markdown("\n".join(lines))
    if detection is not None and records.detection_scores(detection):
        ui.score_chart(
            {"upload": records.detection_scores(detection)},
            0,
            records.threshold_of(detection.get("detector") or {}, "frame"),
            int(detection.get("frames") or 1),
        )


if __name__ == "__main__":
    render()
